//! The Raft log of a node, kept in the write-ahead log: one log, one fsync per group commit.
//!
//! Every entry, truncation, purge and commit point becomes a record of the node's
//! [`Wal`] (see [`crate::codec`]); appends share the log's group commit, and openraft is
//! told that entries are stored only once the log says they are durable. The entries not
//! yet purged are also kept in memory, where replication reads them: a snapshot bounds
//! them, since openraft purges what a snapshot covers.
//!
//! One exception lets the leader's fsync overlap its followers' (see
//! [`LogStore::overlap_leader_fsync`]): openraft 0.9 hands an entry to the replication
//! streams only once the leader's own append reports it stored, so a round would be the
//! leader's fsync, then the followers'. A leader's own entries are reported stored once
//! written, and three rules keep a commit that counts the leader before its fsync from
//! ever being seen or relied on:
//! - the transport caps the commit index it sends at what the leader holds durably
//!   ([`LogStore::durable_commit`]), so a follower applies only entries durable on a
//!   majority (those that acknowledged them, and the leader);
//! - the state machine applies nothing before it is durable here
//!   ([`LogStore::wait_durable`]), so the replies and reads that reveal a write, which wait
//!   for its apply, wait for the leader's fsync too;
//! - a batch holding a membership change is reported only once durable, since openraft
//!   moves on from a joint configuration as soon as it counts it committed.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use flashdb_storage::Wal;
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{AnyError, EntryPayload, ErrorSubject, ErrorVerb, StorageIOError};
use parking_lot::Mutex;

use crate::codec::{decode, encode, encode_entry, RaftRecord, RecordError};
use crate::meta_file::{MetaFileError, VoteFile};
use crate::network::Raft;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

#[derive(Debug, Default)]
struct Log {
    /// Entries not purged, by index, with the sequence number of the record holding each.
    entries: BTreeMap<u64, (Entry, u64)>,
    last_purged: Option<LogId>,
    committed: Option<LogId>,
    /// A commit point newer than the last one recorded: it is recorded with the next
    /// entries appended (see [`LogStore::save_committed`]).
    committed_unrecorded: bool,
    vote: Option<Vote>,
}

impl Log {
    fn put(&mut self, e: Entry, seq: u64) {
        // An entry replaces any at its index or after: openraft truncates first, and a
        // log read back in order is consistent either way.
        drop(self.entries.split_off(&e.log_id.index));
        self.entries.insert(e.log_id.index, (e, seq));
    }

    fn truncate(&mut self, from: u64) {
        drop(self.entries.split_off(&from));
    }

    fn purge(&mut self, upto: LogId) {
        self.entries = self.entries.split_off(&(upto.index + 1));
        if self.last_purged < Some(upto) {
            self.last_purged = Some(upto);
        }
    }

    fn apply(&mut self, record: RaftRecord, seq: u64) {
        match record {
            RaftRecord::Entry(e) => self.put(e, seq),
            RaftRecord::Truncate(from) => self.truncate(from),
            RaftRecord::Purge(upto) => self.purge(upto),
            RaftRecord::Committed(id) => {
                if self.committed < Some(id) {
                    self.committed = Some(id);
                }
            }
        }
    }
}

/// Rebuilds a node's Raft log from the records that recovery reads back.
#[derive(Debug, Default)]
pub struct LogRecovery {
    log: Log,
}

impl LogRecovery {
    /// An empty log.
    pub fn new() -> LogRecovery {
        LogRecovery::default()
    }

    /// Takes the record `seq` read back from the write-ahead log.
    pub fn on_record(&mut self, seq: u64, payload: &[u8]) -> Result<(), RecordError> {
        self.log.apply(decode(payload)?, seq);
        Ok(())
    }

    /// The snapshot loaded covers the log up to `last`: entries up to it count as purged.
    pub fn covered_by_snapshot(&mut self, last: Option<LogId>) {
        if let Some(last) = last {
            self.log.purge(last);
            if self.log.committed < Some(last) {
                self.log.committed = Some(last);
            }
        }
    }

    /// The log, appending to `wal` from now on, with the vote saved in `votes`.
    pub fn open(mut self, wal: Arc<Wal>, votes: VoteFile) -> Result<LogStore, MetaFileError> {
        self.log.vote = votes.load()?;
        Ok(LogStore {
            shared: Arc::new(Shared {
                wal,
                votes,
                log: Mutex::new(self.log),
                overlap: OnceLock::new(),
                capped: AtomicBool::new(false),
            }),
        })
    }
}

