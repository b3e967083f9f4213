//! `MULTI`, `EXEC`, `DISCARD`, `WATCH` and `UNWATCH`, as Redis 7's `multi.c`.
//!
//! `EXEC` first locks the shards of every key its queued commands name (every shard when
//! one of them works on whole databases), and of every watched key, then checks the
//! watches and runs the commands under those locks. No other client can see part of
//! the transaction, and its changes go to the log as one record when the locks are
//! released, so recovery replays all of it or none.
//!
//! On a group node that does not lead, `WATCH` is forwarded to the leader, which holds
//! the watches for the connection in a session (a [`RemoteWatches`] entry) until the
//! forwarded `EXEC` checks them, or `UNWATCH`, `DISCARD`, `RESET` or the connection's
//! end release them. A session the leader no longer has (it lost office, or restarted)
//! counts as touched: `EXEC` then aborts, as it would for a changed key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use flashdb_core::keyspace::{unix_ms, Locked, WatchFlag};
use flashdb_core::table::{command_index, txn_keys, Handler};
use flashdb_core::{execute, CommandSpec, Ctx};
use smallvec::SmallVec;

use crate::commands;
use crate::connection::{ConnState, Flow};
use crate::server::Server;

/// A command queued after `MULTI`: its arguments are `TxState::ranges[args]`, ranges of
/// `TxState::bytes` (one buffer for the whole queue, kept between transactions, so that
/// queuing allocates nothing once warm).
#[derive(Debug)]
struct Queued {
    spec: &'static CommandSpec,
    args: std::ops::Range<usize>,
}

/// A connection's transaction state.
#[derive(Debug, Default)]
pub struct TxState {
    /// Whether `MULTI` was called and the transaction is not yet executed or discarded.
    active: bool,
    /// The commands queued since `MULTI` (kept, empty, between transactions).
    queue: Vec<Queued>,
    /// The queued commands' arguments, back to back.
    bytes: Vec<u8>,
    /// Each queued argument's range in `bytes`.
    ranges: Vec<std::ops::Range<usize>>,
    /// The keys the queued commands name, as indexes into `ranges`.
    keys: Vec<usize>,
    /// A queued command needs every shard locked.
    all_shards: bool,
    /// A command was refused while queuing: `EXEC` answers `EXECABORT`.
    failed: bool,
    /// Watched keys: database, key, and whether it had already expired when watched.
    watched: Vec<(usize, Vec<u8>, bool)>,
    /// Set by any change to a watched key.
    flag: WatchFlag,
    /// On a group node that does not lead: the leader's session holding this
    /// connection's watches.
    remote: Option<u64>,
}

/// One connection's watches, held by the leader for a connection of another node.
#[derive(Debug)]
struct Session {
    watched: Vec<(usize, Vec<u8>, bool)>,
    flag: WatchFlag,
    used: Instant,
}

/// Watch sessions: on the leader, those it holds for other nodes' connections; on
/// every node, the sessions of its own connections to release on the leader.
#[derive(Debug, Default)]
pub struct RemoteWatches {
    sessions: Mutex<HashMap<u64, Session>>,
    releases: Mutex<Vec<u64>>,
    /// Poked when a session is to be released.
    pub release_wanted: tokio::sync::Notify,
}

/// The leader holds as many watch sessions as it may.
#[derive(Debug)]
pub struct TooManySessions;

impl std::fmt::Display for TooManySessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ERR too many clients watch keys through other nodes; WATCH on the leader")
    }
}

impl std::error::Error for TooManySessions {}

/// Sessions the leader holds at most: a `WATCH` beyond is refused.
const MAX_SESSIONS: usize = 65_536;
/// A session unused this long is dropped (its node failed to release it) once the
/// leader holds many.
const SESSION_IDLE: Duration = Duration::from_secs(600);

impl RemoteWatches {
    /// Sessions to release on the leader, taken.
    pub fn take_releases(&self) -> Vec<u64> {
        std::mem::take(&mut *self.releases.lock())
    }

    /// Releases session `id` on the leader, soon.
    pub fn release_later(&self, id: u64) {
        self.releases.lock().push(id);
        self.release_wanted.notify_one();
    }

