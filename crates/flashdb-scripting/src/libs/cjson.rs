//! `cjson`: JSON encoding and decoding as Redis's lua-cjson 2.1 does it (numbers with 14
//! significant digits, `/` escaped, an empty table encoded as `{}`, `cjson.null` for
//! JSON's null, at most 1000 levels of nesting).

use mlua::{LightUserData, Lua, Table, Value};

use super::rt;
use crate::fmt;

/// Deepest nesting encoded or decoded.
const MAX_DEPTH: usize = 1000;

/// `cjson.null`: a light userdata holding a null pointer, as lua-cjson's.
pub fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// The `cjson` table.
pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let mut out = Vec::new();
            encode(&v, &mut out, 0)?;
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set("decode", lua.create_function(decode)?)?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    // Settings Redis scripts may read or set: accepted, the defaults kept.
    for (name, default) in [
        ("encode_max_depth", Value::Integer(MAX_DEPTH as _)),
        ("decode_max_depth", Value::Integer(MAX_DEPTH as _)),
        ("encode_number_precision", Value::Integer(14)),
        ("encode_keep_buffer", Value::Boolean(true)),
        ("encode_invalid_numbers", Value::Boolean(false)),
        ("decode_invalid_numbers", Value::Boolean(true)),
    ] {
        t.raw_set(
            name,
            lua.create_function(move |_, _: mlua::MultiValue| Ok(default.clone()))?,
        )?;
    }
    t.raw_set(
        "encode_sparse_array",
        lua.create_function(|_, _: mlua::MultiValue| Ok((false, 2, 10)))?,
    )?;
    Ok(t)
}

fn encode(v: &Value, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // Written as any number is, with `%.14g` (2^53 is `9.007199254741e+15`).
        Value::Integer(n) => number(*n as f64, out)?,
        Value::Number(n) => number(*n, out)?,
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return Err(rt(format!("Cannot serialise, excessive nesting ({depth})")));
            }
            match array_length(t)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        encode(&t.raw_get::<Value>(i)?, out, depth)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.clone().pairs::<Value, Value>() {
                        let (k, v) = pair?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(s) => string(&s.as_bytes(), out),
                            Value::Number(n) => {
                                out.push(b'"');
                                number(*n, out)?;
                                out.push(b'"');
                            }
                            Value::Integer(n) => {
                                out.push(b'"');
                                number(*n as f64, out)?;
                                out.push(b'"');
                            }
                            other => {
                                return Err(rt(format!(
                                    "Cannot serialise {}: table key must be a number or string",
                                    other.type_name()
                                )))
                            }
                        }
                        out.push(b':');
                        encode(&v, out, depth)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => {
            return Err(rt(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            )))
        }
    }
    Ok(())
}

fn number(n: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if !n.is_finite() {
        return Err(rt("Cannot serialise number: must not be NaN or Inf"));
    }
    out.extend_from_slice(fmt::g(n, 14).as_bytes());
    Ok(())
}

/// `Some(n)` when every key is a positive integer (the largest being `n`), `None` for
/// an object; an error for an excessively sparse array, as lua-cjson's defaults.
fn array_length(t: &Table) -> mlua::Result<Option<usize>> {
    let mut max = 0usize;
    let mut items = 0usize;
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Number(n) if n >= 1.0 && n.floor() == n => n as usize,
            Value::Integer(n) if n >= 1 => n as usize,
            _ => return Ok(None),
        };
        max = max.max(n);
        items += 1;
    }
    if max > items * 2 && max > 10 {
        return Err(rt("Cannot serialise table: excessively sparse array"));
    }
    Ok(Some(max))
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// A token of the JSON text, as lua-cjson's tokenizer makes them.
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    /// Not a token: what was found instead.
    Error(&'static str),
}

struct Token {
    tok: Tok,
    /// Where it starts (or, for an error, where the tokenizer stopped), from 0.
    index: usize,
}

impl Token {
    /// What an error message says was found.
    fn found(&self) -> &'static str {
        match self.tok {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str(_) => "T_STRING",
            Tok::Num(_) => "T_NUMBER",
            Tok::Bool(_) => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(what) => what,
        }
    }
}

