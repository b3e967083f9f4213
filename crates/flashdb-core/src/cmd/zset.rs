//! Sorted-set commands, as Redis's `t_zset.c`.

use std::borrow::Cow;

use flashdb_protocol::ProtocolVersion;

use super::sample_distinct;
use super::{eq_ic, is, lookup, parse_scan_args, remove_if_empty, Lookup, Replied};
use crate::ctx::{errors, Ctx};
use crate::glob::glob_match;
use crate::keyspace::{Locked, Slot, Ttl};
use crate::log_entry::LogEntry;
use crate::numeric::{parse_float, parse_int};
use crate::types::zset::ZSet;
use crate::value::Value;

fn zset_at<'l>(l: &'l Locked<'_>, s: Slot) -> &'l ZSet {
    match &l.entry(s).value {
        Value::ZSet(v) => v,
        _ => unreachable!("slot checked to hold a sorted set"),
    }
}

fn zset_mut<'l>(l: &'l mut Locked<'_>, s: Slot) -> &'l mut ZSet {
    match &mut l.entry_mut(s).value {
        Value::ZSet(v) => v,
        _ => unreachable!("slot checked to hold a sorted set"),
    }
}

fn log_zadd(l: &mut Locked<'_>, db: usize, key: &[u8], pairs: &[(f64, &[u8])]) {
    if !pairs.is_empty() {
        l.log(LogEntry::ZAdd {
            db: db as u32,
            key,
            pairs: Cow::Borrowed(pairs),
        });
    }
}

fn log_zrem(l: &mut Locked<'_>, db: usize, key: &[u8], items: &[&[u8]]) {
    if !items.is_empty() {
        l.log(LogEntry::ZRem {
            db: db as u32,
            key,
            items: Cow::Borrowed(items),
        });
    }
}

fn resp3(ctx: &Ctx<'_, '_>) -> bool {
    ctx.out.version() == ProtocolVersion::Resp3
}

/// Replies members (with scores: flat pairs in RESP2, `[member, score]` arrays in RESP3).
fn reply_members(ctx: &mut Ctx<'_, '_>, items: &[(Vec<u8>, f64)], withscores: bool) {
    let nested = withscores && resp3(ctx);
    if withscores && !nested {
        ctx.out.array(items.len() * 2);
    } else {
        ctx.out.array(items.len());
    }
    for (m, s) in items {
        if nested {
            ctx.out.array(2);
        }
        ctx.out.bulk(m);
        if withscores {
            ctx.out.double(*s);
        }
    }
}

