//! `GET /api/v1/openapi.json`: the OpenAPI 3 description, generated from the handlers'
//! annotations and the request and response types, so that it cannot drift from them.

use axum::Json;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// The error format of every route.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// Always false.
    pub success: bool,
    /// What went wrong.
    pub error: ErrorBody,
    /// The request's id, as in the `X-Request-Id` header and the server's debug log.
    pub request_id: String,
}

/// The `error` object of [`ErrorResponse`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable code: `KEY_NOT_FOUND`, `QUEUE_NOT_FOUND`, `INVALID_REQUEST`, `INVALID_JSON`,
    /// `WRONG_TYPE`, `COMMAND_ERROR`, `COMMAND_NOT_ALLOWED`, `UNAUTHORIZED`, `NOT_FOUND`,
    /// `METHOD_NOT_ALLOWED`, `PAYLOAD_TOO_LARGE`, `LOADING`, `PERSISTENCE_ERROR`,
    /// `CONFLICT`, `INTERNAL_ERROR`.
    pub code: String,
    /// For people.
    pub message: String,
    /// Particulars, such as `redis_error` (the prefix of the Redis error).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// The description of every route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "FlashDB HTTP API",
        description = "Keys, commands, queues, statistics and events of a FlashDB server. Every error answers the ErrorResponse format; with --requirepass, every route but the health checks wants `Authorization: Bearer <password>`."
    ),
    paths(
        super::stats::healthz,
        super::stats::readyz,
        super::stats::stats,
        super::diagnostics::slowlog,
        super::diagnostics::latency,
        super::keys::list_keys,
        super::keys::get_key,
        super::keys::put_key,
        super::keys::delete_key,
        super::keys::execute,
        super::pipeline::pipeline,
        super::pipeline::auth_status,
        super::ledger::root,
        super::ledger::proof,
        super::ledger::consistency,
        super::ledger::leaf,
        super::ledger::verify,
        super::ledger::history,
        super::ledger::key,
        super::backup::backup,
        super::queues::list_v1,
        super::queues::info,
        super::queues::delete_v1,
        super::queues::enqueue,
        super::queues::dequeue,
        super::queues::peek,
        super::queues::size,
        super::queues::ack,
        super::queues::nack,
        super::cluster::view,
        super::cluster::add,
        super::cluster::remove,
        super::cluster::replace,
        super::ws::upgrade,
        super::metrics::serve,
        serve,
        super::keys::legacy_all,
        super::keys::legacy_get,
        super::keys::legacy_set,
        super::keys::legacy_delete,
        super::queues::list_legacy,
        super::queues::delete_legacy,
        super::queues::legacy_enqueue,
        super::queues::legacy_dequeue,
        super::queues::legacy_peek,
        super::queues::legacy_size,
    ),
    components(schemas(ErrorResponse, ErrorBody, super::json::Encoding))
)]
pub struct ApiDoc;

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "server",
    responses((status = 200, description = "This description", body = Object)))]
/// Serves the description.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
