//! String commands, as Redis's `t_string.c`.

use flashdb_protocol::ReplyBuf;

use super::{eq_ic, string_value, Found};
use crate::compact::CompactBytes;
use crate::ctx::{errors, Ctx};
use crate::db::flags;
use crate::keyspace::{unix_ms, Locked, Slot, Ttl};
use crate::log_entry::LogEntry;
use crate::long_double::LongDouble;
use crate::numeric::parse_int;
use crate::value::Value;

fn log_set(l: &mut Locked<'_>, db: usize, key: &[u8], value: &[u8], ttl: Ttl) {
    l.log(LogEntry::Set {
        db: db as u32,
        key,
        value,
        ttl,
    });
}

/// Replies with the string behind `slot`; replies `WRONGTYPE` and returns false when the
/// key holds another type.
fn reply_string(ctx: &mut Ctx<'_, '_>, l: &Locked<'_>, slot: Slot) -> bool {
    match &l.entry(slot).value {
        Value::Str(v) => {
            ctx.out.bulk(v.as_slice());
            true
        }
        _ => {
            ctx.err(errors::WRONGTYPE);
            false
        }
    }
}

/// `GET key`
pub fn get(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let mut l = ctx.lock(&[key]);
    match string_value(&mut l, ctx.db, key, true) {
        Found::Missing => ctx.out.null(),
        Found::WrongType => ctx.err(errors::WRONGTYPE),
        Found::Str(v) => ctx.out.bulk(v),
    }
}

/// Which expiry option a `SET`/`GETEX` was given.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpUnit {
    Ex,
    Px,
    ExAt,
    PxAt,
}

/// Turns an expiry argument into an absolute Unix time in milliseconds, replying Redis's
/// error (and returning `None`) when it is invalid.
fn expire_at(ctx: &mut Ctx<'_, '_>, raw: &[u8], unit: ExpUnit) -> Option<u64> {
    let Some(v) = parse_int(raw) else {
        ctx.err(errors::NOT_INT);
        return None;
    };
    let seconds = matches!(unit, ExpUnit::Ex | ExpUnit::ExAt);
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        ctx.expire_err();
        return None;
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if matches!(unit, ExpUnit::Ex | ExpUnit::Px) {
        match ms.checked_add(unix_ms() as i64) {
            Some(m) => ms = m,
            None => {
                ctx.expire_err();
                return None;
            }
        }
    }
    Some(ms as u64)
}

/// The absolute expiry time of an optional parsed `EX`/`PX`/`EXAT`/`PXAT` option;
/// `Err` after replying the error of an invalid one.
fn resolve_expiry(ctx: &mut Ctx<'_, '_>, exp: Option<(ExpUnit, &[u8])>) -> Result<Option<u64>, ()> {
    match exp {
        Some((unit, raw)) => expire_at(ctx, raw, unit).map(Some).ok_or(()),
        None => Ok(None),
    }
}

