//! Reply encoding for RESP2 and RESP3.
//!
//! Commands write their replies straight into the connection's output buffer through
//! [`ReplyBuf`], which picks the encoding for the negotiated protocol version (a map is a
//! flat array in RESP2, a `%` map in RESP3, and so on). No reply is built as a tree first:
//! a pipeline of 10,000 `GET`s costs 10,000 appends to one buffer and one `write`.

/// The protocol version a connection speaks; `HELLO 3` switches to RESP3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolVersion {
    /// RESP2, the default for every new connection.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

impl ProtocolVersion {
    /// The number `HELLO` reports for this version.
    pub fn number(self) -> i64 {
        match self {
            ProtocolVersion::Resp2 => 2,
            ProtocolVersion::Resp3 => 3,
        }
    }
}

/// An output buffer that encodes replies for one protocol version.
#[derive(Debug, Default)]
pub struct ReplyBuf {
    buf: Vec<u8>,
    version: ProtocolVersion,
}

impl ReplyBuf {
    /// An empty buffer encoding for `version`.
    pub fn new(version: ProtocolVersion) -> Self {
        ReplyBuf {
            buf: Vec::with_capacity(16 * 1024),
            version,
        }
    }

    /// An empty buffer that allocates only as replies are written: for one short reply
    /// (a pub/sub message, a script's result), where [`new`](Self::new)'s 16 KiB for a
    /// connection's replies would cost more than encoding it.
    pub fn small(version: ProtocolVersion) -> Self {
        ReplyBuf {
            buf: Vec::new(),
            version,
        }
    }

