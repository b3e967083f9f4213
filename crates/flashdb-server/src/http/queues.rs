//! Queue routes: `/api/v1/queues/...`, and the original store's `/api/queue/...` with its
//! response shapes (`{"success", "queue", "value"}`, `{"success", "queue", "size"}`).
//! Both call the queue type's commands (`QADD`, `QPOP`, `QRESERVE`, ...).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::Json;
use base64::Engine as _;
use flashdb_protocol::Frame;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::json::{frame_to_json, Encoding, JsonBody};
use super::keys::{DbParam, MAX_PAGE};
use super::path_name;
use super::session::Session;
use crate::server::Server;

fn name_text(name: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(name).into_owned())
}

/// A queue and its sizes.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueSummary {
    /// The queue's name.
    pub name: String,
    /// Ready messages.
    pub size: i64,
    /// Messages taken with a lease and not yet acknowledged.
    pub leased: i64,
    /// Messages waiting for their delay to pass.
    pub delayed: i64,
}

/// A page of queues.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueuesResponse {
    /// Always true.
    pub success: bool,
    /// The queues of this page, by name.
    pub queues: Vec<QueueSummary>,
    /// Number of queues in this page.
    pub count: usize,
    /// Give it back to continue; `"0"` when the listing is complete.
    pub cursor: String,
}

/// Parameters of `GET /api/v1/queues`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QueuesParams {
    /// Where to go on from (the previous page's `cursor`); from the start by default.
    pub cursor: Option<String>,
    /// Queues per page, 1 to 1000, default 100.
    pub count: Option<u32>,
    /// Database number.
    pub db: Option<usize>,
}

/// One page of queues after `after`: their names and `QINFO` figures.
async fn page(
    server: &Arc<Server>,
    session: &mut Session,
    mut after: Option<Vec<u8>>,
    count: usize,
) -> Result<(Vec<(Vec<u8>, Value)>, Option<Vec<u8>>), ApiError> {
    let mut found = Vec::new();
    loop {
        let names = server.ks.queue_names(after.as_deref(), count);
        let exhausted = names.len() < count;
        for name in names {
            after = Some(name.clone());
            // A name may hold a queue in another database only, or none any more.
            let info = session.call(&[b"QINFO".as_slice(), &name]).await?;
            if let Frame::Map(_) = info {
                found.push((name, frame_to_json(&info, Encoding::Utf8)));
                if found.len() == count {
                    return Ok((found, after));
                }
            }
        }
        if exhausted {
            return Ok((found, None));
        }
    }
}

fn count_of(info: &Value, field: &str) -> i64 {
    info.get(field).and_then(Value::as_i64).unwrap_or(0)
}

#[utoipa::path(get, path = "/api/v1/queues", tag = "queues", params(QueuesParams),
    responses(
        (status = 200, description = "A page of queues with their sizes", body = QueuesResponse),
        (status = 400, description = "Bad parameter", body = super::openapi::ErrorResponse),
    ))]
/// `GET /api/v1/queues`: queues and their sizes, a page at a time.
pub async fn list_v1(
    State(server): State<Arc<Server>>,
    Query(p): Query<QueuesParams>,
) -> Result<Json<QueuesResponse>, ApiError> {
    let count = p.count.unwrap_or(100);
    if count == 0 || count > MAX_PAGE {
        return Err(ApiError::invalid(format!(
            "count must be between 1 and {MAX_PAGE}"
        )));
    }
    let after = match p.cursor.as_deref() {
        None | Some("0") | Some("") => None,
        Some(c) => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| {
                    ApiError::invalid("invalid cursor: give back the cursor of the previous page")
                })?,
        ),
    };
    let mut session = Session::new(&server, p.db.unwrap_or(0))?;
    super::keys::linearizable(&server).await?;
    let (found, next) = page(&server, &mut session, after, count as usize).await?;
    let queues: Vec<QueueSummary> = found
        .iter()
        .map(|(name, info)| QueueSummary {
            name: String::from_utf8_lossy(name).into_owned(),
            size: count_of(info, "ready"),
            leased: count_of(info, "leased"),
            delayed: count_of(info, "delayed"),
        })
        .collect();
    Ok(Json(QueuesResponse {
        success: true,
        count: queues.len(),
        queues,
        cursor: match next {
            Some(n) => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n),
            None => "0".into(),
        },
    }))
}

