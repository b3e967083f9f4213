//! Keys and commands: `/api/v1/key/{key}`, `/api/v1/keys`, `/api/v1/execute`, and the
//! original store's `/api/kv` routes.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::Json;
use flashdb_core::value::Value as Stored;
use flashdb_protocol::Frame;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::json::{arg, double, frame_is_binary, frame_to_json, Encoding, JsonBody};
use super::path_name;
use super::session::{connection_only, Session};
use crate::server::Server;

/// The database a route works on.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DbParam {
    /// Database number (`SELECT`), 0 by default.
    pub db: Option<usize>,
}

/// A key's type, TTL and value.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyResponse {
    /// Always true.
    pub success: bool,
    /// The key (base64 when `encoding` says so).
    pub key: String,
    /// `string`, `hash`, `list`, `set`, `zset` or `queue`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Milliseconds left to live; null when the key does not expire.
    pub ttl_ms: Option<u64>,
    /// A string; an object for a hash; an array for a list or set; `[{"member","score"}]`
    /// for a sorted set; the `QINFO` figures for a queue.
    pub value: Value,
    /// `base64` when the key or a string of the value is not UTF-8 (then all are base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

/// What a key held, copied out under its shard's lock.
enum Snapshot {
    Str(Vec<u8>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, f64)>),
    Queue,
    /// The stream's length and its first entries (id, field-value pairs).
    Stream(u64, Vec<flashdb_core::types::stream::Entry>),
}

/// Entries `GET /api/v1/key/{key}` shows of a stream, from its start.
const STREAM_ENTRIES_SHOWN: usize = 100;

/// On a group node, waits until this node's memory is recent enough for a linearizable
/// read: a route that reads it directly then answers as a read through the leader would
/// (unless the node serves stale reads, `--replica-read stale`).
pub(super) async fn linearizable(server: &Server) -> Result<(), ApiError> {
    let Some(g) = server.group.get() else {
        return Ok(());
    };
    let stale_ok = server.config.group.as_ref().is_some_and(|c| c.stale_reads);
    if stale_ok && !g.is_ready_leader() {
        return Ok(());
    }
    g.linearizable_point()
        .await
        .map_err(|e| ApiError::from_reply(&format!("TRYAGAIN {e}")))
}

fn ready(server: &Server) -> Result<(), ApiError> {
    if server.ks.loading() {
        return Err(ApiError::from_reply(
            "LOADING Redis is loading the dataset in memory",
        ));
    }
    Ok(())
}

/// Reads a key's value and TTL in one look at its shard.
fn read_key(server: &Server, db: usize, key: &[u8]) -> Option<(Snapshot, Option<u64>)> {
    let now = flashdb_core::keyspace::unix_ms();
    let mut locked = server.ks.lock_at(now, &[key]);
    let slot = locked.find_read(db, key)?;
    let entry = locked.entry(slot);
    let ttl = (entry.expire_at != 0).then(|| entry.expire_at.saturating_sub(now));
    let snap = match &entry.value {
        Stored::Str(s) => Snapshot::Str(s.as_slice().to_vec()),
        Stored::Hash(h) => {
            Snapshot::Hash(h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect())
        }
        Stored::List(l) => Snapshot::List(l.iter().map(<[u8]>::to_vec).collect()),
        Stored::Set(s) => Snapshot::Set(s.iter().map(|m| m.into_owned()).collect()),
        Stored::ZSet(z) => Snapshot::ZSet(z.iter().map(|(m, sc)| (m.to_vec(), sc)).collect()),
        Stored::Queue(_) => Snapshot::Queue,
        Stored::Stream(s) => Snapshot::Stream(
            s.len(),
            s.range(
                flashdb_core::types::stream::StreamId::MIN,
                flashdb_core::types::stream::StreamId::MAX,
                STREAM_ENTRIES_SHOWN,
                false,
            ),
        ),
    };
    Some((snap, ttl))
}

#[utoipa::path(get, path = "/api/v1/key/{key}", tag = "keys",
    params(("key" = String, Path, description = "The key, percent-encoded"), DbParam),
    responses(
        (status = 200, description = "The key", body = KeyResponse),
        (status = 404, description = "No such key", body = super::openapi::ErrorResponse),
    ))]
