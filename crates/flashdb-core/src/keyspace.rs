//! The sharded keyspace: every logical database, split into shards by a hash of the key.
//!
//! Each shard has its own lock and holds, for every database, the keys that hash to it
//! (so `MOVE` and `SELECT` never change a key's shard, and `SWAPDB` swaps per-shard tables
//! instead of data). A command locks the shards of its keys in ascending order, so two
//! commands never deadlock, and works on them through [`Locked`].

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, MutexGuard};
use rand::Rng;
use smallvec::SmallVec;

use crate::codec::{encode_entry, encode_snapshot_entry};
use crate::compact::CompactBytes;
use crate::db::{DbShard, Entry};
use crate::glob::glob_match;
use crate::log_entry::{note_seq, LogEntry, LogSink};
use crate::notify;
use crate::snapshot::SnapshotCut;
use crate::value::Value;

mod evict;
pub use evict::Policy;

/// Number of shards; a power of two.
pub const SHARD_COUNT: usize = 256;

/// Initial value of an LFU counter, as Redis's `LFU_INIT_VAL`.
const LFU_INIT_VAL: u8 = 5;

/// Current Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Counters kept per shard, under its lock, so that hot paths touch no shared cache line.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShardStats {
    /// Reads that found their key.
    pub hits: u64,
    /// Reads that did not.
    pub misses: u64,
    /// Keys removed because their TTL passed (lazily or actively).
    pub expired: u64,
    /// Keys removed to bring memory under `maxmemory`.
    pub evicted: u64,
}

/// One shard: a table per database plus counters.
#[derive(Debug)]
pub struct Shard {
    /// The shard's part of each database, indexed by database number.
    pub dbs: Vec<DbShard>,
    /// Counters.
    pub stats: ShardStats,
    /// A snapshot is in progress and has not captured this shard yet.
    snap_pending: bool,
    /// How far the snapshot writer has serialized this pending shard, piece by piece.
    snap_pos: SnapPos,
    /// `WATCH`ed keys of this shard: key to `(db, flag)` of each watching client.
    watched: HashMap<Vec<u8>, Vec<(usize, WatchFlag)>>,
    /// The log record that last changed this shard: whatever a command reads here may
    /// reveal that change, so its reply waits until the record is durable.
    written_seq: u64,
}

/// A client's "a watched key changed" flag, which `EXEC` checks (Redis's
/// `CLIENT_DIRTY_CAS`).
pub type WatchFlag = Arc<AtomicBool>;

impl Shard {
    /// Sets the flags of the clients watching `key` in `db`.
    fn touch_watched(&self, db: usize, key: &[u8]) {
        if let Some(v) = self.watched.get(key) {
            for (d, flag) in v {
                if *d == db {
                    flag.store(true, Ordering::Release);
                }
            }
        }
    }

    /// Sets the flags of the clients watching keys of `dbs` as those databases are
    /// emptied (`swapped` false: a key changes if it existed in its database) or swapped
    /// with each other (a key changes if it existed in either), as Redis's
    /// `touchAllWatchedKeysInDb`.
    fn touch_watched_in(&self, dbs: &[usize], swapped: bool, hash: impl Fn(&[u8]) -> u64) {
        for (key, v) in &self.watched {
            let h = hash(key);
            let exists = |d: usize| self.dbs[d].find(h, key).is_some();
            for (d, flag) in v {
                let changed = dbs.contains(d)
                    && if swapped {
                        dbs.iter().any(|&x| exists(x))
                    } else {
                        exists(*d)
                    };
                if changed {
                    flag.store(true, Ordering::Release);
                }
            }
        }
    }
}

/// A place in a shard's iteration order: a database, and a slab slot in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SnapPos {
    db: usize,
    slot: usize,
}

/// Entries the snapshot writer serializes per hold of a shard's lock: about 20 µs, so that
/// a client needing the shard meanwhile waits no longer than that.
#[cfg(not(test))]
const SNAPSHOT_PIECE: usize = 512;
/// Small in tests, so that shards of a few keys span several pieces.
#[cfg(test)]
const SNAPSHOT_PIECE: usize = 2;

impl Shard {
    /// Appends the shard's keys from `pos` on in snapshot encoding, at most `budget` of
    /// them; returns where to go on, or `None` once the shard is done.
    fn serialize_from(
        &self,
        mut pos: SnapPos,
        budget: usize,
        out: &mut Vec<u8>,
    ) -> Option<SnapPos> {
        let mut n = 0;
        while let Some(d) = self.dbs.get(pos.db) {
            while pos.slot < d.slot_count() {
                if n == budget {
                    return Some(pos);
                }
                if let Some(e) = d.get_slot(pos.slot) {
                    encode_snapshot_entry(pos.db, e, out);
                    n += 1;
                }
                pos.slot += 1;
            }
            pos = SnapPos {
                db: pos.db + 1,
                slot: 0,
            };
        }
        None
    }

    /// The rest of a pending shard (all of it if the writer has not begun it).
    fn serialize_rest(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.serialize_from(self.snap_pos, usize::MAX, &mut out);
        out
    }
}

/// What to do with a key's TTL when its value is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Keep the TTL the key had (`KEEPTTL`, `SETRANGE`, `INCR`, ...).
    Keep,
    /// Remove any TTL (a plain `SET`).
    Clear,
    /// Expire at this Unix time in milliseconds.
    At(u64),
}

/// A key removed because its TTL passed, reported so that the write path can log the
/// deletion (replay never expires keys by the clock; it replays these deletions).
#[derive(Debug, Clone)]
pub struct ExpiredKey {
    /// Database number.
    pub db: usize,
    /// The key.
    pub key: CompactBytes,
}

/// All databases.
#[derive(Debug)]
pub struct Keyspace {
    shards: Box<[Mutex<Shard>]>,
    hasher: hashbrown::DefaultHashBuilder,
    databases: usize,
    /// Unix milliseconds at creation: the origin of the LRU clock (`OBJECT IDLETIME`).
    started_ms: u64,
    lfu: AtomicBool,
    /// `lfu-log-factor`: how many hits a counter needs to grow (Redis's default 10).
    lfu_log_factor: AtomicU32,
    /// `lfu-decay-time`: minutes of idleness per counter step lost (0: never decays).
    lfu_decay_minutes: AtomicU32,
    /// Where write effects go; unset when nothing is persisted. Set once, after recovery.
    sink: std::sync::OnceLock<Box<dyn LogSink>>,
    /// Whether a snapshot is in progress (a fast check before looking at shard flags).
    snapshot_active: AtomicBool,
    /// The snapshot in progress.
    cut: Mutex<Option<std::sync::Arc<SnapshotCut>>>,
    /// Whether the data set is still being loaded at start-up.
    loading: AtomicBool,
    /// A replica: its data changes only by what its leader logged, so a key past its TTL
    /// reads as missing but stays until the leader's deletion arrives.
    replica: AtomicBool,
    /// Clients blocked on keys.
    pub blocking: crate::blocking::BlockRegistry,
    /// Number of `WATCH` registrations, so that writes skip the registry when it is zero.
    watching: AtomicUsize,
    /// `notify-keyspace-events` flags (0: no notifications).
    notify_flags: AtomicU32,
    /// Where keyspace notifications go. Set once, by the server.
    event_sink: std::sync::OnceLock<Box<dyn notify::EventSink>>,
    /// Names under which a queue was stored, in any database, since they were last
    /// pruned: lets the HTTP API and the metrics list queues without scanning every key.
    /// A name stays until [`retain_queue_names`](Self::retain_queue_names) finds no queue
    /// under it.
    /// Each name maps to the count of queue stores when it was last stored, so that
    /// pruning never forgets a name stored again while it was looking.
    queue_names: Mutex<(std::collections::BTreeMap<Vec<u8>, u64>, u64)>,
    /// Eviction candidates kept from one eviction to the next.
    evict_pool: Mutex<evict::Pool>,
    /// Held by the one thread that may wait for a shard's lock while it holds others
    /// out of ascending order (a script reaching a key it did not declare), or in
    /// ascending order over many shards (`lock_all`). Every other thread waits for a
    /// shard only while it holds none (see [`Keyspace::lock_at`]), so no two threads
    /// can wait for each other: the one waiting while holding is alone.
    gate: Mutex<()>,
    /// The shards a script holds, one bit each: a command needing one of them waits
    /// for the script outside the lock (a long script must not hold up runtime workers
    /// parked on its locks).
    script_shards: [std::sync::atomic::AtomicU64; SHARD_COUNT / 64],
    /// The function libraries' codes (`FUNCTION LOAD`), with a version that changes
    /// with them: the server's Lua state for functions is rebuilt from these when its
    /// version is behind. Changed under every shard's lock, so a snapshot's cut sees
    /// them as of its sequence number.
    functions: Mutex<(u64, Vec<Vec<u8>>)>,
}

impl Keyspace {
    /// A keyspace of `databases` empty databases.
    pub fn new(databases: usize) -> Self {
        let shards = (0..SHARD_COUNT)
            .map(|_| {
                Mutex::new(Shard {
                    dbs: (0..databases).map(|_| DbShard::default()).collect(),
                    stats: ShardStats::default(),
                    snap_pending: false,
                    snap_pos: SnapPos::default(),
                    watched: HashMap::new(),
                    written_seq: 0,
                })
            })
            .collect();
        Keyspace {
            shards,
            hasher: hashbrown::DefaultHashBuilder::default(),
            databases,
            started_ms: unix_ms(),
            lfu: AtomicBool::new(false),
            lfu_log_factor: AtomicU32::new(10),
            lfu_decay_minutes: AtomicU32::new(1),
            sink: std::sync::OnceLock::new(),
            snapshot_active: AtomicBool::new(false),
            cut: Mutex::new(None),
            loading: AtomicBool::new(false),
            replica: AtomicBool::new(false),
            blocking: crate::blocking::BlockRegistry::default(),
            watching: AtomicUsize::new(0),
            notify_flags: AtomicU32::new(0),
            event_sink: std::sync::OnceLock::new(),
            queue_names: Mutex::new((std::collections::BTreeMap::new(), 0)),
            evict_pool: Mutex::new(evict::Pool::default()),
            gate: Mutex::new(()),
            script_shards: Default::default(),
            functions: Mutex::new((0, Vec::new())),
        }
    }

