//! Handing leadership to another voter on purpose (`FAILOVER`), for maintenance of the
//! leader's machine without the second of unavailability an election after a crash costs.
//!
//! openraft 0.9 has no leadership transfer, so it is built from what it has. The leader
//! stops executing writes, waits until the target's log matches its own, and stops its
//! heartbeats; the target is then asked to stand for election (`POST /flashdb/elect` on
//! its group port) until it wins. Its log is as complete as any, so it can; the others
//! grant their votes once the old leader's lease, kept alive by heartbeats, has run out
//! (one election timeout at most). A hand-over that does not complete by its deadline,
//! or is aborted, ends with the old leader executing writes again if it still leads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ServerState;

use crate::node::GroupNode;

/// A hand-over in progress.
#[derive(Debug, Clone)]
pub struct HandOver {
    /// The node that is to lead.
    pub target: u64,
    /// Where it stands.
    pub stage: Arc<parking_lot::Mutex<Stage>>,
    abort: Arc<AtomicBool>,
}

/// How far a hand-over is (Redis's `master_failover_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the target's log to match the leader's.
    WaitingForSync,
    /// The target stands for election.
    InProgress,
}

/// A hand-over that cannot start or did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandOverError {
    /// Only the leader hands over.
    #[error("this node does not lead the group")]
    NotLeader,
    /// One is running.
    #[error("a leadership hand-over is already in progress")]
    InProgress,
    /// The target is not a voter of the group.
    #[error("node {0} is not a voter of this group")]
    NotAVoter(u64),
    /// The deadline passed first.
    #[error("node {target} did not become leader in time ({stage})")]
    TimedOut {
        /// The target.
        target: u64,
        /// Where it stopped.
        stage: &'static str,
    },
    /// `FAILOVER ABORT`.
    #[error("aborted")]
    Aborted,
}

impl GroupNode {
    /// The hand-over in progress, if any.
    pub fn handover(&self) -> Option<(u64, Stage)> {
        self.handover
            .lock()
            .as_ref()
            .map(|h| (h.target, *h.stage.lock()))
    }

    /// Asks the hand-over in progress to stop; false if there is none.
    pub fn abort_handover(&self) -> bool {
        match self.handover.lock().as_ref() {
            Some(h) => {
                h.abort.store(true, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// Begins handing leadership to voter `target`; the returned future runs it to its
    /// end (the caller spawns it, or awaits it).
    pub fn begin_handover(
        self: &Arc<Self>,
        target: u64,
        timeout: Duration,
    ) -> Result<impl std::future::Future<Output = Result<(), HandOverError>>, HandOverError> {
        let m = self.metrics();
        if m.state != ServerState::Leader || !self.is_ready_leader() {
            return Err(HandOverError::NotLeader);
        }
        let voter = m
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == target);
        if !voter || target == self.id {
            return Err(HandOverError::NotAVoter(target));
        }
        let h = {
            let mut slot = self.handover.lock();
            if slot.is_some() {
                return Err(HandOverError::InProgress);
            }
            let h = HandOver {
                target,
                stage: Arc::new(parking_lot::Mutex::new(Stage::WaitingForSync)),
                abort: Arc::new(AtomicBool::new(false)),
            };
            *slot = Some(h.clone());
            h
        };
        self.pause_writes();
        let node = self.clone();
        Ok(async move {
            let result = node.run_handover(&h, Instant::now() + timeout).await;
            node.raft.runtime_config().heartbeat(true);
            *node.handover.lock() = None;
            match &result {
                Ok(()) => tracing::info!(node = node.id, target, "handed leadership over"),
                Err(e) => {
                    tracing::warn!(node = node.id, target, error = %e, "leadership not handed over");
                    node.resume_writes();
                }
            }
            node.poke.notify_one();
            result
        })
    }

    async fn run_handover(&self, h: &HandOver, deadline: Instant) -> Result<(), HandOverError> {
        let target = h.target;
        let mut metrics = self.raft.metrics();
        // The writes already proposed are in the log; the target must hold all of it.
        let last = self.metrics().last_log_index.unwrap_or(0);
        loop {
            let synced = {
                let m = metrics.borrow_and_update();
                if m.state != ServerState::Leader {
                    return Err(HandOverError::NotLeader);
                }
                m.replication
                    .as_ref()
                    .and_then(|r| r.get(&target).cloned())
                    .flatten()
                    .is_some_and(|l| l.index >= last)
            };
            if synced {
                break;
            }
            self.wait_step(h, deadline, "waiting for its log to catch up", &mut metrics)
                .await?;
        }
        *h.stage.lock() = Stage::InProgress;
        self.raft.runtime_config().heartbeat(false);
        let addr = self
            .metrics()
            .membership_config
            .membership()
            .get_node(&target)
            .map(|n| n.raft_addr.clone())
            .unwrap_or_default();
        let mut asked = Instant::now() - Duration::from_secs(1);
        loop {
            let leader = self.raft.metrics().borrow().current_leader;
            if leader == Some(target) {
                return Ok(());
            }
            if asked.elapsed() >= Duration::from_millis(100) {
                asked = Instant::now();
                let req = self.identity.tag(
                    crate::network::peer_client()
                        .post(crate::network::peer_url(&addr, "/flashdb/elect"))
                        .timeout(Duration::from_millis(500)),
                );
                // An answer is not needed: the election's outcome is what counts.
                let _ = req.send().await;
            }
            self.wait_step(h, deadline, "standing for election", &mut metrics)
                .await?;
        }
    }

    /// Waits for a metrics change or 50 ms, unless aborted or past the deadline.
    async fn wait_step(
        &self,
        h: &HandOver,
        deadline: Instant,
        stage: &'static str,
        metrics: &mut tokio::sync::watch::Receiver<openraft::RaftMetrics<u64, crate::PeerNode>>,
    ) -> Result<(), HandOverError> {
        if h.abort.load(Ordering::Acquire) {
            return Err(HandOverError::Aborted);
        }
        if Instant::now() >= deadline {
            return Err(HandOverError::TimedOut {
                target: h.target,
                stage,
            });
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), metrics.changed()).await;
        Ok(())
    }
}
