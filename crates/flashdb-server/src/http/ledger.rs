//! `/api/v1/ledger/...`: the ledger's commands over HTTP (see `LEDGER`), run through a
//! session as the request's user. Hashes are hex; a leaf's bytes, and a value that is
//! not UTF-8, are base64 (with `"..._encoding": "base64"` beside them).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use flashdb_protocol::Frame;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::IntoParams;

use super::error::ApiError;
use super::json::{frame_to_json, Encoding};
use super::session::Session;
use crate::server::Server;

/// Fields whose bytes are binary by nature: always base64.
const BINARY: &[&str] = &["leaf"];

/// Runs `LEDGER args...` in database `db`; an error reply becomes the fitting answer.
async fn ledger_frame(
    server: &Arc<Server>,
    db: usize,
    args: Vec<Vec<u8>>,
) -> Result<Frame, ApiError> {
    let mut session = Session::new(server, db)?;
    let mut cmd = vec![b"LEDGER".to_vec()];
    cmd.extend(args);
    match session.call(&cmd).await? {
        Frame::Error(msg) => {
            let msg = String::from_utf8_lossy(&msg).into_owned();
            if msg.starts_with("ERR the ledger is off") {
                return Err(ApiError::new(StatusCode::CONFLICT, "LEDGER_OFF", msg));
            }
            Err(ApiError::from_reply(&msg))
        }
        other => Ok(other),
    }
}

/// [`ledger_frame`], its map reply rendered as a JSON object.
async fn ledger(server: &Arc<Server>, db: usize, args: Vec<Vec<u8>>) -> Result<Value, ApiError> {
    Ok(render(&ledger_frame(server, db, args).await?))
}

fn render(f: &Frame) -> Value {
    match f {
        Frame::Map(pairs) => {
            let mut m = Map::new();
            m.insert("success".into(), Value::Bool(true));
            for (k, v) in pairs {
                let key = match k {
                    Frame::Bulk(b) | Frame::Simple(b) => {
                        String::from_utf8_lossy(b).replace('-', "_")
                    }
                    other => format!("{other:?}"),
                };
                match v {
                    Frame::Bulk(b)
                        if BINARY.contains(&key.as_str()) || std::str::from_utf8(b).is_err() =>
                    {
                        m.insert(
                            key.clone(),
                            Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
                        );
                        m.insert(format!("{key}_encoding"), Value::String("base64".into()));
                    }
                    _ => {
                        m.insert(key, frame_to_json(v, Encoding::Utf8));
                    }
                }
            }
            Value::Object(m)
        }
        Frame::Array(items) => Value::Array(items.iter().map(render).collect()),
        other => frame_to_json(other, Encoding::Utf8),
    }
}

/// The key of `/api/v1/ledger/history/{key}` and `/api/v1/ledger/key/{key}`: the last
/// path segment, percent-decoded as bytes (so that keys that are not UTF-8 work).
fn key_of(uri: &axum::http::Uri) -> Result<Vec<u8>, ApiError> {
    let segment = uri.path().rsplit('/').next().unwrap_or_default();
    let key: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
    if key.is_empty() {
        return Err(ApiError::invalid("missing key in the path"));
    }
    Ok(key)
}

fn num(n: u64) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// `?index=&size=` of a proof.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ProofParams {
    /// The leaf.
    pub index: u64,
    /// The tree size (default: the current size).
    pub size: Option<u64>,
}

/// `?first=&second=` of a consistency proof.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    /// The older tree's size.
    pub first: u64,
    /// The newer tree's size (default: the current size).
    pub second: Option<u64>,
}

/// `?index=` of a leaf.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LeafParams {
    /// The leaf.
    pub index: u64,
}

/// `?db=&limit=` of a key's history or verified read.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct KeyParams {
    /// The database, 0 by default.
    pub db: Option<usize>,
    /// History: most changes returned (1 to 1000, default 10).
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/ledger/root", tag = "ledger",
    responses(
        (status = 200, description = "`{\"size\", \"root\", \"base_seq\"}`", body = Object),
        (status = 409, description = "The ledger is off", body = super::openapi::ErrorResponse),
    ))]
/// `GET /api/v1/ledger/root`: `LEDGER ROOT`.
pub async fn root(State(server): State<Arc<Server>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(ledger(&server, 0, vec![b"ROOT".to_vec()]).await?))
}

#[utoipa::path(get, path = "/api/v1/ledger/proof", tag = "ledger", params(ProofParams),
    responses(
        (status = 200, description = "`{\"index\", \"size\", \"root\", \"leaf_hash\", \"proof\": [hex]}`", body = Object),
        (status = 400, description = "A leaf or size outside the tree", body = super::openapi::ErrorResponse),
        (status = 409, description = "The ledger is off", body = super::openapi::ErrorResponse),
    ))]
/// `GET /api/v1/ledger/proof`: `LEDGER PROVE`.
pub async fn proof(
    State(server): State<Arc<Server>>,
    Query(p): Query<ProofParams>,
) -> Result<Json<Value>, ApiError> {
    let mut args = vec![b"PROVE".to_vec(), num(p.index)];
    args.extend(p.size.map(num));
    Ok(Json(ledger(&server, 0, args).await?))
}