#[utoipa::path(get, path = "/api/queue", tag = "legacy",
    responses((status = 200, description = "`{\"success\": true, \"queues\": [names], \"count\"}`", body = Object)))]
/// `GET /api/queue` (the original store): every queue's name, up to 10,000.
pub async fn list_legacy(State(server): State<Arc<Server>>) -> Result<Json<Value>, ApiError> {
    let mut session = Session::new(&server, 0)?;
    let limit = super::keys::LEGACY_LIST_LIMIT;
    let (found, next) = page(&server, &mut session, None, limit).await?;
    let names: Vec<Value> = found.iter().map(|(n, _)| name_text(n)).collect();
    let mut out = json!({"success": true, "count": names.len(), "queues": names});
    if next.is_some() {
        out["truncated"] = Value::Bool(true);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/api/v1/queues/{name}", tag = "queues",
    params(("name" = String, Path, description = "The queue"), DbParam),
    responses(
        (status = 200, description = "`{\"success\": true, \"queue\", \"info\": {QINFO's fields}}`", body = Object),
        (status = 404, description = "No such queue", body = super::openapi::ErrorResponse),
    ))]
/// `GET /api/v1/queues/{name}`: the queue's `QINFO`.
pub async fn info(
    State(server): State<Arc<Server>>,
    uri: Uri,
    Query(q): Query<DbParam>,
) -> Result<Json<Value>, ApiError> {
    let name = path_name(&uri)?;
    let mut session = Session::new(&server, q.db.unwrap_or(0))?;
    match session.call(&[b"QINFO".as_slice(), &name]).await? {
        Frame::Error(msg) if msg.starts_with(b"ERR no such key") => {
            Err(ApiError::queue_not_found(&name))
        }
        Frame::Error(msg) => Err(ApiError::from_reply(&String::from_utf8_lossy(&msg))),
        info => Ok(Json(json!({
            "success": true,
            "queue": name_text(&name),
            "info": frame_to_json(&info, Encoding::Utf8),
        }))),
    }
}

/// The body of `enqueue`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnqueueBody {
    /// The message: a string, or any JSON (stored as its JSON text).
    pub value: Value,
    /// Keep the message invisible for this many milliseconds.
    pub delay_ms: Option<u64>,
    /// 0 to 255, higher first; 0 by default.
    pub priority: Option<u8>,
    /// `base64` when `value` is a base64-encoded string.
    pub encoding: Option<Encoding>,
    /// Database number.
    pub db: Option<usize>,
}

/// The answer to `enqueue`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnqueueResponse {
    /// Always true.
    pub success: bool,
    /// The queue.
    pub queue: String,
    /// The message, as sent.
    pub value: Value,
    /// Ready messages after the push.
    pub size: i64,
    /// The message's id (for `QACK`, `QNACK` and the ack routes).
    pub id: String,
}

#[utoipa::path(post, path = "/api/v1/queues/{name}/enqueue", tag = "queues",
    params(("name" = String, Path, description = "The queue")),
    request_body = EnqueueBody,
    responses(
        (status = 200, description = "Queued", body = EnqueueResponse),
        (status = 400, description = "Bad body", body = super::openapi::ErrorResponse),
        (status = 409, description = "The key holds another type", body = super::openapi::ErrorResponse),
    ))]
