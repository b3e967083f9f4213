//! `struct`: packing values into binary strings and back (Roberto Ierusalimschy's
//! library 0.2, as Redis loads it): `struct.pack`, `struct.unpack`, `struct.size`.
//!
//! Options: `>` `<` (byte order, little by default), `![n]` (alignment), `x` (a pad
//! byte), `b`/`B` `h`/`H` `l`/`L` `T` (integers of 1, 2, 8, 8 bytes), `i[n]`/`I[n]`
//! (integers of `n` bytes, 4 by default, 0 to 32), `f` `d`, `c[n]` (`n` chars; 0: the
//! whole string, or when unpacking the previous number as the length), `s` (a
//! zero-terminated string), ` ` (ignored). Integers wider than 8 bytes hold the 64-bit
//! value in their low 8 bytes, as the C library does.

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::rt;
use crate::convert::{c_double_to_i64, c_double_to_u64};

/// The largest size of an `i`/`I` integer.
const MAX_INT_SIZE: usize = 32;

/// The largest alignment (`!` without a number): a double's.
const MAX_ALIGN: usize = 8;

struct Format<'a> {
    f: &'a [u8],
    pos: usize,
    little: bool,
    align: usize,
    /// The function reading it, as its argument errors name it.
    func: &'static str,
}

impl Format<'_> {
    fn new<'a>(f: &'a [u8], func: &'static str) -> Format<'a> {
        Format {
            f,
            pos: 0,
            little: true,
            align: 1,
            func,
        }
    }

    fn number(&mut self, default: usize) -> usize {
        let start = self.pos;
        let mut n = 0usize;
        while let Some(c) = self.f.get(self.pos).filter(|c| c.is_ascii_digit()) {
            n = n.saturating_mul(10).saturating_add(usize::from(c - b'0'));
            self.pos += 1;
        }
        if self.pos == start {
            default
        } else {
            n
        }
    }

    /// The next option and its size (0 for those without one), or `None` at the end.
    fn next(&mut self) -> mlua::Result<Option<(u8, usize)>> {
        let Some(&opt) = self.f.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        let size = match opt {
            b'b' | b'B' => 1,
            b'h' | b'H' => 2,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.number(1),
            b'i' | b'I' => {
                let n = self.number(4);
                if n > MAX_INT_SIZE {
                    return Err(rt(format!(
                        "integral size {n} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                n
            }
            _ => 0,
        };
        Ok(Some((opt, size)))
    }

    /// An option that is not a value: byte order, alignment, a space, or an error.
    fn control(&mut self, opt: u8) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => self.little = false,
            b'<' => self.little = true,
            b'!' => {
                let a = self.number(MAX_ALIGN);
                if !a.is_power_of_two() {
                    return Err(rt(format!("alignment {a} is not a power of 2")));
                }
                self.align = a;
            }
            other => {
                return Err(rt(format!(
                    "bad argument #1 to '{}' (invalid format option '{}')",
                    self.func, other as char
                )))
            }
        }
        Ok(())
    }

    /// Padding before an option of `size` bytes at offset `at`.
    fn padding(&self, opt: u8, size: usize, at: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let a = size.min(self.align);
        // `at & (a - 1)` is below `a`, so this does not underflow (for an `a` that is
        // not a power of 2 it is the C library's arithmetic, odd as it is).
        (a - (at & (a - 1))) & (a - 1)
    }
}

/// The type name Lua's argument errors give for `v` (`no value` past the last).
fn type_name(v: Option<&Value>) -> &'static str {
    v.map(|v| v.type_name()).unwrap_or("no value")
}

/// A string that Lua reads as a number (`lua_isnumber`): decimal, or hexadecimal with
/// `0x`, with spaces around it.
fn str_number(s: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(s)
        .ok()?
        .trim_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok().map(|n| n as f64),
        None => s.parse().ok(),
    }
}

/// `pack`'s argument `i` (its index in `args`) as a number. A missing one reads as
/// `nil`: `pack` leaves a `nil` on the stack right after its arguments.
fn num(args: &[Value], i: usize) -> mlua::Result<f64> {
    let v = args.get(i);
    let n = match v {
        Some(Value::Number(n)) => Some(*n),
        Some(Value::Integer(n)) => Some(*n as f64),
        Some(Value::String(s)) => str_number(&s.as_bytes()),
        _ => None,
    };
    n.ok_or_else(|| {
        let got = if i == args.len() { "nil" } else { type_name(v) };
        rt(format!(
            "bad argument #{} to 'pack' (number expected, got {got})",
            i + 1
        ))
    })
}

/// `pack`'s argument `i` as a string (numbers are written as Lua writes them).
fn string(args: &[Value], i: usize) -> mlua::Result<Vec<u8>> {
    let v = args.get(i);
    v.and_then(super::lua_string_bytes).ok_or_else(|| {
        let got = if i == args.len() { "nil" } else { type_name(v) };
        rt(format!(
            "bad argument #{} to 'pack' (string expected, got {got})",
            i + 1
        ))
    })
}

