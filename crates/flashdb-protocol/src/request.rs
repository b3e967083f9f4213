//! Incremental parser for client requests: RESP multibulk arrays and inline commands.
//!
//! The parser does no I/O. It is handed the connection's unread bytes and either returns a
//! complete request (the byte ranges of its arguments inside that buffer and how many bytes it
//! used), says that more bytes are needed, or fails with one of Redis's protocol errors.
//! It keeps its progress between calls so that a request arriving in many reads (a 512 MB
//! bulk string, or an `MSET` with a million arguments) is scanned once, not once per read.

use std::ops::Range;

use crate::error::ProtocolError;

/// Longest inline request, or multibulk/bulk length line, accepted before the request is
/// rejected (Redis's `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX_SIZE: usize = 64 * 1024;

/// Limits applied while parsing; they come from the server's configuration.
#[derive(Debug, Clone, Copy)]
pub struct ParserLimits {
    /// Largest bulk string accepted (`proto-max-bulk-len`).
    pub max_bulk_len: u64,
    /// Whether the client has authenticated; unauthenticated clients get Redis's tighter
    /// limits (at most 10 arguments of at most 16 KiB) so that they cannot make the server
    /// buffer large requests before `AUTH`.
    pub authenticated: bool,
}

impl Default for ParserLimits {
    fn default() -> Self {
        ParserLimits {
            max_bulk_len: 512 * 1024 * 1024,
            authenticated: true,
        }
    }
}

/// Where the parser stands inside a multibulk request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing consumed yet for the current request.
    Start,
    /// Inside a multibulk request: how many arguments are still expected.
    Multibulk { remaining: usize },
}

/// What one call to [`RequestParser::parse`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request is at the front of the buffer; its arguments are in
    /// [`RequestParser::args`]. `consumed` bytes belong to it.
    Request {
        /// Bytes of the buffer taken by this request.
        consumed: usize,
    },
    /// The front of the buffer held nothing to execute (an empty inline line, or a multibulk
    /// count of zero or less); skip `consumed` bytes, as Redis does, and parse again.
    Empty {
        /// Bytes to discard.
        consumed: usize,
    },
    /// More bytes are needed. `hint` is how many bytes in total the buffer must hold for the
    /// parser to make progress, when it knows (a large bulk string); callers may reserve it.
    Incomplete {
        /// Total buffer length needed for the next step, if known.
        hint: Option<usize>,
    },
}

/// A stateful, incremental parser of client requests.
#[derive(Debug)]
pub struct RequestParser {
    state: State,
    /// Offset in the buffer where parsing resumes.
    pos: usize,
    args: Vec<Range<usize>>,
}

impl Default for RequestParser {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestParser {
    /// A parser at the start of a request.
    pub fn new() -> Self {
        RequestParser {
            state: State::Start,
            pos: 0,
            args: Vec::new(),
        }
    }

    /// Byte ranges (into the buffer last passed to [`parse`](Self::parse)) of the arguments of
    /// the request just parsed.
    pub fn args(&self) -> &[Range<usize>] {
        &self.args
    }

    /// Forgets the current request; call after consuming the bytes of a complete request, or
    /// to drop a partial one.
    pub fn reset(&mut self) {
        self.state = State::Start;
        self.pos = 0;
        self.args.clear();
    }