/// `ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]`
pub fn zadd(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while i < args.len() {
        let a = args[i];
        if eq_ic(a, b"nx") {
            nx = true;
        } else if eq_ic(a, b"xx") {
            xx = true;
        } else if eq_ic(a, b"gt") {
            gt = true;
        } else if eq_ic(a, b"lt") {
            lt = true;
        } else if eq_ic(a, b"ch") {
            ch = true;
        } else if eq_ic(a, b"incr") {
            incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let elements = args.len() - i;
    if elements % 2 == 1 || elements == 0 {
        return ctx.err(errors::SYNTAX);
    }
    if nx && xx {
        return ctx.err("ERR XX and NX options at the same time are not compatible");
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return ctx.err("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && elements > 2 {
        return ctx.err("ERR INCR option supports a single increment-element pair");
    }
    let mut pairs: Vec<(f64, &[u8])> = Vec::with_capacity(elements / 2);
    for p in args[i..].chunks_exact(2) {
        let Some(score) = parse_float(p[0]) else {
            return ctx.err(errors::NOT_FLOAT);
        };
        pairs.push((score, p[1]));
    }
    zadd_generic(
        ctx,
        args[1],
        &pairs,
        Flags {
            nx,
            xx,
            gt,
            lt,
            ch,
            incr,
        },
    );
}

#[derive(Clone, Copy)]
struct Flags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

fn zadd_generic(ctx: &mut Ctx<'_, '_>, key: &[u8], pairs: &[(f64, &[u8])], f: Flags) {
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    if f.incr {
        // `ZADD ... INCR` is announced as `ZINCRBY` is.
        l.cmd = "zincrby";
    }
    let s = match lookup(ctx, &mut l, key, false, is::zset) {
        Lookup::Found(s) => s,
        Lookup::Missing if f.xx => {
            return if f.incr {
                ctx.out.null()
            } else {
                ctx.out.int(0)
            };
        }
        Lookup::Missing => l.set(db, key, Value::ZSet(Box::default()), Ttl::Clear),
        Lookup::WrongType => return,
    };
    let z = zset_mut(&mut l, s);
    let (mut added, mut updated) = (0i64, 0i64);
    let mut done: Vec<(f64, &[u8])> = Vec::with_capacity(pairs.len());
    let mut incr_result = None;
    let mut nan = false;
    for &(score, m) in pairs {
        match z.score(m) {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                let new = if f.incr { cur + score } else { score };
                if new.is_nan() {
                    nan = true;
                    break;
                }
                if (f.lt && new >= cur) || (f.gt && new <= cur) {
                    continue;
                }
                incr_result = Some(new);
                if new != cur {
                    z.set(m, new);
                    updated += 1;
                    done.push((new, m));
                }
            }
            None => {
                if f.xx {
                    continue;
                }
                z.set(m, score);
                added += 1;
                incr_result = Some(score);
                done.push((score, m));
            }
        }
    }
    log_zadd(&mut l, db, key, &done);
    if !done.is_empty() {
        l.signal_ready(db, key);
    }
    remove_if_empty(&mut l, s);
    if nan {
        return ctx.err("ERR resulting score is not a number (NaN)");
    }
    if f.incr {
        match incr_result {
            Some(v) => ctx.out.double(v),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(if f.ch { added + updated } else { added });
    }
}

/// `ZINCRBY key increment member`
pub fn zincrby(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(score) = parse_float(args[2]) else {
        return ctx.err(errors::NOT_FLOAT);
    };
    let f = Flags {
        nx: false,
        xx: false,
        gt: false,
        lt: false,
        ch: false,
        incr: true,
    };
    zadd_generic(ctx, args[1], &[(score, args[3])], f);
}

/// `ZREM key member [member ...]`
pub fn zrem(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::zset) {
        Lookup::Found(s) => s,
        Lookup::Missing => return ctx.out.int(0),
        Lookup::WrongType => return,
    };
    let z = zset_mut(&mut l, s);
    let removed: Vec<&[u8]> = args[2..].iter().copied().filter(|m| z.remove(m)).collect();
    log_zrem(&mut l, db, key, &removed);
    remove_if_empty(&mut l, s);
    ctx.out.int(removed.len() as i64);
}

/// Runs `f` on the sorted set at `key` for reading: `None` (and the given empty reply) when
/// missing.
fn read<'l>(
    ctx: &mut Ctx<'_, '_>,
    l: &'l mut Locked<'_>,
    key: &[u8],
) -> Result<Option<&'l ZSet>, Replied> {
    match lookup(ctx, l, key, true, is::zset) {
        Lookup::Found(s) => Ok(Some(zset_at(l, s))),
        Lookup::Missing => Ok(None),
        Lookup::WrongType => Err(Replied),
    }
}

/// `ZCARD key`
pub fn zcard(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    if let Ok(z) = read(ctx, &mut l, args[1]) {
        ctx.out.int(z.map_or(0, |z| z.len()) as i64);
    }
}

/// `ZSCORE key member`
pub fn zscore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    if let Ok(z) = read(ctx, &mut l, args[1]) {
        match z.and_then(|z| z.score(args[2])) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
}

/// `ZMSCORE key member [member ...]`
pub fn zmscore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    if let Ok(z) = read(ctx, &mut l, args[1]) {
        ctx.out.array(args.len() - 2);
        for m in &args[2..] {
            match z.and_then(|z| z.score(m)) {
                Some(s) => ctx.out.double(s),
                None => ctx.out.null(),
            }
        }
    }
}

fn rank(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], rev: bool) {
    let withscore = match args.len() {
        3 => false,
        4 if eq_ic(args[3], b"withscore") => true,
        _ => return ctx.err(errors::SYNTAX),
    };
    let mut l = ctx.lock(&[args[1]]);
    let Ok(z) = read(ctx, &mut l, args[1]) else {
        return;
    };
    let found = z.and_then(|z| {
        let r = z.rank(args[2])?;
        let score = z.score(args[2])?;
        Some((if rev { z.len() - 1 - r } else { r }, score))
    });
    match (found, withscore) {
        (None, false) => ctx.out.null(),
        (None, true) => ctx.out.null_array(),
        (Some((r, _)), false) => ctx.out.int(r as i64),
        (Some((r, s)), true) => {
            ctx.out.array(2);
            ctx.out.int(r as i64);
            ctx.out.double(s);
        }
    }
}

/// `ZRANK key member [WITHSCORE]`
pub fn zrank(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    rank(ctx, args, false);
}