/// `cjson.decode`: lua-cjson 2.1.0's parser (numbers are read with `strtod`, which
/// takes hexadecimal, `inf` and `nan` too, as Redis's build does; a NUL byte ends the
/// text), with its error messages.
fn decode(lua: &Lua, args: mlua::MultiValue) -> mlua::Result<Value> {
    let (Some(arg), 1) = (args.front(), args.len()) else {
        return Err(rt("bad argument #1 to 'decode' (expected 1 argument)"));
    };
    let Some(bytes) = super::lua_string_bytes(arg) else {
        return Err(rt(format!(
            "bad argument #1 to 'decode' (string expected, got {})",
            arg.type_name()
        )));
    };
    if bytes.len() >= 2 && (bytes[0] == 0 || bytes[1] == 0) {
        return Err(rt("JSON parser does not support UTF-16 or UTF-32"));
    }
    let mut p = Parser {
        s: &bytes,
        ptr: 0,
        depth: 0,
        lua,
    };
    let token = p.next_token();
    let v = p.value(token)?;
    let token = p.next_token();
    if !matches!(token.tok, Tok::End) {
        return Err(Parser::unexpected("the end", &token));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    ptr: usize,
    depth: usize,
    lua: &'a Lua,
}

impl Parser<'_> {
    /// The byte at `i`; the end of the text reads as NUL, which ends it as in C.
    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    fn unexpected(what: &str, token: &Token) -> mlua::Error {
        rt(format!(
            "Expected {what} but found {} at character {}",
            token.found(),
            token.index + 1
        ))
    }

    fn error(&self, what: &'static str) -> Token {
        Token {
            tok: Tok::Error(what),
            index: self.ptr,
        }
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.at(self.ptr), b' ' | b'\t' | b'\n' | b'\r') {
            self.ptr += 1;
        }
        let index = self.ptr;
        let single = |tok| Token { tok, index };
        let c = self.at(self.ptr);
        let tok = match c {
            0 => return single(Tok::End),
            b'{' => Tok::ObjBegin,
            b'}' => Tok::ObjEnd,
            b'[' => Tok::ArrBegin,
            b']' => Tok::ArrEnd,
            b',' => Tok::Comma,
            b':' => Tok::Colon,
            b'"' => return self.string_token(),
            b'-' | b'0'..=b'9' => return self.number_token(),
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                let rest = &self.s[self.ptr..];
                for (word, tok, len) in [
                    (&b"true"[..], Tok::Bool(true), 4),
                    (b"false", Tok::Bool(false), 5),
                    (b"null", Tok::Null, 4),
                ] {
                    if rest.starts_with(word) {
                        self.ptr += len;
                        return single(tok);
                    }
                }
                if self.invalid_number() {
                    return self.number_token();
                }
                return self.error("invalid token");
            }
            _ => return self.error("invalid token"),
        };
        self.ptr += 1;
        single(tok)
    }

    /// A number JSON does not allow but `strtod` reads (`+`, hexadecimal, leading
    /// zeros, `inf`, `nan`): with lua-cjson's default `decode_invalid_numbers`, read.
    fn invalid_number(&self) -> bool {
        let mut p = self.ptr;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let word = self.s.get(p..p + 3).unwrap_or_default();
        word.eq_ignore_ascii_case(b"inf") || word.eq_ignore_ascii_case(b"nan")
    }

    fn number_token(&mut self) -> Token {
        match strtod(&self.s[self.ptr..]) {
            Some((n, len)) => {
                let index = self.ptr;
                self.ptr += len;
                Token {
                    tok: Tok::Num(n),
                    index,
                }
            }
            None => self.error("invalid number"),
        }
    }

    fn string_token(&mut self) -> Token {
        let index = self.ptr;
        self.ptr += 1;
        let mut out = Vec::new();
        loop {
            let c = self.at(self.ptr);
            match c {
                b'"' => break,
                0 => return self.error("unexpected end of string"),
                b'\\' => {
                    let translated = match self.at(self.ptr + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => match self.unicode_escape() {
                            Some((cp, len)) => {
                                let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                                self.ptr += len;
                                continue;
                            }
                            None => return self.error("invalid unicode escape code"),
                        },
                        _ => return self.error("invalid escape code"),
                    };
                    out.push(translated);
                    self.ptr += 2;
                }
                c => {
                    out.push(c);
                    self.ptr += 1;
                }
            }
        }
        self.ptr += 1;
        Token {
            tok: Tok::Str(out),
            index,
        }
    }

    /// The code point of the `\uXXXX` escape (or surrogate pair) at `ptr`, and how
    /// many bytes it takes; `None` when it is not a valid one.
    fn unicode_escape(&self) -> Option<(u32, usize)> {
        let hex4 = |at: usize| -> Option<u32> {
            let d = self.s.get(at..at + 4)?;
            if !d.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            u32::from_str_radix(std::str::from_utf8(d).ok()?, 16).ok()
        };
        let cp = hex4(self.ptr + 2)?;
        if cp & 0xF800 != 0xD800 {
            return Some((cp, 6));
        }
        // A surrogate: it must be a high one, followed by an escaped low one.
        if cp & 0x400 != 0 || self.at(self.ptr + 6) != b'\\' || self.at(self.ptr + 7) != b'u' {
            return None;
        }
        let low = hex4(self.ptr + 8)?;
        if low & 0xFC00 != 0xDC00 {
            return None;
        }
        Some(((((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000, 12))
    }

    fn descend(&mut self) -> mlua::Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(rt(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth, self.ptr
            )));
        }
        Ok(())
    }

    fn value(&mut self, token: Token) -> mlua::Result<Value> {
        Ok(match token.tok {
            Tok::Str(s) => Value::String(self.lua.create_string(s)?),
            Tok::Num(n) => Value::Number(n),
            Tok::Bool(b) => Value::Boolean(b),
            Tok::Null => null(),
            Tok::ObjBegin => self.object()?,
            Tok::ArrBegin => self.array()?,
            _ => return Err(Self::unexpected("value", &token)),
        })
    }

    fn object(&mut self) -> mlua::Result<Value> {
        self.descend()?;
        let t = self.lua.create_table()?;
        let mut token = self.next_token();
        if matches!(token.tok, Tok::ObjEnd) {
            self.depth -= 1;
            return Ok(Value::Table(t));
        }
        loop {
            let Tok::Str(key) = token.tok else {
                return Err(Self::unexpected("object key string", &token));
            };
            let colon = self.next_token();
            if !matches!(colon.tok, Tok::Colon) {
                return Err(Self::unexpected("colon", &colon));
            }
            let next = self.next_token();
            let v = self.value(next)?;
            t.raw_set(self.lua.create_string(key)?, v)?;
            let after = self.next_token();
            match after.tok {
                Tok::ObjEnd => {
                    self.depth -= 1;
                    return Ok(Value::Table(t));
                }
                Tok::Comma => token = self.next_token(),
                _ => return Err(Self::unexpected("comma or object end", &after)),
            }
        }
    }

    fn array(&mut self) -> mlua::Result<Value> {
        self.descend()?;
        let t = self.lua.create_table()?;
        let mut token = self.next_token();
        if matches!(token.tok, Tok::ArrEnd) {
            self.depth -= 1;
            return Ok(Value::Table(t));
        }
        let mut i = 1;
        loop {
            let v = self.value(token)?;
            t.raw_set(i, v)?;
            i += 1;
            let after = self.next_token();
            match after.tok {
                Tok::ArrEnd => {
                    self.depth -= 1;
                    return Ok(Value::Table(t));
                }
                Tok::Comma => token = self.next_token(),
                _ => return Err(Self::unexpected("comma or array end", &after)),
            }
        }
    }
}

