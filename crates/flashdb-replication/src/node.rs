//! A running member of a group: its Raft, the proposer the keyspace writes through, and
//! the watch that keeps "may this node execute writes" true only while it leads.
//!
//! A node executes a write only while it is the leader and has applied everything
//! committed before its term (it confirms this with a read-index round when it becomes
//! leader). Each write's effects are proposed in the order they changed memory, under the
//! write's shard locks; the reply waits until the entry is committed. A leader that loses
//! its office with proposals still uncommitted cannot know which of them the next leader
//! keeps, so once the new leader's first entry is applied here, every proposal of this
//! node still not committed is lost: its waiters get an error, and the node rebuilds its
//! memory from its snapshot and the committed log, without those effects.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use flashdb_core::log_entry::LogSink;
use futures_util::FutureExt;
use openraft::{Config, ServerState, SnapshotPolicy};
use parking_lot::Mutex;

use crate::identity::Identity;
use crate::network::{Network, Raft};
use crate::state_machine::{Local, StateMachine};
use crate::types::{Item, Origin, PeerNode, Proposal};
use crate::LogStore;

/// How many entries of this node's proposals may be on their way through Raft at once.
/// openraft 0.9 stores one entry at a time (each append waits for its fsync), so the
/// commands that arrive meanwhile are gathered into the next entry: one fsync for many
/// commands, as a single node's group commit does. Measured with 50 clients on this
/// machine (docs/performance.md), one entry in flight, and so the largest entries, gave
/// the most writes per second and the lowest p99: 34k/s against 25k, 19k and 16k with
/// 2, 3 and 6.
const IN_FLIGHT: usize = 1;

/// Bytes of effects past which a proposal's entry takes no more items (it has at least
/// one).
const ENTRY_BUDGET: usize = 1 << 20;

/// The keyspace's log sink on a group node: each write's effects become an item of a
/// proposal. Clones share it (one goes into the keyspace, one is given Raft once it runs).
#[derive(Clone)]
pub struct Proposer {
    shared: Arc<ProposerShared>,
}

struct ProposerShared {
    local: Arc<Local>,
    raft: OnceLock<(Arc<Raft>, tokio::runtime::Handle)>,
    /// Keeps local sequence numbers in the order items join the queue.
    order: Mutex<()>,
    /// Items not handed to Raft yet, in order, with the origin they were made under.
    queue: Mutex<Vec<(Origin, Item)>>,
    /// The last local sequence number of each entry handed to Raft and not yet settled,
    /// oldest first.
    in_flight: Mutex<VecDeque<u64>>,
    /// Held while entries are handed to Raft, so that they reach it in queue order.
    submit: Mutex<()>,
    /// Local sequence numbers an entry must end at: snapshot cuts, since a snapshot
    /// covers whole entries.
    boundaries: Mutex<Vec<u64>>,
}

impl std::fmt::Debug for Proposer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.shared;
        f.debug_struct("Proposer")
            .field("last_proposed", &s.local.last_proposed())
            .field("committed", &s.local.committed())
            .field("in_flight", &s.in_flight.lock().len())
            .finish()
    }
}

impl Proposer {
    /// A proposer for `local`'s proposals; it proposes once [`set_raft`](Self::set_raft)
    /// is called.
    pub fn new(local: Arc<Local>) -> Proposer {
        let shared = Arc::new(ProposerShared {
            local,
            raft: OnceLock::new(),
            order: Mutex::new(()),
            queue: Mutex::new(Vec::new()),
            in_flight: Mutex::new(VecDeque::new()),
            submit: Mutex::new(()),
            boundaries: Mutex::new(Vec::new()),
        });
        // The next entry goes to Raft as soon as the one before is applied here, from
        // the state machine's task: waiting for its outcome instead costs the round a
        // task switch or two (Raft's core answering, then the task below waking up).
        let weak = Arc::downgrade(&shared);
        shared.local.on_settled(Box::new(move || {
            if let Some(shared) = weak.upgrade() {
                Proposer { shared }.pump();
            }
        }));
        Proposer { shared }
    }

    /// Proposes through `raft` from now on. Must be called inside the runtime, which
    /// waits for the entries' outcomes.
    pub fn set_raft(&self, raft: Arc<Raft>) {
        let _ = self
            .shared
            .raft
            .set((raft, tokio::runtime::Handle::current()));
    }

