//! Estimates of the memory a key takes (`MEMORY USAGE`), from the sizes of the structures
//! that hold it. Like Redis's `objectComputeSize`, collections are sampled: the average
//! of the first `samples` elements stands for all of them.

use std::mem::size_of;

use crate::compact::{CompactBytes, INLINE_CAP};
use crate::db::Entry;
use crate::value::Value;

/// Bytes a heap allocation of `len` takes, rounded to the allocator's 16-byte classes.
fn heap(len: usize) -> usize {
    len.next_multiple_of(16)
}

/// Bytes a [`CompactBytes`] of `len` takes beyond its own struct.
fn compact_heap(len: usize) -> usize {
    if len <= INLINE_CAP {
        0
    } else {
        heap(len)
    }
}

/// Hash-table slot overhead per element (control byte, load factor, pointer).
const SLOT: usize = 16;

/// The bytes of `n` elements, of which `sampled` took `total`.
fn extrapolate(total: usize, sampled: usize, n: usize) -> usize {
    total.checked_div(sampled).map_or(0, |per| per * n)
}

/// Estimated bytes of the key behind `entry` and its value; `samples` elements of a
/// collection are measured (0: all).
pub fn usage(entry: &Entry, samples: usize) -> usize {
    let take = if samples == 0 { usize::MAX } else { samples };
    let key = size_of::<Entry>() + SLOT + compact_heap(entry.key.len());
    let value = match &entry.value {
        Value::Str(s) => compact_heap(s.len()),
        Value::List(l) => {
            let (mut total, mut n) = (0, 0);
            for e in l.iter().take(take) {
                total += size_of::<CompactBytes>() + compact_heap(e.len());
                n += 1;
            }
            size_of::<crate::types::list::List>() + extrapolate(total, n, l.len())
        }
        Value::Hash(h) => {
            let (mut total, mut n) = (0, 0);
            for (f, v) in h.iter().take(take) {
                total += 2 * size_of::<CompactBytes>()
                    + compact_heap(f.len())
                    + compact_heap(v.len())
                    + SLOT;
                n += 1;
            }
            size_of::<crate::types::hash::Hash>() + extrapolate(total, n, h.len())
        }
        Value::Set(s) => {
            let per_int = s.encoding() == "intset";
            let (mut total, mut n) = (0, 0);
            for m in s.iter().take(take) {
                total += if per_int {
                    size_of::<i64>()
                } else {
                    size_of::<CompactBytes>() + compact_heap(m.len()) + SLOT
                };
                n += 1;
            }
            size_of::<crate::types::set::Set>() + extrapolate(total, n, s.len())
        }
        Value::ZSet(z) => {
            let (mut total, mut n) = (0, 0);
            for (m, _) in z.iter().take(take) {
                // Member and score in the tree, and the member's entry in the index.
                total +=
                    size_of::<CompactBytes>() + size_of::<f64>() + compact_heap(m.len()) + SLOT;
                n += 1;
            }
            size_of::<crate::types::zset::ZSet>() + extrapolate(total, n, z.len())
        }
        Value::Queue(q) => {
            let (mut total, mut n) = (0, 0);
            let per = |m: &crate::types::queue::Message| {
                size_of::<crate::types::queue::Message>() + compact_heap(m.payload.len()) + SLOT
            };
            // The ready messages first (cheap to reach); all of them if none is ready.
            for m in q.peek(take) {
                total += per(m);
                n += 1;
            }
            if n == 0 {
                for (_, m) in q.messages().into_iter().take(take) {
                    total += per(m);
                    n += 1;
                }
            }
            size_of::<crate::types::queue::Queue>() + extrapolate(total, n, q.len())
        }
        Value::Stream(s) => size_of::<crate::types::stream::Stream>() + s.block_bytes(),
    };
    key + value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::list::{End, List};

    fn entry(value: Value) -> Entry {
        Entry {
            key: CompactBytes::new(b"k"),
            value,
            expire_at: 0,
            lru: 0,
            freq: 0,
            flags: 0,
        }
    }

    #[test]
    fn larger_values_take_more_and_sampling_extrapolates() {
        let small = usage(&entry(Value::Str(CompactBytes::new(b"v"))), 5);
        let big = usage(&entry(Value::Str(CompactBytes::new(&[0u8; 1000]))), 5);
        assert!(big >= small + 1000, "{small} {big}");
        let mut l = List::default();
        for _ in 0..100 {
            l.push(End::Right, &[1u8; 100]);
        }
        let e = entry(Value::List(Box::new(l)));
        let sampled = usage(&e, 5);
        let all = usage(&e, 0);
        assert_eq!(sampled, all, "identical elements extrapolate exactly");
        assert!(all > 100 * 100);
    }
}
