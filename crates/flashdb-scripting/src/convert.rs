//! A script's result as its client's reply, as Redis 7.0's `script_lua.c` converts it
//! (the other direction, a command's reply as the Lua value `redis.call` returns, is
//! in `call.rs`, which pushes it straight onto the Lua stack).
//!
//! Strings are bulk strings, numbers integers (the fraction dropped), `true` is `:1`
//! and `false` a null (or RESP3 booleans once the script chose RESP3), `{ok=...}` a
//! status, `{err=...}` an error, tables arrays up to their first nil, and RESP3's
//! tables (`{map=...}`, `{set=...}`, `{double=...}`, `{big_number=...}`) those types.

use flashdb_protocol::{ProtocolVersion, ReplyBuf};
use mlua::{Table, Value};

/// Deepest nesting of tables a script may return; deeper is an error, not a crash.
pub const MAX_DEPTH: usize = 1000;

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
    c_double_to_i64(n)
}

/// 2^63 as a double.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// C's `(int64_t)n`. Out of range (infinities, NaN, 2^63 and beyond) the cast is
/// undefined in C; Redis and its Lua libraries on x86-64 get what the processor's
/// conversion gives, `i64::MIN`, and so does this there (elsewhere the value
/// saturates, as Rust's cast and most other processors do).
pub fn c_double_to_i64(n: f64) -> i64 {
    if cfg!(target_arch = "x86_64") && !(-TWO_63..TWO_63).contains(&n) {
        return i64::MIN;
    }
    n as i64
}

/// C's `(uint64_t)n` for `n` >= 0 (or NaN), as compilers do it on x86-64: below 2^63
/// (and NaN) the signed conversion, above it the signed conversion of `n - 2^63` with
/// the top bit flipped, so 2^64 and beyond give 0.
pub fn c_double_to_u64(n: f64) -> u64 {
    if !cfg!(target_arch = "x86_64") {
        return n as u64;
    }
    if n >= TWO_63 {
        (c_double_to_i64(n - TWO_63) as u64) ^ (1 << 63)
    } else {
        c_double_to_i64(n) as u64
    }
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
