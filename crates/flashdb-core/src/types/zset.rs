//! Sorted sets: distinct members ordered by a floating-point score, then by member bytes.
//!
//! Every position-based operation is expressed in ranks (0-based, ascending), so that the
//! commands (ranges by index, score or lex, counts, removals) are written once for both
//! forms: a sorted pair array while small (Redis's listpack), an order-statistic B+tree
//! plus a member table once large, where rank lookups are O(log n).

use std::cmp::Ordering;

use rand::Rng;

use super::ranktree::RankTree;
use super::slabmap::SlabMap;
use super::{SMALL_ENTRIES, SMALL_VALUE};
use crate::compact::CompactBytes;

/// A sorted set.
// The value holding a sorted set boxes it (`Value::ZSet(Box<ZSet>)`), so the size of the
// large variant costs nothing per key and saves a second indirection on every access.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ZSet {
    /// At most [`SMALL_ENTRIES`] pairs with short members, sorted.
    Small(Vec<(f64, CompactBytes)>),
    /// A member table for O(1) score lookups and a counted B+tree for order.
    Big {
        /// Member to score.
        dict: SlabMap<f64>,
        /// The order.
        list: RankTree,
    },
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Small(Vec::new())
    }
}

fn cmp_pair(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.1.cmp(b.1))
}

