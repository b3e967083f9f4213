//! `MULTI`, `EXEC`, `DISCARD`, `WATCH` and `UNWATCH`, as Redis 7's `multi.c`.
//!
//! `EXEC` first locks the shards of every key its queued commands name (every shard when
//! one of them works on whole databases), and of every watched key, then checks the
//! watches and runs the commands under those locks. No other client can see part of
//! the transaction, and its changes go to the log as one record when the locks are
//! released, so recovery replays all of it or none.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use flashdb_core::keyspace::{unix_ms, Locked, WatchFlag};
use flashdb_core::table::{command_index, txn_keys, Handler};
use flashdb_core::{execute, CommandSpec, Ctx, Limits};
use smallvec::SmallVec;

use crate::commands;
use crate::connection::{ConnState, Flow};
use crate::server::Server;

/// A command queued after `MULTI`.
#[derive(Debug)]
struct Queued {
    spec: &'static CommandSpec,
    args: Vec<Vec<u8>>,
}

/// A connection's transaction state.
#[derive(Debug, Default)]
pub struct TxState {
    /// The commands queued since `MULTI`; `None` outside a transaction.
    queue: Option<Vec<Queued>>,
    /// Bytes of arguments queued, bounded by the query-buffer limit.
    queued_bytes: u64,
    /// A command was refused while queuing: `EXEC` answers `EXECABORT`.
    failed: bool,
    /// Watched keys: database, key, and whether it had already expired when watched.
    watched: Vec<(usize, Vec<u8>, bool)>,
    /// Set by any change to a watched key.
    flag: WatchFlag,
}

impl TxState {
    /// Whether `MULTI` was called and the transaction is not yet executed or discarded.
    pub fn active(&self) -> bool {
        self.queue.is_some()
    }

    /// Marks the transaction as failed because a command was refused while queuing.
    pub fn fail(&mut self) {
        if self.active() {
            self.failed = true;
        }
    }

    /// Forgets every watched key (`UNWATCH`, and after `EXEC`, `DISCARD`, `RESET`, or a
    /// disconnection).
    pub fn unwatch_all(&mut self, server: &Server) {
        for (db, key, _) in self.watched.drain(..) {
            server.ks.unwatch(db, &key, &self.flag);
        }
        // No registration refers to the flag any more, so nothing can set it again.
        self.flag.store(false, Ordering::Release);
    }

    /// Ends the transaction, if any, and forgets the watched keys.
    pub fn discard(&mut self, server: &Server) {
        self.queue = None;
        self.queued_bytes = 0;
        self.failed = false;
        self.unwatch_all(server);
    }
}

/// Queues a command inside `MULTI`, replying `QUEUED`.
pub fn queue(server: &Server, st: &mut ConnState, spec: &'static CommandSpec, args: &[&[u8]]) {
    let bytes: u64 = args.iter().map(|a| a.len() as u64 + 16).sum();
    let limit = server.query_buffer_limit.load(Ordering::Relaxed);
    let tx = &mut st.tx;
    if tx.queued_bytes.saturating_add(bytes) > limit {
        tx.failed = true;
        st.out
            .error("ERR transaction exceeds the client query buffer limit");
        return;
    }
    tx.queued_bytes += bytes;
    if let Some(q) = tx.queue.as_mut() {
        q.push(Queued {
            spec,
            args: args.iter().map(|a| a.to_vec()).collect(),
        });
    }
    st.out.simple(b"QUEUED");
}

/// `MULTI`
pub fn multi(st: &mut ConnState) {
    if st.tx.active() {
        return st.out.error("ERR MULTI calls can not be nested");
    }
    st.tx.queue = Some(Vec::new());
    st.out.ok();
}

/// `DISCARD`
pub fn discard(server: &Server, st: &mut ConnState) {
    if !st.tx.active() {
        return st.out.error("ERR DISCARD without MULTI");
    }
    st.tx.discard(server);
    st.out.ok();
}

/// `WATCH key [key ...]`
pub fn watch(server: &Server, st: &mut ConnState, args: &[&[u8]]) {
    if st.tx.active() {
        return st.out.error("ERR WATCH inside MULTI is not allowed");
    }
    for key in &args[1..] {
        let db = st.db;
        if st.tx.watched.iter().any(|(d, k, _)| *d == db && k == key) {
            continue;
        }
        let expired = server.ks.watch(db, key, &st.tx.flag);
        st.tx.watched.push((db, key.to_vec(), expired));
    }
    st.out.ok();
}

