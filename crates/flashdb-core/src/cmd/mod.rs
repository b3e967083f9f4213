//! Command implementations, one module per family (as Redis's `t_string.c`, `db.c`,
//! `expire.c`): each parses its arguments, works on the keyspace, writes the reply and
//! describes its effect for the log.

pub mod bitmap;
pub mod command;
pub mod db;
pub mod dump;
pub mod expire;
pub mod geo;
pub mod hash;
pub mod hyperloglog;
pub mod keys;
pub mod list;
pub mod queue;
pub mod set;
pub mod sort;
pub mod stream;
pub mod stream_group;
pub mod string;
pub mod zset;

use crate::keyspace::Locked;
use crate::value::Value;

/// Case-insensitive comparison of an argument with a lowercase keyword.
pub fn eq_ic(arg: &[u8], keyword: &[u8]) -> bool {
    arg.eq_ignore_ascii_case(keyword)
}

/// What a lookup of a string key found.
pub enum Found<'a> {
    /// No such key.
    Missing,
    /// The key holds another type.
    WrongType,
    /// The string's bytes.
    Str(&'a [u8]),
}

/// Looks up a string key; `read` counts a keyspace hit or miss and touches the key.
pub fn string_value<'l>(l: &'l mut Locked<'_>, db: usize, key: &[u8], read: bool) -> Found<'l> {
    let slot = if read {
        l.find_read(db, key)
    } else {
        l.find(db, key)
    };
    match slot {
        None => Found::Missing,
        Some(s) => match &l.entry(s).value {
            Value::Str(v) => Found::Str(v.as_slice()),
            _ => Found::WrongType,
        },
    }
}

/// Most elements a negative `count` of `SRANDMEMBER`, `HRANDFIELD` or `ZRANDMEMBER` may
/// ask for (Redis has no limit, and `-9223372036854775807` makes it build an endless
/// reply); beyond it the count is refused as out of range.
pub const MAX_RANDOM_REPEATS: u64 = 1 << 24;

/// The error of a helper that has already replied to the client (with `WRONGTYPE` or a
/// syntax error): the command only has to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replied;

/// What a typed lookup found.
pub enum Lookup {
    /// No such key.
    Missing,
    /// The key holds another type (`WRONGTYPE` has been replied).
    WrongType,
    /// The key, of the wanted type.
    Found(crate::keyspace::Slot),
}

/// Finds `key` and checks its type with `is`; replies `WRONGTYPE` on a mismatch. `read`
/// counts a hit or miss and touches the key.
pub fn lookup(
    ctx: &mut crate::ctx::Ctx<'_, '_>,
    l: &mut Locked<'_>,
    key: &[u8],
    read: bool,
    is: fn(&Value) -> bool,
) -> Lookup {
    let db = ctx.db;
    let found = if read {
        l.find_read(db, key)
    } else {
        l.find(db, key)
    };
    match found {
        None => Lookup::Missing,
        Some(s) if is(&l.entry(s).value) => Lookup::Found(s),
        Some(_) => {
            ctx.err(crate::ctx::errors::WRONGTYPE);
            Lookup::WrongType
        }
    }
}

/// Like [`lookup`], but creates the key with `make()` when missing; `None` after replying
/// `WRONGTYPE`.
pub fn lookup_or_create(
    ctx: &mut crate::ctx::Ctx<'_, '_>,
    l: &mut Locked<'_>,
    key: &[u8],
    is: fn(&Value) -> bool,
    make: impl FnOnce() -> Value,
) -> Option<crate::keyspace::Slot> {
    match lookup(ctx, l, key, false, is) {
        Lookup::Found(s) => Some(s),
        Lookup::WrongType => None,
        Lookup::Missing => Some(l.set(ctx.db, key, make(), crate::keyspace::Ttl::Clear)),
    }
}

/// Deletes the key behind `s` if its collection is now empty (Redis never keeps an empty
/// collection); returns whether it did.
pub fn remove_if_empty(l: &mut Locked<'_>, s: crate::keyspace::Slot) -> bool {
    if crate::replay::collection_len(&l.entry(s).value) == Some(0) {
        let e = l.remove(s);
        l.notify(crate::notify::GENERIC, "del", s.db(), e.key.as_slice());
        true
    } else {
        false
    }
}

