//! Bitmap commands, as Redis's `bitops.c`: the bits of a string value, bit 0 being the
//! most significant bit of the first byte.
//!
//! Writes edit the string in place and log only the bytes they changed (as `SETRANGE`
//! does), so a large bitmap set bit by bit costs a few bytes of log per bit.

use super::{eq_ic, string_value, Found};
use crate::compact::CompactBytes;
use crate::ctx::{errors, Ctx};
use crate::db::flags;
use crate::keyspace::{Locked, Slot, Ttl};
use crate::log_entry::LogEntry;
use crate::numeric::parse_int;
use crate::value::Value;

const OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";
const TYPE_ERR: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// Parses a bit offset as Redis's `getBitOffsetFromArgument`: `#n` (when `width` is
/// given, for `BITFIELD`) means `n * width`; the byte it falls in must be below
/// `proto-max-bulk-len`.
fn parse_offset(ctx: &mut Ctx<'_, '_>, arg: &[u8], width: Option<u32>) -> Option<u64> {
    let (digits, mul) = match (arg.first(), width) {
        (Some(b'#'), Some(w)) => (&arg[1..], i64::from(w)),
        _ => (arg, 1),
    };
    let off = parse_int(digits)
        .and_then(|n| n.checked_mul(mul))
        .filter(|&n| n >= 0 && ((n as u64) >> 3) < ctx.limits.max_bulk_len);
    if off.is_none() {
        ctx.err(OFFSET_ERR);
    }
    off.map(|n| n as u64)
}

/// Finds the string `key`, creating it or zero-padding it to hold bit `max_bit` (Redis's
/// `lookupStringForBitCommand`): its slot, and whether it was created or grew; `None`
/// after replying `WRONGTYPE`.
fn string_for_bits(
    ctx: &mut Ctx<'_, '_>,
    l: &mut Locked<'_>,
    key: &[u8],
    max_bit: u64,
) -> Option<(Slot, bool)> {
    let len = (max_bit >> 3) as usize + 1;
    let slot = match l.find(ctx.db, key) {
        None => {
            let s = l.set(
                ctx.db,
                key,
                Value::Str(CompactBytes::from_vec(vec![0; len])),
                Ttl::Clear,
            );
            l.entry_mut(s).flags |= flags::RAW;
            return Some((s, true));
        }
        Some(s) => s,
    };
    let e = l.entry_mut(slot);
    let Value::Str(cur) = &mut e.value else {
        ctx.err(errors::WRONGTYPE);
        return None;
    };
    let grew = cur.len() < len;
    cur.grow_zeroed(len);
    e.flags |= flags::RAW;
    Some((slot, grew))
}

/// The bytes of the string behind `slot`, which [`string_for_bits`] made a string.
fn bytes_mut<'l>(l: &'l mut Locked<'_>, slot: Slot) -> &'l mut [u8] {
    match &mut l.entry_mut(slot).value {
        Value::Str(cur) => cur.as_mut_slice(),
        // `string_for_bits` checked the type under the same lock.
        _ => &mut [],
    }
}

/// `SETBIT key offset value`
pub fn setbit(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let Some(offset) = parse_offset(ctx, args[2], None) else {
        return;
    };
    let on = match args[3] {
        b"0" => 0u8,
        b"1" => 1,
        _ => {
            ctx.err("ERR bit is not an integer or out of range");
            return;
        }
    };
    let mut l = ctx.lock(&[key]);
    let Some((slot, grew)) = string_for_bits(ctx, &mut l, key, offset) else {
        return;
    };
    let byte = (offset >> 3) as usize;
    let shift = 7 - (offset & 7) as u8;
    let p = bytes_mut(&mut l, slot);
    let old = (p[byte] >> shift) & 1;
    // As Redis 7.0, a bit set to the value it had is no change: not logged, not
    // announced, and `WATCH` does not see it.
    if grew || old != on {
        p[byte] = (p[byte] & !(1 << shift)) | (on << shift);
        let data = [p[byte]];
        l.log(LogEntry::SetRange {
            db: ctx.db as u32,
            key,
            offset: byte as u64,
            data: &data,
        });
    }
    ctx.out.int(i64::from(old));
}

/// `GETBIT key offset`
pub fn getbit(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let Some(offset) = parse_offset(ctx, args[2], None) else {
        return;
    };
    let mut l = ctx.lock(&[key]);
    match string_value(&mut l, ctx.db, key, true) {
        Found::WrongType => ctx.err(errors::WRONGTYPE),
        Found::Missing => ctx.out.int(0),
        Found::Str(p) => {
            let bit = p
                .get((offset >> 3) as usize)
                .map_or(0, |b| (b >> (7 - (offset & 7))) & 1);
            ctx.out.int(i64::from(bit));
        }
    }
}