    /// Up to `limit` names that may hold a queue (in some database), in byte order, after
    /// `after` (exclusive; `None` from the start).
    pub fn queue_names(&self, after: Option<&[u8]>, limit: usize) -> Vec<Vec<u8>> {
        use std::ops::Bound;
        let names = self.queue_names.lock();
        let start = match after {
            Some(a) => Bound::Excluded(a.to_vec()),
            None => Bound::Unbounded,
        };
        names
            .0
            .range((start, Bound::Unbounded))
            .take(limit)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Forgets the names for which `keep` is false (no database holds a queue there any
    /// more).
    pub fn retain_queue_names(&self, mut keep: impl FnMut(&[u8]) -> bool) {
        // `keep` locks shards, and a store notes its name under a shard lock: the list is
        // copied first so that the two locks are never held in the other order.
        let names: Vec<(Vec<u8>, u64)> = self
            .queue_names
            .lock()
            .0
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let gone: Vec<(Vec<u8>, u64)> = names.into_iter().filter(|(n, _)| !keep(n)).collect();
        if !gone.is_empty() {
            let mut names = self.queue_names.lock();
            for (n, stamp) in gone {
                if names.0.get(&n) == Some(&stamp) {
                    names.0.remove(&n);
                }
            }
        }
    }

    fn note_queue(&self, key: &[u8]) {
        let mut names = self.queue_names.lock();
        names.1 += 1;
        let stamp = names.1;
        names.0.insert(key.to_vec(), stamp);
    }

    /// Sets the `notify-keyspace-events` flags (see [`notify::parse_flags`]).
    pub fn set_notify_flags(&self, flags: u32) {
        // The tap and tracking are the server's, not part of the configured flags.
        let internal = notify::TAP | notify::TRACK;
        let kept = self.notify_flags.load(Ordering::Relaxed) & internal;
        self.notify_flags
            .store((flags & !internal) | kept, Ordering::Relaxed);
    }

    /// Sends keyspace notifications to `sink` from now on (only the first call counts).
    pub fn set_event_sink(&self, sink: Box<dyn notify::EventSink>) {
        let _ = self.event_sink.set(sink);
    }

    /// Turns the internal listener's tap on or off (see [`notify::TAP`]).
    pub fn set_event_tap(&self, on: bool) {
        self.set_internal_flag(notify::TAP, on);
    }

    /// Turns the events for client-side caching on or off (see [`notify::TRACK`]).
    pub fn set_event_track(&self, on: bool) {
        self.set_internal_flag(notify::TRACK, on);
    }

    fn set_internal_flag(&self, flag: u32, on: bool) {
        if on {
            self.notify_flags.fetch_or(flag, Ordering::Relaxed);
        } else {
            self.notify_flags.fetch_and(!flag, Ordering::Relaxed);
        }
    }

    /// The notification flags, or 0 when nothing would be published.
    fn notify_flags(&self) -> u32 {
        let f = self.notify_flags.load(Ordering::Relaxed);
        if f & (notify::KEYSPACE | notify::KEYEVENT | notify::TAP | notify::TRACK) == 0
            || self.event_sink.get().is_none()
        {
            0
        } else {
            f
        }
    }

    /// Publishes `events`, which reveal log record `seq` (0: none).
    fn publish_events(&self, events: &mut Vec<notify::Event>, seq: u64) {
        if let Some(sink) = self.event_sink.get() {
            let flags = self.notify_flags.load(Ordering::Relaxed);
            for (class, name, db, key) in events.drain(..) {
                sink.publish(flags, class, db, name, &key, seq);
            }
            sink.flush();
        }
    }

    /// Notes (see [`note_seq`]) that a reply depends on record `seq`, read from a shard's
    /// `written_seq`, unless that record is durable already: then nothing needs to wait,
    /// and a read of durable data is served even after the log failed.
    fn note_read(&self, seq: u64) {
        if seq == 0 {
            return;
        }
        if let Some(sink) = self.sink.get() {
            if seq > sink.durable_seq() {
                note_seq(seq);
            }
        }
    }

    /// Starts watching `key` of `db` for the client whose flag is `flag` (`WATCH`).
    /// Returns whether the key has already passed its TTL (Redis then does not count its
    /// expiry as a change).
    pub fn watch(&self, db: usize, key: &[u8], flag: &WatchFlag) -> bool {
        let mut l = self.lock(&[key]);
        let (pos, hash) = l.locate(key);
        let now = l.now;
        let shard = &mut l.guards[pos].1;
        let d = &shard.dbs[db];
        let expired = d
            .find(hash, key)
            .is_some_and(|i| is_expired(d.entry(i), now));
        shard
            .watched
            .entry(key.to_vec())
            .or_default()
            .push((db, flag.clone()));
        self.watching.fetch_add(1, Ordering::Relaxed);
        expired
    }

    /// Stops watching `key` of `db` for the client whose flag is `flag`.
    pub fn unwatch(&self, db: usize, key: &[u8], flag: &WatchFlag) {
        let mut l = self.lock(&[key]);
        let (pos, _) = l.locate(key);
        let watched = &mut l.guards[pos].1.watched;
        let Some(v) = watched.get_mut(key) else {
            return;
        };
        if let Some(i) = v.iter().position(|(d, f)| *d == db && Arc::ptr_eq(f, flag)) {
            v.swap_remove(i);
            self.watching.fetch_sub(1, Ordering::Relaxed);
        }
        if v.is_empty() {
            watched.remove(key);
        }
    }

    fn watching(&self) -> bool {
        self.watching.load(Ordering::Relaxed) > 0
    }

    /// Marks the data set as loading (commands get `-LOADING`) or loaded.
    pub fn set_loading(&self, on: bool) {
        self.loading.store(on, Ordering::Release);
    }

    /// Marks this keyspace as a replica's (see the field) or a leader's.
    pub fn set_replica(&self, on: bool) {
        self.replica.store(on, Ordering::Release);
    }

    /// Whether this keyspace is a replica's.
    pub fn replica(&self) -> bool {
        self.replica.load(Ordering::Acquire)
    }

    /// Whether the data set is still being loaded.
    pub fn loading(&self) -> bool {
        self.loading.load(Ordering::Acquire)
    }

    /// Starts a snapshot: takes the consistent cut at the log's current sequence number.
    /// Returns `None` when no log is attached or a snapshot is already in progress.
    pub fn begin_snapshot(&self) -> Option<std::sync::Arc<SnapshotCut>> {
        let sink = self.sink.get()?;
        let gate = self.gate.lock();
        let mut guards: Vec<MutexGuard<'_, Shard>> = self.shards.iter().map(|s| s.lock()).collect();
        drop(gate);
        if self.snapshot_active.load(Ordering::Acquire) {
            return None;
        }
        // Appends happen under shard locks, so with every lock held the log is still.
        let functions = self.functions.lock().1.clone();
        let cut = std::sync::Arc::new(SnapshotCut::new(
            sink.snapshot_cut(),
            SHARD_COUNT,
            functions,
        ));
        for g in guards.iter_mut() {
            g.snap_pending = true;
            g.snap_pos = SnapPos::default();
        }
        *self.cut.lock() = Some(cut.clone());
        self.snapshot_active.store(true, Ordering::Release);
        Some(cut)
    }

    /// The image of shard `i` for the snapshot `cut`, serialized a piece at a time so that
    /// clients are never held up for a whole shard. Between pieces the shard is unchanged:
    /// a command about to change it first captures the rest (from where the writer got to),
    /// and the writer takes that rest. `between_pieces` runs with no lock held, so that
    /// the caller can give clients the CPU.
    pub fn snapshot_shard(
        &self,
        i: usize,
        cut: &SnapshotCut,
        between_pieces: &mut dyn FnMut(),
    ) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut g = self.shards[i].lock();
            if !g.snap_pending {
                drop(g);
                if let Some(rest) = cut.take(i) {
                    out.extend_from_slice(&rest);
                }
                return out;
            }
            let pos = g.snap_pos;
            match g.serialize_from(pos, SNAPSHOT_PIECE, &mut out) {
                Some(next) => g.snap_pos = next,
                None => {
                    g.snap_pending = false;
                    return out;
                }
            }
            drop(g);
            between_pieces();
        }
    }

    /// The whole image for `cut`, chunk by chunk to `write`: every shard's (see
    /// [`snapshot_shard`](Self::snapshot_shard)), then the function libraries if there are
    /// any. The first error `write` returns stops it.
    pub fn write_image<E>(
        &self,
        cut: &SnapshotCut,
        between_pieces: &mut dyn FnMut(),
        write: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        for i in 0..SHARD_COUNT {
            write(&self.snapshot_shard(i, cut, between_pieces))?;
        }
        if !cut.functions.is_empty() {
            write(&crate::codec::encode_functions_chunk(&cut.functions))?;
        }
        Ok(())
    }

    /// Ends the snapshot in progress (finished or abandoned).
    pub fn end_snapshot(&self) {
        if !self.snapshot_active.load(Ordering::Acquire) {
            return;
        }
        for s in self.shards.iter() {
            s.lock().snap_pending = false;
        }
        self.snapshot_active.store(false, Ordering::Release);
        *self.cut.lock() = None;
    }

