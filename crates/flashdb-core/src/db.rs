//! One database's part of one shard: the hash table, its entries and their expiry times.
//!
//! Entries live in a slab and the hash table stores only their slab index. An entry never
//! moves while it exists, so a `SCAN` cursor can be a slab index: a key present for the whole
//! iteration is always returned, however the table grows or shrinks meanwhile.
//!
//! Each table slot keeps 32 bits of its key's hash beside the slab index (see [`Slot`]):
//! growing the table then rehashes from the slots alone. Hashing from the entries meant a
//! cache miss per key, and a sixth of a 1M-key restart went to table growth.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicIsize, Ordering};

use hashbrown::HashTable;
use slab::Slab;

use crate::compact::CompactBytes;
use crate::value::Value;

/// Flags kept per entry.
pub mod flags {
    /// The string was edited in place (`APPEND`, `SETRANGE`), which Redis reports as `raw`.
    pub const RAW: u8 = 1;
}

/// The access clock's reading when the server starts: idle times are clock differences,
/// and starting high lets `RESTORE ... IDLETIME` give a key an idle time longer than the
/// server has been up (about 34 years of headroom either way).
pub const LRU_CLOCK_BASE: u32 = 1 << 30;

/// A key with its value and metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key.
    pub key: CompactBytes,
    /// The value.
    pub value: Value,
    /// Absolute expiry time in Unix milliseconds; 0 when the key does not expire.
    pub expire_at: u64,
    /// Last access, in seconds of the keyspace clock (for `OBJECT IDLETIME`).
    pub lru: u32,
    /// Logarithmic access counter (for `OBJECT FREQ` under an LFU policy).
    pub freq: u8,
    /// See [`flags`].
    pub flags: u8,
}

/// A hash table slot: an entry's slab index and 32 bits of its key's hash, from which
/// the table rehashes without reading the entry.
///
/// The table is given [`Slot::hash`] (the kept bits spread back over 64) as every key's
/// hash, never the full one, so that lookups and rehashing agree. hashbrown takes the
/// bucket from the low bits and a 7-bit tag from the top ones: the slot keeps the low 25
/// bits and the top 7, so a table of up to 2^25 buckets (per shard and database) spreads
/// keys as well as with the full hash.
#[derive(Debug, Clone, Copy)]
struct Slot {
    idx: u32,
    hash: u32,
}

impl Slot {
    const LOW: u64 = (1 << 25) - 1;

    fn new(idx: usize, hash: u64) -> Slot {
        Slot {
            idx: idx as u32,
            hash: ((hash & Self::LOW) | ((hash >> 57) << 25)) as u32,
        }
    }

    /// The slot a lookup of a key with this hash compares against: the kept bits alone.
    fn probe(hash: u64) -> Slot {
        Slot::new(0, hash)
    }

    /// Whether this slot holds `key`, whose [`probe`](Self::probe) is `probe`: the kept
    /// bits are compared first, so most other keys are told apart without reading their
    /// entry.
    fn holds(&self, probe: Slot, entries: &Slab<Entry>, key: &[u8]) -> bool {
        self.hash == probe.hash && entries[self.idx as usize].key.as_slice() == key
    }

    /// The hash the table files this slot under.
    fn hash(&self) -> u64 {
        let h = u64::from(self.hash);
        (h & Self::LOW) | ((h >> 25) << 57)
    }
}

/// Bytes of slab and table slots that no key occupies, over every [`DbShard`] of the
/// process. A deleted key's slot is not given back (a `SCAN` cursor is a slab index, so
/// entries never move), but the next key stored takes it: `maxmemory` counts these bytes
/// as free, or deleting small keys, which frees nothing else, would never bring memory
/// under the limit.
static VACANT_BYTES: AtomicIsize = AtomicIsize::new(0);

/// See [`VACANT_BYTES`].
pub fn vacant_bytes() -> usize {
    VACANT_BYTES.load(Ordering::Relaxed).max(0) as usize
}

/// The keys of one database that hash to one shard.
#[derive(Debug, Default)]
pub struct DbShard {
    table: HashTable<Slot>,
    entries: Slab<Entry>,
    /// `(expire_at, slab index)` of every key with a TTL, soonest first.
    expires: BTreeSet<(u64, u32)>,
}

impl Drop for DbShard {
    fn drop(&mut self) {
        VACANT_BYTES.fetch_sub(self.vacant() as isize, Ordering::Relaxed);
    }
}

impl DbShard {
    /// Bytes of this shard's slots that no key occupies (see [`VACANT_BYTES`]).
    fn vacant(&self) -> usize {
        (self.entries.capacity() - self.entries.len()) * std::mem::size_of::<Entry>()
            + (self.table.capacity() - self.table.len()) * (std::mem::size_of::<Slot>() + 1)
    }