#[derive(Debug)]
struct Shared {
    wal: Arc<Wal>,
    votes: VoteFile,
    log: Mutex<Log>,
    /// Set once the node's Raft runs: its own entries, while it leads, are reported stored
    /// before their fsync (see the module's documentation).
    overlap: OnceLock<Overlap>,
    /// The transport sent a commit index lower than openraft's, for want of the leader's
    /// fsync: once that fsync completes, a heartbeat takes the commit to the followers.
    capped: AtomicBool,
}

/// Who this node is, and its Raft, for [`LogStore::overlap_leader_fsync`].
#[derive(Debug)]
struct Overlap {
    node: u64,
    raft: Weak<Raft>,
}

/// A node's Raft log storage (openraft's `RaftLogStorage`); clones share it, and a clone
/// is its log reader.
#[derive(Debug, Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
}

fn io_error(verb: ErrorVerb, subject: ErrorSubject<u64>, e: impl ToString) -> StorageError {
    StorageError::IO {
        source: StorageIOError::new(subject, verb, AnyError::error(e.to_string())),
    }
}

impl LogStore {
    /// The write-ahead log the Raft log lives in.
    pub fn wal(&self) -> &Arc<Wal> {
        &self.shared.wal
    }

    /// The sequence number of the record holding entry `index`, if it is still there.
    pub fn record_seq(&self, index: u64) -> Option<u64> {
        self.shared.log.lock().entries.get(&index).map(|(_, s)| *s)
    }

    /// The sequence number of the record holding the first entry after `index`.
    pub fn first_record_after(&self, index: u64) -> Option<u64> {
        let log = self.shared.log.lock();
        log.entries.range(index + 1..).next().map(|(_, (_, s))| *s)
    }

    /// The entries from index `from` to `to` (both included) still in the log.
    pub fn entries(&self, from: u64, to: u64) -> Vec<Entry> {
        if from > to {
            return Vec::new();
        }
        let log = self.shared.log.lock();
        log.entries
            .range(from..=to)
            .map(|(_, (e, _))| e.clone())
            .collect()
    }

    /// The commit point last recorded.
    pub fn committed(&self) -> Option<LogId> {
        self.shared.log.lock().committed
    }

    /// From now on, node `node`'s own entries appended while it leads (under `raft`) are
    /// reported stored once written, before their fsync, so that the leader's fsync runs
    /// while the followers receive and store them. Only the first call counts.
    pub fn overlap_leader_fsync(&self, node: u64, raft: &Arc<Raft>) {
        let _ = self.shared.overlap.set(Overlap {
            node,
            raft: Arc::downgrade(raft),
        });
    }

    /// `commit`, or the last entry before it that this node holds durably if `commit`
    /// is not yet durable here: what a leader tells its followers is committed. (An entry
    /// no longer held was purged under a snapshot, which is durable.)
    pub fn durable_commit(&self, commit: Option<LogId>) -> Option<LogId> {
        let commit = commit?;
        let durable = self.shared.wal.durable_seq();
        let log = self.shared.log.lock();
        let capped = cap_at_durable(&log, commit, durable);
        if capped != Some(commit) {
            self.shared.capped.store(true, Ordering::Release);
        }
        capped
    }

    /// Completes once entry `index` is durable in this node's log (at once if it is, or
    /// is no longer held), or fails with the log's failure.
    pub async fn wait_durable(&self, index: u64) -> Result<(), Arc<str>> {
        match self.record_seq(index) {
            Some(seq) => self.shared.wal.wait_durable(seq).await,
            None => Ok(()),
        }
    }

    // The error type is openraft's, which every storage method must return.
    #[allow(clippy::result_large_err)]
    fn refuse_if_failed(&self, verb: ErrorVerb) -> Result<(), StorageError> {
        match self.shared.wal.poisoned() {
            Some(cause) => Err(io_error(verb, ErrorSubject::Logs, cause)),
            None => Ok(()),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let log = self.shared.log.lock();
        Ok(log
            .entries
            .range(range)
            .map(|(_, (e, _))| e.clone())
            .collect())
    }

    /// What one `AppendEntries` carries: entries up to [`SEND_BUDGET`] bytes of effects
    /// (at least one). A follower catching up would otherwise be sent up to
    /// `max_payload_entries` entries at once, however large, in a message that must
    /// finish within openraft's timeout; and an entry too large for that timeout goes
    /// alone, so that its request is the same each time openraft sends it again (see
    /// `network::Large`).
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        let log = self.shared.log.lock();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for (e, _) in log.entries.range(start..end).map(|(_, v)| v) {
            let size = entry_size(e);
            if !out.is_empty() && bytes + size > SEND_BUDGET {
                break;
            }
            bytes += size;
            out.push(e.clone());
        }
        Ok(out)
    }
}