impl ZSet {
    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            ZSet::Small(v) => v.len(),
            ZSet::Big { dict, .. } => dict.len(),
        }
    }

    /// Whether the set is empty (such a set is never stored under a key).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING`'s name for the current form.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Small(_) => "listpack",
            ZSet::Big { .. } => "skiplist",
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Small(v) => v.iter().find(|(_, m)| m.as_slice() == member).map(|p| p.0),
            ZSet::Big { dict, .. } => dict.get(member).copied(),
        }
    }

    fn grow(&mut self) {
        if let ZSet::Small(v) = self {
            let mut dict = SlabMap::with_capacity(v.len() + 1);
            let mut list = RankTree::default();
            for (s, m) in v.drain(..) {
                dict.insert(m.as_slice(), s);
                list.insert(s, m.as_slice());
            }
            *self = ZSet::Big { dict, list };
        }
    }

    /// Sets `member`'s score; returns whether the member is new. `score` is never NaN.
    pub fn set(&mut self, member: &[u8], score: f64) -> bool {
        if let ZSet::Small(v) = self {
            if let Some(p) = v.iter().position(|(_, m)| m.as_slice() == member) {
                if v[p].0 == score {
                    return false;
                }
                let (_, m) = v.remove(p);
                let at = v.partition_point(|(s, mm)| {
                    cmp_pair((*s, mm.as_slice()), (score, member)) == Ordering::Less
                });
                v.insert(at, (score, m));
                return false;
            }
            if v.len() >= SMALL_ENTRIES || member.len() > SMALL_VALUE {
                self.grow();
            }
        }
        match self {
            ZSet::Small(v) => {
                let at = v.partition_point(|(s, m)| {
                    cmp_pair((*s, m.as_slice()), (score, member)) == Ordering::Less
                });
                v.insert(at, (score, CompactBytes::new(member)));
                true
            }
            ZSet::Big { dict, list } => match dict.insert(member, score) {
                Some(old) => {
                    if old != score {
                        list.delete(old, member);
                        list.insert(score, member);
                    }
                    false
                }
                None => {
                    list.insert(score, member);
                    true
                }
            },
        }
    }

    /// Removes `member`; returns whether it was present.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZSet::Small(v) => match v.iter().position(|(_, m)| m.as_slice() == member) {
                Some(p) => {
                    v.remove(p);
                    true
                }
                None => false,
            },
            ZSet::Big { dict, list } => match dict.remove(member) {
                Some(s) => {
                    list.delete(s, member);
                    true
                }
                None => false,
            },
        }
    }

    /// The 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Small(v) => v.iter().position(|(_, m)| m.as_slice() == member),
            ZSet::Big { dict, list } => {
                let s = *dict.get(member)?;
                list.rank(s, member)
            }
        }
    }

    /// The member and score at 0-based rank `r`.
    pub fn at(&self, r: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Small(v) => v.get(r).map(|(s, m)| (m.as_slice(), *s)),
            ZSet::Big { list, .. } => list.at(r),
        }
    }

    /// Calls `f` for ranks `a..=b` (which must be in range), ascending, or descending
    /// from `b` when `rev`.
    pub fn walk(&self, a: usize, b: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        if a > b || b >= self.len() {
            return;
        }
        match self {
            ZSet::Small(v) => {
                let slice = &v[a..=b];
                if rev {
                    slice.iter().rev().for_each(|(s, m)| f(m.as_slice(), *s));
                } else {
                    slice.iter().for_each(|(s, m)| f(m.as_slice(), *s));
                }
            }
            ZSet::Big { list, .. } => list.walk(a, b, rev, f),
        }
    }

    /// The rank of the first element for which `past_start(score, member)` holds
    /// (monotone along the order); `len()` when none does.
    pub fn first_rank_where(&self, past_start: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Small(v) => v.partition_point(|(s, m)| !past_start(*s, m.as_slice())),
            ZSet::Big { list, .. } => list.partition_point(|s, m| !past_start(s, m)),
        }
    }

    /// The number of elements for which `within_end(score, member)` holds (monotone:
    /// true then false along the order), i.e. one past the rank of the last of them.
    pub fn end_rank_where(&self, within_end: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Small(v) => v.partition_point(|(s, m)| within_end(*s, m.as_slice())),
            ZSet::Big { list, .. } => list.partition_point(within_end),
        }
    }

    /// Every member and score, ascending.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            ZSet::Small(v) => Box::new(v.iter().map(|(s, m)| (m.as_slice(), *s))),
            ZSet::Big { list, .. } => Box::new(list.iter()),
        }
    }

    /// A uniformly chosen member and its score.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], f64)> {
        if self.is_empty() {
            return None;
        }
        self.at(rng.gen_range(0..self.len()))
    }

    /// One step of `ZSCAN` (see [`super::hash::Hash::scan`]).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match self {
            ZSet::Small(v) => {
                for (s, m) in v {
                    f(m.as_slice(), *s);
                }
                0
            }
            ZSet::Big { dict, .. } => dict.scan(cursor, count, |m, s| f(m, *s)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Both forms against a sorted `Vec` model, through the rank-based operations.
    #[test]
    fn zset_matches_a_sorted_vec_model() {
        let mut rng = rand::thread_rng();
        for _ in 0..10 {
            let mut z = ZSet::default();
            let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
            for _ in 0..600 {
                let m = format!("member{}", rng.gen_range(0..300)).into_bytes();
                if rng.gen_bool(0.3) {
                    let had = model.iter().position(|(_, x)| *x == m);
                    assert_eq!(z.remove(&m), had.is_some());
                    if let Some(p) = had {
                        model.remove(p);
                    }
                } else {
                    let s = f64::from(rng.gen_range(-20..20)) / 4.0;
                    let had = model.iter().position(|(_, x)| *x == m);
                    assert_eq!(z.set(&m, s), had.is_none());
                    if let Some(p) = had {
                        model.remove(p);
                    }
                    model.push((s, m));
                    model.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
                }
                assert_eq!(z.len(), model.len());
            }
            for (i, (s, m)) in model.iter().enumerate() {
                assert_eq!(z.rank(m), Some(i));
                assert_eq!(z.score(m), Some(*s));
                assert_eq!(z.at(i), Some((m.as_slice(), *s)));
            }
            let got: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
            let want: Vec<(Vec<u8>, f64)> = model.iter().map(|(s, m)| (m.clone(), *s)).collect();
            assert_eq!(got, want);
            let lo = z.first_rank_where(|s, _| s >= 0.0);
            assert_eq!(lo, model.partition_point(|(s, _)| *s < 0.0));
            let hi = z.end_rank_where(|s, _| s <= 1.5);
            assert_eq!(hi, model.partition_point(|(s, _)| *s <= 1.5));
            if model.len() > 3 {
                let mut rev = Vec::new();
                z.walk(1, 3, true, |m, _| rev.push(m.to_vec()));
                let want: Vec<Vec<u8>> = model[1..=3].iter().rev().map(|p| p.1.clone()).collect();
                assert_eq!(rev, want);
            }
        }
    }
}