    /// Adds the change since `before` (an earlier [`vacant`](Self::vacant)) to
    /// [`VACANT_BYTES`].
    fn account(&self, before: usize) {
        let delta = self.vacant() as isize - before as isize;
        if delta != 0 {
            VACANT_BYTES.fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// Number of keys (expired ones not yet reclaimed included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the shard holds no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of keys with a TTL.
    pub fn volatile_len(&self) -> usize {
        self.expires.len()
    }

    /// Finds the slab index of `key`.
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let probe = Slot::probe(hash);
        self.table
            .find(probe.hash(), |s| s.holds(probe, &self.entries, key))
            .map(|s| s.idx as usize)
    }

    /// The slab index of the first key whose kept hash bits are `hash`'s, without reading
    /// any entry: most likely the key's own slot (see [`Slot`]), for warming caches
    /// ahead of lookups, never to decide anything.
    pub fn likely_slot(&self, hash: u64) -> Option<usize> {
        let probe = Slot::probe(hash);
        self.table
            .find(probe.hash(), |s| s.hash == probe.hash)
            .map(|s| s.idx as usize)
    }

    /// The entry at a slab index.
    pub fn entry(&self, idx: usize) -> &Entry {
        &self.entries[idx]
    }

    /// The entry at a slab index, mutably. Changing `expire_at` must go through
    /// [`set_expire`](Self::set_expire).
    pub fn entry_mut(&mut self, idx: usize) -> &mut Entry {
        &mut self.entries[idx]
    }

    /// The entry at a slab index, if one is there (for cursors that may point at a hole).
    pub fn get_slot(&self, idx: usize) -> Option<&Entry> {
        self.entries.get(idx)
    }

    /// Number of slab slots, occupied or not; a scan cursor runs up to this.
    pub fn slot_count(&self) -> usize {
        self.entries.capacity().max(self.entries.len())
    }

    /// Inserts a key that is not present; returns its slab index.
    pub fn insert_new(&mut self, hash: u64, entry: Entry) -> usize {
        let before = self.vacant();
        let expire_at = entry.expire_at;
        let idx = self.entries.insert(entry);
        let slot = Slot::new(idx, hash);
        self.table.insert_unique(slot.hash(), slot, Slot::hash);
        self.track_expiry(idx, expire_at);
        self.account(before);
        idx
    }

    /// Files a new entry's expiry time (none when 0) in `expires`.
    fn track_expiry(&mut self, idx: usize, expire_at: u64) {
        if expire_at != 0 {
            self.expires.insert((expire_at, idx as u32));
        }
    }

    /// Makes room for `additional` more keys, so that a bulk load grows the table once
    /// instead of doubling it (and rehashing every key) again and again.
    pub fn reserve(&mut self, additional: usize) {
        let before = self.vacant();
        self.entries.reserve(additional);
        self.table.reserve(additional, Slot::hash);
        self.account(before);
    }

    /// Stores `entry` under its key (whose hash is `hash`) with one probe of the table,
    /// replacing the entry already there, which is returned.
    pub fn upsert(&mut self, hash: u64, entry: Entry) -> Option<Entry> {
        let before = self.vacant();
        let entries = &self.entries;
        let probe = Slot::probe(hash);
        let found = self.table.entry(
            probe.hash(),
            |s| s.holds(probe, entries, entry.key.as_slice()),
            Slot::hash,
        );
        match found {
            hashbrown::hash_table::Entry::Occupied(o) => {
                let idx = o.get().idx as usize;
                // The old expiry time stays until `set_expire` moves it in `expires`.
                let expire_at = entry.expire_at;
                let kept = self.entries[idx].expire_at;
                let old = std::mem::replace(
                    &mut self.entries[idx],
                    Entry {
                        expire_at: kept,
                        ..entry
                    },
                );
                self.set_expire(idx, expire_at);
                Some(old)
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                let expire_at = entry.expire_at;
                let idx = self.entries.insert(entry);
                v.insert(Slot::new(idx, hash));
                self.track_expiry(idx, expire_at);
                self.account(before);
                None
            }
        }
    }

    /// Removes the entry at a slab index, which must hold `hash`'s key.
    pub fn remove(&mut self, hash: u64, idx: usize) -> Entry {
        let before = self.vacant();
        if let Ok(slot) = self
            .table
            .find_entry(Slot::new(idx, hash).hash(), |s| s.idx as usize == idx)
        {
            slot.remove();
        }
        let entry = self.entries.remove(idx);
        if entry.expire_at != 0 {
            self.expires.remove(&(entry.expire_at, idx as u32));
        }
        if self.entries.is_empty() {
            // Give the memory of a database that was emptied key by key back.
            self.entries = Slab::new();
            self.table = HashTable::new();
        }
        self.account(before);
        entry
    }

    /// Sets (or clears, with 0) the expiry time of the entry at a slab index.
    pub fn set_expire(&mut self, idx: usize, expire_at: u64) {
        let e = &mut self.entries[idx];
        if e.expire_at != 0 {
            self.expires.remove(&(e.expire_at, idx as u32));
        }
        e.expire_at = expire_at;
        if expire_at != 0 {
            self.expires.insert((expire_at, idx as u32));
        }
    }

    /// The soonest-expiring key whose time is at or before `now`, if any: `(slab index)`.
    pub fn next_expired(&self, now: u64) -> Option<usize> {
        let &(at, idx) = self.expires.first()?;
        (at <= now).then_some(idx as usize)
    }

    /// Iterates over every entry (in slab order).
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.entries.iter()
    }

