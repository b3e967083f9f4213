//! The ledger's index of keys: for each key name, the sequence numbers of the records
//! that changed it (in any database), and those of the records that changed whole
//! databases (`FLUSHDB`, `FLUSHALL`, `SWAPDB`). Built from the history at start, in the
//! background, then kept up as the ledger hashes new records; it answers `LEDGER HISTORY`
//! and `LEDGER GET` without reading the log from the start.

use std::hash::BuildHasher;

use flashdb_core::codec::decode_entries;
use flashdb_core::log_entry::{LogEntry, Touches};
use parking_lot::RwLock;

/// Record sequence numbers by key name.
#[derive(Debug, Default)]
pub struct KeyIndex {
    /// By a 64-bit hash of the name, not the name: no copy of every key, no comparison
    /// of its bytes. Two names with one hash share a list, which is only ever a list of
    /// candidates: readers keep the records that change their key (see [`changes`]).
    names: RwLock<hashbrown::HashMap<u64, Vec<u64>>>,
    hasher: hashbrown::DefaultHashBuilder,
    global: RwLock<Vec<u64>>,
}

fn push(list: &mut Vec<u64>, seq: u64) {
    if list.last() != Some(&seq) {
        list.push(seq);
    }
}

impl KeyIndex {
    /// Notes what record `seq` changed. A payload that does not decode is skipped (the
    /// engine wrote it; the log's own checks report damage).
    pub fn add(&self, seq: u64, payload: &[u8]) {
        let Ok(entries) = decode_entries(payload) else {
            return;
        };
        // One lock for the record's entries.
        let mut names = self.names.write();
        let mut note = |key: &[u8]| {
            let list = names.entry(self.hasher.hash_one(key)).or_default();
            push(list, seq);
        };
        for e in &entries {
            match e.touches() {
                Touches::Key(_, k) => note(k),
                Touches::Two((_, a), (_, b)) => {
                    note(a);
                    note(b);
                }
                Touches::Db(_) | Touches::Swap(..) | Touches::All => {
                    push(&mut self.global.write(), seq)
                }
                Touches::Nothing => {}
            }
        }
    }

    /// The records that may have changed `key`, newest first: its own and the
    /// whole-database ones, merged.
    pub fn candidates(&self, key: &[u8]) -> Vec<u64> {
        let own = self
            .names
            .read()
            .get(&self.hasher.hash_one(key))
            .cloned()
            .unwrap_or_default();
        let global = self.global.read().clone();
        let mut all = Vec::with_capacity(own.len() + global.len());
        let (mut i, mut j) = (own.len(), global.len());
        while i > 0 || j > 0 {
            let take_own = j == 0 || (i > 0 && own[i - 1] > global[j - 1]);
            if take_own {
                i -= 1;
                all.push(own[i]);
            } else {
                j -= 1;
                all.push(global[j]);
            }
        }
        all
    }
}

/// One change of a key, as `LEDGER HISTORY` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// The record's sequence number.
    pub seq: u64,
    /// The entry's kind (`set`, `del`, `expire`, `rename`...).
    pub kind: &'static str,
    /// The value it set, for a `set` (and for a rename or copy into the key, none).
    pub value: Option<Vec<u8>>,
}

/// The changes record `payload` made to `key` of database `db`, in order.
pub fn changes(payload: &[u8], db: u32, key: &[u8]) -> Vec<Version> {
    let Ok(entries) = decode_entries(payload) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in &entries {
        let hit = match e.touches() {
            Touches::Key(d, k) => d == db && k == key,
            Touches::Two((d1, k1), (d2, k2)) => (d1 == db && k1 == key) || (d2 == db && k2 == key),
            Touches::Db(d) => d == db,
            Touches::Swap(a, b) => a == db || b == db,
            Touches::All => true,
            Touches::Nothing => false,
        };
        if hit {
            let value = match e {
                LogEntry::Set { value, .. } => Some(value.to_vec()),
                _ => None,
            };
            out.push(Version {
                seq: 0,
                kind: e.kind(),
                value,
            });
        }
    }
    out
}