    /// Captures, for the snapshot in progress, any of the given locked shards that is still
    /// pending: called before anything changes them.
    fn capture_pending<'a: 'g, 'g>(
        &self,
        guards: impl Iterator<Item = (usize, &'g mut MutexGuard<'a, Shard>)>,
    ) {
        if !self.snapshot_active.load(Ordering::Acquire) {
            return;
        }
        let cut = self.cut.lock().clone();
        let Some(cut) = cut else { return };
        for (i, g) in guards {
            if g.snap_pending {
                g.snap_pending = false;
                cut.put(i, g.serialize_rest());
            }
        }
    }

    /// Loads keys read from a snapshot, as `(database, entry)`, at start-up, replacing any
    /// key already present. Each shard is locked once per batch and its tables grown once
    /// to their final size: loading key by key spent a third of a 1M-key restart on
    /// locking, probing the table twice per key and rehashing it at every doubling.
    pub fn load_entries(&self, batch: Vec<(usize, Entry)>) {
        let mut keyed: Vec<(usize, u64, usize, Entry)> = batch
            .into_iter()
            .map(|(db, e)| {
                let hash = self.hash(e.key.as_slice());
                (Self::shard_of(hash), hash, db, e)
            })
            .collect();
        // A snapshot frame holds one shard's keys, so this is sorted already. (Stable: of
        // two copies of a key, which a sound snapshot never has, the later one wins.)
        if !keyed.is_sorted_by_key(|k| k.0) {
            keyed.sort_by_key(|k| k.0);
        }
        // (shard, keys, keys per database) of each run of one shard's keys.
        let mut runs: Vec<(usize, usize, Vec<usize>)> = Vec::new();
        for (shard, _, db, _) in &keyed {
            match runs.last_mut() {
                Some((s, n, per_db)) if s == shard => {
                    *n += 1;
                    per_db[*db] += 1;
                }
                _ => {
                    let mut per_db = vec![0; self.databases];
                    per_db[*db] = 1;
                    runs.push((*shard, 1, per_db));
                }
            }
        }
        let mut keyed = keyed.into_iter();
        for (shard, n, per_db) in runs {
            let mut g = self.shards[shard].lock();
            for (db, count) in per_db.into_iter().enumerate() {
                if count > 0 {
                    g.dbs[db].reserve(count);
                }
            }
            for (_, hash, db, entry) in keyed.by_ref().take(n) {
                if matches!(entry.value, Value::Queue(_)) {
                    self.note_queue(entry.key.as_slice());
                }
                g.dbs[db].upsert(hash, entry);
            }
        }
    }

    /// Forgets which record last changed each shard: the memory was rebuilt from
    /// committed data only, so nothing read from it waits for anything.
    pub fn clear_written_seqs(&self) {
        for s in self.shards.iter() {
            s.lock().written_seq = 0;
        }
    }

    /// The sequence number of the last record the log assigned (0 without a log).
    pub fn last_seq(&self) -> u64 {
        self.sink.get().map_or(0, |s| s.last_seq())
    }

    /// Sends every write's effects to `sink` from now on. Only the first call has effect:
    /// the log is attached once, when recovery has finished.
    pub fn set_log_sink(&self, sink: Box<dyn LogSink>) {
        let _ = self.sink.set(sink);
    }

    /// Whether writes must describe their effects (a log is attached).
    pub fn logging(&self) -> bool {
        self.sink.get().is_some()
    }

    /// Number of logical databases.
    pub fn databases(&self) -> usize {
        self.databases
    }

    /// Whether an LFU eviction policy is selected (access frequencies are then tracked).
    pub fn set_lfu(&self, on: bool) {
        self.lfu.store(on, Ordering::Relaxed);
    }

    /// Whether access frequencies are tracked.
    pub fn lfu(&self) -> bool {
        self.lfu.load(Ordering::Relaxed)
    }

    /// Sets `lfu-log-factor` and `lfu-decay-time` (minutes), as Redis's.
    pub fn set_lfu_tuning(&self, log_factor: u32, decay_minutes: u32) {
        self.lfu_log_factor.store(log_factor, Ordering::Relaxed);
        self.lfu_decay_minutes
            .store(decay_minutes, Ordering::Relaxed);
    }

    /// An LFU counter as it reads after `idle_secs` without access: one step lost per
    /// `lfu-decay-time` minutes, as Redis's `LFUDecrAndReturn`.
    pub fn lfu_decayed(&self, freq: u8, idle_secs: u32) -> u8 {
        match self.lfu_decay_minutes.load(Ordering::Relaxed) {
            0 => freq,
            d => freq.saturating_sub((idle_secs / 60 / d).min(255) as u8),
        }
    }

    /// `lfu-log-factor`.
    pub fn lfu_log_factor(&self) -> u32 {
        self.lfu_log_factor.load(Ordering::Relaxed)
    }

    /// The access clock now, in seconds (`INFO`'s `lru_clock`).
    pub fn lru_clock(&self) -> u32 {
        self.clock_at(unix_ms())
    }

    /// The LRU clock at Unix time `now_ms`, so that a command needs only one clock reading.
    fn clock_at(&self, now_ms: u64) -> u32 {
        crate::db::LRU_CLOCK_BASE
            .saturating_add((now_ms.saturating_sub(self.started_ms) / 1000) as u32)
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard a hash belongs to. hashbrown uses the low bits for buckets and the top
    /// seven for its control bytes, so the shard is taken from bits in between.
    fn shard_of(hash: u64) -> usize {
        ((hash >> 40) as usize) & (SHARD_COUNT - 1)
    }

    /// The shard index a key belongs to.
    pub fn shard_index(&self, key: &[u8]) -> usize {
        Self::shard_of(self.hash(key))
    }

    /// Locks the shards of `keys` (each once, in ascending order).
    pub fn lock<'a>(&'a self, keys: &[&[u8]]) -> Locked<'a> {
        self.lock_at(unix_ms(), keys)
    }

    /// Locks the shards of `keys` for a command whose time is `now` (Unix milliseconds).
    /// The keys' hashes are remembered, so that finding them under the lock does not hash
    /// them again.
    pub fn lock_at<'a>(&'a self, now: u64, keys: &[&[u8]]) -> Locked<'a> {
        let mut hashes: SmallVec<[(usize, usize, u64); 4]> = SmallVec::new();
        let mut idx: SmallVec<[usize; 4]> = SmallVec::new();
        for k in keys {
            let h = self.hash(k);
            hashes.push((k.as_ptr() as usize, k.len(), h));
            idx.push(Self::shard_of(h));
        }
        idx.sort_unstable();
        idx.dedup();
        let mut l = self.lock_shards_at(now, &idx);
        l.hashes = hashes;
        l
    }

    fn lock_shards_at<'a>(&'a self, now: u64, sorted: &[usize]) -> Locked<'a> {
        let guards = match sorted {
            [] => SmallVec::new(),
            [one] => smallvec::smallvec![(*one, self.shards[*one].lock())],
            _ => self.acquire_without_waiting_while_holding(sorted),
        };
        self.locked(now, guards, None)
    }

    /// The locks of several shards (`sorted`), taken so that this thread never waits for
    /// one while holding another: it waits for one shard holding nothing, then tries the
    /// others; if one is taken, it lets all go and waits for that one. A script may wait
    /// for a shard while holding others in any order (see `gate`); were this thread to
    /// wait while holding, the two could wait for each other.
    fn acquire_without_waiting_while_holding<'a>(
        &'a self,
        sorted: &[usize],
    ) -> SmallVec<[(usize, MutexGuard<'a, Shard>); 2]> {
        let mut first = 0;
        'retry: loop {
            let mut guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 2]> =
                SmallVec::with_capacity(sorted.len());
            guards.push((sorted[first], self.shards[sorted[first]].lock()));
            for (n, &i) in sorted.iter().enumerate() {
                if n == first {
                    continue;
                }
                match self.shards[i].try_lock() {
                    Some(g) => guards.push((i, g)),
                    None => {
                        drop(guards);
                        first = n;
                        continue 'retry;
                    }
                }
            }
            guards.sort_unstable_by_key(|(i, _)| *i);
            return guards;
        }
    }

    fn locked<'a>(
        &'a self,
        now: u64,
        guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 2]>,
        gate: Option<MutexGuard<'a, ()>>,
    ) -> Locked<'a> {
        Locked {
            ks: self,
            guards,
            now,
            clock: self.clock_at(now),
            expired: Vec::new(),
            effects: Vec::new(),
            hashes: SmallVec::new(),
            ready: Vec::new(),
            cmd: "",
            events: Vec::new(),
            replaying: false,
            gate,
        }
    }

    /// Locks for a script: the shards of the keys it declares, and the gate that lets
    /// it take more shards as it reaches keys it did not declare
    /// ([`Locked::hold`]). Scripts run one at a time.
    pub fn lock_script<'a>(&'a self, now: u64, keys: &[&[u8]]) -> Locked<'a> {
        let gate = self.gate.lock();
        let mut idx: SmallVec<[usize; 4]> =
            keys.iter().map(|k| Self::shard_of(self.hash(k))).collect();
        idx.sort_unstable();
        idx.dedup();
        // Holding the gate, this thread is the only one that waits while holding.
        let guards = idx.iter().map(|&i| (i, self.shards[i].lock())).collect();
        let l = self.locked(now, guards, Some(gate));
        l.mark_script_shards();
        l
    }

    /// The function libraries' codes, and their version.
    pub fn functions(&self) -> (u64, Vec<Vec<u8>>) {
        self.functions.lock().clone()
    }

    /// The version of the function libraries (it changes with every change to them).
    pub fn functions_version(&self) -> u64 {
        self.functions.lock().0
    }

    /// Replaces the function libraries (recovery, a replica applying its leader's log, or
    /// a snapshot being loaded).
    pub fn store_functions(&self, codes: Vec<Vec<u8>>) {
        let mut f = self.functions.lock();
        f.0 += 1;
        f.1 = codes;
    }

    /// Whether a script holds (or is taking) the shard of any of `keys`, or, with no
    /// keys, whether a script runs at all.
    pub fn script_holds_any(&self, keys: &[&[u8]]) -> bool {
        let bits =
            |i: usize| self.script_shards[i / 64].load(Ordering::Acquire) & (1 << (i % 64)) != 0;
        if keys.is_empty() {
            return self
                .script_shards
                .iter()
                .any(|w| w.load(Ordering::Acquire) != 0);
        }
        keys.iter().any(|k| bits(self.shard_index(k)))
    }

    /// Locks the shards of `keys` to apply a log entry (recovery, or a replica applying
    /// what its leader logged): no clock, and nothing logged again.
    pub fn replay_lock<'a>(&'a self, keys: &[&[u8]]) -> Locked<'a> {
        let mut l = self.lock_at(0, keys);
        l.replaying = true;
        l
    }

    /// [`replay_lock`](Self::replay_lock) of every shard.
    pub fn replay_lock_all(&self) -> Locked<'_> {
        let mut l = self.lock_all_at(0);
        l.replaying = true;
        l
    }

    /// Locks every shard, for operations on whole databases (`SWAPDB`, `FLUSHALL`).
    pub fn lock_all(&self) -> Locked<'_> {
        self.lock_all_at(unix_ms())
    }

    /// [`lock_all`](Self::lock_all) for a command whose time is `now`.
    pub fn lock_all_at(&self, now: u64) -> Locked<'_> {
        // Waiting for shards in turn while holding the ones before: only as the gate's
        // holder (see `gate`).
        let gate = self.gate.lock();
        let guards = (0..SHARD_COUNT)
            .map(|i| (i, self.shards[i].lock()))
            .collect();
        drop(gate);
        self.locked(now, guards, None)
    }

    /// Number of keys in `db` (keys whose TTL passed but are not yet reclaimed included,
    /// as Redis counts them).
    pub fn dbsize(&self, db: usize) -> usize {
        Shards::Each(self).dbsize(db)
    }

    /// `(keys, keys with a TTL)` for every database.
    pub fn db_counts(&self) -> Vec<(usize, usize)> {
        Shards::Each(self).db_counts(self.databases)
    }

    /// Counters summed over all shards.
    pub fn stats(&self) -> ShardStats {
        Shards::Each(self).stats()
    }

    /// Resets the hit and miss counters (`CONFIG RESETSTAT`).
    pub fn reset_stats(&self) {
        for s in self.shards.iter() {
            s.lock().stats = ShardStats::default();
        }
    }

    /// Empties `db` (every database with `None`), atomically with respect to other commands.
    /// Returns the removed tables so that the caller decides where to free them: freeing
    /// millions of keys takes time, which must not be spent holding the locks.
    pub fn flush(&self, db: Option<usize>) -> Vec<DbShard> {
        self.lock_all().flush(db)
    }

    /// Swaps two databases atomically (`SWAPDB`): O(shards), whatever their size.
    pub fn swap(&self, a: usize, b: usize) {
        self.lock_all().swap(a, b)
    }

    /// Keys of `db` matching `pattern` (`KEYS`). Locks one shard at a time.
    pub fn keys(&self, db: usize, pattern: &[u8]) -> Vec<Vec<u8>> {
        Shards::Each(self).keys(db, pattern)
    }

    /// One step of `SCAN` over `db` from `cursor` (see [`Shards::scan`]). Locks one shard
    /// at a time.
    pub fn scan(
        &self,
        db: usize,
        cursor: u64,
        count: usize,
        filter: impl FnMut(&Entry) -> bool,
    ) -> (u64, Vec<Vec<u8>>) {
        Shards::Each(self).scan(db, cursor, count, filter)
    }

    /// A random key of `db` that has not expired, or `None` when it is empty.
    pub fn random_key(&self, db: usize) -> Option<Vec<u8>> {
        Shards::Each(self).random_key(db)
    }

    /// Reclaims keys whose TTL passed, at most `per_lock` keys per shard lock so that no
    /// client waits long, and about `budget` keys in all. Calls `on_expired` for each.
    /// Returns how many keys were removed and whether expired keys remain.
    pub fn active_expire(
        &self,
        per_lock: usize,
        budget: usize,
        mut on_expired: impl FnMut(ExpiredKey),
    ) -> (usize, bool) {
        let mut removed = 0;
        let mut more = false;
        for (shard_index, shard) in self.shards.iter().enumerate() {
            if removed >= budget {
                return (removed, true);
            }
            let mut s = shard.lock();
            let now = unix_ms();
            if s.dbs
                .iter()
                .any(|d| d.next_expired(now.saturating_sub(1)).is_some())
            {
                self.capture_pending(std::iter::once((shard_index, &mut s)));
            }
            let mut n = 0;
            let mut effects = pooled_effects();
            let mut events = Vec::new();
            for db in 0..s.dbs.len() {
                while n < per_lock {
                    let Some(idx) = s.dbs[db].next_expired(now.saturating_sub(1)) else {
                        break;
                    };
                    let key = {
                        let d = &mut s.dbs[db];
                        let hash = self.hash(d.entry(idx).key.as_slice());
                        d.remove(hash, idx).key
                    };
                    s.stats.expired += 1;
                    if self.watching() {
                        s.touch_watched(db, key.as_slice());
                    }
                    if self.logging() {
                        let del = LogEntry::Del {
                            db: db as u32,
                            key: key.as_slice(),
                        };
                        encode_entry(&del, &mut effects);
                    }
                    if notify::wants(self.notify_flags(), notify::EXPIRED) {
                        events.push((notify::EXPIRED, "expired", db, key.as_slice().to_vec()));
                    }
                    on_expired(ExpiredKey { db, key });
                    n += 1;
                }
                if n >= per_lock {
                    more = true;
                    break;
                }
            }
            let mut seq = 0;
            if let (Some(sink), false) = (self.sink.get(), effects.is_empty()) {
                seq = sink.append(&effects);
                s.written_seq = seq;
            }
            give_back_effects(effects);
            drop(s);
            self.publish_events(&mut events, seq);
            removed += n;
        }
        (removed, more)
    }
}