/// `POST .../{name}/enqueue`: `QADD`.
pub async fn enqueue(
    State(server): State<Arc<Server>>,
    uri: Uri,
    JsonBody(body): JsonBody<EnqueueBody>,
) -> Result<Json<EnqueueResponse>, ApiError> {
    let name = path_name(&uri)?;
    let payload = match (&body.value, body.encoding.unwrap_or_default()) {
        (Value::String(s), enc) => enc.decode("value", s)?,
        (_, Encoding::Base64) => {
            return Err(ApiError::invalid("value: a base64 value must be a string"))
        }
        (other, Encoding::Utf8) => super::keys::payload_of(other)?,
    };
    let mut add: Vec<Vec<u8>> = vec![b"QADD".to_vec(), name.clone()];
    if let Some(d) = body.delay_ms {
        add.extend([b"DELAY".to_vec(), d.to_string().into_bytes()]);
    }
    if let Some(p) = body.priority {
        add.extend([b"PRIORITY".to_vec(), p.to_string().into_bytes()]);
    }
    add.push(payload);
    let mut session = Session::new(&server, body.db.unwrap_or(0))?;
    let replies = session
        .transaction(&[add, vec![b"QLEN".to_vec(), name.clone()]])
        .await?;
    let (Some(id), Some(size)) = (replies.first(), replies.get(1)) else {
        return Err(ApiError::internal("EXEC answered too few replies"));
    };
    let id = match id {
        Frame::Bulk(id) => String::from_utf8_lossy(id).into_owned(),
        Frame::Error(msg) => return Err(ApiError::from_reply(&String::from_utf8_lossy(msg))),
        other => return Err(ApiError::internal(format!("QADD answered {other:?}"))),
    };
    let size = match size {
        Frame::Integer(n) => *n,
        _ => 0,
    };
    Ok(Json(EnqueueResponse {
        success: true,
        queue: String::from_utf8_lossy(&name).into_owned(),
        value: body.value,
        size,
        id,
    }))
}

/// The body of `dequeue`; every field is optional, and so is the body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DequeueBody {
    /// Reserve the message for this many milliseconds instead of removing it: it comes
    /// back unless acknowledged in time (`QRESERVE ... LEASE`). The answer then carries
    /// its `id`.
    pub lease_ms: Option<u64>,
    /// Wait up to this many milliseconds for a message when none is ready (0: answer at
    /// once, the default).
    pub wait_ms: Option<u64>,
    /// Database number.
    pub db: Option<usize>,
}

/// The answer to `dequeue` and `peek`: `value` is null when no message is ready.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    /// Always true.
    pub success: bool,
    /// The queue.
    pub queue: String,
    /// The message, or null when none is ready.
    pub value: Value,
    /// With `lease_ms`: the message's id, to acknowledge it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// With `lease_ms`: how many times the message has been delivered, this time included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<i64>,
    /// `base64` when the message is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

impl MessageResponse {
    /// The answer when no message is ready.
    fn none(name: &[u8]) -> MessageResponse {
        MessageResponse {
            success: true,
            queue: String::from_utf8_lossy(name).into_owned(),
            value: Value::Null,
            id: None,
            deliveries: None,
            encoding: None,
        }
    }

    /// Sets the message: text when it is UTF-8, else base64 with `encoding`.
    fn set_payload(&mut self, payload: &[u8]) {
        let enc = Encoding::for_all([payload]);
        self.value = enc.text(payload);
        self.encoding = (enc == Encoding::Base64).then(|| "base64".into());
    }
}

/// Longest `wait_ms`: an HTTP request should not hang for longer than a proxy allows.
const MAX_WAIT_MS: u64 = 300_000;

#[utoipa::path(post, path = "/api/v1/queues/{name}/dequeue", tag = "queues",
    params(("name" = String, Path, description = "The queue")),
    request_body(content = DequeueBody, description = "Optional"),
    responses(
        (status = 200, description = "The next message, or a null value", body = MessageResponse),
        (status = 400, description = "Bad body", body = super::openapi::ErrorResponse),
        (status = 409, description = "The key holds another type", body = super::openapi::ErrorResponse),
    ))]
