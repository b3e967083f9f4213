//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4).
//!
//! The figures live where the server keeps them anyway (command counters, the log's
//! statistics, the keyspace), so they are rendered from there at scrape time rather than
//! mirrored into a registry. Names follow Prometheus conventions: the `flashdb_` prefix,
//! base units (seconds, bytes), `_total` for counters.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use flashdb_core::value::Value;
use flashdb_storage::histogram::{Histogram, BOUNDS_MICROS};

use crate::server::Server;

/// Most queues given a `flashdb_queue_messages` series (the deepest ones): bounded, so
/// that many queues cannot blow up the scrape or Prometheus's memory.
pub const MAX_QUEUE_SERIES: usize = 100;

/// A label value, escaped as the format wants (`\\`, `\"`, `\n`).
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, v: impl std::fmt::Display) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {v}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {v}");
        }
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, v: impl std::fmt::Display) {
        self.head(name, kind, help);
        self.sample(name, "", v);
    }

    fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.head(name, "histogram", help);
        let (counts, sum) = h.read();
        let mut cumulative = 0;
        for (i, bound) in BOUNDS_MICROS.iter().enumerate() {
            cumulative += counts[i];
            let le = *bound as f64 / 1e6;
            self.sample(
                &format!("{name}_bucket"),
                &format!("le=\"{le}\""),
                cumulative,
            );
        }
        cumulative += counts[BOUNDS_MICROS.len()];
        self.sample(&format!("{name}_bucket"), "le=\"+Inf\"", cumulative);
        self.sample(&format!("{name}_sum"), "", sum as f64 / 1e6);
        self.sample(&format!("{name}_count"), "", cumulative);
    }
}