/// C's `strtod` on the start of `s`: the number it reads and how many bytes that
/// took, or `None` when it reads none. Decimal with an optional exponent, hexadecimal
/// (`0x1.8p3`), `inf`/`infinity` and `nan`, each with an optional sign.
fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let negative = match s.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if negative { -v } else { v };
    let rest = &s[i..];
    let starts = |w: &[u8]| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w);
    if starts(b"infinity") {
        return Some((sign(f64::INFINITY), i + 8));
    }
    if starts(b"inf") {
        return Some((sign(f64::INFINITY), i + 3));
    }
    if starts(b"nan") {
        let mut end = i + 3;
        // `nan(chars)`: the parenthesis is taken only when it closes.
        if s.get(end) == Some(&b'(') {
            if let Some(close) = s[end + 1..]
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                .filter(|&k| s[end + 1 + k] == b')')
            {
                end += close + 2;
            }
        }
        return Some((sign(f64::NAN), end));
    }
    let digits = |from: usize, hex: bool| {
        s[from..]
            .iter()
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count()
    };
    if (rest.starts_with(b"0x") || rest.starts_with(b"0X"))
        && (s.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
            || (s.get(i + 2) == Some(&b'.') && s.get(i + 3).is_some_and(u8::is_ascii_hexdigit)))
    {
        let mut j = i + 2;
        let mut mantissa = 0f64;
        let whole = digits(j, true);
        for &c in &s[j..j + whole] {
            mantissa = mantissa * 16.0 + f64::from((c as char).to_digit(16).unwrap_or(0));
        }
        j += whole;
        let mut exp: i64 = 0;
        if s.get(j) == Some(&b'.') {
            let frac = digits(j + 1, true);
            for &c in &s[j + 1..j + 1 + frac] {
                mantissa = mantissa * 16.0 + f64::from((c as char).to_digit(16).unwrap_or(0));
            }
            exp -= 4 * frac as i64;
            j += 1 + frac;
        }
        if matches!(s.get(j), Some(b'p' | b'P')) {
            let (e, len) = exponent(&s[j + 1..]);
            if len > 0 {
                exp += e;
                j += 1 + len;
            }
        }
        return Some((sign(mantissa * 2f64.powi(exp.clamp(-2000, 2000) as i32)), j));
    }
    let whole = digits(i, false);
    let mut j = i + whole;
    let mut frac = 0;
    if s.get(j) == Some(&b'.') {
        frac = digits(j + 1, false);
        if whole + frac > 0 {
            j += 1 + frac;
        }
    }
    if whole + frac == 0 {
        return None;
    }
    if matches!(s.get(j), Some(b'e' | b'E')) {
        let (_, len) = exponent(&s[j + 1..]);
        if len > 0 {
            j += 1 + len;
        }
    }
    let text = std::str::from_utf8(&s[..j]).ok()?;
    text.parse::<f64>().ok().map(|v| (v, j))
}