/// Whether a value arriving under a key (`RENAME`, `MOVE`, `COPY`) can serve clients
/// blocked on it: a list, a sorted set or a queue.
pub fn wakes_blocked(v: &Value) -> bool {
    matches!(
        v,
        Value::List(_) | Value::ZSet(_) | Value::Queue(_) | Value::Stream(_)
    )
}

/// Type tests for [`lookup`].
pub mod is {
    use crate::value::Value;
    /// A hash.
    pub fn hash(v: &Value) -> bool {
        matches!(v, Value::Hash(_))
    }
    /// A list.
    pub fn list(v: &Value) -> bool {
        matches!(v, Value::List(_))
    }
    /// A set.
    pub fn set(v: &Value) -> bool {
        matches!(v, Value::Set(_))
    }
    /// A sorted set.
    pub fn zset(v: &Value) -> bool {
        matches!(v, Value::ZSet(_))
    }
    /// A stream.
    pub fn stream(v: &Value) -> bool {
        matches!(v, Value::Stream(_))
    }
    /// A work queue.
    pub fn queue(v: &Value) -> bool {
        matches!(v, Value::Queue(_))
    }
}

/// Parses a `count`-style argument as Redis's `getRangeLongFromObjectOrReply` with the
/// range `min..=max`, replying its errors (the wording, typo included, is Redis's).
pub fn parse_ranged(
    ctx: &mut crate::ctx::Ctx<'_, '_>,
    arg: &[u8],
    min: i64,
    max: i64,
) -> Option<i64> {
    match crate::numeric::parse_int(arg) {
        None => {
            ctx.err(crate::ctx::errors::NOT_INT);
            None
        }
        Some(v) if v < min || v > max => {
            ctx.err(&format!(
                "ERR value is out of range, value must between {min} and {max}"
            ));
            None
        }
        Some(v) => Some(v),
    }
}

/// Parses a cursor and the `MATCH`/`COUNT` options of `HSCAN`, `SSCAN` and `ZSCAN`.
pub fn parse_scan_args<'a>(
    ctx: &mut crate::ctx::Ctx<'_, '_>,
    args: &[&'a [u8]],
) -> Option<(u64, usize, Option<&'a [u8]>)> {
    let Some(cursor) = std::str::from_utf8(args[2])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        ctx.err("ERR invalid cursor");
        return None;
    };
    let mut count = 10usize;
    let mut pattern = None;
    let mut i = 3;
    while i < args.len() {
        if eq_ic(args[i], b"count") && i + 1 < args.len() {
            match crate::numeric::parse_int(args[i + 1]) {
                None => {
                    ctx.err(crate::ctx::errors::NOT_INT);
                    return None;
                }
                Some(n) if n < 1 => {
                    ctx.err(crate::ctx::errors::SYNTAX);
                    return None;
                }
                Some(n) => count = n.min(1 << 20) as usize,
            }
            i += 2;
        } else if eq_ic(args[i], b"match") && i + 1 < args.len() {
            pattern = Some(args[i + 1]).filter(|p| *p != b"*");
            i += 2;
        } else {
            ctx.err(crate::ctx::errors::SYNTAX);
            return None;
        }
    }
    Some((cursor, count, pattern))
}

/// Replies `[cursor, [items...]]` for a collection scan.
pub fn reply_scan(ctx: &mut crate::ctx::Ctx<'_, '_>, next: u64, items: &[Vec<u8>]) {
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(items.len());
    for i in items {
        ctx.out.bulk(i);
    }
}