/// `ZREVRANK key member [WITHSCORE]`
pub fn zrevrank(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    rank(ctx, args, true);
}

/// A score bound: the value and whether it is exclusive.
#[derive(Clone, Copy)]
struct ScoreBound(f64, bool);

fn parse_score_bound(a: &[u8]) -> Option<ScoreBound> {
    match a.strip_prefix(b"(") {
        Some(rest) => parse_float(rest).map(|v| ScoreBound(v, true)),
        None => parse_float(a).map(|v| ScoreBound(v, false)),
    }
}

/// A lex bound.
#[derive(Clone)]
enum LexBound {
    NegInf,
    PosInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

fn parse_lex_bound(a: &[u8]) -> Option<LexBound> {
    match a.first() {
        Some(b'-') if a.len() == 1 => Some(LexBound::NegInf),
        Some(b'+') if a.len() == 1 => Some(LexBound::PosInf),
        Some(b'[') => Some(LexBound::Incl(a[1..].to_vec())),
        Some(b'(') => Some(LexBound::Excl(a[1..].to_vec())),
        _ => None,
    }
}

/// A range of ranks `[start, end)` selected by a range specification.
enum Range {
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

impl Range {
    /// The ascending rank interval `[a, b)` of the elements inside.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let (a, b) = match self {
            Range::Score(min, max) => {
                let (min, max) = (*min, *max);
                (
                    z.first_rank_where(|s, _| if min.1 { s > min.0 } else { s >= min.0 }),
                    z.end_rank_where(|s, _| if max.1 { s < max.0 } else { s <= max.0 }),
                )
            }
            Range::Lex(min, max) => (
                z.first_rank_where(|_, m| match min {
                    LexBound::NegInf => true,
                    LexBound::PosInf => false,
                    LexBound::Incl(v) => m >= v.as_slice(),
                    LexBound::Excl(v) => m > v.as_slice(),
                }),
                z.end_rank_where(|_, m| match max {
                    LexBound::NegInf => false,
                    LexBound::PosInf => true,
                    LexBound::Incl(v) => m <= v.as_slice(),
                    LexBound::Excl(v) => m < v.as_slice(),
                }),
            ),
        };
        (a, b.max(a))
    }
}

fn parse_range(ctx: &mut Ctx<'_, '_>, min: &[u8], max: &[u8], lex: bool) -> Option<Range> {
    if lex {
        match (parse_lex_bound(min), parse_lex_bound(max)) {
            (Some(a), Some(b)) => Some(Range::Lex(a, b)),
            _ => {
                ctx.err("ERR min or max not valid string range item");
                None
            }
        }
    } else {
        match (parse_score_bound(min), parse_score_bound(max)) {
            (Some(a), Some(b)) => Some(Range::Score(a, b)),
            _ => {
                ctx.err("ERR min or max is not a float");
                None
            }
        }
    }
}

fn count_range(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], lex: bool) {
    let Some(range) = parse_range(ctx, args[2], args[3], lex) else {
        return;
    };
    let mut l = ctx.lock(&[args[1]]);
    if let Ok(z) = read(ctx, &mut l, args[1]) {
        let n = z.map_or(0, |z| {
            let (a, b) = range.ranks(z);
            b - a
        });
        ctx.out.int(n as i64);
    }
}

/// `ZCOUNT key min max`
pub fn zcount(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    count_range(ctx, args, false);
}

/// `ZLEXCOUNT key min max`
pub fn zlexcount(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    count_range(ctx, args, true);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// A parsed `ZRANGE`-family request.
struct RangeReq<'a> {
    by: By,
    rev: bool,
    min: &'a [u8],
    max: &'a [u8],
    limit: Option<(i64, i64)>,
    withscores: bool,
}