    /// Hands what is queued to Raft, as one entry (or one per stretch between snapshot
    /// cuts), while fewer than [`IN_FLIGHT`] entries are on their way. An entry stops
    /// being on its way once this node has applied it, or once its outcome is known
    /// (refused, or its leadership lost); either calls this again for what is left.
    fn pump(&self) {
        let s = &*self.shared;
        let Some((raft, runtime)) = s.raft.get() else {
            return;
        };
        let _submit = s.submit.lock();
        loop {
            {
                let settled = s.local.committed();
                let mut f = s.in_flight.lock();
                while f.front().is_some_and(|&last| last <= settled) {
                    f.pop_front();
                }
                if f.len() >= IN_FLIGHT {
                    return;
                }
            }
            let origin = s.local.origin();
            let items: Vec<Item> = {
                let mut q = s.queue.lock();
                // Items made before the memory was rebuilt were failed with it: their
                // effects are gone from memory, and must not be committed.
                q.retain(|(o, _)| *o == origin);
                let Some(first) = q.first().map(|(_, i)| i.local_seq) else {
                    return;
                };
                let mut cuts = s.boundaries.lock();
                cuts.retain(|&b| b >= first);
                let end = cuts.first().copied().unwrap_or(u64::MAX);
                let mut n = q.partition_point(|(_, i)| i.local_seq <= end);
                // A large write goes in an entry of its own, so that the writes around it
                // are not held up by its transfer (see `network::Large`).
                let mut bytes = 0;
                if let Some(fit) = q[..n].iter().position(|(_, i)| {
                    bytes += i.effects.len();
                    bytes > ENTRY_BUDGET
                }) {
                    n = fit.max(1);
                }
                if cuts.first() == Some(&end)
                    && q.get(n - 1).is_some_and(|(_, i)| i.local_seq == end)
                {
                    cuts.remove(0);
                }
                q.drain(..n).map(|(_, i)| i).collect()
            };
            let first = items[0].local_seq;
            let last = items[items.len() - 1].local_seq;
            // Handing the entry to Raft's core is a channel send, done in the future's
            // first poll; doing it here, under the submit lock, keeps entries in order.
            let sent = raft
                .client_write_ff(Proposal { origin, items })
                .now_or_never()
                .and_then(|r| r.ok());
            let Some(outcome) = sent else {
                tracing::error!(first, "writes could not be proposed; they will be refused");
                s.local.fail_pending();
                return;
            };
            s.in_flight.lock().push_back(last);
            let me = self.clone();
            // The outcome itself is learned when the entry is applied (or its leadership
            // is lost); here only the slot is given back, if applying it has not already.
            runtime.spawn(async move {
                let _ = outcome.await;
                me.shared.in_flight.lock().retain(|&l| l != last);
                me.pump();
            });
        }
    }
}

impl LogSink for Proposer {
    fn append(&self, payload: &[u8]) -> u64 {
        let s = &*self.shared;
        let seq = {
            let _order = s.order.lock();
            let seq = s.local.next_seq();
            s.queue.lock().push((
                s.local.origin(),
                Item {
                    local_seq: seq,
                    effects: bytes::Bytes::copy_from_slice(payload),
                },
            ));
            seq
        };
        self.pump();
        seq
    }

    fn last_seq(&self) -> u64 {
        self.shared.local.last_proposed()
    }

    fn snapshot_cut(&self) -> u64 {
        let s = &*self.shared;
        let _order = s.order.lock();
        let seq = s.local.last_proposed();
        s.boundaries.lock().push(seq);
        seq
    }

    fn durable_seq(&self) -> u64 {
        self.shared.local.committed()
    }
}

/// Timing of a group: how fast a failed leader is replaced.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Leader heartbeat interval.
    pub heartbeat_ms: u64,
    /// Election timeout range.
    pub election_ms: (u64, u64),
    /// Entries applied since the last snapshot that trigger a new one.
    pub snapshot_every: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            heartbeat_ms: 50,
            election_ms: (300, 600),
            snapshot_every: 200_000,
        }
    }
}

