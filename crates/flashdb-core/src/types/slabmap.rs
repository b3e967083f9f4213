//! A hash map from byte strings whose entries stay at a fixed slot while they exist.
//!
//! Entries live in a slab and the hash table holds their slot numbers, as in the keyspace.
//! Fixed slots give what Redis's dict gives the scan and random commands: a scan cursor
//! that is a slot number returns every element present for the whole iteration, and a
//! uniformly random element is a random occupied slot.
//!
//! When removals leave fewer than one slot in eight occupied, the map compacts itself (as
//! Redis shrinks a dict), so its memory and the cost of a random pick follow its size,
//! not its largest size. Compaction moves entries, so it starts a new *epoch*, which scan
//! cursors carry: a scan that resumes with a cursor of an earlier epoch starts over. It
//! may then return elements twice, which Redis's `SCAN` contract allows, but never misses
//! one that was present throughout.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rand::Rng;
use slab::Slab;

use crate::compact::CompactBytes;

/// A map from byte strings to `V` with stable slots.
#[derive(Debug, Clone, Default)]
pub struct SlabMap<V> {
    table: HashTable<u32>,
    slots: Slab<(CompactBytes, V)>,
    hasher: hashbrown::DefaultHashBuilder,
    /// Counts compactions, modulo 256; scan cursors carry it in their low byte.
    epoch: u8,
}

/// Fewest slots a map keeps before it considers compacting (small maps are not worth it).
const COMPACT_MIN_SLOTS: usize = 64;

impl<V> SlabMap<V> {
    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        SlabMap {
            table: HashTable::with_capacity(n),
            slots: Slab::with_capacity(n),
            hasher: hashbrown::DefaultHashBuilder::default(),
            epoch: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn slot_of(&self, key: &[u8]) -> Option<usize> {
        let h = self.hasher.hash_one(key);
        let slots = &self.slots;
        self.table
            .find(h, |&i| slots[i as usize].0.as_slice() == key)
            .map(|&i| i as usize)
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.slot_of(key).map(|i| &self.slots[i].1)
    }

    /// The value of `key`, mutably.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let i = self.slot_of(key)?;
        Some(&mut self.slots[i].1)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.slot_of(key).is_some()
    }

    /// Sets `key` to `value`; returns the previous value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        // One hash and one probe, whether the key is new or not.
        let h = self.hasher.hash_one(key);
        let (slots, hasher) = (&self.slots, &self.hasher);
        let entry = self.table.entry(
            h,
            |&i| slots[i as usize].0.as_slice() == key,
            |&i| hasher.hash_one(slots[i as usize].0.as_slice()),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => {
                let i = *e.get() as usize;
                Some(std::mem::replace(&mut self.slots[i].1, value))
            }
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(self.slots.vacant_key() as u32);
                self.slots.insert((CompactBytes::new(key), value));
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        let h = self.hasher.hash_one(key);
        let slots = &self.slots;
        let found = self
            .table
            .find_entry(h, |&i| slots[i as usize].0.as_slice() == key)
            .ok()?;
        let (idx, _) = found.remove();
        let (_, v) = self.slots.remove(idx as usize);
        let slots = self.slot_count();
        if slots > COMPACT_MIN_SLOTS && self.slots.len() * 8 < slots {
            self.compact();
        }
        Some(v)
    }

    /// Moves every entry to the front of a slab sized to fit, and rebuilds the table.
    /// Amortised over the removals that made the map this sparse, it costs O(1) each.
    fn compact(&mut self) {
        let old = std::mem::take(&mut self.slots);
        self.slots = Slab::with_capacity(old.len());
        self.table = HashTable::with_capacity(old.len());
        for (_, entry) in old {
            let h = self.hasher.hash_one(entry.0.as_slice());
            let idx = self.slots.insert(entry);
            let (slots, hasher) = (&self.slots, &self.hasher);
            self.table.insert_unique(h, idx as u32, |&i| {
                hasher.hash_one(slots[i as usize].0.as_slice())
            });
        }
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// Every entry, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.slots.iter().map(|(_, (k, v))| (k.as_slice(), v))
    }

    /// Number of slots, occupied or not.
    fn slot_count(&self) -> usize {
        self.slots.capacity().max(self.slots.len())
    }