/// `GET /api/v1/key/{key}`: any type as JSON.
pub async fn get_key(
    State(server): State<Arc<Server>>,
    uri: Uri,
    Query(q): Query<DbParam>,
) -> Result<Json<KeyResponse>, ApiError> {
    let key = path_name(&uri)?;
    let db = q.db.unwrap_or(0);
    let mut session = Session::new(&server, db)?;
    ready(&server)?;
    linearizable(&server).await?;
    let found = read_key(&server, db, &key);
    // The value (or its absence) may come from a write that is not durable yet.
    let seq = flashdb_core::log_entry::take_last_seq();
    server
        .wait_durable(seq)
        .await
        .map_err(|msg| ApiError::from_reply(&msg))?;
    // The value is read directly: the user must be allowed the command that reads it.
    let reader: &[&[u8]] = match found.as_ref().map(|(s, _)| s) {
        Some(Snapshot::Str(_)) => &[b"GET"],
        Some(Snapshot::Hash(_)) => &[b"HGETALL"],
        Some(Snapshot::List(_)) => &[b"LRANGE", b"0", b"-1"],
        Some(Snapshot::Set(_)) => &[b"SMEMBERS"],
        Some(Snapshot::ZSet(_)) => &[b"ZRANGE", b"0", b"-1"],
        Some(Snapshot::Stream(..)) => &[b"XRANGE", b"-", b"+"],
        Some(Snapshot::Queue) | None => &[b"TYPE"],
    };
    let mut check: Vec<&[u8]> = vec![reader[0], &key];
    check.extend_from_slice(&reader[1..]);
    session.authorize(&check)?;
    let (snap, ttl_ms) = found.ok_or_else(|| ApiError::key_not_found(&key))?;
    let mut strings: Vec<&[u8]> = vec![&key];
    match &snap {
        Snapshot::Str(s) => strings.push(s),
        Snapshot::Hash(pairs) => {
            for (f, v) in pairs {
                strings.push(f);
                strings.push(v);
            }
        }
        Snapshot::List(items) | Snapshot::Set(items) => {
            strings.extend(items.iter().map(Vec::as_slice))
        }
        Snapshot::ZSet(pairs) => strings.extend(pairs.iter().map(|(m, _)| m.as_slice())),
        Snapshot::Queue => {}
        Snapshot::Stream(_, entries) => {
            for e in entries {
                for (f, v) in &e.fields {
                    strings.push(f);
                    strings.push(v);
                }
            }
        }
    }
    let mut enc = Encoding::for_all(strings);
    let (kind, value) = match snap {
        Snapshot::Str(s) => ("string", enc.text(&s)),
        Snapshot::Hash(pairs) => {
            let mut m = Map::with_capacity(pairs.len());
            for (f, v) in pairs {
                let field = match enc.text(&f) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                m.insert(field, enc.text(&v));
            }
            ("hash", Value::Object(m))
        }
        Snapshot::List(items) => ("list", items.iter().map(|i| enc.text(i)).collect()),
        Snapshot::Set(items) => ("set", items.iter().map(|i| enc.text(i)).collect()),
        Snapshot::ZSet(pairs) => (
            "zset",
            pairs
                .iter()
                .map(|(m, s)| json!({"member": enc.text(m), "score": double(*s)}))
                .collect(),
        ),
        Snapshot::Stream(len, entries) => {
            let entries: Vec<Value> = entries
                .iter()
                .map(|e| {
                    let pairs: Vec<Value> = e
                        .fields
                        .iter()
                        .map(|(f, v)| json!([enc.text(f), enc.text(v)]))
                        .collect();
                    json!({"id": format!("{}-{}", e.id.ms, e.id.seq), "fields": pairs})
                })
                .collect();
            ("stream", json!({"length": len, "entries": entries}))
        }
        Snapshot::Queue => {
            // QINFO settles ended leases and passed delays first, so its figures are
            // the ones a RESP client would see.
            let info = session.call_ok(&[b"QINFO".as_slice(), &key]).await?;
            if frame_is_binary(&info) {
                enc = Encoding::Base64;
            }
            ("queue", frame_to_json(&info, enc))
        }
    };
    Ok(Json(KeyResponse {
        success: true,
        key: text(enc, &key),
        kind: kind.into(),
        ttl_ms,
        value,
        encoding: (enc == Encoding::Base64).then(|| "base64".into()),
    }))
}

