//! `struct`: packing values into binary strings and back (Roberto Ierusalimschy's
//! library, as Redis loads it): `struct.pack`, `struct.unpack`, `struct.size`.

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::rt;

/// One item of a format.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// A padding byte.
    Pad,
    /// An integer of this many bytes, signed or not.
    Int(usize, bool),
    Float,
    Double,
    /// A zero-terminated string.
    Zstr,
    /// A string of this many bytes (0: as long as the value, or the previous number).
    Chars(usize),
}

struct Format<'a> {
    f: &'a [u8],
    pos: usize,
    little: bool,
    align: usize,
}

impl Format<'_> {
    fn new(f: &[u8]) -> Format<'_> {
        Format {
            f,
            pos: 0,
            little: true,
            align: 1,
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

    /// The next item and its size, or `None` at the end.
    fn next(&mut self) -> mlua::Result<Option<(Item, usize)>> {
        while let Some(&c) = self.f.get(self.pos) {
            self.pos += 1;
            let item = match c {
                b' ' => continue,
                b'>' => {
                    self.little = false;
                    continue;
                }
                b'<' | b'=' => {
                    self.little = true;
                    continue;
                }
                b'!' => {
                    let a = self.number(8);
                    if !a.is_power_of_two() {
                        return Err(rt(format!("alignment {a} is not a power of 2")));
                    }
                    self.align = a;
                    continue;
                }
                b'x' => Item::Pad,
                b'b' => Item::Int(1, true),
                b'B' => Item::Int(1, false),
                b'h' => Item::Int(2, true),
                b'H' => Item::Int(2, false),
                b'l' | b'j' => Item::Int(8, true),
                b'L' | b'J' | b'T' => Item::Int(8, false),
                b'i' | b'I' => {
                    let n = self.number(4);
                    if n > 8 {
                        return Err(rt(format!("integral size {n} is larger than limit of 8")));
                    }
                    if n == 0 {
                        return Err(rt("integral size 0 is not allowed"));
                    }
                    Item::Int(n, c == b'i')
                }
                b'f' => Item::Float,
                b'd' => Item::Double,
                b's' => Item::Zstr,
                b'c' => Item::Chars(self.number(1)),
                other => return Err(rt(format!("invalid format option '{}'", other as char))),
            };
            let size = match item {
                Item::Pad => 1,
                Item::Int(n, _) => n,
                Item::Float => 4,
                Item::Double => 8,
                Item::Zstr | Item::Chars(_) => 1,
            };
            return Ok(Some((item, size)));
        }
        Ok(None)
    }

    /// Padding before an item of `size` bytes at offset `at`.
    fn padding(&self, item: Item, size: usize, at: usize) -> usize {
        if matches!(item, Item::Zstr | Item::Chars(_) | Item::Pad) {
            return 0;
        }
        let a = size.min(self.align);
        if a <= 1 {
            0
        } else {
            (a - (at & (a - 1))) & (a - 1)
        }
    }
}

fn num(v: Option<&Value>, i: usize) -> mlua::Result<f64> {
    match v {
        Some(Value::Number(n)) => Ok(*n),
        Some(Value::Integer(n)) => Ok(*n as f64),
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| {
                rt(format!(
                    "bad argument #{i} to 'pack' (number expected, got string)"
                ))
            }),
        other => Err(rt(format!(
            "bad argument #{i} to 'pack' (number expected, got {})",
            other.map(|v| v.type_name()).unwrap_or("no value")
        ))),
    }
}

