//! One database's part of one shard: the hash table, its entries and their expiry times.
//!
//! Entries live in a slab and the hash table stores only their slab index. An entry never
//! moves while it exists, so a `SCAN` cursor can be a slab index: a key present for the whole
//! iteration is always returned, however the table grows or shrinks meanwhile.

use std::collections::BTreeSet;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use slab::Slab;

use crate::compact::CompactBytes;
use crate::value::Value;

/// Flags kept per entry.
pub mod flags {
    /// The string was edited in place (`APPEND`, `SETRANGE`), which Redis reports as `raw`.
    pub const RAW: u8 = 1;
}

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

/// The keys of one database that hash to one shard.
#[derive(Debug, Default)]
pub struct DbShard {
    table: HashTable<u32>,
    entries: Slab<Entry>,
    /// `(expire_at, slab index)` of every key with a TTL, soonest first.
    expires: BTreeSet<(u64, u32)>,
}

impl DbShard {
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
        let entries = &self.entries;
        self.table
            .find(hash, |&idx| entries[idx as usize].key.as_slice() == key)
            .map(|&idx| idx as usize)
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
    pub fn insert_new<S: BuildHasher>(&mut self, hasher: &S, hash: u64, entry: Entry) -> usize {
        let expire_at = entry.expire_at;
        let idx = self.entries.insert(entry);
        let entries = &self.entries;
        self.table.insert_unique(hash, idx as u32, |&i| {
            hasher.hash_one(entries[i as usize].key.as_slice())
        });
        if expire_at != 0 {
            self.expires.insert((expire_at, idx as u32));
        }
        idx
    }

    /// Removes the entry at a slab index, which must hold `hash`'s key.
    pub fn remove(&mut self, hash: u64, idx: usize) -> Entry {
        if let Ok(slot) = self.table.find_entry(hash, |&i| i as usize == idx) {
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
