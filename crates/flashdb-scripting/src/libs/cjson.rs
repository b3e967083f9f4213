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
    t.raw_set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let bytes = s.as_bytes();
            let mut p = Parser {
                s: &bytes,
                pos: 0,
                lua,
            };
            p.skip_ws();
            let v = p.value(0)?;
            p.skip_ws();
            if p.pos < p.s.len() {
                return Err(p.expected("the end", p.token_name()));
            }
            Ok(v)
        })?,
    )?;
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
                            _ => {
                                return Err(rt(
                                    "Cannot serialise table: table key must be a number or string",
                                ))
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

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    lua: &'a Lua,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    fn token_name(&self) -> &'static str {
        match self.s.get(self.pos) {
            None => "T_END",
            Some(b'{') => "T_OBJ_BEGIN",
            Some(b'}') => "T_OBJ_END",
            Some(b'[') => "T_ARR_BEGIN",
            Some(b']') => "T_ARR_END",
            Some(b',') => "T_COMMA",
            Some(b':') => "T_COLON",
            Some(b'"') => "T_STRING",
            _ => "invalid token",
        }
    }

    fn expected(&self, what: &str, found: &str) -> mlua::Error {
        rt(format!(
            "Expected {what} but found {found} at character {}",
            self.pos + 1
        ))
    }

    fn value(&mut self, depth: usize) -> mlua::Result<Value> {
        match self.s.get(self.pos) {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::String(self.lua.create_string(self.string()?)?)),
            Some(b't') if self.s[self.pos..].starts_with(b"true") => {
                self.pos += 4;
                Ok(Value::Boolean(true))
            }
            Some(b'f') if self.s[self.pos..].starts_with(b"false") => {
                self.pos += 5;
                Ok(Value::Boolean(false))
            }
            Some(b'n') if self.s[self.pos..].starts_with(b"null") => {
                self.pos += 4;
                Ok(null())
            }
            Some(c) if c.is_ascii_digit() || *c == b'-' => self.number(),
            _ => Err(self.expected("value", self.token_name())),
        }
    }

    fn nested(&self, depth: usize) -> mlua::Result<()> {
        if depth > MAX_DEPTH {
            return Err(rt(format!(
                "Found too many nested data structures ({depth}) at character {}",
                self.pos + 1
            )));
        }
        Ok(())
    }

    fn object(&mut self, depth: usize) -> mlua::Result<Value> {
        self.nested(depth)?;
        self.pos += 1;
        let t = self.lua.create_table()?;
        self.skip_ws();
        if self.s.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Value::Table(t));
        }
        loop {
            self.skip_ws();
            if self.s.get(self.pos) != Some(&b'"') {
                return Err(self.expected("object key string", self.token_name()));
            }
            let k = self.string()?;
            self.skip_ws();
            if self.s.get(self.pos) != Some(&b':') {
                return Err(self.expected("colon", self.token_name()));
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value(depth)?;
            t.raw_set(self.lua.create_string(k)?, v)?;
            self.skip_ws();
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                _ => return Err(self.expected("comma or object end", self.token_name())),
            }
        }
    }

    fn array(&mut self, depth: usize) -> mlua::Result<Value> {
        self.nested(depth)?;
        self.pos += 1;
        let t = self.lua.create_table()?;
        self.skip_ws();
        if self.s.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Value::Table(t));
        }
        let mut i = 1;
        loop {
            self.skip_ws();
            let v = self.value(depth)?;
            t.raw_set(i, v)?;
            i += 1;
            self.skip_ws();
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                _ => return Err(self.expected("comma or array end", self.token_name())),
            }
        }
    }

    fn number(&mut self) -> mlua::Result<Value> {
        let start = self.pos;
        while self.pos < self.s.len()
            && matches!(
                self.s[self.pos],
                b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
            )
        {
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos])
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .map(Value::Number)
            .ok_or_else(|| {
                rt(format!(
                    "Expected value but found invalid number at character {}",
                    start + 1
                ))
            })
    }

    fn string(&mut self) -> mlua::Result<Vec<u8>> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Err(rt(format!(
                    "Expected value but found unexpected end of string at character {}",
                    start + 1
                )));
            };
            self.pos += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        continue;
                    };
                    self.pos += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4(start)?;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.s.get(self.pos) == Some(&b'\\')
                                && self.s.get(self.pos + 1) == Some(&b'u')
                            {
                                self.pos += 2;
                                let low = self.hex4(start)?;
                                cp = 0x10000
                                    + ((cp - 0xD800) << 10)
                                    + (low.wrapping_sub(0xDC00) & 0x3ff);
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            return Err(rt(format!(
                                "Expected value but found invalid escape code at character {}",
                                start + 1
                            )))
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self, start: usize) -> mlua::Result<u32> {
        let digits = self
            .s
            .get(self.pos..self.pos + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| {
                rt(format!(
                    "Expected value but found invalid unicode escape code at character {}",
                    start + 1
                ))
            })?;
        self.pos += 4;
        Ok(digits)
    }
}