/// A member of a group, running.
pub struct GroupNode {
    /// This node's id.
    pub id: u64,
    /// Its Raft.
    pub raft: Arc<Raft>,
    /// Its own proposals.
    pub local: Arc<Local>,
    /// Its state machine.
    pub sm: StateMachine,
    /// Its log.
    pub log: LogStore,
    /// The group it belongs to.
    pub identity: Arc<Identity>,
    /// Leads, and has applied everything committed before its term: may execute writes.
    ready: AtomicBool,
    /// The term `ready` was set in: a new term, even one this node leads again, is a new
    /// time in office, whose start must settle what the last one left.
    ready_term: AtomicU64,
    /// Read-index rounds completed, and the lock that lets one run at a time (see
    /// [`read_barrier`](Self::read_barrier)).
    reads_confirmed: AtomicU64,
    read_round: tokio::sync::Mutex<()>,
    /// A leadership hand-over in progress (see [`crate::handover`]): while it runs, this
    /// node executes no writes even though it still leads.
    pub(crate) handover: Mutex<Option<crate::handover::HandOver>>,
    /// Wakes the leadership watch to look again (after a hand-over ends).
    pub(crate) poke: tokio::sync::Notify,
}

impl std::fmt::Debug for GroupNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupNode")
            .field("id", &self.id)
            .field("ready", &self.is_ready_leader())
            .finish()
    }
}

/// A group that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// openraft refused the configuration or could not start.
    #[error("cannot start Raft: {0}")]
    Raft(String),
}

