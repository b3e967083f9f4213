//! The write-ahead log with group commit.
//!
//! Writers append records under their shard locks: the payload is checksummed first, then a
//! short critical section gives the record its sequence number and copies it into the
//! shared buffer. One writer thread owns the active segment: it takes whatever has gathered,
//! writes it with one `write`, fsyncs once (policy `always`), and publishes the highest
//! sequence number now durable, waking every connection waiting for it. Many clients'
//! records share one fsync.
//!
//! Under `appendfsync always` the active segment is zero-filled ahead of the records (see
//! [`crate::prefill`]), so that an fsync flushes only data, not the file's size.
//!
//! A failed write or fsync poisons the log: the failure is published to every waiter, no
//! later record is ever reported durable, and the server refuses writes until restarted
//! (after a failed fsync the page cache can no longer be trusted: PostgreSQL's lesson).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::durable::{DurableSeq, WaitDurable};
use crate::error::StorageError;
use crate::failpoint;
use crate::prefill::Prefill;
use crate::record;
use crate::segment::{create_segment, sync_dir, SEGMENT_HEADER_LEN};

/// When a record is fsynced relative to the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before the reply (group commit).
    Always,
    /// In the background once a second.
    EverySec,
    /// Left to the operating system.
    No,
}

impl FsyncPolicy {
    /// The policy named `name` (`always`, `everysec`, `no`).
    pub fn parse(name: &str) -> Option<FsyncPolicy> {
        match name {
            "always" => Some(FsyncPolicy::Always),
            "everysec" => Some(FsyncPolicy::EverySec),
            "no" => Some(FsyncPolicy::No),
            _ => None,
        }
    }

    fn from_u8(v: u8) -> FsyncPolicy {
        match v {
            0 => FsyncPolicy::Always,
            1 => FsyncPolicy::EverySec,
            _ => FsyncPolicy::No,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            FsyncPolicy::Always => 0,
            FsyncPolicy::EverySec => 1,
            FsyncPolicy::No => 2,
        }
    }

    /// The policy's name as configured (`always`, `everysec`, `no`).
    pub fn name(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::No => "no",
        }
    }
}

/// Log settings.
#[derive(Debug, Clone)]
pub struct WalConfig {
    /// The data directory.
    pub dir: PathBuf,
    /// Size after which a new segment is started.
    pub segment_size: u64,
    /// Fsync policy.
    pub fsync: FsyncPolicy,
    /// Move the segments a snapshot covers to `archive/` instead of deleting them (the
    /// ledger keeps every record provable).
    pub archive: bool,
    /// Under `always`, let the writer wait briefly for a group as large as the recent ones
    /// (group commit's gathering). Off for a log whose one appender waits for each append to be
    /// durable before it appends again (a Raft log: openraft stores one entry at a time),
    /// since nothing can join the group while the writer waits.
    pub gather: bool,
}

/// Counters for `INFO persistence` and metrics.
#[derive(Debug, Default)]
pub struct WalStats {
    /// Bytes written to the log since start.
    pub bytes_written: AtomicU64,
    /// Bytes appended since the last snapshot (drives automatic snapshots).
    pub bytes_since_snapshot: AtomicU64,
    /// Fsyncs done.
    pub fsyncs: AtomicU64,
    /// Total fsync time in microseconds.
    pub fsync_micros: AtomicU64,
    /// Duration of the last fsync in microseconds.
    pub last_fsync_micros: AtomicU64,
    /// Fsync durations, for the metrics endpoint.
    pub fsync_latency: crate::Histogram,
}

struct Pending {
    buf: Vec<u8>,
    next_seq: u64,
    /// First and last sequence numbers in `buf`.
    first_in_buf: u64,
    last_in_buf: u64,
    shutdown: bool,
    /// The writer is idle, waiting for records: only then does an append wake it. Waking
    /// it for every record would cost a context switch per write.
    writer_idle: bool,
    /// The writer is gathering a group (see [`gather`]): an append that brings the buffer
    /// to this many records wakes it. Zero when it is not gathering.
    want: u64,
}

struct Segments {
    /// `(first seq, path)` of every segment, the active one last.
    list: Vec<(u64, PathBuf)>,
}

