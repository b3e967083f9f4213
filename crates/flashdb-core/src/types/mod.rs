//! The collection data structures, apart from their commands (which live in `cmd`).
//!
//! Each type has a compact form for small collections, as Redis's listpacks and intsets,
//! and a scalable form that it converts to once it grows past Redis's default thresholds.

pub mod hash;
pub mod list;
pub mod set;
pub mod skiplist;
pub mod slabmap;
pub mod zset;

/// Most entries a small hash or sorted set keeps in its compact form
/// (`hash-max-listpack-entries`, `zset-max-listpack-entries`).
pub const SMALL_ENTRIES: usize = 128;
/// Longest field, value or member a compact form holds (`*-max-listpack-value`).
pub const SMALL_VALUE: usize = 64;
/// Most integers a set keeps as a sorted integer array (`set-max-intset-entries`).
pub const INTSET_ENTRIES: usize = 512;

/// One step of a scan over a [`slabmap::SlabMap`]: visits at least `count` slots (more
/// while they are empty, up to ten times as many), returns the next cursor (0 at the end).
pub fn slabmap_scan<V>(
    m: &slabmap::SlabMap<V>,
    cursor: u64,
    count: usize,
    mut f: impl FnMut(&[u8], &V),
) -> u64 {
    let end = m.slot_count() as u64;
    let mut i = cursor;
    let mut found = 0usize;
    let mut visited = 0usize;
    let count = count.max(1);
    while i < end && found < count && visited < count.saturating_mul(10) {
        if let Some((k, v)) = m.at_slot(i as usize) {
            f(k, v);
            found += 1;
        }
        i += 1;
        visited += 1;
    }
    if i >= end {
        0
    } else {
        i
    }
}
