//! Persistence wiring: recovery at start-up, the log sink the engine writes through, and
//! snapshots (by size threshold, `SAVE`/`BGSAVE`, and on clean shutdown).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashdb_core::codec::{decode_entries, decode_snapshot_entries};
use flashdb_core::keyspace::unix_ms;
use flashdb_core::log_entry::LogSink;
use flashdb_core::replay::apply_all;
use flashdb_core::Keyspace;
use flashdb_storage::{
    recover, DirLock, FsyncPolicy, RecoveryReport, SnapshotWriter, StorageError, Wal, WalConfig,
};

use crate::config::Config;

/// The log of the running server, for the runtime's park hook (set once recovery is done).
pub static ACTIVE_WAL: std::sync::OnceLock<Arc<Wal>> = std::sync::OnceLock::new();

/// Runtime workers that are running (not parked). The snapshot writer gives way while
/// any is (see [`give_way`]).
static BUSY_WORKERS: AtomicUsize = AtomicUsize::new(0);

/// Called by each runtime worker when it starts, and when it wakes up from parking.
pub fn on_worker_busy() {
    BUSY_WORKERS.fetch_add(1, Ordering::AcqRel);
}

/// Called by each runtime worker about to park: it ran out of work, so the records it
/// appended form a complete batch for the writer. `idle_spin` is how long it spins first,
/// in case new work arrives at once.
pub fn on_worker_park(idle_spin: Duration) {
    if let Some(w) = ACTIVE_WAL.get() {
        w.kick();
    }
    crate::idle_spin(idle_spin);
    on_worker_idle();
}

/// Called by each runtime worker when it parks or stops.
pub fn on_worker_idle() {
    let _ = BUSY_WORKERS.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
}

/// Longest the snapshot writer waits for the workers between two pieces of work: however
/// busy clients keep the server, a snapshot goes on at a piece (512 keys) per millisecond
/// at least.
const MAX_GIVE_WAY: Duration = Duration::from_millis(1);