/// `POST .../{name}/dequeue`: `QPOP` (or `BQPOP`), or `QRESERVE` with `lease_ms`.
pub async fn dequeue(
    State(server): State<Arc<Server>>,
    uri: Uri,
    JsonBody(body): JsonBody<DequeueBody>,
) -> Result<Json<MessageResponse>, ApiError> {
    let name = path_name(&uri)?;
    let wait = body.wait_ms.unwrap_or(0);
    if wait > MAX_WAIT_MS {
        return Err(ApiError::invalid(format!(
            "wait_ms must be at most {MAX_WAIT_MS}"
        )));
    }
    let mut session = Session::new(&server, body.db.unwrap_or(0))?;
    let mut answer = MessageResponse::none(&name);
    if let Some(lease) = body.lease_ms {
        let mut args: Vec<Vec<u8>> = vec![
            b"QRESERVE".to_vec(),
            name.clone(),
            b"COUNT".to_vec(),
            b"1".to_vec(),
            b"LEASE".to_vec(),
            lease.to_string().into_bytes(),
        ];
        if wait > 0 {
            args.extend([b"BLOCK".to_vec(), wait.to_string().into_bytes()]);
        }
        if let Frame::Array(items) = session.call_ok(&args).await? {
            if let Some(Frame::Array(msg)) = items.first() {
                if let (
                    Some(Frame::Bulk(id)),
                    Some(Frame::Bulk(payload)),
                    Some(Frame::Integer(n)),
                ) = (msg.first(), msg.get(1), msg.get(2))
                {
                    answer.set_payload(payload);
                    answer.id = Some(String::from_utf8_lossy(id).into_owned());
                    answer.deliveries = Some(*n);
                }
            }
        }
    } else if wait > 0 {
        // BQPOP's timeout is in seconds, with decimals.
        let timeout = format!("{}.{:03}", wait / 1000, wait % 1000);
        if let Frame::Array(pair) = session
            .call_ok(&[b"BQPOP".as_slice(), &name, timeout.as_bytes()])
            .await?
        {
            if let Some(Frame::Bulk(payload)) = pair.get(1) {
                answer.set_payload(payload);
            }
        }
    } else if let Frame::Bulk(payload) = session.call_ok(&[b"QPOP".as_slice(), &name]).await? {
        answer.set_payload(&payload);
    }
    Ok(Json(answer))
}

#[utoipa::path(get, path = "/api/v1/queues/{name}/peek", tag = "queues",
    params(("name" = String, Path, description = "The queue"), DbParam),
    responses(
        (status = 200, description = "The next ready message, not taken, or a null value", body = MessageResponse),
        (status = 409, description = "The key holds another type", body = super::openapi::ErrorResponse),
    ))]
/// `GET .../{name}/peek`: `QPEEK`.
pub async fn peek(
    State(server): State<Arc<Server>>,
    uri: Uri,
    Query(q): Query<DbParam>,
) -> Result<Json<MessageResponse>, ApiError> {
    let name = path_name(&uri)?;
    let mut session = Session::new(&server, q.db.unwrap_or(0))?;
    let mut answer = MessageResponse::none(&name);
    if let Frame::Bulk(payload) = session.call_ok(&[b"QPEEK".as_slice(), &name]).await? {
        answer.set_payload(&payload);
    }
    Ok(Json(answer))
}

/// The answer to `size`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SizeResponse {
    /// Always true.
    pub success: bool,
    /// The queue.
    pub queue: String,
    /// Ready messages (0 for a queue that does not exist).
    pub size: i64,
}

#[utoipa::path(get, path = "/api/v1/queues/{name}/size", tag = "queues",
    params(("name" = String, Path, description = "The queue"), DbParam),
    responses(
        (status = 200, description = "Ready messages", body = SizeResponse),
        (status = 409, description = "The key holds another type", body = super::openapi::ErrorResponse),
    ))]
/// `GET .../{name}/size`: `QLEN`.
pub async fn size(
    State(server): State<Arc<Server>>,
    uri: Uri,
    Query(q): Query<DbParam>,
) -> Result<Json<SizeResponse>, ApiError> {
    let name = path_name(&uri)?;
    let mut session = Session::new(&server, q.db.unwrap_or(0))?;
    let size = match session.call_ok(&[b"QLEN".as_slice(), &name]).await? {
        Frame::Integer(n) => n,
        _ => 0,
    };
    Ok(Json(SizeResponse {
        success: true,
        queue: String::from_utf8_lossy(&name).into_owned(),
        size,
    }))
}

/// Deletes the queue under `name`, and only a queue: `WATCH`, check the type, `DEL` in a
/// transaction, again if the key changed meanwhile. Returns whether a queue was deleted.
async fn delete_queue(session: &mut Session, name: &[u8]) -> Result<bool, ApiError> {
    for _ in 0..16 {
        session.call_ok(&[b"WATCH".as_slice(), name]).await?;
        match session.call_ok(&[b"TYPE".as_slice(), name]).await? {
            Frame::Simple(t) if t == b"queue" => {}
            Frame::Simple(t) if t == b"none" => {
                session.call_ok(&[b"UNWATCH".as_slice()]).await?;
                return Ok(false);
            }
            _ => {
                session.call_ok(&[b"UNWATCH".as_slice()]).await?;
                return Err(ApiError::from_reply(
                    "WRONGTYPE Operation against a key holding the wrong kind of value",
                ));
            }
        }
        session.call_ok(&[b"MULTI".as_slice()]).await?;
        session.call_ok(&[b"DEL".as_slice(), name]).await?;
        match session.call_ok(&[b"EXEC".as_slice()]).await? {
            Frame::Array(_) => return Ok(true),
            // The key changed between the check and the delete: look again.
            _ => continue,
        }
    }
    Err(ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "CONFLICT",
        "the queue kept changing; try again",
    ))
}