    /// Parses the request at the front of `buf`.
    ///
    /// `buf` must start at the same byte on every call until a result other than
    /// [`Parsed::Incomplete`] is returned, and may only grow at its end in between.
    pub fn parse(&mut self, buf: &[u8], limits: &ParserLimits) -> Result<Parsed, ProtocolError> {
        if self.state == State::Start {
            if buf.is_empty() {
                return Ok(Parsed::Incomplete { hint: None });
            }
            if buf[0] != b'*' {
                return self.parse_inline(buf);
            }
            self.args.clear();
            let Some(line_end) = find_crlf(buf, 1) else {
                if buf.len() > INLINE_MAX_SIZE {
                    return Err(ProtocolError::TooBigMultibulkCount);
                }
                return Ok(Parsed::Incomplete { hint: None });
            };
            let count =
                parse_i64(&buf[1..line_end]).ok_or(ProtocolError::InvalidMultibulkLength)?;
            if count > i64::from(i32::MAX) {
                return Err(ProtocolError::InvalidMultibulkLength);
            }
            if !limits.authenticated && count > 10 {
                return Err(ProtocolError::UnauthenticatedMultibulkLength);
            }
            let consumed = line_end + 2;
            if count <= 0 {
                return Ok(Parsed::Empty { consumed });
            }
            self.pos = consumed;
            // `count` is at most i32::MAX, so the conversion cannot truncate.
            self.state = State::Multibulk {
                remaining: count as usize,
            };
            // Pre-size for small requests only: the count comes from the network.
            self.args.reserve((count as usize).min(64));
        }
        let State::Multibulk { mut remaining } = self.state else {
            return Ok(Parsed::Incomplete { hint: None });
        };
        while remaining > 0 {
            let start = self.pos;
            if start >= buf.len() {
                self.state = State::Multibulk { remaining };
                return Ok(Parsed::Incomplete { hint: None });
            }
            let Some(line_end) = find_crlf(buf, start) else {
                if buf.len() - start > INLINE_MAX_SIZE {
                    return Err(ProtocolError::TooBigBulkCount);
                }
                self.state = State::Multibulk { remaining };
                return Ok(Parsed::Incomplete { hint: None });
            };
            if buf[start] != b'$' {
                return Err(ProtocolError::ExpectedDollar(buf[start]));
            }
            let len =
                parse_i64(&buf[start + 1..line_end]).ok_or(ProtocolError::InvalidBulkLength)?;
            if len < 0 || (!limits.authenticated && len > 16384) || len as u64 > limits.max_bulk_len
            {
                return Err(ProtocolError::InvalidBulkLength);
            }
            let len = usize::try_from(len).map_err(|_| ProtocolError::InvalidBulkLength)?;
            let data_start = line_end + 2;
            let needed = data_start
                .checked_add(len)
                .and_then(|n| n.checked_add(2))
                .ok_or(ProtocolError::InvalidBulkLength)?;
            if buf.len() < needed {
                // Leave `pos` at the `$` line: it is cheap to read again and keeps state small.
                self.state = State::Multibulk { remaining };
                return Ok(Parsed::Incomplete { hint: Some(needed) });
            }
            // Like Redis, the two bytes after the data are skipped without being checked.
            self.args.push(data_start..data_start + len);
            self.pos = needed;
            remaining -= 1;
        }
        let consumed = self.pos;
        self.state = State::Start;
        self.pos = 0;
        Ok(Parsed::Request { consumed })
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let Some(nl) = memchr::memchr(b'\n', buf) else {
            if buf.len() > INLINE_MAX_SIZE {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(Parsed::Incomplete { hint: None });
        };
        let mut line_end = nl;
        if line_end > 0 && buf[line_end - 1] == b'\r' {
            line_end -= 1;
        }
        self.args.clear();
        split_inline_args(&buf[..line_end], &mut self.args)?;
        if self.args.is_empty() {
            return Ok(Parsed::Empty { consumed: nl + 1 });
        }
        Ok(Parsed::Request { consumed: nl + 1 })
    }
}

/// Resolves the arguments of an inline request. Quoted arguments can contain escapes, so
/// their bytes differ from the input; those are written to `scratch` and addressed there.
///
/// Inline requests are rare (people typing into telnet), so the simple approach of decoding
/// quoted arguments into an owned buffer is fine; unquoted arguments stay ranges into the line.
fn split_inline_args(line: &[u8], out: &mut Vec<Range<usize>>) -> Result<(), ProtocolError> {
    // Quoted arguments are checked here for balance with Redis's `sdssplitargs` rules; their
    // decoded contents are produced by `decode_inline_args`, which the server calls when an
    // inline request contains quotes (the ranges then only delimit the raw argument).
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Ok(());
        }
        let start = i;
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return Err(ProtocolError::UnbalancedQuotes);
                }
                if line[i] == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && is_hex(line[i + 2])
                    && is_hex(line[i + 3])
                {
                    i += 4;
                } else if line[i] == b'\\' && i + 1 < n {
                    i += 2;
                } else if line[i] == b'"' {
                    // The closing quote must be followed by a space or the end.
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            } else if in_sq {
                if i >= n {
                    return Err(ProtocolError::UnbalancedQuotes);
                }
                if line[i] == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 2;
                } else if line[i] == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            } else {
                if i >= n || is_space(line[i]) {
                    break;
                }
                match line[i] {
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    _ => {}
                }
                i += 1;
            }
        }
        out.push(start..i);
    }
}