fn text(enc: Encoding, bytes: &[u8]) -> String {
    match enc.text(bytes) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// The body of `PUT /api/v1/key/{key}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    /// `string` (the default), `hash`, `list`, `set` or `zset`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A string; an object of strings for a hash; an array of strings for a list or set;
    /// `[{"member", "score"}]` for a sorted set.
    pub value: Value,
    /// Time to live in milliseconds; none by default.
    pub ttl_ms: Option<u64>,
    /// `base64` when the strings are sent base64-encoded.
    pub encoding: Option<Encoding>,
}

/// The answer to a write of a key.
#[derive(Debug, Serialize, ToSchema)]
pub struct WrittenResponse {
    /// Always true.
    pub success: bool,
    /// The key, as given.
    pub key: String,
    /// The type stored.
    #[serde(rename = "type")]
    pub kind: String,
}

/// Largest `ttl_ms`: what `PEXPIRE` accepts without overflowing the absolute time.
const MAX_TTL_MS: u64 = 1 << 46;

#[utoipa::path(put, path = "/api/v1/key/{key}", tag = "keys",
    params(("key" = String, Path, description = "The key, percent-encoded"), DbParam),
    request_body = PutBody,
    responses(
        (status = 200, description = "Stored", body = WrittenResponse),
        (status = 400, description = "Bad body", body = super::openapi::ErrorResponse),
    ))]
/// `PUT /api/v1/key/{key}`: stores a string, or a whole collection, replacing the key.
pub async fn put_key(
    State(server): State<Arc<Server>>,
    uri: Uri,
    Query(q): Query<DbParam>,
    JsonBody(body): JsonBody<PutBody>,
) -> Result<Json<WrittenResponse>, ApiError> {
    let key = path_name(&uri)?;
    let enc = body.encoding.unwrap_or_default();
    let kind = body
        .kind
        .as_deref()
        .unwrap_or("string")
        .to_ascii_lowercase();
    if let Some(ttl) = body.ttl_ms {
        if ttl == 0 || ttl > MAX_TTL_MS {
            return Err(ApiError::invalid(format!(
                "ttl_ms must be between 1 and {MAX_TTL_MS}"
            )));
        }
    }
    let s = |v: &Value, what: &str| arg(what, v, enc);
    let mut write: Vec<Vec<u8>> = Vec::new();
    match (kind.as_str(), &body.value) {
        ("string", v) => {
            write = vec![b"SET".to_vec(), key.clone(), s(v, "value")?];
            if let Some(ttl) = body.ttl_ms {
                write.push(b"PX".to_vec());
                write.push(ttl.to_string().into_bytes());
            }
        }
        ("hash", Value::Object(m)) if !m.is_empty() => {
            write.extend([b"HSET".to_vec(), key.clone()]);
            for (f, v) in m {
                write.push(enc.decode("value field", f)?);
                write.push(s(v, "value")?);
            }
        }
        ("list" | "set", Value::Array(items)) if !items.is_empty() => {
            let cmd: &[u8] = if kind == "list" { b"RPUSH" } else { b"SADD" };
            write.extend([cmd.to_vec(), key.clone()]);
            for v in items {
                write.push(s(v, "value item")?);
            }
        }
        ("zset", Value::Array(items)) if !items.is_empty() => {
            write.extend([b"ZADD".to_vec(), key.clone()]);
            for item in items {
                let (Some(member), Some(score)) = (item.get("member"), item.get("score")) else {
                    return Err(ApiError::invalid(
                        "a sorted set's value is [{\"member\": ..., \"score\": ...}]",
                    ));
                };
                let score = match score {
                    Value::Number(n) => n.to_string().into_bytes(),
                    Value::String(t) if ["inf", "+inf", "-inf"].contains(&t.as_str()) => {
                        t.clone().into_bytes()
                    }
                    _ => return Err(ApiError::invalid("score: expected a number")),
                };
                write.push(score);
                write.push(s(member, "member")?);
            }
        }
        ("hash" | "list" | "set" | "zset", Value::Object(_) | Value::Array(_)) => {
            return Err(ApiError::invalid(format!(
                "an empty {kind} cannot be stored (Redis has no empty collections); DELETE the key instead"
            )))
        }
        ("hash", _) => return Err(ApiError::invalid("a hash's value is an object of strings")),
        ("list" | "set" | "zset", _) => {
            return Err(ApiError::invalid(format!("a {kind}'s value is an array")))
        }
        ("queue", _) => {
            return Err(ApiError::invalid(
                "queues are written through /api/v1/queues/{name}/enqueue",
            ))
        }
        (other, _) => {
            return Err(ApiError::invalid(format!(
                "type must be string, hash, list, set or zset, got {other:?}"
            )))
        }
    }
    let mut commands = Vec::new();
    if kind != "string" {
        commands.push(vec![b"DEL".to_vec(), key.clone()]);
    }
    commands.push(write);
    if kind != "string" {
        if let Some(ttl) = body.ttl_ms {
            commands.push(vec![
                b"PEXPIRE".to_vec(),
                key.clone(),
                ttl.to_string().into_bytes(),
            ]);
        }
    }
    let mut session = Session::new(&server, q.db.unwrap_or(0))?;
    if let [only] = commands.as_slice() {
        // A string is one SET: atomic by itself.
        session.call_ok(only).await?;
    } else {
        for reply in session.transaction(&commands).await? {
            if let Frame::Error(msg) = reply {
                return Err(ApiError::from_reply(&String::from_utf8_lossy(&msg)));
            }
        }
    }
    Ok(Json(WrittenResponse {
        success: true,
        key: String::from_utf8_lossy(&key).into_owned(),
        kind,
    }))
}