fn parse_exp_unit(opt: &[u8]) -> Option<ExpUnit> {
    if eq_ic(opt, b"ex") {
        Some(ExpUnit::Ex)
    } else if eq_ic(opt, b"px") {
        Some(ExpUnit::Px)
    } else if eq_ic(opt, b"exat") {
        Some(ExpUnit::ExAt)
    } else if eq_ic(opt, b"pxat") {
        Some(ExpUnit::PxAt)
    } else {
        None
    }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`
pub fn set(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (mut nx, mut xx, mut get, mut keepttl) = (false, false, false, false);
    let mut exp: Option<(ExpUnit, &[u8])> = None;
    let mut i = 3;
    while i < args.len() {
        let opt = args[i];
        let next = args.get(i + 1);
        if eq_ic(opt, b"nx") && !xx {
            nx = true;
        } else if eq_ic(opt, b"xx") && !nx {
            xx = true;
        } else if eq_ic(opt, b"get") {
            get = true;
        } else if eq_ic(opt, b"keepttl") && exp.is_none() {
            keepttl = true;
        } else if let (Some(unit), Some(val), false, None) =
            (parse_exp_unit(opt), next, keepttl, exp)
        {
            exp = Some((unit, val));
            i += 1;
        } else {
            ctx.err(errors::SYNTAX);
            return;
        }
        i += 1;
    }
    let Ok(at) = resolve_expiry(ctx, exp) else {
        return;
    };
    let ttl = match at {
        Some(at) => Ttl::At(at),
        None if keepttl => Ttl::Keep,
        None => Ttl::Clear,
    };
    set_generic(ctx, args[1], args[2], nx, xx, get, ttl);
}

fn set_generic(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    val: &[u8],
    nx: bool,
    xx: bool,
    get: bool,
    ttl: Ttl,
) {
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    let found = l.find(db, key);
    if get {
        match found {
            None => ctx.out.null(),
            Some(s) => {
                if !reply_string(ctx, &l, s) {
                    return;
                }
            }
        }
    }
    if (nx && found.is_some()) || (xx && found.is_none()) {
        if !get {
            ctx.out.null();
        }
        return;
    }
    l.set(db, key, Value::Str(CompactBytes::new(val)), ttl);
    log_set(&mut l, db, key, val, ttl);
    if !get {
        ctx.out.ok();
    }
}

/// `SETNX key value`
pub fn setnx(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, val, db) = (args[1], args[2], ctx.db);
    let mut l = ctx.lock(&[key]);
    if l.find(db, key).is_some() {
        ctx.out.int(0);
        return;
    }
    l.set(db, key, Value::Str(CompactBytes::new(val)), Ttl::Clear);
    log_set(&mut l, db, key, val, Ttl::Clear);
    ctx.out.int(1);
}

/// `SETEX key seconds value`
pub fn setex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if let Some(at) = expire_at(ctx, args[2], ExpUnit::Ex) {
        set_generic(ctx, args[1], args[3], false, false, false, Ttl::At(at));
    }
}

/// `PSETEX key milliseconds value`
pub fn psetex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if let Some(at) = expire_at(ctx, args[2], ExpUnit::Px) {
        set_generic(ctx, args[1], args[3], false, false, false, Ttl::At(at));
    }
}

/// `MGET key [key ...]`: non-string values read as nil.
pub fn mget(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let keys = &args[1..];
    let mut l = ctx.lock(keys);
    ctx.out.array(keys.len());
    for key in keys {
        match string_value(&mut l, ctx.db, key, true) {
            Found::Str(v) => ctx.out.bulk(v),
            Found::Missing | Found::WrongType => ctx.out.null(),
        }
    }
}

fn pair_keys<'a>(args: &[&'a [u8]]) -> Vec<&'a [u8]> {
    args[1..].chunks(2).map(|p| p[0]).collect()
}

/// `MSET key value [key value ...]`
pub fn mset(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if args.len().is_multiple_of(2) {
        ctx.arity_err();
        return;
    }
    let db = ctx.db;
    let mut l = ctx.lock(&pair_keys(args));
    for pair in args[1..].chunks(2) {
        l.set(
            db,
            pair[0],
            Value::Str(CompactBytes::new(pair[1])),
            Ttl::Clear,
        );
        log_set(&mut l, db, pair[0], pair[1], Ttl::Clear);
    }
    ctx.out.ok();
}

/// `MSETNX key value [key value ...]`: all or nothing.
pub fn msetnx(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if args.len().is_multiple_of(2) {
        ctx.arity_err();
        return;
    }
    let db = ctx.db;
    let keys = pair_keys(args);
    let mut l = ctx.lock(&keys);
    if keys.iter().any(|k| l.find(db, k).is_some()) {
        ctx.out.int(0);
        return;
    }
    for pair in args[1..].chunks(2) {
        l.set(
            db,
            pair[0],
            Value::Str(CompactBytes::new(pair[1])),
            Ttl::Clear,
        );
        log_set(&mut l, db, pair[0], pair[1], Ttl::Clear);
    }
    ctx.out.int(1);
}

/// `GETSET key value`
pub fn getset(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    set_generic(ctx, args[1], args[2], false, false, true, Ttl::Clear);
}

/// `GETDEL key`
pub fn getdel(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let Some(s) = l.find(db, key) else {
        ctx.out.null();
        return;
    };
    if !reply_string(ctx, &l, s) {
        return;
    }
    l.remove(s);
    l.log(LogEntry::Del { db: db as u32, key });
}

/// `GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]`
pub fn getex(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut persist = false;
    let mut exp: Option<(ExpUnit, &[u8])> = None;
    let mut i = 2;
    while i < args.len() {
        let opt = args[i];
        if eq_ic(opt, b"persist") && exp.is_none() && !persist {
            persist = true;
        } else if let (Some(unit), Some(val), false, None) =
            (parse_exp_unit(opt), args.get(i + 1), persist, exp)
        {
            exp = Some((unit, val));
            i += 1;
        } else {
            ctx.err(errors::SYNTAX);
            return;
        }
        i += 1;
    }
    let Ok(at) = resolve_expiry(ctx, exp) else {
        return;
    };
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let Some(s) = l.find_read(db, key) else {
        ctx.out.null();
        return;
    };
    if !reply_string(ctx, &l, s) {
        return;
    }
    if let Some(at) = at {
        if at <= l.now {
            l.remove(s);
            l.log(LogEntry::Del { db: db as u32, key });
        } else {
            l.set_expire(s, at);
            l.log(LogEntry::Expire {
                db: db as u32,
                key,
                at,
            });
        }
    } else if persist && l.entry(s).expire_at != 0 {
        l.set_expire(s, 0);
        l.log(LogEntry::Persist { db: db as u32, key });
    }
}

/// `APPEND key value`
pub fn append(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, data, db) = (args[1], args[2], ctx.db);
    let max = ctx.limits.max_bulk_len;
    let mut l = ctx.lock(&[key]);
    let new_len = match l.find(db, key) {
        None => {
            if data.len() as u64 > max {
                ctx.err(errors::STRING_TOO_LONG);
                return;
            }
            let s = l.set(db, key, Value::Str(CompactBytes::new(data)), Ttl::Clear);
            l.entry_mut(s).flags |= flags::RAW;
            data.len()
        }
        Some(s) => {
            let e = l.entry_mut(s);
            let Value::Str(cur) = &mut e.value else {
                ctx.err(errors::WRONGTYPE);
                return;
            };
            let total = cur.len() + data.len();
            if total as u64 > max {
                ctx.err(errors::STRING_TOO_LONG);
                return;
            }
            if !data.is_empty() {
                let mut v = std::mem::replace(cur, CompactBytes::new(b"")).into_vec();
                v.extend_from_slice(data);
                *cur = CompactBytes::from_vec(v);
            }
            e.flags |= flags::RAW;
            total
        }
    };
    l.log(LogEntry::Append {
        db: db as u32,
        key,
        data,
    });
    ctx.out.int(new_len as i64);
}

/// `STRLEN key`
pub fn strlen(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let mut l = ctx.lock(&[key]);
    match string_value(&mut l, ctx.db, key, true) {
        Found::Missing => ctx.out.int(0),
        Found::WrongType => ctx.err(errors::WRONGTYPE),
        Found::Str(v) => ctx.out.int(v.len() as i64),
    }
}

/// `GETRANGE key start end` (and `SUBSTR`)
pub fn getrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (Some(mut start), Some(mut end)) = (parse_int(args[2]), parse_int(args[3])) else {
        ctx.err(errors::NOT_INT);
        return;
    };
    let key = args[1];
    let mut l = ctx.lock(&[key]);
    let v = match string_value(&mut l, ctx.db, key, true) {
        Found::Missing => {
            ctx.out.bulk(b"");
            return;
        }
        Found::WrongType => {
            ctx.err(errors::WRONGTYPE);
            return;
        }
        Found::Str(v) => v,
    };
    let len = v.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return;
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ctx.out.bulk(b"");
        return;
    }
    ctx.out.bulk(&v[start as usize..=end as usize]);
}

/// `SETRANGE key offset value`
pub fn setrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, data, db) = (args[1], args[3], ctx.db);
    let Some(offset) = parse_int(args[2]) else {
        ctx.err(errors::NOT_INT);
        return;
    };
    if offset < 0 {
        ctx.err("ERR offset is out of range");
        return;
    }
    let offset = offset as u64;
    let max = ctx.limits.max_bulk_len;
    let mut l = ctx.lock(&[key]);
    let found = l.find(db, key);
    let new_len = match found {
        None => {
            if data.is_empty() {
                ctx.out.int(0);
                return;
            }
            if offset.saturating_add(data.len() as u64) > max {
                ctx.err(errors::STRING_TOO_LONG);
                return;
            }
            let mut v = vec![0u8; offset as usize];
            v.extend_from_slice(data);
            let len = v.len();
            let s = l.set(db, key, Value::Str(CompactBytes::from_vec(v)), Ttl::Clear);
            l.entry_mut(s).flags |= flags::RAW;
            len
        }
        Some(s) => {
            let e = l.entry_mut(s);
            let Value::Str(cur) = &mut e.value else {
                ctx.err(errors::WRONGTYPE);
                return;
            };
            if data.is_empty() {
                ctx.out.int(cur.len() as i64);
                return;
            }
            if offset.saturating_add(data.len() as u64) > max {
                ctx.err(errors::STRING_TOO_LONG);
                return;
            }
            let mut v = std::mem::replace(cur, CompactBytes::new(b"")).into_vec();
            let off = offset as usize;
            if v.len() < off + data.len() {
                v.resize(off + data.len(), 0);
            }
            v[off..off + data.len()].copy_from_slice(data);
            let len = v.len();
            *cur = CompactBytes::from_vec(v);
            e.flags |= flags::RAW;
            len
        }
    };
    l.log(LogEntry::SetRange {
        db: db as u32,
        key,
        offset,
        data,
    });
    ctx.out.int(new_len as i64);
}

fn incr_generic(ctx: &mut Ctx<'_, '_>, key: &[u8], delta: i64) {
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    let slot = l.find(db, key);
    let current = match slot {
        None => 0,
        Some(s) => match &l.entry(s).value {
            Value::Str(v) => match parse_int(v.as_slice()) {
                Some(n) => n,
                None => {
                    ctx.err(errors::NOT_INT);
                    return;
                }
            },
            _ => {
                ctx.err(errors::WRONGTYPE);
                return;
            }
        },
    };
    let Some(new) = current.checked_add(delta) else {
        ctx.err(errors::OVERFLOW);
        return;
    };
    let mut buf = itoa_buf(new);
    let text = CompactBytes::new(buf.as_slice());
    match slot {
        Some(s) => {
            let e = l.entry_mut(s);
            e.value = Value::Str(text);
            e.flags = 0;
        }
        None => {
            l.set(db, key, Value::Str(text), Ttl::Keep);
        }
    }
    l.log(LogEntry::IncrBy {
        db: db as u32,
        key,
        delta,
    });
    buf.clear();
    ctx.out.int(new);
}

/// Decimal digits of an integer, without a heap allocation.
fn itoa_buf(n: i64) -> smallvec::SmallVec<[u8; 24]> {
    use std::io::Write;
    let mut b = smallvec::SmallVec::<[u8; 24]>::new();
    let _ = write!(b, "{n}");
    b
}

/// `INCR key`
pub fn incr(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    incr_generic(ctx, args[1], 1);
}

/// `DECR key`
pub fn decr(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    incr_generic(ctx, args[1], -1);
}

/// `INCRBY key increment`
pub fn incrby(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    match parse_int(args[2]) {
        Some(d) => incr_generic(ctx, args[1], d),
        None => ctx.err(errors::NOT_INT),
    }
}

/// `DECRBY key decrement`
pub fn decrby(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    match parse_int(args[2]) {
        Some(i64::MIN) => ctx.err("ERR decrement would overflow"),
        Some(d) => incr_generic(ctx, args[1], -d),
        None => ctx.err(errors::NOT_INT),
    }
}

/// `INCRBYFLOAT key increment`: computed in `long double` as Redis does, and logged as the
/// value it produced.
pub fn incrbyfloat(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let current = match l.find(db, key) {
        None => Some(LongDouble::ZERO),
        Some(s) => match &l.entry(s).value {
            Value::Str(v) => LongDouble::parse(v.as_slice()),
            _ => {
                ctx.err(errors::WRONGTYPE);
                return;
            }
        },
    };
    let (Some(current), Some(incr)) = (current, LongDouble::parse(args[2])) else {
        ctx.err(errors::NOT_FLOAT);
        return;
    };
    let new = current + incr;
    if new.is_nan_or_infinite() {
        ctx.err("ERR increment would produce NaN or Infinity");
        return;
    }
    let text = new.to_human_string();
    l.set(
        db,
        key,
        Value::Str(CompactBytes::new(text.as_bytes())),
        Ttl::Keep,
    );
    log_set(&mut l, db, key, text.as_bytes(), Ttl::Keep);
    ctx.out.bulk(text.as_bytes());
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`
pub fn lcs(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: u64 = 0;
    let mut i = 3;
    while i < args.len() {
        let opt = args[i];
        if eq_ic(opt, b"idx") {
            getidx = true;
        } else if eq_ic(opt, b"len") {
            getlen = true;
        } else if eq_ic(opt, b"withmatchlen") {
            withmatchlen = true;
        } else if eq_ic(opt, b"minmatchlen") && i + 1 < args.len() {
            match parse_int(args[i + 1]) {
                Some(n) => minmatchlen = n.max(0) as u64,
                None => {
                    ctx.err(errors::NOT_INT);
                    return;
                }
            }
            i += 1;
        } else {
            ctx.err(errors::SYNTAX);
            return;
        }
        i += 1;
    }
    // Copy both strings out so that the O(N*M) work runs without holding any lock.
    let (a, b) = {
        let mut l = ctx.lock(&[args[1], args[2]]);
        let mut fetch = |key: &[u8]| match string_value(&mut l, ctx.db, key, true) {
            Found::Missing => Some(Vec::new()),
            Found::Str(v) => Some(v.to_vec()),
            Found::WrongType => None,
        };
        match (fetch(args[1]), fetch(args[2])) {
            (Some(a), Some(b)) => (a, b),
            _ => {
                ctx.err("ERR The specified keys must contain string values");
                return;
            }
        }
    };
    if getidx && getlen {
        ctx.err("ERR If you want both the length and indexes, please just use IDX.");
        return;
    }
    let cells = (a.len() as u64 + 1).saturating_mul(b.len() as u64 + 1);
    if cells.saturating_mul(4) > ctx.limits.max_bulk_len {
        ctx.err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
        return;
    }
    lcs_reply(ctx.out, &a, &b, getlen, getidx, withmatchlen, minmatchlen);
}

