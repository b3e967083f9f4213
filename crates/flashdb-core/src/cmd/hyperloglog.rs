//! HyperLogLog commands, as Redis's `hyperloglog.c`; the representation is in
//! [`crate::types::hll`].
//!
//! `PFADD` is logged as the elements it added (with the sparse-size limit it ran
//! under), and replayed by the same function, which is deterministic: recovery rebuilds
//! the HLL byte for byte without logging 12 KB per write. `PFMERGE` logs its result, and
//! `PFCOUNT` the cardinality it caches in the header.

use super::eq_ic;
use crate::compact::CompactBytes;
use crate::ctx::{errors, Ctx};
use crate::keyspace::{Locked, Slot, Ttl};
use crate::log_entry::LogEntry;
use crate::types::hll;
use crate::value::Value;

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

/// What a lookup of an HLL found.
enum Hll {
    Missing,
    /// The key is not a string, or a string that is not an HLL: the error to reply.
    Invalid(&'static str),
    Found(Slot),
}

fn find_hll(l: &mut Locked<'_>, db: usize, key: &[u8], read: bool) -> Hll {
    let found = if read {
        l.find_read(db, key)
    } else {
        l.find(db, key)
    };
    match found {
        None => Hll::Missing,
        Some(s) => match &l.entry(s).value {
            Value::Str(v) if hll::is_hll(v.as_slice()) => Hll::Found(s),
            Value::Str(_) => Hll::Invalid(NOT_HLL),
            _ => Hll::Invalid(errors::WRONGTYPE),
        },
    }
}

/// Raises `max`'s registers to those of the HLLs at `keys` (missing keys count as empty);
/// whether any of them is dense. `Err` after replying the error of a key that is not an
/// HLL or a corrupt one.
fn merge_keys(
    ctx: &mut Ctx<'_, '_>,
    l: &mut Locked<'_>,
    keys: &[&[u8]],
    max: &mut [u8],
) -> Result<bool, ()> {
    let mut dense = false;
    for key in keys {
        match find_hll(l, ctx.db, key, true) {
            Hll::Missing => {}
            Hll::Invalid(msg) => {
                ctx.err(msg);
                return Err(());
            }
            Hll::Found(s) => {
                let Value::Str(v) = &l.entry(s).value else {
                    continue;
                };
                dense |= !hll::is_sparse(v.as_slice());
                if hll::merge_into(max, v.as_slice()).is_err() {
                    ctx.err(CORRUPT);
                    return Err(());
                }
            }
        }
    }
    Ok(dense)
}

/// Edits the HLL string behind `slot` as a vector (no copy for a heap string).
fn edit<R>(l: &mut Locked<'_>, slot: Slot, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let e = l.entry_mut(slot);
    let mut v = match &mut e.value {
        Value::Str(cur) => std::mem::replace(cur, CompactBytes::new(b"")).into_vec(),
        _ => Vec::new(),
    };
    let r = f(&mut v);
    e.value = Value::Str(CompactBytes::from_vec(v));
    r
}

/// Adds `elements` to the HLL `key`, creating it if missing: what `PFADD` does and what
/// replaying its entry does. Returns whether the HLL changed (or was created), and how
/// many elements were tried: on a corrupt HLL, those before the bad one were added and
/// the result is `Err`, as in Redis. Leaves a key that is not an HLL untouched.
pub fn add_elements(
    l: &mut Locked<'_>,
    db: usize,
    key: &[u8],
    elements: &[&[u8]],
    sparse_max: usize,
) -> (Result<bool, hll::Corrupt>, usize) {
    let (slot, created) = match find_hll(l, db, key, false) {
        Hll::Found(s) => (s, false),
        Hll::Invalid(_) => return (Ok(false), 0),
        Hll::Missing => {
            let v = CompactBytes::from_vec(hll::new_sparse());
            (l.set(db, key, Value::Str(v), Ttl::Clear), true)
        }
    };
    edit(l, slot, |v| {
        let mut updated = created;
        for (i, e) in elements.iter().enumerate() {
            match hll::add(v, e, sparse_max) {
                Ok(changed) => updated |= changed,
                Err(c) => return (Err(c), i + 1),
            }
        }
        if updated {
            hll::invalidate_cache(v);
        }
        (Ok(updated), elements.len())
    })
}

/// `PFADD key [element [element ...]]`
pub fn pfadd(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db, sparse_max) = (args[1], ctx.db, ctx.limits.hll_sparse_max_bytes);
    let mut l = ctx.lock(&[key]);
    if let Hll::Invalid(msg) = find_hll(&mut l, db, key, false) {
        return ctx.err(msg);
    }
    let (result, tried) = add_elements(&mut l, db, key, &args[2..], sparse_max);
    // On a corrupt HLL the elements tried, the bad one included, are logged all the
    // same, so that replay changes what this did and stops where this stopped; but,
    // as in Redis, nothing is announced.
    if result != Ok(false) {
        let mark = l.events_mark();
        l.log(LogEntry::PfAdd {
            db: db as u32,
            key,
            sparse_max: sparse_max as u64,
            items: args[2..2 + tried].into(),
        });
        if result.is_err() {
            l.drop_events_since(mark);
        }
    }
    match result {
        Ok(updated) => ctx.out.int(i64::from(updated)),
        Err(_) => ctx.err(CORRUPT),
    }
}