/// The shards as a whole-keyspace command sees them: locked one at a time, or all held
/// by the transaction (`EXEC`) the command runs in.
pub enum Shards<'x, 'a> {
    /// Lock each shard while visiting it.
    Each(&'x Keyspace),
    /// Every shard is held by these locks.
    Held(&'x Locked<'a>),
}

impl Shards<'_, '_> {
    /// Runs `f` on shard `i`.
    fn with<R>(&self, i: usize, f: impl FnOnce(&Shard) -> R) -> R {
        self.visit(i, true, f)
    }

    /// Runs `f` on shard `i`; `reveals` says whether what `f` learns goes into a reply
    /// that must wait until the shard's last write is durable. Statistics (`INFO`, the
    /// metrics) do not wait, so that an operator can still read them after the log failed.
    fn visit<R>(&self, i: usize, reveals: bool, f: impl FnOnce(&Shard) -> R) -> R {
        match self {
            Shards::Each(ks) => {
                let shard = ks.shards[i].lock();
                if reveals {
                    ks.note_read(shard.written_seq);
                }
                f(&shard)
            }
            Shards::Held(l) => match l.guards.binary_search_by_key(&i, |(j, _)| *j) {
                Ok(pos) => f(&l.guards[pos].1),
                Err(_) => panic!("a transaction ran a whole-keyspace command without shard {i}"),
            },
        }
    }

    /// Number of keys in `db`.
    pub fn dbsize(&self, db: usize) -> usize {
        (0..SHARD_COUNT)
            .map(|i| self.with(i, |s| s.dbs[db].len()))
            .sum()
    }

