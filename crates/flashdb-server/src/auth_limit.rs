//! Failed passwords per client address: after [`MAX_FAILURES`] wrong passwords within
//! [`WINDOW`], an address's `AUTH` (and `HELLO ... AUTH`) is refused for [`LOCKOUT`]
//! without being checked, so that guessing is slow however many attempts a client
//! pipelines. Redis has no such limit; a client that types a password wrong a few times
//! never meets it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Wrong passwords an address may send within [`WINDOW`].
pub const MAX_FAILURES: u32 = 20;
/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(10);
/// How long an address that passed the limit is refused.
pub const LOCKOUT: Duration = Duration::from_secs(10);
/// Addresses tracked at most; past it, those whose window is over are forgotten first.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

/// The failures of every address that failed recently.
#[derive(Debug, Default)]
pub struct AuthFailures {
    by_addr: Mutex<HashMap<IpAddr, Record>>,
}

impl AuthFailures {
    /// `Err` with the seconds left when `addr` is locked out.
    pub fn check(&self, addr: Option<IpAddr>) -> Result<(), u64> {
        let Some(addr) = addr else { return Ok(()) };
        let now = Instant::now();
        match self.by_addr.lock().get(&addr).and_then(|r| r.locked_until) {
            Some(until) if until > now => Err((until - now).as_secs().max(1)),
            _ => Ok(()),
        }
    }

    /// Counts a wrong password from `addr`.
    pub fn failed(&self, addr: Option<IpAddr>) {
        let Some(addr) = addr else { return };
        let now = Instant::now();
        let mut map = self.by_addr.lock();
        if map.len() >= MAX_TRACKED && !map.contains_key(&addr) {
            map.retain(|_, r| now.duration_since(r.since) < WINDOW || r.locked_until > Some(now));
            if map.len() >= MAX_TRACKED {
                // Full of addresses failing right now: the oldest window goes.
                if let Some(oldest) = map.iter().min_by_key(|(_, r)| r.since).map(|(a, _)| *a) {
                    map.remove(&oldest);
                }
            }
        }
        let r = map.entry(addr).or_insert(Record {
            failures: 0,
            since: now,
            locked_until: None,
        });
        if now.duration_since(r.since) >= WINDOW {
            *r = Record {
                failures: 0,
                since: now,
                locked_until: r.locked_until,
            };
        }
        r.failures += 1;
        if r.failures >= MAX_FAILURES {
            r.locked_until = Some(now + LOCKOUT);
            r.failures = 0;
            r.since = now;
            tracing::warn!(%addr, seconds = LOCKOUT.as_secs(), "too many wrong passwords; refusing AUTH from this address for a while");
        }
    }

    /// Forgets `addr`'s failures after a right password.
    pub fn succeeded(&self, addr: Option<IpAddr>) {
        if let Some(addr) = addr {
            self.by_addr.lock().remove(&addr);
        }
    }
}

/// The address part of a client's `ip:port`.
pub fn ip_of(addr: &str) -> Option<IpAddr> {
    addr.parse::<std::net::SocketAddr>().ok().map(|a| a.ip())
}
