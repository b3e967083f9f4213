//! Values between Redis replies and Lua, in both directions, as Redis 7.0's
//! `script_lua.c` converts them.
//!
//! A command's reply becomes a Lua value for the script (`redis.call`): integers are
//! numbers, bulk strings are strings, a null is `false` (RESP2) or `nil` (RESP3), a status
//! is `{ok=...}`, an error `{err=...}`, and RESP3's types are tables naming them
//! (`{map=...}`, `{set=...}`, `{double=...}`, `{big_number=...}`). The script's result
//! becomes the client's reply by the reverse rules.

use flashdb_protocol::{Frame, ProtocolVersion, ReplyBuf};
use mlua::{Lua, Table, Value};

/// Deepest nesting of tables a script may return; deeper is an error, not a crash.
pub const MAX_DEPTH: usize = 1000;

/// A reply (as [`Frame`]) as the Lua value `redis.call` returns, with `resp3` set when
/// the script asked for RESP3 with `redis.setresp(3)`.
pub fn frame_to_lua(lua: &Lua, frame: Frame, resp3: bool) -> mlua::Result<Value> {
    Ok(match frame {
        Frame::Integer(n) => Value::Number(n as f64),
        Frame::Bulk(b) => Value::String(lua.create_string(&b)?),
        Frame::Null if resp3 => Value::Nil,
        Frame::Null => Value::Boolean(false),
        Frame::Simple(s) => single(lua, "ok", Value::String(lua.create_string(&s)?))?,
        Frame::Error(e) => single(lua, "err", Value::String(lua.create_string(&e)?))?,
        Frame::Array(items) | Frame::Push(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                t.raw_set(i + 1, frame_to_lua(lua, item, resp3)?)?;
            }
            Value::Table(t)
        }
        Frame::Map(pairs) => {
            let t = lua.create_table_with_capacity(0, pairs.len())?;
            for (k, v) in pairs {
                t.raw_set(frame_to_lua(lua, k, resp3)?, frame_to_lua(lua, v, resp3)?)?;
            }
            single(lua, "map", Value::Table(t))?
        }
        Frame::Set(items) => {
            let t = lua.create_table_with_capacity(0, items.len())?;
            for item in items {
                t.raw_set(frame_to_lua(lua, item, resp3)?, true)?;
            }
            single(lua, "set", Value::Table(t))?
        }
        Frame::Double(d) => single(lua, "double", Value::Number(d))?,
        Frame::Boolean(b) => Value::Boolean(b),
        Frame::BigNumber(n) => single(lua, "big_number", Value::String(lua.create_string(&n)?))?,
    })
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