/// Decodes one raw inline argument (as delimited by the parser) into its bytes, resolving
/// quotes and escapes as Redis's `sdssplitargs` does. Unquoted parts are copied as they are.
pub fn decode_inline_arg(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    let n = raw.len();
    let mut in_dq = false;
    let mut in_sq = false;
    while i < n {
        let c = raw[i];
        if in_dq {
            if c == b'\\'
                && i + 3 < n
                && raw[i + 1] == b'x'
                && is_hex(raw[i + 2])
                && is_hex(raw[i + 3])
            {
                out.push(hex_val(raw[i + 2]) * 16 + hex_val(raw[i + 3]));
                i += 4;
                continue;
            }
            if c == b'\\' && i + 1 < n {
                out.push(match raw[i + 1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'a' => 7,
                    other => other,
                });
                i += 2;
                continue;
            }
            if c == b'"' {
                in_dq = false;
            } else {
                out.push(c);
            }
        } else if in_sq {
            if c == b'\\' && i + 1 < n && raw[i + 1] == b'\'' {
                out.push(b'\'');
                i += 2;
                continue;
            }
            if c == b'\'' {
                in_sq = false;
            } else {
                out.push(c);
            }
        } else {
            match c {
                b'"' => in_dq = true,
                b'\'' => in_sq = true,
                _ => out.push(c),
            }
        }
        i += 1;
    }
    out
}

/// Whether a raw inline argument needs [`decode_inline_arg`] (it contains a quote).
pub fn inline_arg_is_quoted(raw: &[u8]) -> bool {
    raw.iter().any(|&c| c == b'"' || c == b'\'')
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0)
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Finds `\r\n` at or after `from`; returns the offset of the `\r`.
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let rel = memchr::memchr(b'\r', buf.get(at..)?)?;
        let cr = at + rel;
        if cr + 1 >= buf.len() {
            return None;
        }
        if buf[cr + 1] == b'\n' {
            return Some(cr);
        }
        at = cr + 1;
    }
}