    /// Puts session `id`'s watches (none if unknown: lost, so touched) into `tx`.
    pub fn adopt(&self, id: u64, tx: &mut TxState) {
        match self.sessions.lock().remove(&id) {
            Some(s) => {
                tx.watched = s.watched;
                tx.flag = s.flag;
            }
            None if id != 0 => tx.flag.store(true, Ordering::Release),
            None => {}
        }
    }

    /// Keeps `tx`'s watches, if any, as session `id` (a new one if 0); the session's id,
    /// or `None` when nothing is watched any more. `Err` (and nothing watched) when the
    /// leader holds too many.
    pub fn keep(
        &self,
        server: &Server,
        id: u64,
        tx: &mut TxState,
    ) -> Result<Option<u64>, TooManySessions> {
        if tx.watched.is_empty() {
            return Ok(None);
        }
        let mut sessions = self.sessions.lock();
        if sessions.len() >= MAX_SESSIONS / 2 {
            let now = Instant::now();
            sessions.retain(|_, s| {
                let keep = now.duration_since(s.used) < SESSION_IDLE;
                if !keep {
                    for (db, key, _) in &s.watched {
                        server.ks.unwatch(*db, key, &s.flag);
                    }
                }
                keep
            });
        }
        if sessions.len() >= MAX_SESSIONS {
            drop(sessions);
            tx.unwatch_all(server);
            return Err(TooManySessions);
        }
        // Random, so that an id from a leader that lost office (or restarted) is not
        // taken for one of the next leader's sessions.
        let id = if id == 0 {
            crate::server::random_u64().max(1)
        } else {
            id
        };
        sessions.insert(
            id,
            Session {
                watched: std::mem::take(&mut tx.watched),
                flag: std::mem::replace(&mut tx.flag, Arc::new(AtomicBool::new(false))),
                used: Instant::now(),
            },
        );
        Ok(Some(id))
    }
}

impl TxState {
    /// Whether a queued command may write (its `EXEC` waits out a `CLIENT PAUSE WRITE`).
    pub fn may_write(&self) -> bool {
        self.queue.iter().any(|q| {
            q.spec.has(flashdb_core::table::flag::WRITE) || q.spec.name.contains("publish")
        })
    }

    /// Whether a queued command may grow memory (its `EXEC` is refused when memory is
    /// over `maxmemory` and nothing can be evicted).
    pub fn may_grow(&self) -> bool {
        self.queue
            .iter()
            .any(|q| q.spec.has(flashdb_core::table::flag::DENYOOM))
    }

    /// Whether `MULTI` was called and the transaction is not yet executed or discarded.
    pub fn active(&self) -> bool {
        self.active
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
        if let Some(id) = self.remote.take() {
            server.remote_watches.release_later(id);
        }
        for (db, key, _) in self.watched.drain(..) {
            server.ks.unwatch(db, &key, &self.flag);
        }
        // No registration refers to the flag any more, so nothing can set it again.
        self.flag.store(false, Ordering::Release);
    }

    fn clear_queue(&mut self) {
        self.queue.clear();
        self.bytes.clear();
        self.ranges.clear();
        self.keys.clear();
        self.all_shards = false;
    }

    /// Ends the transaction, if any, and forgets the watched keys.
    pub fn discard(&mut self, server: &Server) {
        self.active = false;
        self.clear_queue();
        self.failed = false;
        self.unwatch_all(server);
    }
}

/// Queues a command inside `MULTI`, replying `QUEUED`.
pub fn queue(server: &Server, st: &mut ConnState, spec: &'static CommandSpec, args: &[&[u8]]) {
    let bytes: usize = args.iter().map(|a| a.len()).sum();
    let limit = server.query_buffer_limit.load(Ordering::Relaxed);
    let tx = &mut st.tx;
    if (tx.bytes.len() + bytes) as u64 > limit {
        tx.failed = true;
        st.out
            .error("ERR transaction exceeds the client query buffer limit");
        return;
    }
    let first = tx.ranges.len();
    let keys = &mut tx.keys;
    if !txn_keys(spec, args, |i| keys.push(first + i)) {
        tx.all_shards = true;
    }
    for a in args {
        let start = tx.bytes.len();
        tx.bytes.extend_from_slice(a);
        tx.ranges.push(start..tx.bytes.len());
    }
    tx.queue.push(Queued {
        spec,
        args: first..tx.ranges.len(),
    });
    st.out.simple(b"QUEUED");
}

