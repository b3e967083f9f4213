//! `bit`, LuaBitOp's operations on 32-bit integers, as Redis loads it.

use mlua::{Lua, Table, Value, Variadic};

use super::rt;

/// A Lua number as LuaBitOp normalizes it: rounded, then taken modulo 2^32 as a signed
/// 32-bit integer (the "2^52 + 2^51" trick).
pub fn tobit(n: f64) -> i32 {
    let b = n + 6_755_399_441_055_744.0;
    b.to_bits() as u32 as i32
}

fn arg(v: &Value, i: usize, f: &str) -> mlua::Result<i32> {
    match v {
        Value::Number(n) => Ok(tobit(*n)),
        Value::Integer(n) => Ok(tobit(*n as f64)),
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(tobit)
            .ok_or_else(|| {
                rt(format!(
                    "bad argument #{i} to '{f}' (number expected, got string)"
                ))
            }),
        other => Err(rt(format!(
            "bad argument #{i} to '{f}' (number expected, got {})",
            other.type_name()
        ))),
    }
}

fn fold(args: &Variadic<Value>, f: &str, op: fn(i32, i32) -> i32) -> mlua::Result<f64> {
    let Some(first) = args.first() else {
        return Err(rt(format!(
            "bad argument #1 to '{f}' (number expected, got no value)"
        )));
    };
    let mut acc = arg(first, 1, f)?;
    for (i, v) in args.iter().enumerate().skip(1) {
        acc = op(acc, arg(v, i + 1, f)?);
    }
    Ok(acc as f64)
}

/// The `bit` table.
pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "tobit",
        lua.create_function(|_, v: Value| Ok(arg(&v, 1, "tobit")? as f64))?,
    )?;
    t.raw_set(
        "bnot",
        lua.create_function(|_, v: Value| Ok(!arg(&v, 1, "bnot")? as f64))?,
    )?;
    t.raw_set(
        "band",
        lua.create_function(|_, a: Variadic<Value>| fold(&a, "band", |x, y| x & y))?,
    )?;
    t.raw_set(
        "bor",
        lua.create_function(|_, a: Variadic<Value>| fold(&a, "bor", |x, y| x | y))?,
    )?;
    t.raw_set(
        "bxor",
        lua.create_function(|_, a: Variadic<Value>| fold(&a, "bxor", |x, y| x ^ y))?,
    )?;
    let shift = |name: &'static str, op: fn(i32, u32) -> i32| {
        lua.create_function(move |_, (x, n): (Value, Value)| {
            let x = arg(&x, 1, name)?;
            let n = (arg(&n, 2, name)? & 31) as u32;
            Ok(op(x, n) as f64)
        })
    };
    t.raw_set("lshift", shift("lshift", |x, n| ((x as u32) << n) as i32)?)?;
    t.raw_set("rshift", shift("rshift", |x, n| ((x as u32) >> n) as i32)?)?;
    t.raw_set("arshift", shift("arshift", |x, n| x >> n)?)?;
    t.raw_set(
        "rol",
        shift("rol", |x, n| (x as u32).rotate_left(n) as i32)?,
    )?;
    t.raw_set(
        "ror",
        shift("ror", |x, n| (x as u32).rotate_right(n) as i32)?,
    )?;
    t.raw_set(
        "bswap",
        lua.create_function(|_, v: Value| {
            Ok((arg(&v, 1, "bswap")? as u32).swap_bytes() as i32 as f64)
        })?,
    )?;
    t.raw_set(
        "tohex",
        lua.create_function(|_, (v, n): (Value, Option<Value>)| {
            let x = arg(&v, 1, "tohex")? as u32;
            let n = match n {
                Some(n) => arg(&n, 2, "tohex")?,
                None => 8,
            };
            let upper = n < 0;
            let digits = (n.unsigned_abs() as usize).min(8);
            let s = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            Ok(s[8 - digits..].to_string())
        })?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::tobit;

    #[test]
    fn normalizes_as_luabitop() {
        assert_eq!(tobit(0xffff_ffffu32 as f64), -1);
        assert_eq!(tobit(4_294_967_296.0), 0);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(1.5), 2);
        assert_eq!(tobit(2.5), 2);
    }
}