#[utoipa::path(get, path = "/api/v1/ledger/consistency", tag = "ledger", params(ConsistencyParams),
    responses(
        (status = 200, description = "`{\"first\", \"second\", \"first_root\", \"second_root\", \"proof\": [hex]}`", body = Object),
        (status = 400, description = "Sizes outside the tree", body = super::openapi::ErrorResponse),
        (status = 409, description = "The ledger is off", body = super::openapi::ErrorResponse),
    ))]
/// `GET /api/v1/ledger/consistency`: `LEDGER CONSISTENCY`.
pub async fn consistency(
    State(server): State<Arc<Server>>,
    Query(p): Query<ConsistencyParams>,
) -> Result<Json<Value>, ApiError> {
    let mut args = vec![b"CONSISTENCY".to_vec(), num(p.first)];
    args.extend(p.second.map(num));
    Ok(Json(ledger(&server, 0, args).await?))
}

#[utoipa::path(get, path = "/api/v1/ledger/leaf", tag = "ledger", params(LeafParams),
    responses(
        (status = 200, description = "`{\"index\", \"leaf\": base64}`", body = Object),
        (status = 400, description = "No index", body = super::openapi::ErrorResponse),
        (status = 404, description = "No such leaf", body = super::openapi::ErrorResponse),
        (status = 409, description = "The ledger is off", body = super::openapi::ErrorResponse),
    ))]
/// `GET /api/v1/ledger/leaf`: `LEDGER LEAF`.
pub async fn leaf(
    State(server): State<Arc<Server>>,
    Query(p): Query<LeafParams>,
) -> Result<Json<Value>, ApiError> {
    match ledger_frame(&server, 0, vec![b"LEAF".to_vec(), num(p.index)]).await? {
        Frame::Null => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no leaf {}", p.index),
        )),
        Frame::Bulk(bytes) => Ok(Json(serde_json::json!({
            "success": true,
            "index": p.index,
            "leaf": base64::engine::general_purpose::STANDARD.encode(bytes),
            "leaf_encoding": "base64",
        }))),
        other => Err(ApiError::internal(format!(
            "LEDGER LEAF answered {other:?}"
        ))),
    }
}

#[utoipa::path(post, path = "/api/v1/ledger/verify", tag = "ledger",
    responses(
        (status = 200, description = "`{\"size\", \"root\", \"first_bad\": index or null}`", body = Object),
        (status = 409, description = "The ledger is off", body = super::openapi::ErrorResponse),
    ))]
/// `POST /api/v1/ledger/verify`: `LEDGER VERIFY` (reads the whole history).
pub async fn verify(State(server): State<Arc<Server>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(ledger(&server, 0, vec![b"VERIFY".to_vec()]).await?))
}

#[utoipa::path(get, path = "/api/v1/ledger/history/{key}", tag = "ledger", params(KeyParams),
    responses(
        (status = 200, description = "`{\"versions\": [{\"index\", \"seq\", \"kind\", \"value\"}]}`, newest first", body = Object),
        (status = 400, description = "A bad limit", body = super::openapi::ErrorResponse),
        (status = 409, description = "The ledger is off", body = super::openapi::ErrorResponse),
    ))]
/// `GET /api/v1/ledger/history/{key}`: `LEDGER HISTORY`.
pub async fn history(
    State(server): State<Arc<Server>>,
    Path(_): Path<String>,
    uri: axum::http::Uri,
    Query(p): Query<KeyParams>,
) -> Result<Json<Value>, ApiError> {
    let key = key_of(&uri)?;
    let mut args = vec![b"HISTORY".to_vec(), key];
    if let Some(limit) = p.limit {
        args.extend([b"LIMIT".to_vec(), num(limit)]);
    }
    let versions = ledger(&server, p.db.unwrap_or(0), args).await?;
    Ok(Json(
        serde_json::json!({ "success": true, "versions": versions }),
    ))
}

#[utoipa::path(get, path = "/api/v1/ledger/key/{key}", tag = "ledger", params(KeyParams),
    responses(
        (status = 200, description = "`{\"value\", \"index\", \"size\", \"root\", \"leaf\": base64, \"proof\": [hex]}`: the value SET last wrote, proven", body = Object),
        (status = 400, description = "The key's last change is not a SET", body = super::openapi::ErrorResponse),
        (status = 404, description = "The ledger has no change of this key", body = super::openapi::ErrorResponse),
        (status = 409, description = "The ledger is off", body = super::openapi::ErrorResponse),
    ))]
/// `GET /api/v1/ledger/key/{key}`: `LEDGER GET`, a verified read.
pub async fn key(
    State(server): State<Arc<Server>>,
    Path(_): Path<String>,
    uri: axum::http::Uri,
    Query(p): Query<KeyParams>,
) -> Result<Json<Value>, ApiError> {
    let key = key_of(&uri)?;
    match ledger(
        &server,
        p.db.unwrap_or(0),
        vec![b"GET".to_vec(), key.clone()],
    )
    .await?
    {
        Value::Null => Err(ApiError::key_not_found(&key)),
        v => Ok(Json(v)),
    }
}