/// The answer to a deletion.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedResponse {
    /// Always true.
    pub success: bool,
    /// The key, as given.
    pub key: String,
    /// Always true: deleting a missing key is a 404.
    pub deleted: bool,
}

#[utoipa::path(delete, path = "/api/v1/key/{key}", tag = "keys",
    params(("key" = String, Path, description = "The key, percent-encoded"), DbParam),
    responses(
        (status = 200, description = "Deleted", body = DeletedResponse),
        (status = 404, description = "No such key", body = super::openapi::ErrorResponse),
    ))]
/// `DELETE /api/v1/key/{key}`.
pub async fn delete_key(
    State(server): State<Arc<Server>>,
    uri: Uri,
    Query(q): Query<DbParam>,
) -> Result<Json<DeletedResponse>, ApiError> {
    let key = path_name(&uri)?;
    let mut session = Session::new(&server, q.db.unwrap_or(0))?;
    match session.call_ok(&[b"DEL".as_slice(), &key]).await? {
        Frame::Integer(1) => Ok(Json(DeletedResponse {
            success: true,
            key: String::from_utf8_lossy(&key).into_owned(),
            deleted: true,
        })),
        _ => Err(ApiError::key_not_found(&key)),
    }
}

/// Parameters of `GET /api/v1/keys`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ScanParams {
    /// Glob-style pattern (`SCAN ... MATCH`), all keys by default.
    pub pattern: Option<String>,
    /// Where to go on from: `"0"` (the default) starts, the previous answer's `cursor`
    /// continues.
    pub cursor: Option<String>,
    /// Keys to look at in this page (a hint, as `SCAN`'s `COUNT`), 1 to 1000, default 100.
    pub count: Option<u32>,
    /// Only keys of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// Database number.
    pub db: Option<usize>,
}

/// A page of keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeysResponse {
    /// Always true.
    pub success: bool,
    /// The keys of this page (base64 when `encoding` says so).
    pub keys: Vec<String>,
    /// Give it back to continue; `"0"` when the scan is complete.
    pub cursor: String,
    /// `base64` when a key of this page is not UTF-8 (then all of them are base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

/// Most keys a page may ask for.
pub const MAX_PAGE: u32 = 1000;

#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", params(ScanParams),
    responses(
        (status = 200, description = "A page of keys", body = KeysResponse),
        (status = 400, description = "Bad parameter", body = super::openapi::ErrorResponse),
    ))]