/// Whether node `node`, under `vote`, appends `e` as the leader that made it: the vote is a
/// leader's, the leader is this node, and the entry is of its term. Entries a follower
/// receives never are, even entries this node made in an earlier term, so a follower
/// reports entries stored only once durable, as Raft requires of the acknowledgements
/// that make up a majority. A membership change is excluded too (see the module's
/// documentation).
fn leads_with(node: u64, vote: &Vote, e: &Entry) -> bool {
    vote.is_committed()
        && vote.leader_id().node_id == node
        && e.log_id.leader_id == *vote.leader_id()
        && !matches!(e.payload, EntryPayload::Membership(_))
}

/// `commit`, or the last entry before it held durably when its record is after `durable`
/// (see [`LogStore::durable_commit`]).
fn cap_at_durable(log: &Log, commit: LogId, durable: u64) -> Option<LogId> {
    match log.entries.get(&commit.index) {
        Some((_, seq)) if *seq > durable => log
            .entries
            .range(..commit.index)
            .rev()
            .find(|(_, (_, seq))| *seq <= durable)
            .map(|(_, (e, _))| e.log_id)
            .or(log.last_purged)
            .min(Some(commit)),
        _ => Some(commit),
    }
}

/// Bytes of effects that one `AppendEntries` carries at most, unless a single entry is
/// larger.
const SEND_BUDGET: usize = 1 << 20;

