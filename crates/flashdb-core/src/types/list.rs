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
        let mut removed = 0;
        if count >= 0 {
            let mut i = 0;
            while i < self.items.len() && removed < limit {
                if self.items[i].as_slice() == v {
                    self.items.remove(i);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
        } else {
            let mut i = self.items.len();
            while i > 0 && removed < limit {
                i -= 1;
                if self.items[i].as_slice() == v {
                    self.items.remove(i);
                    removed += 1;
                }
            }
        }
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
