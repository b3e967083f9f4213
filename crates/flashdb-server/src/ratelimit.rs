//! Rate limits: a token bucket per ACL user (`ratelimit=RATE/BURST` in its rules) and
//! one per client address (`ratelimit-per-address`), for RESP commands and HTTP requests
//! alike. Each bucket has a lock of its own, taken once per command of a limited client
//! (never a lock shared by all clients); unlimited clients pay one branch.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use flashdb_core::acl::RateLimit;
use parking_lot::Mutex;

/// One token bucket.
#[derive(Debug)]
pub struct Bucket {
    /// Tokens left, and when they were counted.
    state: Mutex<Option<(f64, Instant)>>,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            state: Mutex::new(None),
        }
    }
}

impl Bucket {
    /// Takes one token under `limit` (a new bucket starts full); `Err` is how many
    /// seconds until the next token.
    pub fn take(&self, limit: RateLimit) -> Result<(), f64> {
        self.take_up_to(limit, 1).map(|_| ())
    }

    /// Takes up to `n` tokens, at least one, under `limit`: how many it took, or `Err`
    /// with how many seconds until the next token.
    pub fn take_up_to(&self, limit: RateLimit, n: u32) -> Result<u32, f64> {
        let now = Instant::now();
        let rate = f64::from(limit.rate);
        let burst = f64::from(limit.burst);
        let mut st = self.state.lock();
        let tokens = match *st {
            None => burst,
            Some((t, at)) => {
                (t + now.saturating_duration_since(at).as_secs_f64() * rate).min(burst)
            }
        };
        if tokens >= 1.0 {
            let got = tokens.floor().min(f64::from(n.max(1)));
            *st = Some((tokens - got, now));
            Ok(got as u32)
        } else {
            *st = Some((tokens, now));
            Err((1.0 - tokens) / rate)
        }
    }
}

/// How many tokens a connection takes from a shared bucket at once, to spend on its
/// next commands without touching the bucket: at most a millisecond's worth of the rate
/// (so exactly one for limits under 2,000 per second), and 64.
pub fn chunk(limit: RateLimit) -> u32 {
    (limit.rate / 1000).clamp(1, 64)
}

const SHARDS: usize = 16;
/// Past this many addresses in a shard, those no connection holds and whose bucket is
/// full again are forgotten.
const SWEEP_AT: usize = 4096;

/// The per-address limit and buckets, and the counts of refusals.
#[derive(Debug)]
pub struct RateLimits {
    /// `rate << 32 | burst`; 0 when there is no per-address limit.
    per_address: AtomicU64,
    addresses: [Mutex<HashMap<IpAddr, Arc<Bucket>>>; SHARDS],
    /// Commands and requests refused by a user's limit.
    pub rejected_user: AtomicU64,
    /// Commands and requests refused by the per-address limit.
    pub rejected_address: AtomicU64,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_address: AtomicU64::new(0),
            addresses: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            rejected_user: AtomicU64::new(0),
            rejected_address: AtomicU64::new(0),
        }
    }
}

/// Parses `ratelimit-per-address`: `off` (or `0`, or empty) or `RATE[/BURST]`.
pub fn parse_setting(s: &str) -> Result<Option<RateLimit>, String> {
    match s.trim() {
        "" | "0" | "off" => Ok(None),
        t => RateLimit::parse(t.as_bytes()).map(Some).ok_or_else(|| {
            format!("must be off or RATE[/BURST] (commands per second, 1 to 1000000000), got {t:?}")
        }),
    }
}

impl RateLimits {
    /// Sets the per-address limit.
    pub fn set_per_address(&self, limit: Option<RateLimit>) {
        let v = limit.map_or(0, |l| u64::from(l.rate) << 32 | u64::from(l.burst));
        self.per_address.store(v, Ordering::Relaxed);
    }

    /// The per-address limit, if any.
    pub fn per_address(&self) -> Option<RateLimit> {
        let v = self.per_address.load(Ordering::Relaxed);
        (v != 0).then_some(RateLimit {
            rate: (v >> 32) as u32,
            burst: v as u32,
        })
    }

    /// The bucket of an address (made on first use).
    pub fn bucket_for(&self, ip: IpAddr) -> Arc<Bucket> {
        let shard = match ip {
            IpAddr::V4(a) => u32::from(a) as usize,
            IpAddr::V6(a) => u128::from(a) as usize,
        } % SHARDS;
        let mut map = self.addresses[shard].lock();
        if map.len() >= SWEEP_AT {
            map.retain(|_, b| Arc::strong_count(b) > 1);
        }
        map.entry(ip).or_default().clone()
    }
}

/// The error a RESP client gets for a command over a limit (nothing of it runs).
pub fn refusal_text(whose: &str, limit: RateLimit, wait: f64) -> String {
    format!(
        "ERR rate limit of {whose} reached ({} commands per second, bursts of {}): retry in {:.3} s",
        limit.rate, limit.burst, wait
    )
}
