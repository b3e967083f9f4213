//! The latency monitor (`LATENCY LATEST|HISTORY|RESET|DOCTOR|GRAPH`), as Redis's
//! `latency.c`: events that took at least `latency-monitor-threshold` milliseconds,
//! one sample per second (the worst), the last 160 kept per event; and the per-command
//! latency histograms of `LATENCY HISTOGRAM` (and `/metrics`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Samples kept per event.
const SAMPLES: usize = 160;

/// One event's samples.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// (Unix seconds, milliseconds), oldest first.
    pub samples: Vec<(u64, u64)>,
    /// The largest latency ever recorded.
    pub max: u64,
}

/// The latency monitor.
#[derive(Debug, Default)]
pub struct LatencyMonitor {
    events: Mutex<BTreeMap<&'static str, Series>>,
    /// `latency-monitor-threshold` in milliseconds; 0 turns the monitor off.
    pub threshold_ms: AtomicU64,
}

impl LatencyMonitor {
    /// Records `ms` for `event` if the monitor is on and `ms` reaches the threshold.
    pub fn observe(&self, event: &'static str, ms: u64) {
        let t = self.threshold_ms.load(Ordering::Relaxed);
        if t > 0 && ms >= t {
            self.add(event, ms, flashdb_core::keyspace::unix_ms() / 1000);
        }
    }

    /// Adds a sample at Unix second `now` (Redis's `latencyAddSample`).
    pub fn add(&self, event: &'static str, ms: u64, now: u64) {
        let mut events = self.events.lock();
        let s = events.entry(event).or_default();
        s.max = s.max.max(ms);
        if let Some(last) = s.samples.last_mut() {
            if last.0 == now {
                last.1 = last.1.max(ms);
                return;
            }
        }
        if s.samples.len() == SAMPLES {
            s.samples.remove(0);
        }
        s.samples.push((now, ms));
    }

