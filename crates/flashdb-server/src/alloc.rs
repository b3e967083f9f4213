//! The global allocator: jemalloc, counting live heap bytes for `INFO memory`'s
//! `used_memory`.
//!
//! jemalloc rather than the C library's allocator: its thread cache keeps freed blocks in a
//! separate array, so freeing an old value (every overwrite) touches neither the value's
//! memory nor its neighbours. With 1 KiB values over a data set larger than the CPU cache,
//! glibc's `free` was 11% of a pipelined `SET` profile, and `SET` with 16 pipelined
//! 1 KiB writes went from 0.82x Redis to 1.17x (see `docs/performance.md`). Redis uses
//! jemalloc too.

use std::alloc::{GlobalAlloc, Layout};

use std::sync::atomic::{AtomicUsize, Ordering};
use tikv_jemallocator::Jemalloc;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// jemalloc, counting the bytes it hands out.
pub struct CountingAlloc;

// SAFETY: every method forwards to `Jemalloc` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract (layouts, pointer provenance, sizes) is exactly `Jemalloc`'s; the
// counters are plain atomics and never touch the memory.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        let p = unsafe { Jemalloc.alloc(layout) };
        if !p.is_null() {
            added(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` was allocated by `Jemalloc` through this type.
        unsafe { Jemalloc.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        let p = unsafe { Jemalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            added(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; `ptr` and `layout` come from this allocator.
        let p = unsafe { Jemalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
            added(new_size);
        }
        p
    }
}

fn added(n: usize) {
    let now = ALLOCATED.fetch_add(n, Ordering::Relaxed) + n;
    if now > PEAK.load(Ordering::Relaxed) {
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

/// Live heap bytes.
pub fn allocated() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// Highest value [`allocated`] has had.
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// The allocator's own figures, as `MEMORY STATS` and `INFO memory` report them: bytes
/// allocated, in active pages, resident, retained, and of its metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllocatorStats {
    /// Bytes handed out to the program.
    pub allocated: usize,
    /// Bytes in pages holding allocations.
    pub active: usize,
    /// Bytes of physically resident pages the allocator holds.
    pub resident: usize,
    /// Bytes of virtual memory kept for reuse.
    pub retained: usize,
    /// Bytes of the allocator's metadata.
    pub metadata: usize,
}

/// Reads jemalloc's statistics (refreshed first); zeros if they cannot be read.
pub fn allocator_stats() -> AllocatorStats {
    use tikv_jemalloc_ctl::{epoch, stats};
    if epoch::advance().is_err() {
        return AllocatorStats::default();
    }
    AllocatorStats {
        allocated: stats::allocated::read().unwrap_or(0),
        active: stats::active::read().unwrap_or(0),
        resident: stats::resident::read().unwrap_or(0),
        retained: stats::retained::read().unwrap_or(0),
        metadata: stats::metadata::read().unwrap_or(0),
    }
}

/// jemalloc's full statistics report (`MEMORY MALLOC-STATS`).
pub fn malloc_stats() -> String {
    let mut out = Vec::new();
    let opts = tikv_jemalloc_ctl::stats_print::Options::default();
    match tikv_jemalloc_ctl::stats_print::stats_print(&mut out, opts) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => format!("allocator statistics could not be read: {e}"),
    }
}

/// Asks jemalloc to return the dirty pages of every arena to the system (`MEMORY
/// PURGE`); false if it refused.
pub fn purge() -> bool {
    // `MALLCTL_ARENAS_ALL` is 4096: the purge applies to every arena.
    const NAME: &[u8] = b"arena.4096.purge\0";
    // SAFETY: `NAME` is NUL-terminated and names a control that neither reads nor writes
    // a value, so jemalloc requires every pointer null and the length zero, as passed.
    #[allow(unsafe_code)]
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            NAME.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    rc == 0
}