/// `GET /api/v1/keys`: one `SCAN` step.
pub async fn list_keys(
    State(server): State<Arc<Server>>,
    Query(p): Query<ScanParams>,
) -> Result<Json<KeysResponse>, ApiError> {
    let count = p.count.unwrap_or(100);
    if count == 0 || count > MAX_PAGE {
        return Err(ApiError::invalid(format!(
            "count must be between 1 and {MAX_PAGE}"
        )));
    }
    let cursor = p.cursor.unwrap_or_else(|| "0".into());
    if cursor.is_empty() || cursor.len() > 20 || !cursor.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid(
            "invalid cursor: give back the cursor of the previous page",
        ));
    }
    let mut args: Vec<Vec<u8>> = vec![b"SCAN".to_vec(), cursor.into_bytes()];
    if let Some(pattern) = p.pattern.filter(|s| !s.is_empty()) {
        args.extend([b"MATCH".to_vec(), pattern.into_bytes()]);
    }
    args.extend([b"COUNT".to_vec(), count.to_string().into_bytes()]);
    if let Some(kind) = p.kind.filter(|s| !s.is_empty()) {
        args.extend([b"TYPE".to_vec(), kind.into_bytes()]);
    }
    let mut session = Session::new(&server, p.db.unwrap_or(0))?;
    let (next, keys) = scan_step(session.call_ok(&args).await?)?;
    let enc = Encoding::for_all(keys.iter().map(Vec::as_slice));
    Ok(Json(KeysResponse {
        success: true,
        keys: keys.iter().map(|k| text(enc, k)).collect(),
        cursor: String::from_utf8_lossy(&next).into_owned(),
        encoding: (enc == Encoding::Base64).then(|| "base64".into()),
    }))
}

/// `SCAN`'s reply: the next cursor and the keys.
fn scan_step(reply: Frame) -> Result<(Vec<u8>, Vec<Vec<u8>>), ApiError> {
    let Frame::Array(mut parts) = reply else {
        return Err(ApiError::internal("SCAN did not answer an array"));
    };
    match (parts.pop(), parts.pop()) {
        (Some(Frame::Array(keys)), Some(Frame::Bulk(next))) => Ok((
            next,
            keys.into_iter()
                .filter_map(|k| match k {
                    Frame::Bulk(b) => Some(b),
                    _ => None,
                })
                .collect(),
        )),
        _ => Err(ApiError::internal("SCAN answered an unexpected shape")),
    }
}

/// The body of `POST /api/v1/execute`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteBody {
    /// The command and its arguments: strings, or numbers (sent as their text).
    pub command: Vec<Value>,
    /// Database to run it in, 0 by default.
    pub db: Option<usize>,
    /// `base64` when the arguments are sent base64-encoded.
    pub encoding: Option<Encoding>,
}

/// A command's reply as JSON.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecuteResponse {
    /// Always true: an error reply is an error answer.
    pub success: bool,
    /// The reply: bulk strings as strings, integers and doubles as numbers, RESP3 maps as
    /// objects, arrays and sets as arrays, nulls as null.
    pub result: Value,
    /// `base64` when a string of the reply is not UTF-8 (then all of them are base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/execute", tag = "commands",
    request_body = ExecuteBody,
    responses(
        (status = 200, description = "The reply", body = ExecuteResponse),
        (status = 400, description = "An error reply (`COMMAND_ERROR`) or a bad body", body = super::openapi::ErrorResponse),
    ))]
/// `POST /api/v1/execute`: runs one command as a RESP client would.
pub async fn execute(
    State(server): State<Arc<Server>>,
    JsonBody(body): JsonBody<ExecuteBody>,
) -> Result<Json<ExecuteResponse>, ApiError> {
    let enc = body.encoding.unwrap_or_default();
    let args = body
        .command
        .iter()
        .enumerate()
        .map(|(i, v)| arg(&format!("command[{i}]"), v, enc))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(name) = args.first() else {
        return Err(ApiError::invalid("command must name a command"));
    };
    if let Some(hint) = connection_only(name) {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "COMMAND_NOT_ALLOWED",
            format!(
                "{} needs a connection of its own: {hint}",
                String::from_utf8_lossy(name).to_ascii_uppercase()
            ),
        ));
    }
    let mut session = Session::new(&server, body.db.unwrap_or(0))?;
    let reply = session.call(&args).await?;
    if let Frame::Error(msg) = &reply {
        return Err(ApiError::command(&String::from_utf8_lossy(msg)));
    }
    let out = if frame_is_binary(&reply) {
        Encoding::Base64
    } else {
        Encoding::Utf8
    };
    Ok(Json(ExecuteResponse {
        success: true,
        result: frame_to_json(&reply, out),
        encoding: (out == Encoding::Base64).then(|| "base64".into()),
    }))
}

/// Most keys `GET /api/kv` lists: the original route has no pagination, so it answers at
/// most this many string keys and says `"truncated": true` when there are more.
pub const LEGACY_LIST_LIMIT: usize = 10_000;

#[utoipa::path(get, path = "/api/kv", tag = "legacy",
    responses((status = 200, description = "`{\"success\": true, \"data\": {key: value}}` for string keys", body = Object)))]