struct Shared {
    cfg: WalConfig,
    /// The fsync policy in force (`CONFIG SET appendfsync` changes it), starting as
    /// `cfg.fsync`.
    policy: AtomicU8,
    pending: Mutex<Pending>,
    wake: Condvar,
    last_seq: AtomicU64,
    durable: DurableSeq,
    segments: Mutex<Segments>,
    stats: WalStats,
    poisoned: Mutex<Option<Arc<str>>>,
    /// Zero-fills ahead of the records under `appendfsync always`.
    prefill: Option<Prefill>,
}

/// The write-ahead log.
pub struct Wal {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.cfg.dir)
            .field("last_seq", &self.last_seq())
            .finish()
    }
}

impl Wal {
    /// Opens the log for appending after recovery: `last_seq` is the last record recovered,
    /// `segments` the segments present, and `end_offset` where the last one's records end
    /// (it is continued from there if it has room; `None` means at the end of the file).
    pub fn open(
        cfg: WalConfig,
        last_seq: u64,
        mut segments: Vec<(u64, PathBuf)>,
        end_offset: Option<u64>,
    ) -> Result<Wal, StorageError> {
        let continued = match segments.last() {
            Some((_, path)) => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| StorageError::io(path, e))?;
                let len = f.metadata().map_err(|e| StorageError::io(path, e))?.len();
                let end = end_offset.unwrap_or(len);
                (end < cfg.segment_size).then_some((f, end, len))
            }
            None => None,
        };
        let (file, end, len) = match continued {
            Some(active) => active,
            None => {
                let (f, p) = create_segment(&cfg.dir, last_seq + 1)?;
                segments.push((last_seq + 1, p));
                let header = SEGMENT_HEADER_LEN as u64;
                (f, header, header)
            }
        };
        let file = Arc::new(file);
        let prefill = if cfg.fsync == FsyncPolicy::Always {
            let p = Prefill::start(cfg.segment_size)
                .map_err(|e| StorageError::io("flashdb-wal-fill thread", e))?;
            p.set_file(file.clone(), end, len);
            Some(p)
        } else {
            None
        };
        let shared = Arc::new(Shared {
            policy: AtomicU8::new(cfg.fsync.as_u8()),
            cfg,
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(1 << 20),
                next_seq: last_seq + 1,
                first_in_buf: 0,
                last_in_buf: 0,
                shutdown: false,
                writer_idle: false,
                want: 0,
            }),
            wake: Condvar::new(),
            last_seq: AtomicU64::new(last_seq),
            durable: DurableSeq::new(last_seq),
            segments: Mutex::new(Segments { list: segments }),
            stats: WalStats::default(),
            poisoned: Mutex::new(None),
            prefill,
        });
        let writer_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("flashdb-wal".into())
            .spawn(move || writer_loop(writer_shared, file, end))
            .map_err(|e| StorageError::io("flashdb-wal thread", e))?;
        Ok(Wal {
            shared,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// Appends one record; returns its sequence number. `payload` is the encoded entries.
    pub fn append(&self, payload: &[u8]) -> u64 {
        let crc = crc32c::crc32c(payload);
        let mut p = self.shared.pending.lock();
        let seq = p.next_seq;
        p.next_seq += 1;
        if p.buf.is_empty() {
            p.first_in_buf = seq;
        }
        record::encode(seq, payload, crc, &mut p.buf);
        p.last_in_buf = seq;
        self.shared.last_seq.store(seq, Ordering::Release);
        let added = (record::HEADER_LEN + payload.len()) as u64;
        self.shared
            .stats
            .bytes_since_snapshot
            .fetch_add(added, Ordering::Relaxed);
        // Only an idle writer is woken, and not by threads that kick it when they run out
        // of work: on a busy core, a writer woken per record preempts the appender after
        // every single append.
        let mut wake = !DEFER_WAKEUPS.with(|d| d.get()) && std::mem::take(&mut p.writer_idle);
        if p.want != 0 && seq - p.first_in_buf + 1 >= p.want {
            p.want = 0;
            wake = true;
        }
        drop(p);
        if wake {
            self.shared.wake.notify_one();
        }
        seq
    }

    /// Wakes the writer if records are waiting and it is idle. Threads that called
    /// [`defer_wakeups_on_this_thread`] call this when they run out of work (an async
    /// runtime's worker about to park), so that one batch holds everything they appended.
    pub fn kick(&self) {
        let mut p = self.shared.pending.lock();
        if !p.buf.is_empty() && p.writer_idle {
            p.writer_idle = false;
            drop(p);
            self.shared.wake.notify_one();
        }
    }

    /// The sequence number of the last record appended.
    pub fn last_seq(&self) -> u64 {
        self.shared.last_seq.load(Ordering::Acquire)
    }

    /// The highest sequence number known durable (every record up to it is on disk, or, for
    /// `everysec` and `no`, handed to the OS).
    pub fn durable_seq(&self) -> u64 {
        self.shared.durable.get()
    }

    /// Resolves once record `seq` is durable, or with the reason it never will be (the log
    /// failed, or was closed first). Connections await it before they reply.
    pub fn wait_durable(&self, seq: u64) -> WaitDurable<'_> {
        WaitDurable {
            durable: &self.shared.durable,
            seq,
        }
    }

    /// The fsync policy in force.
    pub fn policy(&self) -> FsyncPolicy {
        self.shared.policy()
    }

    /// Changes the fsync policy at run time, from the next batch on. Records already
    /// acknowledged keep the guarantee they were acknowledged with: under `always` a reply
    /// waits for its own fsync whatever came before, since an fsync covers every earlier
    /// write to the file and a new segment starts only after the old one is fsynced. A log
    /// opened under another policy has no zero-filling ahead of its records, so its fsyncs
    /// under `always` also write the file's size: slower, not less safe.
    pub fn set_policy(&self, policy: FsyncPolicy) {
        self.shared.policy.store(policy.as_u8(), Ordering::Release);
        self.shared.wake.notify_one();
    }

    /// Why the log refuses writes, if it does.
    pub fn poisoned(&self) -> Option<Arc<str>> {
        self.shared.poisoned.lock().clone()
    }

    /// Counters.
    pub fn stats(&self) -> &WalStats {
        &self.shared.stats
    }

    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.shared.segments.lock().list.len()
    }

    /// Deletes (or, with [`WalConfig::archive`], archives) the segments whose every record
    /// is at or below `seq` (covered by a durable snapshot). The active segment is never
    /// deleted.
    pub fn delete_covered(&self, seq: u64) -> Result<usize, StorageError> {
        let mut segs = self.shared.segments.lock();
        let mut removed = 0;
        // Segment i holds records up to the first seq of segment i+1, minus one.
        let archive = self
            .shared
            .cfg
            .archive
            .then(|| self.shared.cfg.dir.join(crate::ledger::ARCHIVE_DIR));
        if let Some(a) = &archive {
            std::fs::create_dir_all(a).map_err(|e| StorageError::io(a, e))?;
        }
        while segs.list.len() >= 2 && segs.list[1].0 <= seq + 1 {
            let (_, path) = segs.list.remove(0);
            match &archive {
                Some(a) => {
                    let to = a.join(path.file_name().unwrap_or_default());
                    std::fs::rename(&path, &to).map_err(|e| StorageError::io(&path, e))?;
                }
                None => std::fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?,
            }
            removed += 1;
        }
        if removed > 0 {
            if let Some(a) = &archive {
                sync_dir(a)?;
            }
            sync_dir(&self.shared.cfg.dir)?;
        }
        Ok(removed)
    }

    /// Writes and fsyncs everything appended so far, then stops the writer thread.
    pub fn close(&self) {
        self.shared.pending.lock().shutdown = true;
        self.shared.wake.notify_all();
        if let Some(h) = self.writer.lock().take() {
            let _ = h.join();
        }
        self.shared.durable.stop();
        if let Some(p) = &self.shared.prefill {
            p.stop();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.close();
    }
}

