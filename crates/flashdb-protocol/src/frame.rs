//! Decoding replies: a RESP2 or RESP3 reply as a tree of [`Frame`]s.
//!
//! The server encodes replies with [`ReplyBuf`](crate::ReplyBuf); the HTTP API (which maps
//! a command's reply to JSON) and clients read them back with [`parse_frame`]; clients
//! encode their commands with [`encode_command`].

use crate::ProtocolError;

/// Deepest nesting accepted: a reply nested deeper is refused rather than recursed into.
pub const MAX_DEPTH: usize = 128;

/// One decoded reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+...`
    Simple(Vec<u8>),
    /// `-...`
    Error(Vec<u8>),
    /// `:...`
    Integer(i64),
    /// `$...`, and the text of a RESP3 verbatim string (`=`) without its format.
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` and RESP3's `_`.
    Null,
    /// `,...`, RESP3 only; infinities and NaN included.
    Double(f64),
    /// `#t` / `#f`, RESP3 only.
    Boolean(bool),
    /// `(...`, RESP3 only, kept as its decimal digits.
    BigNumber(Vec<u8>),
    /// `*...`
    Array(Vec<Frame>),
    /// `~...`, RESP3 only.
    Set(Vec<Frame>),
    /// `%...`, RESP3 only, in the order sent.
    Map(Vec<(Frame, Frame)>),
    /// `>...`, RESP3 only.
    Push(Vec<Frame>),
}

/// Decodes one reply from the start of `buf`: `Ok(None)` when it is not complete yet,
/// otherwise the reply and the number of bytes it took.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(frame) => Ok(Some((frame, pos))),
        None => Ok(None),
    }
}