/// `UNWATCH`
pub fn unwatch(server: &Server, st: &mut ConnState) {
    st.tx.unwatch_all(server);
    st.out.ok();
}

/// `EXEC`
pub fn exec(server: &Arc<Server>, st: &mut ConnState) -> Flow {
    let Some(queue) = st.tx.queue.take() else {
        st.out.error("ERR EXEC without MULTI");
        return Flow::Continue;
    };
    st.tx.queued_bytes = 0;
    if std::mem::take(&mut st.tx.failed) {
        st.tx.unwatch_all(server);
        st.out
            .error("EXECABORT Transaction discarded because of previous errors.");
        return Flow::Continue;
    }
    let refused = queue
        .iter()
        .find_map(|q| crate::connection::refusal(server, q.spec));
    if let Some(why) = refused {
        st.tx.unwatch_all(server);
        st.out.error(&format!(
            "EXECABORT Transaction discarded because of: {why}"
        ));
        return Flow::Continue;
    }
    let queued_args: Vec<SmallVec<[&[u8]; 8]>> = queue
        .iter()
        .map(|q| q.args.iter().map(Vec::as_slice).collect())
        .collect();
    let watched = std::mem::take(&mut st.tx.watched);
    let mut keys: Vec<&[u8]> = watched.iter().map(|(_, k, _)| k.as_slice()).collect();
    let mut all = false;
    for (q, args) in queue.iter().zip(&queued_args) {
        match txn_keys(q.spec, args) {
            Some(k) => keys.extend(k),
            None => all = true,
        }
    }
    let now = unix_ms();
    st.now_ms = now;
    let ks = &server.ks;
    let mut held = if all {
        ks.lock_all_at(now)
    } else {
        ks.lock_at(now, &keys)
    };
    // Under the locks, no change to a watched key can slip in after this check.
    let dirty = st.tx.flag.load(Ordering::Acquire)
        || watched
            .iter()
            .any(|(db, key, was_expired)| !was_expired && held.is_expired_key(*db, key));
    st.tx.watched = watched;
    if dirty {
        drop(held);
        st.tx.unwatch_all(server);
        st.out.null_array();
        return Flow::Continue;
    }
    st.out.array(queue.len());
    let mut flow = Flow::Continue;
    let limits = Limits {
        max_bulk_len: server.proto_max_bulk_len.load(Ordering::Relaxed),
    };
    for (q, args) in queue.iter().zip(&queued_args) {
        let start_len = st.out.len();
        match q.spec.handler {
            Handler::Engine(_) => {
                let mut ctx = Ctx {
                    ks,
                    db: st.db,
                    out: &mut st.out,
                    limits,
                    spec: q.spec,
                    now,
                    block: None,
                    held: Some(&mut held),
                };
                execute(&mut ctx, args);
                let (blocked, db) = (ctx.block.is_some(), ctx.db);
                if blocked {
                    // Inside a transaction a blocking command never blocks: it answers
                    // as if its timeout had passed, as Redis does.
                    match q.spec.name {
                        "blmove" | "brpoplpush" => st.out.null(),
                        _ => st.out.null_array(),
                    }
                }
                if db != st.db {
                    st.db = db;
                    st.handle.db.store(db, Ordering::Relaxed);
                }
            }
            Handler::Server | Handler::Container => match q.spec.name {
                "monitor" => st
                    .out
                    .error("ERR MONITOR isn't allowed for DENY BLOCKING client"),
                // The watches end with this EXEC anyway.
                "unwatch" => st.out.ok(),
                _ => {
                    let f = commands::run(server, st, q.spec, args, Some(&mut held));
                    if f != Flow::Continue {
                        flow = f;
                    }
                }
            },
        }
        let failed = st.out.as_bytes().get(start_len) == Some(&b'-');
        st.note_command(command_index(q.spec), failed);
    }
    // Releasing the locks logs the transaction's changes as one record and wakes the
    // clients blocked on keys it filled.
    drop::<Locked<'_>>(held);
    st.tx.unwatch_all(server);
    flow
}
