//! The replicated state machine: the keyspace, changed only by applying committed entries
//! with the same `flashdb_core::replay::apply_all` that recovery uses.
//!
//! The leader is the one exception, by design: it executes a write command against its
//! memory as a single node does, and the command's effects become a [`Proposal`]. When
//! that entry comes back committed, its effects are already in memory, so the state
//! machine of the same [`Origin`] only notes that it is committed ([`Local`]), which is
//! what lets the replies and reads that reveal it go out.
//!
//! Snapshots are the single node's snapshot files with one more frame: the last applied
//! log id and the membership (see `flashdb_storage::snapshot`). A snapshot is cut while no
//! entry is being applied, so that its data and its last log id agree; a leader's cut can
//! hold its own writes not yet committed, and then the snapshot waits for the entry that
//! carries the last of them and takes that entry's log id.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use flashdb_core::codec::{decode_entries, decode_snapshot_entries};
use flashdb_core::keyspace::unix_ms;
use flashdb_core::replay::apply_all;
use flashdb_core::Keyspace;
use flashdb_storage::snapshot::{list_snapshots, read_snapshot};
use flashdb_storage::SnapshotWriter;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::{AnyError, EntryPayload, ErrorSubject, ErrorVerb, StorageIOError};
use parking_lot::Mutex;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::log_store::LogStore;
use crate::types::{
    Entry, LogId, Origin, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// Longest a leader's snapshot waits for its own writes in the cut to be committed.
const SNAPSHOT_COMMIT_WAIT: Duration = Duration::from_secs(30);

/// This process's own proposals: who it is, and how far its writes are committed.
#[derive(Debug)]
pub struct Local {
    node: u64,
    incarnation: AtomicU64,
    /// The last local sequence number given to a proposal.
    last_proposed: AtomicU64,
    /// How far this process's proposals are settled.
    settled: tokio::sync::watch::Sender<Settled>,
    /// The highest local sequence number applied, published to `settled` per batch.
    applied_upto: AtomicU64,
    /// The local sequence number this process's next applied proposal must carry: its
    /// proposals reach the log in order, so one that comes with a higher number shows that
    /// those in between never will (see [`Local::gap`]).
    next_own: AtomicU64,
    /// A proposal was skipped in the log: those before it that are missing are lost, and
    /// memory holds their effects.
    gap: AtomicBool,
    /// A snapshot waiting for the entry of its cut's last local sequence number.
    target: Mutex<Option<SnapshotTarget>>,
    /// Run after each batch of applied entries, once their waiters are told (the
    /// proposer hands Raft its next entry from here).
    on_settled: OnceLock<SettledHook>,
}

/// What runs after each batch of applied entries (see [`Local::on_settled`]).
struct SettledHook(Box<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for SettledHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SettledHook")
    }
}

/// How far a process's proposals are settled.
#[derive(Debug, Clone, Default)]
struct Settled {
    /// Every proposal up to this local sequence number is committed and applied, or lost.
    committed: u64,
    /// Ranges of local sequence numbers that were never committed (a leadership lost
    /// before they were): their writers get an error.
    lost: Vec<(u64, u64)>,
}

/// A write that will never be committed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the write was not committed: this node lost its leadership first")]
pub struct Lost;

#[derive(Debug)]
struct SnapshotTarget {
    local_seq: u64,
    reply: tokio::sync::oneshot::Sender<(LogId, StoredMembership)>,
}

impl Local {
    /// The proposals of node `node` in this process, with a fresh incarnation.
    pub fn new(node: u64) -> Local {
        Local {
            node,
            incarnation: AtomicU64::new(fresh_incarnation()),
            last_proposed: AtomicU64::new(0),
            settled: tokio::sync::watch::Sender::new(Settled::default()),
            applied_upto: AtomicU64::new(0),
            next_own: AtomicU64::new(1),
            gap: AtomicBool::new(false),
            target: Mutex::new(None),
            on_settled: OnceLock::new(),
        }
    }