/// The whole exposition.
pub fn render(server: &Server) -> String {
    let mut o = Out(String::with_capacity(16 * 1024));
    o.one(
        "flashdb_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        server.started.elapsed().as_secs(),
    );
    o.head(
        "flashdb_acl_denied_total",
        "counter",
        "Requests ACL rules refused, by reason: auth (wrong password, unknown or disabled user), command, key, channel.",
    );
    let d = &server.acl.denials;
    for (reason, n) in [
        ("auth", &d.auth),
        ("command", &d.command),
        ("key", &d.key),
        ("channel", &d.channel),
    ] {
        o.sample(
            "flashdb_acl_denied_total",
            &format!("reason=\"{reason}\""),
            n.load(Ordering::Relaxed),
        );
    }
    o.head(
        "flashdb_ratelimit_rejected_total",
        "counter",
        "Commands and HTTP requests refused by a rate limit: a user's (ratelimit= in its ACL rules) or the per-address one.",
    );
    for (limit, n) in [
        ("user", &server.ratelimits.rejected_user),
        ("address", &server.ratelimits.rejected_address),
    ] {
        o.sample(
            "flashdb_ratelimit_rejected_total",
            &format!("limit=\"{limit}\""),
            n.load(Ordering::Relaxed),
        );
    }
    o.head(
        "flashdb_commands_total",
        "counter",
        "Commands by name and result (ok, error: answered with an error, rejected: refused before running).",
    );
    for (spec, st) in flashdb_core::table::all_specs()
        .iter()
        .zip(server.cmdstats.iter())
    {
        let calls = st.calls.load(Ordering::Relaxed);
        let failed = st.failed.load(Ordering::Relaxed);
        let rejected = st.rejected.load(Ordering::Relaxed);
        if calls + rejected == 0 {
            continue;
        }
        let name = spec.name.replace('|', " ");
        for (result, n) in [
            ("ok", calls.saturating_sub(failed)),
            ("error", failed),
            ("rejected", rejected),
        ] {
            o.sample(
                "flashdb_commands_total",
                &format!("command=\"{}\",result=\"{result}\"", escape_label(&name)),
                n,
            );
        }
    }
    o.head(
        "flashdb_command_latency_seconds",
        "histogram",
        "Durations of each command that has run, in LATENCY HISTOGRAM's power-of-two buckets (1.024 us * 2^k).",
    );
    for (spec, st) in flashdb_core::table::all_specs()
        .iter()
        .zip(server.cmdstats.iter())
    {
        let (calls, cdf) = st.histogram.cumulative();
        if calls == 0 {
            continue;
        }
        let label = format!("command=\"{}\"", escape_label(&spec.name.replace('|', " ")));
        let mut at = cdf.iter().peekable();
        let mut cumulative = 0;
        for k in 0..crate::latency::HIST_BUCKETS - 1 {
            let bound = crate::latency::hist_label(k);
            while let Some(&&(l, n)) = at.peek() {
                if l > bound {
                    break;
                }
                cumulative = n;
                at.next();
            }
            let le = (1024u64 << k) as f64 / 1e9;
            o.sample(
                "flashdb_command_latency_seconds_bucket",
                &format!("{label},le=\"{le}\""),
                cumulative,
            );
        }
        o.sample(
            "flashdb_command_latency_seconds_bucket",
            &format!("{label},le=\"+Inf\""),
            calls,
        );
        let sum = st.usec.load(Ordering::Relaxed) as f64 / 1e6;
        o.sample("flashdb_command_latency_seconds_sum", &label, sum);
        o.sample("flashdb_command_latency_seconds_count", &label, calls);
    }
    o.histogram(
        "flashdb_command_duration_seconds",
        "Time spent running commands (a transaction counts once, as EXEC).",
        &server.cmd_latency,
    );
    o.one(
        "flashdb_connected_clients",
        "gauge",
        "RESP clients connected.",
        server.clients.lock().len(),
    );
    o.one(
        "flashdb_connections_total",
        "counter",
        "RESP connections accepted.",
        server.stats.connections.load(Ordering::Relaxed),
    );
    o.one(
        "flashdb_rejected_connections_total",
        "counter",
        "RESP connections refused because of maxclients.",
        server.stats.rejected_connections.load(Ordering::Relaxed),
    );
    o.one(
        "flashdb_net_input_bytes_total",
        "counter",
        "Bytes read from RESP clients.",
        server.stats.net_input.load(Ordering::Relaxed),
    );
    o.one(
        "flashdb_net_output_bytes_total",
        "counter",
        "Bytes written to RESP clients.",
        server.stats.net_output.load(Ordering::Relaxed),
    );
    let counts = server.ks.db_counts();
    o.head("flashdb_keys", "gauge", "Keys per database.");
    for (db, (keys, _)) in counts.iter().enumerate() {
        if *keys > 0 || db == 0 {
            o.sample("flashdb_keys", &format!("db=\"{db}\""), keys);
        }
    }
    o.head(
        "flashdb_keys_with_expiry",
        "gauge",
        "Keys with a TTL per database.",
    );
    for (db, (keys, expires)) in counts.iter().enumerate() {
        if *keys > 0 || db == 0 {
            o.sample("flashdb_keys_with_expiry", &format!("db=\"{db}\""), expires);
        }
    }
    let shard_stats = server.ks.stats();
    o.one(
        "flashdb_expired_keys_total",
        "counter",
        "Keys removed because their TTL passed.",
        shard_stats.expired,
    );
    o.one(
        "flashdb_keyspace_hits_total",
        "counter",
        "Reads that found their key.",
        shard_stats.hits,
    );
    o.one(
        "flashdb_keyspace_misses_total",
        "counter",
        "Reads that did not find their key.",
        shard_stats.misses,
    );
    o.one(
        "flashdb_memory_used_bytes",
        "gauge",
        "Bytes allocated by the server.",
        crate::alloc::allocated(),
    );
    o.one(
        "flashdb_memory_rss_bytes",
        "gauge",
        "Resident set size of the process.",
        crate::info::rss_bytes(),
    );
    o.one(
        "flashdb_loading",
        "gauge",
        "1 while the data set is being recovered.",
        u8::from(server.ks.loading()),
    );
    if let Some(p) = server.persistence.get() {
        let ws = p.wal.stats();
        o.one(
            "flashdb_log_written_bytes_total",
            "counter",
            "Bytes written to the write-ahead log.",
            ws.bytes_written.load(Ordering::Relaxed),
        );
        o.one(
            "flashdb_log_since_snapshot_bytes",
            "gauge",
            "Log bytes written since the last snapshot.",
            ws.bytes_since_snapshot.load(Ordering::Relaxed),
        );
        o.one(
            "flashdb_log_segments",
            "gauge",
            "Write-ahead log segment files.",
            p.wal.segment_count(),
        );
        o.histogram(
            "flashdb_log_fsync_duration_seconds",
            "Duration of the log's fsyncs.",
            &ws.fsync_latency,
        );
        o.one(
            "flashdb_log_failed",
            "gauge",
            "1 once a write or fsync of the log failed (writes are then refused).",
            u8::from(p.wal.poisoned().is_some()),
        );
        o.one(
            "flashdb_snapshots_total",
            "counter",
            "Snapshots written since start.",
            p.snapshots.load(Ordering::Relaxed),
        );
        o.one(
            "flashdb_snapshot_duration_seconds",
            "gauge",
            "Duration of the last snapshot.",
            p.last_duration_ms.load(Ordering::Relaxed) as f64 / 1e3,
        );
        let last = p.last_save.load(Ordering::Relaxed);
        o.one(
            "flashdb_snapshot_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful snapshot (start-up time before the first).",
            last,
        );
        o.one(
            "flashdb_snapshot_age_seconds",
            "gauge",
            "Seconds since the last successful snapshot.",
            (flashdb_core::keyspace::unix_ms() / 1000).saturating_sub(last),
        );
        o.one(
            "flashdb_snapshot_in_progress",
            "gauge",
            "1 while a snapshot is being written.",
            u8::from(p.snapshot_in_progress()),
        );
    }
    queue_series(server, &mut o);
    o.0
}

