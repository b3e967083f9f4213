//! Replication group routes: `GET /api/v1/cluster` (the group as this node sees it) and
//! the membership changes, which run `FLASHDB.GROUP ADD|REMOVE|REPLACE` on the leader
//! (from any node) exactly as a RESP client's would.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use flashdb_protocol::ProtocolVersion;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::json::JsonBody;
use crate::server::Server;

/// One member of the group.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// Its node id.
    pub id: u64,
    /// Its group port, `HOST:PORT`.
    pub raft_addr: String,
    /// Its Redis protocol port, `HOST:PORT` (empty until this node has learned it).
    pub resp_addr: String,
    /// `voter` or `learner`.
    pub role: String,
    /// Whether it leads the group.
    pub leader: bool,
    /// How far its log matches the leader's (known on the leader, and for this node).
    pub match_index: Option<u64>,
}

/// The group as this node sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterView {
    /// Always true.
    pub success: bool,
    /// `group`, or `single` for a node started without `--peers`.
    pub mode: String,
    /// The group's id (none until the group has formed).
    pub group_id: Option<String>,
    /// This node's id.
    pub node_id: Option<u64>,
    /// The leader's id, if one is known.
    pub leader_id: Option<u64>,
    /// The current Raft term.
    pub term: u64,
    /// The last log index known committed.
    pub commit_index: u64,
    /// The last log index applied to memory.
    pub applied_index: u64,
    /// The members, voters first.
    pub members: Vec<MemberView>,
}

/// A node to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNode {
    /// Its node id (`--node-id`).
    pub id: u64,
    /// Its group port, `HOST:PORT` (`--raft-port`).
    pub raft_addr: String,
}

/// The answer of a membership change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeResponse {
    /// Always true.
    pub success: bool,
}

#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster",
    responses((status = 200, description = "The group as this node sees it", body = ClusterView)))]
/// `GET /api/v1/cluster`.
pub async fn view(State(server): State<Arc<Server>>) -> Json<ClusterView> {
    let Some(g) = server.group.get() else {
        return Json(ClusterView {
            success: true,
            mode: "single".into(),
            group_id: None,
            node_id: None,
            leader_id: None,
            term: 0,
            commit_index: 0,
            applied_index: 0,
            members: Vec::new(),
        });
    };
    let m = g.metrics();
    let resp = server.peer_resp.read().clone();
    let members = g
        .members()
        .into_iter()
        .map(|mem| MemberView {
            id: mem.id,
            raft_addr: mem.node.raft_addr,
            resp_addr: resp.get(&mem.id).cloned().unwrap_or_default(),
            role: if mem.voter { "voter" } else { "learner" }.into(),
            leader: m.current_leader == Some(mem.id),
            match_index: mem.matched,
        })
        .collect();
    Json(ClusterView {
        success: true,
        mode: "group".into(),
        group_id: g.identity.get().map(|id| id.0),
        node_id: Some(g.id),
        leader_id: m.current_leader,
        term: m.current_term,
        commit_index: g.log.committed().map_or(0, |l| l.index),
        applied_index: m.last_applied.map_or(0, |l| l.index),
        members,
    })
}

#[utoipa::path(post, path = "/api/v1/cluster/nodes", tag = "cluster",
    request_body = NewNode,
    responses(
        (status = 200, description = "Added: caught up and a voter", body = ChangeResponse),
        (status = 400, description = "Bad body, or the change cannot be made", body = super::openapi::ErrorResponse),
        (status = 409, description = "Not a member of a replication group", body = super::openapi::ErrorResponse),
    ))]
/// `POST /api/v1/cluster/nodes`: `FLASHDB.GROUP ADD`.
pub async fn add(
    State(server): State<Arc<Server>>,
    JsonBody(node): JsonBody<NewNode>,
) -> Result<Json<ChangeResponse>, ApiError> {
    change(
        &server,
        vec!["ADD".into(), node.id.to_string(), node.raft_addr],
    )
    .await
}

#[utoipa::path(delete, path = "/api/v1/cluster/nodes/{id}", tag = "cluster",
    params(("id" = u64, Path, description = "The node to remove")),
    responses(
        (status = 200, description = "Removed", body = ChangeResponse),
        (status = 400, description = "The change cannot be made", body = super::openapi::ErrorResponse),
        (status = 409, description = "Not a member of a replication group", body = super::openapi::ErrorResponse),
    ))]
/// `DELETE /api/v1/cluster/nodes/{id}`: `FLASHDB.GROUP REMOVE`.
pub async fn remove(
    State(server): State<Arc<Server>>,
    Path(id): Path<u64>,
) -> Result<Json<ChangeResponse>, ApiError> {
    change(&server, vec!["REMOVE".into(), id.to_string()]).await
}

#[utoipa::path(post, path = "/api/v1/cluster/nodes/{id}/replace", tag = "cluster",
    params(("id" = u64, Path, description = "The voter to replace")),
    request_body = NewNode,
    responses(
        (status = 200, description = "Replaced", body = ChangeResponse),
        (status = 400, description = "Bad body, or the change cannot be made", body = super::openapi::ErrorResponse),
        (status = 409, description = "Not a member of a replication group", body = super::openapi::ErrorResponse),
    ))]
/// `POST /api/v1/cluster/nodes/{id}/replace`: `FLASHDB.GROUP REPLACE`.
pub async fn replace(
    State(server): State<Arc<Server>>,
    Path(old): Path<u64>,
    JsonBody(node): JsonBody<NewNode>,
) -> Result<Json<ChangeResponse>, ApiError> {
    change(
        &server,
        vec![
            "REPLACE".into(),
            old.to_string(),
            node.id.to_string(),
            node.raft_addr,
        ],
    )
    .await
}

/// Runs `FLASHDB.GROUP <args>` on the leader and maps its reply.
async fn change(server: &Arc<Server>, args: Vec<String>) -> Result<Json<ChangeResponse>, ApiError> {
    if server.group.get().is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "CONFLICT",
            "this node is not a member of a replication group",
        ));
    }
    let mut command = vec![b"FLASHDB.GROUP".to_vec()];
    command.extend(args.into_iter().map(String::into_bytes));
    let (reply, _) = crate::group::forward(server, 0, ProtocolVersion::Resp2, &[command], None)
        .await
        .map_err(|msg| ApiError::from_reply(&msg))?;
    match reply.strip_prefix(b"-") {
        Some(err) => {
            let msg = String::from_utf8_lossy(err);
            Err(ApiError::from_reply(msg.trim_end()))
        }
        None => Ok(Json(ChangeResponse { success: true })),
    }
}