/// `MULTI`
pub fn multi(st: &mut ConnState) {
    if st.tx.active() {
        return st.out.error("ERR MULTI calls can not be nested");
    }
    st.tx.active = true;
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
pub fn watch(server: &Server, st: &mut ConnState, args: &[&[u8]]) -> Flow {
    if st.tx.active() {
        st.out.error("ERR WATCH inside MULTI is not allowed");
        return Flow::Continue;
    }
    if let Some(g) = server.group.get() {
        if !g.is_ready_leader() && !st.forwarded {
            // Watched on the leader, which runs every write: see the module's notes.
            st.forward = Some(vec![args.iter().map(|a| a.to_vec()).collect()]);
            st.forward_session = Some(st.tx.remote.unwrap_or(0));
            return Flow::Forward;
        }
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
    Flow::Continue
}

impl ConnState {
    /// The leader's session holding this connection's watches, if any.
    pub fn tx_remote(&self) -> Option<u64> {
        self.tx.remote
    }
}

/// After a forwarded `WATCH`, `EXEC` or `UNWATCH`: the leader's session now holding this
/// connection's watches, if any.
pub fn set_remote(st: &mut ConnState, session: Option<u64>) {
    st.tx.remote = session;
}

/// `UNWATCH`
pub fn unwatch(server: &Server, st: &mut ConnState) {
    st.tx.unwatch_all(server);
    st.out.ok();
}

/// `EXEC` on a group node that does not lead: the transaction runs on the leader, as
/// `MULTI`, the queued commands and `EXEC` in one request, with the leader's session of
/// this connection's watches, and `EXEC`'s reply comes back.
fn forward_to_leader(server: &Server, st: &mut ConnState) -> Flow {
    if !st.tx.watched.is_empty() {
        // Keys watched here while this node led: the leader now running the
        // transaction cannot tell whether they changed since. Aborted, as if they had.
        return abort_watched(server, st);
    }
    let mut commands: Vec<Vec<Vec<u8>>> = Vec::with_capacity(st.tx.queue.len() + 2);
    commands.push(vec![b"MULTI".to_vec()]);
    for q in &st.tx.queue {
        commands.push(
            q.args
                .clone()
                .map(|i| st.tx.bytes[st.tx.ranges[i].clone()].to_vec())
                .collect(),
        );
    }
    commands.push(vec![b"EXEC".to_vec()]);
    st.tx.clear_queue();
    // The leader's EXEC ends the session.
    st.forward_session = st.tx.remote.take();
    st.forward = Some(commands);
    Flow::Forward
}

/// Ends a transaction whose watches cannot be checked: `EXEC` answers a null array, as
/// for a changed key, and nothing runs.
fn abort_watched(server: &Server, st: &mut ConnState) -> Flow {
    st.tx.clear_queue();
    st.tx.unwatch_all(server);
    st.out.null_array();
    Flow::Continue
}

/// Ends the transaction without running it because `EXEC` was refused for `why` (an
/// error reply without its `-`), answering as Redis's `execCommandAbort`.
pub fn abort(server: &Server, st: &mut ConnState, why: &str) {
    st.tx.active = false;
    st.tx.failed = false;
    st.tx.clear_queue();
    st.tx.unwatch_all(server);
    st.out.error(&format!(
        "EXECABORT Transaction discarded because of: {why}"
    ));
}

/// `EXEC`
pub fn exec(server: &Arc<Server>, st: &mut ConnState) -> Flow {
    if !std::mem::take(&mut st.tx.active) {
        st.out.error("ERR EXEC without MULTI");
        return Flow::Continue;
    }
    if std::mem::take(&mut st.tx.failed) {
        st.tx.clear_queue();
        st.tx.unwatch_all(server);
        st.out
            .error("EXECABORT Transaction discarded because of previous errors.");
        return Flow::Continue;
    }
    if let Some(g) = server.group.get() {
        if !g.is_ready_leader() && !st.forwarded {
            return forward_to_leader(server, st);
        }
        if st.tx.remote.is_some() {
            // Watched through another leader, which held the watches: this node, now
            // leading, cannot tell whether the keys changed since. (Rarely the session is
            // this node's own, made as it took office; aborting then is spurious but
            // safe: the client retries.)
            return abort_watched(server, st);
        }
        // What the transaction reads is current only if this node still leads.
        st.read_barrier = true;
    }
    let refused = st
        .tx
        .queue
        .iter()
        .find_map(|q| crate::connection::refusal(server, q.spec));
    if let Some(why) = refused {
        abort(server, st, &why);
        return Flow::Continue;
    }
    // The queue's buffers leave the connection state while the commands run (they need
    // `st` mutably), and return, emptied, for the next transaction.
    let queue = std::mem::take(&mut st.tx.queue);
    let bytes = std::mem::take(&mut st.tx.bytes);
    let ranges = std::mem::take(&mut st.tx.ranges);
    let key_args = std::mem::take(&mut st.tx.keys);
    let all = std::mem::take(&mut st.tx.all_shards);
    let watched = std::mem::take(&mut st.tx.watched);
    let arg = |i: usize| &bytes[ranges[i].clone()];
    let mut keys: SmallVec<[&[u8]; 16]> = watched.iter().map(|(_, k, _)| k.as_slice()).collect();
    keys.extend(key_args.iter().map(|&i| arg(i)));
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
    drop(keys);
    st.tx.watched = watched;
    if dirty {
        drop(held);
        st.tx.unwatch_all(server);
        st.out.null_array();
        restore(st, queue, bytes, ranges, key_args);
        return Flow::Continue;
    }
    st.out.array(queue.len());
    let mut flow = Flow::Continue;
    let limits = server.limits();
    for q in &queue {
        let args: SmallVec<[&[u8]; 8]> = q.args.clone().map(arg).collect();
        let args = &args[..];
        let start_len = st.out.len();
        // The rules may have changed since the command was queued.
        if let Err(text) = crate::acl::check_again(server, st, q.spec, args) {
            st.out.error(&text);
            st.note_command(command_index(q.spec), true);
            continue;
        }
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
                    in_script: false,
                };
                execute(&mut ctx, args);
                let (blocked, db) = (ctx.block.take(), ctx.db);
                if let Some(on) = blocked {
                    // Inside a transaction a blocking command never blocks: it answers
                    // as if its timeout had passed, as Redis does.
                    match q.spec.name {
                        "blmove" | "brpoplpush" => st.out.null(),
                        _ => on.timeout.write(&mut st.out),
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
    // What the transaction read is remembered for client-side caching while its locks
    // are still held (see `crate::tracking`).
    if st.tracking {
        let read: Vec<Vec<u8>> = queue
            .iter()
            .filter_map(|q| {
                let args: SmallVec<[&[u8]; 8]> = q.args.clone().map(arg).collect();
                crate::tracking_cmd::keys_to_remember(st, q.spec, &args)
            })
            .flatten()
            .collect();
        if !read.is_empty() {
            server.tracking.remember(st.handle.id, &read);
        }
    }
    // Releasing the locks logs the transaction's changes as one record and wakes the
    // clients blocked on keys it filled.
    drop::<Locked<'_>>(held);
    st.tx.unwatch_all(server);
    restore(st, queue, bytes, ranges, key_args);
    flow
}

/// Gives the queue's buffers back to the connection, empty, keeping their capacity.
fn restore(
    st: &mut ConnState,
    queue: Vec<Queued>,
    bytes: Vec<u8>,
    ranges: Vec<std::ops::Range<usize>>,
    keys: Vec<usize>,
) {
    st.tx.queue = queue;
    st.tx.bytes = bytes;
    st.tx.ranges = ranges;
    st.tx.keys = keys;
    st.tx.clear_queue();
}
