//! The collection data structures, apart from their commands (which live in `cmd`).
//!
//! Each type has a compact form for small collections, as Redis's listpacks and intsets,
//! and a scalable form that it converts to once it grows past Redis's default thresholds.

pub mod hash;
pub mod hll;
pub mod list;
pub mod queue;
pub mod ranktree;
pub mod set;
pub mod slabmap;
pub mod stream;
pub mod zset;

/// Most entries a small hash or sorted set keeps in its compact form
/// (`hash-max-listpack-entries`, `zset-max-listpack-entries`).
pub const SMALL_ENTRIES: usize = 128;
/// Longest field, value or member a compact form holds (`*-max-listpack-value`).
pub const SMALL_VALUE: usize = 64;
/// Most integers a set keeps as a sorted integer array (`set-max-intset-entries`).
pub const INTSET_ENTRIES: usize = 512;
