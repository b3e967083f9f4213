//! Logging through `tracing`, with a level that `CONFIG SET log-level` can change.

use std::sync::OnceLock;

use tracing_subscriber::{reload, EnvFilter, Registry};

static RELOAD: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Installs the subscriber on standard error (standard output is kept for the
/// `listening ...` line that scripts read): `key=value` lines for people, or with `json`
/// one JSON object per line (`timestamp`, `level`, `target`, `fields`) for log collectors.
pub fn init(level: &str, json: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = filter(level);
    let (filter, handle) = reload::Layer::new(filter);
    let _ = RELOAD.set(handle);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .try_init()
    };
}

/// Changes the level at run time.
pub fn set_level(level: &str) {
    if let Some(h) = RELOAD.get() {
        let _ = h.reload(filter(level));
    }
}

/// The filter for `level`. openraft narrates normal protocol events (votes crossing,
/// messages of a past term ignored) at info and warn, and logs every failed message to an
/// unreachable peer as an error, many a second while a node is down; FlashDB logs what
/// matters of these itself (leadership won and lost, writes lost with it), so unless
/// debugging openraft speaks only of its other errors.
fn filter(level: &str) -> EnvFilter {
    match level {
        "debug" | "trace" => EnvFilter::new(level),
        _ => EnvFilter::new(format!("{level},openraft=error,openraft::replication=off")),
    }
}
