//! Commands on keys of any type, as Redis's `db.c` and `object.c`.

use super::eq_ic;
use crate::ctx::{errors, Ctx};
use crate::db::flags;
use crate::glob::glob_match;
use crate::log_entry::LogEntry;
use crate::numeric::{is_int_encodable, parse_int};
use crate::value::Value;

/// `DEL key [key ...]` and `UNLINK key [key ...]`
pub fn del(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let db = ctx.db;
    let keys = &args[1..];
    let mut l = ctx.lock(keys);
    let mut removed = 0;
    for key in keys {
        if l.delete(db, key).is_some() {
            removed += 1;
            l.log(LogEntry::Del { db: db as u32, key });
        }
    }
    ctx.out.int(removed);
}

/// `EXISTS key [key ...]`: a key named twice counts twice.
pub fn exists(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let keys = &args[1..];
    let mut l = ctx.lock(keys);
    let n = keys.iter().filter(|k| l.find(ctx.db, k).is_some()).count();
    ctx.out.int(n as i64);
}

/// `TOUCH key [key ...]`
pub fn touch(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let keys = &args[1..];
    let mut l = ctx.lock(keys);
    let mut n = 0;
    for k in keys {
        if let Some(s) = l.find(ctx.db, k) {
            l.touch(s);
            n += 1;
        }
    }
    ctx.out.int(n);
}

/// `TYPE key`
pub fn type_(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    let name = match l.find(ctx.db, args[1]) {
        Some(s) => l.entry(s).value.type_name(),
        None => "none",
    };
    ctx.out.simple(name.as_bytes());
}

