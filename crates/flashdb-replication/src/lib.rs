//! FlashDB's replication: a group of nodes holding the same data through Raft
//! ([openraft](https://docs.rs/openraft)).
//!
//! - [`log_store`]: the Raft log, kept in the node's write-ahead log, so that a replicated
//!   write costs one fsync (shared by a group commit), not two;
//! - [`state_machine`]: the keyspace, changed by committed entries through the same apply
//!   function recovery uses, with snapshots in the single node's snapshot format;
//! - [`codec`]: the records of a replicated node's log;
//! - [`meta_file`]: the node's vote and group id, each in a small file of its own;
//! - [`identity`]: the group a node belongs to, checked on every Raft message;
//! - [`handover`]: handing leadership to another voter (`FAILOVER`);
//! - [`membership`]: adding, removing and replacing members, online;
//! - [`network`]: the nodes' traffic on `--raft-port`;
//! - [`wire`]: `AppendEntries` as binary frames on a connection of its own;
//! - [`node`]: a running member: its Raft, the proposer writes go through, leadership.
//!
//! All of a group's state lives in these values (no process-wide singletons), so that a
//! node can later host several groups.

pub mod codec;
pub mod handover;
pub mod identity;
pub mod log_store;
pub mod membership;
pub mod meta_file;
pub mod network;
pub mod node;
pub mod state_machine;
pub mod types;
pub mod wire;

pub use handover::{HandOverError, Stage};
pub use identity::Identity;
pub use log_store::{LogRecovery, LogStore};
pub use membership::{Member, MembershipError};
pub use node::{GroupNode, Proposer, Timing};
pub use state_machine::{decode_meta, Local, Lost, StateMachine};
pub use types::{Origin, PeerNode, Proposal, TypeConfig};
