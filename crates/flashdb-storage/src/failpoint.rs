//! Fault injection for tests: `FLASHDB_FAILPOINTS="wal-fsync=3"` makes the named operation
//! fail with an I/O error from its 3rd call on; `recovery-pause=500` makes recovery wait
//! 500 ms before it starts; `wal-write-pause=20` makes the log writer hold each batch
//! 20 ms before writing it. Unset (always, in production), a check is
//! one relaxed load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

fn points() -> &'static HashMap<String, (u64, AtomicU64)> {
    static POINTS: OnceLock<HashMap<String, (u64, AtomicU64)>> = OnceLock::new();
    POINTS.get_or_init(|| {
        let spec = std::env::var("FLASHDB_FAILPOINTS").unwrap_or_default();
        spec.split(',')
            .filter_map(|p| {
                let (name, n) = p.split_once('=')?;
                Some((
                    name.trim().to_string(),
                    (n.trim().parse().ok()?, AtomicU64::new(0)),
                ))
            })
            .collect()
    })
}

/// Sleeps for the number of milliseconds the failpoint `name` is set to, if it is (used to
/// hold recovery open long enough for a test to observe `-LOADING`).
pub fn pause(name: &str) {
    let points = points();
    if points.is_empty() {
        return;
    }
    if let Some((ms, _)) = points.get(name) {
        std::thread::sleep(std::time::Duration::from_millis(*ms));
    }
}

/// Fails with an injected I/O error if the failpoint `name` is armed and reached.
pub fn check(name: &str) -> std::io::Result<()> {
    let points = points();
    if points.is_empty() {
        return Ok(());
    }
    if let Some((from, calls)) = points.get(name) {
        let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= *from {
            return Err(std::io::Error::other(format!(
                "injected failure at failpoint {name}"
            )));
        }
    }
    Ok(())
}