/// `GET /api/kv` (the original store): string keys and their values.
pub async fn legacy_all(State(server): State<Arc<Server>>) -> Result<Json<Value>, ApiError> {
    let mut session = Session::new(&server, 0)?;
    let mut data = Map::new();
    let mut cursor = b"0".to_vec();
    let mut truncated = false;
    loop {
        // One bounded SCAN step at a time: clients are never held up for the whole walk.
        let reply = session
            .call_ok(&[
                b"SCAN".as_slice(),
                &cursor,
                b"COUNT",
                b"1000",
                b"TYPE",
                b"string",
            ])
            .await?;
        let (next, keys) = scan_step(reply)?;
        for k in &keys {
            if data.len() >= LEGACY_LIST_LIMIT {
                truncated = true;
                break;
            }
            if let Frame::Bulk(v) = session.call_ok(&[b"GET".as_slice(), k]).await? {
                data.insert(
                    String::from_utf8_lossy(k).into_owned(),
                    Value::String(String::from_utf8_lossy(&v).into_owned()),
                );
            }
        }
        cursor = next;
        if cursor == b"0" || truncated {
            break;
        }
    }
    let mut out = json!({"success": true, "data": data});
    if truncated {
        out["truncated"] = Value::Bool(true);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/api/kv/{key}", tag = "legacy",
    params(("key" = String, Path, description = "The key")),
    responses(
        (status = 200, description = "`{\"success\": true, \"key\", \"value\"}`", body = Object),
        (status = 404, description = "No such key", body = super::openapi::ErrorResponse),
    ))]
/// `GET /api/kv/{key}` (the original store).
pub async fn legacy_get(
    State(server): State<Arc<Server>>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let key = path_name(&uri)?;
    let mut session = Session::new(&server, 0)?;
    match session.call_ok(&[b"GET".as_slice(), &key]).await? {
        Frame::Bulk(v) => Ok(Json(json!({
            "success": true,
            "key": String::from_utf8_lossy(&key),
            "value": String::from_utf8_lossy(&v),
        }))),
        _ => Err(ApiError::key_not_found(&key)),
    }
}

/// The body of `POST /api/kv/{key}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LegacySetBody {
    /// The value: a string, or any JSON (stored as its JSON text).
    pub value: Value,
}

#[utoipa::path(post, path = "/api/kv/{key}", tag = "legacy",
    params(("key" = String, Path, description = "The key")),
    request_body = LegacySetBody,
    responses((status = 200, description = "`{\"success\": true, \"key\", \"value\"}`", body = Object)))]
/// `POST /api/kv/{key}` (the original store): sets a string.
pub async fn legacy_set(
    State(server): State<Arc<Server>>,
    uri: Uri,
    JsonBody(body): JsonBody<LegacySetBody>,
) -> Result<Json<Value>, ApiError> {
    let key = path_name(&uri)?;
    let value = payload_of(&body.value)?;
    let mut session = Session::new(&server, 0)?;
    session.call_ok(&[b"SET".as_slice(), &key, &value]).await?;
    Ok(Json(json!({
        "success": true,
        "key": String::from_utf8_lossy(&key),
        "value": body.value,
    })))
}

/// The bytes stored for a JSON value of the original store's routes: a string as is,
/// anything else (numbers, objects) as its JSON text.
pub fn payload_of(v: &Value) -> Result<Vec<u8>, ApiError> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Null => Err(ApiError::invalid("value is required")),
        other => Ok(other.to_string().into_bytes()),
    }
}

#[utoipa::path(delete, path = "/api/kv/{key}", tag = "legacy",
    params(("key" = String, Path, description = "The key")),
    responses(
        (status = 200, description = "`{\"success\": true, \"key\"}`", body = Object),
        (status = 404, description = "No such key", body = super::openapi::ErrorResponse),
    ))]
/// `DELETE /api/kv/{key}` (the original store).
pub async fn legacy_delete(
    State(server): State<Arc<Server>>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let key = path_name(&uri)?;
    let mut session = Session::new(&server, 0)?;
    match session.call_ok(&[b"DEL".as_slice(), &key]).await? {
        Frame::Integer(1) => Ok(Json(
            json!({"success": true, "key": String::from_utf8_lossy(&key)}),
        )),
        _ => Err(ApiError::key_not_found(&key)),
    }
}
