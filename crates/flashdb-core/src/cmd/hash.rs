//! Hash commands, as Redis's `t_hash.c`.

use std::borrow::Cow;

use super::sample_distinct;

use super::{is, lookup, lookup_or_create, parse_scan_args, remove_if_empty, Lookup};
use crate::ctx::{errors, Ctx};
use crate::glob::glob_match;
use crate::keyspace::Locked;
use crate::log_entry::LogEntry;
use crate::long_double::LongDouble;
use crate::numeric::parse_int;
use crate::types::hash::Hash;
use crate::value::Value;

fn new_hash() -> Value {
    Value::Hash(Box::default())
}

fn hash_at<'l>(l: &'l Locked<'_>, s: crate::keyspace::Slot) -> &'l Hash {
    match &l.entry(s).value {
        Value::Hash(h) => h,
        _ => unreachable_hash(),
    }
}

fn hash_mut<'l>(l: &'l mut Locked<'_>, s: crate::keyspace::Slot) -> &'l mut Hash {
    match &mut l.entry_mut(s).value {
        Value::Hash(h) => h,
        _ => unreachable_hash(),
    }
}

/// The callers checked the type under the same lock.
fn unreachable_hash() -> ! {
    unreachable!("slot checked to hold a hash")
}

fn log_hset(l: &mut Locked<'_>, db: usize, key: &[u8], items: &[&[u8]]) {
    l.log(LogEntry::HSet {
        db: db as u32,
        key,
        items: Cow::Borrowed(items),
    });
}

/// `HSET key field value [field value ...]` and `HMSET`.
pub fn hset(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if args.len() % 2 == 1 {
        ctx.arity_err();
        return;
    }
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let Some(s) = lookup_or_create(ctx, &mut l, key, is::hash, new_hash) else {
        return;
    };
    let h = hash_mut(&mut l, s);
    let mut created = 0;
    for p in args[2..].chunks_exact(2) {
        created += i64::from(h.set(p[0], p[1]));
    }
    log_hset(&mut l, db, key, &args[2..]);
    if eq_name(args[0], b"hmset") {
        ctx.out.ok();
    } else {
        ctx.out.int(created);
    }
}

fn eq_name(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// `HSETNX key field value`
pub fn hsetnx(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::hash) {
        Lookup::Found(s) if hash_at(&l, s).get(args[2]).is_some() => {
            ctx.out.int(0);
            return;
        }
        Lookup::Found(s) => s,
        Lookup::Missing => l.set(db, key, new_hash(), crate::keyspace::Ttl::Clear),
        Lookup::WrongType => return,
    };
    hash_mut(&mut l, s).set(args[2], args[3]);
    log_hset(&mut l, db, key, &args[2..4]);
    ctx.out.int(1);
}

/// `HGET key field`
pub fn hget(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    match lookup(ctx, &mut l, args[1], true, is::hash) {
        Lookup::Found(s) => match hash_at(&l, s).get(args[2]) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        },
        Lookup::Missing => ctx.out.null(),
        Lookup::WrongType => {}
    }
}

/// `HMGET key field [field ...]`
pub fn hmget(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    let h = match lookup(ctx, &mut l, args[1], true, is::hash) {
        Lookup::Found(s) => Some(hash_at(&l, s)),
        Lookup::Missing => None,
        Lookup::WrongType => return,
    };
    ctx.out.array(args.len() - 2);
    for f in &args[2..] {
        match h.and_then(|h| h.get(f)) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
}

/// `HDEL key field [field ...]`
pub fn hdel(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::hash) {
        Lookup::Found(s) => s,
        Lookup::Missing => return ctx.out.int(0),
        Lookup::WrongType => return,
    };
    let h = hash_mut(&mut l, s);
    let mut removed: Vec<&[u8]> = Vec::new();
    for f in &args[2..] {
        if h.remove(f) {
            removed.push(f);
        }
    }
    if !removed.is_empty() {
        l.log(LogEntry::HDel {
            db: db as u32,
            key,
            items: Cow::Borrowed(&removed),
        });
    }
    remove_if_empty(&mut l, s);
    ctx.out.int(removed.len() as i64);
}

