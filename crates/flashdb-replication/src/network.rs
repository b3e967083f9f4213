//! The nodes' own traffic on `--raft-port`, served with axum and sent with a pooled
//! reqwest client: `AppendEntries` as binary frames on a connection each replication
//! stream keeps (`/raft/stream`, see [`crate::wire`]), the rarer RPCs as HTTP/1.1 `POST`s
//! with JSON bodies (`/raft/vote`, `/raft/snapshot`, and `/raft/append` for a peer that
//! does not offer the stream). The server adds its own routes to the same listener
//! (forwarded commands, node information).

use std::error::Error;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONNECTION, UPGRADE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use hyper_util::rt::TokioIo;
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
use tokio::io::{AsyncRead, AsyncWrite, BufStream};

use crate::identity::{Identity, GROUP_HEADER};
use crate::log_store::LogStore;
use crate::wire;

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
use crate::types::{LogId, PeerNode, TypeConfig};

/// A Raft node of this group.
pub type Raft = openraft::Raft<TypeConfig>;

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, PeerNode, RaftError<u64, E>>>;

/// Makes the clients through which this node's Raft reaches each peer.
#[derive(Debug, Clone)]
pub struct Network {
    identity: Arc<Identity>,
    log: Option<LogStore>,
}

impl Network {
    /// A network whose messages carry `identity`'s group.
    pub fn new(identity: Arc<Identity>) -> Network {
        Network {
            identity,
            log: None,
        }
    }

    /// The same network, whose `AppendEntries` tell followers no commit index beyond what
    /// `log` holds durably (see [`LogStore::durable_commit`]).
    pub fn capping_commit(self, log: LogStore) -> Network {
        Network {
            log: Some(log),
            ..self
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &PeerNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.raft_addr.clone(),
            identity: self.identity.clone(),
            log: self.log.clone(),
            stream: Mutex::new(None),
            legacy: false,
            large: None,
        }
    }
}

/// This node's link to one peer.
pub struct PeerClient {
    target: u64,
    addr: String,
    identity: Arc<Identity>,
    /// This node's log, when the commit index sent is capped at what it holds durably.
    log: Option<LogStore>,
    /// The `AppendEntries` connection, between exchanges. Taken out while one runs, so
    /// that an exchange openraft abandons (its timeout) takes the connection with it,
    /// rather than leaving the next one to read the abandoned reply. (In a mutex only
    /// so that the link is `Sync`, as openraft requires: `&mut self` reaches it without
    /// locking.)
    stream: Mutex<Option<BufStream<reqwest::Upgraded>>>,
    /// The peer answered `/raft/stream` with `404`: a FlashDB from before the stream,
    /// sent `AppendEntries` as HTTP requests.
    legacy: bool,
    /// The large `AppendEntries` running to its end, if any.
    large: Option<Large>,
}

impl std::fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerClient")
            .field("target", &self.target)
            .field("addr", &self.addr)
            .field("legacy", &self.legacy)
            .finish()
    }
}

fn network_error<E: Error>(e: impl Error + 'static) -> RPCError<u64, PeerNode, RaftError<u64, E>> {
    RPCError::Network(NetworkError::new(&e))
}

/// A request that failed to reach the peer: unreachable if no connection was made.
fn send_error<E: Error>(e: reqwest::Error) -> RPCError<u64, PeerNode, RaftError<u64, E>> {
    if e.is_connect() {
        RPCError::Unreachable(Unreachable::new(&e))
    } else {
        network_error(e)
    }
}

/// Opens an `AppendEntries` connection to the peer at `addr`: `None` if the peer does
/// not offer it (a FlashDB from before the stream).
async fn open_stream(
    addr: &str,
    identity: &Identity,
) -> Result<Option<BufStream<reqwest::Upgraded>>, RPCError<u64, PeerNode, RaftError<u64>>> {
    let request = peer_client()
        .post(peer_url(addr, "/raft/stream"))
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, wire::PROTOCOL);
    let resp = identity.tag(request).send().await.map_err(send_error)?;
    match resp.status() {
        StatusCode::SWITCHING_PROTOCOLS => {}
        StatusCode::NOT_FOUND => return Ok(None),
        status => {
            let msg = resp.text().await.unwrap_or_default();
            return Err(network_error(std::io::Error::other(format!(
                "/raft/stream answered {status}: {msg}"
            ))));
        }
    }
    let io = resp.upgrade().await.map_err(network_error)?;
    Ok(Some(BufStream::new(io)))
}

