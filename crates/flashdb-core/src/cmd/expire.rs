//! Expiry commands, as Redis's `expire.c`. Every TTL is stored and logged as an absolute
//! Unix time in milliseconds.

use super::eq_ic;
use crate::ctx::{errors, Ctx};
use crate::keyspace::unix_ms;
use crate::log_entry::LogEntry;
use crate::numeric::parse_int;

#[derive(Default)]
struct Cond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn expire_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], relative: bool, seconds: bool) {
    let mut c = Cond::default();
    for opt in &args[3..] {
        if eq_ic(opt, b"nx") {
            c.nx = true;
        } else if eq_ic(opt, b"xx") {
            c.xx = true;
        } else if eq_ic(opt, b"gt") {
            c.gt = true;
        } else if eq_ic(opt, b"lt") {
            c.lt = true;
        } else {
            let msg = format!("ERR Unsupported option {}", String::from_utf8_lossy(opt));
            ctx.err(&msg);
            return;
        }
    }
    if c.nx && (c.xx || c.gt || c.lt) {
        ctx.err("ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if c.gt && c.lt {
        ctx.err("ERR GT and LT options at the same time are not compatible");
        return;
    }
    let Some(mut when) = parse_int(args[2]) else {
        ctx.err(errors::NOT_INT);
        return;
    };
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            ctx.expire_err();
            return;
        }
        when *= 1000;
    }
    let base = if relative { unix_ms() as i64 } else { 0 };
    if when > i64::MAX - base {
        ctx.expire_err();
        return;
    }
    when += base;
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let Some(s) = l.find(db, key) else {
        ctx.out.int(0);
        return;
    };
    let current = l.entry(s).expire_at;
    let has_ttl = current != 0;
    let cur = current as i64;
    if (c.nx && has_ttl)
        || (c.xx && !has_ttl)
        || (c.gt && (!has_ttl || when <= cur))
        || (c.lt && has_ttl && when >= cur)
    {
        ctx.out.int(0);
        return;
    }
    if when <= l.now as i64 {
        l.remove(s);
        l.log(LogEntry::Del { db: db as u32, key });
    } else {
        l.set_expire(s, when as u64);
        l.log(LogEntry::Expire {
            db: db as u32,
            key,
            at: when as u64,
        });
    }
    ctx.out.int(1);
}

/// `EXPIRE key seconds [NX|XX|GT|LT]`
pub fn expire(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    expire_generic(ctx, args, true, true);
}

/// `PEXPIRE key milliseconds [NX|XX|GT|LT]`
pub fn pexpire(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    expire_generic(ctx, args, true, false);
}

/// `EXPIREAT key unix-time-seconds [NX|XX|GT|LT]`
pub fn expireat(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    expire_generic(ctx, args, false, true);
}

/// `PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]`
pub fn pexpireat(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    expire_generic(ctx, args, false, false);
}

fn ttl_generic(ctx: &mut Ctx<'_, '_>, key: &[u8], ms: bool, absolute: bool) {
    let mut l = ctx.lock(&[key]);
    let Some(s) = l.find(ctx.db, key) else {
        ctx.out.int(-2);
        return;
    };
    let at = l.entry(s).expire_at;
    if at == 0 {
        ctx.out.int(-1);
        return;
    }
    let v = if absolute {
        at as i64
    } else {
        (at as i64 - l.now as i64).max(0)
    };
    ctx.out.int(if ms { v } else { (v + 500) / 1000 });
}

/// `TTL key`
pub fn ttl(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    ttl_generic(ctx, args[1], false, false);
}

/// `PTTL key`
pub fn pttl(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    ttl_generic(ctx, args[1], true, false);
}

/// `EXPIRETIME key`
pub fn expiretime(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    ttl_generic(ctx, args[1], false, true);
}

/// `PEXPIRETIME key`
pub fn pexpiretime(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    ttl_generic(ctx, args[1], true, true);
}

/// `PERSIST key`
pub fn persist(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    match l.find(db, key) {
        Some(s) if l.entry(s).expire_at != 0 => {
            l.set_expire(s, 0);
            l.log(LogEntry::Persist { db: db as u32, key });
            ctx.out.int(1);
        }
        _ => ctx.out.int(0),
    }
}
