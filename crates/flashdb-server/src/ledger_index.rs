//! The ledger's index of keys: for each key name, the sequence numbers of the records
//! that changed it (in any database), and those of the records that changed whole
//! databases (`FLUSHDB`, `FLUSHALL`, `SWAPDB`). Built from the history at start, in the
//! background, then kept up as the ledger hashes new records; it answers `LEDGER HISTORY`
//! and `LEDGER GET` without reading the log from the start.

use std::hash::BuildHasher;

use flashdb_core::codec::decode_entries;
use flashdb_core::log_entry::{LogEntry, Touches};
use parking_lot::{Mutex, RwLock};

/// How many (record, name) notes wait before they go into the table together.
const BATCH: usize = 1024;

/// Record sequence numbers by key name.
///
/// Names are known by a 64-bit hash, not their bytes: no copy of every key, no comparison
/// of its bytes. Two names with one hash share their records, which are only ever
/// candidates: readers keep the records that change their key (see [`changes`]). Each
/// name's records form a chain, newest first: the table holds each name's newest link,
/// each link its record and the name's previous link.
///
/// Notes are gathered and put into the table a batch at a time, because the table is
/// larger than the caches and its slots are random: reading a whole batch's slots first
/// lets the processor fetch them all at once, where one note after another waits for
/// memory each time (this was the ledger's largest cost on the write path). Readers put
/// what is gathered in first, so they always see every record added.
#[derive(Debug, Default)]
pub struct KeyIndex {
    chains: RwLock<Chains>,
    /// (record, name hash) noted and not yet in `chains`, in record order.
    pending: Mutex<Vec<(u64, u64)>>,
    hasher: hashbrown::DefaultHashBuilder,
    global: RwLock<Vec<u64>>,
}

/// One step of a name's chain.
#[derive(Debug, Clone, Copy)]
struct Link {
    seq: u64,
    /// The index of the name's previous link plus one, or 0 for its first.
    prev: u64,
}

/// Name hash to newest link, open addressing with linear probing. Hash 0 marks a free
/// slot, so a name hashing to 0 is kept as 1 (sharing 1's chain, harmlessly).
#[derive(Debug, Default)]
struct Chains {
    slots: Vec<(u64, u64)>,
    used: usize,
    links: Vec<Link>,
}

impl Chains {
    fn home(&self, hash: u64) -> usize {
        // Lossless on 64-bit targets; on 32-bit ones the mask keeps it in range anyway.
        (hash as usize) & (self.slots.len() - 1)
    }

    /// The slot that holds `hash`, or the free one where it would go.
    fn slot(&self, hash: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = self.home(hash);
        while self.slots[i].0 != 0 && self.slots[i].0 != hash {
            i = (i + 1) & mask;
        }
        i
    }

    /// Keeps the table at most half full, so that probes stay short.
    fn reserve(&mut self, more: usize) {
        let want = ((self.used + more) * 2).next_power_of_two().max(1024);
        if want <= self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![(0, 0); want]);
        for (hash, link) in old.into_iter().filter(|s| s.0 != 0) {
            let i = self.slot(hash);
            self.slots[i] = (hash, link);
        }
    }

    /// Puts a batch of notes (in record order, one per record and name) in the table.
    fn note_all(&mut self, notes: &[(u64, u64)]) {
        self.reserve(notes.len());
        // Touch every slot first: independent loads, which the processor overlaps.
        let touched = notes
            .iter()
            .fold(0u64, |acc, &(_, h)| acc ^ self.slots[self.home(h)].0);
        std::hint::black_box(touched);
        for &(seq, hash) in notes {
            let i = self.slot(hash);
            let prev = if self.slots[i].0 == 0 {
                self.used += 1;
                0
            } else {
                self.slots[i].1 + 1
            };
            self.links.push(Link { seq, prev });
            self.slots[i] = (hash, (self.links.len() - 1) as u64);
        }
    }

    /// The newest `most` records of `hash`'s chain, newest first.
    fn chain(&self, hash: u64, most: usize, out: &mut Vec<u64>) {
        if self.slots.is_empty() {
            return;
        }
        let i = self.slot(hash);
        if self.slots[i].0 == 0 {
            return;
        }
        let mut at = self.slots[i].1 + 1;
        while let Some(link) = at.checked_sub(1).and_then(|i| self.links.get(i as usize)) {
            if out.len() >= most {
                break;
            }
            out.push(link.seq);
            at = link.prev;
        }
    }
}