/// A signed decimal exponent at the start of `s` and its length (0: none).
fn exponent(s: &[u8]) -> (i64, usize) {
    let (negative, start) = match s.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let n = s[start..].iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return (0, 0);
    }
    let e = s[start..start + n].iter().fold(0i64, |e, &c| {
        e.saturating_mul(10).saturating_add(i64::from(c - b'0'))
    });
    (if negative { -e } else { e }, start + n)
}

#[cfg(test)]
mod tests {
    use super::strtod;

    #[test]
    fn strtod_reads_what_c_reads() {
        let cases: &[(&str, Option<(f64, usize)>)] = &[
            ("12", Some((12.0, 2))),
            ("-1.5e3x", Some((-1500.0, 6))),
            ("1.", Some((1.0, 2))),
            (".5", Some((0.5, 2))),
            ("1.e2", Some((100.0, 4))),
            ("1e", Some((1.0, 1))),
            ("1e+", Some((1.0, 1))),
            ("007", Some((7.0, 3))),
            ("0x10", Some((16.0, 4))),
            ("0x1p4", Some((16.0, 5))),
            ("0x1.8p1", Some((3.0, 7))),
            ("0x", Some((0.0, 1))),
            ("0xg", Some((0.0, 1))),
            ("+5", Some((5.0, 2))),
            ("-Infinity", Some((f64::NEG_INFINITY, 9))),
            ("inf,", Some((f64::INFINITY, 3))),
            ("-", None),
            (".", None),
            ("e5", None),
            ("x", None),
        ];
        for (text, want) in cases {
            assert_eq!(strtod(text.as_bytes()), *want, "{text}");
        }
        let (n, len) = strtod(b"NaN(123)z").expect("nan");
        assert!(n.is_nan());
        assert_eq!(len, 8);
        let (n, len) = strtod(b"nan(").expect("nan");
        assert!(n.is_nan());
        assert_eq!(len, 3);
    }
}
