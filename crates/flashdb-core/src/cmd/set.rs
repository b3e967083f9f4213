//! Set commands, as Redis's `t_set.c`.

use std::borrow::Cow;

use super::sample_distinct;
use super::{is, lookup, lookup_or_create, parse_scan_args, remove_if_empty, Lookup};
use crate::codec::encode_value;
use crate::ctx::{errors, Ctx};
use crate::glob::glob_match;
use crate::keyspace::{Locked, Slot, Ttl};
use crate::log_entry::LogEntry;
use crate::numeric::parse_int;
use crate::types::set::Set;
use crate::value::Value;

fn set_at<'l>(l: &'l Locked<'_>, s: Slot) -> &'l Set {
    match &l.entry(s).value {
        Value::Set(v) => v,
        _ => unreachable!("slot checked to hold a set"),
    }
}

fn set_mut<'l>(l: &'l mut Locked<'_>, s: Slot) -> &'l mut Set {
    match &mut l.entry_mut(s).value {
        Value::Set(v) => v,
        _ => unreachable!("slot checked to hold a set"),
    }
}

fn log_srem(l: &mut Locked<'_>, db: usize, key: &[u8], items: &[&[u8]]) {
    if !items.is_empty() {
        l.log(LogEntry::SRem {
            db: db as u32,
            key,
            items: Cow::Borrowed(items),
        });
    }
}

fn log_sadd(l: &mut Locked<'_>, db: usize, key: &[u8], items: &[&[u8]]) {
    if !items.is_empty() {
        l.log(LogEntry::SAdd {
            db: db as u32,
            key,
            items: Cow::Borrowed(items),
        });
    }
}

/// `SADD key member [member ...]`
pub fn sadd(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let first = args[2];
    let Some(s) = lookup_or_create(ctx, &mut l, key, is::set, || {
        Value::Set(Box::new(Set::for_member(first)))
    }) else {
        return;
    };
    let set = set_mut(&mut l, s);
    let added: Vec<&[u8]> = args[2..].iter().copied().filter(|m| set.add(m)).collect();
    log_sadd(&mut l, db, key, &added);
    ctx.out.int(added.len() as i64);
}

/// `SREM key member [member ...]`
pub fn srem(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::set) {
        Lookup::Found(s) => s,
        Lookup::Missing => return ctx.out.int(0),
        Lookup::WrongType => return,
    };
    let set = set_mut(&mut l, s);
    let removed: Vec<&[u8]> = args[2..]
        .iter()
        .copied()
        .filter(|m| set.remove(m))
        .collect();
    log_srem(&mut l, db, key, &removed);
    remove_if_empty(&mut l, s);
    ctx.out.int(removed.len() as i64);
}

/// `SMEMBERS key`
pub fn smembers(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    match lookup(ctx, &mut l, args[1], true, is::set) {
        Lookup::Found(s) => {
            let set = set_at(&l, s);
            ctx.out.set(set.len());
            for m in set.iter() {
                ctx.out.bulk(&m);
            }
        }
        Lookup::Missing => ctx.out.set(0),
        Lookup::WrongType => {}
    }
}

/// `SISMEMBER key member`
pub fn sismember(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    match lookup(ctx, &mut l, args[1], true, is::set) {
        Lookup::Found(s) => ctx.out.int(i64::from(set_at(&l, s).contains(args[2]))),
        Lookup::Missing => ctx.out.int(0),
        Lookup::WrongType => {}
    }
}

/// `SMISMEMBER key member [member ...]`
pub fn smismember(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    let set = match lookup(ctx, &mut l, args[1], true, is::set) {
        Lookup::Found(s) => Some(set_at(&l, s)),
        Lookup::Missing => None,
        Lookup::WrongType => return,
    };
    ctx.out.array(args.len() - 2);
    for m in &args[2..] {
        ctx.out.int(i64::from(set.is_some_and(|s| s.contains(m))));
    }
}

/// `SCARD key`
pub fn scard(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    match lookup(ctx, &mut l, args[1], true, is::set) {
        Lookup::Found(s) => ctx.out.int(set_at(&l, s).len() as i64),
        Lookup::Missing => ctx.out.int(0),
        Lookup::WrongType => {}
    }
}