/// Redis's dynamic-programming LCS, including the order and shape of its `IDX` matches.
fn lcs_reply(
    out: &mut ReplyBuf,
    a: &[u8],
    b: &[u8],
    getlen: bool,
    getidx: bool,
    withmatchlen: bool,
    minmatchlen: u64,
) {
    let (alen, blen) = (a.len(), b.len());
    let w = blen + 1;
    let mut dp = vec![0u32; (alen + 1) * w];
    for i in 1..=alen {
        for j in 1..=blen {
            dp[i * w + j] = if a[i - 1] == b[j - 1] {
                dp[(i - 1) * w + j - 1] + 1
            } else {
                dp[(i - 1) * w + j].max(dp[i * w + j - 1])
            };
        }
    }
    let total = dp[alen * w + blen] as usize;
    let mut result = vec![0u8; total];
    let mut matches = ReplyBuf::new(out.version());
    let mut nmatches = 0usize;
    let (mut i, mut j, mut idx) = (alen, blen, total);
    let unset = alen;
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (unset, 0usize, 0usize, 0usize);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == unset {
                a_start = i - 1;
                a_end = i - 1;
                b_start = j - 1;
                b_end = j - 1;
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if dp[(i - 1) * w + j] > dp[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != unset {
                emit = true;
            }
        }
        let match_len = (a_end as i64 - a_start as i64 + 1) as u64;
        if emit {
            if getidx && (minmatchlen == 0 || match_len >= minmatchlen) {
                matches.array(2 + usize::from(withmatchlen));
                matches.array(2);
                matches.int(a_start as i64);
                matches.int(a_end as i64);
                matches.array(2);
                matches.int(b_start as i64);
                matches.int(b_end as i64);
                if withmatchlen {
                    matches.int(match_len as i64);
                }
                nmatches += 1;
            }
            a_start = unset;
        }
    }
    if getidx {
        out.map(2);
        out.bulk(b"matches");
        out.array(nmatches);
        out.raw(matches.as_bytes());
        out.bulk(b"len");
        out.int(total as i64);
    } else if getlen {
        out.int(total as i64);
    } else {
        out.bulk(&result);
    }
}