/// `PFCOUNT key [key ...]`
pub fn pfcount(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let db = ctx.db;
    let keys = &args[1..];
    let mut l = ctx.lock(keys);
    if keys.len() > 1 {
        // The cardinality of the union, from the registers' maxima.
        let mut max = vec![0u8; hll::REGISTERS];
        if merge_keys(ctx, &mut l, keys, &mut max).is_err() {
            return;
        }
        return ctx.out.int(hll::count_registers(&max) as i64);
    }
    let key = keys[0];
    let slot = match find_hll(&mut l, db, key, true) {
        Hll::Missing => return ctx.out.int(0),
        Hll::Invalid(msg) => return ctx.err(msg),
        Hll::Found(s) => s,
    };
    let Value::Str(v) = &l.entry(slot).value else {
        return ctx.out.int(0);
    };
    if let Some(card) = hll::cached(v.as_slice()) {
        return ctx.out.int(card as i64);
    }
    let Ok(card) = hll::count(v.as_slice()) else {
        return ctx.err(CORRUPT);
    };
    // The header caches the result, which Redis replicates as a write. A replica leaves
    // the header as its leader wrote it, so that nodes never differ.
    if !ctx.ks.replica() {
        let bytes = hll::cache_bytes(card);
        if let Value::Str(cur) = &mut l.entry_mut(slot).value {
            cur.as_mut_slice()[8..16].copy_from_slice(&bytes);
        }
        l.log(LogEntry::SetRange {
            db: db as u32,
            key,
            offset: 8,
            data: &bytes,
        });
    }
    ctx.out.int(card as i64);
}

/// `PFMERGE destkey [sourcekey [sourcekey ...]]`
pub fn pfmerge(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (dest, db, sparse_max) = (args[1], ctx.db, ctx.limits.hll_sparse_max_bytes);
    let mut l = ctx.lock(&args[1..]);
    let mut max = vec![0u8; hll::REGISTERS];
    // The destination's own registers count too.
    let Ok(use_dense) = merge_keys(ctx, &mut l, &args[1..], &mut max) else {
        return;
    };
    let slot = match find_hll(&mut l, db, dest, false) {
        Hll::Found(s) => s,
        _ => {
            let v = CompactBytes::from_vec(hll::new_sparse());
            l.set(db, dest, Value::Str(v), Ttl::Clear)
        }
    };
    let merged = edit(&mut l, slot, |v| {
        if use_dense {
            hll::to_dense(v)?;
        }
        for (i, &m) in max.iter().enumerate() {
            if m > 0 {
                hll::raise(v, i, m, sparse_max)?;
            }
        }
        hll::invalidate_cache(v);
        Ok::<_, hll::Corrupt>(v.clone())
    });
    let Ok(value) = merged else {
        return ctx.err(CORRUPT);
    };
    l.log(LogEntry::Set {
        db: db as u32,
        key: dest,
        value: &value,
        ttl: Ttl::Keep,
    });
    ctx.out.ok();
}

