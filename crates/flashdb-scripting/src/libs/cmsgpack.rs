//! `cmsgpack`: MessagePack as Redis's lua-cmsgpack 0.4 encodes and decodes it (the
//! smallest integer encoding, float32 when exact, tables without holes as arrays, at
//! most 16 levels of nesting).

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::rt;

/// Deepest nesting encoded; deeper tables are encoded as nil, as lua-cmsgpack does.
const MAX_NESTING: usize = 16;

/// The `cmsgpack` table.
pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.is_empty() {
                return Err(rt(
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                ));
            }
            let mut out = Vec::new();
            for a in args.iter() {
                encode(a, &mut out, 0)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| {
            let b = s.as_bytes();
            let mut pos = 0;
            let mut values = Vec::new();
            while pos < b.len() {
                values.push(decode(lua, &b, &mut pos)?);
            }
            Ok(MultiValue::from_iter(values))
        })?,
    )?;
    let limited =
        |lua: &Lua, s: mlua::String, limit: i64, offset: i64| -> mlua::Result<MultiValue> {
            let b = s.as_bytes();
            let mut pos = usize::try_from(offset)
                .map_err(|_| rt("bad argument #3 to 'unpack_limit' (Offset can't be negative.)"))?;
            if pos > b.len() {
                return Err(rt("Start offset greater than input length"));
            }
            let mut values = Vec::new();
            while pos < b.len() && (limit <= 0 || (values.len() as i64) < limit) {
                values.push(decode(lua, &b, &mut pos)?);
            }
            let next = if pos >= b.len() { -1 } else { pos as i64 };
            let mut out = vec![Value::Number(next as f64)];
            out.extend(values);
            Ok(MultiValue::from_iter(out))
        };
    t.raw_set(
        "unpack_one",
        lua.create_function(move |lua, (s, offset): (mlua::String, Option<i64>)| {
            limited(lua, s, 1, offset.unwrap_or(0))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(
            move |lua, (s, limit, offset): (mlua::String, i64, Option<i64>)| {
                limited(lua, s, limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    Ok(t)
}

fn encode(v: &Value, out: &mut Vec<u8>, level: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => int(*n, out),
        Value::Number(n) => {
            if n.is_finite() && (*n as i64) as f64 == *n {
                int(*n as i64, out)
            } else if (*n as f32) as f64 == *n || n.is_nan() {
                out.push(0xca);
                out.extend_from_slice(&(*n as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        Value::String(s) => bytes(&s.as_bytes(), out),
        Value::Table(t) if level < MAX_NESTING => table(t, out, level + 1)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= i32::MIN as i64 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn bytes(b: &[u8], out: &mut Vec<u8>) {
    let n = b.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(b);
}

fn header(n: usize, fix: u8, b16: u8, b32: u8, out: &mut Vec<u8>) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn table(t: &Table, out: &mut Vec<u8>, level: usize) -> mlua::Result<()> {
    let pairs: Vec<(Value, Value)> = t
        .clone()
        .pairs::<Value, Value>()
        .collect::<mlua::Result<_>>()?;
    let mut max = 0usize;
    let is_array = pairs.iter().all(|(k, _)| {
        let n = match k {
            Value::Number(n) if *n > 0.0 && n.floor() == *n => *n as usize,
            Value::Integer(n) if *n > 0 => *n as usize,
            _ => return false,
        };
        max = max.max(n);
        true
    }) && max == pairs.len();
    if is_array {
        header(pairs.len(), 0x90, 0xdc, 0xdd, out);
        for i in 1..=pairs.len() {
            encode(&t.raw_get::<Value>(i)?, out, level)?;
        }
    } else {
        header(pairs.len(), 0x80, 0xde, 0xdf, out);
        for (k, v) in &pairs {
            encode(k, out, level)?;
            encode(v, out, level)?;
        }
    }
    Ok(())
}

fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> mlua::Result<&'a [u8]> {
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= b.len())
        .ok_or_else(|| rt("Missing bytes in input."))?;
    let s = &b[*pos..end];
    *pos = end;
    Ok(s)
}

fn be(b: &[u8], pos: &mut usize, n: usize) -> mlua::Result<u64> {
    Ok(take(b, pos, n)?
        .iter()
        .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

fn decode(lua: &Lua, b: &[u8], pos: &mut usize) -> mlua::Result<Value> {
    decode_at(lua, b, pos, 0)
}

fn decode_at(lua: &Lua, b: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    if depth > 1000 {
        return Err(rt("Bad data format in input."));
    }
    let c = take(b, pos, 1)?[0];
    let str_of = |lua: &Lua, pos: &mut usize, n: usize| -> mlua::Result<Value> {
        Ok(Value::String(lua.create_string(take(b, pos, n)?)?))
    };
    Ok(match c {
        0x00..=0x7f => Value::Number(f64::from(c)),
        0xe0..=0xff => Value::Number(f64::from(c as i8)),
        0xcc => Value::Number(be(b, pos, 1)? as f64),
        0xcd => Value::Number(be(b, pos, 2)? as f64),
        0xce => Value::Number(be(b, pos, 4)? as f64),
        0xcf => Value::Number(be(b, pos, 8)? as f64),
        0xd0 => Value::Number(f64::from(be(b, pos, 1)? as u8 as i8)),
        0xd1 => Value::Number(f64::from(be(b, pos, 2)? as u16 as i16)),
        0xd2 => Value::Number(f64::from(be(b, pos, 4)? as u32 as i32)),
        0xd3 => Value::Number(be(b, pos, 8)? as i64 as f64),
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xca => Value::Number(f64::from(f32::from_bits(be(b, pos, 4)? as u32))),
        0xcb => Value::Number(f64::from_bits(be(b, pos, 8)?)),
        0xa0..=0xbf => str_of(lua, pos, usize::from(c & 0x1f))?,
        // Redis's cmsgpack (0.4.0) predates the bin types (0xc4-0xc6): they are
        // `Bad data format`, as there.
        0xd9 => {
            let n = be(b, pos, 1)? as usize;
            str_of(lua, pos, n)?
        }
        0xda => {
            let n = be(b, pos, 2)? as usize;
            str_of(lua, pos, n)?
        }
        0xdb => {
            let n = be(b, pos, 4)? as usize;
            str_of(lua, pos, n)?
        }
        0x90..=0x9f => array(lua, b, pos, usize::from(c & 0x0f), depth)?,
        0xdc => {
            let n = be(b, pos, 2)? as usize;
            array(lua, b, pos, n, depth)?
        }
        0xdd => {
            let n = be(b, pos, 4)? as usize;
            array(lua, b, pos, n, depth)?
        }
        0x80..=0x8f => map(lua, b, pos, usize::from(c & 0x0f), depth)?,
        0xde => {
            let n = be(b, pos, 2)? as usize;
            map(lua, b, pos, n, depth)?
        }
        0xdf => {
            let n = be(b, pos, 4)? as usize;
            map(lua, b, pos, n, depth)?
        }
        _ => return Err(rt("Bad data format in input.")),
    })
}

fn array(lua: &Lua, b: &[u8], pos: &mut usize, n: usize, depth: usize) -> mlua::Result<Value> {
    // Each element takes at least a byte: a count beyond the input is refused before
    // anything is allocated for it.
    if n > b.len() - *pos {
        return Err(rt("Missing bytes in input."));
    }
    let t = lua.create_table_with_capacity(n, 0)?;
    for i in 1..=n {
        t.raw_set(i, decode_at(lua, b, pos, depth + 1)?)?;
    }
    Ok(Value::Table(t))
}

fn map(lua: &Lua, b: &[u8], pos: &mut usize, n: usize, depth: usize) -> mlua::Result<Value> {
    if n > (b.len() - *pos) / 2 {
        return Err(rt("Missing bytes in input."));
    }
    let t = lua.create_table_with_capacity(0, n)?;
    for _ in 0..n {
        let k = decode_at(lua, b, pos, depth + 1)?;
        let v = decode_at(lua, b, pos, depth + 1)?;
        if !matches!(k, Value::Nil) {
            t.raw_set(k, v)?;
        }
    }
    Ok(Value::Table(t))
}
