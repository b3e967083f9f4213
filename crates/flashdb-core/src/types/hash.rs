//! Hashes: field-value maps, compact while small.

use rand::Rng;

use super::slabmap::SlabMap;
use super::{SMALL_ENTRIES, SMALL_VALUE};
use crate::compact::CompactBytes;

/// A hash: a pair list while small (in insertion order, as Redis's listpack), a hash
/// table once it has more than 128 fields or a field or value longer than 64 bytes.
#[derive(Debug, Clone)]
pub enum Hash {
    /// At most [`SMALL_ENTRIES`] short pairs, searched linearly.
    Small(Vec<(CompactBytes, CompactBytes)>),
    /// A hash table.
    Big(SlabMap<CompactBytes>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Small(Vec::new())
    }
}

impl Hash {
    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            Hash::Small(v) => v.len(),
            Hash::Big(m) => m.len(),
        }
    }

    /// Whether the hash has no field (such a hash is never stored under a key).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING`'s name for the current form.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Small(_) => "listpack",
            Hash::Big(_) => "hashtable",
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Small(v) => v
                .iter()
                .find(|(f, _)| f.as_slice() == field)
                .map(|(_, v)| v.as_slice()),
            Hash::Big(m) => m.get(field).map(|v| v.as_slice()),
        }
    }

    fn grow_if_needed(&mut self, field: &[u8], value: &[u8]) {
        if let Hash::Small(v) = self {
            if v.len() >= SMALL_ENTRIES || field.len() > SMALL_VALUE || value.len() > SMALL_VALUE {
                let mut m = SlabMap::with_capacity(v.len() + 1);
                for (f, val) in v.drain(..) {
                    m.insert(f.as_slice(), val);
                }
                *self = Hash::Big(m);
            }
        }
    }

    /// Sets `field` to `value`; returns whether the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Hash::Small(v) = self {
            if let Some(p) = v.iter_mut().find(|(f, _)| f.as_slice() == field) {
                if value.len() <= SMALL_VALUE {
                    p.1 = CompactBytes::new(value);
                    return false;
                }
            }
        }
        self.grow_if_needed(field, value);
        match self {
            Hash::Small(v) => {
                v.push((CompactBytes::new(field), CompactBytes::new(value)));
                true
            }
            Hash::Big(m) => m.insert(field, CompactBytes::new(value)).is_none(),
        }
    }

    /// Removes `field`; returns whether it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Small(v) => match v.iter().position(|(f, _)| f.as_slice() == field) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            Hash::Big(m) => m.remove(field).is_some(),
        }
    }

    /// Every field and value (insertion order while small).
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Small(v) => Box::new(v.iter().map(|(f, v)| (f.as_slice(), v.as_slice()))),
            Hash::Big(m) => Box::new(m.iter().map(|(f, v)| (f, v.as_slice()))),
        }
    }

    /// A uniformly chosen field and its value.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Small(v) if v.is_empty() => None,
            Hash::Small(v) => {
                let (f, val) = &v[rng.gen_range(0..v.len())];
                Some((f.as_slice(), val.as_slice()))
            }
            Hash::Big(m) => m.random(rng).map(|(f, v)| (f, v.as_slice())),
        }
    }

    /// One step of `HSCAN`: visits about `count` slots from `cursor`, returns the next
    /// cursor (0 when done). A small hash is returned whole, as Redis does for listpacks.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match self {
            Hash::Small(v) => {
                for (k, val) in v {
                    f(k.as_slice(), val.as_slice());
                }
                0
            }
            Hash::Big(m) => m.scan(cursor, count, |k, v| f(k, v.as_slice())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;

    /// Sets, overwrites and removals against a `BTreeMap` model, through the pair list,
    /// its conversion (by size and by a long value), and the hash table.
    #[test]
    fn hash_matches_a_btreemap_model() {
        let mut rng = rand::thread_rng();
        for round in 0..12 {
            let fields = [100, 200, 3000][round % 3];
            let mut h = Hash::default();
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            for step in 0..4000 {
                let f = format!("f{}", rng.gen_range(0..fields)).into_bytes();
                let long = round % 4 == 1 && step == 3000;
                let v = if long {
                    vec![b'x'; SMALL_VALUE + 1]
                } else {
                    format!("v{step}").into_bytes()
                };
                if rng.gen_bool(0.3) && !long {
                    assert_eq!(h.remove(&f), model.remove(&f).is_some());
                } else {
                    assert_eq!(h.set(&f, &v), model.insert(f.clone(), v).is_none());
                }
                assert_eq!(h.len(), model.len());
                assert_eq!(h.get(&f), model.get(&f).map(Vec::as_slice));
                if let Hash::Small(p) = &h {
                    assert!(p.len() <= SMALL_ENTRIES);
                    assert!(p.iter().all(|(_, v)| v.len() <= SMALL_VALUE));
                }
            }
            if round % 3 == 2 {
                assert_eq!(h.encoding(), "hashtable");
            }
            let got: BTreeMap<Vec<u8>, Vec<u8>> =
                h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            assert_eq!(got, model);
            let mut scanned = BTreeMap::new();
            let mut cursor = 0;
            loop {
                cursor = h.scan(cursor, 10, |f, v| {
                    scanned.insert(f.to_vec(), v.to_vec());
                });
                if cursor == 0 {
                    break;
                }
            }
            assert_eq!(scanned, model);
            if let Some((f, v)) = h.random(&mut rng) {
                assert_eq!(model.get(f).map(Vec::as_slice), Some(v));
            }
        }
    }
}