impl Shared {
    fn policy(&self) -> FsyncPolicy {
        FsyncPolicy::from_u8(self.policy.load(Ordering::Acquire))
    }
}

fn poison(shared: &Shared, msg: String) {
    tracing::error!(error = %msg, "write-ahead log failed; refusing writes until restart");
    let msg: Arc<str> = Arc::from(msg);
    *shared.poisoned.lock() = Some(msg.clone());
    shared.durable.fail(msg);
}

fn writer_loop(shared: Arc<Shared>, mut file: Arc<File>, mut size: u64) {
    let mut spare: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut last_sync = Instant::now();
    let mut unsynced = false;
    // The size of the recent groups (see `next_peak`), and how long the last fsync took.
    let mut peak = 0u64;
    let mut prev_fsync = Duration::ZERO;
    loop {
        let mut policy = shared.policy();
        let (first, last, shutdown) = {
            let mut p = shared.pending.lock();
            while p.buf.is_empty() && !p.shutdown {
                p.writer_idle = true;
                if policy == FsyncPolicy::EverySec && unsynced {
                    let left = Duration::from_secs(1).saturating_sub(last_sync.elapsed());
                    if left.is_zero() || shared.wake.wait_for(&mut p, left).timed_out() {
                        p.writer_idle = false;
                        break;
                    }
                } else {
                    let _ = shared.wake.wait_for(&mut p, IDLE_POLL);
                }
            }
            p.writer_idle = false;
            policy = shared.policy();
            if policy == FsyncPolicy::Always && shared.cfg.gather {
                gather(&shared, &mut p, peak, prev_fsync);
            }
            std::mem::swap(&mut p.buf, &mut spare);
            (p.first_in_buf, p.last_in_buf, p.shutdown)
        };
        let failed = shared.poisoned.lock().is_some();
        if !spare.is_empty() && !failed {
            if size >= shared.cfg.segment_size {
                match roll(&shared, &mut file, first) {
                    Ok(()) => size = SEGMENT_HEADER_LEN as u64,
                    Err(e) => poison(&shared, format!("cannot start a new log segment: {e}")),
                }
            }
            if shared.poisoned.lock().is_none() {
                if let Some(p) = &shared.prefill {
                    p.before_write(size, spare.len() as u64);
                }
                // Holds the batch in memory for a while, in tests, so that a crash test
                // can catch records that clients could see but the disk never got.
                failpoint::pause("wal-write-pause");
                let write =
                    failpoint::check("wal-write").and_then(|()| file.write_all_at(&spare, size));
                match write {
                    Ok(()) => {
                        size += spare.len() as u64;
                        shared
                            .stats
                            .bytes_written
                            .fetch_add(spare.len() as u64, Ordering::Relaxed);
                        unsynced = true;
                        if policy == FsyncPolicy::Always {
                            peak = next_peak(peak, last - first + 1);
                            let started = Instant::now();
                            let synced = fsync(&shared, &file);
                            prev_fsync = started.elapsed();
                            if synced {
                                last_sync = Instant::now();
                                unsynced = false;
                                publish(&shared, last);
                            }
                        } else {
                            publish(&shared, last);
                        }
                    }
                    Err(e) => poison(&shared, format!("Errors writing to the AOF file: {e}")),
                }
            }
        }
        spare.clear();
        if policy == FsyncPolicy::EverySec
            && unsynced
            && last_sync.elapsed() >= Duration::from_secs(1)
        {
            if fsync(&shared, &file) {
                unsynced = false;
            }
            last_sync = Instant::now();
        }
        if shutdown && shared.pending.lock().buf.is_empty() {
            if unsynced && shared.poisoned.lock().is_none() {
                fsync(&shared, &file);
            }
            return;
        }
    }
}

