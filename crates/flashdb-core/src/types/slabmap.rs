//! A hash map from byte strings whose entries stay at a fixed slot while they exist.
//!
//! Entries live in a slab and the hash table holds their slot numbers, as in the keyspace.
//! Fixed slots give what Redis's dict gives the scan and random commands: a scan cursor
//! that is a slot number returns every element present for the whole iteration, and a
//! uniformly random element is a random occupied slot.

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
}

impl<V> SlabMap<V> {
    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        SlabMap {
            table: HashTable::with_capacity(n),
            slots: Slab::with_capacity(n),
            hasher: hashbrown::DefaultHashBuilder::default(),
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
        if let Some(i) = self.slot_of(key) {
            return Some(std::mem::replace(&mut self.slots[i].1, value));
        }
        let h = self.hasher.hash_one(key);
        let idx = self.slots.insert((CompactBytes::new(key), value));
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.table.insert_unique(h, idx as u32, |&i| {
            hasher.hash_one(slots[i as usize].0.as_slice())
        });
        None
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
        if self.slots.is_empty() {
            self.slots = Slab::new();
            self.table = HashTable::new();
        }
        Some(v)
    }

    /// Every entry, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.slots.iter().map(|(_, (k, v))| (k.as_slice(), v))
    }

    /// Number of slots a scan cursor runs over.
    pub fn slot_count(&self) -> usize {
        self.slots.capacity().max(self.slots.len())
    }

    /// The entry at slot `i`, if occupied.
    pub fn at_slot(&self, i: usize) -> Option<(&[u8], &V)> {
        self.slots.get(i).map(|(k, v)| (k.as_slice(), v))
    }

    /// A uniformly chosen entry.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], &V)> {
        if self.slots.is_empty() {
            return None;
        }
        let cap = self.slot_count();
        for _ in 0..64 {
            let i = rng.gen_range(0..cap);
            if let Some(e) = self.at_slot(i) {
                return Some(e);
            }
        }
        // A very sparse slab: fall back to the n-th entry.
        let n = rng.gen_range(0..self.slots.len());
        self.iter().nth(n)
    }
}