/// A `start end [BYTE|BIT]` range of `BITCOUNT`/`BITPOS`, resolved against a string of
/// `len` bytes to an inclusive range of bits; `None` when it is empty.
fn bit_range(len: usize, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits { len as i64 * 8 } else { len as i64 };
    let fix = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (fix(start), fix(end).min(total - 1));
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(if in_bits {
        (start, end)
    } else {
        (start * 8, end * 8 + 7)
    })
}

/// Parses the optional `BYTE|BIT` argument at `i`.
fn parse_unit(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], i: usize) -> Option<bool> {
    match args.get(i) {
        None => Some(false),
        Some(a) if eq_ic(a, b"byte") => Some(false),
        Some(a) if eq_ic(a, b"bit") => Some(true),
        Some(_) => {
            ctx.err(errors::SYNTAX);
            None
        }
    }
}

/// Set bits in the inclusive bit range `[from, to]` of `p`.
fn count_ones(p: &[u8], from: u64, to: u64) -> u64 {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    let bytes = &p[first..=last];
    let (chunks, rest) = bytes.split_at(bytes.len() / 8 * 8);
    let mut n: u64 = chunks
        .chunks_exact(8)
        .map(|c| {
            u64::from(
                u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]).count_ones(),
            )
        })
        .sum();
    n += rest.iter().map(|b| u64::from(b.count_ones())).sum::<u64>();
    // Bits of the edge bytes outside the range.
    let head = p[first] & !(0xffu8 >> (from & 7));
    let tail = p[last] & 0xffu8.checked_shr(((to & 7) + 1) as u32).unwrap_or(0);
    n - u64::from(head.count_ones()) - u64::from(tail.count_ones())
}

/// `BITCOUNT key [start end [BYTE|BIT]]`
pub fn bitcount(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let mut l = ctx.lock(&[key]);
    // As Redis 7.0, the key is looked up before the range is parsed.
    let p = match string_value(&mut l, ctx.db, key, true) {
        Found::WrongType => return ctx.err(errors::WRONGTYPE),
        Found::Missing => return ctx.out.int(0),
        Found::Str(p) => p,
    };
    let range = match args.len() {
        2 => bit_range(p.len(), 0, -1, false),
        4 | 5 => {
            let (Some(start), Some(end)) = (parse_int(args[2]), parse_int(args[3])) else {
                return ctx.err(errors::NOT_INT);
            };
            let Some(in_bits) = parse_unit(ctx, args, 4) else {
                return;
            };
            if start < 0 && end < 0 && start > end {
                return ctx.out.int(0);
            }
            bit_range(p.len(), start, end, in_bits)
        }
        _ => return ctx.err(errors::SYNTAX),
    };
    let n = range.map_or(0, |(from, to)| count_ones(p, from, to));
    ctx.out.int(n as i64);
}