/// Waits briefly for a group as large as the recent ones (`peak`, see [`next_peak`])
/// before writing it.
///
/// Under load, group commit splits the clients into groups that take turns: the clients
/// released by one fsync send their next writes while the next fsync is running, and if
/// that fsync started the moment the previous one ended it carries only the few records
/// that were ready. Each fsync costs about the same CPU time and disk round trips however
/// few records it carries. So when fewer than seven eighths of the peak are waiting, the
/// writer gives the rest up to two fsyncs' time (at most [`MAX_GATHER`]) to arrive (their
/// clients are on their way back), and goes as soon as they have. With a handful of
/// clients (groups of one) it never waits; on a fast disk the wait is as short as its
/// fsyncs.
fn gather(
    shared: &Shared,
    p: &mut parking_lot::MutexGuard<'_, Pending>,
    peak: u64,
    fsync: Duration,
) {
    let target = peak - peak / 8;
    if p.shutdown || p.buf.is_empty() || p.last_in_buf - p.first_in_buf + 1 >= target {
        return;
    }
    let deadline = Instant::now() + (fsync * 2).min(MAX_GATHER);
    p.want = target;
    while p.want != 0 && !p.shutdown {
        if shared.wake.wait_until(p, deadline).timed_out() {
            break;
        }
    }
    p.want = 0;
}

