//! The Redis serialization protocol (RESP2 and RESP3) as FlashDB speaks it.
//!
//! This crate knows bytes, not sockets or commands: [`RequestParser`] turns a connection's
//! unread bytes into requests incrementally, and [`ReplyBuf`] encodes replies for the
//! protocol version a connection negotiated with `HELLO`; [`parse_frame`] decodes them
//! again, for the HTTP API and for clients.

mod error;
mod frame;
mod reply;
mod request;

pub use error::ProtocolError;
pub use frame::{encode_command, parse_frame, Frame, MAX_DEPTH};
pub use reply::{format_double, repr, ProtocolVersion, ReplyBuf};
pub use request::{
    decode_inline_arg, inline_arg_is_quoted, parse_i64, Parsed, ParserLimits, RequestParser,
    INLINE_MAX_SIZE,
};
