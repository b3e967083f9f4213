//! Lists: sequences of byte strings with cheap pushes and pops at both ends.

use std::collections::VecDeque;

use crate::compact::CompactBytes;

/// A list. Redis 7.0 reports every list as `quicklist`; a ring buffer of compact strings
/// gives the same costs (O(1) at both ends, O(1) access by index).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct List {
    items: VecDeque<CompactBytes>,
}

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The head (`LPUSH`, `LPOP`).
    Left,
    /// The tail (`RPUSH`, `RPOP`).
    Right,
}

impl List {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the list is empty (such a list is never stored under a key).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Pushes one element at `end`.
    pub fn push(&mut self, end: End, v: &[u8]) {
        let v = CompactBytes::new(v);
        match end {
            End::Left => self.items.push_front(v),
            End::Right => self.items.push_back(v),
        }
    }

    /// Pops one element from `end`.
    pub fn pop(&mut self, end: End) -> Option<CompactBytes> {
        match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }
    }

    /// The element at a non-negative position.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.items.get(i).map(|v| v.as_slice())
    }

    /// Replaces the element at a non-negative position; false when out of range.
    pub fn set(&mut self, i: usize, v: &[u8]) -> bool {
        match self.items.get_mut(i) {
            Some(slot) => {
                *slot = CompactBytes::new(v);
                true
            }
            None => false,
        }
    }

    /// A Redis index (negative counts from the tail) as a position, if in range.
    pub fn index(&self, i: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let i = if i < 0 { len + i } else { i };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// Redis's `start`/`stop` range rules (negative from the tail, clamped), as a
    /// position range; `None` when empty.
    pub fn range(&self, start: i64, stop: i64) -> Option<(usize, usize)> {
        let len = self.items.len() as i64;
        let mut start = if start < 0 { len + start } else { start };
        let mut stop = if stop < 0 { len + stop } else { stop };
        if start < 0 {
            start = 0;
        }
        if start > stop || start >= len {
            return None;
        }
        if stop >= len {
            stop = len - 1;
        }
        Some((start as usize, stop as usize))
    }

    /// Iterates over positions `a..=b`.
    pub fn iter_range(&self, a: usize, b: usize) -> impl DoubleEndedIterator<Item = &[u8]> {
        self.items.range(a..=b).map(|v| v.as_slice())
    }

    /// Every element, head first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.iter().map(|v| v.as_slice())
    }

    /// Inserts `v` before (or after) the first element equal to `pivot`; returns whether
    /// the pivot was found.
    pub fn insert(&mut self, before: bool, pivot: &[u8], v: &[u8]) -> bool {
        match self.items.iter().position(|e| e.as_slice() == pivot) {
            Some(p) => {
                let at = if before { p } else { p + 1 };
                self.items.insert(at, CompactBytes::new(v));
                true
            }
            None => false,
        }
    }

    /// `LREM`: removes up to `|count|` elements equal to `v` (all when 0), from the head
    /// when `count >= 0`, from the tail otherwise; returns how many.
    pub fn remove(&mut self, count: i64, v: &[u8]) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs().min(usize::MAX as u64) as usize
        };
        // One pass over the list (`VecDeque::retain`), whatever the number of matches.
        let matches = if count < 0 {
            self.items.iter().filter(|e| e.as_slice() == v).count()
        } else {
            0
        };
        // From the tail: keep the first `matches - limit` matches, remove the rest.
        let mut skip = if count < 0 {
            matches.saturating_sub(limit)
        } else {
            0
        };
        let mut removed = 0;
        self.items.retain(|e| {
            if removed == limit || e.as_slice() != v {
                return true;
            }
            if skip > 0 {
                skip -= 1;
                return true;
            }
            removed += 1;
            false
        });
        removed
    }

    /// `LTRIM`: keeps only positions of the Redis range `start..=stop`.
    pub fn trim(&mut self, start: i64, stop: i64) {
        match self.range(start, stop) {
            None => self.items.clear(),
            Some((a, b)) => {
                self.items.truncate(b + 1);
                self.items.drain(..a);
            }
        }
        if self.items.capacity() > 64 && self.items.len() < self.items.capacity() / 4 {
            self.items.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::VecDeque;

    use rand::Rng;

    use super::*;

    fn model_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
        let len = len as i64;
        let norm = |i: i64| if i < 0 { len + i } else { i };
        // Redis clamps the start at 0 but not the stop: a stop before the head is empty.
        let (a, b) = (norm(start).max(0), norm(stop).min(len - 1));
        (a <= b && a < len).then_some((a as usize, b as usize))
    }

    /// Every list operation against a `VecDeque<Vec<u8>>` model, with few distinct values so
    /// that `LINSERT` pivots and `LREM` matches are common.
    #[test]
    fn list_matches_a_vecdeque_model() {
        let mut rng = rand::thread_rng();
        for _ in 0..30 {
            let mut l = List::default();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for _ in 0..2000 {
                let v = format!("v{}", rng.gen_range(0..8)).into_bytes();
                let idx = rng.gen_range(-12i64..12);
                match rng.gen_range(0..10) {
                    0..=2 => {
                        if rng.gen_bool(0.5) {
                            l.push(End::Left, &v);
                            model.push_front(v);
                        } else {
                            l.push(End::Right, &v);
                            model.push_back(v);
                        }
                    }
                    3 => {
                        let (got, want) = if rng.gen_bool(0.5) {
                            (l.pop(End::Left), model.pop_front())
                        } else {
                            (l.pop(End::Right), model.pop_back())
                        };
                        assert_eq!(got.map(|c| c.as_slice().to_vec()), want);
                    }
                    4 => {
                        let pos = l.index(idx);
                        let len = model.len() as i64;
                        let want = if idx < 0 { len + idx } else { idx };
                        assert_eq!(pos, (0..len).contains(&want).then_some(want as usize));
                        if let Some(p) = pos {
                            assert_eq!(l.get(p), Some(model[p].as_slice()));
                            assert!(l.set(p, &v));
                            model[p] = v;
                        }
                    }
                    5 => {
                        let pivot = format!("v{}", rng.gen_range(0..8)).into_bytes();
                        let before = rng.gen_bool(0.5);
                        let at = model.iter().position(|e| *e == pivot);
                        assert_eq!(l.insert(before, &pivot, &v), at.is_some());
                        if let Some(p) = at {
                            model.insert(if before { p } else { p + 1 }, v);
                        }
                    }
                    6 => {
                        let count = rng.gen_range(-3i64..4);
                        let total = model.iter().filter(|e| **e == v).count();
                        let want = if count == 0 {
                            total
                        } else {
                            total.min(count.unsigned_abs() as usize)
                        };
                        assert_eq!(l.remove(count, &v), want);
                        let mut positions: Vec<usize> =
                            (0..model.len()).filter(|&i| model[i] == v).collect();
                        if count < 0 {
                            positions.reverse();
                        }
                        let mut gone: Vec<usize> = positions.into_iter().take(want).collect();
                        gone.sort_unstable();
                        for p in gone.into_iter().rev() {
                            model.remove(p);
                        }
                    }
                    7 if rng.gen_bool(0.1) => {
                        let stop = rng.gen_range(-12i64..12);
                        l.trim(idx, stop);
                        match model_range(model.len(), idx, stop) {
                            None => model.clear(),
                            Some((a, b)) => {
                                model.truncate(b + 1);
                                model.drain(..a);
                            }
                        }
                    }
                    _ => {
                        let stop = rng.gen_range(-12i64..12);
                        let r = l.range(idx, stop);
                        assert_eq!(
                            r,
                            if model.is_empty() {
                                None
                            } else {
                                model_range(model.len(), idx, stop)
                            }
                        );
                        if let Some((a, b)) = r {
                            let got: Vec<&[u8]> = l.iter_range(a, b).collect();
                            let want: Vec<&[u8]> =
                                model.range(a..=b).map(|v| v.as_slice()).collect();
                            assert_eq!(got, want);
                        }
                    }
                }
                assert_eq!(l.len(), model.len());
            }
            let got: Vec<&[u8]> = l.iter().collect();
            let want: Vec<&[u8]> = model.iter().map(|v| v.as_slice()).collect();
            assert_eq!(got, want);
        }
    }
}