/// Sends one request frame and reads the reply on `io`.
async fn send_and_read<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    frame: &[u8],
) -> Result<wire::Reply, wire::WireError> {
    wire::write_frame(io, frame).await?;
    match wire::read_frame(io).await? {
        Some(body) => wire::decode_reply(&body),
        None => Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()),
    }
}

/// Request frames at least this large go out as a [`Large`] exchange. Smaller ones are
/// sent and made durable well within openraft's timeout.
const LARGE_FRAME: usize = 1 << 20;

/// How long a [`Large`] exchange may take, plus as much again for each
/// [`LARGE_PER_TIMEOUT`] bytes of its frame.
const LARGE_TIMEOUT: Duration = Duration::from_secs(10);

/// See [`LARGE_TIMEOUT`].
const LARGE_PER_TIMEOUT: usize = 64 << 20;

/// An `AppendEntries` whose frame is [`LARGE_FRAME`] or more (an entry with a value of
/// many megabytes), which may not finish within openraft's timeout for one request:
/// its heartbeat interval, 50 ms. Abandoned at the timeout and sent again whole, it would
/// never finish, and the heartbeats queued behind it would stop too, so the followers
/// would keep calling elections. So it runs to its end in a task of its own, on a
/// connection of its own, whatever openraft's timeout does, while heartbeats go on the
/// usual connection. openraft sends the same request again after its timeout; that one
/// waits for the task and takes its reply. (A reply given to an identical request is
/// safe: it is what the network delaying the first reply and losing the second would
/// deliver, which Raft allows.)
struct Large {
    /// What makes a request the same one: its vote, where it starts and where it ends.
    key: LargeKey,
    /// The reply, once the exchange is over: the peer's answer, or why it failed
    /// (`None`: the peer has no `AppendEntries` stream).
    reply: tokio::sync::oneshot::Receiver<LargeReply>,
}

type LargeReply = Result<wire::Reply, Option<String>>;

type LargeKey = (openraft::Vote<u64>, Option<LogId>, Option<LogId>);

fn large_key(rpc: &AppendEntriesRequest<TypeConfig>) -> LargeKey {
    (
        rpc.vote,
        rpc.prev_log_id,
        rpc.entries.last().map(|e| e.log_id),
    )
}

impl PeerClient {
    /// Opens the `AppendEntries` connection: `None` if the peer does not offer it.
    async fn connect(
        &mut self,
    ) -> Result<Option<BufStream<reqwest::Upgraded>>, RPCError<u64, PeerNode, RaftError<u64>>> {
        let io = open_stream(&self.addr, &self.identity).await?;
        if io.is_none() {
            tracing::info!(
                peer = self.target,
                "peer has no AppendEntries stream; using HTTP requests"
            );
            self.legacy = true;
        }
        Ok(io)
    }

