//! The slow log and the latency monitor over HTTP: `GET /api/v1/slowlog` and
//! `GET /api/v1/latency`, the JSON forms of `SLOWLOG GET` and `LATENCY LATEST`,
//! `HISTORY` and `HISTOGRAM`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use crate::server::Server;

/// Most slow-log entries one request returns.
const MAX_ENTRIES: usize = 100_000;

/// Query of `GET /api/v1/slowlog`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SlowlogParams {
    /// Newest entries to return (default 10, as `SLOWLOG GET`).
    pub count: Option<usize>,
}

/// One slow command.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlowlogEntry {
    /// Increasing id.
    pub id: u64,
    /// Unix time in seconds.
    pub timestamp: u64,
    /// How long it ran, in microseconds.
    pub duration_us: u64,
    /// Its arguments, name first (long ones shortened, passwords redacted), as text
    /// with invalid UTF-8 replaced.
    pub args: Vec<String>,
    /// Client address.
    pub client_addr: String,
    /// Client name.
    pub client_name: String,
}

/// The slow log.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlowlogResponse {
    /// Always true.
    pub success: bool,
    /// Entries in the log.
    pub len: usize,
    /// `slowlog-log-slower-than` in microseconds (negative: off).
    pub slower_than_us: i64,
    /// `slowlog-max-len`.
    pub max_len: u64,
    /// The newest entries, newest first.
    pub entries: Vec<SlowlogEntry>,
}

#[utoipa::path(get, path = "/api/v1/slowlog", tag = "server", params(SlowlogParams),
    responses(
        (status = 200, description = "The newest slow commands", body = SlowlogResponse),
        (status = 400, description = "A bad count", body = super::openapi::ErrorResponse),
    ))]
/// `GET /api/v1/slowlog`: what `SLOWLOG GET` answers.
pub async fn slowlog(
    State(server): State<Arc<Server>>,
    Query(p): Query<SlowlogParams>,
) -> Result<Json<SlowlogResponse>, ApiError> {
    let count = p.count.unwrap_or(10);
    if count > MAX_ENTRIES {
        return Err(ApiError::invalid(format!(
            "count must be at most {MAX_ENTRIES}"
        )));
    }
    let log = &server.slowlog;
    let entries = log
        .newest(Some(count))
        .into_iter()
        .map(|e| SlowlogEntry {
            id: e.id,
            timestamp: e.time,
            duration_us: e.micros,
            args: e
                .args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            client_addr: e.addr,
            client_name: e.name,
        })
        .collect();
    Ok(Json(SlowlogResponse {
        success: true,
        len: log.len(),
        slower_than_us: log.slower_than.load(std::sync::atomic::Ordering::Relaxed),
        max_len: log.max_len.load(std::sync::atomic::Ordering::Relaxed),
        entries,
    }))
}

/// One monitored event.
#[derive(Debug, Serialize, ToSchema)]
pub struct LatencyEvent {
    /// `command` or `fast-command`.
    pub event: String,
    /// Unix time in seconds of the latest sample.
    pub latest_time: u64,
    /// The latest sample, in milliseconds.
    pub latest_ms: u64,
    /// The worst ever, in milliseconds.
    pub max_ms: u64,
    /// Up to 160 samples, oldest first: `[unix seconds, milliseconds]`.
    pub history: Vec<[u64; 2]>,
}

/// One command's latency distribution.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandLatency {
    /// The command (`container|sub` for a subcommand).
    pub command: String,
    /// Calls recorded.
    pub calls: u64,
    /// Cumulative distribution: `[microseconds, calls at or below]`, as `LATENCY
    /// HISTOGRAM`'s `histogram_usec`.
    pub histogram_usec: Vec<[u64; 2]>,
}

/// The latency monitor and the per-command histograms.
#[derive(Debug, Serialize, ToSchema)]
pub struct LatencyResponse {
    /// Always true.
    pub success: bool,
    /// `latency-monitor-threshold` in milliseconds (0: off).
    pub threshold_ms: u64,
    /// Events seen at or above the threshold.
    pub events: Vec<LatencyEvent>,
    /// Every command that has run.
    pub commands: Vec<CommandLatency>,
}

#[utoipa::path(get, path = "/api/v1/latency", tag = "server",
    responses((status = 200, description = "Latency events and per-command histograms", body = LatencyResponse)))]
/// `GET /api/v1/latency`: what `LATENCY LATEST`, `HISTORY` and `HISTOGRAM` answer.
pub async fn latency(State(server): State<Arc<Server>>) -> Json<LatencyResponse> {
    let events = server
        .latency
        .all()
        .into_iter()
        .map(|(event, s)| {
            let (latest_time, latest_ms) = s.samples.last().copied().unwrap_or_default();
            LatencyEvent {
                event: event.to_string(),
                latest_time,
                latest_ms,
                max_ms: s.max,
                history: s.samples.iter().map(|&(t, ms)| [t, ms]).collect(),
            }
        })
        .collect();
    let commands = flashdb_core::table::all_specs()
        .iter()
        .filter_map(|spec| {
            let stat = &server.cmdstats[flashdb_core::table::command_index(spec)];
            let (calls, cdf) = stat.histogram.cumulative();
            (calls > 0).then(|| CommandLatency {
                command: spec.name.to_string(),
                calls,
                histogram_usec: cdf.into_iter().map(|(us, n)| [us, n]).collect(),
            })
        })
        .collect();
    Json(LatencyResponse {
        success: true,
        threshold_ms: server
            .latency
            .threshold_ms
            .load(std::sync::atomic::Ordering::Relaxed),
        events,
        commands,
    })
}
