//! Values between Redis replies and Lua, in both directions, as Redis 7.0's
//! `script_lua.c` converts them.
//!
//! A command's reply becomes a Lua value for the script (`redis.call`): integers are
//! numbers, bulk strings are strings, a null is `false` (RESP2) or `nil` (RESP3), a status
//! is `{ok=...}`, an error `{err=...}`, and RESP3's types are tables naming them
//! (`{map=...}`, `{set=...}`, `{double=...}`, `{big_number=...}`). The script's result
//! becomes the client's reply by the reverse rules.

use flashdb_protocol::{ProtocolVersion, ReplyBuf};
use mlua::{Lua, Table, Value};

/// Deepest nesting of tables a script may return; deeper is an error, not a crash.
pub const MAX_DEPTH: usize = 1000;

/// A command's reply, as RESP bytes, as the Lua value `redis.call` returns, with `resp3`
/// set when the script asked for RESP3 with `redis.setresp(3)`. Read straight from the
/// bytes (no intermediate tree: this is on every `redis.call`). A reply that does not
/// parse is an error, never a panic.
pub fn reply_to_lua(lua: &Lua, reply: &[u8], resp3: bool) -> mlua::Result<Value> {
    let mut r = Resp { b: reply, p: 0 };
    r.value(lua, resp3, 0)
}

struct Resp<'a> {
    b: &'a [u8],
    p: usize,
}

fn bad() -> mlua::Error {
    mlua::Error::RuntimeError("ERR the command's reply could not be read".into())
}

impl<'a> Resp<'a> {
    fn line(&mut self) -> mlua::Result<&'a [u8]> {
        let rest = &self.b[self.p..];
        let end = memchr_crlf(rest).ok_or_else(bad)?;
        self.p += end + 2;
        Ok(&rest[..end])
    }

    fn int(&mut self) -> mlua::Result<i64> {
        let l = self.line()?;
        std::str::from_utf8(l)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    }

    fn take(&mut self, n: usize) -> mlua::Result<&'a [u8]> {
        let end = self
            .p
            .checked_add(n)
            .filter(|&e| e + 2 <= self.b.len())
            .ok_or_else(bad)?;
        let s = &self.b[self.p..end];
        self.p = end + 2;
        Ok(s)
    }

    fn value(&mut self, lua: &Lua, resp3: bool, depth: usize) -> mlua::Result<Value> {
        if depth > MAX_DEPTH {
            return Err(bad());
        }
        let Some(&t) = self.b.get(self.p) else {
            return Err(bad());
        };
        self.p += 1;
        let null = || {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        };
        Ok(match t {
            b':' => Value::Number(self.int()? as f64),
            b'$' => match self.int()? {
                n if n < 0 => null(),
                n => Value::String(lua.create_string(self.take(n as usize)?)?),
            },
            b'+' => single(lua, "ok", Value::String(lua.create_string(self.line()?)?))?,
            b'-' => single(lua, "err", Value::String(lua.create_string(self.line()?)?))?,
            b'_' => {
                self.line()?;
                null()
            }
            b'#' => Value::Boolean(self.line()? == b"t"),
            b',' => {
                let l = self.line()?;
                let d = match l {
                    b"inf" => f64::INFINITY,
                    b"-inf" => f64::NEG_INFINITY,
                    _ => std::str::from_utf8(l)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(bad)?,
                };
                single(lua, "double", Value::Number(d))?
            }
            b'(' => single(
                lua,
                "big_number",
                Value::String(lua.create_string(self.line()?)?),
            )?,
            b'=' => {
                let n = self.int()?;
                let body = self.take(usize::try_from(n).map_err(|_| bad())?)?;
                let (format, text) = if body.len() >= 4 {
                    (&body[..3], &body[4..])
                } else {
                    (&b"txt"[..], body)
                };
                let v = lua.create_table_with_capacity(0, 2)?;
                v.raw_set("format", lua.create_string(format)?)?;
                v.raw_set("string", lua.create_string(text)?)?;
                single(lua, "verbatim_string", Value::Table(v))?
            }
            b'*' | b'>' => match self.int()? {
                n if n < 0 => null(),
                n => {
                    let n = usize::try_from(n).map_err(|_| bad())?;
                    if n > self.b.len() {
                        return Err(bad());
                    }
                    let t = lua.create_table_with_capacity(n, 0)?;
                    for i in 1..=n {
                        t.raw_set(i, self.value(lua, resp3, depth + 1)?)?;
                    }
                    Value::Table(t)
                }
            },
            b'%' | b'~' => {
                let is_map = t == b'%';
                let n = usize::try_from(self.int()?).map_err(|_| bad())?;
                if n > self.b.len() {
                    return Err(bad());
                }
                let table = lua.create_table_with_capacity(0, n)?;
                for _ in 0..n {
                    let k = self.value(lua, resp3, depth + 1)?;
                    let v = if is_map {
                        self.value(lua, resp3, depth + 1)?
                    } else {
                        Value::Boolean(true)
                    };
                    if !matches!(k, Value::Nil) {
                        table.raw_set(k, v)?;
                    }
                }
                single(lua, if is_map { "map" } else { "set" }, Value::Table(table))?
            }
            _ => return Err(bad()),
        })
    }
}

