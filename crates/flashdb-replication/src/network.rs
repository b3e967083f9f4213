//! The nodes' own traffic on `--raft-port`: Raft's RPCs as HTTP/1.1 `POST`s with JSON
//! bodies (`/raft/append`, `/raft/vote`, `/raft/snapshot`), served with axum and sent
//! with a pooled reqwest client. The server adds its own routes to the same listener
//! (forwarded commands, node information).

use std::error::Error;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::RwLock;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::identity::{Identity, GROUP_HEADER};

/// How this process reaches other nodes' group ports: plain HTTP, or HTTPS with mutual
/// TLS (`--tls-replication yes`). A client is pooled, with `TCP_NODELAY` (small
/// request/response exchanges, which Nagle's algorithm would hold back until the peer's
/// delayed acknowledgement).
#[derive(Debug, Clone)]
struct Transport {
    client: reqwest::Client,
    scheme: &'static str,
}

fn transport() -> &'static RwLock<Transport> {
    static TRANSPORT: OnceLock<RwLock<Transport>> = OnceLock::new();
    TRANSPORT.get_or_init(|| {
        RwLock::new(Transport {
            client: client_builder().build().unwrap_or_default(),
            scheme: "http",
        })
    })
}

fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
}

/// Makes peer traffic HTTPS with `tls` (this node's certificate as its client identity,
/// and the CA that peers' certificates must chain to), or plain HTTP with `None`.
/// Requests sent from now on use it; those in flight finish as they started.
pub fn set_peer_tls(tls: Option<rustls::ClientConfig>) -> Result<(), reqwest::Error> {
    let next = match tls {
        Some(config) => Transport {
            client: client_builder().use_preconfigured_tls(config).build()?,
            scheme: "https",
        },
        None => Transport {
            client: client_builder().build()?,
            scheme: "http",
        },
    };
    *transport().write() = next;
    Ok(())
}

/// The process's client for requests to other nodes' group ports (a handle to a shared
/// pool: cheap to clone).
pub fn peer_client() -> reqwest::Client {
    transport().read().client.clone()
}

/// The URL of `path` on the group port at `addr`, with the scheme peer traffic uses.
pub fn peer_url(addr: &str, path: &str) -> String {
    format!("{}://{addr}{path}", transport().read().scheme)
}

use crate::meta_file::GroupId;
use crate::types::{PeerNode, TypeConfig};

/// A Raft node of this group.
pub type Raft = openraft::Raft<TypeConfig>;

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, PeerNode, RaftError<u64, E>>>;

/// Makes the clients through which this node's Raft reaches each peer.
#[derive(Debug, Clone)]
pub struct Network {
    identity: Arc<Identity>,
}

impl Network {
    /// A network whose messages carry `identity`'s group.
    pub fn new(identity: Arc<Identity>) -> Network {
        Network { identity }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &PeerNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.raft_addr.clone(),
            identity: self.identity.clone(),
        }
    }
}

/// This node's link to one peer.
#[derive(Debug)]
pub struct PeerClient {
    target: u64,
    addr: String,
    identity: Arc<Identity>,
}

impl PeerClient {
    async fn call<Req, Resp, E>(&self, path: &str, req: &Req, ttl: Duration) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: Error + DeserializeOwned,
    {
        let body = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        // The transport is looked up per request, so that reloaded certificates serve
        // links that openraft keeps for the life of a replication stream.
        let request = peer_client()
            .post(peer_url(&self.addr, path))
            .timeout(ttl)
            .body(body);
        let resp = self.identity.tag(request).send().await.map_err(|e| {
            if e.is_connect() {
                RPCError::Unreachable(Unreachable::new(&e))
            } else {
                RPCError::Network(NetworkError::new(&e))
            }
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        if !status.is_success() {
            let msg = String::from_utf8_lossy(&bytes).into_owned();
            return Err(RPCError::Network(NetworkError::new(
                &std::io::Error::other(format!("{path} answered {status}: {msg}")),
            )));
        }
        let r: Result<Resp, RaftError<u64, E>> =
            serde_json::from_slice(&bytes).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        self.call("/raft/append", &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        self.call("/raft/snapshot", &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        self.call("/raft/vote", &rpc, option.hard_ttl()).await
    }
}

fn bad_request(e: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, e.to_string()).into_response()
}

fn json<T: Serialize>(v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => ([(axum::http::header::CONTENT_TYPE, "application/json")], b).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Decodes a request's JSON body, hands it to `call`, and encodes what it answers; a
/// body that does not decode is a `400`.
async fn serve_rpc<Req, Resp, Fut>(body: &[u8], call: impl FnOnce(Req) -> Fut) -> Response
where
    Req: DeserializeOwned,
    Resp: Serialize,
    Fut: std::future::Future<Output = Resp>,
{
    match serde_json::from_slice::<Req>(body) {
        Ok(req) => json(&call(req).await),
        Err(e) => bad_request(e),
    }
}

async fn append(State(raft): State<Arc<Raft>>, body: Bytes) -> Response {
    serve_rpc(&body, |req: AppendEntriesRequest<TypeConfig>| {
        raft.append_entries(req)
    })
    .await
}

async fn vote(State(raft): State<Arc<Raft>>, body: Bytes) -> Response {
    serve_rpc(&body, |req: VoteRequest<u64>| raft.vote(req)).await
}

async fn snapshot(State(raft): State<Arc<Raft>>, body: Bytes) -> Response {
    serve_rpc(&body, |req: InstallSnapshotRequest<TypeConfig>| {
        raft.install_snapshot(req)
    })
    .await
}

/// `POST /flashdb/elect`: the leader hands its office to this node (see
/// [`crate::handover`]), which stands for election at once.
async fn elect(State(raft): State<Arc<Raft>>) -> Response {
    match raft.trigger().elect().await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// `POST /flashdb/read-index`: on the leader, the log index a read that starts now must
/// see (confirmed by a majority to be the leader's), as `{"index": N}`; `421` elsewhere.
async fn read_index(State(raft): State<Arc<Raft>>) -> Response {
    match raft.get_read_log_id().await {
        Ok((read, applied)) => {
            let index = read.max(applied).map_or(0, |l| l.index);
            axum::Json(serde_json::json!({ "index": index })).into_response()
        }
        Err(e) => (StatusCode::MISDIRECTED_REQUEST, e.to_string()).into_response(),
    }
}

/// Takes a message only from a node of this node's group: `409 Conflict` otherwise.
async fn same_group(
    State(identity): State<Arc<Identity>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let theirs = req
        .headers()
        .get(GROUP_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|s| GroupId(s.to_string()));
    // Saving a new node's group id is a small synchronous write, done once.
    match identity.admit(theirs.as_ref()) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            tracing::warn!(error = %e, "refused a message from another group");
            (StatusCode::CONFLICT, e.to_string()).into_response()
        }
    }
}

/// The routes that receive Raft's RPCs for `raft`, from nodes of `identity`'s group.
pub fn raft_router(raft: Arc<Raft>, identity: Arc<Identity>) -> Router {
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/flashdb/elect", post(elect))
        .route("/flashdb/read-index", post(read_index))
        // A snapshot chunk (3 MiB by default) in JSON, with room to spare.
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .layer(axum::middleware::from_fn_with_state(identity, same_group))
        .with_state(raft)
}