/// `PFDEBUG GETREG|DECODE|ENCODING|TODENSE key`
pub fn pfdebug(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (sub, key, db) = (args[1], args[2], ctx.db);
    let mut l = ctx.lock(&[key]);
    let slot = match find_hll(&mut l, db, key, false) {
        Hll::Missing => return ctx.err("ERR The specified key does not exist"),
        Hll::Invalid(msg) => return ctx.err(msg),
        Hll::Found(s) => s,
    };
    let bytes = |l: &Locked<'_>| match &l.entry(slot).value {
        Value::Str(v) => v.as_slice().to_vec(),
        _ => Vec::new(),
    };
    // GETREG and TODENSE convert a sparse HLL, a change that is logged (not announced).
    let densify = |l: &mut Locked<'_>| -> Result<bool, hll::Corrupt> {
        if !hll::is_sparse(&bytes(l)) {
            return Ok(false);
        }
        edit(l, slot, hll::to_dense)?;
        let value = bytes(l);
        l.log(LogEntry::Set {
            db: db as u32,
            key,
            value: &value,
            ttl: Ttl::Keep,
        });
        Ok(true)
    };
    if eq_ic(sub, b"getreg") {
        if densify(&mut l).is_err() {
            return ctx.err(CORRUPT);
        }
        let Ok(regs) = hll::registers(&bytes(&l)) else {
            return ctx.err(CORRUPT);
        };
        ctx.out.array(regs.len());
        for r in regs {
            ctx.out.int(i64::from(r));
        }
    } else if eq_ic(sub, b"decode") {
        match hll::decode(&bytes(&l)) {
            Some(text) => ctx.out.bulk(text.as_bytes()),
            None => ctx.err("ERR HLL encoding is not sparse"),
        }
    } else if eq_ic(sub, b"encoding") {
        let sparse = hll::is_sparse(&bytes(&l));
        ctx.out.simple(if sparse { b"sparse" } else { b"dense" });
    } else if eq_ic(sub, b"todense") {
        match densify(&mut l) {
            Ok(converted) => ctx.out.int(i64::from(converted)),
            Err(_) => ctx.err(CORRUPT),
        }
    } else {
        let msg = format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        );
        ctx.err(&msg);
    }
}

/// `PFSELFTEST`: checks the register layout and the estimator on this build.
pub fn pfselftest(ctx: &mut Ctx<'_, '_>, _args: &[&[u8]]) {
    match selftest() {
        Ok(()) => ctx.out.ok(),
        Err(msg) => ctx.err(&msg),
    }
}

fn selftest() -> Result<(), String> {
    // Every register written at every value reads back from the dense form, and the
    // first thousand from the sparse form too (which is built for few registers: each
    // write scans its opcodes).
    const SPARSE_CHECKED: usize = 1000;
    let mut dense = hll::new_sparse();
    hll::to_dense(&mut dense).map_err(|e| format!("TESTFAILED {e}"))?;
    let mut sparse = hll::new_sparse();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..hll::REGISTERS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let val = (seed % 63) as u8 + 1;
        let _ = hll::raise(&mut dense, i, val, usize::MAX);
        if i < SPARSE_CHECKED {
            let _ = hll::raise(&mut sparse, i, val.min(32), usize::MAX);
        }
    }
    let (d, s) = (
        hll::registers(&dense).map_err(|e| format!("TESTFAILED {e}"))?,
        hll::registers(&sparse).map_err(|e| format!("TESTFAILED {e}"))?,
    );
    for i in 0..hll::REGISTERS {
        let sparse_ok = i >= SPARSE_CHECKED || s[i] == d[i].min(32);
        if d[i] == 0 || !sparse_ok {
            return Err(format!("TESTFAILED Register error at {i}"));
        }
    }
    // Estimates within five standard errors, and the same from both forms.
    let mut dense = hll::new_sparse();
    let mut sparse = hll::new_sparse();
    hll::to_dense(&mut dense).map_err(|e| format!("TESTFAILED {e}"))?;
    let rel = 5.0 * 1.04 / (hll::REGISTERS as f64).sqrt();
    let mut next = 10u64;
    for n in 1..=100_000u64 {
        let e = n.to_le_bytes();
        let _ = hll::add(&mut dense, &e, usize::MAX);
        // The sparse one turns dense as a real one does, at Redis's default size.
        let _ = hll::add(&mut sparse, &e, hll::SPARSE_MAX_BYTES);
        if n == next {
            next *= 10;
            let a = hll::count(&dense).map_err(|e| format!("TESTFAILED {e}"))?;
            let b = hll::count(&sparse).map_err(|e| format!("TESTFAILED {e}"))?;
            if a != b {
                return Err(format!(
                    "TESTFAILED Sparse and dense estimates differ: {b} vs {a}"
                ));
            }
            let err = (a as f64 - n as f64).abs() / n as f64;
            if err > rel {
                return Err(format!("TESTFAILED too big error. card:{n} abserr:{err}"));
            }
        }
    }
    Ok(())
}