fn memchr_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

fn single(lua: &Lua, key: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(key, v)?;
    Ok(Value::Table(t))
}

/// Writes a script's result as the reply to its client. `lua_resp3` is the protocol the
/// script chose with `redis.setresp` (a boolean is `:1`/null under RESP2, a RESP3
/// boolean under RESP3); the client's own protocol is `out`'s.
pub fn lua_to_reply(v: &Value, out: &mut ReplyBuf, lua_resp3: bool) {
    write_value(v, out, lua_resp3, 0)
}

fn write_value(v: &Value, out: &mut ReplyBuf, lua_resp3: bool, depth: usize) {
    if depth > MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) if lua_resp3 => out.boolean(*b),
        Value::Boolean(true) => out.int(1),
        Value::Boolean(false) => out.null(),
        Value::Integer(n) => out.int(*n),
        Value::Number(n) => out.int(number_to_int(*n)),
        Value::Table(t) => write_table(t, out, lua_resp3, depth),
        _ => out.null(),
    }
}

/// A Lua number as the integer Redis replies: the fraction dropped, as C's cast does.
pub fn number_to_int(n: f64) -> i64 {
    n as i64
}

fn write_table(t: &Table, out: &mut ReplyBuf, lua_resp3: bool, depth: usize) {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        let e = e.as_bytes();
        let msg = String::from_utf8_lossy(&e);
        out.error(msg.trim_end_matches(['\r', '\n']));
        return;
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        out.simple(&s.as_bytes());
        return;
    }
    if let Ok(Value::Number(d)) = t.raw_get::<Value>("double") {
        out.double(d);
        return;
    }
    if let Ok(Value::Integer(d)) = t.raw_get::<Value>("double") {
        out.double(d as f64);
        return;
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        let digits: Vec<u8> = s
            .as_bytes()
            .iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
            .collect();
        match out.version() {
            ProtocolVersion::Resp2 => out.bulk(&digits),
            ProtocolVersion::Resp3 => {
                out.raw(b"(");
                out.raw(&digits);
                out.raw(b"\r\n");
            }
        }
        return;
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        let format: Option<mlua::String> = v.raw_get("format").ok();
        let text: Option<mlua::String> = v.raw_get("string").ok();
        if let (Some(format), Some(text)) = (format, text) {
            let (format, text) = (format.as_bytes(), text.as_bytes());
            match out.version() {
                ProtocolVersion::Resp3 if format.len() == 3 => {
                    out.raw(format!("={}\r\n", text.len() + 4).as_bytes());
                    out.raw(&format);
                    out.raw(b":");
                    out.raw(&text);
                    out.raw(b"\r\n");
                }
                _ => out.bulk(&text),
            }
            return;
        }
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            write_value(k, out, lua_resp3, depth + 1);
            write_value(v, out, lua_resp3, depth + 1);
        }
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let members: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| k)
            .collect();
        out.set(members.len());
        for k in &members {
            write_value(k, out, lua_resp3, depth + 1);
        }
        return;
    }
    // An array: the elements from 1 up to the first nil.
    let mut items = Vec::new();
    loop {
        match t.raw_get::<Value>(items.len() + 1) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array(items.len());
    for v in &items {
        write_value(v, out, lua_resp3, depth + 1);
    }
}