/// Between two pieces of a snapshot: waits (up to [`MAX_GIVE_WAY`]) while a runtime worker
/// is busy.
///
/// A low scheduling priority alone does not keep the snapshot writer out of clients' way:
/// the scheduler (EEVDF) picks a low-weight task now and then, and the task picked runs a
/// whole time slice (about 3 ms) unless it gives the core up. Measured on one core with
/// 1M keys (`scripts/bench-durability.sh`): GET p99 while snapshots run was 1.16-1.18 ms
/// without this wait, 0.45-0.47 ms with it, against 0.32-0.36 ms with no snapshot. The
/// price is a longer snapshot under load: about 2 s for 1M keys on a saturated core,
/// instead of about 0.1 s.
fn give_way() {
    let start = Instant::now();
    while BUSY_WORKERS.load(Ordering::Acquire) > 0 && start.elapsed() < MAX_GIVE_WAY {
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// The engine's log sink: each write's encoded entries become one log record.
#[derive(Debug)]
pub struct WalSink(pub Arc<Wal>);

impl LogSink for WalSink {
    fn append(&self, payload: &[u8]) -> u64 {
        self.0.append(payload)
    }

    fn last_seq(&self) -> u64 {
        self.0.last_seq()
    }

    fn durable_seq(&self) -> u64 {
        self.0.durable_seq()
    }
}

/// The persistence state of a running server.
#[derive(Debug)]
pub struct Persistence {
    /// The write-ahead log.
    pub wal: Arc<Wal>,
    /// The data directory.
    pub dir: PathBuf,
    _lock: DirLock,
    /// Log bytes since the last snapshot that trigger a snapshot.
    pub snapshot_threshold: AtomicU64,
    in_progress: AtomicBool,
    scheduled: AtomicBool,
    /// Unix seconds of the last successful snapshot (or of start-up).
    pub last_save: AtomicU64,
    /// Whether the last snapshot succeeded.
    pub last_ok: AtomicBool,
    /// Duration of the last snapshot in milliseconds.
    pub last_duration_ms: AtomicU64,
    /// Sequence number covered by the last snapshot.
    pub last_snapshot_seq: AtomicU64,
    /// Snapshots written since start.
    pub snapshots: AtomicU64,
    /// Time recovery took, in milliseconds.
    pub recovery_ms: u64,
    databases: u32,
    /// A group node: its snapshots are Raft's (see `flashdb_replication`), taken when
    /// Raft asks, not by size, `SAVE` or shutdown.
    group: bool,
    /// The ledger over the log (`--ledger on`).
    pub ledger: Option<Arc<flashdb_storage::ledger::Ledger>>,
}

/// Recovers the keyspace from `config.dir` and opens the log for appending.
pub fn open(
    config: &Config,
    lock: DirLock,
    ks: &Keyspace,
) -> Result<(Persistence, RecoveryReport), StorageError> {
    let mut on_record = |_seq: u64, payload: &[u8]| -> Result<(), String> {
        let entries = decode_entries(payload).map_err(|e| e.to_string())?;
        apply_all(ks, &entries).map_err(|e| e.to_string())
    };
    let policy = match config.appendfsync.as_str() {
        "everysec" => FsyncPolicy::EverySec,
        "no" => FsyncPolicy::No,
        _ => FsyncPolicy::Always,
    };
    open_with(config, lock, ks, policy, &mut on_record)
}

/// Recovers `config.dir`: the snapshot's keys go into `ks`, the log records after it to
/// `on_record`; then opens the log with `policy`.
pub fn open_with(
    config: &Config,
    lock: DirLock,
    ks: &Keyspace,
    policy: FsyncPolicy,
    on_record: flashdb_storage::RecordSink<'_>,
) -> Result<(Persistence, RecoveryReport), StorageError> {
    let started = Instant::now();
    let databases = ks.databases();
    let mut on_chunk = |chunk: &[u8], _offset: u64| -> Result<(), String> {
        let mut bad_db = None;
        let mut batch = Vec::new();
        decode_snapshot_entries(chunk, |e| {
            let db = e.db as usize;
            if e.db == flashdb_core::codec::FUNCTIONS_DB {
                if let flashdb_core::value::Value::List(codes) = &e.entry.value {
                    ks.store_functions(codes.iter().map(|c| c.to_vec()).collect());
                }
            } else if db < databases {
                batch.push((db, e.entry));
            } else {
                bad_db = Some(e.db);
            }
        })
        .map_err(|e| e.to_string())?;
        match bad_db {
            Some(db) => Err(format!(
                "the snapshot holds database {db}, but the server has {databases} databases (was --databases lowered?)"
            )),
            None => {
                ks.load_entries(batch);
                Ok(())
            }
        }
    };
    let report = recover(&config.dir, &mut on_chunk, on_record)?;
    let wal = Wal::open(
        WalConfig {
            dir: config.dir.clone(),
            segment_size: config.wal_segment_size,
            fsync: policy,
            archive: config.ledger,
            // A group's log is Raft's, which appends again only once the last append is
            // durable: waiting for more records would only delay it.
            gather: config.group.is_none(),
        },
        report.last_seq,
        report.segments.clone(),
        report.end_offset,
    )?;
    let snapshot_seq = report.snapshot.as_ref().map_or(0, |(_, s)| *s);
    let p = Persistence {
        wal: Arc::new(wal),
        dir: config.dir.clone(),
        _lock: lock,
        snapshot_threshold: AtomicU64::new(config.snapshot_threshold),
        in_progress: AtomicBool::new(false),
        scheduled: AtomicBool::new(false),
        last_save: AtomicU64::new(unix_ms() / 1000),
        last_ok: AtomicBool::new(true),
        last_duration_ms: AtomicU64::new(0),
        last_snapshot_seq: AtomicU64::new(snapshot_seq),
        snapshots: AtomicU64::new(0),
        recovery_ms: started.elapsed().as_millis() as u64,
        databases: databases as u32,
        group: config.group.is_some(),
        ledger: match config.ledger {
            true => Some(Arc::new(flashdb_storage::ledger::Ledger::open(
                &config.dir,
                report.last_seq + 1,
            )?)),
            false => None,
        },
    };
    Ok((p, report))
}

impl Persistence {
    /// Whether a snapshot is being written.
    pub fn snapshot_in_progress(&self) -> bool {
        self.in_progress.load(Ordering::Acquire)
    }

    /// Writes a snapshot of `ks` now (on the calling thread); returns the sequence number
    /// it covers. Clients keep being served: see `flashdb_core::snapshot`.
    pub fn snapshot(&self, ks: &Keyspace) -> Result<u64, String> {
        if self.group {
            return Err("a node of a replication group takes its snapshots through Raft".into());
        }
        if self.in_progress.swap(true, Ordering::AcqRel) {
            return Err("Background save already in progress".into());
        }
        let started = Instant::now();
        let result = self.write_snapshot(ks);
        ks.end_snapshot();
        self.in_progress.store(false, Ordering::Release);
        self.last_duration_ms
            .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        match &result {
            Ok(seq) => {
                self.last_ok.store(true, Ordering::Relaxed);
                self.last_save.store(unix_ms() / 1000, Ordering::Relaxed);
                self.last_snapshot_seq.store(*seq, Ordering::Relaxed);
                self.snapshots.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    seq,
                    ms = started.elapsed().as_millis() as u64,
                    "snapshot written"
                );
            }
            Err(e) => {
                self.last_ok.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, "snapshot failed");
            }
        }
        result
    }

    fn write_snapshot(&self, ks: &Keyspace) -> Result<u64, String> {
        let log_bytes_at_cut = self
            .wal
            .stats()
            .bytes_since_snapshot
            .load(Ordering::Acquire);
        let cut = ks
            .begin_snapshot()
            .ok_or_else(|| "a snapshot is already being taken".to_string())?;
        let (path, _bytes) = write_image(&self.dir, ks, &cut, self.databases)?;
        self.wal
            .stats()
            .bytes_since_snapshot
            .fetch_sub(log_bytes_at_cut, Ordering::AcqRel);
        // The new snapshot is durable: older snapshots and the segments it covers go.
        for (seq, old) in
            flashdb_storage::snapshot::list_snapshots(&self.dir).map_err(|e| e.to_string())?
        {
            if seq < cut.seq && old != path {
                let _ = std::fs::remove_file(&old);
            }
        }
        self.wal
            .delete_covered(cut.seq)
            .map_err(|e| e.to_string())?;
        if let Some(l) = &self.ledger {
            // Derived data, but rebuilding it reads the whole history: keep it on disk.
            l.sync().map_err(|e| e.to_string())?;
        }
        Ok(cut.seq)
    }

    /// Runs `f` holding the snapshot slot that `SAVE`, `BGSAVE` and the size trigger take,
    /// waiting up to `wait` for a snapshot in progress to end.
    pub fn with_snapshot_slot<R>(
        &self,
        wait: Duration,
        f: impl FnOnce() -> Result<R, String>,
    ) -> Result<R, String> {
        let deadline = Instant::now() + wait;
        while self
            .in_progress
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            if Instant::now() >= deadline {
                return Err("a snapshot is being written; try again when it is done".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let result = f();
        self.in_progress.store(false, Ordering::Release);
        result
    }

    /// Starts a snapshot on its own low-priority thread unless one is running; false if
    /// one is. `done` receives the outcome.
    pub fn spawn_snapshot_then(
        self: &Arc<Self>,
        server: Arc<crate::server::Server>,
        done: impl FnOnce(Result<u64, String>) + Send + 'static,
    ) -> bool {
        if self.snapshot_in_progress() {
            return false;
        }
        let me = self.clone();
        std::thread::Builder::new()
            .name("flashdb-snapshot".into())
            .spawn(move || {
                lower_thread_priority();
                done(me.snapshot(&server.ks));
            })
            .is_ok()
    }

    /// Starts a snapshot in the background (`BGSAVE`, the size trigger).
    pub fn spawn_snapshot(self: &Arc<Self>, server: Arc<crate::server::Server>) -> bool {
        self.spawn_snapshot_then(server, |_| {})
    }

    /// Asks for a snapshot as soon as the one in progress ends (`BGSAVE SCHEDULE`).
    pub fn schedule_snapshot(&self) {
        self.scheduled.store(true, Ordering::Release);
    }

    /// Whether a snapshot should start: the log written since the last one passed the
    /// threshold, or one was scheduled.
    pub fn snapshot_due(&self) -> bool {
        if self.group {
            return false;
        }
        if self.scheduled.load(Ordering::Acquire) && !self.snapshot_in_progress() {
            self.scheduled.store(false, Ordering::Release);
            return true;
        }
        let threshold = self.snapshot_threshold.load(Ordering::Relaxed);
        threshold > 0
            && self
                .wal
                .stats()
                .bytes_since_snapshot
                .load(Ordering::Relaxed)
                >= threshold
    }
}

/// Writes the image of `ks` at `cut` (every shard, then the function libraries) as a
/// snapshot file in `dir`; returns its path and size. Clients keep being served while it
/// runs (see [`give_way`]).
pub fn write_image(
    dir: &std::path::Path,
    ks: &Keyspace,
    cut: &flashdb_core::snapshot::SnapshotCut,
    databases: u32,
) -> Result<(PathBuf, u64), String> {
    let mut writer =
        SnapshotWriter::create(dir, cut.seq, databases, unix_ms()).map_err(|e| e.to_string())?;
    if let Err(e) = ks.write_image(cut, &mut give_way, &mut |chunk| writer.write_chunk(chunk)) {
        writer.abort();
        return Err(e.to_string());
    }
    writer.finish().map_err(|e| e.to_string())
}

/// Gives the calling thread the lowest CPU priority (nice 19), so that the snapshot
/// writer mostly uses CPU time that client work leaves idle. (Not enough on its own: see
/// [`give_way`].)
fn lower_thread_priority() {
    // SAFETY: `setpriority` takes only integers and touches no memory of ours; on Linux,
    // `PRIO_PROCESS` with id 0 applies to the calling thread alone. A failure (it cannot
    // fail for lowering one's own priority) leaves the priority as it was.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
    if rc != 0 {
        tracing::debug!("could not lower the snapshot thread's priority");
    }
}
