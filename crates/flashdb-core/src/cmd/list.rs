//! List commands, as Redis's `t_list.c` (the blocking variants are in `blocking`).

use std::borrow::Cow;

use super::{eq_ic, is, lookup, remove_if_empty, Lookup, Replied};
use crate::compact::CompactBytes;
use crate::ctx::{errors, Ctx};
use crate::keyspace::{Locked, Slot, Ttl};
use crate::log_entry::LogEntry;
use crate::numeric::parse_int;
use crate::types::list::{End, List};
use crate::value::Value;

fn list_at<'l>(l: &'l Locked<'_>, s: Slot) -> &'l List {
    match &l.entry(s).value {
        Value::List(v) => v,
        _ => unreachable!("slot checked to hold a list"),
    }
}

fn list_mut<'l>(l: &'l mut Locked<'_>, s: Slot) -> &'l mut List {
    match &mut l.entry_mut(s).value {
        Value::List(v) => v,
        _ => unreachable!("slot checked to hold a list"),
    }
}

fn end_arg(a: &[u8]) -> Option<End> {
    if eq_ic(a, b"left") {
        Some(End::Left)
    } else if eq_ic(a, b"right") {
        Some(End::Right)
    } else {
        None
    }
}

/// Pushes `items` onto the list at `key` (created when missing), logs the push and wakes
/// clients blocked on the key. The caller checked the key's type.
pub fn push_items(l: &mut Locked<'_>, db: usize, key: &[u8], end: End, items: &[&[u8]]) -> usize {
    let s = match l.find(db, key) {
        Some(s) => s,
        None => l.set(db, key, Value::List(Box::default()), Ttl::Clear),
    };
    let list = list_mut(l, s);
    for i in items {
        list.push(end, i);
    }
    let len = list.len();
    l.log(LogEntry::Push {
        db: db as u32,
        key,
        left: end == End::Left,
        items: Cow::Borrowed(items),
    });
    l.signal_ready(db, key);
    len
}

/// Pops up to `count` elements from the list at slot `s`, logs the pop and deletes the
/// key when it empties.
pub fn pop_items(
    l: &mut Locked<'_>,
    s: Slot,
    db: usize,
    key: &[u8],
    end: End,
    count: usize,
) -> Vec<CompactBytes> {
    let list = list_mut(l, s);
    let mut out = Vec::with_capacity(count.min(list.len()));
    while out.len() < count {
        match list.pop(end) {
            Some(v) => out.push(v),
            None => break,
        }
    }
    if !out.is_empty() {
        l.log(LogEntry::Pop {
            db: db as u32,
            key,
            left: end == End::Left,
            count: out.len() as u64,
        });
    }
    remove_if_empty(l, s);
    out
}

fn push(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], end: End, only_existing: bool) {
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    match lookup(ctx, &mut l, key, false, is::list) {
        Lookup::WrongType => return,
        Lookup::Missing if only_existing => return ctx.out.int(0),
        _ => {}
    }
    let len = push_items(&mut l, db, key, end, &args[2..]);
    ctx.out.int(len as i64);
}

/// `LPUSH key element [element ...]`
pub fn lpush(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    push(ctx, args, End::Left, false);
}

/// `RPUSH key element [element ...]`
pub fn rpush(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    push(ctx, args, End::Right, false);
}

/// `LPUSHX key element [element ...]`
pub fn lpushx(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    push(ctx, args, End::Left, true);
}

/// `RPUSHX key element [element ...]`
pub fn rpushx(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    push(ctx, args, End::Right, true);
}

fn pop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], end: End) {
    if args.len() > 3 {
        return ctx.arity_err();
    }
    let count = match args.get(2) {
        None => None,
        Some(a) => match parse_int(a) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return ctx.err("ERR value is out of range, must be positive"),
        },
    };
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::list) {
        Lookup::Found(s) => s,
        Lookup::Missing => {
            return match count {
                None => ctx.out.null(),
                Some(_) => ctx.out.null_array(),
            }
        }
        Lookup::WrongType => return,
    };
    match count {
        None => {
            let v = pop_items(&mut l, s, db, key, end, 1);
            match v.first() {
                Some(v) => ctx.out.bulk(v.as_slice()),
                None => ctx.out.null(),
            }
        }
        Some(n) => {
            let v = pop_items(&mut l, s, db, key, end, n);
            ctx.out.array(v.len());
            for e in &v {
                ctx.out.bulk(e.as_slice());
            }
        }
    }
}

/// `LPOP key [count]`
pub fn lpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    pop(ctx, args, End::Left);
}