fn push(list: &mut Vec<u64>, seq: u64) {
    if list.last() != Some(&seq) {
        list.push(seq);
    }
}

impl KeyIndex {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key).max(1)
    }

    /// Notes what record `seq` changed. A payload that does not decode is skipped (the
    /// engine wrote it; the log's own checks report damage).
    pub fn add(&self, seq: u64, payload: &[u8]) {
        let Ok(entries) = decode_entries(payload) else {
            return;
        };
        let mut names: smallvec::SmallVec<[u64; 4]> = smallvec::SmallVec::new();
        for e in &entries {
            match e.touches() {
                Touches::Key(_, k) => names.push(self.hash(k)),
                Touches::Two((_, a), (_, b)) => {
                    names.push(self.hash(a));
                    names.push(self.hash(b));
                }
                Touches::Db(_) | Touches::Swap(..) | Touches::All => {
                    push(&mut self.global.write(), seq)
                }
                Touches::Nothing => {}
            }
        }
        // The same name twice in one record: one link is enough.
        names.sort_unstable();
        names.dedup();
        let full = {
            let mut pending = self.pending.lock();
            pending.extend(names.iter().map(|&h| (seq, h)));
            pending.len() >= BATCH
        };
        if full {
            self.publish(&mut self.chains.write());
        }
    }

    /// Moves the gathered notes into the table. The caller holds the table's lock, taken
    /// before the pending list's, so that batches go in in record order.
    fn publish(&self, chains: &mut Chains) {
        let notes = std::mem::take(&mut *self.pending.lock());
        chains.note_all(&notes);
    }

    /// The newest `most` records that may have changed `key`, newest first: its own and
    /// the whole-database ones, merged.
    pub fn candidates(&self, key: &[u8], most: usize) -> Vec<u64> {
        let hash = self.hash(key);
        let mut own = Vec::new();
        if !self.pending.lock().is_empty() {
            self.publish(&mut self.chains.write());
        }
        self.chains.read().chain(hash, most, &mut own);
        // Newest first: both lists descend.
        let global = self.global.read();
        let mut all = Vec::with_capacity(most.min(own.len() + global.len()));
        let (mut i, mut j) = (0, global.len());
        while (i < own.len() || j > 0) && all.len() < most {
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
        assert_eq!(ix.candidates(b"a", usize::MAX), vec![5, 4, 3, 1]);
        assert_eq!(ix.candidates(b"b", usize::MAX), vec![6, 3, 2]);
        assert_eq!(ix.candidates(b"c", usize::MAX), vec![5, 3]);
        assert_eq!(ix.candidates(b"never", usize::MAX), vec![3]);
        assert_eq!(ix.candidates(b"a", 2), vec![5, 4]);
        assert_eq!(ix.candidates(b"b", 0), Vec::<u64>::new());
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

    #[test]
    fn chains_match_a_plain_list_through_batches_and_growth() {
        let ix = KeyIndex::default();
        let mut model: std::collections::HashMap<Vec<u8>, Vec<u64>> = Default::default();
        let mut x = 7u64;
        for seq in 1..=20_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = format!("k{}", (x >> 33) % 5000).into_bytes();
            ix.add(seq, &record(&[set(&key, b"v")]));
            model.entry(key).or_default().insert(0, seq);
            // Reads in the middle of a batch see what was added before them.
            if seq % 777 == 0 {
                let k = format!("k{}", (x >> 33) % 5000).into_bytes();
                assert_eq!(ix.candidates(&k, usize::MAX), model[&k]);
            }
        }
        for (key, seqs) in &model {
            assert_eq!(
                &ix.candidates(key, usize::MAX),
                seqs,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }
}
