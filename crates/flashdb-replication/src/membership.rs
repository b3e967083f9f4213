//! Changing who is in a group, online: adding a node (it joins as a learner, catches up
//! from a snapshot and the log, then becomes a voter), removing one, replacing a failed
//! one. Each change is a Raft membership change (joint consensus), run by the leader.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use openraft::ChangeMembers;

use crate::node::GroupNode;
use crate::types::PeerNode;

/// How long a new node may go without catching up any further before an addition gives
/// up (it stays a learner, which `REMOVE` takes away).
pub const CATCH_UP_PATIENCE: Duration = Duration::from_secs(30);

/// One member of a group, as its leader (or any node) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its id.
    pub id: u64,
    /// Where it is reached.
    pub node: PeerNode,
    /// A voter (false: a learner, which receives the log but does not vote).
    pub voter: bool,
    /// How far its log matches the leader's (known on the leader only).
    pub matched: Option<u64>,
}

/// A membership change that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// Only the leader changes the membership.
    #[error("this node does not lead the group")]
    NotLeader,
    /// The node is a voter already.
    #[error("node {0} is already a voter of this group")]
    AlreadyVoter(u64),
    /// No such member.
    #[error("node {0} is not a member of this group")]
    NoSuchMember(u64),
    /// Removing it would leave no voter.
    #[error("node {0} is the last voter of this group and cannot be removed")]
    LastVoter(u64),
    /// The new node did not catch up.
    #[error("node {id} stopped catching up (at index {matched:?} of {target}); it stays a learner until it is removed or added again")]
    Stalled {
        /// The node.
        id: u64,
        /// How far it got.
        matched: Option<u64>,
        /// How far it had to get.
        target: u64,
    },
    /// A previous change is still in progress, or Raft refused this one.
    #[error("the membership change failed: {0}")]
    Raft(String),
}

impl GroupNode {
    /// The members of the group in this node's latest membership, voters first.
    pub fn members(&self) -> Vec<Member> {
        let m = self.metrics();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let matched = |id: u64| {
            m.replication
                .as_ref()
                .and_then(|r| r.get(&id))
                .map(|l| l.map_or(0, |l| l.index))
                .or((id == self.id).then(|| m.last_log_index.unwrap_or(0)))
        };
        let mut out: Vec<Member> = membership
            .nodes()
            .map(|(id, node)| Member {
                id: *id,
                node: node.clone(),
                voter: voters.contains(id),
                matched: matched(*id),
            })
            .collect();
        out.sort_by_key(|m| (!m.voter, m.id));
        out
    }

    fn voters(&self) -> BTreeSet<u64> {
        self.metrics()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    fn require_leader(&self) -> Result<(), MembershipError> {
        if self.is_ready_leader() {
            Ok(())
        } else {
            Err(MembershipError::NotLeader)
        }
    }

    /// Adds node `id`, reached at `node`: as a learner first, then, once its log has
    /// caught up with the leader's, as a voter.
    pub async fn add_member(&self, id: u64, node: PeerNode) -> Result<(), MembershipError> {
        self.require_leader()?;
        if self.voters().contains(&id) {
            return Err(MembershipError::AlreadyVoter(id));
        }
        self.add_learner(id, node).await?;
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), true)
            .await
            .map_err(|e| MembershipError::Raft(e.to_string()))?;
        tracing::info!(node = id, "added to the group as a voter");
        Ok(())
    }

    /// Removes node `id` from the group (a voter or a learner).
    pub async fn remove_member(&self, id: u64) -> Result<(), MembershipError> {
        self.require_leader()?;
        let voters = self.voters();
        let change = if voters.contains(&id) {
            if voters.len() == 1 {
                return Err(MembershipError::LastVoter(id));
            }
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else if self.members().iter().any(|m| m.id == id) {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        } else {
            return Err(MembershipError::NoSuchMember(id));
        };
        self.raft
            .change_membership(change, false)
            .await
            .map_err(|e| MembershipError::Raft(e.to_string()))?;
        tracing::info!(node = id, "removed from the group");
        Ok(())
    }

    /// Replaces voter `old` (failed, say) by node `new` at `node`: `new` catches up as a
    /// learner, then one membership change makes it a voter and removes `old`.
    pub async fn replace_member(
        &self,
        old: u64,
        new: u64,
        node: PeerNode,
    ) -> Result<(), MembershipError> {
        self.require_leader()?;
        let mut voters = self.voters();
        if !voters.contains(&old) {
            return Err(MembershipError::NoSuchMember(old));
        }
        if voters.contains(&new) {
            return Err(MembershipError::AlreadyVoter(new));
        }
        self.add_learner(new, node).await?;
        voters.remove(&old);
        voters.insert(new);
        self.raft
            .change_membership(ChangeMembers::ReplaceAllVoters(voters), false)
            .await
            .map_err(|e| MembershipError::Raft(e.to_string()))?;
        tracing::info!(old, new, "replaced a voter");
        Ok(())
    }

    /// Adds `id` as a learner and waits until its log matches the leader's as it was
    /// then, for as long as it keeps making progress.
    async fn add_learner(&self, id: u64, node: PeerNode) -> Result<(), MembershipError> {
        self.raft
            .add_learner(id, node, false)
            .await
            .map_err(|e| MembershipError::Raft(e.to_string()))?;
        let target = self.metrics().last_log_index.unwrap_or(0);
        let mut best: Option<u64> = None;
        let mut progress_at = Instant::now();
        let mut metrics = self.raft.metrics();
        loop {
            let matched = {
                let m = metrics.borrow_and_update();
                m.replication
                    .as_ref()
                    .and_then(|r| r.get(&id).cloned())
                    .flatten()
                    .map(|l| l.index)
            };
            if matched.is_some_and(|i| i >= target) {
                return Ok(());
            }
            if matched > best {
                best = matched;
                progress_at = Instant::now();
            }
            if !self.is_ready_leader() {
                return Err(MembershipError::NotLeader);
            }
            let left = CATCH_UP_PATIENCE.saturating_sub(progress_at.elapsed());
            if left.is_zero() {
                return Err(MembershipError::Stalled {
                    id,
                    matched: best,
                    target,
                });
            }
            // Metrics change at every replication step; a timeout re-checks the patience.
            let _ =
                tokio::time::timeout(left.min(Duration::from_millis(500)), metrics.changed()).await;
        }
    }
}