    /// A [`Large`] exchange: joins the one running for the same request (`key`), or
    /// starts one that sends `frame` (empty when joining). `None` if the peer turns out
    /// to have no stream.
    async fn large_exchange(
        &mut self,
        key: LargeKey,
        frame: Vec<u8>,
    ) -> Option<RpcResult<AppendEntriesResponse<u64>>> {
        if !self.large.as_ref().is_some_and(|l| l.key == key) {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let (addr, identity) = (self.addr.clone(), self.identity.clone());
            // Bounded, so that a peer that stopped answering (paused, or cut off) is
            // tried again on a new connection rather than waited for until TCP gives up.
            let limit = LARGE_TIMEOUT + LARGE_TIMEOUT * (frame.len() / LARGE_PER_TIMEOUT) as u32;
            tokio::spawn(async move {
                let exchange = async {
                    match open_stream(&addr, &identity).await {
                        Ok(Some(mut io)) => send_and_read(&mut io, &frame)
                            .await
                            .map_err(|e| Some(e.to_string())),
                        Ok(None) => Err(None),
                        Err(e) => Err(Some(e.to_string())),
                    }
                };
                let reply = tokio::time::timeout(limit, exchange)
                    .await
                    .unwrap_or_else(|_| Err(Some(format!("no reply within {limit:?}"))));
                let _ = tx.send(reply);
            });
            self.large = Some(Large { key, reply: rx });
        }
        // Cancelled here by openraft's timeout, the task goes on; the request sent again
        // comes back here.
        let reply = (&mut self.large.as_mut()?.reply).await.ok();
        self.large = None;
        Some(match reply {
            Some(Ok(reply)) => {
                reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Some(Err(None)) => {
                // Found out here rather than by `connect`: the HTTP requests from now on.
                self.legacy = true;
                return None;
            }
            Some(Err(Some(e))) => Err(network_error(std::io::Error::other(e))),
            None => Err(network_error(std::io::Error::other(
                "the exchange ended without a reply",
            ))),
        })
    }

    /// One `AppendEntries` on the peer's connection (opened first if there is none):
    /// `None` if the peer does not offer it.
    async fn exchange(
        &mut self,
        rpc: &AppendEntriesRequest<TypeConfig>,
    ) -> Option<RpcResult<AppendEntriesResponse<u64>>> {
        let key = large_key(rpc);
        // The request sent again after openraft's timeout joins the exchange running,
        // without being encoded again (many megabytes, every 50 ms).
        if self.large.as_ref().is_some_and(|l| l.key == key) {
            return self.large_exchange(key, Vec::new()).await;
        }
        let frame = wire::encode_request(rpc);
        if frame.len() >= LARGE_FRAME {
            return self.large_exchange(key, frame).await;
        }
        let mut kept = self.stream.get_mut().take();
        loop {
            let reused = kept.is_some();
            let mut io = match kept.take() {
                Some(io) => io,
                None => match self.connect().await {
                    Ok(Some(io)) => io,
                    Ok(None) => return None,
                    Err(e) => return Some(Err(e)),
                },
            };
            let reply = send_and_read(&mut io, &frame).await;
            return Some(match reply {
                Ok(reply) => {
                    *self.stream.get_mut() = Some(io);
                    reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
                }
                // A kept connection the peer has closed (it restarted, say) fails at
                // once: the request goes again on a new one. Raft takes an
                // AppendEntries twice without harm.
                Err(wire::WireError::Io(_)) if reused => continue,
                Err(e) => Err(network_error(e)),
            });
        }
    }

    async fn call<Req, Resp, E>(&self, path: &str, req: &Req, ttl: Duration) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: Error + DeserializeOwned,
    {
        let body = serde_json::to_vec(req).map_err(network_error)?;
        // The transport is looked up per request, so that reloaded certificates serve
        // links that openraft keeps for the life of a replication stream.
        let request = peer_client()
            .post(peer_url(&self.addr, path))
            .timeout(ttl)
            .body(body);
        let resp = self
            .identity
            .tag(request)
            .send()
            .await
            .map_err(send_error)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(network_error)?;
        if !status.is_success() {
            let msg = String::from_utf8_lossy(&bytes).into_owned();
            return Err(network_error(std::io::Error::other(format!(
                "{path} answered {status}: {msg}"
            ))));
        }
        let r: Result<Resp, RaftError<u64, E>> =
            serde_json::from_slice(&bytes).map_err(network_error)?;
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        if let Some(log) = &self.log {
            rpc.leader_commit = log.durable_commit(rpc.leader_commit);
        }
        if !self.legacy {
            if let Some(r) = self.exchange(&rpc).await {
                return r;
            }
        }
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

/// `POST /raft/stream` with `Upgrade: flashdb-raft/1`: the connection becomes a stream
/// of `AppendEntries` frames (see [`crate::wire`]), answered in order.
async fn stream(State(raft): State<Arc<Raft>>, mut req: axum::extract::Request) -> Response {
    let wanted = req
        .headers()
        .get(UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(wire::PROTOCOL.as_bytes()));
    if !wanted {
        return (
            StatusCode::UPGRADE_REQUIRED,
            format!("/raft/stream needs Upgrade: {}", wire::PROTOCOL),
        )
            .into_response();
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(io) => serve_stream(&raft, TokioIo::new(io)).await,
            Err(e) => tracing::debug!(error = %e, "an AppendEntries stream failed to open"),
        }
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [(CONNECTION, "upgrade"), (UPGRADE, wire::PROTOCOL)],
    )
        .into_response()
}

/// Answers the `AppendEntries` frames of one connection until it closes or sends
/// something that does not decode.
async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(raft: &Raft, io: S) {
    let mut io = BufStream::new(io);
    loop {
        let body = match wire::read_frame(&mut io).await {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "an AppendEntries stream ended");
                return;
            }
        };
        let reply = match wire::decode_request(&body) {
            Ok(req) => raft.append_entries(req).await,
            Err(e) => {
                tracing::warn!(error = %e, "a peer sent an AppendEntries that does not decode");
                return;
            }
        };
        if wire::write_frame(&mut io, &wire::encode_reply(&reply))
            .await
            .is_err()
        {
            return;
        }
    }
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
        .route("/raft/stream", post(stream))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/flashdb/elect", post(elect))
        .route("/flashdb/read-index", post(read_index))
        // A snapshot chunk (3 MiB by default) in JSON, with room to spare.
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .layer(axum::middleware::from_fn_with_state(identity, same_group))
        .with_state(raft)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use openraft::{CommittedLeaderId, LogId, Vote};