#[utoipa::path(delete, path = "/api/v1/queues/{name}", tag = "queues",
    params(("name" = String, Path, description = "The queue"), DbParam),
    responses(
        (status = 200, description = "`{\"success\": true, \"queue\"}`", body = Object),
        (status = 404, description = "No such queue", body = super::openapi::ErrorResponse),
        (status = 409, description = "The key holds another type", body = super::openapi::ErrorResponse),
    ))]
/// `DELETE /api/v1/queues/{name}`: clears and removes the queue.
pub async fn delete_v1(
    State(server): State<Arc<Server>>,
    uri: Uri,
    Query(q): Query<DbParam>,
) -> Result<Json<Value>, ApiError> {
    let name = path_name(&uri)?;
    let mut session = Session::new(&server, q.db.unwrap_or(0))?;
    if !delete_queue(&mut session, &name).await? {
        return Err(ApiError::queue_not_found(&name));
    }
    Ok(Json(json!({"success": true, "queue": name_text(&name)})))
}

#[utoipa::path(delete, path = "/api/queue/{name}", tag = "legacy",
    params(("name" = String, Path, description = "The queue")),
    responses((status = 200, description = "`{\"success\": true, \"queue\"}`, also when there was no queue", body = Object)))]
/// `DELETE /api/queue/{name}` (the original store): clearing a missing queue succeeds.
pub async fn delete_legacy(
    State(server): State<Arc<Server>>,
    uri: Uri,
) -> Result<Json<Value>, ApiError> {
    let name = path_name(&uri)?;
    let mut session = Session::new(&server, 0)?;
    delete_queue(&mut session, &name).await?;
    Ok(Json(json!({"success": true, "queue": name_text(&name)})))
}

/// The body of `ack` and `nack`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdsBody {
    /// Message ids, as `enqueue` and a leased `dequeue` answer them (at most 10,000).
    pub ids: Vec<String>,
    /// `nack` only: make the messages ready again after this many milliseconds.
    pub delay_ms: Option<u64>,
    /// Database number.
    pub db: Option<usize>,
}

/// The answer to `ack` and `nack`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdsResponse {
    /// Always true.
    pub success: bool,
    /// The queue.
    pub queue: String,
    /// Messages acknowledged (`ack`) or returned to the queue (`nack`); unknown ids and
    /// ids of other queues count for nothing.
    pub count: i64,
}

/// Most ids one `ack` or `nack` takes.
const MAX_IDS: usize = 10_000;

fn check_ids(ids: &[String]) -> Result<(), ApiError> {
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(ApiError::invalid(format!(
            "ids must list between 1 and {MAX_IDS} ids"
        )));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/queues/{name}/ack", tag = "queues",
    params(("name" = String, Path, description = "The queue")),
    request_body = IdsBody,
    responses(
        (status = 200, description = "Messages acknowledged", body = IdsResponse),
        (status = 400, description = "Bad body or id", body = super::openapi::ErrorResponse),
    ))]
/// `POST .../{name}/ack`: `QACK`.
pub async fn ack(
    State(server): State<Arc<Server>>,
    uri: Uri,
    JsonBody(body): JsonBody<IdsBody>,
) -> Result<Json<IdsResponse>, ApiError> {
    let name = path_name(&uri)?;
    check_ids(&body.ids)?;
    if body.delay_ms.is_some() {
        return Err(ApiError::invalid("delay_ms applies to nack only"));
    }
    let mut args: Vec<&[u8]> = vec![b"QACK", &name];
    args.extend(body.ids.iter().map(|s| s.as_bytes()));
    let mut session = Session::new(&server, body.db.unwrap_or(0))?;
    let count = match session.call_ok(&args).await? {
        Frame::Integer(n) => n,
        other => return Err(ApiError::internal(format!("QACK answered {other:?}"))),
    };
    Ok(Json(IdsResponse {
        success: true,
        queue: String::from_utf8_lossy(&name).into_owned(),
        count,
    }))
}

