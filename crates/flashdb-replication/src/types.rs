//! The Raft types of a FlashDB group: what a log entry carries, and how a node is named.

use std::fmt;

use bytes::Bytes;

use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// FlashDB's choice of openraft's types.
    pub TypeConfig:
        D = Proposal,
        R = (),
        NodeId = u64,
        Node = PeerNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A log id of this group.
pub type LogId = openraft::LogId<u64>;
/// A vote of this group.
pub type Vote = openraft::Vote<u64>;
/// A log entry of this group.
pub type Entry = openraft::Entry<TypeConfig>;
/// A membership configuration of this group.
pub type Membership = openraft::Membership<u64, PeerNode>;
/// A membership configuration and the log id that introduced it.
pub type StoredMembership = openraft::StoredMembership<u64, PeerNode>;
/// What a snapshot covers.
pub type SnapshotMeta = openraft::SnapshotMeta<u64, PeerNode>;
/// openraft's storage error, as this group's storage reports it.
pub type StorageError = openraft::StorageError<u64>;

/// Where a node of the group is reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerNode {
    /// `HOST:PORT` of its Raft traffic (`--raft-port`).
    pub raft_addr: String,
    /// `HOST:PORT` of its Redis protocol listener, for clients sent to the leader.
    pub resp_addr: String,
}

impl fmt::Display for PeerNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "raft={} resp={}", self.raft_addr, self.resp_addr)
    }
}

/// Which process, in which of its lives, proposed an entry. A leader applies its writes
/// to memory as it executes them, before they are committed; when such an entry comes
/// back through the log, the state machine of the same origin knows its effects are there
/// already. A process gets a new incarnation at every start and every time it rebuilds
/// its state, so that entries of an earlier life are applied like anyone else's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// The proposing node's id.
    pub node: u64,
    /// The proposing process's incarnation.
    pub incarnation: u64,
}

/// The application data of one Raft entry: the effects of one or more commands (or
/// transactions) of one proposer, in the order they changed its memory, each encoded as
/// the engine's log entries (`flashdb_core::codec`), as a single node logs them. A leader
/// gathers the commands that arrive while its previous entry is being stored into one
/// entry, since openraft 0.9 stores one entry at a time.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Who proposed it.
    pub origin: Origin,
    /// The commands' effects, in order.
    pub items: Vec<Item>,
}

/// One command's (or transaction's) effects in a [`Proposal`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The proposer's own sequence number for it, increasing in log order.
    pub local_seq: u64,
    /// The encoded log entries. Shared, not copied, by the clones that replication
    /// makes of an entry for every `AppendEntries` (many megabytes, for a large write).
    #[serde(with = "base64_bytes")]
    pub effects: Bytes,
}

/// Bytes as a base64 string in JSON (peers exchange entries as JSON), not an array of
/// numbers four times their size.
mod base64_bytes {
    use base64::Engine;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proposal")
            .field("origin", &self.origin)
            .field("first_seq", &self.items.first().map(|i| i.local_seq))
            .field("items", &self.items.len())
            .finish()
    }
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Item")
            .field("local_seq", &self.local_seq)
            .field("effects_len", &self.effects.len())
            .finish()
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "proposal {}/{}#{}+{} ({} bytes)",
            self.origin.node,
            self.origin.incarnation,
            self.items.first().map_or(0, |i| i.local_seq),
            self.items.len(),
            self.items.iter().map(|i| i.effects.len()).sum::<usize>()
        )
    }
}