/// Appends `args` as a RESP multibulk request, as a client sends a command.
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    use std::io::Write as _;
    let _ = write!(out, "*{}\r\n", args.len());
    for a in args {
        let a = a.as_ref();
        let _ = write!(out, "${}\r\n", a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn bad(what: &str) -> ProtocolError {
    ProtocolError::InvalidReply(format!("invalid reply: {what}"))
}

/// The line starting at `*pos` (without its CRLF), advancing past it.
fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let rest = buf.get(*pos..)?;
    let end = memchr::memmem::find(rest, b"\r\n")?;
    *pos += end + 2;
    Some(&rest[..end])
}

fn number(text: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("not an integer"))
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Frame>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(bad("nested too deeply"));
    }
    let Some(&kind) = buf.get(*pos) else {
        return Ok(None);
    };
    *pos += 1;
    let Some(text) = line(buf, pos) else {
        return Ok(None);
    };
    let frame = match kind {
        b'+' => Frame::Simple(text.to_vec()),
        b'-' => Frame::Error(text.to_vec()),
        b':' => Frame::Integer(number(text)?),
        b'_' => Frame::Null,
        b'#' => match text {
            b"t" => Frame::Boolean(true),
            b"f" => Frame::Boolean(false),
            _ => return Err(bad("not a boolean")),
        },
        b',' => {
            let s = std::str::from_utf8(text).map_err(|_| bad("not a double"))?;
            let d = match s {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                _ => s.parse().map_err(|_| bad("not a double"))?,
            };
            Frame::Double(d)
        }
        b'(' => Frame::BigNumber(text.to_vec()),
        b'$' | b'=' | b'!' => {
            let len = number(text)?;
            if len < 0 {
                return Ok(Some(Frame::Null));
            }
            let len = usize::try_from(len).map_err(|_| bad("length out of range"))?;
            let end = pos
                .checked_add(len)
                .ok_or_else(|| bad("length out of range"))?;
            if buf.len() < end.saturating_add(2) {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(bad("bulk string not terminated by CRLF"));
            }
            let body = &buf[*pos..end];
            *pos = end + 2;
            match kind {
                // Verbatim strings start with a three-letter format and a colon.
                b'=' => Frame::Bulk(body.get(4..).unwrap_or_default().to_vec()),
                b'!' => Frame::Error(body.to_vec()),
                _ => Frame::Bulk(body.to_vec()),
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = number(text)?;
            if n < 0 {
                return Ok(Some(Frame::Null));
            }
            // Each element takes at least three bytes: a count larger than what is left
            // cannot be honest, so it never sizes an allocation.
            let left = buf.len().saturating_sub(*pos);
            let cap = usize::try_from(n).unwrap_or(usize::MAX).min(left / 3);
            if kind == b'%' || kind == b'|' {
                let mut pairs = Vec::with_capacity(cap / 2);
                for _ in 0..n {
                    let Some(k) = parse_at(buf, pos, depth + 1)? else {
                        return Ok(None);
                    };
                    let Some(v) = parse_at(buf, pos, depth + 1)? else {
                        return Ok(None);
                    };
                    pairs.push((k, v));
                }
                if kind == b'|' {
                    // An attribute annotates the reply that follows it.
                    return parse_at(buf, pos, depth + 1);
                }
                Frame::Map(pairs)
            } else {
                let mut items = Vec::with_capacity(cap);
                for _ in 0..n {
                    let Some(item) = parse_at(buf, pos, depth + 1)? else {
                        return Ok(None);
                    };
                    items.push(item);
                }
                match kind {
                    b'~' => Frame::Set(items),
                    b'>' => Frame::Push(items),
                    _ => Frame::Array(items),
                }
            }
        }
        _ => return Err(bad("unknown type byte")),
    };
    Ok(Some(frame))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{ProtocolVersion, ReplyBuf};

    fn one(bytes: &[u8]) -> Frame {
        let (frame, used) = parse_frame(bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len(), "the whole reply is consumed");
        frame
    }

    /// Every kind of reply the server encodes decodes back to what was encoded.
    #[test]
    fn round_trips_what_reply_buf_encodes() {
        let mut out = ReplyBuf::new(ProtocolVersion::Resp3);
        out.map(2);
        out.bulk(b"a\r\nb");
        out.array(3);
        out.int(-7);
        out.null();
        out.double(1.5);
        out.simple(b"k");
        out.set(1);
        out.boolean(true);
        out.verbatim(b"text");
        out.error("ERR oops");
        let bytes = out.as_bytes().to_vec();
        let (frame, used) = parse_frame(&bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len() - b"=8\r\ntxt:text\r\n-ERR oops\r\n".len());
        assert_eq!(
            frame,
            Frame::Map(vec![
                (
                    Frame::Bulk(b"a\r\nb".to_vec()),
                    Frame::Array(vec![Frame::Integer(-7), Frame::Null, Frame::Double(1.5)])
                ),
                (
                    Frame::Simple(b"k".to_vec()),
                    Frame::Set(vec![Frame::Boolean(true)])
                ),
            ])
        );
        let (text, more) = parse_frame(&bytes[used..]).unwrap().unwrap();
        assert_eq!(text, Frame::Bulk(b"text".to_vec()));
        assert_eq!(
            one(&bytes[used + more..]),
            Frame::Error(b"ERR oops".to_vec())
        );
        assert_eq!(one(b"=8\r\ntxt:text\r\n"), Frame::Bulk(b"text".to_vec()));
        assert_eq!(one(b"*-1\r\n"), Frame::Null);
        assert_eq!(one(b",-inf\r\n"), Frame::Double(f64::NEG_INFINITY));
    }

    /// Every proper prefix of a reply is incomplete, never an error or a wrong reply.
    #[test]
    fn prefixes_are_incomplete() {
        let bytes = b"*2\r\n$3\r\nfoo\r\n%1\r\n+a\r\n:1\r\n";
        for cut in 0..bytes.len() {
            assert_eq!(parse_frame(&bytes[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(parse_frame(bytes).unwrap().is_some());
    }

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET".as_slice(), b"k", b"a\r\nb"]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n");
        let mut parser = crate::RequestParser::new();
        match parser.parse(&out, &crate::ParserLimits::default()) {
            Ok(crate::Parsed::Request { consumed }) => assert_eq!(consumed, out.len()),
            other => panic!("{other:?}"),
        }
        let args: Vec<&[u8]> = parser.args().iter().map(|r| &out[r.clone()]).collect();
        assert_eq!(args, [b"SET".as_slice(), b"k", b"a\r\nb"]);
    }

    /// Random bytes and damaged copies of real replies never panic, and a decoded reply
    /// never claims more bytes than it was given (the fuzz target explores further).
    #[test]
    fn random_input_never_panics() {
        let mut out = ReplyBuf::new(ProtocolVersion::Resp3);
        out.map(1);
        out.bulk(b"k");
        out.array(2);
        out.double(2.5);
        out.verbatim(b"v");
        let good = out.as_bytes().to_vec();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut input = good.clone();
            for _ in 0..(next() % 4) {
                let i = (next() as usize) % input.len();
                input[i] = next() as u8;
            }
            let cut = (next() as usize) % (input.len() + 1);
            if let Ok(Some((_, used))) = parse_frame(&input[..cut]) {
                assert!(used <= cut);
            }
            let alphabet = b"*%$:+-_,#(=~>|\r\n0123";
            let noise: Vec<u8> = (0..(next() % 64))
                .map(|_| alphabet[(next() as usize) % alphabet.len()])
                .collect();
            if let Ok(Some((_, used))) = parse_frame(&noise) {
                assert!(used <= noise.len());
            }
        }
    }

    /// Damaged replies are errors, and a huge count allocates nothing up front.
    #[test]
    fn rejects_damage() {
        assert!(parse_frame(b"?x\r\n").is_err());
        assert!(parse_frame(b":12a\r\n").is_err());
        assert!(parse_frame(b"$3\r\nfooXX").is_err());
        assert!(parse_frame(b"#x\r\n").is_err());
        assert_eq!(parse_frame(b"*9223372036854775807\r\n").unwrap(), None);
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2);
        assert!(parse_frame(deep.as_bytes()).is_err());
    }
}