/// Parses `numkeys key [key ...] <A | B> [COUNT count]` from `args[at]` (numkeys) on, as
/// `LMPOP` (`LEFT`/`RIGHT`) and `ZMPOP` (`MIN`/`MAX`) share it, replying Redis's errors.
/// Returns the keys, whether the second keyword was given, and the count (default 1).
pub fn parse_mpop_args<'a>(
    ctx: &mut crate::ctx::Ctx<'_, '_>,
    args: &[&'a [u8]],
    at: usize,
    keywords: [&[u8]; 2],
) -> Option<(Vec<&'a [u8]>, bool, usize)> {
    use crate::ctx::errors;
    let n = match crate::numeric::parse_int(args[at]) {
        Some(n) if n > 0 => n as u64,
        _ => {
            ctx.err("ERR numkeys should be greater than 0");
            return None;
        }
    };
    if n >= (args.len() - at - 1) as u64 {
        ctx.err(errors::SYNTAX);
        return None;
    }
    let keys = args[at + 1..at + 1 + n as usize].to_vec();
    let mut i = at + 1 + keys.len();
    let second = if eq_ic(args[i], keywords[0]) {
        false
    } else if eq_ic(args[i], keywords[1]) {
        true
    } else {
        ctx.err(errors::SYNTAX);
        return None;
    };
    i += 1;
    let mut count = None;
    while i < args.len() {
        if eq_ic(args[i], b"count") && i + 1 < args.len() && count.is_none() {
            match crate::numeric::parse_int(args[i + 1]) {
                Some(c) if c > 0 => count = Some(c as usize),
                _ => {
                    ctx.err("ERR count should be greater than 0");
                    return None;
                }
            }
            i += 2;
        } else {
            ctx.err(errors::SYNTAX);
            return None;
        }
    }
    Some((keys, second, count.unwrap_or(1)))
}

/// Parses the optional `LIMIT limit` of `SINTERCARD`/`ZINTERCARD` from `args[from]` on
/// (0, no limit, when absent), replying Redis's errors.
pub fn parse_limit(
    ctx: &mut crate::ctx::Ctx<'_, '_>,
    args: &[&[u8]],
    from: usize,
) -> Option<usize> {
    use crate::ctx::errors;
    let mut limit = 0usize;
    let mut i = from;
    while i < args.len() {
        if eq_ic(args[i], b"limit") && i + 1 < args.len() {
            match crate::numeric::parse_int(args[i + 1]) {
                None => {
                    ctx.err(errors::NOT_INT);
                    return None;
                }
                Some(n) if n < 0 => {
                    ctx.err("ERR LIMIT can't be negative");
                    return None;
                }
                Some(n) => limit = n as usize,
            }
            i += 2;
        } else {
            ctx.err(errors::SYNTAX);
            return None;
        }
    }
    Some(limit)
}

/// Parks the client on `keys` until `deadline` (see [`crate::ctx::Ctx::block`]).
pub fn block_on(ctx: &mut crate::ctx::Ctx<'_, '_>, keys: &[&[u8]], deadline_ms: u64) {
    block_on_with(
        ctx,
        keys,
        deadline_ms,
        0,
        crate::ctx::TimeoutReply::NullArray,
    );
}

/// [`block_on`], also running the command again at `retry_at_ms` (0: never) and
/// answering `timeout` when the deadline passes.
pub fn block_on_with(
    ctx: &mut crate::ctx::Ctx<'_, '_>,
    keys: &[&[u8]],
    deadline_ms: u64,
    retry_at_ms: u64,
    timeout: crate::ctx::TimeoutReply,
) {
    ctx.block = Some(crate::ctx::BlockOn {
        keys: keys.iter().map(|k| k.to_vec()).collect(),
        deadline_ms,
        retry_at_ms,
        timeout,
        args: None,
    });
}

/// Up to `count` distinct elements, chosen uniformly, of a collection of `len` elements
/// whose element `T` is told apart by `key`. The whole collection when `count >= len`;
/// repeated random picks when `count` is small against `len` (as Redis's
/// `SRANDMEMBER` case 4), so that the cost follows `count`; otherwise one reservoir pass.
pub fn sample_distinct<T, I: Iterator<Item = T>, R: rand::Rng>(
    len: usize,
    count: usize,
    rng: &mut R,
    iter: impl FnOnce() -> I,
    mut random: impl FnMut(&mut R) -> Option<T>,
    key: impl Fn(&T) -> &[u8],
) -> Vec<T> {
    if count >= len {
        return iter().collect();
    }
    if count.saturating_mul(3) < len {
        let mut seen = std::collections::HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let Some(item) = random(rng) else { break };
            if seen.insert(key(&item).to_vec()) {
                out.push(item);
            }
        }
        return out;
    }
    let mut out: Vec<T> = Vec::with_capacity(count);
    for (i, item) in iter().enumerate() {
        if i < count {
            out.push(item);
        } else {
            let j = rng.gen_range(0..=i);
            if j < count {
                out[j] = item;
            }
        }
    }
    out
}
