//! `DUMP` and `RESTORE`, as Redis's `cluster.c`: a key's value serialized with a version
//! and a checksum ([`crate::codec::dump_payload`]), and recreated from it.

use super::eq_ic;
use crate::codec::{dump_payload, encode_value, restore_payload};
use crate::ctx::{errors, Ctx};
use crate::keyspace::Ttl;
use crate::log_entry::LogEntry;
use crate::numeric::parse_int;

/// `DUMP key`
pub fn dump(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let mut l = ctx.lock(&[key]);
    match l.find_read(ctx.db, key) {
        None => ctx.out.null(),
        Some(s) => {
            let payload = dump_payload(&l.entry(s).value);
            ctx.out.bulk(&payload);
        }
    }
}

/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ
/// frequency]`
pub fn restore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < args.len() {
        let more = args.len() - j - 1;
        let a = args[j];
        if eq_ic(a, b"replace") {
            replace = true;
        } else if eq_ic(a, b"absttl") {
            absttl = true;
        } else if eq_ic(a, b"idletime") && more >= 1 && freq.is_none() {
            let Some(v) = parse_int(args[j + 1]) else {
                return ctx.err(errors::NOT_INT);
            };
            if v < 0 {
                return ctx.err("ERR Invalid IDLETIME value, must be >= 0");
            }
            idle = Some(v);
            j += 1;
        } else if eq_ic(a, b"freq") && more >= 1 && idle.is_none() {
            let Some(v) = parse_int(args[j + 1]) else {
                return ctx.err(errors::NOT_INT);
            };
            if !(0..=255).contains(&v) {
                return ctx.err("ERR Invalid FREQ value, must be >= 0 and <= 255");
            }
            freq = Some(v);
            j += 1;
        } else {
            return ctx.err(errors::SYNTAX);
        }
        j += 1;
    }
    let (key, db, now) = (args[1], ctx.db, ctx.now);
    let mut l = ctx.lock(&[key]);
    if !replace && l.find(db, key).is_some() {
        return ctx.err("BUSYKEY Target key name already exists.");
    }
    let Some(ttl) = parse_int(args[2]) else {
        return ctx.err(errors::NOT_INT);
    };
    if ttl < 0 {
        return ctx.err("ERR Invalid TTL value, must be >= 0");
    }
    let value = match restore_payload(args[3]) {
        Ok(v) => v,
        Err(e) => return ctx.err(&format!("ERR {e}")),
    };
    let deleted = replace && l.delete(db, key).is_some();
    let expire_at = match ttl {
        0 => None,
        t if absttl => Some(t as u64),
        t => Some((t as u64).saturating_add(now)),
    };
    if expire_at.is_some_and(|at| at <= now) {
        // Already expired: nothing is created, and what REPLACE removed stays removed.
        if deleted {
            l.log(LogEntry::Del { db: db as u32, key });
        }
        return ctx.out.ok();
    }
    let ttl = expire_at.map_or(Ttl::Clear, Ttl::At);
    let mut bytes = Vec::new();
    if l.logging() {
        encode_value(&value, &mut bytes);
    }
    let lfu = ctx.ks.lfu();
    let clock = l.clock();
    let s = l.set(db, key, value, ttl);
    let e = l.entry_mut(s);
    match (lfu, freq, idle) {
        (true, Some(f), _) => e.freq = f as u8,
        (false, _, Some(i)) => e.lru = clock.saturating_sub(u32::try_from(i).unwrap_or(u32::MAX)),
        _ => {}
    }
    l.log(LogEntry::Restore {
        db: db as u32,
        key,
        value: &bytes,
        ttl,
    });
    l.signal_ready(db, key);
    ctx.out.ok();
}