/// Parses a signed decimal integer exactly as Redis's `string2ll`: no sign other than a
/// leading `-`, no leading zeros, no spaces, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::new();
        let limits = ParserLimits::default();
        let mut buf = input;
        let mut out = Vec::new();
        loop {
            match p.parse(buf, &limits)? {
                Parsed::Request { consumed } => {
                    out.push(p.args().iter().map(|r| buf[r.clone()].to_vec()).collect());
                    p.reset();
                    buf = &buf[consumed..];
                }
                Parsed::Empty { consumed } => {
                    p.reset();
                    buf = &buf[consumed..];
                }
                Parsed::Incomplete { .. } => return Ok(out),
            }
        }
    }

    /// Feeds `input` one split at a time: every prefix boundary is a separate read.
    fn parse_split(input: &[u8], split: usize) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::new();
        let limits = ParserLimits::default();
        let mut buf: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        for chunk in [&input[..split], &input[split..]] {
            buf.extend_from_slice(chunk);
            loop {
                match p.parse(&buf, &limits)? {
                    Parsed::Request { consumed } => {
                        out.push(p.args().iter().map(|r| buf[r.clone()].to_vec()).collect());
                        p.reset();
                        buf.drain(..consumed);
                    }
                    Parsed::Empty { consumed } => {
                        p.reset();
                        buf.drain(..consumed);
                    }
                    Parsed::Incomplete { .. } => break,
                }
            }
        }
        Ok(out)
    }

    fn args(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn frames_parse_identically_at_every_split() {
        type Case<'a> = (&'a [u8], Vec<Vec<Vec<u8>>>);
        let frames: Vec<Case> = vec![
            (b"*1\r\n$4\r\nPING\r\n", vec![args(&["PING"])]),
            (
                b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
                vec![args(&["SET", "k", ""]), args(&["GET", "k"])],
            ),
            (b"PING\r\n", vec![args(&["PING"])]),
            (b"set a \"b c\"\n", vec![args(&["set", "a", "\"b c\""])]),
            (b"\r\n*0\r\n*-1\r\nECHO x\r\n", vec![args(&["ECHO", "x"])]),
            (
                b"*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\n",
                vec![args(&["GET", "a\r\nb"])],
            ),
        ];
        for (input, expected) in frames {
            assert_eq!(parse_all(input).unwrap(), expected, "whole {:?}", input);
            for split in 0..=input.len() {
                assert_eq!(
                    parse_split(input, split).unwrap(),
                    expected,
                    "split {split} of {:?}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn errors_match_redis() {
        let cases: Vec<(&[u8], &str)> = vec![
            (b"*abc\r\n", "Protocol error: invalid multibulk length"),
            (
                b"*3000000000\r\n",
                "Protocol error: invalid multibulk length",
            ),
            (b"*01\r\n", "Protocol error: invalid multibulk length"),
            (b"*1\r\nx\r\n", "Protocol error: expected '$', got 'x'"),
            (b"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"),
            (b"*1\r\n$abc\r\n", "Protocol error: invalid bulk length"),
            (
                b"*1\r\n$600000000\r\n",
                "Protocol error: invalid bulk length",
            ),
            (
                b"set a \"b\n",
                "Protocol error: unbalanced quotes in request",
            ),
            (
                b"set a 'b\n",
                "Protocol error: unbalanced quotes in request",
            ),
            (
                b"set a \"b\"c\n",
                "Protocol error: unbalanced quotes in request",
            ),
        ];
        for (input, msg) in cases {
            let err = parse_all(input).unwrap_err();
            assert_eq!(err.to_string(), msg, "{:?}", String::from_utf8_lossy(input));
            for split in 0..=input.len() {
                let err = parse_split(input, split).unwrap_err();
                assert_eq!(err.to_string(), msg);
            }
        }
    }

    #[test]
    fn oversized_lines_are_rejected_without_a_newline() {
        let big = vec![b'a'; INLINE_MAX_SIZE + 1];
        assert_eq!(parse_all(&big).unwrap_err(), ProtocolError::TooBigInline);
        let mut mb = b"*".to_vec();
        mb.extend(std::iter::repeat_n(b'1', INLINE_MAX_SIZE + 1));
        assert_eq!(
            parse_all(&mb).unwrap_err(),
            ProtocolError::TooBigMultibulkCount
        );
        let mut bulk = b"*1\r\n$".to_vec();
        bulk.extend(std::iter::repeat_n(b'1', INLINE_MAX_SIZE + 1));
        assert_eq!(
            parse_all(&bulk).unwrap_err(),
            ProtocolError::TooBigBulkCount
        );
    }

    #[test]
    fn unauthenticated_limits() {
        let mut p = RequestParser::new();
        let limits = ParserLimits {
            authenticated: false,
            ..ParserLimits::default()
        };
        assert_eq!(
            p.parse(b"*11\r\n", &limits).unwrap_err(),
            ProtocolError::UnauthenticatedMultibulkLength
        );
        p.reset();
        assert_eq!(
            p.parse(b"*1\r\n$16385\r\n", &limits).unwrap_err(),
            ProtocolError::InvalidBulkLength
        );
    }

    #[test]
    fn large_bulk_gives_a_size_hint() {
        let mut p = RequestParser::new();
        let r = p
            .parse(b"*1\r\n$100000\r\nabc", &ParserLimits::default())
            .unwrap();
        assert_eq!(
            r,
            Parsed::Incomplete {
                hint: Some(13 + 100000 + 2)
            }
        );
    }

    #[test]
    fn inline_quotes_decode_like_sdssplitargs() {
        assert_eq!(decode_inline_arg(b"\"a\\x41\\n\""), b"aA\n");
        assert_eq!(decode_inline_arg(b"'it\\'s'"), b"it's");
        assert_eq!(decode_inline_arg(b"plain"), b"plain");
        assert!(inline_arg_is_quoted(b"\"x\""));
    }

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"007"), None);
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"-9223372036854775809"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b""), None);
    }
}