    /// A key with a TTL, chosen at random (for the `volatile-*` eviction policies).
    ///
    /// Uniform in the common cases: when at least one key in 16 has a TTL, by drawing
    /// keys until one has; when few keys have one, by counting into the expiry index.
    /// Only a large table where TTLs are rare (over 16,384 keys, fewer than one in 16
    /// with a TTL) falls back to the key that expires next after a random time, which
    /// favours keys after a gap in expiry times.
    pub fn random_volatile(&self, rng: &mut impl rand::Rng) -> Option<usize> {
        let volatile = self.expires.len();
        if volatile == 0 {
            return None;
        }
        if volatile * 16 >= self.entries.len() {
            for _ in 0..64 {
                let i = self.random_slot(rng)?;
                if self.entries[i].expire_at != 0 {
                    return Some(i);
                }
            }
        }
        if volatile <= 1024 {
            let k = rng.gen_range(0..volatile);
            return self.expires.iter().nth(k).map(|&(_, idx)| idx as usize);
        }
        let first = self.expires.first()?.0;
        let last = self.expires.last()?.0;
        let at = rng.gen_range(first..=last);
        self.expires
            .range((at, 0)..)
            .next()
            .map(|&(_, idx)| idx as usize)
    }

    /// A uniformly chosen occupied slot, found by probing random slab indexes.
    pub fn random_slot(&self, rng: &mut impl rand::Rng) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        let cap = self.slot_count();
        // Occupancy is at least 1/cap; a bounded number of probes, then a linear fallback.
        for _ in 0..64 {
            let i = rng.gen_range(0..cap);
            if self.entries.contains(i) {
                return Some(i);
            }
        }
        let start = rng.gen_range(0..cap);
        (start..cap)
            .chain(0..start)
            .find(|&i| self.entries.contains(i))
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    fn entry(key: &str, value: &str, expire_at: u64) -> Entry {
        Entry {
            key: CompactBytes::new(key.as_bytes()),
            value: Value::Str(CompactBytes::new(value.as_bytes())),
            expire_at,
            lru: 0,
            freq: 0,
            flags: 0,
        }
    }

    #[test]
    fn a_slot_keeps_the_bits_the_table_uses() {
        for h in [
            0u64,
            u64::MAX,
            0x0123_4567_89ab_cdef,
            1 << 57,
            (1 << 25) - 1,
        ] {
            let kept = Slot::new(7, h).hash();
            assert_eq!(
                kept & ((1 << 25) - 1),
                h & ((1 << 25) - 1),
                "bucket bits of {h:x}"
            );
            assert_eq!(kept >> 57, h >> 57, "tag bits of {h:x}");
        }
    }

    #[test]
    fn keys_are_found_after_the_table_grew_from_the_slots_alone() {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let mut db = DbShard::default();
        for i in 0..20_000 {
            let key = format!("key:{i}");
            let h = hasher.hash_one(key.as_bytes());
            db.insert_new(h, entry(&key, "v", 0));
        }
        for i in 0..20_000 {
            let key = format!("key:{i}");
            let h = hasher.hash_one(key.as_bytes());
            let idx = db.find(h, key.as_bytes()).expect("present");
            assert_eq!(db.entry(idx).key.as_slice(), key.as_bytes());
        }
        let missing = hasher.hash_one(b"key:20000".as_slice());
        assert_eq!(db.find(missing, b"key:20000"), None);
        // Removing half (found by slab index and hash) leaves the other half findable.
        for i in (0..20_000).step_by(2) {
            let key = format!("key:{i}");
            let h = hasher.hash_one(key.as_bytes());
            let idx = db.find(h, key.as_bytes()).expect("present");
            db.remove(h, idx);
        }
        assert_eq!(db.len(), 10_000);
        for i in 0..20_000 {
            let key = format!("key:{i}");
            let h = hasher.hash_one(key.as_bytes());
            assert_eq!(db.find(h, key.as_bytes()).is_some(), i % 2 == 1, "{key}");
        }
    }

    #[test]
    fn upsert_inserts_then_replaces_and_keeps_expiry_times_in_step() {
        let hasher = hashbrown::DefaultHashBuilder::default();
        let mut db = DbShard::default();
        db.reserve(3);
        let h = hasher.hash_one(b"k".as_slice());
        assert!(db.upsert(h, entry("k", "one", 0)).is_none());
        assert_eq!(db.volatile_len(), 0);
        let old = db.upsert(h, entry("k", "two", 5_000)).expect("replaced");
        assert_eq!(old.value, Value::Str(CompactBytes::new(b"one")));
        assert_eq!((db.len(), db.volatile_len()), (1, 1));
        let old = db.upsert(h, entry("k", "three", 0)).expect("replaced");
        assert_eq!(old.expire_at, 5_000);
        assert_eq!((db.len(), db.volatile_len()), (1, 0));
        let idx = db.find(h, b"k").expect("present");
        assert_eq!(db.entry(idx).value, Value::Str(CompactBytes::new(b"three")));
    }
}