/// `HLEN key`
pub fn hlen(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    match lookup(ctx, &mut l, args[1], true, is::hash) {
        Lookup::Found(s) => ctx.out.int(hash_at(&l, s).len() as i64),
        Lookup::Missing => ctx.out.int(0),
        Lookup::WrongType => {}
    }
}

/// `HSTRLEN key field`
pub fn hstrlen(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    match lookup(ctx, &mut l, args[1], true, is::hash) {
        Lookup::Found(s) => {
            let n = hash_at(&l, s).get(args[2]).map_or(0, |v| v.len());
            ctx.out.int(n as i64)
        }
        Lookup::Missing => ctx.out.int(0),
        Lookup::WrongType => {}
    }
}

/// `HEXISTS key field`
pub fn hexists(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    match lookup(ctx, &mut l, args[1], true, is::hash) {
        Lookup::Found(s) => ctx
            .out
            .int(i64::from(hash_at(&l, s).get(args[2]).is_some())),
        Lookup::Missing => ctx.out.int(0),
        Lookup::WrongType => {}
    }
}

#[derive(Clone, Copy)]
enum Part {
    Keys,
    Vals,
    All,
}

fn getall(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], part: Part) {
    let mut l = ctx.lock(&[args[1]]);
    let h = match lookup(ctx, &mut l, args[1], true, is::hash) {
        Lookup::Found(s) => Some(hash_at(&l, s)),
        Lookup::Missing => None,
        Lookup::WrongType => return,
    };
    let n = h.map_or(0, |h| h.len());
    match part {
        Part::All => ctx.out.map(n),
        _ => ctx.out.array(n),
    }
    if let Some(h) = h {
        for (f, v) in h.iter() {
            match part {
                Part::Keys => ctx.out.bulk(f),
                Part::Vals => ctx.out.bulk(v),
                Part::All => {
                    ctx.out.bulk(f);
                    ctx.out.bulk(v);
                }
            }
        }
    }
}

/// `HKEYS key`
pub fn hkeys(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    getall(ctx, args, Part::Keys);
}

/// `HVALS key`
pub fn hvals(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    getall(ctx, args, Part::Vals);
}

/// `HGETALL key`
pub fn hgetall(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    getall(ctx, args, Part::All);
}

/// `HINCRBY key field increment`
pub fn hincrby(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let Some(incr) = parse_int(args[3]) else {
        ctx.err(errors::NOT_INT);
        return;
    };
    let mut l = ctx.lock(&[key]);
    let current = match lookup(ctx, &mut l, key, false, is::hash) {
        Lookup::Found(s) => hash_at(&l, s).get(args[2]).map(parse_int),
        Lookup::Missing => None,
        Lookup::WrongType => return,
    };
    let current = match current {
        None => 0,
        Some(Some(v)) => v,
        Some(None) => {
            ctx.err("ERR hash value is not an integer");
            return;
        }
    };
    let Some(new) = current.checked_add(incr) else {
        ctx.err(errors::OVERFLOW);
        return;
    };
    let Some(s) = lookup_or_create(ctx, &mut l, key, is::hash, new_hash) else {
        return;
    };
    let text = new.to_string();
    hash_mut(&mut l, s).set(args[2], text.as_bytes());
    log_hset(&mut l, db, key, &[args[2], text.as_bytes()]);
    ctx.out.int(new);
}

