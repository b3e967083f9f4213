//! Health, readiness and statistics: `/api/v1/healthz`, `/api/v1/readyz`, `/api/v1/stats`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::error::ApiError;
use crate::server::Server;

/// The answer of the health checks.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// Always true.
    pub success: bool,
    /// `ok` (healthz) or `ready` (readyz).
    pub status: String,
}

#[utoipa::path(get, path = "/api/v1/healthz", tag = "server",
    responses((status = 200, description = "The process serves", body = HealthResponse)))]
/// Liveness: answers as soon as the process serves HTTP.
pub async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse {
        success: true,
        status: "ok".into(),
    })
}

/// Whether recovery has finished (the data set is loaded and writes are logged).
pub fn is_ready(server: &Server) -> bool {
    !server.ks.loading() && (!server.config.persistence || server.persistence.get().is_some())
}

#[utoipa::path(get, path = "/api/v1/readyz", tag = "server",
    responses(
        (status = 200, description = "Recovery has finished", body = HealthResponse),
        (status = 503, description = "Still loading the data set", body = super::openapi::ErrorResponse),
    ))]
/// Readiness: only once recovery has finished.
pub async fn readyz(State(server): State<Arc<Server>>) -> Result<Json<HealthResponse>, ApiError> {
    if !is_ready(&server) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "LOADING",
            "the data set is still being loaded",
        ));
    }
    Ok(Json(HealthResponse {
        success: true,
        status: "ready".into(),
    }))
}

/// Server statistics.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsResponse {
    /// Always true.
    pub success: bool,
    /// Keys in all databases.
    pub keys: u64,
    /// Bytes allocated by the server.
    pub memory_bytes: u64,
    /// Connected RESP clients.
    pub clients: u64,
    /// Commands per second over the last second.
    pub ops_per_sec: u64,
    /// Whether recovery has finished.
    pub ready: bool,
    /// `INFO persistence`, as an object.
    #[schema(value_type = Object)]
    pub persistence: Value,
    /// Every section of `INFO everything`, as objects of their fields (numbers as numbers;
    /// `db0`'s `keys=1,expires=0` as an object).
    #[schema(value_type = Object)]
    pub info: Value,
}

/// The summary figures and every `INFO` section, as the stats route and the WebSocket's
/// `stats` messages give them.
pub fn stats_of(server: &Server) -> StatsResponse {
    let text = crate::info::render(server, &[b"everything"], None);
    let info = parse_info(&text);
    let keys = server.ks.db_counts().iter().map(|(n, _)| *n as u64).sum();
    StatsResponse {
        success: true,
        keys,
        memory_bytes: crate::alloc::allocated() as u64,
        clients: server.clients.lock().len() as u64,
        ops_per_sec: server.ops_per_sec.load(Ordering::Relaxed),
        ready: is_ready(server),
        persistence: info.get("persistence").cloned().unwrap_or(json!({})),
        info,
    }
}

#[utoipa::path(get, path = "/api/v1/stats", tag = "server",
    responses((status = 200, description = "What INFO reports, as JSON", body = StatsResponse)))]
/// `GET /api/v1/stats`.
pub async fn stats(State(server): State<Arc<Server>>) -> Json<StatsResponse> {
    // INFO walks every shard for its keyspace figures: off the async workers.
    let s = server.clone();
    match tokio::task::spawn_blocking(move || stats_of(&s)).await {
        Ok(stats) => Json(stats),
        Err(_) => Json(stats_of(&server)),
    }
}

/// `INFO`'s text as JSON: `{"server": {"redis_version": "7.0.15", ...}, ...}`.
pub fn parse_info(text: &str) -> Value {
    let mut sections = Map::new();
    let mut current: Option<(String, Map<String, Value>)> = None;
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(title) = line.strip_prefix("# ") {
            if let Some((name, fields)) = current.take() {
                sections.insert(name, Value::Object(fields));
            }
            current = Some((title.to_ascii_lowercase(), Map::new()));
        } else if let Some((k, v)) = line.split_once(':') {
            if let Some((_, fields)) = current.as_mut() {
                fields.insert(k.to_string(), info_value(v));
            }
        }
    }
    if let Some((name, fields)) = current.take() {
        sections.insert(name, Value::Object(fields));
    }
    Value::Object(sections)
}

fn info_value(v: &str) -> Value {
    if let Ok(n) = v.parse::<i64>() {
        return Value::from(n);
    }
    if let Ok(n) = v.parse::<u64>() {
        return Value::from(n);
    }
    if v.contains('.') {
        if let Some(n) = v.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            return Value::Number(n);
        }
    }
    // `keys=1,expires=0,avg_ttl=0` (keyspace, commandstats): an object.
    if v.contains('=') && !v.contains(' ') {
        let mut m = Map::new();
        for part in v.split(',') {
            match part.split_once('=') {
                Some((k, x)) => {
                    m.insert(k.to_string(), info_value(x));
                }
                None => return Value::String(v.to_string()),
            }
        }
        return Value::Object(m);
    }
    Value::String(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_text_becomes_objects() {
        let text = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:12\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n# Stats\r\nratio:0.50\r\n";
        assert_eq!(
            parse_info(text),
            json!({
                "server": {"redis_version": "7.0.15", "uptime_in_seconds": 12},
                "keyspace": {"db0": {"keys": 3, "expires": 1, "avg_ttl": 0}},
                "stats": {"ratio": 0.5},
            })
        );
    }
}
