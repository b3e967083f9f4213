//! `POST /api/v1/backup`: an online backup, as `BACKUP dir` takes it (see
//! [`crate::backup`]), for the dashboard and for scripts that speak HTTP.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::json::JsonBody;
use crate::server::Server;

/// Body of `POST /api/v1/backup`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// Absolute path of the backup directory on the server's machine: created, or empty;
    /// outside the data directory.
    pub dir: String,
}

/// What the backup wrote.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupResponse {
    /// Always true.
    pub success: bool,
    /// The backup directory.
    pub dir: String,
    /// The log sequence number the backup holds the data as of.
    pub seq: u64,
    /// Size of the snapshot written, in bytes.
    pub bytes: u64,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

#[utoipa::path(post, path = "/api/v1/backup", tag = "server",
    request_body = BackupRequest,
    responses(
        (status = 200, description = "The backup is written and fsynced", body = BackupResponse),
        (status = 400, description = "Bad body, or a directory that is relative, not empty, or inside the data directory", body = super::openapi::ErrorResponse),
        (status = 409, description = "The server keeps no data directory (--persistence off)", body = super::openapi::ErrorResponse),
    ))]
/// `POST /api/v1/backup`: writes a consistent backup of the data set into `dir`.
pub async fn backup(
    State(server): State<Arc<Server>>,
    JsonBody(req): JsonBody<BackupRequest>,
) -> Result<Json<BackupResponse>, ApiError> {
    if server.persistence.get().is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "PERSISTENCE_OFF",
            "backups need a persisted server (--persistence on): a backup is a data directory",
        ));
    }
    let to = std::path::PathBuf::from(&req.dir);
    let srv = server.clone();
    let report = tokio::task::spawn_blocking(move || crate::backup::take(&srv, &to))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::invalid)?;
    Ok(Json(BackupResponse {
        success: true,
        dir: report.dir.to_string_lossy().into_owned(),
        seq: report.seq,
        bytes: report.bytes,
        duration_ms: report.duration_ms,
    }))
}
