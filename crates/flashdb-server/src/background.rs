//! Background work on its own thread: active expiry, the snapshot trigger, and the
//! ops-per-second sample.
//!
//! Expiry reclaims keys nobody reads. Each pass removes at most a few hundred keys per shard
//! lock and a bounded number per pass, so that a million keys expiring at once is worked off
//! in small steps while clients keep being served.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::server::Server;

/// Keys removed per shard lock.
const PER_LOCK: usize = 256;
/// Keys removed per pass before sleeping or yielding.
const PER_PASS: usize = 20_000;

/// Starts the background thread; it stops when the server shuts down.
pub fn spawn(server: Arc<Server>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("flashdb-background".into())
        .spawn(move || {
            let mut last_sample = Instant::now();
            let mut last_ops = server.stats.commands.load(Ordering::Relaxed);
            while !server.shutting_down.load(Ordering::Relaxed) {
                // In a group only the leader expires keys: its deletions reach the others
                // through the log, so that every node removes the same keys.
                // Nor while CLIENT PAUSE holds writes back (as in Redis): a pause before a
                // failover must leave the data as it is.
                let paused = server
                    .paused_until(true, flashdb_core::keyspace::unix_ms())
                    .is_some();
                let may_expire = !paused
                    && server.active_expire.load(Ordering::Relaxed)
                    && (server.config.group.is_none()
                        || server.group.get().is_some_and(|g| g.is_ready_leader()));
                let (_, more) = if may_expire {
                    server.ks.active_expire(PER_LOCK, PER_PASS, |_| {})
                } else {
                    (0, false)
                };
                // Eviction that a command left unfinished (its time was up), or that a
                // lowered `maxmemory` calls for, goes on here.
                let evicting = server.eviction.excess().is_some()
                    && crate::evict::perform(&server, Some(crate::evict::BACKGROUND_SLICE))
                        == crate::evict::Outcome::Running;
                if let Some(p) = server.persistence.get() {
                    if p.snapshot_due() && !p.snapshot_in_progress() {
                        tracing::info!(
                            "log passed snapshot-threshold since the last snapshot; starting one"
                        );
                        p.spawn_snapshot(server.clone());
                    }
                }
                if last_sample.elapsed() >= Duration::from_secs(1) {
                    let ops = server.stats.commands.load(Ordering::Relaxed);
                    let secs = last_sample.elapsed().as_secs_f64();
                    server.ops_per_sec.store(
                        ((ops.saturating_sub(last_ops)) as f64 / secs) as u64,
                        Ordering::Relaxed,
                    );
                    last_ops = ops;
                    last_sample = Instant::now();
                }
                if more || evicting {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
}