/// The longest [`gather`] waits, whatever the disk.
const MAX_GATHER: Duration = Duration::from_millis(1);

/// The group size [`gather`] aims at after a group of `group` records: the largest of the
/// recent groups, decaying by a sixteenth (at least one) per group.
///
/// Aiming at the last group alone lets the groups shrink: a group that went before all
/// its clients were back makes the next target smaller, and so on down to groups of a
/// third of the clients. Measured on one core with 50 clients (flashdb-benchmark, SET,
/// `always`, three alternating runs each): groups of 19 and 69-72k writes/s when aiming
/// at the last group with half an fsync's wait; groups of 35 and 75-89k writes/s, and
/// lower p50 and p99 latency, with the decaying peak and two fsyncs' wait. The decay
/// keeps a burst from setting the target for long: two clients that once wrote together
/// stop being waited for after one group.
fn next_peak(peak: u64, group: u64) -> u64 {
    group.max(peak.saturating_sub((peak / 16).max(1)))
}

/// Longest the writer sleeps while idle: records appended by threads that defer wake-ups
/// and have not kicked the writer yet are written at least this often.
const IDLE_POLL: Duration = Duration::from_millis(5);

thread_local! {
    static DEFER_WAKEUPS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Appends from this thread no longer wake the writer; the thread promises to call
/// [`Wal::kick`] when it runs out of work.
pub fn defer_wakeups_on_this_thread() {
    DEFER_WAKEUPS.with(|d| d.set(true));
}

/// Fsyncs the active segment; poisons the log and returns false on failure.
fn fsync(shared: &Shared, file: &File) -> bool {
    let started = Instant::now();
    let r = failpoint::check("wal-fsync").and_then(|()| file.sync_data());
    let micros = started.elapsed().as_micros() as u64;
    shared.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
    shared
        .stats
        .fsync_micros
        .fetch_add(micros, Ordering::Relaxed);
    shared
        .stats
        .last_fsync_micros
        .store(micros, Ordering::Relaxed);
    shared.stats.fsync_latency.record(micros);
    match r {
        Ok(()) => true,
        Err(e) => {
            poison(
                shared,
                format!("Errors writing to the AOF file: fsync failed: {e}"),
            );
            false
        }
    }
}

/// Publishes that every record up to `seq` is durable, unless the log has failed: after a
/// failed fsync, a later successful one proves nothing about the data of the failed one.
fn publish(shared: &Shared, seq: u64) {
    if shared.poisoned.lock().is_some() {
        return;
    }
    shared.durable.advance(seq);
}

/// Closes the active segment (fsynced) and starts a new one whose first record is `first`.
fn roll(shared: &Shared, file: &mut Arc<File>, first: u64) -> Result<(), StorageError> {
    let dir = &shared.cfg.dir;
    file.sync_data().map_err(|e| StorageError::io(dir, e))?;
    let (f, path) = create_segment(dir, first)?;
    *file = Arc::new(f);
    if let Some(p) = &shared.prefill {
        let header = SEGMENT_HEADER_LEN as u64;
        p.set_file(file.clone(), header, header);
    }
    shared.segments.lock().list.push((first, path));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::next_peak;

    #[test]
    fn peak_follows_larger_groups_at_once_and_smaller_ones_slowly() {
        assert_eq!(next_peak(0, 1), 1);
        assert_eq!(next_peak(10, 40), 40);
        // 40 decays by a sixteenth (2) per smaller group, never below the group itself.
        assert_eq!(next_peak(40, 30), 38);
        assert_eq!(next_peak(40, 39), 39);
        let mut peak = 48;
        let mut groups = 0;
        while peak > 24 {
            peak = next_peak(peak, 1);
            groups += 1;
        }
        assert!((8..=16).contains(&groups), "halved after {groups} groups");
    }

    #[test]
    fn a_small_burst_is_forgotten_after_one_group() {
        // Below sixteen the decay is one per group: two clients that wrote together once
        // are not waited for again after the next group of one.
        assert_eq!(next_peak(2, 1), 1);
        assert_eq!(next_peak(1, 1), 1);
        assert_eq!(next_peak(5, 1), 4);
    }
}
