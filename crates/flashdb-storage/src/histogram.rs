//! A fixed-bucket histogram of durations, updated with relaxed atomics, for the metrics
//! endpoint (Prometheus histograms are cumulative buckets, a sum and a count).

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the buckets, in microseconds: 10 µs to 10 s, about three per decade,
/// which covers a memory-speed command and a slow disk alike.
pub const BOUNDS_MICROS: [u64; 16] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
    1_000_000, 10_000_000,
];

/// Number of buckets, the last one unbounded.
pub const BUCKETS: usize = BOUNDS_MICROS.len() + 1;

/// Counts of durations per bucket (not cumulative), and their sum.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS],
    sum_micros: AtomicU64,
}

/// The bucket a duration falls in.
pub fn bucket_of(micros: u64) -> usize {
    BOUNDS_MICROS.partition_point(|&b| b < micros)
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, micros: u64) {
        self.counts[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Adds counts gathered elsewhere (per bucket, as [`bucket_of`] places them) and their
    /// sum: a connection batches its commands' figures and adds them once.
    pub fn add(&self, counts: &[u64; BUCKETS], sum_micros: u64) {
        for (slot, &n) in self.counts.iter().zip(counts) {
            if n > 0 {
                slot.fetch_add(n, Ordering::Relaxed);
            }
        }
        self.sum_micros.fetch_add(sum_micros, Ordering::Relaxed);
    }

    /// The counts per bucket (not cumulative) and the sum, in microseconds.
    pub fn read(&self) -> ([u64; BUCKETS], u64) {
        let counts = std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed));
        (counts, self.sum_micros.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_durations_in_their_buckets() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(10), 0, "bounds are inclusive, as Prometheus's le");
        assert_eq!(bucket_of(11), 1);
        assert_eq!(bucket_of(10_000_000), BUCKETS - 2);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        let h = Histogram::default();
        h.record(7);
        h.record(300);
        let mut more = [0; BUCKETS];
        more[bucket_of(300)] = 2;
        h.add(&more, 600);
        let (counts, sum) = h.read();
        assert_eq!(counts[0], 1);
        assert_eq!(counts[bucket_of(300)], 3);
        assert_eq!(counts.iter().sum::<u64>(), 4);
        assert_eq!(sum, 907);
    }
}