fn rename_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], nx: bool) {
    let (from, to, db) = (args[1], args[2], ctx.db);
    let mut l = ctx.lock(&[from, to]);
    let Some(src) = l.find(db, from) else {
        ctx.err(errors::NO_SUCH_KEY);
        return;
    };
    if from == to {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return;
    }
    if l.find(db, to).is_some() {
        if nx {
            ctx.out.int(0);
            return;
        }
        l.delete(db, to);
    }
    // `find(to)` may have reclaimed an expired key, but slots of other keys never move.
    let mut entry = l.remove(src);
    entry.key = crate::compact::CompactBytes::new(to);
    let ready = super::wakes_blocked(&entry.value);
    l.insert_entry(db, entry);
    l.log(LogEntry::Rename {
        db: db as u32,
        from,
        to,
    });
    if ready {
        l.signal_ready(db, to);
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
}

/// `RENAME key newkey`
pub fn rename(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    rename_generic(ctx, args, false);
}

/// `RENAMENX key newkey`
pub fn renamenx(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    rename_generic(ctx, args, true);
}

/// `KEYS pattern`
pub fn keys(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let found = ctx.shards().keys(ctx.db, args[1]);
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`
pub fn scan(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(cursor) = std::str::from_utf8(args[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        ctx.err("ERR invalid cursor");
        return;
    };
    let mut pattern: Option<&[u8]> = None;
    let mut count = 10usize;
    let mut type_filter: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let opt = args[i];
        let Some(val) = args.get(i + 1) else {
            ctx.err(errors::SYNTAX);
            return;
        };
        if eq_ic(opt, b"count") {
            match parse_int(val) {
                Some(n) if n >= 1 => count = n.min(1 << 20) as usize,
                Some(_) => {
                    ctx.err(errors::SYNTAX);
                    return;
                }
                None => {
                    ctx.err(errors::NOT_INT);
                    return;
                }
            }
        } else if eq_ic(opt, b"match") {
            pattern = Some(val);
        } else if eq_ic(opt, b"type") {
            type_filter = Some(val);
        } else {
            ctx.err(errors::SYNTAX);
            return;
        }
        i += 2;
    }
    let all = pattern.is_none_or(|p| p == b"*");
    let (next, keys) = ctx.shards().scan(ctx.db, cursor, count, |e| {
        if let Some(t) = type_filter {
            if !e.value.type_name().as_bytes().eq_ignore_ascii_case(t) {
                return false;
            }
        }
        all || pattern.is_some_and(|p| glob_match(p, e.key.as_slice(), false))
    });
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(keys.len());
    for k in &keys {
        ctx.out.bulk(k);
    }
}

/// `RANDOMKEY`
pub fn randomkey(ctx: &mut Ctx<'_, '_>, _args: &[&[u8]]) {
    match ctx.shards().random_key(ctx.db) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
}

/// `COPY source destination [DB destination-db] [REPLACE]`
pub fn copy(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (from, to, db) = (args[1], args[2], ctx.db);
    let mut to_db = db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if eq_ic(args[i], b"replace") {
            replace = true;
        } else if eq_ic(args[i], b"db") && i + 1 < args.len() {
            match parse_int(args[i + 1]) {
                Some(n) if n >= 0 && (n as u64) < ctx.ks.databases() as u64 => to_db = n as usize,
                Some(n) if n >= i64::from(i32::MIN) && n <= i64::from(i32::MAX) => {
                    ctx.err(errors::DB_RANGE);
                    return;
                }
                _ => {
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
    if from == to && db == to_db {
        ctx.err(errors::SAME_OBJECT);
        return;
    }
    let mut l = ctx.lock(&[from, to]);
    let Some(src) = l.find(db, from) else {
        ctx.out.int(0);
        return;
    };
    let mut entry = l.entry(src).clone();
    if l.find(to_db, to).is_some() {
        if !replace {
            ctx.out.int(0);
            return;
        }
        l.delete(to_db, to);
    }
    entry.key = crate::compact::CompactBytes::new(to);
    entry.lru = l.clock();
    if super::wakes_blocked(&entry.value) {
        l.signal_ready(to_db, to);
    }
    l.insert_entry(to_db, entry);
    l.log(LogEntry::Copy {
        db: db as u32,
        from,
        to_db: to_db as u32,
        to,
    });
    ctx.out.int(1);
}

/// `OBJECT ENCODING key`: the encoding Redis would use for the value.
pub fn object_encoding(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[2]]);
    let Some(s) = l.find(ctx.db, args[2]) else {
        ctx.out.null();
        return;
    };
    let enc = encoding_of(l.entry(s));
    ctx.out.bulk(enc.as_bytes());
}

/// What `OBJECT ENCODING` reports for a key.
pub fn encoding_of(e: &crate::db::Entry) -> &'static str {
    match &e.value {
        Value::Str(v) => {
            if e.flags & flags::RAW == 0 && is_int_encodable(v.as_slice()) {
                "int"
            } else if e.flags & flags::RAW == 0 && v.len() <= 44 {
                "embstr"
            } else {
                "raw"
            }
        }
        v => v.collection_encoding().unwrap_or("raw"),
    }
}

/// `OBJECT IDLETIME key`
pub fn object_idletime(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if ctx.ks.lfu() {
        ctx.err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        return;
    }
    let mut l = ctx.lock(&[args[2]]);
    match l.find(ctx.db, args[2]) {
        Some(s) => {
            let idle = l.clock().saturating_sub(l.entry(s).lru);
            ctx.out.int(i64::from(idle));
        }
        None => ctx.out.null(),
    }
}

/// `OBJECT FREQ key`
pub fn object_freq(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[2]]);
    match l.find(ctx.db, args[2]) {
        // As Redis: a missing key is a null before the policy is looked at.
        Some(_) if !ctx.ks.lfu() => {
            drop(l);
            ctx.err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        }
        Some(s) => {
            let e = l.entry(s);
            // Apply the decay that happened since the last access, as Redis's LFUDecrAndReturn.
            let idle = l.clock().saturating_sub(e.lru);
            ctx.out.int(i64::from(ctx.ks.lfu_decayed(e.freq, idle)));
        }
        None => ctx.out.null(),
    }
}

/// `OBJECT REFCOUNT key`: values are never shared between keys, except that Redis reports
/// small integers as shared objects; FlashDB answers the same for them.
pub fn object_refcount(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[2]]);
    match l.find(ctx.db, args[2]) {
        Some(s) => {
            let e = l.entry(s);
            let shared = match &e.value {
                Value::Str(v) => {
                    e.flags & flags::RAW == 0
                        && parse_int(v.as_slice()).is_some_and(|n| (0..10000).contains(&n))
                }
                _ => false,
            };
            ctx.out.int(if shared { i64::from(i32::MAX) } else { 1 });
        }
        None => ctx.out.null(),
    }
}

/// `OBJECT HELP`
pub fn object_help(ctx: &mut Ctx<'_, '_>, _args: &[&[u8]]) {
    super::command::help_reply(
        ctx,
        &[
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Prints this help.",
        ],
    );
}

/// `MEMORY USAGE key [SAMPLES count]`: the estimated bytes of the key and its value.
pub fn memory_usage(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut samples = 5usize;
    let mut j = 3;
    while j < args.len() {
        if super::eq_ic(args[j], b"samples") && j + 1 < args.len() {
            match crate::numeric::parse_int(args[j + 1]) {
                None => return ctx.err(crate::ctx::errors::NOT_INT),
                Some(n) if n < 0 => return ctx.err(crate::ctx::errors::SYNTAX),
                Some(n) => samples = usize::try_from(n).unwrap_or(usize::MAX),
            }
            j += 2;
        } else {
            return ctx.err(crate::ctx::errors::SYNTAX);
        }
    }
    let key = args[2];
    let mut l = ctx.lock(&[key]);
    match l.find(ctx.db, key) {
        None => ctx.out.null(),
        Some(s) => {
            let bytes = crate::memory::usage(l.entry(s), samples);
            ctx.out.int(bytes as i64);
        }
    }
}