    /// A peer at a new listener serving `app`; the identity's directory is removed with
    /// the returned guard.
    async fn peer(app: Router, name: &str) -> (PeerClient, TempDir) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let dir = TempDir::new(name);
        let identity = Arc::new(Identity::open(&dir.0).unwrap());
        let node = PeerNode {
            raft_addr: addr,
            resp_addr: String::new(),
        };
        let client = Network::new(identity).new_client(2, &node).await;
        (client, dir)
    }

    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("fdb-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn request(index: u64) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(1, 1),
            prev_log_id: Some(LogId::new(CommittedLeaderId::new(1, 1), index)),
            entries: Vec::new(),
            leader_commit: None,
        }
    }

    fn option() -> RPCOption {
        RPCOption::new(Duration::from_secs(5))
    }

    #[tokio::test]
    async fn a_peer_without_the_stream_is_sent_http_requests() {
        let streams = Arc::new(AtomicUsize::new(0));
        let seen = streams.clone();
        let app = Router::new()
            .route(
                "/raft/append",
                post(|body: Bytes| async move {
                    let req: AppendEntriesRequest<TypeConfig> =
                        serde_json::from_slice(&body).unwrap();
                    let reply: wire::Reply = if req.prev_log_id.unwrap().index == 7 {
                        Ok(AppendEntriesResponse::Conflict)
                    } else {
                        Ok(AppendEntriesResponse::Success)
                    };
                    json(&reply)
                }),
            )
            .fallback(move || {
                seen.fetch_add(1, Ordering::SeqCst);
                async { StatusCode::NOT_FOUND }
            });
        let (mut client, _dir) = peer(app, "legacy-peer").await;
        let r = client.append_entries(request(7), option()).await.unwrap();
        assert_eq!(r, AppendEntriesResponse::Conflict);
        let r = client.append_entries(request(8), option()).await.unwrap();
        assert_eq!(r, AppendEntriesResponse::Success);
        // Asked once for the stream, then told apart as an older peer.
        assert_eq!(streams.load(Ordering::SeqCst), 1);
        assert!(client.legacy);
    }

    /// A peer's stream that answers each request with the index it carried as a
    /// partial success: on the first connection, and to a request that carries entries
    /// (which take a real peer time to store), only after `delay`; with `one_each`
    /// closing each connection after one reply.
    async fn test_stream(
        State((connections, delay, one_each)): State<(Arc<AtomicUsize>, Duration, bool)>,
        mut req: axum::extract::Request,
    ) -> Response {
        let upgrade = hyper::upgrade::on(&mut req);
        let n = connections.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let mut io = BufStream::new(TokioIo::new(upgrade.await.unwrap()));
            while let Ok(Some(body)) = wire::read_frame(&mut io).await {
                let req = wire::decode_request(&body).unwrap();
                if n == 0 || !req.entries.is_empty() {
                    tokio::time::sleep(delay).await;
                }
                let reply = Ok(AppendEntriesResponse::PartialSuccess(req.prev_log_id));
                if wire::write_frame(&mut io, &wire::encode_reply(&reply))
                    .await
                    .is_err()
                    || one_each
                {
                    return;
                }
            }
        });
        (
            StatusCode::SWITCHING_PROTOCOLS,
            [(CONNECTION, "upgrade"), (UPGRADE, wire::PROTOCOL)],
        )
            .into_response()
    }

    /// A peer serving [`test_stream`] with `delay` and `one_each`, and its count of
    /// connections.
    async fn stream_peer(
        name: &str,
        delay: Duration,
        one_each: bool,
    ) -> (PeerClient, TempDir, Arc<AtomicUsize>) {
        let connections = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route("/raft/stream", post(test_stream))
            .with_state((connections.clone(), delay, one_each));
        let (client, dir) = peer(app, name).await;
        (client, dir, connections)
    }

    /// Sends appends carrying `indexes` one after another, and checks that each is
    /// answered with its own index (as [`test_stream`] answers).
    async fn each_answers_its_own(client: &mut PeerClient, indexes: std::ops::Range<u64>) {
        for index in indexes {
            let r = client
                .append_entries(request(index), option())
                .await
                .unwrap();
            let expected = Some(LogId::new(CommittedLeaderId::new(1, 1), index));
            assert_eq!(r, AppendEntriesResponse::PartialSuccess(expected));
        }
    }

    #[tokio::test]
    async fn an_abandoned_exchange_takes_its_connection_along() {
        let (mut client, _dir, connections) =
            stream_peer("slow-peer", Duration::from_millis(300), false).await;
        // openraft drops an append that outlives its timeout, as this does.
        let abandoned = tokio::time::timeout(
            Duration::from_millis(50),
            client.append_entries(request(1), option()),
        )
        .await;
        assert!(abandoned.is_err());
        // The next append must not read the abandoned one's late reply.
        each_answers_its_own(&mut client, 2..5).await;
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        assert!(!client.legacy);
    }

    /// An append carrying one entry with `bytes` of effects, after `index`.
    fn large_request(index: u64, bytes: usize) -> AppendEntriesRequest<TypeConfig> {
        use crate::types::{Item, Origin, Proposal};
        let mut r = request(index);
        r.entries = vec![openraft::Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index + 1),
            payload: openraft::EntryPayload::Normal(Proposal {
                origin: Origin {
                    node: 1,
                    incarnation: 1,
                },
                items: vec![Item {
                    local_seq: 1,
                    effects: vec![7; bytes].into(),
                }],
            }),
        }];
        r
    }

    #[tokio::test]
    async fn a_large_append_outlives_the_timeout_and_its_resend_takes_the_reply() {
        let (mut client, _dir, connections) =
            stream_peer("large-peer", Duration::from_millis(300), false).await;
        // The peer takes longer to answer the large append than openraft waits.
        let big = large_request(10, 2 << 20);
        let first = tokio::time::timeout(
            Duration::from_millis(50),
            client.append_entries(big.clone(), option()),
        )
        .await;
        assert!(first.is_err(), "answered before the peer's delay");
        // Heartbeats go on beside it, on a connection of their own.
        each_answers_its_own(&mut client, 1..4).await;
        // openraft sends the same append again after each timeout. Sent again each time,
        // it would never be answered in time; instead the first exchange goes on, and
        // once it ends its reply is this one's.
        let expected = Some(LogId::new(CommittedLeaderId::new(1, 1), 10));
        let start = std::time::Instant::now();
        let reply = loop {
            let r = tokio::time::timeout(
                Duration::from_millis(50),
                client.append_entries(big.clone(), option()),
            )
            .await;
            if let Ok(r) = r {
                break r.unwrap();
            }
            assert!(start.elapsed() < Duration::from_secs(10), "never answered");
        };
        assert_eq!(reply, AppendEntriesResponse::PartialSuccess(expected));
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        assert!(client.large.is_none());
    }

    #[tokio::test]
    async fn a_connection_the_peer_closed_is_replaced_at_once() {
        let (mut client, _dir, connections) =
            stream_peer("closing-peer", Duration::ZERO, true).await;
        each_answers_its_own(&mut client, 1..4).await;
        assert_eq!(connections.load(Ordering::SeqCst), 3);
    }
}