    /// Every event with its series, by name.
    pub fn all(&self) -> Vec<(&'static str, Series)> {
        self.events
            .lock()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    /// One event's series.
    pub fn series(&self, event: &[u8]) -> Option<Series> {
        let events = self.events.lock();
        events
            .iter()
            .find(|(k, _)| k.as_bytes() == event)
            .map(|(_, v)| v.clone())
    }

    /// Forgets the named events (all with an empty list); how many there were.
    pub fn reset(&self, names: &[&[u8]]) -> usize {
        let mut events = self.events.lock();
        if names.is_empty() {
            let n = events.len();
            events.clear();
            return n;
        }
        let before = events.len();
        events.retain(|k, _| !names.iter().any(|n| n.eq_ignore_ascii_case(k.as_bytes())));
        before - events.len()
    }

    /// `LATENCY DOCTOR`'s report.
    pub fn doctor(&self) -> String {
        let events = self.all();
        if self.threshold_ms.load(Ordering::Relaxed) == 0 && events.is_empty() {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
        }
        if events.is_empty() {
            return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".into();
        }
        let mut out = String::from(
            "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
        );
        for (i, (name, s)) in events.iter().enumerate() {
            let n = s.samples.len() as u64;
            let sum: u64 = s.samples.iter().map(|x| x.1).sum();
            let avg = sum / n.max(1);
            let period = match (s.samples.first(), s.samples.last()) {
                (Some(a), Some(b)) if n > 1 => (b.0 - a.0) / (n - 1),
                _ => 0,
            };
            out.push_str(&format!(
                "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {} sec). Worst all time event {}ms.\n",
                i + 1,
                name,
                n,
                avg,
                s.samples.iter().map(|x| x.1.abs_diff(avg)).sum::<u64>() / n.max(1),
                period,
                s.max
            ));
        }
        out.push_str("\nI have a few advices for you:\n\n");
        if events.iter().any(|(n, _)| *n == "command") {
            out.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if events.iter().any(|(n, _)| *n == "fast-command") {
            out.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to: 1) Lower the system load. 2) Use a computer / VM just for Redis if you are running other software in the same system. 3) Check if you have a \"noisy neighbour\" problem. 4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system. 5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if events.iter().any(|(n, _)| n.contains("fsync")) {
            out.push_str("- The log's fsync is slow: the disk is slow or shared. Consider a faster disk, or --appendfsync everysec, which acknowledges writes before their fsync.\n");
        }
        out
    }

    /// `LATENCY GRAPH`: the event's samples as a chart of `#` columns, oldest on the
    /// left, each column labelled with how long ago it was.
    pub fn graph(&self, event: &[u8]) -> Option<String> {
        let s = self.series(event)?;
        let name = String::from_utf8_lossy(event);
        let (lo, hi) = s
            .samples
            .iter()
            .fold((u64::MAX, 0), |(lo, hi), x| (lo.min(x.1), hi.max(x.1)));
        let mut out = format!(
            "{name} - high {hi} ms, low {lo} ms (all time high {} ms)\n",
            s.max
        );
        out.push_str(&"-".repeat(80));
        out.push('\n');
        const ROWS: u64 = 4;
        for row in (1..=ROWS).rev() {
            let line: String = s
                .samples
                .iter()
                .map(|x| {
                    let level = if hi == lo {
                        ROWS
                    } else {
                        1 + (x.1 - lo) * (ROWS - 1) / (hi - lo)
                    };
                    if level >= row {
                        '#'
                    } else {
                        ' '
                    }
                })
                .collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let now = flashdb_core::keyspace::unix_ms() / 1000;
        let ago: Vec<String> = s
            .samples
            .iter()
            .map(|x| format!("{}s", now.saturating_sub(x.0)))
            .collect();
        let width = ago.iter().map(String::len).max().unwrap_or(0);
        for i in 0..width {
            let line: String = ago
                .iter()
                .map(|a| a.chars().nth(i).unwrap_or(' '))
                .collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        Some(out)
    }
}

/// Buckets of a command's latency histogram: bucket `k` holds durations below
/// 1024·2^k nanoseconds, as the logarithmic iteration Redis reports (1, 2, 4, 8, 16, 32,
/// 65, 131, ... µs).
pub const HIST_BUCKETS: usize = 32;

/// The bucket of a duration in microseconds.
pub fn hist_bucket(micros: u64) -> usize {
    // ns < 1024·2^k exactly when ns / 1024 < 2^k: k is the bit length of ns / 1024.
    let q = micros.saturating_mul(1000) >> 10;
    ((u64::BITS - q.leading_zeros()) as usize).min(HIST_BUCKETS - 1)
}

/// The label Redis gives bucket `k`: the highest microsecond it holds.
pub fn hist_label(k: usize) -> u64 {
    ((1024u64 << k) - 1) / 1000
}

/// One command's latency histogram.
#[derive(Debug, Default)]
pub struct CommandHistogram {
    counts: [AtomicU64; HIST_BUCKETS],
}

impl CommandHistogram {
    /// Adds counts gathered per bucket.
    pub fn add(&self, counts: &[u32; HIST_BUCKETS]) {
        for (slot, &n) in self.counts.iter().zip(counts) {
            if n > 0 {
                slot.fetch_add(u64::from(n), Ordering::Relaxed);
            }
        }
    }

    /// The cumulative distribution: (label in µs, calls at or below it), only where it
    /// grows, as Redis replies; and the total.
    pub fn cumulative(&self) -> (u64, Vec<(u64, u64)>) {
        let mut total = 0;
        let mut out = Vec::new();
        for (k, c) in self.counts.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            if n > 0 {
                total += n;
                out.push((hist_label(k), total));
            }
        }
        (total, out)
    }

    /// Forgets every count (`CONFIG RESETSTAT`).
    pub fn reset(&self) {
        for c in &self.counts {
            c.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_the_worst_per_second_and_the_last_160() {
        let m = LatencyMonitor::default();
        m.add("command", 5, 100);
        m.add("command", 9, 100);
        m.add("command", 3, 100);
        m.add("command", 2, 101);
        let s = m.series(b"command").unwrap();
        assert_eq!(s.samples, vec![(100, 9), (101, 2)]);
        assert_eq!(s.max, 9);
        for t in 0..200 {
            m.add("fast-command", 1, 1000 + t);
        }
        assert_eq!(m.series(b"fast-command").unwrap().samples.len(), 160);
        assert_eq!(m.reset(&[b"COMMAND"]), 1);
        assert_eq!(m.reset(&[]), 1);
        assert!(m.all().is_empty());
    }

    #[test]
    fn histogram_buckets_follow_redis_s_labels() {
        assert_eq!(hist_bucket(0), 0);
        assert_eq!(hist_bucket(1), 0);
        assert_eq!(hist_bucket(2), 1);
        assert_eq!(hist_bucket(3), 2);
        assert_eq!(
            (0..8).map(hist_label).collect::<Vec<_>>(),
            vec![1, 2, 4, 8, 16, 32, 65, 131]
        );
        let h = CommandHistogram::default();
        let mut c = [0u32; HIST_BUCKETS];
        c[hist_bucket(1)] += 2;
        c[hist_bucket(100)] += 1;
        h.add(&c);
        assert_eq!(h.cumulative(), (3, vec![(1, 2), (131, 3)]));
    }
}
