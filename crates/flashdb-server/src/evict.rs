//! `maxmemory`: keys are evicted before a command runs whenever the memory in use is over
//! the limit, as Redis's `performEvictions` does, and writes are refused with `-OOM` when
//! nothing can be evicted.
//!
//! Memory is what the allocator holds (`used_memory`), less the key-table slots that
//! deleted keys left behind for new ones: FlashDB's tables keep their slots (a `SCAN`
//! cursor is a slot number), so evicting a small key frees little else, and counting
//! its slot as used would evict nearly everything once memory first reached the limit
//! (measured: 18,000 of 660,000 keys left). How much an eviction frees is the
//! evicted key's estimated size rather than the allocator's difference: other threads
//! allocate meanwhile, and a small key's slot stays allocated for the next key to reuse,
//! so the difference would read as nothing freed and evict far too much.
//!
//! One eviction runs at a time. It stops after the time `maxmemory-eviction-tenacity`
//! allows (500 µs by default, as in Redis); the background thread then goes on, so that
//! the command that found memory over the limit is not held up longer.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use flashdb_core::keyspace::Policy;
use parking_lot::Mutex;

use crate::server::Server;

/// What an eviction attempt achieved, as Redis's `EVICT_OK|RUNNING|FAIL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Memory is under the limit (or there is no limit, or evicting is not this node's
    /// job now).
    Ok,
    /// Eviction freed what it could in its time and goes on in the background.
    Running,
    /// Memory is over the limit and nothing may be evicted.
    Fail,
}

/// The `maxmemory` settings and eviction statistics.
#[derive(Debug)]
pub struct Eviction {
    /// `maxmemory` in bytes (0: no limit).
    pub maxmemory: AtomicU64,
    policy: AtomicU8,
    /// `maxmemory-samples`.
    pub samples: AtomicU32,
    /// `maxmemory-eviction-tenacity`.
    pub tenacity: AtomicU32,
    /// One eviction at a time.
    running: Mutex<()>,
    /// Since when memory has been over the limit without eviction bringing it back, in
    /// microseconds from `origin` plus one (0: it is not).
    exceeded_since: AtomicU64,
    origin: Instant,
    /// Microseconds memory was over the limit, in periods that have ended.
    exceeded_total_us: AtomicU64,
}

impl Eviction {
    /// Settings as configured at start-up.
    pub fn new(maxmemory: u64, policy: Policy) -> Eviction {
        let e = Eviction {
            maxmemory: AtomicU64::new(maxmemory),
            policy: AtomicU8::new(0),
            samples: AtomicU32::new(5),
            tenacity: AtomicU32::new(10),
            running: Mutex::new(()),
            exceeded_since: AtomicU64::new(0),
            origin: Instant::now(),
            exceeded_total_us: AtomicU64::new(0),
        };
        e.set_policy(policy);
        e
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        Policy::ALL[usize::from(self.policy.load(Ordering::Relaxed)) % Policy::ALL.len()]
    }

    /// Changes the policy (`CONFIG SET maxmemory-policy`).
    pub fn set_policy(&self, policy: Policy) {
        let i = Policy::ALL.iter().position(|&p| p == policy).unwrap_or(0);
        self.policy.store(i as u8, Ordering::Relaxed);
    }

    /// Bytes over the limit, or `None` when under it or when there is no limit.
    pub fn excess(&self) -> Option<u64> {
        let max = self.maxmemory.load(Ordering::Relaxed);
        if max == 0 {
            return None;
        }
        let used = counted();
        (used > max).then(|| used - max)
    }

    /// How long one eviction may run, as Redis's `evictionTimeLimitUs`: 50 µs per step
    /// of tenacity up to 10, then 15% more per step, and no limit at 100.
    fn time_limit(&self) -> Option<Duration> {
        let t = self.tenacity.load(Ordering::Relaxed);
        match t {
            0..=10 => Some(Duration::from_micros(50 * u64::from(t))),
            11..=99 => Some(Duration::from_micros(
                (500.0 * 1.15f64.powi(t as i32 - 10)) as u64,
            )),
            _ => None,
        }
    }

