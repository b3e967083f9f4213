//! Sets: unordered collections of distinct byte strings.

use std::borrow::Cow;

use rand::Rng;

use super::slabmap::SlabMap;
use super::INTSET_ENTRIES;
use crate::numeric::parse_int;

/// A set: a sorted array of integers while every member is a canonical integer and there
/// are at most 512 of them (Redis's intset, with its ascending order), a hash table
/// otherwise.
#[derive(Debug, Clone)]
pub enum Set {
    /// Sorted, distinct integers.
    Ints(Vec<i64>),
    /// A hash table of members.
    Big(SlabMap<()>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(Vec::new())
    }
}

/// A member as bytes (integers of the compact form are formatted on the way out).
pub fn int_bytes(i: i64) -> Cow<'static, [u8]> {
    Cow::Owned(i.to_string().into_bytes())
}

impl Set {
    /// An empty set of the form that suits `first` (Redis picks the encoding from the
    /// first member added).
    pub fn for_member(first: &[u8]) -> Set {
        if parse_int(first).is_some() {
            Set::Ints(Vec::new())
        } else {
            Set::Big(SlabMap::default())
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Big(m) => m.len(),
        }
    }

    /// Whether the set is empty (such a set is never stored under a key).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING`'s name for the current form.
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Big(_) => "hashtable",
        }
    }

    /// Whether `m` is a member.
    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => parse_int(m).is_some_and(|i| v.binary_search(&i).is_ok()),
            Set::Big(s) => s.contains(m),
        }
    }

    fn grow(&mut self, extra: usize) {
        if let Set::Ints(v) = self {
            let mut m = SlabMap::with_capacity(v.len() + extra);
            for i in v.iter() {
                m.insert(i.to_string().as_bytes(), ());
            }
            *self = Set::Big(m);
        }
    }

    /// Adds `m`; returns whether it is new.
    pub fn add(&mut self, m: &[u8]) -> bool {
        if let Set::Ints(v) = self {
            match parse_int(m) {
                Some(i) => match v.binary_search(&i) {
                    Ok(_) => return false,
                    Err(pos) if v.len() < INTSET_ENTRIES => {
                        v.insert(pos, i);
                        return true;
                    }
                    Err(_) => self.grow(1),
                },
                None => self.grow(1),
            }
        }
        match self {
            Set::Big(s) => s.insert(m, ()).is_none(),
            Set::Ints(_) => false,
        }
    }

    /// Removes `m`; returns whether it was a member.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => match parse_int(m).map(|i| v.binary_search(&i)) {
                Some(Ok(pos)) => {
                    v.remove(pos);
                    true
                }
                _ => false,
            },
            Set::Big(s) => s.remove(m).is_some(),
        }
    }

    /// Every member (ascending for the integer form).
    pub fn iter(&self) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_> {
        match self {
            Set::Ints(v) => Box::new(v.iter().map(|&i| int_bytes(i))),
            Set::Big(s) => Box::new(s.iter().map(|(k, _)| Cow::Borrowed(k))),
        }
    }

    /// A uniformly chosen member.
    pub fn random(&self, rng: &mut impl Rng) -> Option<Cow<'_, [u8]>> {
        match self {
            Set::Ints(v) if v.is_empty() => None,
            Set::Ints(v) => Some(int_bytes(v[rng.gen_range(0..v.len())])),
            Set::Big(s) => s.random(rng).map(|(k, _)| Cow::Borrowed(k)),
        }
    }

    /// One step of `SSCAN` (see [`super::hash::Hash::scan`]).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8])) -> u64 {
        match self {
            Set::Ints(v) => {
                for &i in v {
                    f(&int_bytes(i));
                }
                0
            }
            Set::Big(s) => s.scan(cursor, count, |k, _| f(k)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeSet;

    use super::*;

    /// Adds and removals of integers (and, in some rounds, strings) against a `BTreeSet`
    /// model, through the integer array, its conversion, and the hash table.
    #[test]
    fn set_matches_a_btreeset_model() {
        let mut rng = rand::thread_rng();
        for round in 0..12 {
            let strings = round % 3 == 0;
            let span = [100, 700, 5000][round % 3];
            let mut s = Set::default();
            let mut model: BTreeSet<Vec<u8>> = BTreeSet::new();
            for _ in 0..4000 {
                let n = rng.gen_range(-span..span);
                let m = if strings && rng.gen_bool(0.05) {
                    format!("m{n}").into_bytes()
                } else {
                    n.to_string().into_bytes()
                };
                if rng.gen_bool(0.35) {
                    assert_eq!(s.remove(&m), model.remove(&m));
                } else {
                    assert_eq!(s.add(&m), model.insert(m.clone()));
                }
                assert_eq!(s.len(), model.len());
                assert!(s.contains(&m) == model.contains(&m));
                // The compact form holds canonical integers only, and at most 512.
                if let Set::Ints(v) = &s {
                    assert!(v.len() <= INTSET_ENTRIES);
                    assert!(v.windows(2).all(|w| w[0] < w[1]));
                }
            }
            // "01" is not canonical: it is a different member from "1".
            assert_eq!(s.contains(b"01"), model.contains(b"01".as_slice()));
            let got: BTreeSet<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
            assert_eq!(got, model);
            let mut scanned = BTreeSet::new();
            let mut cursor = 0;
            loop {
                cursor = s.scan(cursor, 10, |m| {
                    scanned.insert(m.to_vec());
                });
                if cursor == 0 {
                    break;
                }
            }
            assert_eq!(scanned, model);
            if !model.is_empty() {
                assert!(model.contains(s.random(&mut rng).unwrap().as_ref()));
            }
        }
    }
}