/// An entry's bytes of effects, for [`SEND_BUDGET`].
fn entry_size(e: &Entry) -> usize {
    match &e.payload {
        EntryPayload::Normal(p) => p.items.iter().map(|i| i.effects.len()).sum(),
        EntryPayload::Blank | EntryPayload::Membership(_) => 0,
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let log = self.shared.log.lock();
        let last = log
            .entries
            .values()
            .next_back()
            .map(|(e, _)| e.log_id)
            .or(log.last_purged);
        Ok(LogState {
            last_purged_log_id: log.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let votes = self.shared.votes.clone();
        let v = *vote;
        tokio::task::spawn_blocking(move || votes.save(&v))
            .await
            .map_err(|e| io_error(ErrorVerb::Write, ErrorSubject::Vote, e))?
            .map_err(|e| io_error(ErrorVerb::Write, ErrorSubject::Vote, e))?;
        self.shared.log.lock().vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.shared.log.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let Some(id) = committed else { return Ok(()) };
        let mut log = self.shared.log.lock();
        if log.committed < Some(id) {
            log.committed = Some(id);
            // Recorded with the next entries, not now: a commit point only lets a
            // restarted node apply before it hears from a leader (one lost in a crash is
            // learned again), and a record of its own would cost a write and an fsync for
            // each commit, on every node, as many as the entries themselves.
            log.committed_unrecorded = true;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.shared.log.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        self.refuse_if_failed(ErrorVerb::Write)?;
        let mut last_seq = None;
        let mut early = true;
        {
            let mut log = self.shared.log.lock();
            let own = self.shared.overlap.get().map(|o| (o.node, log.vote));
            if std::mem::take(&mut log.committed_unrecorded) {
                if let Some(id) = log.committed {
                    self.shared.wal.append(&encode(&RaftRecord::Committed(id)));
                }
            }
            let mut payload = Vec::new();
            for e in entries {
                early &= matches!(own, Some((node, Some(vote))) if leads_with(node, &vote, &e));
                payload.clear();
                encode_entry(&e, &mut payload);
                let seq = self.shared.wal.append(&payload);
                log.put(e, seq);
                last_seq = Some(seq);
            }
        }
        let Some(seq) = last_seq else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        // Raft waits for these entries before it goes on: the log writer starts on them
        // now, rather than when this runtime worker next runs out of work.
        self.shared.wal.kick();
        // Otherwise entries count as stored only once durable: group commit gathers the
        // appends of many callers into one fsync, and the callback fires after it.
        let callback = if early {
            callback.log_io_completed(Ok(()));
            None
        } else {
            Some(callback)
        };
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let r = shared.wal.wait_durable(seq).await;
            match callback {
                Some(callback) => callback
                    .log_io_completed(r.map_err(|cause| std::io::Error::other(cause.to_string()))),
                // A failed log stops the node (see `node::stop_when_the_log_fails`), and
                // the state machine applies nothing not durable: nothing more to do.
                None if r.is_ok() && shared.capped.swap(false, Ordering::AcqRel) => {
                    if let Some(raft) = shared.overlap.get().and_then(|o| o.raft.upgrade()) {
                        let _ = raft.trigger().heartbeat().await;
                    }
                }
                None => {}
            }
        });
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.refuse_if_failed(ErrorVerb::Delete)?;
        let mut log = self.shared.log.lock();
        log.truncate(log_id.index);
        self.shared
            .wal
            .append(&encode(&RaftRecord::Truncate(log_id.index)));
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.refuse_if_failed(ErrorVerb::Delete)?;
        let covered = {
            let mut log = self.shared.log.lock();
            let covered = log
                .entries
                .range(..=log_id.index)
                .next_back()
                .map(|(_, (_, seq))| *seq);
            log.purge(log_id);
            self.shared.wal.append(&encode(&RaftRecord::Purge(log_id)));
            covered
        };
        // Segments holding nothing but purged entries (and records about them) go.
        if let Some(seq) = covered {
            let wal = self.shared.wal.clone();
            tokio::task::spawn_blocking(move || wal.delete_covered(seq))
                .await
                .map_err(|e| io_error(ErrorVerb::Delete, ErrorSubject::Logs, e))?
                .map_err(|e| io_error(ErrorVerb::Delete, ErrorSubject::Logs, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use openraft::{CommittedLeaderId, Membership};

    use super::*;
    use crate::types::{Origin, Proposal};

    fn id(term: u64, node: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, node), index)
    }

    fn normal(log_id: LogId) -> Entry {
        Entry {
            log_id,
            payload: EntryPayload::Normal(Proposal {
                origin: Origin {
                    node: log_id.leader_id.node_id,
                    incarnation: 1,
                },
                items: Vec::new(),
            }),
        }
    }

    fn leader_vote(term: u64, node: u64) -> Vote {
        let mut v = Vote::new(term, node);
        v.commit();
        v
    }

    #[test]
    fn only_the_leaders_own_entries_of_its_term_are_stored_before_their_fsync() {
        let vote = leader_vote(5, 1);
        assert!(leads_with(1, &vote, &normal(id(5, 1, 10))));
        let blank = Entry {
            log_id: id(5, 1, 11),
            payload: EntryPayload::Blank,
        };
        assert!(leads_with(1, &vote, &blank));
        // A follower: the leader is another node.
        assert!(!leads_with(2, &vote, &normal(id(5, 1, 10))));
        // Entries this node made as leader of an earlier term, received back as follower
        // or still in its log: the acknowledgement that counts them must be durable.
        assert!(!leads_with(1, &vote, &normal(id(4, 1, 9))));
        // A vote granted, not yet a leader's.
        assert!(!leads_with(1, &Vote::new(5, 1), &normal(id(5, 1, 10))));
        // A membership change, even the leader's own.
        let members = Membership::new(vec![BTreeSet::from([1, 2, 3])], None);
        let change = Entry {
            log_id: id(5, 1, 12),
            payload: EntryPayload::Membership(members),
        };
        assert!(!leads_with(1, &vote, &change));
    }

    #[test]
    fn the_commit_sent_to_followers_is_capped_at_the_leaders_durable_entries() {
        let mut log = Log::default();
        // Entries 5..=9 in records 20..=24.
        for (i, index) in (5..=9).enumerate() {
            log.put(normal(id(3, 1, index)), 20 + i as u64);
        }
        // Everything durable: the commit goes as it is.
        assert_eq!(cap_at_durable(&log, id(3, 1, 9), 24), Some(id(3, 1, 9)));
        assert_eq!(cap_at_durable(&log, id(3, 1, 7), 30), Some(id(3, 1, 7)));
        // Records up to 22 (entry 7) durable: a commit at 9 goes as 7.
        assert_eq!(cap_at_durable(&log, id(3, 1, 9), 22), Some(id(3, 1, 7)));
        // A commit at a durable entry is not lowered by later ones pending.
        assert_eq!(cap_at_durable(&log, id(3, 1, 6), 22), Some(id(3, 1, 6)));
        // Nothing held durable after the purge point: the purge point, covered by a
        // snapshot; nothing at all, when nothing was purged either.
        assert_eq!(cap_at_durable(&log, id(3, 1, 9), 10), None);
        log.purge(id(3, 1, 5));
        assert_eq!(cap_at_durable(&log, id(3, 1, 9), 10), Some(id(3, 1, 5)));
        // A commit no longer held (purged under a snapshot) is durable.
        assert_eq!(cap_at_durable(&log, id(3, 1, 4), 0), Some(id(3, 1, 4)));
    }
}