impl GroupNode {
    /// Starts node `id`. A node that was a member rejoins its group from its log; a new
    /// one waits to be reached by a group (one that [`form`](Self::form)s, or one that
    /// adds it).
    pub async fn start(
        id: u64,
        identity: Arc<Identity>,
        timing: Timing,
        log: LogStore,
        sm: StateMachine,
        local: Arc<Local>,
        proposer: &Proposer,
    ) -> Result<Arc<GroupNode>, StartError> {
        let config = Config {
            cluster_name: "flashdb".into(),
            heartbeat_interval: timing.heartbeat_ms,
            election_timeout_min: timing.election_ms.0,
            election_timeout_max: timing.election_ms.1,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(timing.snapshot_every),
            // A follower a little behind at a snapshot still gets the log, not the whole
            // snapshot; entries are small and a snapshot bounds the rest.
            max_in_snapshot_log_to_keep: timing.snapshot_every.min(1000),
            ..Default::default()
        }
        .validate()
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let raft = Raft::new(
            id,
            Arc::new(config),
            Network::new(identity.clone()).capping_commit(log.clone()),
            log.clone(),
            sm.clone(),
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let raft = Arc::new(raft);
        log.overlap_leader_fsync(id, &raft);
        proposer.set_raft(raft.clone());
        sm.keyspace().set_replica(true);
        let node = Arc::new(GroupNode {
            id,
            raft,
            local,
            sm,
            log,
            identity,
            ready: AtomicBool::new(false),
            ready_term: AtomicU64::new(0),
            reads_confirmed: AtomicU64::new(0),
            read_round: tokio::sync::Mutex::new(()),
            handover: Mutex::new(None),
            poke: tokio::sync::Notify::new(),
        });
        tokio::spawn(watch_leadership(node.clone()));
        tokio::spawn(stop_when_the_log_fails(node.clone()));
        Ok(node)
    }

    /// Whether this node is a member of a group yet (it formed one, was added to one, or
    /// was one's member before a restart).
    pub async fn is_initialized(&self) -> Result<bool, StartError> {
        self.raft
            .is_initialized()
            .await
            .map_err(|e| StartError::Raft(e.to_string()))
    }

    /// Forms a new group of `peers` (this node among them), under a new group id.
    pub async fn form(&self, peers: BTreeMap<u64, PeerNode>) -> Result<(), StartError> {
        let group = self
            .identity
            .form()
            .map_err(|e| StartError::Raft(e.to_string()))?;
        tracing::info!(%group, members = peers.len(), "forming a new group");
        self.raft
            .initialize(peers)
            .await
            .map_err(|e| StartError::Raft(e.to_string()))
    }

    /// Whether this node may execute writes now.
    pub fn is_ready_leader(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Stops executing writes while still leading (a hand-over starts): true if this
    /// node was ready, and is not any more.
    pub(crate) fn pause_writes(&self) -> bool {
        let was = self.ready.swap(false, Ordering::AcqRel);
        // As on a follower: nothing expires here until writes resume, if they do.
        self.sm.keyspace().set_replica(true);
        was
    }

    /// Executes writes again after a hand-over that did not happen, if this node still
    /// leads in the same term it was ready in.
    pub(crate) fn resume_writes(&self) {
        let m = self.metrics();
        if m.state == ServerState::Leader
            && m.current_leader == Some(self.id)
            && m.current_term == self.ready_term.load(Ordering::Acquire)
        {
            self.sm.keyspace().set_replica(false);
            self.ready.store(true, Ordering::Release);
        }
    }

    /// Completes once a majority has confirmed, after this call began, that this node
    /// still leads: what it read before the call was then current (a leader cut off from
    /// the others could otherwise answer from a past that a new leader has moved on
    /// from). Calls that arrive while a round is running share the next one, so a burst
    /// of reads costs one round trip.
    pub async fn read_barrier(&self) -> Result<(), String> {
        let arrived = self.reads_confirmed.load(Ordering::Acquire);
        let _round = self.read_round.lock().await;
        // A round that started after this call arrived has completed meanwhile.
        if self.reads_confirmed.load(Ordering::Acquire) >= arrived + 2 {
            return Ok(());
        }
        if !self.is_ready_leader() {
            return Err("this node stopped leading the replication group".into());
        }
        self.raft
            .get_read_log_id()
            .await
            .map_err(|e| format!("leadership not confirmed: {e}"))?;
        self.reads_confirmed.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Completes once what this node's memory holds is at least as recent as what a
    /// linearizable read starting now must see, so that a read from it is linearizable:
    /// on the leader, [`read_barrier`](Self::read_barrier); on any other node, the
    /// leader's read index (a round through the leader, which confirms its office with a
    /// majority), then this node's apply catching up to it.
    pub async fn linearizable_point(&self) -> Result<(), String> {
        if self.is_ready_leader() {
            return self.read_barrier().await;
        }
        let Some((leader, node)) = self.leader() else {
            return Err("no leader elected in the replication group".into());
        };
        if leader == self.id {
            return Err("this node is becoming the leader; try again".into());
        }
        let reply = self
            .identity
            .tag(
                crate::network::peer_client()
                    .post(crate::network::peer_url(
                        &node.raft_addr,
                        "/flashdb/read-index",
                    ))
                    .timeout(Duration::from_secs(5)),
            )
            .send()
            .await
            .map_err(|e| format!("the leader did not answer: {e}"))?;
        if !reply.status().is_success() {
            return Err(format!(
                "the leader could not confirm its office ({})",
                reply.status()
            ));
        }
        let index = reply
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["index"].as_u64())
            .ok_or("the leader's read index could not be read")?;
        self.raft
            .wait(Some(Duration::from_secs(10)))
            .applied_index_at_least(Some(index), "read index applied")
            .await
            .map(drop)
            .map_err(|e| format!("this node did not catch up with the leader: {e}"))
    }

    /// The current leader, as this node knows it.
    pub fn leader(&self) -> Option<(u64, PeerNode)> {
        let m = self.metrics();
        let id = m.current_leader?;
        let node = m.membership_config.membership().get_node(&id)?.clone();
        Some((id, node))
    }

    /// Each other node's id and how far its log matches this leader's (its last matching
    /// index); empty when this node does not lead.
    pub fn followers(&self) -> Vec<(u64, u64)> {
        let m = self.raft.metrics().borrow().clone();
        m.replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .filter(|(id, _)| **id != self.id)
                    .map(|(id, l)| (*id, l.map_or(0, |l| l.index)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// This node's Raft metrics. A Raft that stopped (its storage failed, say) knows no
    /// leader: its last view of one is dropped, so that it never claims to lead.
    pub fn metrics(&self) -> openraft::RaftMetrics<u64, PeerNode> {
        let mut m = self.raft.metrics().borrow().clone();
        if m.state == ServerState::Shutdown {
            m.current_leader = None;
        }
        m
    }

    /// Stops Raft.
    pub async fn shutdown(&self) {
        self.ready.store(false, Ordering::Release);
        let _ = self.raft.shutdown().await;
    }
}

/// A node whose log failed (an fsync error) can store nothing more: it stops its Raft, so
/// that it no longer votes, acknowledges entries or, if it leads, sends heartbeats that
/// would keep the others from electing a leader that can write. Writes through it are
/// refused with the log's error (`MISCONF`) until it is restarted.
async fn stop_when_the_log_fails(node: Arc<GroupNode>) {
    // Only a failure, or the log's close at shutdown, completes this wait.
    let wal = node.log.wal().clone();
    if let Err(cause) = wal.wait_durable(u64::MAX).await {
        if wal.poisoned().is_some() {
            tracing::error!(node = node.id, %cause, "the log failed: this node leaves its group's work (stepping down if it leads) until it is restarted");
        }
        node.shutdown().await;
    }
}

/// Keeps `ready` true only while this node leads with everything applied, and settles the
/// proposals of a lost leadership.
async fn watch_leadership(node: Arc<GroupNode>) {
    let mut metrics = node.raft.metrics();
    loop {
        let (leading, term) = {
            let m = metrics.borrow_and_update();
            (
                m.state == ServerState::Leader && m.current_leader == Some(node.id),
                m.current_term,
            )
        };
        if leading && !node.is_ready_leader() && node.handover.lock().is_none() {
            // Everything in this leader's log when it took office must be committed and
            // applied before it serves anything: a leader restored after a restart keeps
            // its term without a new first entry, and its commit point may then lag what
            // it had acknowledged before the crash. A read-index round then confirms the
            // office.
            let last = node.metrics().last_log_index.unwrap_or(0);
            let settled = node
                .raft
                .wait(Some(Duration::from_secs(3600)))
                .metrics(
                    |m| {
                        m.last_applied.map_or(0, |l| l.index) >= last
                            || m.state != ServerState::Leader
                            || m.current_term != term
                    },
                    "the leader's log applied, or the office lost",
                )
                .await;
            let caught_up =
                settled.is_ok_and(|m| m.state == ServerState::Leader && m.current_term == term);
            if caught_up && node.local.last_proposed() > node.local.committed() {
                // Proposals of an earlier time in office that are not in the log by now
                // never will be, and their effects are still in memory: settle them before
                // anything is built on them (later proposals would otherwise count as
                // committed past them). The rebuilt memory holds everything applied.
                if !drop_pending(&node, "in an earlier term").await {
                    return;
                }
            }
            if caught_up && node.raft.ensure_linearizable().await.is_ok() {
                let still = {
                    let m = node.raft.metrics().borrow().clone();
                    m.state == ServerState::Leader && m.current_term == term
                };
                if still {
                    tracing::info!(node = node.id, term, "leading; accepting writes");
                    node.sm.keyspace().set_replica(false);
                    node.ready_term.store(term, Ordering::Release);
                    node.ready.store(true, Ordering::Release);
                }
            }
        } else if node.is_ready_leader()
            && (!leading || node.ready_term.load(Ordering::Acquire) != term)
        {
            node.ready.store(false, Ordering::Release);
            node.sm.keyspace().set_replica(true);
            tracing::info!(node = node.id, term, "left office (or began a new term)");
            settle_lost_proposals(&node).await;
            // Looked at again at once: leading in a new term needs no further change.
            continue;
        } else if !leading && node.local.last_proposed() > node.local.committed() {
            settle_lost_proposals(&node).await;
        }
        tokio::select! {
            changed = metrics.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = node.poke.notified() => {}
        }
    }
}

/// After losing leadership: waits until an entry of a later term is applied (entries of
/// this node that were committed come before it), then fails what is still pending and
/// rebuilds the memory without it.
async fn settle_lost_proposals(node: &Arc<GroupNode>) {
    let term = node.metrics().current_term;
    let applied_later_term = node
        .raft
        .wait(Some(Duration::from_secs(3600)))
        .metrics(
            |m| {
                m.last_applied.is_some_and(|l| l.leader_id.term >= term)
                    || m.state == ServerState::Leader
            },
            "an entry of the new term applied",
        )
        .await;
    if applied_later_term.is_err() || node.local.last_proposed() <= node.local.committed() {
        return;
    }
    drop_pending(node, "as leader").await;
}

/// Fails this node's uncommitted proposals (made `when`) and rebuilds its memory without
/// their effects; false if the rebuild failed and the node stopped.
async fn drop_pending(node: &Arc<GroupNode>, when: &str) -> bool {
    tracing::warn!(
        node = node.id,
        pending = node.local.last_proposed() - node.local.committed(),
        "writes proposed {when} were not committed; they are refused and memory is rebuilt"
    );
    node.local.fail_pending();
    match node.sm.rebuild().await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "rebuilding memory failed; stopping this node");
            node.shutdown().await;
            false
        }
    }
}
