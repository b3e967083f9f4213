//! `POST /api/v1/pipeline`: several commands in one request, run in order on one
//! session, each answered in place (an error reply is that command's answer, as in a
//! RESP pipeline, not the request's failure); and `GET /api/v1/auth`: whether the
//! request's credentials log in, answered `200` either way, so that a page can ask
//! without the failure a browser reports for a `401`.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use flashdb_protocol::Frame;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::error::ApiError;
use super::json::{arg, frame_is_binary, frame_to_json, Encoding, JsonBody};
use super::session::{connection_only, Session};
use crate::server::Server;

/// Most commands one pipeline request may carry.
pub const MAX_COMMANDS: usize = 1000;

/// The body of `POST /api/v1/pipeline`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineBody {
    /// The commands, each a command name and its arguments (strings, or numbers sent as
    /// their text); at most 1,000.
    pub commands: Vec<Vec<Value>>,
    /// Database to run them in, 0 by default.
    pub db: Option<usize>,
    /// `base64` when the arguments are sent base64-encoded.
    pub encoding: Option<Encoding>,
}

/// One command's answer: `result` (with `encoding` when its strings are base64), or
/// `error` with the error reply word for word.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineReply {
    /// The reply, mapped as `POST /api/v1/execute` maps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// `base64` when a string of this reply is not UTF-8 (then all of its strings are).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The error reply, when the command failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer of `POST /api/v1/pipeline`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineResponse {
    /// Always true: commands' errors are in `replies`.
    pub success: bool,
    /// One answer per command, in order.
    pub replies: Vec<PipelineReply>,
}

fn failed(message: String) -> PipelineReply {
    PipelineReply {
        result: None,
        encoding: None,
        error: Some(message),
    }
}

#[utoipa::path(post, path = "/api/v1/pipeline", tag = "commands",
    request_body = PipelineBody,
    responses(
        (status = 200, description = "One answer per command", body = PipelineResponse),
        (status = 400, description = "A bad body (no commands, too many, a bad argument)", body = super::openapi::ErrorResponse),
    ))]
/// `POST /api/v1/pipeline`: runs commands in order, as a RESP client's pipeline.
pub async fn pipeline(
    State(server): State<Arc<Server>>,
    JsonBody(body): JsonBody<PipelineBody>,
) -> Result<Json<PipelineResponse>, ApiError> {
    if body.commands.is_empty() || body.commands.len() > MAX_COMMANDS {
        return Err(ApiError::invalid(format!(
            "commands must hold 1 to {MAX_COMMANDS} commands, got {}",
            body.commands.len()
        )));
    }
    let enc = body.encoding.unwrap_or_default();
    let commands = body
        .commands
        .iter()
        .enumerate()
        .map(|(c, cmd)| {
            cmd.iter()
                .enumerate()
                .map(|(i, v)| arg(&format!("commands[{c}][{i}]"), v, enc))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut session = Session::new(&server, body.db.unwrap_or(0))?;
    let mut replies = Vec::with_capacity(commands.len());
    for args in &commands {
        let Some(name) = args.first() else {
            replies.push(failed("ERR empty command".into()));
            continue;
        };
        if let Some(hint) = connection_only(name) {
            replies.push(failed(format!(
                "ERR {} needs a connection of its own: {hint}",
                String::from_utf8_lossy(name).to_ascii_uppercase()
            )));
            continue;
        }
        let reply = match session.call(args).await {
            Ok(Frame::Error(msg)) => failed(String::from_utf8_lossy(&msg).into_owned()),
            Ok(frame) => {
                let out = if frame_is_binary(&frame) {
                    Encoding::Base64
                } else {
                    Encoding::Utf8
                };
                PipelineReply {
                    result: Some(frame_to_json(&frame, out)),
                    encoding: (out == Encoding::Base64).then(|| "base64".into()),
                    error: None,
                }
            }
            Err(e) => failed(e.message),
        };
        replies.push(reply);
    }
    Ok(Json(PipelineResponse {
        success: true,
        replies,
    }))
}

/// Who a request logged in as, set by the authentication layer for `GET /api/v1/auth`
/// (which it lets through whatever the outcome).
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// The user the credentials named and whose password matched, if any.
    pub user: Option<String>,
    /// Whether credentials are needed at all (the default user has a password or is off).
    pub required: bool,
}

#[utoipa::path(get, path = "/api/v1/auth", tag = "server",
    responses((status = 200, description = "`{\"success\": true, \"authenticated\": bool, \"user\": name or null, \"required\": bool}`", body = Object)))]
/// `GET /api/v1/auth`: whether the request's credentials log in, and as whom.
pub async fn auth_status(Extension(outcome): Extension<LoginOutcome>) -> Json<Value> {
    Json(json!({
        "success": true,
        "authenticated": outcome.user.is_some(),
        "user": outcome.user,
        "required": outcome.required,
    }))
}