/// Selects the members of a range request, in reply order.
fn select(ctx: &mut Ctx<'_, '_>, z: &ZSet, req: &RangeReq<'_>) -> Option<Vec<(Vec<u8>, f64)>> {
    let len = z.len() as i64;
    let (a, b) = match req.by {
        By::Rank => {
            let (Some(mut start), Some(mut end)) = (parse_int(req.min), parse_int(req.max)) else {
                ctx.err(errors::NOT_INT);
                return None;
            };
            if start < 0 {
                start += len;
            }
            if end < 0 {
                end += len;
            }
            if start < 0 {
                start = 0;
            }
            if start > end || start >= len {
                return Some(Vec::new());
            }
            if end >= len {
                end = len - 1;
            }
            if req.rev {
                ((len - 1 - end) as usize, (len - start) as usize)
            } else {
                (start as usize, (end + 1) as usize)
            }
        }
        By::Score | By::Lex => {
            // With REV the arguments come as max then min.
            let (min, max) = if req.rev {
                (req.max, req.min)
            } else {
                (req.min, req.max)
            };
            let range = parse_range(ctx, min, max, req.by == By::Lex)?;
            range.ranks(z)
        }
    };
    let mut out = Vec::new();
    if a >= b {
        return Some(out);
    }
    let (mut a, mut b) = (a, b - 1);
    if let Some((offset, count)) = req.limit {
        if offset < 0 {
            return Some(out);
        }
        let offset = offset as u64;
        let span = (b - a + 1) as u64;
        if offset >= span {
            return Some(out);
        }
        let take = if count < 0 {
            span - offset
        } else {
            (count as u64).min(span - offset)
        };
        if take == 0 {
            return Some(out);
        }
        if req.rev {
            b -= offset as usize;
            a = b + 1 - take as usize;
        } else {
            a += offset as usize;
            b = a + take as usize - 1;
        }
    }
    z.walk(a, b, req.rev, |m, s| out.push((m.to_vec(), s)));
    Some(out)
}

/// Parses the options of `ZRANGE`/`ZRANGESTORE` from `args[from]` on.
fn parse_range_opts<'a>(
    ctx: &mut Ctx<'_, '_>,
    args: &[&'a [u8]],
    from: usize,
    min: &'a [u8],
    max: &'a [u8],
    store: bool,
) -> Option<RangeReq<'a>> {
    let mut req = RangeReq {
        by: By::Rank,
        rev: false,
        min,
        max,
        limit: None,
        withscores: false,
    };
    let mut i = from;
    while i < args.len() {
        let a = args[i];
        if !store && eq_ic(a, b"withscores") {
            req.withscores = true;
        } else if eq_ic(a, b"limit") && i + 2 < args.len() {
            let (Some(o), Some(c)) = (parse_int(args[i + 1]), parse_int(args[i + 2])) else {
                ctx.err(errors::NOT_INT);
                return None;
            };
            req.limit = Some((o, c));
            i += 2;
        } else if eq_ic(a, b"rev") {
            req.rev = true;
        } else if eq_ic(a, b"byscore") && req.by == By::Rank {
            req.by = By::Score;
        } else if eq_ic(a, b"bylex") && req.by == By::Rank {
            req.by = By::Lex;
        } else {
            ctx.err(errors::SYNTAX);
            return None;
        }
        i += 1;
    }
    if req.limit.is_some() && req.by == By::Rank {
        ctx.err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
        return None;
    }
    if req.withscores && req.by == By::Lex {
        ctx.err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        return None;
    }
    Some(req)
}

fn range_reply(ctx: &mut Ctx<'_, '_>, key: &[u8], req: RangeReq<'_>) {
    let mut l = ctx.lock(&[key]);
    let Ok(z) = read(ctx, &mut l, key) else {
        return;
    };
    let empty = ZSet::default();
    let z = z.unwrap_or(&empty);
    if let Some(items) = select(ctx, z, &req) {
        reply_members(ctx, &items, req.withscores);
    }
}

/// `ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`
pub fn zrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if let Some(req) = parse_range_opts(ctx, args, 4, args[2], args[3], false) {
        range_reply(ctx, args[1], req);
    }
}

/// The legacy range commands: fixed kind and direction, `WITHSCORES` and `LIMIT` options.
fn legacy_range(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], by: By, rev: bool) {
    let mut req = RangeReq {
        by,
        rev,
        min: args[2],
        max: args[3],
        limit: None,
        withscores: false,
    };
    let mut i = 4;
    while i < args.len() {
        if eq_ic(args[i], b"withscores") {
            req.withscores = true;
            i += 1;
        } else if eq_ic(args[i], b"limit") && by != By::Rank && i + 2 < args.len() {
            let (Some(o), Some(c)) = (parse_int(args[i + 1]), parse_int(args[i + 2])) else {
                return ctx.err(errors::NOT_INT);
            };
            req.limit = Some((o, c));
            i += 3;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    if req.withscores && by == By::Lex {
        return ctx.err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    range_reply(ctx, args[1], req);
}

/// `ZREVRANGE key start stop [WITHSCORES]`
pub fn zrevrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    legacy_range(ctx, args, By::Rank, true);
}

/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`
pub fn zrangebyscore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    legacy_range(ctx, args, By::Score, false);
}

/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`
pub fn zrevrangebyscore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    legacy_range(ctx, args, By::Score, true);
}

/// `ZRANGEBYLEX key min max [LIMIT offset count]`
pub fn zrangebylex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    legacy_range(ctx, args, By::Lex, false);
}

