//! Protocol errors, with the exact texts Redis sends before closing the connection.

use thiserror::Error;

/// A request that cannot be parsed. The server replies `-ERR <message>` and closes the
/// connection, as Redis does, because the stream can no longer be framed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// The `*<count>` line is not a valid integer or is over 2^31-1.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// The `*<count>` line is longer than 64 KiB without a newline.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// A client that has not authenticated sent more than 10 arguments.
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// An argument of a multibulk request does not start with `$`.
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    /// A `$<len>` line is not a valid length, or is over `proto-max-bulk-len`.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// A `$<len>` line is longer than 64 KiB without a newline.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// An inline request is longer than 64 KiB without a newline.
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    /// An inline request has a quote that is not closed, or a closing quote not followed by
    /// a space.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A reply (read by a client of the server) that is not valid RESP.
    #[error("{0}")]
    InvalidReply(String),
}
