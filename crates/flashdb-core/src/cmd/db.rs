//! Commands on whole databases: `SELECT`, `SWAPDB`, `MOVE`, `DBSIZE`, `FLUSHDB`, `FLUSHALL`.

use super::eq_ic;
use crate::ctx::{errors, Ctx};
use crate::db::DbShard;
use crate::log_entry::LogEntry;
use crate::numeric::parse_int;

/// Parses a database index; `Err` carries the error to send.
fn db_index(ctx: &Ctx<'_, '_>, raw: &[u8], not_int: &'static str) -> Result<usize, &'static str> {
    match parse_int(raw) {
        Some(n) if n < i64::from(i32::MIN) || n > i64::from(i32::MAX) => Err(not_int),
        Some(n) if n >= 0 && (n as usize) < ctx.ks.databases() => Ok(n as usize),
        Some(_) => Err(errors::DB_RANGE),
        None => Err(not_int),
    }
}

/// `SELECT index`
pub fn select(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    match db_index(ctx, args[1], errors::NOT_INT) {
        Ok(db) => {
            ctx.db = db;
            ctx.out.ok();
        }
        Err(e) => ctx.err(e),
    }
}

/// `SWAPDB index1 index2`
pub fn swapdb(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let a = match db_index(ctx, args[1], "ERR invalid first DB index") {
        Ok(a) => a,
        Err(e) => return ctx.err(e),
    };
    let b = match db_index(ctx, args[2], "ERR invalid second DB index") {
        Ok(b) => b,
        Err(e) => return ctx.err(e),
    };
    if a != b {
        match ctx.held.as_deref_mut() {
            Some(held) => held.swap(a, b),
            None => ctx.ks.swap(a, b),
        }
    }
    ctx.out.ok();
}

/// `MOVE key db`
pub fn move_(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let to_db = match db_index(ctx, args[2], errors::NOT_INT) {
        Ok(d) => d,
        Err(e) => return ctx.err(e),
    };
    let (key, db) = (args[1], ctx.db);
    if to_db == db {
        ctx.err(errors::SAME_OBJECT);
        return;
    }
    let mut l = ctx.lock(&[key]);
    let Some(s) = l.find(db, key) else {
        ctx.out.int(0);
        return;
    };
    if l.find(to_db, key).is_some() {
        ctx.out.int(0);
        return;
    }
    let entry = l.remove(s);
    let ready = super::wakes_blocked(&entry.value);
    l.insert_entry(to_db, entry);
    l.log(LogEntry::Move {
        db: db as u32,
        key,
        to_db: to_db as u32,
    });
    if ready {
        l.signal_ready(to_db, key);
    }
    ctx.out.int(1);
}

/// `DBSIZE`
pub fn dbsize(ctx: &mut Ctx<'_, '_>, _args: &[&[u8]]) {
    let n = ctx.shards().dbsize(ctx.db);
    ctx.out.int(n as i64);
}

/// Parses `[ASYNC|SYNC]`; `None` after replying a syntax error.
fn flush_mode(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) -> Option<bool> {
    match args.len() {
        1 => Some(false),
        2 if eq_ic(args[1], b"async") => Some(true),
        2 if eq_ic(args[1], b"sync") => Some(false),
        _ => {
            ctx.err(errors::SYNTAX);
            None
        }
    }
}

/// Frees flushed tables. Even `SYNC` frees them after the locks are released, so other
/// clients never wait for it; `ASYNC` does it on a background thread and replies at once.
fn free_tables(tables: Vec<DbShard>, background: bool) {
    if background {
        let spawned = std::thread::Builder::new()
            .name("flashdb-lazyfree".into())
            .spawn(move || drop(tables));
        // If no thread can be started, the tables were dropped with the closure.
        drop(spawned);
    } else {
        drop(tables);
    }
}

/// `FLUSHDB [ASYNC|SYNC]`
pub fn flushdb(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(background) = flush_mode(ctx, args) else {
        return;
    };
    let tables = ctx.flush(Some(ctx.db));
    free_tables(tables, background);
    ctx.out.ok();
}

/// `FLUSHALL [ASYNC|SYNC]`
pub fn flushall(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(background) = flush_mode(ctx, args) else {
        return;
    };
    let tables = ctx.flush(None);
    free_tables(tables, background);
    ctx.out.ok();
}
