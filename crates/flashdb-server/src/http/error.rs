//! The error format of every HTTP route, and the request id that ties an error to the log.
//!
//! ```json
//! {"success": false, "error": {"code": "KEY_NOT_FOUND", "message": "...", "details": {}}, "request_id": "..."}
//! ```

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

tokio::task_local! {
    /// The id of the request being served, set by the request-id middleware around each
    /// request, so that an error built anywhere below it can name it.
    pub static REQUEST_ID: String;
}

/// The current request's id (empty outside a request).
pub fn request_id() -> String {
    REQUEST_ID.try_with(|id| id.clone()).unwrap_or_default()
}

/// An error answer: status, a stable machine-readable code, a message for people, and
/// details (an object).
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code, `UPPER_SNAKE_CASE`.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
    /// Machine-readable particulars (an object).
    pub details: Value,
}

impl ApiError {
    /// An error with empty details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: json!({}),
        }
    }

    /// Adds details.
    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    /// 400 `INVALID_REQUEST`: a parameter or field that is missing, of the wrong type or
    /// out of range.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    /// 404 `KEY_NOT_FOUND`.
    pub fn key_not_found(key: &[u8]) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "KEY_NOT_FOUND",
            format!("key {} does not exist", String::from_utf8_lossy(key)),
        )
    }

    /// 404 `QUEUE_NOT_FOUND`.
    pub fn queue_not_found(name: &[u8]) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "QUEUE_NOT_FOUND",
            format!("queue {} does not exist", String::from_utf8_lossy(name)),
        )
    }

    /// An error reply of a command run for a route, mapped to its HTTP form. `WRONGTYPE`
    /// is a conflict with what the key holds, `LOADING` and `MISCONF` say the server cannot
    /// serve the request now, `NOAUTH` asks for credentials; anything else is bad input.
    pub fn from_reply(message: &str) -> ApiError {
        let prefix = message.split(' ').next().unwrap_or_default();
        let (status, code) = match prefix {
            "WRONGTYPE" => (StatusCode::CONFLICT, "WRONG_TYPE"),
            "LOADING" => (StatusCode::SERVICE_UNAVAILABLE, "LOADING"),
            "MISCONF" => (StatusCode::SERVICE_UNAVAILABLE, "PERSISTENCE_ERROR"),
            "TRYAGAIN" => (StatusCode::SERVICE_UNAVAILABLE, "TRY_AGAIN"),
            "NOAUTH" => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            "NOPERM" => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            _ => (StatusCode::BAD_REQUEST, "COMMAND_ERROR"),
        };
        ApiError::new(status, code, message).with_details(json!({ "redis_error": prefix }))
    }

    /// The answer of `POST /api/v1/execute` for an error reply: always `COMMAND_ERROR`,
    /// with the status [`from_reply`](Self::from_reply) would give.
    pub fn command(message: &str) -> ApiError {
        let mut e = ApiError::from_reply(message);
        e.code = "COMMAND_ERROR";
        e
    }

    /// 500 `INTERNAL_ERROR`, for real faults only; the cause goes to the log.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(request_id = %request_id(), error = %cause, "internal error in an HTTP request");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "internal error; the server log has the cause",
        )
    }

    /// The JSON body of this error.
    pub fn body(&self) -> Value {
        json!({
            "success": false,
            "error": {"code": self.code, "message": self.message, "details": self.details},
            "request_id": request_id(),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::debug!(
            request_id = %request_id(),
            status = self.status.as_u16(),
            code = self.code,
            message = %self.message,
            "http request failed"
        );
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// The code for a status that axum or a layer answered without a JSON body.
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::TOO_MANY_REQUESTS => "RATE_LIMITED",
        s if s.is_server_error() => "INTERNAL_ERROR",
        _ => "INVALID_REQUEST",
    }
}