    /// Sets what runs after each batch of entries is applied and its waiters told, on the
    /// state machine's task (so it must not wait). Only the first call counts.
    pub fn on_settled(&self, f: Box<dyn Fn() + Send + Sync>) {
        let _ = self.on_settled.set(SettledHook(f));
    }

    /// The origin this process's proposals carry now.
    pub fn origin(&self) -> Origin {
        Origin {
            node: self.node,
            incarnation: self.incarnation.load(Ordering::Acquire),
        }
    }

    /// The next local sequence number, for a proposal about to be made. The caller
    /// serializes proposals, so that their numbers increase in log order.
    pub fn next_seq(&self) -> u64 {
        self.last_proposed.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The last local sequence number given to a proposal.
    pub fn last_proposed(&self) -> u64 {
        self.last_proposed.load(Ordering::Acquire)
    }

    /// Whether a proposal of `origin` was executed in this memory already.
    pub fn is_mine(&self, origin: Origin) -> bool {
        origin == self.origin()
    }

    /// The highest local sequence number settled (committed, or lost) with all before it.
    pub fn committed(&self) -> u64 {
        self.settled.borrow().committed
    }

    /// Waits until local sequence number `seq` is committed; an error if it never will be.
    pub async fn wait_committed(&self, seq: u64) -> Result<(), Lost> {
        let mut rx = self.settled.subscribe();
        let Ok(s) = rx
            .wait_for(|s| s.committed >= seq || s.lost.iter().any(|r| r.0 <= seq && seq <= r.1))
            .await
        else {
            return Err(Lost);
        };
        if s.lost.iter().any(|r| r.0 <= seq && seq <= r.1) {
            Err(Lost)
        } else {
            Ok(())
        }
    }

    /// Every proposal not committed yet never will be: their writers get an error.
    pub fn fail_pending(&self) {
        self.publish();
        self.fail_unpublished();
    }

    /// Marks every proposal after the last published commit point lost, without
    /// publishing first (after a gap, what was applied past it may rest on lost effects).
    fn fail_unpublished(&self) {
        let last = self.last_proposed();
        self.settled.send_if_modified(|s| {
            if last <= s.committed {
                return false;
            }
            s.lost.push((s.committed + 1, last));
            s.committed = last;
            true
        });
    }

    /// The memory was replaced (a snapshot installed, the state rebuilt): proposals of
    /// the old incarnation are applied like anyone's from now on.
    pub fn rebuilt(&self) {
        self.incarnation
            .store(fresh_incarnation(), Ordering::Release);
        // Nothing of the old incarnation is pending in this memory any more.
        self.fail_pending();
        self.next_own
            .store(self.last_proposed() + 1, Ordering::Release);
        self.gap.store(false, Ordering::Release);
        drop(self.target.lock().take());
    }

    /// Notes that this process's proposal `local_seq` is applied as `log_id`; its
    /// waiters hear of it at the next [`publish`](Self::publish).
    fn applied(&self, local_seq: u64, log_id: LogId, membership: &StoredMembership) {
        let expected = self.next_own.swap(local_seq + 1, Ordering::AcqRel);
        if local_seq > expected {
            self.gap.store(true, Ordering::Release);
        }
        self.applied_upto.fetch_max(local_seq, Ordering::AcqRel);
        let mut t = self.target.lock();
        if t.as_ref().is_some_and(|t| t.local_seq == local_seq) {
            if let Some(t) = t.take() {
                let _ = t.reply.send((log_id, membership.clone()));
            }
        }
    }
}

impl Local {
    /// Tells the waiters how far proposals are applied: once per batch of entries, not
    /// per entry, since every waiting client wakes up to look.
    fn publish(&self) {
        let upto = self.applied_upto.load(Ordering::Acquire);
        self.settled.send_if_modified(|s| {
            let moved = upto > s.committed;
            s.committed = s.committed.max(upto);
            moved
        });
    }
}

fn fresh_incarnation() -> u64 {
    // Distinct across restarts of a node, and across rebuilds within one process.
    static BUMP: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos.wrapping_add(BUMP.fetch_add(1, Ordering::Relaxed))
}

#[derive(Debug, Default)]
struct Applied {
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

#[derive(Debug)]
struct Shared {
    ks: Arc<Keyspace>,
    dir: PathBuf,
    log: LogStore,
    local: Arc<Local>,
    /// Held while an entry is applied, and while a snapshot is cut.
    applied: Mutex<Applied>,
    current: Mutex<Option<(SnapshotMeta, PathBuf)>>,
    building: AtomicBool,
    incoming: AtomicU64,
}

/// The state machine of a node (openraft's `RaftStateMachine`) over its keyspace.
#[derive(Debug, Clone)]
pub struct StateMachine {
    shared: Arc<Shared>,
}

fn sm_io_error(e: impl ToString) -> StorageError {
    StorageError::IO {
        source: StorageIOError::new(
            ErrorSubject::StateMachine,
            ErrorVerb::Write,
            AnyError::error(e.to_string()),
        ),
    }
}

fn snapshot_error(verb: ErrorVerb, e: impl ToString) -> StorageError {
    StorageError::IO {
        source: StorageIOError::new(
            ErrorSubject::Snapshot(None),
            verb,
            AnyError::error(e.to_string()),
        ),
    }
}

/// Decodes a snapshot's meta frame.
pub fn decode_meta(bytes: &[u8]) -> Result<SnapshotMeta, String> {
    serde_json::from_slice(bytes)
        .map_err(|e| format!("a snapshot's Raft metadata cannot be read: {e}"))
}

impl StateMachine {
    /// The state machine of `ks`, whose data directory is `dir`. `snapshot` is the snapshot
    /// recovery loaded into `ks`, if any, with its metadata.
    pub fn new(
        ks: Arc<Keyspace>,
        dir: &Path,
        log: LogStore,
        local: Arc<Local>,
        snapshot: Option<(PathBuf, SnapshotMeta)>,
    ) -> StateMachine {
        let applied = match &snapshot {
            Some((_, meta)) => Applied {
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
            },
            None => Applied::default(),
        };
        StateMachine {
            shared: Arc::new(Shared {
                ks,
                dir: dir.to_path_buf(),
                log,
                local,
                applied: Mutex::new(applied),
                current: Mutex::new(snapshot.map(|(p, m)| (m, p))),
                building: AtomicBool::new(false),
                incoming: AtomicU64::new(0),
            }),
        }
    }