/// `HINCRBYFLOAT key field increment`
pub fn hincrbyfloat(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let Some(incr) = LongDouble::parse(args[3]) else {
        ctx.err(errors::NOT_FLOAT);
        return;
    };
    if incr.is_nan_or_infinite() {
        ctx.err("ERR value is NaN or Infinity");
        return;
    }
    let mut l = ctx.lock(&[key]);
    let current = match lookup(ctx, &mut l, key, false, is::hash) {
        Lookup::Found(s) => hash_at(&l, s).get(args[2]).map(LongDouble::parse),
        Lookup::Missing => None,
        Lookup::WrongType => return,
    };
    let current = match current {
        None => LongDouble::ZERO,
        Some(Some(v)) => v,
        Some(None) => {
            ctx.err("ERR hash value is not a float");
            return;
        }
    };
    let new = current + incr;
    if new.is_nan_or_infinite() {
        ctx.err("ERR increment would produce NaN or Infinity");
        return;
    }
    let Some(s) = lookup_or_create(ctx, &mut l, key, is::hash, new_hash) else {
        return;
    };
    let text = new.to_human_string();
    hash_mut(&mut l, s).set(args[2], text.as_bytes());
    log_hset(&mut l, db, key, &[args[2], text.as_bytes()]);
    ctx.out.bulk(text.as_bytes());
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`
pub fn hscan(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some((cursor, count, pattern)) = parse_scan_args(ctx, args) else {
        return;
    };
    let mut l = ctx.lock(&[args[1]]);
    let s = match lookup(ctx, &mut l, args[1], true, is::hash) {
        Lookup::Found(s) => s,
        Lookup::Missing => return super::reply_scan(ctx, 0, &[]),
        Lookup::WrongType => return,
    };
    let mut items = Vec::new();
    let next = hash_at(&l, s).scan(cursor, count, |f, v| {
        if pattern.is_none_or(|p| glob_match(p, f, false)) {
            items.push(f.to_vec());
            items.push(v.to_vec());
        }
    });
    super::reply_scan(ctx, next, &items);
}

/// `HRANDFIELD key [count [WITHVALUES]]`
pub fn hrandfield(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut withvalues = false;
    if args.len() >= 4 {
        if args.len() > 4 || !args[3].eq_ignore_ascii_case(b"withvalues") {
            ctx.err(errors::SYNTAX);
            return;
        }
        withvalues = true;
    }
    let count = if args.len() >= 3 {
        let Some(c) = super::parse_ranged(ctx, args[2], -i64::MAX, i64::MAX) else {
            return;
        };
        if c < 0 && c.unsigned_abs() > super::MAX_RANDOM_REPEATS {
            ctx.err("ERR value is out of range");
            return;
        }
        Some(c)
    } else {
        None
    };
    let mut l = ctx.lock(&[args[1]]);
    let h = match lookup(ctx, &mut l, args[1], true, is::hash) {
        Lookup::Found(s) => hash_at(&l, s),
        Lookup::Missing => {
            match count {
                None => ctx.out.null(),
                Some(_) => ctx.out.array(0),
            }
            return;
        }
        Lookup::WrongType => return,
    };
    let mut rng = rand::thread_rng();
    let Some(count) = count else {
        match h.random(&mut rng) {
            Some((f, _)) => ctx.out.bulk(f),
            None => ctx.out.null(),
        }
        return;
    };
    let pick: Vec<(&[u8], &[u8])> = if count < 0 {
        (0..count.unsigned_abs())
            .filter_map(|_| h.random(&mut rng))
            .collect()
    } else {
        let n = count as usize;
        sample_distinct(h.len(), n, &mut rng, || h.iter(), |r| h.random(r), |p| p.0)
    };
    reply_pairs(ctx, &pick, withvalues);
}

/// Replies fields (and values), as arrays of pairs under RESP3 as Redis does.
fn reply_pairs(ctx: &mut Ctx<'_, '_>, pick: &[(&[u8], &[u8])], withvalues: bool) {
    let resp3 = ctx.out.version() == flashdb_protocol::ProtocolVersion::Resp3;
    if withvalues && resp3 {
        ctx.out.array(pick.len());
        for (f, v) in pick {
            ctx.out.array(2);
            ctx.out.bulk(f);
            ctx.out.bulk(v);
        }
    } else {
        ctx.out.array(if withvalues {
            pick.len() * 2
        } else {
            pick.len()
        });
        for (f, v) in pick {
            ctx.out.bulk(f);
            if withvalues {
                ctx.out.bulk(v);
            }
        }
    }
}