/// `(db, name, ready, leased, delayed)` of each queue, read one key at a time.
fn queues(server: &Server) -> Vec<(usize, Vec<u8>, usize, usize, usize)> {
    let mut found = Vec::new();
    let now = flashdb_core::keyspace::unix_ms();
    server.ks.retain_queue_names(|name| {
        let mut any = false;
        for db in 0..server.ks.databases() {
            let mut l = server.ks.lock_at(now, &[name]);
            if let Some(slot) = l.find(db, name) {
                if let Value::Queue(q) = &l.entry(slot).value {
                    any = true;
                    found.push((
                        db,
                        name.to_vec(),
                        q.ready_len(),
                        q.leased_len(),
                        q.delayed_len(),
                    ));
                }
            }
        }
        any
    });
    found
}

fn queue_series(server: &Server, o: &mut Out) {
    let mut all = queues(server);
    o.one(
        "flashdb_queues",
        "gauge",
        "Queues in all databases.",
        all.len(),
    );
    // The deepest queues get series; the rest are summed in `flashdb_queue_messages_other`.
    all.sort_by_key(|q| std::cmp::Reverse(q.2 + q.3 + q.4));
    o.head(
        "flashdb_queue_messages",
        "gauge",
        "Messages per queue and state (ready, leased, delayed), for the deepest queues.",
    );
    for (db, name, ready, leased, delayed) in all.iter().take(MAX_QUEUE_SERIES) {
        let name = escape_label(&String::from_utf8_lossy(name));
        for (state, n) in [("ready", ready), ("leased", leased), ("delayed", delayed)] {
            o.sample(
                "flashdb_queue_messages",
                &format!("db=\"{db}\",queue=\"{name}\",state=\"{state}\""),
                n,
            );
        }
    }
    let rest: usize = all
        .iter()
        .skip(MAX_QUEUE_SERIES)
        .map(|q| q.2 + q.3 + q.4)
        .sum();
    o.one(
        "flashdb_queue_messages_other",
        "gauge",
        "Messages in the queues that have no series of their own.",
        rest,
    );
}

#[utoipa::path(get, path = "/metrics", tag = "server",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
/// `GET /metrics`.
pub async fn serve(State(server): State<Arc<Server>>) -> Response {
    // Counting keys and reading queues takes every shard's lock in turn: off the workers.
    let s = server.clone();
    let text = match tokio::task::spawn_blocking(move || render(&s)).await {
        Ok(t) => t,
        Err(_) => render(&server),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::default();
        h.record(5);
        h.record(5_000);
        let mut o = Out(String::new());
        o.histogram("x_seconds", "help", &h);
        assert!(
            o.0.contains("x_seconds_bucket{le=\"0.00001\"} 1\n"),
            "{}",
            o.0
        );
        assert!(o.0.contains("x_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(o.0.contains("x_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(o.0.contains("x_seconds_sum 0.005005\n"));
        assert!(o.0.contains("x_seconds_count 2\n"));
    }
}