#[utoipa::path(post, path = "/api/v1/queues/{name}/nack", tag = "queues",
    params(("name" = String, Path, description = "The queue")),
    request_body = IdsBody,
    responses(
        (status = 200, description = "Messages returned to the queue", body = IdsResponse),
        (status = 400, description = "Bad body or id", body = super::openapi::ErrorResponse),
    ))]
/// `POST .../{name}/nack`: `QNACK` for each id, in one transaction.
pub async fn nack(
    State(server): State<Arc<Server>>,
    uri: Uri,
    JsonBody(body): JsonBody<IdsBody>,
) -> Result<Json<IdsResponse>, ApiError> {
    let name = path_name(&uri)?;
    check_ids(&body.ids)?;
    let commands: Vec<Vec<Vec<u8>>> = body
        .ids
        .iter()
        .map(|id| {
            let mut c = vec![b"QNACK".to_vec(), name.clone(), id.as_bytes().to_vec()];
            if let Some(d) = body.delay_ms {
                c.extend([b"DELAY".to_vec(), d.to_string().into_bytes()]);
            }
            c
        })
        .collect();
    let mut session = Session::new(&server, body.db.unwrap_or(0))?;
    let mut count = 0;
    for reply in session.transaction(&commands).await? {
        match reply {
            Frame::Integer(n) => count += n,
            Frame::Error(msg) => return Err(ApiError::from_reply(&String::from_utf8_lossy(&msg))),
            _ => {}
        }
    }
    Ok(Json(IdsResponse {
        success: true,
        queue: String::from_utf8_lossy(&name).into_owned(),
        count,
    }))
}

#[utoipa::path(post, path = "/api/queue/{name}/enqueue", tag = "legacy",
    params(("name" = String, Path, description = "The queue")),
    request_body = EnqueueBody,
    responses(
        (status = 200, description = "Queued: `{\"success\", \"queue\", \"value\", \"size\"}`, and the id", body = EnqueueResponse),
        (status = 400, description = "Bad body", body = super::openapi::ErrorResponse),
    ))]
/// `POST /api/queue/{name}/enqueue` (the original store): as the v1 route.
pub async fn legacy_enqueue(
    server: State<Arc<Server>>,
    uri: Uri,
    body: JsonBody<EnqueueBody>,
) -> Result<Json<EnqueueResponse>, ApiError> {
    enqueue(server, uri, body).await
}

#[utoipa::path(post, path = "/api/queue/{name}/dequeue", tag = "legacy",
    params(("name" = String, Path, description = "The queue")),
    request_body(content = DequeueBody, description = "Optional"),
    responses(
        (status = 200, description = "`{\"success\", \"queue\", \"value\"}`, value null when none is ready", body = MessageResponse),
    ))]
/// `POST /api/queue/{name}/dequeue` (the original store): as the v1 route.
pub async fn legacy_dequeue(
    server: State<Arc<Server>>,
    uri: Uri,
    body: JsonBody<DequeueBody>,
) -> Result<Json<MessageResponse>, ApiError> {
    dequeue(server, uri, body).await
}

#[utoipa::path(get, path = "/api/queue/{name}/peek", tag = "legacy",
    params(("name" = String, Path, description = "The queue")),
    responses((status = 200, description = "`{\"success\", \"queue\", \"value\"}`", body = MessageResponse)))]
/// `GET /api/queue/{name}/peek` (the original store).
pub async fn legacy_peek(
    server: State<Arc<Server>>,
    uri: Uri,
    q: Query<DbParam>,
) -> Result<Json<MessageResponse>, ApiError> {
    peek(server, uri, q).await
}

#[utoipa::path(get, path = "/api/queue/{name}/size", tag = "legacy",
    params(("name" = String, Path, description = "The queue")),
    responses((status = 200, description = "`{\"success\", \"queue\", \"size\"}`", body = SizeResponse)))]
/// `GET /api/queue/{name}/size` (the original store).
pub async fn legacy_size(
    server: State<Arc<Server>>,
    uri: Uri,
    q: Query<DbParam>,
) -> Result<Json<SizeResponse>, ApiError> {
    size(server, uri, q).await
}
