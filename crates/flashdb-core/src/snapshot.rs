//! The consistent cut a snapshot is taken at.
//!
//! Starting a snapshot holds every shard lock for an instant: long enough to read the log
//! sequence number `seq` and mark every shard *pending*. From then on, the first command
//! that locks a pending shard serializes it before it can change anything, and the snapshot
//! writer serializes the shards nobody touched, a piece at a time (a command that finds a
//! shard part-way through serializes the rest). Every shard is therefore captured exactly
//! as it was at `seq`, and no client ever waits for more than one shard's serialization.

use parking_lot::Mutex;

/// A snapshot in progress: the sequence number it covers and the shards already captured.
#[derive(Debug)]
pub struct SnapshotCut {
    /// Every log record up to this sequence number is reflected in the snapshot; none after.
    pub seq: u64,
    parts: Vec<Mutex<Option<Vec<u8>>>>,
    /// The function libraries' codes at `seq`.
    pub functions: Vec<Vec<u8>>,
}

impl SnapshotCut {
    /// A cut over `shards` shards at `seq`.
    pub fn new(seq: u64, shards: usize, functions: Vec<Vec<u8>>) -> SnapshotCut {
        SnapshotCut {
            seq,
            parts: (0..shards).map(|_| Mutex::new(None)).collect(),
            functions,
        }
    }

    /// Stores the serialized image of shard `i`, captured by a command about to change it.
    pub fn put(&self, i: usize, bytes: Vec<u8>) {
        *self.parts[i].lock() = Some(bytes);
    }

    /// Takes the image of shard `i` if a command captured it.
    pub fn take(&self, i: usize) -> Option<Vec<u8>> {
        self.parts[i].lock().take()
    }
}