/// `SPOP key [count]`
pub fn spop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if args.len() > 3 {
        ctx.err(errors::SYNTAX);
        return;
    }
    let count = match args.get(2) {
        None => None,
        Some(a) => match parse_int(a) {
            None => return ctx.err("ERR value is out of range, must be positive"),
            Some(n) if n < 0 => return ctx.err("ERR value is out of range, must be positive"),
            Some(n) => Some(n as u64),
        },
    };
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::set) {
        Lookup::Found(s) => s,
        Lookup::Missing => {
            match count {
                None => ctx.out.null(),
                Some(_) => ctx.out.set(0),
            }
            return;
        }
        Lookup::WrongType => return,
    };
    let mut rng = rand::thread_rng();
    let set = set_at(&l, s);
    let want = count.unwrap_or(1).min(set.len() as u64) as usize;
    // A few members of a large set are popped one random pick at a time (O(count), as
    // Redis's SPOP_MOVE_STRATEGY_MUL case); a large share in one pass over the set.
    let picked: Vec<Vec<u8>> = if want.saturating_mul(5) < set.len() {
        let set = set_mut(&mut l, s);
        let mut picked = Vec::with_capacity(want);
        for _ in 0..want {
            let Some(m) = set.random(&mut rng).map(|m| m.into_owned()) else {
                break;
            };
            set.remove(&m);
            picked.push(m);
        }
        picked
    } else {
        let picked: Vec<Vec<u8>> = sample_distinct(
            set.len(),
            want,
            &mut rng,
            || set.iter(),
            |r| set.random(r),
            |m| m.as_ref(),
        )
        .into_iter()
        .map(|m| m.into_owned())
        .collect();
        let set = set_mut(&mut l, s);
        for m in &picked {
            set.remove(m);
        }
        picked
    };
    let refs: Vec<&[u8]> = picked.iter().map(|m| m.as_slice()).collect();
    log_srem(&mut l, db, key, &refs);
    remove_if_empty(&mut l, s);
    match count {
        None => match picked.first() {
            Some(m) => ctx.out.bulk(m),
            None => ctx.out.null(),
        },
        Some(_) => {
            ctx.out.set(picked.len());
            for m in &picked {
                ctx.out.bulk(m);
            }
        }
    }
}

/// `SRANDMEMBER key [count]`
pub fn srandmember(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if args.len() > 3 {
        ctx.err(errors::SYNTAX);
        return;
    }
    let count = match args.get(2) {
        None => None,
        Some(a) => {
            let Some(c) = super::parse_ranged(ctx, a, -i64::MAX, i64::MAX) else {
                return;
            };
            if c < 0 && c.unsigned_abs() > super::MAX_RANDOM_REPEATS {
                return ctx.err("ERR value is out of range");
            }
            Some(c)
        }
    };
    let mut l = ctx.lock(&[args[1]]);
    let set = match lookup(ctx, &mut l, args[1], true, is::set) {
        Lookup::Found(s) => set_at(&l, s),
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
    match count {
        None => match set.random(&mut rng) {
            Some(m) => ctx.out.bulk(&m),
            None => ctx.out.null(),
        },
        Some(c) if c < 0 => {
            ctx.out.array(c.unsigned_abs() as usize);
            for _ in 0..c.unsigned_abs() {
                if let Some(m) = set.random(&mut rng) {
                    ctx.out.bulk(&m);
                }
            }
        }
        Some(c) => {
            let n = c as usize;
            let picked = sample_distinct(
                set.len(),
                n,
                &mut rng,
                || set.iter(),
                |r| set.random(r),
                |m| m.as_ref(),
            );
            ctx.out.array(picked.len());
            for m in &picked {
                ctx.out.bulk(m);
            }
        }
    }
}

/// `SMOVE source destination member`
pub fn smove(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (src, dst, member, db) = (args[1], args[2], args[3], ctx.db);
    let mut l = ctx.lock(&[src, dst]);
    let s = match l.find(db, src) {
        None => return ctx.out.int(0),
        Some(s) => s,
    };
    let d = l.find(db, dst);
    if !is::set(&l.entry(s).value) || d.is_some_and(|d| !is::set(&l.entry(d).value)) {
        return ctx.err(errors::WRONGTYPE);
    }
    if src == dst {
        return ctx.out.int(i64::from(set_at(&l, s).contains(member)));
    }
    if !set_mut(&mut l, s).remove(member) {
        return ctx.out.int(0);
    }
    log_srem(&mut l, db, src, &[member]);
    remove_if_empty(&mut l, s);
    let d = match l.find(db, dst) {
        Some(d) => d,
        None => l.set(
            db,
            dst,
            Value::Set(Box::new(Set::for_member(member))),
            Ttl::Clear,
        ),
    };
    if set_mut(&mut l, d).add(member) {
        log_sadd(&mut l, db, dst, &[member]);
    }
    ctx.out.int(1);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Computes an intersection, union or difference of the sets at `keys`; `None` after
/// replying `WRONGTYPE`. Missing keys are empty sets.
fn combine(
    ctx: &mut Ctx<'_, '_>,
    l: &mut Locked<'_>,
    keys: &[&[u8]],
    op: Op,
    limit: usize,
) -> Option<Set> {
    let mut sets: Vec<Option<Slot>> = Vec::with_capacity(keys.len());
    for k in keys {
        match lookup(ctx, l, k, true, is::set) {
            Lookup::Found(s) => sets.push(Some(s)),
            Lookup::Missing => sets.push(None),
            Lookup::WrongType => return None,
        }
    }
    let mut out = Set::default();
    match op {
        Op::Inter => {
            if sets.iter().any(|s| s.is_none()) {
                return Some(out);
            }
            let mut order: Vec<&Set> = sets.iter().flatten().map(|&s| set_at(l, s)).collect();
            order.sort_by_key(|s| s.len());
            if let Some((first, rest)) = order.split_first() {
                for m in first.iter() {
                    if rest.iter().all(|s| s.contains(&m)) {
                        out.add(&m);
                        if limit != 0 && out.len() >= limit {
                            break;
                        }
                    }
                }
            }
        }
        Op::Union => {
            for s in sets.iter().flatten() {
                for m in set_at(l, *s).iter() {
                    out.add(&m);
                }
            }
        }
        Op::Diff => {
            if let Some(Some(first)) = sets.first() {
                let rest: Vec<&Set> = sets[1..].iter().flatten().map(|&s| set_at(l, s)).collect();
                for m in set_at(l, *first).iter() {
                    if !rest.iter().any(|s| s.contains(&m)) {
                        out.add(&m);
                    }
                }
            }
        }
    }
    Some(out)
}

fn combine_reply(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], op: Op) {
    let keys = &args[1..];
    let mut l = ctx.lock(keys);
    let Some(out) = combine(ctx, &mut l, keys, op, 0) else {
        return;
    };
    ctx.out.set(out.len());
    for m in out.iter() {
        ctx.out.bulk(&m);
    }
}

fn combine_store(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], op: Op) {
    let (dst, keys, db) = (args[1], &args[2..], ctx.db);
    let mut l = ctx.lock(&args[1..]);
    let Some(out) = combine(ctx, &mut l, keys, op, 0) else {
        return;
    };
    let n = out.len();
    store(
        &mut l,
        db,
        dst,
        if n == 0 {
            None
        } else {
            Some(Value::Set(Box::new(out)))
        },
    );
    ctx.out.int(n as i64);
}