/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`
pub fn zrevrangebylex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    legacy_range(ctx, args, By::Lex, true);
}

fn store_zset(l: &mut Locked<'_>, db: usize, dst: &[u8], z: ZSet) -> usize {
    let n = z.len();
    let v = (n > 0).then(|| Value::ZSet(Box::new(z)));
    super::set::store(l, db, dst, v);
    if n > 0 {
        l.signal_ready(db, dst);
    }
    n
}

/// `ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]`
pub fn zrangestore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(req) = parse_range_opts(ctx, args, 5, args[3], args[4], true) else {
        return;
    };
    let (dst, src, db) = (args[1], args[2], ctx.db);
    let mut l = ctx.lock(&[dst, src]);
    let Ok(z) = read(ctx, &mut l, src) else {
        return;
    };
    let empty = ZSet::default();
    let z = z.unwrap_or(&empty);
    let Some(items) = select(ctx, z, &req) else {
        return;
    };
    let mut out = ZSet::default();
    for (m, s) in &items {
        out.set(m, *s);
    }
    let n = store_zset(&mut l, db, dst, out);
    ctx.out.int(n as i64);
}

fn remrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], by: By) {
    let (key, db) = (args[1], ctx.db);
    let req = RangeReq {
        by,
        rev: false,
        min: args[2],
        max: args[3],
        limit: None,
        withscores: false,
    };
    // Arguments are checked before the key, as Redis does.
    if by == By::Rank {
        if parse_int(args[2]).is_none() || parse_int(args[3]).is_none() {
            return ctx.err(errors::NOT_INT);
        }
    } else if parse_range(ctx, args[2], args[3], by == By::Lex).is_none() {
        return;
    }
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::zset) {
        Lookup::Found(s) => s,
        Lookup::Missing => return ctx.out.int(0),
        Lookup::WrongType => return,
    };
    let Some(items) = select(ctx, zset_at(&l, s), &req) else {
        return;
    };
    let z = zset_mut(&mut l, s);
    for (m, _) in &items {
        z.remove(m);
    }
    let refs: Vec<&[u8]> = items.iter().map(|(m, _)| m.as_slice()).collect();
    log_zrem(&mut l, db, key, &refs);
    remove_if_empty(&mut l, s);
    ctx.out.int(items.len() as i64);
}

/// `ZREMRANGEBYRANK key start stop`
pub fn zremrangebyrank(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    remrange(ctx, args, By::Rank);
}

/// `ZREMRANGEBYSCORE key min max`
pub fn zremrangebyscore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    remrange(ctx, args, By::Score);
}

/// `ZREMRANGEBYLEX key min max`
pub fn zremrangebylex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    remrange(ctx, args, By::Lex);
}

/// Pops up to `count` members from the low (`max == false`) or high end; logs and deletes
/// the key when it empties.
fn pop_members(
    l: &mut Locked<'_>,
    s: Slot,
    db: usize,
    key: &[u8],
    max: bool,
    count: usize,
) -> Vec<(Vec<u8>, f64)> {
    let z = zset_mut(l, s);
    let n = count.min(z.len());
    let mut out = Vec::with_capacity(n);
    if n > 0 {
        let len = z.len();
        if max {
            z.walk(len - n, len - 1, true, |m, sc| out.push((m.to_vec(), sc)));
        } else {
            z.walk(0, n - 1, false, |m, sc| out.push((m.to_vec(), sc)));
        }
        for (m, _) in &out {
            z.remove(m);
        }
    }
    let refs: Vec<&[u8]> = out.iter().map(|(m, _)| m.as_slice()).collect();
    // Every pop (ZPOPMIN, BZMPOP ... MAX, ...) is announced as Redis names it.
    l.cmd = if max { "zpopmax" } else { "zpopmin" };
    log_zrem(l, db, key, &refs);
    remove_if_empty(l, s);
    out
}

fn zpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], max: bool) {
    if args.len() > 3 {
        return ctx.err(errors::SYNTAX);
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
    let s = match lookup(ctx, &mut l, key, false, is::zset) {
        Lookup::Found(s) => s,
        Lookup::Missing => return ctx.out.array(0),
        Lookup::WrongType => return,
    };
    let items = pop_members(&mut l, s, db, key, max, count.unwrap_or(1));
    if count.is_some() {
        reply_members(ctx, &items, true);
    } else {
        ctx.out.array(items.len() * 2);
        for (m, sc) in &items {
            ctx.out.bulk(m);
            ctx.out.double(*sc);
        }
    }
}

/// `ZPOPMIN key [count]`
pub fn zpopmin(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zpop(ctx, args, false);
}

/// `ZPOPMAX key [count]`
pub fn zpopmax(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zpop(ctx, args, true);
}

fn bzpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], max: bool) {
    let Some(deadline) = ctx.block_timeout(args[args.len() - 1]) else {
        return;
    };
    let keys = &args[1..args.len() - 1];
    let db = ctx.db;
    let mut l = ctx.lock(keys);
    for key in keys {
        match lookup(ctx, &mut l, key, false, is::zset) {
            Lookup::Found(s) => {
                let items = pop_members(&mut l, s, db, key, max, 1);
                ctx.out.array(3);
                ctx.out.bulk(key);
                if let Some((m, sc)) = items.first() {
                    ctx.out.bulk(m);
                    ctx.out.double(*sc);
                }
                return;
            }
            Lookup::Missing => {}
            Lookup::WrongType => return,
        }
    }
    super::block_on(ctx, keys, deadline);
}

/// `BZPOPMIN key [key ...] timeout`
pub fn bzpopmin(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    bzpop(ctx, args, false);
}

/// `BZPOPMAX key [key ...] timeout`
pub fn bzpopmax(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    bzpop(ctx, args, true);
}

/// Parses `numkeys key [key ...] <MIN | MAX> [COUNT count]` from `args[at]` on.
fn parse_zmpop<'a>(
    ctx: &mut Ctx<'_, '_>,
    args: &[&'a [u8]],
    at: usize,
) -> Option<(Vec<&'a [u8]>, bool, usize)> {
    super::parse_mpop_args(ctx, args, at, [b"min", b"max"])
}

/// Pops from the first non-empty of `keys`: `Ok(true)` when it replied with elements.
fn zmpop_first(
    ctx: &mut Ctx<'_, '_>,
    keys: &[&[u8]],
    max: bool,
    count: usize,
) -> Result<bool, Replied> {
    let db = ctx.db;
    let mut l = ctx.lock(keys);
    for key in keys {
        match lookup(ctx, &mut l, key, false, is::zset) {
            Lookup::Found(s) => {
                let items = pop_members(&mut l, s, db, key, max, count);
                ctx.out.array(2);
                ctx.out.bulk(key);
                ctx.out.array(items.len());
                for (m, sc) in &items {
                    ctx.out.array(2);
                    ctx.out.bulk(m);
                    ctx.out.double(*sc);
                }
                return Ok(true);
            }
            Lookup::Missing => {}
            Lookup::WrongType => return Err(Replied),
        }
    }
    Ok(false)
}

/// `ZMPOP numkeys key [key ...] <MIN | MAX> [COUNT count]`
pub fn zmpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some((keys, max, count)) = parse_zmpop(ctx, args, 1) else {
        return;
    };
    if let Ok(false) = zmpop_first(ctx, &keys, max, count) {
        ctx.out.null_array();
    }
}

/// `BZMPOP timeout numkeys key [key ...] <MIN | MAX> [COUNT count]`
pub fn bzmpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some((keys, max, count)) = parse_zmpop(ctx, args, 2) else {
        return;
    };
    let Some(deadline) = ctx.block_timeout(args[1]) else {
        return;
    };
    if let Ok(false) = zmpop_first(ctx, &keys, max, count) {
        super::block_on(ctx, &keys, deadline);
    }
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`
pub fn zrandmember(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut withscores = false;
    if args.len() >= 4 {
        if args.len() > 4 || !eq_ic(args[3], b"withscores") {
            return ctx.err(errors::SYNTAX);
        }
        withscores = true;
    }
    let count = if args.len() >= 3 {
        let Some(c) = super::parse_ranged(ctx, args[2], -i64::MAX, i64::MAX) else {
            return;
        };
        if c < 0 && c.unsigned_abs() > super::MAX_RANDOM_REPEATS {
            return ctx.err("ERR value is out of range");
        }
        Some(c)
    } else {
        None
    };
    let mut l = ctx.lock(&[args[1]]);
    let Ok(z) = read(ctx, &mut l, args[1]) else {
        return;
    };
    let Some(z) = z else {
        return match count {
            None => ctx.out.null(),
            Some(_) => ctx.out.array(0),
        };
    };
    let mut rng = rand::thread_rng();
    let Some(count) = count else {
        match z.random(&mut rng) {
            Some((m, _)) => ctx.out.bulk(m),
            None => ctx.out.null(),
        }
        return;
    };
    let picked: Vec<(Vec<u8>, f64)> = if count < 0 {
        (0..count.unsigned_abs())
            .filter_map(|_| z.random(&mut rng).map(|(m, s)| (m.to_vec(), s)))
            .collect()
    } else {
        let n = count as usize;
        sample_distinct(z.len(), n, &mut rng, || z.iter(), |r| z.random(r), |p| p.0)
            .into_iter()
            .map(|(m, s)| (m.to_vec(), s))
            .collect()
    };
    reply_members(ctx, &picked, withscores);
}