fn is_integer(opt: u8) -> bool {
    matches!(
        opt,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

fn pack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<mlua::String> {
    let fmt = match args.first() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        v => {
            return Err(rt(format!(
                "bad argument #1 to 'pack' (string expected, got {})",
                type_name(v)
            )))
        }
    };
    let mut f = Format::new(&fmt, "pack");
    let mut out: Vec<u8> = Vec::new();
    let mut arg = 1;
    while let Some((opt, size)) = f.next()? {
        let pad = f.padding(opt, size, out.len());
        out.extend(std::iter::repeat_n(0, pad));
        match opt {
            _ if is_integer(opt) => {
                let n = num(&args, arg)?;
                arg += 1;
                let mut value = if n < 0.0 {
                    c_double_to_i64(n) as u64
                } else {
                    c_double_to_u64(n)
                };
                let mut bytes = [0u8; MAX_INT_SIZE];
                for b in bytes.iter_mut().take(size) {
                    *b = value as u8;
                    value >>= 8;
                }
                let bytes = &bytes[..size];
                if f.little {
                    out.extend_from_slice(bytes);
                } else {
                    out.extend(bytes.iter().rev());
                }
            }
            b'x' => out.push(0),
            b'f' | b'd' => {
                let v = num(&args, arg)?;
                arg += 1;
                let mut bytes = if opt == b'f' {
                    (v as f32).to_le_bytes().to_vec()
                } else {
                    v.to_le_bytes().to_vec()
                };
                if !f.little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'c' | b's' => {
                let s = string(&args, arg)?;
                arg += 1;
                let n = if size == 0 { s.len() } else { size };
                if s.len() < n {
                    // The C library names the argument after this one.
                    return Err(rt(format!(
                        "bad argument #{} to 'pack' (string too short)",
                        arg + 1
                    )));
                }
                out.extend_from_slice(&s[..n]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt)?,
        }
    }
    lua.create_string(&out)
}

/// The integer of `size` bytes at the start of `b`, as the C library reads it: the
/// last 8 bytes read make the value, and a signed one is extended from the bit at
/// `size * 8 - 1`, taken modulo 64 as x86-64's shift takes it.
fn get_integer(b: &[u8], little: bool, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    for i in 0..size {
        let byte = if little { b[size - 1 - i] } else { b[i] };
        l = (l << 8) | u64::from(byte);
    }
    if !signed {
        return l as f64;
    }
    let shift = ((size * 8) as u32).wrapping_sub(1) % 64;
    let mask = u64::MAX << shift;
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn unpack(
    lua: &Lua,
    (fmt, data, init): (mlua::String, mlua::String, Option<i64>),
) -> mlua::Result<MultiValue> {
    let fmt = fmt.as_bytes().to_vec();
    let data = data.as_bytes().to_vec();
    let mut pos = match init {
        Some(i) if i >= 1 => usize::try_from(i - 1).unwrap_or(usize::MAX),
        Some(_) => {
            return Err(rt(
                "bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ))
        }
        None => 0,
    };
    let mut f = Format::new(&fmt, "unpack");
    let mut out: Vec<Value> = Vec::new();
    let short = || rt("bad argument #2 to 'unpack' (data string too short)");
    let fits = |pos: usize, size: usize| pos <= data.len() && size <= data.len() - pos;
    while let Some((opt, mut size)) = f.next()? {
        pos = pos.saturating_add(f.padding(opt, size, pos));
        if !fits(pos, size) {
            return Err(short());
        }
        match opt {
            _ if is_integer(opt) => {
                let x = get_integer(&data[pos..], f.little, opt.is_ascii_lowercase(), size);
                out.push(Value::Number(x));
            }
            b'x' => {}
            b'f' => {
                let mut a = [0u8; 4];
                a.copy_from_slice(&data[pos..pos + 4]);
                if !f.little {
                    a.reverse();
                }
                out.push(Value::Number(f64::from(f32::from_le_bytes(a))));
            }
            b'd' => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&data[pos..pos + 8]);
                if !f.little {
                    a.reverse();
                }
                out.push(Value::Number(f64::from_le_bytes(a)));
            }
            b'c' => {
                if size == 0 {
                    let previous = match out.last() {
                        Some(Value::Number(x)) => Some(*x),
                        Some(Value::String(s)) => str_number(&s.as_bytes()),
                        _ => None,
                    };
                    let Some(len) = previous else {
                        return Err(rt("format 'c0' needs a previous size"));
                    };
                    out.pop();
                    size = if len >= 0.0 { len as usize } else { usize::MAX };
                    if !fits(pos, size) {
                        return Err(short());
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let end = data[pos..]
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or_else(|| rt("unfinished string in data"))?;
                out.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            _ => f.control(opt)?,
        }
        pos += size;
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(out))
}

fn size(_: &Lua, fmt: mlua::String) -> mlua::Result<f64> {
    let fmt = fmt.as_bytes().to_vec();
    let mut f = Format::new(&fmt, "size");
    let mut total = 0usize;
    while let Some((opt, size)) = f.next()? {
        total = total.saturating_add(f.padding(opt, size, total));
        if opt == b's' {
            return Err(rt(
                "bad argument #1 to 'size' (option 's' has no fixed size)",
            ));
        }
        if opt == b'c' && size == 0 {
            return Err(rt(
                "bad argument #1 to 'size' (option 'c0' has no fixed size)",
            ));
        }
        // Letters the library does not know count for nothing here.
        if !opt.is_ascii_alphanumeric() {
            f.control(opt)?;
        }
        total = total.saturating_add(size);
    }
    Ok(total as f64)
}

/// The `struct` table.
pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set("unpack", lua.create_function(unpack)?)?;
    t.raw_set("size", lua.create_function(size)?)?;
    Ok(t)
}