/// Stores the result of a `*STORE` command (deleting `dst` when it is empty), logging it
/// as a whole value.
pub fn store(l: &mut Locked<'_>, db: usize, dst: &[u8], v: Option<Value>) {
    match v {
        None => {
            if l.delete(db, dst).is_some() {
                l.log(LogEntry::Del {
                    db: db as u32,
                    key: dst,
                });
            }
        }
        Some(v) => {
            // The encoding is only needed by the log.
            let mut bytes = Vec::new();
            if l.logging() {
                encode_value(&v, &mut bytes);
            }
            l.set(db, dst, v, Ttl::Clear);
            l.log(LogEntry::Restore {
                db: db as u32,
                key: dst,
                value: &bytes,
                ttl: Ttl::Clear,
            });
        }
    }
}

/// `SINTER key [key ...]`
pub fn sinter(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    combine_reply(ctx, args, Op::Inter);
}

/// `SUNION key [key ...]`
pub fn sunion(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    combine_reply(ctx, args, Op::Union);
}

/// `SDIFF key [key ...]`
pub fn sdiff(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    combine_reply(ctx, args, Op::Diff);
}

/// `SINTERSTORE destination key [key ...]`
pub fn sinterstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    combine_store(ctx, args, Op::Inter);
}

/// `SUNIONSTORE destination key [key ...]`
pub fn sunionstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    combine_store(ctx, args, Op::Union);
}

/// `SDIFFSTORE destination key [key ...]`
pub fn sdiffstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    combine_store(ctx, args, Op::Diff);
}

/// Parses `numkeys key [key ...]` starting at `args[at]`, replying Redis's errors;
/// returns the keys.
pub fn numkeys<'a>(ctx: &mut Ctx<'_, '_>, args: &[&'a [u8]], at: usize) -> Option<Vec<&'a [u8]>> {
    // Redis reads numkeys with a message of its own for every failure.
    let n = match parse_int(args[at]) {
        None => {
            ctx.err("ERR numkeys should be greater than 0");
            return None;
        }
        Some(n) if n <= 0 => {
            ctx.err("ERR numkeys should be greater than 0");
            return None;
        }
        Some(n) => n as u64,
    };
    if n > (args.len() - at - 1) as u64 {
        ctx.err("ERR Number of keys can't be greater than number of args");
        return None;
    }
    Some(args[at + 1..at + 1 + n as usize].to_vec())
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`
pub fn sintercard(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(keys) = numkeys(ctx, args, 1) else {
        return;
    };
    let Some(limit) = super::parse_limit(ctx, args, 2 + keys.len()) else {
        return;
    };
    let mut l = ctx.lock(&keys);
    if let Some(out) = combine(ctx, &mut l, &keys, Op::Inter, limit) {
        ctx.out.int(out.len() as i64);
    }
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`
pub fn sscan(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some((cursor, count, pattern)) = parse_scan_args(ctx, args) else {
        return;
    };
    let mut l = ctx.lock(&[args[1]]);
    let s = match lookup(ctx, &mut l, args[1], true, is::set) {
        Lookup::Found(s) => s,
        Lookup::Missing => return super::reply_scan(ctx, 0, &[]),
        Lookup::WrongType => return,
    };
    let mut items = Vec::new();
    let next = set_at(&l, s).scan(cursor, count, |m| {
        if pattern.is_none_or(|p| glob_match(p, m, false)) {
            items.push(m.to_vec());
        }
    });
    super::reply_scan(ctx, next, &items);
}