    /// `(keys, keys with a TTL)` for each of `databases` databases.
    pub fn db_counts(&self, databases: usize) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0); databases];
        for i in 0..SHARD_COUNT {
            self.visit(i, false, |s| {
                for (o, d) in out.iter_mut().zip(&s.dbs) {
                    o.0 += d.len();
                    o.1 += d.volatile_len();
                }
            });
        }
        out
    }

    /// Counters summed over all shards.
    pub fn stats(&self) -> ShardStats {
        let mut total = ShardStats::default();
        for i in 0..SHARD_COUNT {
            let st = self.visit(i, false, |s| s.stats);
            total.hits += st.hits;
            total.misses += st.misses;
            total.expired += st.expired;
            total.evicted += st.evicted;
        }
        total
    }

    /// Keys of `db` matching `pattern` (`KEYS`).
    pub fn keys(&self, db: usize, pattern: &[u8]) -> Vec<Vec<u8>> {
        let now = unix_ms();
        let all = pattern == b"*";
        let mut out = Vec::new();
        for i in 0..SHARD_COUNT {
            self.with(i, |s| {
                for (_, e) in s.dbs[db].iter() {
                    if is_expired(e, now) {
                        continue;
                    }
                    if all || glob_match(pattern, e.key.as_slice(), false) {
                        out.push(e.key.as_slice().to_vec());
                    }
                }
            });
        }
        out
    }

    /// One step of `SCAN` over `db` from `cursor`: visits about `count` keys and returns the
    /// next cursor (0 when done) and the keys that pass `filter`.
    ///
    /// The cursor is `shard << 32 | slab index`; entries never move within a slab, so every
    /// key present for the whole iteration is returned at least once.
    pub fn scan(
        &self,
        db: usize,
        cursor: u64,
        count: usize,
        mut filter: impl FnMut(&Entry) -> bool,
    ) -> (u64, Vec<Vec<u8>>) {
        let now = unix_ms();
        let mut shard = (cursor >> 32) as usize;
        let mut slot = (cursor & 0xffff_ffff) as usize;
        let mut out = Vec::new();
        let mut visited = 0usize;
        // Bound the work of one call also when the slab is full of holes.
        let mut probes = 0usize;
        let count = count.max(1);
        let probe_limit = count.saturating_mul(16).max(1024);
        while shard < SHARD_COUNT {
            let stopped = self.with(shard, |s| {
                let d = &s.dbs[db];
                let end = d.slot_count();
                while slot < end {
                    if visited >= count || probes >= probe_limit {
                        return true;
                    }
                    probes += 1;
                    if let Some(e) = d.get_slot(slot) {
                        visited += 1;
                        if !is_expired(e, now) && filter(e) {
                            out.push(e.key.as_slice().to_vec());
                        }
                    }
                    slot += 1;
                }
                false
            });
            if stopped {
                return (((shard as u64) << 32) | slot as u64, out);
            }
            shard += 1;
            slot = 0;
        }
        (0, out)
    }

    /// A random key of `db` that has not expired, or `None` when it is empty.
    pub fn random_key(&self, db: usize) -> Option<Vec<u8>> {
        let mut rng = rand::thread_rng();
        let now = unix_ms();
        // Pick shards in proportion to their size, then a random entry in the shard. The
        // sizes are read once: a retry (an expired key drawn) does not need them exact.
        let sizes: Vec<usize> = (0..SHARD_COUNT)
            .map(|i| self.with(i, |s| s.dbs[db].len()))
            .collect();
        let total: usize = sizes.iter().sum();
        if total == 0 {
            return None;
        }
        for _ in 0..100 {
            let mut pick = rng.gen_range(0..total);
            let mut shard = 0;
            for (i, &n) in sizes.iter().enumerate() {
                if pick < n {
                    shard = i;
                    break;
                }
                pick -= n;
            }
            let found = self.with(shard, |s| {
                let d = &s.dbs[db];
                let e = d.entry(d.random_slot(&mut rng)?);
                (!is_expired(e, now)).then(|| e.key.as_slice().to_vec())
            });
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

/// Whether `e`'s TTL has passed at `now` (Redis: expired when now > expire time).
pub fn is_expired(e: &Entry, now: u64) -> bool {
    e.expire_at != 0 && now > e.expire_at
}

/// A reference to a key found in a locked shard.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pos: usize,
    hash: u64,
    idx: usize,
    db: usize,
}

impl Slot {
    /// The database of the key.
    pub fn db(self) -> usize {
        self.db
    }
}

/// The locks a command works under: its own, released (and its effects logged) when the
/// command ends, or those of the `EXEC` it runs in, released when the transaction ends.
// Lives on the stack for one command; boxing the large variant would cost an allocation
// per command.
#[allow(clippy::large_enum_variant)]
pub enum LockRef<'h, 'a> {
    /// The command's own locks.
    Own(Locked<'a>),
    /// The transaction's.
    Held(&'h mut Locked<'a>),
}

impl<'a> std::ops::Deref for LockRef<'_, 'a> {
    type Target = Locked<'a>;
    fn deref(&self) -> &Locked<'a> {
        match self {
            LockRef::Own(l) => l,
            LockRef::Held(l) => l,
        }
    }
}

impl std::ops::DerefMut for LockRef<'_, '_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            LockRef::Own(l) => l,
            LockRef::Held(l) => l,
        }
    }
}

/// The shards a command has locked, and the operations it may do on their keys.
pub struct Locked<'a> {
    ks: &'a Keyspace,
    guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 2]>,
    /// The command's time, taken once when the locks were taken (Redis's cached time).
    pub now: u64,
    clock: u32,
    /// Keys found expired and removed while this command ran.
    pub expired: Vec<ExpiredKey>,
    /// The command's log entries, already encoded as one record's payload.
    effects: Vec<u8>,
    /// `(address, length, hash)` of the keys given to `lock_at`; identity, not contents,
    /// is compared, so a hit is always the same slice.
    hashes: SmallVec<[(usize, usize, u64); 4]>,
    /// Keys this command made ready for blocked clients.
    ready: Vec<(usize, Vec<u8>)>,
    /// The command these locks are for: names its keyspace events.
    pub cmd: &'static str,
    /// Keyspace events to publish when the command ends.
    events: Vec<notify::Event>,
    /// Applying a logged entry: its changes are not logged again.
    replaying: bool,
    /// A script's: the gate that lets it wait for more shards (see `Keyspace::gate`).
    gate: Option<MutexGuard<'a, ()>>,
}

impl<'a> Locked<'a> {
    /// Serves the clients blocked on the keys this command made ready, in the order
    /// they blocked, before the locks are released: as in Redis, no other command can
    /// take the element first, and a key that no longer holds the right type (or
    /// anything) leaves its clients blocked. Their writes join this command's log
    /// record. A client whose command reaches a shard these locks do not hold is woken
    /// instead, to run its command itself.
    fn hand_off_ready(&mut self) -> Vec<(Arc<crate::blocking::HandOff>, Vec<u8>)> {
        let mut delivered = Vec::new();
        if self.replaying {
            return delivered;
        }
        // The keys whose first client must be woken to run its command itself.
        let mut wake = Vec::new();
        let mut i = 0;
        // Serving a client can make more keys ready (BLMOVE's destination).
        while i < self.ready.len() {
            let (db, key) = self.ready[i].clone();
            i += 1;
            loop {
                let Some((id, h)) = self.ks.blocking.begin_serving(db, &key) else {
                    // Nobody left, or a client that serves itself (it is woken).
                    wake.push((db, key));
                    break;
                };
                if !self.try_hold(&h.keys) {
                    self.ks.blocking.not_served(id);
                    wake.push((db, key));
                    break;
                }
                let right_type = match self.find(db, &key) {
                    Some(s) => (h.wants)(&self.entry(s).value),
                    None => false,
                };
                let reply = if right_type { (h.serve)(self) } else { None };
                match reply {
                    Some(reply) => {
                        self.ks.blocking.served(id);
                        delivered.push((h, reply));
                    }
                    None => {
                        // Nothing it can take: it stays blocked, unwoken.
                        self.ks.blocking.not_served(id);
                        break;
                    }
                }
            }
        }
        self.ready = wake;
        delivered
    }

    /// Makes these locks cover the shards of `keys`, taking those not held yet only if
    /// they are free (never waiting: waiting while holding locks could deadlock); whether
    /// all are held now.
    fn try_hold(&mut self, keys: &[Vec<u8>]) -> bool {
        for k in keys {
            let shard = Keyspace::shard_of(self.ks.hash(k));
            if self.guards.iter().any(|(i, _)| *i == shard) {
                continue;
            }
            match self.ks.shards[shard].try_lock() {
                Some(g) => self.guards.push((shard, g)),
                None => return false,
            }
        }
        true
    }

    /// The keyspace these locks belong to.
    pub fn keyspace(&self) -> &'a Keyspace {
        self.ks
    }

    /// A script's locks: makes them cover the shards of `keys` (every shard with
    /// `None`), waiting for those another thread holds. Only a script's locks (from
    /// [`Keyspace::lock_script`]) may wait so; others get `false` for a shard they do not
    /// hold, and take nothing.
    pub fn hold(&mut self, keys: Option<&[&[u8]]>) -> bool {
        let wanted: SmallVec<[usize; 4]> = match keys {
            Some(keys) => keys
                .iter()
                .map(|k| Keyspace::shard_of(self.ks.hash(k)))
                .collect(),
            None => (0..SHARD_COUNT).collect(),
        };
        let missing: SmallVec<[usize; 4]> = wanted
            .into_iter()
            .filter(|i| self.guards.binary_search_by_key(i, |(j, _)| *j).is_err())
            .collect();
        if missing.is_empty() {
            return true;
        }
        if self.gate.is_none() {
            return false;
        }
        for i in missing {
            if self.guards.binary_search_by_key(&i, |(j, _)| *j).is_ok() {
                continue;
            }
            self.ks.script_shards[i / 64].fetch_or(1 << (i % 64), Ordering::AcqRel);
            let g = self.ks.shards[i].lock();
            let at = self.guards.partition_point(|(j, _)| *j < i);
            self.guards.insert(at, (i, g));
        }
        true
    }

    fn mark_script_shards(&self) {
        for (i, _) in &self.guards {
            self.ks.script_shards[i / 64].fetch_or(1 << (i % 64), Ordering::AcqRel);
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let served = if self.ready.is_empty() {
            Vec::new()
        } else {
            self.hand_off_ready()
        };
        // Runs before the guards are released: the log's order is the order of changes.
        // What the command read or wrote is visible to its client (and to the receivers
        // of its events) only once durable: `seq` is the record they must wait for.
        let mut seq = 0;
        if let Some(sink) = self.ks.sink.get() {
            if self.effects.is_empty() {
                seq = self
                    .guards
                    .iter()
                    .map(|(_, g)| g.written_seq)
                    .max()
                    .unwrap_or(0);
                self.ks.note_read(seq);
            } else {
                seq = sink.append(&self.effects);
                for (_, g) in self.guards.iter_mut() {
                    g.written_seq = seq;
                }
                note_seq(seq);
            }
        }
        give_back_effects(std::mem::take(&mut self.effects));
        for (h, reply) in served {
            (h.deliver)(reply, seq);
        }
        // Woken clients retry under the shard lock, so they run after this command.
        for (db, key) in self.ready.drain(..) {
            self.ks.blocking.key_ready(db, &key);
        }
        if !self.events.is_empty() {
            self.ks.publish_events(&mut self.events, seq);
        }
        // Still under the locks: whatever the hook records is ordered with every change
        // to the keys this command locked.
        if let Some(hook) = UNLOCK_HOOK.with(|h| h.borrow_mut().take()) {
            hook();
        }
        if self.gate.is_some() {
            // The shards are let go right after: a command that now stops waiting for
            // the script finds them free at once or within microseconds.
            for w in &self.ks.script_shards {
                w.store(0, Ordering::Release);
            }
        }
    }
}