/// The first bit equal to `bit` in the inclusive bit range `[from, to]` of `p`.
fn first_bit(p: &[u8], from: u64, to: u64, bit: bool) -> Option<u64> {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    // Byte `i` with the bits looked for as ones, and those outside the range as zeros.
    let look = |i: usize| {
        let mut b = if bit { p[i] } else { !p[i] };
        if i == first {
            b &= 0xffu8 >> (from & 7);
        }
        if i == last {
            b &= !0xffu8.checked_shr(((to & 7) + 1) as u32).unwrap_or(0);
        }
        b
    };
    let at = |i: usize, b: u8| Some(i as u64 * 8 + u64::from(b.leading_zeros()));
    let b = look(first);
    if b != 0 {
        return at(first, b);
    }
    if first == last {
        return None;
    }
    let skip = if bit { 0u8 } else { 0xff };
    if let Some(j) = p[first + 1..last].iter().position(|&x| x != skip) {
        let i = first + 1 + j;
        return at(i, look(i));
    }
    let b = look(last);
    if b != 0 {
        return at(last, b);
    }
    None
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`
pub fn bitpos(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let bit = match parse_int(args[2]) {
        None => return ctx.err(errors::NOT_INT),
        Some(0) => false,
        Some(1) => true,
        Some(_) => return ctx.err("ERR The bit argument must be 1 or 0."),
    };
    let mut l = ctx.lock(&[key]);
    // A missing key is an endless run of zeros.
    let p = match string_value(&mut l, ctx.db, key, true) {
        Found::WrongType => return ctx.err(errors::WRONGTYPE),
        Found::Missing => return ctx.out.int(if bit { -1 } else { 0 }),
        Found::Str(p) => p,
    };
    if args.len() > 6 {
        return ctx.err(errors::SYNTAX);
    }
    let mut end_given = false;
    let range = if args.len() == 3 {
        bit_range(p.len(), 0, -1, false)
    } else {
        let Some(start) = parse_int(args[3]) else {
            return ctx.err(errors::NOT_INT);
        };
        let Some(in_bits) = parse_unit(ctx, args, 5) else {
            return;
        };
        let end = match args.get(4) {
            Some(a) => match parse_int(a) {
                Some(e) => {
                    end_given = true;
                    e
                }
                None => return ctx.err(errors::NOT_INT),
            },
            None => -1,
        };
        bit_range(p.len(), start, end, in_bits)
    };
    let Some((from, to)) = range else {
        return ctx.out.int(-1);
    };
    let pos = match first_bit(p, from, to, bit) {
        Some(pos) => pos as i64,
        // Without an end, the string continues with zeros after its last byte.
        None if !bit && !end_given => to as i64 + 1,
        None => -1,
    };
    ctx.out.int(pos);
}

/// `BITOP AND|OR|XOR|NOT destkey key [key ...]`
pub fn bitop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    #[derive(PartialEq, Clone, Copy)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = match args[1] {
        a if eq_ic(a, b"and") => Op::And,
        a if eq_ic(a, b"or") => Op::Or,
        a if eq_ic(a, b"xor") => Op::Xor,
        a if eq_ic(a, b"not") => Op::Not,
        _ => return ctx.err(errors::SYNTAX),
    };
    if op == Op::Not && args.len() != 4 {
        return ctx.err("ERR BITOP NOT must be called with a single source key.");
    }
    let (dest, sources) = (args[2], &args[3..]);
    let db = ctx.db;
    let keys: Vec<&[u8]> = args[2..].to_vec();
    let mut l = ctx.lock(&keys);
    let mut res: Vec<u8> = Vec::new();
    for (i, key) in sources.iter().enumerate() {
        let src: &[u8] = match string_value(&mut l, db, key, true) {
            Found::WrongType => return ctx.err(errors::WRONGTYPE),
            Found::Missing => &[],
            Found::Str(p) => p,
        };
        if i == 0 {
            res = src.to_vec();
            if op == Op::Not {
                res.iter_mut().for_each(|b| *b = !*b);
            }
            continue;
        }
        if res.len() < src.len() {
            res.resize(src.len(), 0);
        }
        // Bytes past the end of a shorter string read as zero.
        match op {
            Op::And => {
                res.iter_mut()
                    .zip(src.iter().chain(std::iter::repeat(&0)))
                    .for_each(|(r, s)| *r &= s);
            }
            Op::Or => res.iter_mut().zip(src).for_each(|(r, s)| *r |= s),
            Op::Xor => res.iter_mut().zip(src).for_each(|(r, s)| *r ^= s),
            Op::Not => {}
        }
    }
    let len = res.len();
    if len == 0 {
        if let Some(s) = l.find(db, dest) {
            l.remove(s);
            l.log(LogEntry::Del {
                db: db as u32,
                key: dest,
            });
        }
    } else {
        let s = l.set(db, dest, Value::Str(CompactBytes::new(&res)), Ttl::Clear);
        l.entry_mut(s).flags |= flags::RAW;
        l.log(LogEntry::Set {
            db: db as u32,
            key: dest,
            value: &res,
            ttl: Ttl::Clear,
        });
    }
    ctx.out.int(len as i64);
}

/// What happens when a `BITFIELD` write leaves the range of its type.
#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set,
    IncrBy,
}

/// One `GET`/`SET`/`INCRBY` of a `BITFIELD`.
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

/// Parses a field type, `i1`..`i64` or `u1`..`u63`.
fn parse_type(ctx: &mut Ctx<'_, '_>, arg: &[u8]) -> Option<(bool, u32)> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => {
            ctx.err(TYPE_ERR);
            return None;
        }
    };
    let max = if signed { 64 } else { 63 };
    match parse_int(&arg[1..]) {
        Some(b) if (1..=max).contains(&b) => Some((signed, b as u32)),
        _ => {
            ctx.err(TYPE_ERR);
            None
        }
    }
}

fn get_unsigned(p: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for o in offset..offset + u64::from(bits) {
        let bit = p
            .get((o >> 3) as usize)
            .map_or(0, |b| (b >> (7 - (o & 7))) & 1);
        v = (v << 1) | u64::from(bit);
    }
    v
}

fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(p, offset, bits);
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

fn set_bits(p: &mut [u8], offset: u64, bits: u32, v: u64) {
    for j in 0..u64::from(bits) {
        let on = (v >> (u64::from(bits) - 1 - j)) & 1 != 0;
        let o = offset + j;
        let (byte, shift) = ((o >> 3) as usize, 7 - (o & 7));
        p[byte] = (p[byte] & !(1 << shift)) | (u8::from(on) << shift);
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: whether `value + incr` leaves `bits` bits,
/// and the value to store instead under `WRAP` or `SAT`.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX << bits);
    if value > max || (incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Wrap { wrap() } else { max })
    } else if incr < 0 && incr < minincr {
        Some(if ow == Overflow::Wrap { wrap() } else { 0 })
    } else {
        None
    }
}

/// Redis's `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Wrap { wrap() } else { max })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        Some(if ow == Overflow::Wrap { wrap() } else { min })
    } else {
        None
    }
}