    /// Microseconds memory has been over the limit: `(in ended periods, in the current
    /// one)`, for `INFO`'s `total_eviction_exceeded_time` and
    /// `current_eviction_exceeded_time`.
    pub fn exceeded_us(&self) -> (u64, u64) {
        let since = self.exceeded_since.load(Ordering::Relaxed);
        let current = if since == 0 {
            0
        } else {
            self.now_us().saturating_sub(since)
        };
        (
            self.exceeded_total_us.load(Ordering::Relaxed) + current,
            current,
        )
    }

    /// Forgets the time spent over the limit (`CONFIG RESETSTAT`).
    pub fn reset_stats(&self) {
        self.exceeded_total_us.store(0, Ordering::Relaxed);
        let now = self.now_us();
        let _ = self
            .exceeded_since
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                (s != 0).then_some(now)
            });
    }

    /// Microseconds since `origin`, plus one so that 0 never means a time.
    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64 + 1
    }

    fn note(&self, outcome: Outcome) {
        let since = &self.exceeded_since;
        if outcome == Outcome::Ok {
            let was = since.swap(0, Ordering::Relaxed);
            if was != 0 {
                self.exceeded_total_us
                    .fetch_add(self.now_us().saturating_sub(was), Ordering::Relaxed);
            }
        } else {
            let _ = since.compare_exchange(0, self.now_us(), Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

/// The memory `maxmemory` limits: what the allocator holds, less the key slots that
/// deleted keys left for new ones (see `flashdb_core::db::vacant_bytes`), which `INFO`
/// reports as `mem_not_counted_for_evict`.
pub fn counted() -> u64 {
    crate::alloc::allocated().saturating_sub(flashdb_core::db::vacant_bytes()) as u64
}

/// Whether this node evicts now: not while loading, not on a replica (its leader's
/// deletions arrive through the log), and not while `CLIENT PAUSE` holds writes back.
fn may_evict(server: &Server) -> bool {
    !server.ks.loading()
        && !server.ks.replica()
        && (server.config.group.is_none()
            || server.group.get().is_some_and(|g| g.is_ready_leader()))
        && server
            .paused_until(true, flashdb_core::keyspace::unix_ms())
            .is_none()
}

/// Evicts keys until memory is back under `maxmemory` or the time limit passes.
/// `limit`: the time allowed (`None`: `maxmemory-eviction-tenacity`'s).
pub fn perform(server: &Server, limit: Option<Duration>) -> Outcome {
    let ev = &server.eviction;
    // The fast path of every command while memory is fine.
    if ev.excess().is_none() {
        if ev.exceeded_since.load(Ordering::Relaxed) != 0 {
            ev.note(Outcome::Ok);
        }
        return Outcome::Ok;
    };
    if !may_evict(server) {
        return Outcome::Ok;
    }
    let policy = ev.policy();
    if policy == Policy::NoEviction {
        ev.note(Outcome::Fail);
        return Outcome::Fail;
    }
    let _one = ev.running.lock();
    // Another thread may have evicted while this one waited.
    let Some(to_free) = ev.excess() else {
        return Outcome::Ok;
    };
    let limit = limit.or_else(|| ev.time_limit());
    let samples = ev.samples.load(Ordering::Relaxed) as usize;
    let start = Instant::now();
    let mut freed = 0u64;
    let mut keys = 0u64;
    let mut outcome = Outcome::Ok;
    while freed < to_free {
        match server.ks.evict_one(policy, samples) {
            Some(n) => freed += n as u64,
            None => {
                outcome = Outcome::Fail;
                break;
            }
        }
        keys += 1;
        if keys.is_multiple_of(16) && limit.is_some_and(|l| start.elapsed() > l) {
            outcome = Outcome::Running;
            break;
        }
    }
    server
        .latency
        .observe("eviction-cycle", start.elapsed().as_millis() as u64);
    // Nothing left to evict, but enough went to bring memory under the limit.
    if outcome == Outcome::Fail && ev.excess().is_none() {
        outcome = Outcome::Ok;
    }
    ev.note(outcome);
    outcome
}

/// The error a write gets when memory is over the limit and nothing can be evicted.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Time the background thread spends evicting per pass while memory is over the limit.
pub const BACKGROUND_SLICE: Duration = Duration::from_millis(2);
