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
///
/// Names are known by a 64-bit hash, not their bytes: no copy of every key, no comparison
/// of its bytes. Two names with one hash share their records, which are only ever
/// candidates: readers keep the records that change their key (see [`changes`]). Each
/// name's records form a chain through the records, newest first: the map holds each
/// name's newest record, and a link per (record, name) its previous one, appended in
/// record order, so that noting a record touches one map entry and the end of one list.
#[derive(Debug, Default)]
pub struct KeyIndex {
    chains: RwLock<Chains>,
    hasher: hashbrown::DefaultHashBuilder,
    global: RwLock<Vec<u64>>,
}

#[derive(Debug, Default)]
struct Chains {
    /// The newest record of each name hash.
    newest: hashbrown::HashMap<u64, u64>,
    /// (record, name hash, the name's previous record or 0), in record order.
    links: Vec<(u64, u64, u64)>,
}

impl Chains {
    fn note(&mut self, seq: u64, hash: u64) {
        let prev = self.newest.insert(hash, seq).unwrap_or(0);
        // The same name twice in one record: its first link is enough.
        if prev != seq {
            self.links.push((seq, hash, prev));
        }
    }

    /// The previous record of `hash`'s chain before `seq`.
    fn previous(&self, seq: u64, hash: u64) -> u64 {
        let from = self.links.partition_point(|l| l.0 < seq);
        self.links[from..]
            .iter()
            .take_while(|l| l.0 == seq)
            .find(|l| l.1 == hash)
            .map_or(0, |l| l.2)
    }
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
        let mut chains = self.chains.write();
        for e in &entries {
            match e.touches() {
                Touches::Key(_, k) => chains.note(seq, self.hasher.hash_one(k)),
                Touches::Two((_, a), (_, b)) => {
                    chains.note(seq, self.hasher.hash_one(a));
                    chains.note(seq, self.hasher.hash_one(b));
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
        let hash = self.hasher.hash_one(key);
        let mut own = Vec::new();
        {
            let chains = self.chains.read();
            let mut seq = chains.newest.get(&hash).copied().unwrap_or(0);
            while seq != 0 {
                own.push(seq);
                seq = chains.previous(seq, hash);
            }
        }
        // Newest first: both lists descend.
        let global = self.global.read();
        let mut all = Vec::with_capacity(own.len() + global.len());
        let (mut i, mut j) = (0, global.len());
        while i < own.len() || j > 0 {
            let take_own = j == 0 || (i < own.len() && own[i] > global[j - 1]);
            if take_own {
                all.push(own[i]);
                i += 1;
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

#[cfg(test)]
mod tests {
    use super::*;
    use flashdb_core::codec::encode_entries;
    use flashdb_core::keyspace::Ttl;

    fn record(entries: &[LogEntry<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_entries(entries, &mut out);
        out
    }

    fn set<'a>(key: &'a [u8], value: &'a [u8]) -> LogEntry<'a> {
        LogEntry::Set {
            db: 0,
            key,
            value,
            ttl: Ttl::Clear,
        }
    }

    #[test]
    fn candidates_are_a_key_s_records_and_the_whole_database_ones_newest_first() {
        let ix = KeyIndex::default();
        ix.add(1, &record(&[set(b"a", b"1")]));
        ix.add(2, &record(&[set(b"b", b"1")]));
        ix.add(3, &record(&[LogEntry::FlushDb { db: 0 }]));
        // The same key twice in one record counts once.
        ix.add(4, &record(&[set(b"a", b"2"), set(b"a", b"3")]));
        ix.add(
            5,
            &record(&[LogEntry::Rename {
                db: 0,
                from: b"a",
                to: b"c",
            }]),
        );
        ix.add(6, &record(&[set(b"b", b"2")]));
        assert_eq!(ix.candidates(b"a"), vec![5, 4, 3, 1]);
        assert_eq!(ix.candidates(b"b"), vec![6, 3, 2]);
        assert_eq!(ix.candidates(b"c"), vec![5, 3]);
        assert_eq!(ix.candidates(b"never"), vec![3]);
        // What a record did to one key, in order.
        let both = record(&[set(b"a", b"2"), set(b"a", b"3")]);
        let kinds: Vec<_> = changes(&both, 0, b"a")
            .iter()
            .map(|v| (v.kind, v.value.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![("set", Some(b"2".to_vec())), ("set", Some(b"3".to_vec()))]
        );
        assert!(changes(&both, 1, b"a").is_empty(), "another database");
    }
}