/// `RPOP key [count]`
pub fn rpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    pop(ctx, args, End::Right);
}

/// `LLEN key`
pub fn llen(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    match lookup(ctx, &mut l, args[1], true, is::list) {
        Lookup::Found(s) => ctx.out.int(list_at(&l, s).len() as i64),
        Lookup::Missing => ctx.out.int(0),
        Lookup::WrongType => {}
    }
}

/// `LRANGE key start stop`
pub fn lrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (Some(start), Some(stop)) = (parse_int(args[2]), parse_int(args[3])) else {
        return ctx.err(errors::NOT_INT);
    };
    let mut l = ctx.lock(&[args[1]]);
    let list = match lookup(ctx, &mut l, args[1], true, is::list) {
        Lookup::Found(s) => list_at(&l, s),
        Lookup::Missing => return ctx.out.array(0),
        Lookup::WrongType => return,
    };
    match list.range(start, stop) {
        None => ctx.out.array(0),
        Some((a, b)) => {
            ctx.out.array(b - a + 1);
            for e in list.iter_range(a, b) {
                ctx.out.bulk(e);
            }
        }
    }
}

/// `LINDEX key index`
pub fn lindex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(i) = parse_int(args[2]) else {
        return ctx.err(errors::NOT_INT);
    };
    let mut l = ctx.lock(&[args[1]]);
    let list = match lookup(ctx, &mut l, args[1], true, is::list) {
        Lookup::Found(s) => list_at(&l, s),
        Lookup::Missing => return ctx.out.null(),
        Lookup::WrongType => return,
    };
    match list.index(i).and_then(|p| list.get(p)) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
}

/// `LSET key index element`
pub fn lset(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(i) = parse_int(args[2]) else {
        return ctx.err(errors::NOT_INT);
    };
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::list) {
        Lookup::Found(s) => s,
        Lookup::Missing => return ctx.err(errors::NO_SUCH_KEY),
        Lookup::WrongType => return,
    };
    let list = list_mut(&mut l, s);
    match list.index(i) {
        Some(p) => {
            list.set(p, args[3]);
            l.log(LogEntry::LSet {
                db: db as u32,
                key,
                index: i,
                value: args[3],
            });
            ctx.out.ok();
        }
        None => ctx.err("ERR index out of range"),
    }
}

/// `LINSERT key <BEFORE | AFTER> pivot element`
pub fn linsert(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let before = if eq_ic(args[2], b"before") {
        true
    } else if eq_ic(args[2], b"after") {
        false
    } else {
        return ctx.err(errors::SYNTAX);
    };
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::list) {
        Lookup::Found(s) => s,
        Lookup::Missing => return ctx.out.int(0),
        Lookup::WrongType => return,
    };
    let list = list_mut(&mut l, s);
    if !list.insert(before, args[3], args[4]) {
        return ctx.out.int(-1);
    }
    let len = list.len();
    l.log(LogEntry::LInsert {
        db: db as u32,
        key,
        before,
        pivot: args[3],
        value: args[4],
    });
    ctx.out.int(len as i64);
}

/// `LREM key count element`
pub fn lrem(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(count) = parse_int(args[2]) else {
        return ctx.err(errors::NOT_INT);
    };
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::list) {
        Lookup::Found(s) => s,
        Lookup::Missing => return ctx.out.int(0),
        Lookup::WrongType => return,
    };
    let removed = list_mut(&mut l, s).remove(count, args[3]);
    if removed > 0 {
        l.log(LogEntry::LRem {
            db: db as u32,
            key,
            count,
            value: args[3],
        });
    }
    remove_if_empty(&mut l, s);
    ctx.out.int(removed as i64);
}