/// Members with their scores.
type Pairs = Vec<(Vec<u8>, f64)>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(a: Aggregate, x: f64, y: f64) -> f64 {
    match a {
        Aggregate::Sum => {
            let s = x + y;
            // inf + -inf: Redis stores 0 rather than NaN.
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        Aggregate::Min => x.min(y),
        Aggregate::Max => x.max(y),
    }
}

/// The elements of a sorted set or a set (whose members score 1) at a slot.
fn source_pairs(v: &Value) -> Vec<(Vec<u8>, f64)> {
    match v {
        Value::ZSet(z) => z.iter().map(|(m, s)| (m.to_vec(), s)).collect(),
        Value::Set(s) => s.iter().map(|m| (m.into_owned(), 1.0)).collect(),
        _ => Vec::new(),
    }
}

/// `ZUNION`/`ZINTER`/`ZDIFF` and their `STORE` forms. `at` is the numkeys position.
fn zsetop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], op: SetOp, store: bool) {
    let at = if store { 2 } else { 1 };
    let Some(keys) = zset_numkeys(ctx, args, at) else {
        return;
    };
    let n = keys.len();
    let keys = &keys[..];
    let mut weights = vec![1.0f64; n];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut i = at + 1 + n;
    while i < args.len() {
        let a = args[i];
        if op != SetOp::Diff && eq_ic(a, b"weights") && args.len() - i > n {
            for (j, w) in weights.iter_mut().enumerate() {
                match parse_float(args[i + 1 + j]) {
                    Some(v) => *w = v,
                    None => return ctx.err("ERR weight value is not a float"),
                }
            }
            i += n + 1;
        } else if op != SetOp::Diff && eq_ic(a, b"aggregate") && i + 1 < args.len() {
            let v = args[i + 1];
            agg = if eq_ic(v, b"sum") {
                Aggregate::Sum
            } else if eq_ic(v, b"min") {
                Aggregate::Min
            } else if eq_ic(v, b"max") {
                Aggregate::Max
            } else {
                return ctx.err(errors::SYNTAX);
            };
            i += 2;
        } else if !store && eq_ic(a, b"withscores") {
            withscores = true;
            i += 1;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let db = ctx.db;
    let mut all: Vec<&[u8]> = keys.to_vec();
    if store {
        all.push(args[1]);
    }
    let mut l = ctx.lock(&all);
    let mut sources: Vec<Option<Pairs>> = Vec::with_capacity(n);
    for k in keys {
        match l.find_read(db, k) {
            None => sources.push(None),
            Some(s) => {
                let v = &l.entry(s).value;
                if !matches!(v, Value::ZSet(_) | Value::Set(_)) {
                    return ctx.err(errors::WRONGTYPE);
                }
                sources.push(Some(source_pairs(v)));
            }
        }
    }
    let mut acc: hashbrown::HashMap<Vec<u8>, f64> = hashbrown::HashMap::new();
    match op {
        SetOp::Union => {
            for (src, w) in sources.iter().zip(&weights) {
                for (m, s) in src.iter().flatten() {
                    let v = weighted(*s, *w);
                    acc.entry(m.clone())
                        .and_modify(|cur| *cur = aggregate(agg, *cur, v))
                        .or_insert(v);
                }
            }
        }
        SetOp::Inter => {
            if sources.iter().all(|s| s.is_some()) {
                if let Some(Some(first)) = sources.first() {
                    'outer: for (m, s) in first {
                        let mut score = weighted(*s, weights[0]);
                        for (src, w) in sources.iter().zip(&weights).skip(1) {
                            let Some(src) = src else { continue 'outer };
                            match src.iter().find(|(x, _)| x == m) {
                                Some((_, s2)) => score = aggregate(agg, score, weighted(*s2, *w)),
                                None => continue 'outer,
                            }
                        }
                        acc.insert(m.clone(), score);
                    }
                }
            }
        }
        SetOp::Diff => {
            if let Some(Some(first)) = sources.first() {
                let rest: Vec<hashbrown::HashSet<&[u8]>> = sources[1..]
                    .iter()
                    .flatten()
                    .map(|s| s.iter().map(|(m, _)| m.as_slice()).collect())
                    .collect();
                for (m, s) in first {
                    if !rest.iter().any(|r| r.contains(m.as_slice())) {
                        acc.insert(m.clone(), *s);
                    }
                }
            }
        }
    }
    let mut out = ZSet::default();
    for (m, s) in &acc {
        out.set(m, *s);
    }
    if store {
        let n = store_zset(&mut l, db, args[1], out);
        ctx.out.int(n as i64);
    } else {
        let items: Vec<(Vec<u8>, f64)> = out.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        reply_members(ctx, &items, withscores);
    }
}

/// Parses the `numkeys key [key ...]` of the sorted-set algebra commands, with their
/// own error texts.
fn zset_numkeys<'a>(ctx: &mut Ctx<'_, '_>, args: &[&'a [u8]], at: usize) -> Option<Vec<&'a [u8]>> {
    let name = ctx.spec.name;
    let n = match parse_int(args[at]) {
        None => {
            ctx.err(errors::NOT_INT);
            return None;
        }
        Some(n) if n < 1 => {
            ctx.err(&format!(
                "ERR at least 1 input key is needed for '{name}' command"
            ));
            return None;
        }
        Some(n) => n as u64,
    };
    if n > (args.len() - at - 1) as u64 {
        ctx.err(errors::SYNTAX);
        return None;
    }
    Some(args[at + 1..at + 1 + n as usize].to_vec())
}