fn pack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<mlua::String> {
    let fmt = match args.first() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        _ => return Err(rt("bad argument #1 to 'pack' (string expected)")),
    };
    let mut f = Format::new(&fmt);
    let mut out: Vec<u8> = Vec::new();
    let mut arg = 1;
    while let Some((item, size)) = f.next()? {
        let pad = f.padding(item, size, out.len());
        out.extend(std::iter::repeat_n(0, pad));
        match item {
            Item::Pad => out.push(0),
            Item::Int(n, _) => {
                let v = num(args.get(arg), arg + 1)? as i64 as u64;
                arg += 1;
                let bytes = v.to_le_bytes();
                if f.little {
                    out.extend_from_slice(&bytes[..n]);
                } else {
                    out.extend(bytes[..n].iter().rev());
                }
            }
            Item::Float | Item::Double => {
                let v = num(args.get(arg), arg + 1)?;
                arg += 1;
                let bytes: Vec<u8> = if matches!(item, Item::Float) {
                    (v as f32).to_le_bytes().to_vec()
                } else {
                    v.to_le_bytes().to_vec()
                };
                if f.little {
                    out.extend_from_slice(&bytes);
                } else {
                    out.extend(bytes.iter().rev());
                }
            }
            Item::Zstr | Item::Chars(_) => {
                let s = match args.get(arg) {
                    Some(Value::String(s)) => s.as_bytes().to_vec(),
                    Some(Value::Number(n)) => crate::fmt::g(*n, 14).into_bytes(),
                    _ => {
                        return Err(rt(format!(
                            "bad argument #{} to 'pack' (string expected)",
                            arg + 1
                        )))
                    }
                };
                arg += 1;
                match item {
                    Item::Zstr => {
                        out.extend_from_slice(&s);
                        out.push(0);
                    }
                    Item::Chars(0) => out.extend_from_slice(&s),
                    Item::Chars(n) => {
                        if s.len() < n {
                            return Err(rt(format!(
                                "bad argument #{arg} to 'pack' (string too short)"
                            )));
                        }
                        out.extend_from_slice(&s[..n]);
                    }
                    _ => {}
                }
            }
        }
    }
    lua.create_string(&out)
}

fn unpack(
    lua: &Lua,
    (fmt, data, init): (mlua::String, mlua::String, Option<i64>),
) -> mlua::Result<MultiValue> {
    let fmt = fmt.as_bytes().to_vec();
    let data = data.as_bytes().to_vec();
    let mut pos = match init {
        Some(i) if i >= 1 => (i - 1) as usize,
        Some(_) => {
            return Err(rt(
                "bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ))
        }
        None => 0,
    };
    let mut f = Format::new(&fmt);
    let mut out: Vec<Value> = Vec::new();
    let short = || rt("bad argument #2 to 'unpack' (data string too short)");
    while let Some((item, size)) = f.next()? {
        pos += f.padding(item, size, pos);
        match item {
            Item::Pad => pos += 1,
            Item::Int(n, signed) => {
                let b = data.get(pos..pos + n).ok_or_else(short)?;
                let mut v: u64 = 0;
                for i in 0..n {
                    let byte = if f.little { b[n - 1 - i] } else { b[i] };
                    v = (v << 8) | u64::from(byte);
                }
                let x = if signed && n < 8 && v & (1 << (n * 8 - 1)) != 0 {
                    (v | !((1u64 << (n * 8)) - 1)) as i64 as f64
                } else if signed {
                    v as i64 as f64
                } else {
                    v as f64
                };
                out.push(Value::Number(x));
                pos += n;
            }
            Item::Float | Item::Double => {
                let b = data.get(pos..pos + size).ok_or_else(short)?;
                let mut bytes = b.to_vec();
                if !f.little {
                    bytes.reverse();
                }
                let x = if size == 4 {
                    let mut a = [0u8; 4];
                    a.copy_from_slice(&bytes);
                    f64::from(f32::from_le_bytes(a))
                } else {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&bytes);
                    f64::from_le_bytes(a)
                };
                out.push(Value::Number(x));
                pos += size;
            }
            Item::Zstr => {
                let rest = data.get(pos..).ok_or_else(short)?;
                let end = rest
                    .iter()
                    .position(|&c| c == 0)
                    .ok_or_else(|| rt("unfinished string in data"))?;
                out.push(Value::String(lua.create_string(&rest[..end])?));
                pos += end + 1;
            }
            Item::Chars(n) => {
                let n = if n == 0 {
                    match out.pop() {
                        Some(Value::Number(x)) if x >= 0.0 => x as usize,
                        _ => return Err(rt("format 'c0' needs a previous size")),
                    }
                } else {
                    n
                };
                let b = data.get(pos..pos + n).ok_or_else(short)?;
                out.push(Value::String(lua.create_string(b)?));
                pos += n;
            }
        }
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(out))
}

fn size(_: &Lua, fmt: mlua::String) -> mlua::Result<f64> {
    let fmt = fmt.as_bytes().to_vec();
    let mut f = Format::new(&fmt);
    let mut total = 0usize;
    while let Some((item, size)) = f.next()? {
        if matches!(item, Item::Zstr | Item::Chars(0)) {
            return Err(rt("options 'c0' - 's' have undefined sizes"));
        }
        total += f.padding(item, size, total);
        total += match item {
            Item::Chars(n) => n,
            _ => size,
        };
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