    /// One step of a scan from `cursor` (0 to start): visits at least `count` slots (more
    /// while they are empty, up to ten times as many) and returns the next cursor, 0 at the
    /// end. A cursor is `slot << 8 | epoch`; one from an earlier epoch starts over.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &V)) -> u64 {
        let end = self.slot_count();
        let mut i = if cursor & 0xff == u64::from(self.epoch) {
            usize::try_from(cursor >> 8).unwrap_or(usize::MAX)
        } else {
            0
        };
        let count = count.max(1);
        let (mut found, mut visited) = (0usize, 0usize);
        while i < end && found < count && visited < count.saturating_mul(10) {
            if let Some((k, v)) = self.slots.get(i) {
                f(k.as_slice(), v);
                found += 1;
            }
            i += 1;
            visited += 1;
        }
        if i >= end {
            0
        } else {
            (i as u64) << 8 | u64::from(self.epoch)
        }
    }

    /// A uniformly chosen entry.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], &V)> {
        if self.slots.is_empty() {
            return None;
        }
        let cap = self.slot_count();
        // At least one slot in eight is occupied, so 64 probes all miss with odds below
        // 2e-4; then the next occupied slot after a random one (slightly biased) is taken.
        let pick = (0..64)
            .map(|_| rng.gen_range(0..cap))
            .find(|&i| self.slots.contains(i))
            .or_else(|| {
                let start = rng.gen_range(0..cap);
                (start..cap)
                    .chain(0..start)
                    .find(|&i| self.slots.contains(i))
            })?;
        self.slots.get(pick).map(|(k, v)| (k.as_slice(), v))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// Inserts, overwrites and removals against a `BTreeMap` model, through growth and
    /// compactions; a scan running across all of it returns every key present throughout.
    #[test]
    fn slabmap_matches_a_btreemap_model_and_scans_survive_compaction() {
        let mut rng = rand::thread_rng();
        for round in 0..20 {
            let mut m: SlabMap<u32> = SlabMap::default();
            let mut model: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
            let keyspace = if round % 2 == 0 { 50 } else { 5000 };
            // Pinned keys are inserted while the map grows (so they sit at high slots that
            // a compaction moves down) and never removed: a scan that started after one was
            // inserted must return it.
            let mut pinned: Vec<(Vec<u8>, u32)> = Vec::new();
            let mut seen = BTreeSet::new();
            let (mut cursor, mut scan_start) = (0u64, 0u32);
            let mut scans_done = 0;
            let mut epochs = BTreeSet::new();
            let mut live: Vec<Vec<u8>> = Vec::new();
            for step in 0..20_000u32 {
                if step % 250 == 100 && pinned.len() < 20 {
                    let key = format!("pinned{step}").into_bytes();
                    assert_eq!(m.insert(&key, step), model.insert(key.clone(), step));
                    pinned.push((key, step));
                }
                // Grow for a while, then shrink, so that compactions happen mid-scan.
                let grow = (step / 2500) % 2 == 0;
                if grow || live.is_empty() || rng.gen_bool(0.05) {
                    let key = format!("k{}", rng.gen_range(0..keyspace)).into_bytes();
                    let old = model.insert(key.clone(), step);
                    if old.is_none() {
                        live.push(key.clone());
                    }
                    assert_eq!(m.insert(&key, step), old);
                } else {
                    let key = live.swap_remove(rng.gen_range(0..live.len()));
                    assert_eq!(m.remove(&key), model.remove(&key));
                    assert_eq!(m.remove(&key), None);
                }
                assert_eq!(m.len(), model.len());
                epochs.insert(m.epoch);
                if step % 7 == 0 {
                    cursor = m.scan(cursor, 3, |k, _| {
                        seen.insert(k.to_vec());
                    });
                    if cursor == 0 {
                        for (key, at) in &pinned {
                            if *at < scan_start {
                                assert!(seen.contains(key), "scan missed a key present throughout");
                            }
                        }
                        seen.clear();
                        scans_done += 1;
                        scan_start = step + 1;
                    }
                }
            }
            assert!(scans_done > 0);
            if keyspace == 5000 {
                assert!(epochs.len() > 1, "the shrinking phases never compacted");
            }
            for (k, v) in &model {
                assert_eq!(m.get(k), Some(v));
            }
            let got: BTreeMap<Vec<u8>, u32> = m.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
            assert_eq!(got, model);
            if !model.is_empty() {
                let (k, v) = m.random(&mut rng).unwrap();
                assert_eq!(model.get(k), Some(v));
            }
            assert!(m.slot_count() <= (model.len() * 8).max(COMPACT_MIN_SLOTS) * 2);
        }
    }
}