    /// The keyspace this state machine changes.
    pub fn keyspace(&self) -> &Arc<Keyspace> {
        &self.shared.ks
    }

    /// The last log id applied.
    pub fn last_applied(&self) -> Option<LogId> {
        self.shared.applied.lock().last_applied
    }

    /// Rebuilds memory from the node's snapshot and the committed log: after proposals of
    /// this node were lost, memory held effects that the group never committed. Clients
    /// get `-LOADING` meanwhile.
    pub async fn rebuild(&self) -> Result<(), String> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || rebuild(&shared))
            .await
            .map_err(|e| e.to_string())?
    }

    /// The record sequence number a snapshot covering up to `index` is labelled with:
    /// recovery replays the records after it, which must hold every entry after `index`.
    fn label_for(&self, index: u64) -> u64 {
        self.shared.log.snapshot_label(index)
    }
}

impl LogStore {
    /// See `StateMachine::label_for`.
    fn snapshot_label(&self, index: u64) -> u64 {
        if let Some(seq) = self.record_seq(index) {
            return seq;
        }
        match self.first_record_after(index) {
            Some(seq) => seq - 1,
            None => self.wal().last_seq(),
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let a = self.shared.applied.lock();
        Ok((a.last_applied, a.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        // A leader's own entries may be committed before its own fsync (see
        // `log_store`'s documentation): nothing is applied, and so nothing revealed, before
        // it is durable here too. On a follower, entries are durable before Raft counts
        // them, and this returns at once.
        if let Some(last) = entries.last() {
            if let Err(cause) = self.shared.log.wait_durable(last.log_id.index).await {
                return Err(StorageError::IO {
                    source: StorageIOError::apply(last.log_id, AnyError::error(cause)),
                });
            }
        }
        let mut replies = Vec::new();
        let mut a = self.shared.applied.lock();
        for e in entries {
            match &e.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(p) => {
                    let mine = self.shared.local.is_mine(p.origin);
                    for item in &p.items {
                        if mine {
                            self.shared
                                .local
                                .applied(item.local_seq, e.log_id, &a.membership);
                            continue;
                        }
                        let apply_error = |err: String| StorageError::IO {
                            source: StorageIOError::apply(e.log_id, AnyError::error(err)),
                        };
                        let effects = decode_entries(&item.effects)
                            .map_err(|err| apply_error(err.to_string()))?;
                        apply_all(&self.shared.ks, &effects)
                            .map_err(|err| apply_error(err.to_string()))?;
                    }
                }
                EntryPayload::Membership(m) => {
                    a.membership = StoredMembership::new(Some(e.log_id), m.clone());
                }
            }
            a.last_applied = Some(e.log_id);
            replies.push(());
        }
        if self.shared.local.gap.swap(false, Ordering::AcqRel) {
            // Proposals of this node that never reached the log left their effects in
            // memory, and later ones (now applied) were executed on top of them: their
            // writers get an error, whatever became of them, and memory is rebuilt from
            // the committed log, all of it applied.
            tracing::warn!(
                "writes of this node were lost from the log while later ones were committed; they are refused and memory is rebuilt"
            );
            self.shared.local.fail_unpublished();
            if let Err(err) = rebuild_applied(&self.shared, &a) {
                return Err(sm_io_error(err));
            }
        } else {
            self.shared.local.publish();
        }
        // Not under the lock: the hook may propose, which takes the proposer's locks.
        drop(a);
        if let Some(f) = self.shared.local.on_settled.get() {
            (f.0)();
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> StateMachine {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let n = self.shared.incoming.fetch_add(1, Ordering::Relaxed);
        // Named as an unfinished snapshot, so that recovery removes it after a crash.
        let path = self.shared.dir.join(format!(
            "snapshot-incoming-{}-{n}.fdb.tmp",
            std::process::id()
        ));
        let f = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .map_err(|e| snapshot_error(ErrorVerb::Write, format!("{}: {e}", path.display())))?;
        // The file lives on through its handle.
        let _ = tokio::fs::remove_file(&path).await;
        Ok(Box::new(f))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        mut snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        let last_index = meta.last_log_id.map_or(0, |l| l.index);
        let label = self.label_for(last_index);
        let dir = self.shared.dir.clone();
        let tmp = dir.join(format!(
            "{}.tmp",
            flashdb_storage::snapshot::snapshot_name(label)
        ));
        // Copied into a file of our own: the handle may be anyone's (a sender's file).
        snapshot
            .seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(|e| snapshot_error(ErrorVerb::Read, e))?;
        let mut out = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| snapshot_error(ErrorVerb::Write, format!("{}: {e}", tmp.display())))?;
        tokio::io::copy(&mut *snapshot, &mut out)
            .await
            .map_err(|e| snapshot_error(ErrorVerb::Write, e))?;
        out.flush()
            .await
            .map_err(|e| snapshot_error(ErrorVerb::Write, e))?;
        out.sync_all()
            .await
            .map_err(|e| snapshot_error(ErrorVerb::Write, e))?;
        drop(out);
        let shared = self.shared.clone();
        let meta2 = meta.clone();
        let path = tokio::task::spawn_blocking(move || install(&shared, &tmp, label, &meta2))
            .await
            .map_err(|e| snapshot_error(ErrorVerb::Write, e))?
            .map_err(|e| snapshot_error(ErrorVerb::Write, e))?;
        // Current first: a reader that looked up the older one then finds this one.
        *self.shared.current.lock() = Some((meta.clone(), path.clone()));
        remove_older_snapshots(&self.shared.dir, label, &path);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        loop {
            let current = self.shared.current.lock().clone();
            let Some((meta, path)) = current else {
                return Ok(None);
            };
            match tokio::fs::File::open(&path).await {
                Ok(f) => {
                    return Ok(Some(Snapshot {
                        meta,
                        snapshot: Box::new(f),
                    }))
                }
                // A newer snapshot replaced it (and removed it) since it was looked up:
                // the newer one is the current one.
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound
                        && self
                            .shared
                            .current
                            .lock()
                            .as_ref()
                            .is_some_and(|(_, p)| *p != path) => {}
                Err(e) => {
                    return Err(snapshot_error(
                        ErrorVerb::Read,
                        format!("{}: {e}", path.display()),
                    ))
                }
            }
        }
    }
}

/// Verifies the snapshot `tmp`, replaces the keyspace with its contents, and puts it in
/// place as the node's snapshot `label`. Clients get `-LOADING` meanwhile.
fn install(
    shared: &Shared,
    tmp: &Path,
    label: u64,
    meta: &SnapshotMeta,
) -> Result<PathBuf, String> {
    let info = read_snapshot(tmp, None).map_err(|e| e.to_string())?;
    let databases = shared.ks.databases();
    if info.databases as usize > databases {
        return Err(format!(
            "the snapshot holds {} databases, but this node has {databases} (--databases must be the same on every node)",
            info.databases
        ));
    }
    let path = shared
        .dir
        .join(flashdb_storage::snapshot::snapshot_name(label));
    std::fs::rename(tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    flashdb_storage::segment::sync_dir(&shared.dir).map_err(|e| e.to_string())?;
    let mut a = shared.applied.lock();
    shared.ks.set_loading(true);
    let old = shared.ks.replay_lock_all().flush(None);
    // Freeing a large data set takes time that nobody should wait for.
    std::thread::spawn(move || drop(old));
    let loaded = load_snapshot_file(&shared.ks, &path);
    shared.ks.clear_written_seqs();
    shared.local.rebuilt();
    a.last_applied = meta.last_log_id;
    a.membership = meta.last_membership.clone();
    shared.ks.set_loading(false);
    drop(a);
    loaded?;
    Ok(path)
}

fn load_snapshot_file(ks: &Keyspace, path: &Path) -> Result<(), String> {
    read_snapshot(
        path,
        Some(&mut |chunk: &[u8], _| {
            let mut batch = Vec::new();
            let mut functions = None;
            decode_snapshot_entries(chunk, |e| {
                if e.db == flashdb_core::codec::FUNCTIONS_DB {
                    if let flashdb_core::value::Value::List(codes) = &e.entry.value {
                        functions = Some(codes.iter().map(|c| c.to_vec()).collect());
                    }
                } else {
                    batch.push((e.db as usize, e.entry));
                }
            })
            .map_err(|e| e.to_string())?;
            ks.load_entries(batch);
            if let Some(codes) = functions {
                ks.store_functions(codes);
            }
            Ok(())
        }),
    )
    .map(drop)
    .map_err(|e| e.to_string())
}

fn rebuild(shared: &Shared) -> Result<(), String> {
    // Holding this, no entry is applied meanwhile.
    let a = shared.applied.lock();
    rebuild_applied(shared, &a)
}

/// [`rebuild`] up to what `a` says is applied, by a caller holding the apply lock.
fn rebuild_applied(shared: &Shared, a: &Applied) -> Result<(), String> {
    let ks = &shared.ks;
    ks.set_loading(true);
    let old = ks.replay_lock_all().flush(None);
    std::thread::spawn(move || drop(old));
    let current = shared.current.lock().clone();
    let mut from = 0;
    let result = (|| {
        if let Some((meta, path)) = &current {
            load_snapshot_file(ks, path)?;
            from = meta.last_log_id.map_or(0, |l| l.index + 1);
        }
        if let Some(upto) = a.last_applied.map(|l| l.index) {
            for e in shared.log.entries(from, upto) {
                if let EntryPayload::Normal(p) = &e.payload {
                    for item in &p.items {
                        let effects =
                            decode_entries(&item.effects).map_err(|err| err.to_string())?;
                        apply_all(ks, &effects).map_err(|err| err.to_string())?;
                    }
                }
            }
        }
        Ok(())
    })();
    ks.clear_written_seqs();
    shared.local.rebuilt();
    ks.set_loading(false);
    result
}

fn remove_older_snapshots(dir: &Path, label: u64, keep: &Path) {
    if let Ok(all) = list_snapshots(dir) {
        for (seq, p) in all {
            if seq <= label && p != keep {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        if self.shared.building.swap(true, Ordering::AcqRel) {
            return Err(snapshot_error(
                ErrorVerb::Write,
                "a snapshot is being built already",
            ));
        }
        let r = self.build().await;
        self.shared.building.store(false, Ordering::Release);
        r
    }
}

impl StateMachine {
    async fn build(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let ks = self.shared.ks.clone();
        // The cut, taken while no entry is being applied.
        let (cut, base, waiting) = {
            let a = self.shared.applied.lock();
            let cut = ks.begin_snapshot().ok_or_else(|| {
                snapshot_error(ErrorVerb::Write, "another snapshot is in progress")
            })?;
            let waiting = if cut.seq > self.shared.local.committed() {
                let (tx, rx) = tokio::sync::oneshot::channel();
                *self.shared.local.target.lock() = Some(SnapshotTarget {
                    local_seq: cut.seq,
                    reply: tx,
                });
                Some(rx)
            } else {
                None
            };
            (cut, (a.last_applied, a.membership.clone()), waiting)
        };
        let (last_log_id, membership) = match waiting {
            None => base,
            Some(rx) => match tokio::time::timeout(SNAPSHOT_COMMIT_WAIT, rx).await {
                Ok(Ok((id, m))) => (Some(id).max(base.0), m),
                _ => {
                    ks.end_snapshot();
                    return Err(snapshot_error(
                        ErrorVerb::Write,
                        "the leader's writes in the snapshot were not committed in time",
                    ));
                }
            },
        };
        let label = self.label_for(last_log_id.map_or(0, |l| l.index));
        let meta = SnapshotMeta {
            last_log_id,
            last_membership: membership,
            snapshot_id: format!("{}-{label}", last_log_id.map_or(0, |l| l.index)),
        };
        let dir = self.shared.dir.clone();
        let meta_json =
            serde_json::to_vec(&meta).map_err(|e| snapshot_error(ErrorVerb::Write, e))?;
        let databases = ks.databases() as u32;
        let ks2 = ks.clone();
        let written = tokio::task::spawn_blocking(move || -> Result<PathBuf, String> {
            let mut w = SnapshotWriter::create(&dir, label, databases, unix_ms())
                .map_err(|e| e.to_string())?;
            w.write_meta(&meta_json).map_err(|e| e.to_string())?;
            // Shards and function libraries, as the node's own snapshots hold them.
            if let Err(e) = ks2.write_image(&cut, &mut || {}, &mut |chunk| w.write_chunk(chunk)) {
                w.abort();
                return Err(e.to_string());
            }
            let (path, _) = w.finish().map_err(|e| e.to_string())?;
            Ok(path)
        })
        .await;
        ks.end_snapshot();
        let path = written
            .map_err(|e| snapshot_error(ErrorVerb::Write, e))?
            .map_err(|e| snapshot_error(ErrorVerb::Write, e))?;
        // Current first: a reader that looked up the older one then finds this one.
        *self.shared.current.lock() = Some((meta.clone(), path.clone()));
        remove_older_snapshots(&self.shared.dir, label, &path);
        let f = tokio::fs::File::open(&path)
            .await
            .map_err(|e| snapshot_error(ErrorVerb::Read, format!("{}: {e}", path.display())))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(f),
        })
    }
}