thread_local! {
    /// See [`before_unlock`].
    static UNLOCK_HOOK: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `hook` when the next command on this thread releases its locks, while it still
/// holds them. Client-side caching remembers there which keys a client read: a write to
/// one of them then either comes before (and the read saw it) or finds the client
/// remembered (and invalidates its copy), never in between.
pub fn before_unlock(hook: Box<dyn FnOnce()>) {
    UNLOCK_HOOK.with(|h| *h.borrow_mut() = Some(hook));
}

/// Drops a hook set by [`before_unlock`] that no lock ran (the command took none).
pub fn clear_unlock_hook() {
    UNLOCK_HOOK.with(|h| h.borrow_mut().take());
}

thread_local! {
    /// A payload buffer kept between commands on this thread, so that encoding a write's
    /// log entries does not allocate: a fresh `Vec` grew three or four times per `SET`.
    static EFFECTS_POOL: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Largest buffer [`EFFECTS_POOL`] keeps: one large write (an `MSET` of big values) does
/// not hold its memory on the thread for good.
const MAX_POOLED_EFFECTS: usize = 64 * 1024;

/// This thread's pooled payload buffer (empty), or a new one if it is in use.
fn pooled_effects() -> Vec<u8> {
    EFFECTS_POOL.with(std::cell::Cell::take)
}

/// Returns a payload buffer to this thread's pool, unless it is too large to keep.
fn give_back_effects(mut buf: Vec<u8>) {
    if (1..=MAX_POOLED_EFFECTS).contains(&buf.capacity()) {
        buf.clear();
        EFFECTS_POOL.with(|p| p.set(buf));
    }
}

impl<'a> Locked<'a> {
    /// The buffer this command's log entries are encoded into, taken from the thread's
    /// pool on first use.
    fn effects(&mut self) -> &mut Vec<u8> {
        if self.effects.capacity() == 0 {
            self.effects = pooled_effects();
        }
        &mut self.effects
    }

    fn locate(&self, key: &[u8]) -> (usize, u64) {
        let id = (key.as_ptr() as usize, key.len());
        let hash = match self.hashes.iter().find(|(p, l, _)| (*p, *l) == id) {
            Some(&(_, _, h)) => h,
            None => self.ks.hash(key),
        };
        let shard = Keyspace::shard_of(hash);
        let pos = self
            .guards
            .iter()
            .position(|(i, _)| *i == shard)
            .unwrap_or_else(|| panic!("shard {shard} of a key was not locked by its command"));
        (pos, hash)
    }

    fn db_shard(&mut self, pos: usize, db: usize) -> &mut DbShard {
        &mut self.guards[pos].1.dbs[db]
    }

    /// Reads the table slots and entries of `keys` of `db` ahead of a script's lookups, so
    /// that their cache misses are taken side by side: a script looks its keys up one
    /// after another with its own code in between, and each lookup's misses (table,
    /// slot, entry) then follow one another. Two passes of independent loads, first the
    /// slots, then the entries, which the processor overlaps across keys. Changes
    /// nothing; keys whose shard is not held are skipped.
    pub fn warm(&self, db: usize, keys: &[&[u8]]) {
        let mut found: SmallVec<[(&DbShard, usize); 16]> = SmallVec::new();
        for k in keys {
            let hash = self.ks.hash(k);
            let shard = Keyspace::shard_of(hash);
            let Some((_, g)) = self.guards.iter().find(|(i, _)| *i == shard) else {
                continue;
            };
            let Some(d) = g.dbs.get(db) else { continue };
            if let Some(idx) = d.likely_slot(hash) {
                found.push((d, idx));
            }
        }
        for (d, idx) in found {
            if let Some(e) = d.get_slot(idx) {
                std::hint::black_box(e.expire_at);
            }
        }
    }

    /// Finds a live key, removing it first if its TTL has passed.
    pub fn find(&mut self, db: usize, key: &[u8]) -> Option<Slot> {
        let (pos, hash) = self.locate(key);
        let now = self.now;
        let d = self.db_shard(pos, db);
        let idx = d.find(hash, key)?;
        if is_expired(d.entry(idx), now) {
            if self.ks.replica() {
                return None;
            }
            self.prepare_write(pos);
            let e = self.db_shard(pos, db).remove(hash, idx);
            self.guards[pos].1.stats.expired += 1;
            if self.ks.watching() {
                self.guards[pos].1.touch_watched(db, e.key.as_slice());
            }
            if self.logging() {
                let del = LogEntry::Del {
                    db: db as u32,
                    key: e.key.as_slice(),
                };
                encode_entry(&del, self.effects());
            }
            self.notify(notify::EXPIRED, "expired", db, e.key.as_slice());
            self.expired.push(ExpiredKey { db, key: e.key });
            return None;
        }
        Some(Slot { pos, hash, idx, db })
    }

    /// Finds a key for reading: counts a hit or a miss and updates its access time.
    pub fn find_read(&mut self, db: usize, key: &[u8]) -> Option<Slot> {
        let found = self.find(db, key);
        match found {
            Some(s) => {
                self.guards[s.pos].1.stats.hits += 1;
                self.touch(s);
            }
            None => {
                let (pos, _) = self.locate(key);
                self.guards[pos].1.stats.misses += 1;
                self.notify(notify::KEY_MISS, "keymiss", db, key);
            }
        }
        found
    }

    /// Records an access to a key (LRU time, and LFU counter under an LFU policy).
    pub fn touch(&mut self, s: Slot) {
        let clock = self.clock;
        let lfu = self.ks.lfu();
        // Access metadata is not part of a snapshot: no capture needed (reads stay cheap
        // while a snapshot is in progress).
        let e = self.guards[s.pos].1.dbs[s.db].entry_mut(s.idx);
        if lfu {
            let mut f = self.ks.lfu_decayed(e.freq, clock.saturating_sub(e.lru));
            if f < 255 {
                let base = f64::from(f.saturating_sub(LFU_INIT_VAL));
                let p = 1.0 / (base * f64::from(self.ks.lfu_log_factor()) + 1.0);
                if rand::thread_rng().gen::<f64>() < p {
                    f += 1;
                }
            }
            e.freq = f;
        }
        e.lru = clock;
    }

    /// The entry behind a slot.
    pub fn entry(&self, s: Slot) -> &Entry {
        self.guards[s.pos].1.dbs[s.db].entry(s.idx)
    }

    /// The entry behind a slot, mutably. Its TTL must be changed with
    /// [`set_expire`](Self::set_expire).
    pub fn entry_mut(&mut self, s: Slot) -> &mut Entry {
        self.prepare_write(s.pos);
        self.guards[s.pos].1.dbs[s.db].entry_mut(s.idx)
    }

    /// Changes the TTL of the key behind a slot (0 removes it).
    pub fn set_expire(&mut self, s: Slot, expire_at: u64) {
        self.prepare_write(s.pos);
        self.guards[s.pos].1.dbs[s.db].set_expire(s.idx, expire_at);
    }

    /// Removes the key behind a slot and returns its entry.
    pub fn remove(&mut self, s: Slot) -> Entry {
        self.prepare_write(s.pos);
        self.guards[s.pos].1.dbs[s.db].remove(s.hash, s.idx)
    }

    /// Called before any change to a locked shard: if a snapshot has not captured the shard
    /// yet, it is captured now, as it was at the snapshot's cut. Reads never pay for this.
    fn prepare_write(&mut self, pos: usize) {
        if !self.ks.snapshot_active.load(Ordering::Acquire) {
            return;
        }
        let (i, g) = &mut self.guards[pos];
        self.ks.capture_pending(std::iter::once((*i, g)));
    }

    /// [`prepare_write`](Self::prepare_write) for every locked shard.
    fn prepare_write_all(&mut self) {
        for pos in 0..self.guards.len() {
            self.prepare_write(pos);
        }
    }

    /// Removes a live key; returns its entry if it existed.
    pub fn delete(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        let s = self.find(db, key)?;
        Some(self.remove(s))
    }

    /// Stores `value` under `key`, replacing any value; `ttl` says what happens to its TTL.
    pub fn set(&mut self, db: usize, key: &[u8], value: Value, ttl: Ttl) -> Slot {
        if let Some(s) = self.find(db, key) {
            if matches!(value, Value::Queue(_)) {
                self.ks.note_queue(key);
            }
            let clock = self.clock;
            let e = self.entry_mut(s);
            e.value = value;
            e.flags = 0;
            e.lru = clock;
            match ttl {
                Ttl::Keep => {}
                Ttl::Clear => self.set_expire(s, 0),
                Ttl::At(at) => self.set_expire(s, at),
            }
            return s;
        }
        let expire_at = match ttl {
            Ttl::At(at) => at,
            Ttl::Keep | Ttl::Clear => 0,
        };
        self.insert_entry(
            db,
            Entry {
                key: CompactBytes::new(key),
                value,
                expire_at,
                lru: self.clock,
                freq: LFU_INIT_VAL,
                flags: 0,
            },
        )
    }

    /// Inserts an entry whose key must not be live in `db` (used by `RENAME`, `MOVE`, `COPY`).
    pub fn insert_entry(&mut self, db: usize, entry: Entry) -> Slot {
        if matches!(entry.value, Value::Queue(_)) {
            self.ks.note_queue(entry.key.as_slice());
        }
        let (pos, hash) = self.locate(entry.key.as_slice());
        self.prepare_write(pos);
        let idx = self.guards[pos].1.dbs[db].insert_new(hash, entry);
        let s = Slot { pos, hash, idx, db };
        if notify::wants(self.ks.notify_flags(), notify::NEW) {
            let key = self.entry(s).key.as_slice().to_vec();
            self.events.push((notify::NEW, "new", db, key));
        }
        s
    }

    /// Whether effects must be described with [`log`](Self::log); writers skip building
    /// entries when nothing is persisted.
    pub fn logging(&self) -> bool {
        !self.replaying && self.ks.logging()
    }

    /// Records a change a command made: the clients that `WATCH` its keys are told, and
    /// the entry is logged (when persistence is on) as the locks are released. Every
    /// write calls this exactly when it changes something, as Redis's
    /// `signalModifiedKey`.
    pub fn log(&mut self, entry: LogEntry<'_>) {
        let watching = self.ks.watching();
        let flags = self.ks.notify_flags();
        if watching || flags != 0 {
            // Every key the entry changes has at least one event.
            let cmd = self.cmd;
            notify::events_of(cmd, &entry, |class, name, db, key| {
                if watching {
                    let (pos, _) = self.locate(key);
                    self.guards[pos].1.touch_watched(db, key);
                }
                if notify::wants(flags, class) {
                    self.events.push((class, name, db, key.to_vec()));
                }
            });
        }
        if self.logging() {
            encode_entry(&entry, self.effects());
        }
    }

    /// How many keyspace events this command has queued so far (see
    /// [`announce_later`](Self::announce_later)).
    pub fn events_mark(&self) -> usize {
        self.events.len()
    }

    /// Drops the events queued since `mark` that repeat an earlier one of them, for
    /// commands that log several changes to a key but announce it once (`BITFIELD`).
    pub fn dedup_events_since(&mut self, mark: usize) {
        if mark >= self.events.len() {
            return;
        }
        let mut kept: Vec<notify::Event> = Vec::new();
        for e in self.events.drain(mark..) {
            if !kept.contains(&e) {
                kept.push(e);
            }
        }
        self.events.extend(kept);
    }

    /// Drops the events queued since `mark`: the change they announce is one Redis makes
    /// silently (a `BITFIELD` whose only effect was to grow its string).
    pub fn drop_events_since(&mut self, mark: usize) {
        self.events.truncate(mark);
    }

    /// Moves the events queued between marks `from` and `to` after those queued since
    /// `to`, for commands that announce in another order than they change (Redis's
    /// `LMOVE` announces the push before the pop).
    pub fn announce_later(&mut self, from: usize, to: usize) {
        if from <= to && to <= self.events.len() {
            self.events[from..].rotate_left(to - from);
        }
    }

    /// Queues a keyspace event of `class` for `key` of `db`, published when the command
    /// ends, if `notify-keyspace-events` asks for that class.
    pub fn notify(&mut self, class: u32, name: &'static str, db: usize, key: &[u8]) {
        if notify::wants(self.ks.notify_flags(), class) {
            self.events.push((class, name, db, key.to_vec()));
        }
    }

    /// Whether the shard of `key` is among these locks (a command may only touch keys
    /// whose shards it locked).
    pub fn covers(&self, key: &[u8]) -> bool {
        let shard = Keyspace::shard_of(self.ks.hash(key));
        self.guards.iter().any(|(i, _)| *i == shard)
    }

    /// Whether `key` of `db` exists and has passed its TTL (it is not removed).
    pub fn is_expired_key(&self, db: usize, key: &[u8]) -> bool {
        let (pos, hash) = self.locate(key);
        let d = &self.guards[pos].1.dbs[db];
        d.find(hash, key)
            .is_some_and(|i| is_expired(d.entry(i), self.now))
    }

    /// Notes that `key` may now serve a client blocked on it (a list or sorted set got
    /// elements). Free when nobody is blocked.
    pub fn signal_ready(&mut self, db: usize, key: &[u8]) {
        if self.ks.blocking.blocked() > 0 {
            self.ready.push((db, key.to_vec()));
        }
    }

    /// The keyspace clock these locks were taken at.
    pub fn clock(&self) -> u32 {
        self.clock
    }

    /// Empties `db` (every database with `None`); these locks must hold every shard.
    /// Returns the removed tables, for the caller to free outside the locks.
    pub fn flush(&mut self, db: Option<usize>) -> Vec<DbShard> {
        if self.logging() {
            self.log(match db {
                Some(d) => LogEntry::FlushDb { db: d as u32 },
                None => LogEntry::FlushAll,
            });
        }
        self.prepare_write_all();
        if self.ks.watching() {
            let dbs: Vec<usize> = match db {
                Some(d) => vec![d],
                None => (0..self.ks.databases).collect(),
            };
            for (_, g) in self.guards.iter() {
                g.touch_watched_in(&dbs, false, |k| self.ks.hash(k));
            }
        }
        let mut removed = Vec::new();
        for (_, g) in self.guards.iter_mut() {
            match db {
                Some(d) => removed.push(std::mem::take(&mut g.dbs[d])),
                None => removed.extend(g.dbs.iter_mut().map(std::mem::take)),
            }
        }
        if self.ks.notify_flags() & notify::TRACK != 0 {
            if let Some(sink) = self.ks.event_sink.get() {
                sink.flushed();
            }
        }
        removed
    }

    /// `DEBUG RELOAD`: every key is written out in the snapshot format and loaded back
    /// from it, as a restart would, so that what a key becomes after a restart can be
    /// checked without one. These locks must hold every shard (the server stops
    /// meanwhile, as Redis's does). Returns the number of keys reloaded; on a decoding
    /// error (a bug in the format) every key is left as it was.
    pub fn reload_through_snapshot(&mut self) -> Result<usize, crate::codec::DecodeError> {
        self.prepare_write_all();
        // Every shard is decoded before any is replaced.
        let mut decoded = Vec::with_capacity(self.guards.len());
        for (_, g) in self.guards.iter() {
            let mut image = Vec::new();
            g.serialize_from(SnapPos::default(), usize::MAX, &mut image);
            let mut entries = Vec::new();
            crate::codec::decode_snapshot_entries(&image, |e| entries.push(e))?;
            decoded.push(entries);
        }
        let ks = self.ks;
        let mut n = 0;
        for ((_, g), entries) in self.guards.iter_mut().zip(decoded) {
            for d in g.dbs.iter_mut() {
                *d = DbShard::default();
            }
            for e in entries {
                let hash = ks.hash(e.entry.key.as_slice());
                if let Some(d) = g.dbs.get_mut(e.db as usize) {
                    d.insert_new(hash, e.entry);
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Replaces the function libraries and logs the change; these locks must hold every
    /// shard (so that a snapshot's cut is before or after it, not across).
    pub fn set_functions(&mut self, codes: Vec<Vec<u8>>) {
        if self.logging() {
            let refs: Vec<&[u8]> = codes.iter().map(|c| c.as_slice()).collect();
            self.log(LogEntry::Functions { codes: refs });
        }
        self.ks.store_functions(codes);
    }

    /// Swaps two databases; these locks must hold every shard.
    pub fn swap(&mut self, a: usize, b: usize) {
        if self.logging() {
            self.log(LogEntry::SwapDb {
                a: a as u32,
                b: b as u32,
            });
        }
        self.prepare_write_all();
        let ks = self.ks;
        for (_, g) in self.guards.iter_mut() {
            if ks.watching() {
                g.touch_watched_in(&[a, b], true, |k| ks.hash(k));
            }
            g.dbs.swap(a, b);
        }
        // Clients blocked in either database may now find their keys (Redis's
        // scanDatabaseForReadyKeys); those that do not stay blocked.
        if !self.replaying && ks.blocking.blocked() > 0 {
            for db in [a, b] {
                for key in ks.blocking.keys_of(db) {
                    self.ready.push((db, key));
                }
            }
        }
    }

    /// Whole-keyspace reads over the shards these locks hold (all of them, in a
    /// transaction with such a command).
    pub fn shards(&self) -> Shards<'_, 'a> {
        Shards::Held(self)
    }

    /// Resets the hit and miss counters of the held shards (`CONFIG RESETSTAT`).
    pub fn reset_stats(&mut self) {
        for (_, g) in self.guards.iter_mut() {
            g.stats = ShardStats::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_snapshot_entries;
    use crate::log_entry::LogSink;

    #[derive(Debug, Default)]
    struct CountingSink {
        seq: std::sync::atomic::AtomicU64,
    }

    impl LogSink for CountingSink {
        fn append(&self, payload: &[u8]) -> u64 {
            assert!(crate::codec::decode_entries(payload).is_ok());
            self.seq.fetch_add(1, Ordering::SeqCst) + 1
        }
        fn last_seq(&self) -> u64 {
            self.seq.load(Ordering::SeqCst)
        }
        fn durable_seq(&self) -> u64 {
            self.last_seq()
        }
    }

    fn str_value(s: &str) -> Value {
        Value::Str(CompactBytes::new(s.as_bytes()))
    }

    #[test]
    fn loading_a_snapshot_batch_spreads_keys_over_shards_and_databases() {
        let ks = Keyspace::new(2);
        let entry = |key: &str, value: &str, expire_at: u64| Entry {
            key: CompactBytes::new(key.as_bytes()),
            value: str_value(value),
            expire_at,
            lru: 0,
            freq: 0,
            flags: 0,
        };
        // Keys of many shards, in no shard order, in two databases; one key twice (the
        // later copy wins) and one key in both databases.
        let mut batch: Vec<(usize, Entry)> = (0..3000)
            .map(|i| (i % 2, entry(&format!("k{i}"), &format!("v{i}"), 0)))
            .collect();
        batch.push((0, entry("k0", "again", u64::MAX)));
        batch.push((1, entry("k0", "db1", 0)));
        ks.load_entries(batch);
        assert_eq!(ks.db_counts(), vec![(1500, 1), (1501, 0)]);
        let mut l = ks.lock_at(0, &[b"k0", b"k7"]);
        let s = l.find(0, b"k0").expect("k0 in db 0");
        assert_eq!(l.entry(s).value, str_value("again"));
        let s = l.find(1, b"k0").expect("k0 in db 1");
        assert_eq!(l.entry(s).value, str_value("db1"));
        let s = l.find(1, b"k7").expect("k7 in db 1");
        assert_eq!(l.entry(s).value, str_value("v7"));
        assert!(l.find(0, b"k7").is_none());
    }

    /// Keeps every payload it is given.
    #[derive(Debug, Default, Clone)]
    struct RecordingSink(std::sync::Arc<Mutex<Vec<Vec<u8>>>>);

    impl LogSink for RecordingSink {
        fn append(&self, payload: &[u8]) -> u64 {
            let mut all = self.0.lock();
            all.push(payload.to_vec());
            all.len() as u64
        }
        fn last_seq(&self) -> u64 {
            self.0.lock().len() as u64
        }
        fn durable_seq(&self) -> u64 {
            self.last_seq()
        }
    }

    #[test]
    fn each_command_logs_its_own_entries_and_nothing_left_from_the_last() {
        let ks = Keyspace::new(1);
        let sink = RecordingSink::default();
        ks.set_log_sink(Box::new(sink.clone()));
        let big = vec![b'x'; 2 * MAX_POOLED_EFFECTS];
        // The middle write's buffer is too large to keep; the others reuse one buffer.
        for (key, value) in [
            (&b"a"[..], &b"1"[..]),
            (b"b", &big),
            (b"c", b"3"),
            (b"d", b"4"),
        ] {
            let mut l = ks.lock(&[key]);
            l.set(0, key, Value::Str(CompactBytes::new(value)), Ttl::Clear);
            l.log(LogEntry::Set {
                db: 0,
                key,
                value,
                ttl: Ttl::Clear,
            });
        }
        // A command that changes nothing logs nothing.
        drop(ks.lock(&[b"e"]));
        let records = sink.0.lock().clone();
        assert_eq!(records.len(), 4);
        let keys: Vec<Vec<u8>> = records
            .iter()
            .map(|payload| {
                let entries = crate::codec::decode_entries(payload).expect("a valid record");
                assert_eq!(entries.len(), 1, "one entry per record");
                match &entries[0] {
                    LogEntry::Set { key, value, .. } => {
                        assert_eq!(value.len(), if *key == b"b" { big.len() } else { 1 });
                        key.to_vec()
                    }
                    other => panic!("unexpected entry {other:?}"),
                }
            })
            .collect();
        assert_eq!(keys, [b"a", b"b", b"c", b"d"].map(|k| k.to_vec()));
    }

    #[test]
    fn reading_an_expired_key_removes_it_and_logs_the_deletion() {
        let ks = Keyspace::new(1);
        ks.set_log_sink(Box::<CountingSink>::default());
        {
            let mut l = ks.lock_at(1_000, &[b"k"]);
            l.set(0, b"k", str_value("v"), Ttl::At(1_500));
        }
        let mut l = ks.lock_at(1_500, &[b"k"]);
        assert!(
            l.find(0, b"k").is_some(),
            "alive while now == expire time, as Redis"
        );
        drop(l);
        let mut l = ks.lock_at(1_501, &[b"k"]);
        assert!(l.find_read(0, b"k").is_none());
        assert_eq!(l.expired.len(), 1);
        drop(l);
        assert_eq!(ks.stats().expired, 1);
        assert_eq!(ks.dbsize(0), 0);
    }

    /// A logged keyspace holding `n` keys `key0`, `key1`, ... set to "before".
    fn keyspace_of_befores(n: usize) -> (Keyspace, Vec<String>) {
        let ks = Keyspace::new(1);
        ks.set_log_sink(Box::<CountingSink>::default());
        let keys: Vec<String> = (0..n).map(|i| format!("key{i}")).collect();
        for k in &keys {
            // As a command does: change, then describe the change for the log.
            let mut l = ks.lock(&[k.as_bytes()]);
            l.set(0, k.as_bytes(), str_value("before"), Ttl::Clear);
            l.log(LogEntry::Set {
                db: 0,
                key: k.as_bytes(),
                value: b"before",
                ttl: Ttl::Clear,
            });
        }
        (ks, keys)
    }

    /// The string keys and values in a shard's snapshot image.
    fn strings_in(image: &[u8], out: &mut Vec<(Vec<u8>, Vec<u8>)>) {
        decode_snapshot_entries(image, |e| {
            if let Value::Str(v) = &e.entry.value {
                out.push((e.entry.key.as_slice().to_vec(), v.as_slice().to_vec()));
            }
        })
        .unwrap();
    }

    #[test]
    fn a_snapshot_captures_each_shard_as_it_was_at_the_cut() {
        let (ks, keys) = keyspace_of_befores(500);
        let cut = ks.begin_snapshot().unwrap();
        assert!(ks.begin_snapshot().is_none(), "one snapshot at a time");
        // Writes after the cut, to shards not yet captured.
        for k in &keys {
            ks.lock(&[k.as_bytes()])
                .set(0, k.as_bytes(), str_value("after"), Ttl::Clear);
        }
        ks.lock(&[b"new".as_slice()])
            .set(0, b"new", str_value("after"), Ttl::Clear);
        let mut seen = Vec::new();
        for i in 0..SHARD_COUNT {
            let image = ks.snapshot_shard(i, &cut, &mut || {});
            strings_in(&image, &mut seen);
        }
        ks.end_snapshot();
        assert_eq!(seen.len(), 500, "exactly the keys present at the cut");
        assert!(
            seen.iter().all(|(_, v)| v == b"before"),
            "values as of the cut"
        );
        assert_eq!(cut.seq, 500);
    }

    #[test]
    fn a_write_between_two_pieces_of_a_shard_captures_the_rest_as_at_the_cut() {
        let (ks, keys) = keyspace_of_befores(2000);
        let mut by_shard: Vec<Vec<&str>> = vec![Vec::new(); SHARD_COUNT];
        for k in &keys {
            by_shard[ks.shard_index(k.as_bytes())].push(k);
        }
        let cut = ks.begin_snapshot().unwrap();
        let mut seen = Vec::new();
        // Shards whose keys a client changed between two pieces. A shard of no more keys
        // than a piece is done in one, with nothing between.
        let mut written = vec![false; SHARD_COUNT];
        for i in 0..SHARD_COUNT {
            // Between the writer's pieces of shard i, a client changes every key of it: the
            // first change captures the rest of the shard before it happens.
            let mut write_all = || {
                if std::mem::replace(&mut written[i], true) {
                    return;
                }
                for k in &by_shard[i] {
                    ks.lock(&[k.as_bytes()])
                        .set(0, k.as_bytes(), str_value("after"), Ttl::Clear);
                }
            };
            let image = ks.snapshot_shard(i, &cut, &mut write_all);
            strings_in(&image, &mut seen);
        }
        ks.end_snapshot();
        assert!(
            written.iter().filter(|&&w| w).count() > SHARD_COUNT / 2,
            "most shards must span several pieces for this test to mean anything"
        );
        seen.sort();
        let mut expected: Vec<(Vec<u8>, Vec<u8>)> = keys
            .iter()
            .map(|k| (k.as_bytes().to_vec(), b"before".to_vec()))
            .collect();
        expected.sort();
        assert_eq!(seen, expected, "every key once, with its value at the cut");
        for k in &keys {
            let want: &[u8] = if written[ks.shard_index(k.as_bytes())] {
                b"after"
            } else {
                b"before"
            };
            let mut l = ks.lock(&[k.as_bytes()]);
            let s = l.find(0, k.as_bytes()).unwrap();
            assert!(
                matches!(&l.entry(s).value, Value::Str(v) if v.as_slice() == want),
                "{k}"
            );
        }
    }

    #[test]
    fn reads_during_a_snapshot_capture_nothing() {
        let ks = Keyspace::new(1);
        ks.set_log_sink(Box::<CountingSink>::default());
        for i in 0..300 {
            let k = format!("key{i}");
            ks.lock(&[k.as_bytes()])
                .set(0, k.as_bytes(), str_value("v"), Ttl::Clear);
        }
        let cut = ks.begin_snapshot().unwrap();
        for i in 0..300 {
            let k = format!("key{i}");
            assert!(ks
                .lock(&[k.as_bytes()])
                .find_read(0, k.as_bytes())
                .is_some());
        }
        // Nothing was captured by the reads: every shard is still left to the writer.
        assert!((0..SHARD_COUNT).all(|i| cut.take(i).is_none()));
        let total: usize = (0..SHARD_COUNT)
            .map(|i| {
                let image = ks.snapshot_shard(i, &cut, &mut || {});
                decode_snapshot_entries(&image, |_| {}).unwrap()
            })
            .sum();
        ks.end_snapshot();
        assert_eq!(total, 300);
    }
}