/// Parses a `BITFIELD`'s operations; `None` after replying the error.
fn parse_fields(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) -> Option<Vec<Field>> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let rem = args.len() - j - 1;
        let sub = args[j];
        let op = if eq_ic(sub, b"get") && rem >= 2 {
            FieldOp::Get
        } else if eq_ic(sub, b"set") && rem >= 3 {
            FieldOp::Set
        } else if eq_ic(sub, b"incrby") && rem >= 3 {
            FieldOp::IncrBy
        } else if eq_ic(sub, b"overflow") && rem >= 1 {
            let t = args[j + 1];
            overflow = if eq_ic(t, b"wrap") {
                Overflow::Wrap
            } else if eq_ic(t, b"sat") {
                Overflow::Sat
            } else if eq_ic(t, b"fail") {
                Overflow::Fail
            } else {
                ctx.err("ERR Invalid OVERFLOW type specified");
                return None;
            };
            j += 2;
            continue;
        } else {
            ctx.err(errors::SYNTAX);
            return None;
        };
        let (signed, bits) = parse_type(ctx, args[j + 1])?;
        let offset = parse_offset(ctx, args[j + 2], Some(bits))?;
        let mut value = 0;
        if op != FieldOp::Get {
            let Some(v) = parse_int(args[j + 3]) else {
                ctx.err(errors::NOT_INT);
                return None;
            };
            value = v;
        }
        fields.push(Field {
            op,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Some(fields)
}

/// `BITFIELD key [GET type offset | [OVERFLOW WRAP|SAT|FAIL] SET type offset value |
/// INCRBY type offset increment ...]`
pub fn bitfield(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    bitfield_generic(ctx, args, false);
}

/// `BITFIELD_RO key [GET type offset ...]`
pub fn bitfield_ro(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    bitfield_generic(ctx, args, true);
}

fn bitfield_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], read_only: bool) {
    let key = args[1];
    let Some(fields) = parse_fields(ctx, args) else {
        return;
    };
    let writes = fields.iter().filter(|f| f.op != FieldOp::Get);
    let highest = writes.map(|f| f.offset + u64::from(f.bits) - 1).max();
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    let Some(highest) = highest else {
        // Only reads: a missing key reads as zeros.
        let p = match string_value(&mut l, db, key, true) {
            Found::WrongType => return ctx.err(errors::WRONGTYPE),
            Found::Missing => &[][..],
            Found::Str(p) => p,
        };
        ctx.out.array(fields.len());
        for f in &fields {
            if f.signed {
                ctx.out.int(get_signed(p, f.offset, f.bits));
            } else {
                ctx.out.int(get_unsigned(p, f.offset, f.bits) as i64);
            }
        }
        return;
    };
    if read_only {
        return ctx.err("ERR BITFIELD_RO only supports the GET subcommand");
    }
    let Some((slot, grew)) = string_for_bits(ctx, &mut l, key, highest) else {
        return;
    };
    ctx.out.array(fields.len());
    let mark = l.events_mark();
    let mut changes = 0;
    for f in &fields {
        let p = bytes_mut(&mut l, slot);
        let reply = if f.op == FieldOp::Get {
            Some(if f.signed {
                get_signed(p, f.offset, f.bits)
            } else {
                get_unsigned(p, f.offset, f.bits) as i64
            })
        } else {
            let (store, reply, old) = if f.signed {
                let old = get_signed(p, f.offset, f.bits);
                let (incr, base) = match f.op {
                    FieldOp::IncrBy => (f.value, old),
                    _ => (0, f.value),
                };
                let (new, failed) = match signed_overflow(base, incr, f.bits, f.overflow) {
                    Some(_) if f.overflow == Overflow::Fail => (0, true),
                    Some(limit) => (limit, false),
                    None => (base.wrapping_add(incr), false),
                };
                let reply = if f.op == FieldOp::IncrBy { new } else { old };
                let store = (!failed).then_some(new as u64);
                (store, (!failed).then_some(reply), old as u64)
            } else {
                let old = get_unsigned(p, f.offset, f.bits);
                let (incr, base) = match f.op {
                    FieldOp::IncrBy => (f.value, old),
                    _ => (0, f.value as u64),
                };
                let (new, failed) = match unsigned_overflow(base, incr, f.bits, f.overflow) {
                    Some(_) if f.overflow == Overflow::Fail => (0, true),
                    Some(limit) => (limit, false),
                    None => (base.wrapping_add(incr as u64), false),
                };
                let reply = if f.op == FieldOp::IncrBy { new } else { old };
                (
                    (!failed).then_some(new),
                    (!failed).then_some(reply as i64),
                    old,
                )
            };
            let mask = u64::MAX >> (64 - f.bits);
            if let Some(v) = store.filter(|&v| grew || v & mask != old & mask) {
                set_bits(p, f.offset, f.bits, v);
                changes += 1;
                let (from, to) = (
                    (f.offset >> 3) as usize,
                    ((f.offset + u64::from(f.bits) - 1) >> 3) as usize,
                );
                let data = p[from..=to].to_vec();
                l.log(LogEntry::SetRange {
                    db: db as u32,
                    key,
                    offset: from as u64,
                    data: &data,
                });
            }
            reply
        };
        match reply {
            Some(v) => ctx.out.int(v),
            None => ctx.out.null(),
        }
    }
    if grew {
        // The string grew to hold the farthest field, even one whose write failed: its
        // last byte, logged, makes recovery grow it too.
        let p = bytes_mut(&mut l, slot);
        let last = p.len() - 1;
        let data = [p[last]];
        l.log(LogEntry::SetRange {
            db: db as u32,
            key,
            offset: last as u64,
            data: &data,
        });
    }
    if changes == 0 {
        // As Redis 7.0, writes that changed no field are not announced.
        l.drop_events_since(mark);
    } else {
        // Redis announces one `setbit` per command, however many fields it wrote.
        l.dedup_events_since(mark);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_finds_bits_within_bit_ranges() {
        let p = [0b1010_0000u8, 0xff, 0x00, 0b0000_0001];
        assert_eq!(count_ones(&p, 0, 31), 11);
        assert_eq!(count_ones(&p, 1, 7), 1);
        assert_eq!(count_ones(&p, 2, 2), 1);
        assert_eq!(count_ones(&p, 9, 30), 7);
        assert_eq!(first_bit(&p, 0, 31, true), Some(0));
        assert_eq!(first_bit(&p, 1, 31, true), Some(2));
        assert_eq!(first_bit(&p, 3, 31, true), Some(8));
        assert_eq!(first_bit(&p, 16, 30, true), None);
        assert_eq!(first_bit(&p, 16, 31, true), Some(31));
        assert_eq!(first_bit(&p, 8, 15, false), None);
        assert_eq!(first_bit(&p, 8, 16, false), Some(16));
        assert_eq!(first_bit(&p, 0, 0, false), None);
        assert_eq!(first_bit(&p, 1, 1, false), Some(1));
    }

    #[test]
    fn bitfield_overflow_follows_redis() {
        assert_eq!(unsigned_overflow(255, 1, 8, Overflow::Wrap), Some(0));
        assert_eq!(unsigned_overflow(255, 1, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_overflow(0, -1, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_overflow(0, -1, 8, Overflow::Wrap), Some(255));
        assert_eq!(unsigned_overflow(10, 5, 8, Overflow::Wrap), None);
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Wrap), Some(-128));
        assert_eq!(signed_overflow(-128, -1, 8, Overflow::Sat), Some(-128));
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(signed_overflow(5, -3, 64, Overflow::Fail), None);
        let mut p = [0u8; 3];
        set_bits(&mut p, 5, 8, 0xab);
        assert_eq!(get_unsigned(&p, 5, 8), 0xab);
        assert_eq!(get_signed(&p, 5, 8), 0xab_u8 as i8 as i64);
        assert_eq!(get_unsigned(&p, 20, 8), 0);
    }
}