/// Redis multiplies by the weight, except that a zero weight of an infinite score gives 0.
fn weighted(score: f64, w: f64) -> f64 {
    let v = score * w;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// `ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub fn zunion(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zsetop(ctx, args, SetOp::Union, false);
}

/// `ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub fn zinter(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zsetop(ctx, args, SetOp::Inter, false);
}

/// `ZDIFF numkeys key [key ...] [WITHSCORES]`
pub fn zdiff(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zsetop(ctx, args, SetOp::Diff, false);
}

/// `ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]`
pub fn zunionstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zsetop(ctx, args, SetOp::Union, true);
}

/// `ZINTERSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]`
pub fn zinterstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zsetop(ctx, args, SetOp::Inter, true);
}

/// `ZDIFFSTORE destination numkeys key [key ...]`
pub fn zdiffstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    zsetop(ctx, args, SetOp::Diff, true);
}

/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`
pub fn zintercard(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(keys) = zset_numkeys(ctx, args, 1) else {
        return;
    };
    let Some(limit) = super::parse_limit(ctx, args, 2 + keys.len()) else {
        return;
    };
    let db = ctx.db;
    let mut l = ctx.lock(&keys);
    let mut sources = Vec::with_capacity(keys.len());
    for k in &keys {
        match l.find_read(db, k) {
            None => sources.push(None),
            Some(s) => {
                let v = &l.entry(s).value;
                if !matches!(v, Value::ZSet(_) | Value::Set(_)) {
                    return ctx.err(errors::WRONGTYPE);
                }
                sources.push(Some(s));
            }
        }
    }
    if sources.iter().any(|s| s.is_none()) {
        return ctx.out.int(0);
    }
    let contains = |s: Slot, m: &[u8]| match &l.entry(s).value {
        Value::ZSet(z) => z.score(m).is_some(),
        Value::Set(set) => set.contains(m),
        _ => false,
    };
    let slots: Vec<Slot> = sources.into_iter().flatten().collect();
    let first = source_pairs(&l.entry(slots[0]).value);
    let mut n = 0usize;
    for (m, _) in &first {
        if slots[1..].iter().all(|&s| contains(s, m)) {
            n += 1;
            if limit != 0 && n >= limit {
                break;
            }
        }
    }
    ctx.out.int(n as i64);
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`
pub fn zscan(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some((cursor, count, pattern)) = parse_scan_args(ctx, args) else {
        return;
    };
    let mut l = ctx.lock(&[args[1]]);
    let Ok(z) = read(ctx, &mut l, args[1]) else {
        return;
    };
    let Some(z) = z else {
        return super::reply_scan(ctx, 0, &[]);
    };
    let mut items = Vec::new();
    let next = z.scan(cursor, count, |m, s| {
        if pattern.is_none_or(|p| glob_match(p, m, false)) {
            items.push(m.to_vec());
            items.push(flashdb_protocol::format_double(s).into_bytes());
        }
    });
    super::reply_scan(ctx, next, &items);
}