/// `LTRIM key start stop`
pub fn ltrim(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (Some(start), Some(stop)) = (parse_int(args[2]), parse_int(args[3])) else {
        return ctx.err(errors::NOT_INT);
    };
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::list) {
        Lookup::Found(s) => s,
        Lookup::Missing => return ctx.out.ok(),
        Lookup::WrongType => return,
    };
    let list = list_mut(&mut l, s);
    let before = list.len();
    list.trim(start, stop);
    if list.len() != before {
        l.log(LogEntry::LTrim {
            db: db as u32,
            key,
            start,
            stop,
        });
    }
    remove_if_empty(&mut l, s);
    ctx.out.ok();
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`
pub fn lpos(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (mut rank, mut count, mut maxlen) = (1i64, None::<u64>, 0u64);
    let mut i = 3;
    while i < args.len() {
        let (opt, val) = (args[i], args.get(i + 1));
        match val {
            Some(v) if eq_ic(opt, b"rank") => {
                let Some(r) = super::parse_ranged(ctx, v, -i64::MAX, i64::MAX) else {
                    return;
                };
                if r == 0 {
                    return ctx.err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                }
                rank = r;
            }
            Some(v) if eq_ic(opt, b"count") => match parse_int(v) {
                Some(n) if n >= 0 => count = Some(n as u64),
                _ => return ctx.err("ERR COUNT can't be negative"),
            },
            Some(v) if eq_ic(opt, b"maxlen") => match parse_int(v) {
                Some(n) if n >= 0 => maxlen = n as u64,
                _ => return ctx.err("ERR MAXLEN can't be negative"),
            },
            _ => return ctx.err(errors::SYNTAX),
        }
        i += 2;
    }
    let mut l = ctx.lock(&[args[1]]);
    let list = match lookup(ctx, &mut l, args[1], true, is::list) {
        Lookup::Found(s) => list_at(&l, s),
        Lookup::Missing => {
            return match count {
                Some(_) => ctx.out.array(0),
                None => ctx.out.null(),
            }
        }
        Lookup::WrongType => return,
    };
    let want = match count {
        Some(0) => u64::MAX,
        Some(n) => n,
        None => 1,
    };
    let len = list.len();
    // Matches are collected only up to `want`, and `want` never exceeds the list's length,
    // so a huge COUNT or MAXLEN cannot make this allocate more than the list holds.
    let mut found: Vec<usize> = Vec::new();
    let mut skip = rank.unsigned_abs() - 1;
    let scan = if maxlen == 0 {
        len
    } else {
        (maxlen.min(len as u64)) as usize
    };
    let positions: Box<dyn Iterator<Item = (usize, &[u8])>> = if rank > 0 {
        Box::new(list.iter().enumerate().take(scan))
    } else {
        Box::new(list.iter().enumerate().rev().take(scan))
    };
    for (p, e) in positions {
        if e == args[2] {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(p);
            if found.len() as u64 >= want {
                break;
            }
        }
    }
    match count {
        None => match found.first() {
            Some(&p) => ctx.out.int(p as i64),
            None => ctx.out.null(),
        },
        Some(_) => {
            ctx.out.array(found.len());
            for p in found {
                ctx.out.int(p as i64);
            }
        }
    }
}

/// Moves one element from `src` to `dst` under locks of both; `Ok(None)` when `src` is
/// missing, `Err(Replied)` after replying `WRONGTYPE`.
pub fn move_one(
    ctx: &mut Ctx<'_, '_>,
    l: &mut Locked<'_>,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<Option<CompactBytes>, Replied> {
    let db = ctx.db;
    let s = match lookup(ctx, l, src, false, is::list) {
        Lookup::Found(s) => s,
        Lookup::Missing => return Ok(None),
        Lookup::WrongType => return Err(Replied),
    };
    if let Lookup::WrongType = lookup(ctx, l, dst, false, is::list) {
        return Err(Replied);
    }
    let mark = l.events_mark();
    let mut v = pop_items(l, s, db, src, from, 1);
    let Some(e) = v.pop() else { return Ok(None) };
    let popped = l.events_mark();
    push_items(l, db, dst, to, &[e.as_slice()]);
    // Redis announces the push to `dst` before the pop from `src`.
    l.announce_later(mark, popped);
    Ok(Some(e))
}

/// `LMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT>`
pub fn lmove(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (Some(from), Some(to)) = (end_arg(args[3]), end_arg(args[4])) else {
        return ctx.err(errors::SYNTAX);
    };
    lmove_generic(ctx, args[1], args[2], from, to);
}

/// `RPOPLPUSH source destination`
pub fn rpoplpush(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    lmove_generic(ctx, args[1], args[2], End::Right, End::Left);
}

fn lmove_generic(ctx: &mut Ctx<'_, '_>, src: &[u8], dst: &[u8], from: End, to: End) {
    let mut l = ctx.lock(&[src, dst]);
    match move_one(ctx, &mut l, src, dst, from, to) {
        Ok(Some(e)) => ctx.out.bulk(e.as_slice()),
        Ok(None) => ctx.out.null(),
        Err(Replied) => {}
    }
}

/// Parsed `numkeys key [key ...] <LEFT | RIGHT> [COUNT count]` of `LMPOP`/`BLMPOP`.
pub struct MPop<'a> {
    /// The keys, in order.
    pub keys: Vec<&'a [u8]>,
    /// The end to pop from.
    pub end: End,
    /// How many elements at most.
    pub count: usize,
}

/// Parses `LMPOP`'s arguments from `args[at]` (numkeys) on, replying Redis's errors.
pub fn parse_mpop<'a>(ctx: &mut Ctx<'_, '_>, args: &[&'a [u8]], at: usize) -> Option<MPop<'a>> {
    let (keys, right, count) = super::parse_mpop_args(ctx, args, at, [b"left", b"right"])?;
    let end = if right { End::Right } else { End::Left };
    Some(MPop { keys, end, count })
}

/// A key and the elements popped from it.
pub type Popped = (Vec<u8>, Vec<CompactBytes>);

/// Pops from the first non-empty list of `m.keys`; `Ok(None)` when all are empty,
/// `Err(Replied)` after replying `WRONGTYPE`.
pub fn mpop_first(
    ctx: &mut Ctx<'_, '_>,
    l: &mut Locked<'_>,
    m: &MPop<'_>,
) -> Result<Option<Popped>, Replied> {
    let db = ctx.db;
    for key in &m.keys {
        match lookup(ctx, l, key, false, is::list) {
            Lookup::Found(s) => {
                let v = pop_items(l, s, db, key, m.end, m.count);
                return Ok(Some((key.to_vec(), v)));
            }
            Lookup::Missing => {}
            Lookup::WrongType => return Err(Replied),
        }
    }
    Ok(None)
}

/// Replies `[key, [elements...]]`.
pub fn reply_key_elements(ctx: &mut Ctx<'_, '_>, key: &[u8], v: &[CompactBytes]) {
    ctx.out.array(2);
    ctx.out.bulk(key);
    ctx.out.array(v.len());
    for e in v {
        ctx.out.bulk(e.as_slice());
    }
}

/// `LMPOP numkeys key [key ...] <LEFT | RIGHT> [COUNT count]`
pub fn lmpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(m) = parse_mpop(ctx, args, 1) else {
        return;
    };
    let mut l = ctx.lock(&m.keys);
    match mpop_first(ctx, &mut l, &m) {
        Ok(Some((key, v))) => reply_key_elements(ctx, &key, &v),
        Ok(None) => ctx.out.null_array(),
        Err(Replied) => {}
    }
}

fn bpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], end: End) {
    let Some(deadline) = ctx.block_timeout(args[args.len() - 1]) else {
        return;
    };
    let keys = &args[1..args.len() - 1];
    let m = MPop {
        keys: keys.to_vec(),
        end,
        count: 1,
    };
    let mut l = ctx.lock(keys);
    match mpop_first(ctx, &mut l, &m) {
        Ok(Some((key, v))) => {
            ctx.out.array(2);
            ctx.out.bulk(&key);
            ctx.out.bulk(v.first().map_or(&b""[..], |e| e.as_slice()));
        }
        Ok(None) => super::block_on(ctx, keys, deadline),
        Err(Replied) => {}
    }
}

/// `BLPOP key [key ...] timeout`
pub fn blpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    bpop(ctx, args, End::Left);
}

/// `BRPOP key [key ...] timeout`
pub fn brpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    bpop(ctx, args, End::Right);
}

fn blmove_generic(
    ctx: &mut Ctx<'_, '_>,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    timeout: &[u8],
) {
    let Some(deadline) = ctx.block_timeout(timeout) else {
        return;
    };
    let mut l = ctx.lock(&[src, dst]);
    match move_one(ctx, &mut l, src, dst, from, to) {
        Ok(Some(e)) => ctx.out.bulk(e.as_slice()),
        Ok(None) => super::block_on(ctx, &[src], deadline),
        Err(Replied) => {}
    }
}

/// `BLMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT> timeout`
pub fn blmove(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (Some(from), Some(to)) = (end_arg(args[3]), end_arg(args[4])) else {
        return ctx.err(errors::SYNTAX);
    };
    blmove_generic(ctx, args[1], args[2], from, to, args[5]);
}

/// `BRPOPLPUSH source destination timeout`
pub fn brpoplpush(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    blmove_generic(ctx, args[1], args[2], End::Right, End::Left, args[3]);
}

/// `BLMPOP timeout numkeys key [key ...] <LEFT | RIGHT> [COUNT count]`
pub fn blmpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(m) = parse_mpop(ctx, args, 2) else {
        return;
    };
    let Some(deadline) = ctx.block_timeout(args[1]) else {
        return;
    };
    let mut l = ctx.lock(&m.keys);
    match mpop_first(ctx, &mut l, &m) {
        Ok(Some((key, v))) => reply_key_elements(ctx, &key, &v),
        Ok(None) => super::block_on(ctx, &m.keys, deadline),
        Err(Replied) => {}
    }
}