    /// The protocol version replies are encoded for.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Changes the protocol version for the replies that follow.
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = version;
    }

    /// The encoded bytes not yet sent.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Number of encoded bytes not yet sent.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing is waiting to be sent.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Drops everything after the first `len` bytes (used to suppress replies, as with
    /// `CLIENT REPLY OFF`).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// Forgets the bytes that were sent, keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        // Give back memory after a huge reply so that idle connections stay small.
        if self.buf.capacity() > 1024 * 1024 {
            self.buf.shrink_to(16 * 1024);
        }
    }

    /// Appends bytes that are already RESP-encoded.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string (`+...`). Line breaks are replaced by spaces, as Redis does.
    pub fn simple(&mut self, s: &[u8]) {
        self.buf.push(b'+');
        self.push_line(s);
    }

    /// An error reply. `msg` must start with the error code (`ERR ...`, `WRONGTYPE ...`).
    pub fn error(&mut self, msg: &str) {
        self.buf.push(b'-');
        self.push_line(msg.as_bytes());
    }

    fn push_line(&mut self, s: &[u8]) {
        self.buf.extend(
            s.iter()
                .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer (`:n`).
    pub fn int(&mut self, n: i64) {
        self.buf.push(b':');
        self.push_decimal(n);
        self.buf.extend_from_slice(b"\r\n");
    }

    fn push_decimal(&mut self, n: i64) {
        if n < 0 {
            self.buf.push(b'-');
        }
        self.push_unsigned(n.unsigned_abs());
    }

    /// Digits of `n`, without going through `fmt` (this runs for every reply header).
    fn push_unsigned(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[i..]);
    }

    fn header(&mut self, prefix: u8, n: usize) {
        self.buf.push(prefix);
        self.push_unsigned(n as u64);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string (`$len`).
    pub fn bulk(&mut self, s: &[u8]) {
        self.header(b'$', s.len());
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer sent as a bulk string (as `INCRBYFLOAT` or `CONFIG GET` values are).
    pub fn bulk_int(&mut self, n: i64) {
        let s = n.to_string();
        self.bulk(s.as_bytes());
    }

    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        match self.version {
            ProtocolVersion::Resp2 => self.buf.extend_from_slice(b"$-1\r\n"),
            ProtocolVersion::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        match self.version {
            ProtocolVersion::Resp2 => self.buf.extend_from_slice(b"*-1\r\n"),
            ProtocolVersion::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// The header of an array of `n` elements.
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n);
    }

    /// The header of a map of `n` key/value pairs (a flat array of 2n elements in RESP2).
    pub fn map(&mut self, n: usize) {
        match self.version {
            ProtocolVersion::Resp2 => self.header(b'*', n * 2),
            ProtocolVersion::Resp3 => self.header(b'%', n),
        }
    }

    /// The header of a set of `n` elements (an array in RESP2).
    pub fn set(&mut self, n: usize) {
        match self.version {
            ProtocolVersion::Resp2 => self.header(b'*', n),
            ProtocolVersion::Resp3 => self.header(b'~', n),
        }
    }

    /// The header of an out-of-band push of `n` elements (an array in RESP2).
    pub fn push(&mut self, n: usize) {
        match self.version {
            ProtocolVersion::Resp2 => self.header(b'*', n),
            ProtocolVersion::Resp3 => self.header(b'>', n),
        }
    }

    /// A double: `,d` in RESP3, a bulk string in RESP2, formatted as Redis 7.0 does.
    pub fn double(&mut self, d: f64) {
        let s = format_double(d);
        match self.version {
            ProtocolVersion::Resp2 => self.bulk(s.as_bytes()),
            ProtocolVersion::Resp3 => {
                self.buf.push(b',');
                self.buf.extend_from_slice(s.as_bytes());
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, b: bool) {
        match self.version {
            ProtocolVersion::Resp2 => self.int(i64::from(b)),
            ProtocolVersion::Resp3 => {
                self.buf
                    .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" })
            }
        }
    }

    /// Verbatim text (`=len\r\ntxt:...` in RESP3, a bulk string in RESP2), as `INFO` and
    /// `CLIENT LIST` answer.
    pub fn verbatim(&mut self, text: &[u8]) {
        match self.version {
            ProtocolVersion::Resp2 => self.bulk(text),
            ProtocolVersion::Resp3 => {
                self.header(b'=', text.len() + 4);
                self.buf.extend_from_slice(b"txt:");
                self.buf.extend_from_slice(text);
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }
}

/// Formats a double as Redis 7.0's `addReplyDouble` does: `inf`/`-inf`, otherwise C's
/// `%.17g` (17 significant digits, trailing zeros dropped, exponent form outside
/// 1e-4..1e17).
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // `{:.16e}` gives exactly 17 significant digits, correctly rounded, like printf.
    let sci = format!("{d:.16e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..17).contains(&exp) {
        let mut m = format!("{}.{}", &digits[..1], &digits[1..]);
        trim_fraction(&mut m);
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    let mut out = if exp >= 0 {
        let int_len = (exp + 1) as usize;
        format!("{}.{}", &digits[..int_len], &digits[int_len..])
    } else {
        format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
    };
    trim_fraction(&mut out);
    format!("{sign}{out}")
}

fn trim_fraction(s: &mut String) {
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
}

/// Quotes bytes as Redis's `sdscatrepr` does: `MONITOR` lines and redis-cli's display
/// of strings (`"a\\nb"`, `"\\xff"`).
pub fn repr(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(char::from(c)),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3_shapes() {
        let mut r2 = ReplyBuf::new(ProtocolVersion::Resp2);
        r2.map(2);
        r2.null();
        r2.null_array();
        r2.double(1.5);
        r2.boolean(true);
        assert_eq!(r2.as_bytes(), b"*4\r\n$-1\r\n*-1\r\n$3\r\n1.5\r\n:1\r\n");
        let mut r3 = ReplyBuf::new(ProtocolVersion::Resp3);
        r3.map(2);
        r3.null();
        r3.double(1.5);
        r3.set(1);
        r3.verbatim(b"hi");
        assert_eq!(r3.as_bytes(), b"%2\r\n_\r\n,1.5\r\n~1\r\n=6\r\ntxt:hi\r\n");
    }

    #[test]
    fn integers_and_headers() {
        let mut r = ReplyBuf::new(ProtocolVersion::Resp2);
        r.int(0);
        r.int(-7);
        r.int(i64::MIN);
        r.int(i64::MAX);
        r.array(1234);
        r.bulk_int(-5);
        assert_eq!(
            r.as_bytes(),
            b":0\r\n:-7\r\n:-9223372036854775808\r\n:9223372036854775807\r\n*1234\r\n$2\r\n-5\r\n"
        );
    }

    #[test]
    fn errors_and_simple_strings_cannot_break_framing() {
        let mut r = ReplyBuf::new(ProtocolVersion::Resp2);
        r.error("ERR bad\r\nthing");
        r.simple(b"a\nb");
        assert_eq!(r.as_bytes(), b"-ERR bad  thing\r\n+a b\r\n");
    }

    #[test]
    fn doubles_format_as_printf_17g() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(1.1), "1.1000000000000001");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(1e17), "1e+17");
        assert_eq!(
            format_double(123456789012345678.0),
            "1.2345678901234568e+17"
        );
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(0.00001), "1.0000000000000001e-05");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(0.0), "0");
    }
}
