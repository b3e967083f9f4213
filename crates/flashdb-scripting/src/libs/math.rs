//! `math.random` and `math.randomseed` as Redis replaces them: a 48-bit linear
//! congruential generator (`redisLrand48`), one sequence for all scripts (Redis 7 no
//! longer reseeds it per script), so that `math.randomseed(n)` gives Redis's numbers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mlua::{Lua, Table, Value, Variadic};

use super::rt;

const MASK48: u64 = (1 << 48) - 1;
const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
/// `REDIS_LRAND48_MAX`.
const LRAND48_MAX: i64 = i32::MAX as i64;

/// The generator's state after `srand48(seed)`.
pub fn seed(seed: i32) -> u64 {
    ((u64::from(seed as u32) << 16) | 0x330E) & MASK48
}

/// The next 31-bit number (`lrand48`).
pub fn next(state: &AtomicU64) -> i64 {
    let x = (state
        .load(Ordering::Relaxed)
        .wrapping_mul(A)
        .wrapping_add(C))
        & MASK48;
    state.store(x, Ordering::Relaxed);
    (x >> 17) as i64
}

fn int_arg(v: &Value, n: usize) -> mlua::Result<i64> {
    match v {
        Value::Number(f) => Ok(*f as i64),
        Value::Integer(i) => Ok(*i),
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(|f| f as i64)
            .ok_or_else(|| {
                rt(format!(
                    "bad argument #{n} to 'random' (number expected, got string)"
                ))
            }),
        other => Err(rt(format!(
            "bad argument #{n} to 'random' (number expected, got {})",
            other.type_name()
        ))),
    }
}

/// Replaces `math.random` and `math.randomseed` in `globals.math`.
pub fn install(lua: &Lua, globals: &Table, state: Arc<AtomicU64>) -> mlua::Result<()> {
    let math: Table = globals.get("math")?;
    let s = state.clone();
    math.raw_set(
        "random",
        lua.create_function(move |_, args: Variadic<Value>| {
            let r = (next(&s) % LRAND48_MAX) as f64 / LRAND48_MAX as f64;
            match args.len() {
                0 => Ok(r),
                1 => {
                    let u = int_arg(&args[0], 1)?;
                    if u < 1 {
                        return Err(rt("bad argument #1 to 'random' (interval is empty)"));
                    }
                    Ok((r * u as f64).floor() + 1.0)
                }
                2 => {
                    let l = int_arg(&args[0], 1)?;
                    let u = int_arg(&args[1], 2)?;
                    if l > u {
                        return Err(rt("bad argument #2 to 'random' (interval is empty)"));
                    }
                    Ok((r * (u - l + 1) as f64).floor() + l as f64)
                }
                _ => Err(rt("wrong number of arguments")),
            }
        })?,
    )?;
    math.raw_set(
        "randomseed",
        lua.create_function(move |_, v: Value| {
            let n = match v {
                Value::Number(f) => f as i64,
                Value::Integer(i) => i,
                _ => return Err(rt("bad argument #1 to 'randomseed' (number expected)")),
            };
            state.store(seed(n as i32), Ordering::Relaxed);
            Ok(())
        })?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_numbers_match_redis() {
        let s = AtomicU64::new(seed(0));
        let r = (next(&s) % LRAND48_MAX) as f64 / LRAND48_MAX as f64;
        // Redis 7.0: EVAL "math.randomseed(0); return tostring(math.random())" 0
        assert_eq!(format!("{:.14}", r), "0.17082803611217");
    }
}
