//! A node of a replication group (`--peers`): recovering its Raft log and state, starting
//! its Raft, the `--raft-port` listener, and running commands on the leader for clients
//! connected to another node.
//!
//! Any node accepts any command. On the leader, commands run as on a single node (their
//! replies wait until their writes are committed on a majority). On any other node a data
//! command is sent to the leader over the group's port and its reply relayed, so that it
//! is linearizable wherever the client is connected. A command whose leader failed while
//! running it gets `-TRYAGAIN` (its outcome is unknown); one that never reached a leader
//! is retried until one is elected, for up to [`FORWARD_PATIENCE`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use flashdb_protocol::ProtocolVersion;
use flashdb_replication::meta_file::VoteFile;
use flashdb_replication::network::peer_url;
use flashdb_replication::{
    decode_meta, GroupNode, Identity, Local, LogRecovery, LogStore, PeerNode, Proposer,
    StateMachine, Timing,
};
use flashdb_storage::FsyncPolicy;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::connection::{run_detached, ConnState};
use crate::persistence::{self, Persistence};
use crate::server::Server;

/// How long a command waits for a leader to run it (an election usually takes well under
/// a second).
pub const FORWARD_PATIENCE: Duration = Duration::from_secs(10);

/// What recovery of a group node's data directory produced.
pub struct Recovered {
    persistence: Persistence,
    log: LogStore,
    sm: StateMachine,
    local: Arc<Local>,
    proposer: Proposer,
    identity: Arc<Identity>,
}

/// Recovers a group node: the snapshot into the keyspace, the log records into its Raft
/// log (they are applied by Raft once known committed, not here).
pub fn recover(server: &Arc<Server>, lock: flashdb_storage::DirLock) -> Result<Recovered, String> {
    let config = &server.config;
    let Some(group) = &config.group else {
        return Err("not a group node".into());
    };
    let mut rebuilt = LogRecovery::new();
    let mut on_record = |seq: u64, payload: &[u8]| -> Result<(), String> {
        rebuilt.on_record(seq, payload).map_err(|e| e.to_string())
    };
    // The Raft log must be durable before an entry counts as stored: always fsync.
    let (p, report) = persistence::open_with(
        config,
        lock,
        &server.ks,
        FsyncPolicy::Always,
        &mut on_record,
    )
    .map_err(|e| e.to_string())?;
    let snapshot = match (&report.snapshot, &report.snapshot_meta) {
        (Some((path, _)), Some(meta)) => Some((path.clone(), decode_meta(meta)?)),
        (Some((path, _)), None) => {
            return Err(format!(
                "{} was written by a single node, not by a member of a group; start a group on an empty directory",
                path.display()
            ))
        }
        (None, _) => None,
    };
    rebuilt.covered_by_snapshot(snapshot.as_ref().and_then(|(_, m)| m.last_log_id));
    let log = rebuilt
        .open(p.wal.clone(), VoteFile::new(&config.dir))
        .map_err(|e| e.to_string())?;
    let local = Arc::new(Local::new(group.node_id));
    let sm = StateMachine::new(
        server.ks.clone(),
        &config.dir,
        log.clone(),
        local.clone(),
        snapshot,
    );
    let proposer = Proposer::new(local.clone());
    let identity = Arc::new(Identity::open(&config.dir).map_err(|e| e.to_string())?);
    Ok(Recovered {
        persistence: p,
        log,
        sm,
        local,
        proposer,
        identity,
    })
}

/// Starts Raft on a recovered node and serves the group's port.
pub async fn start(
    server: Arc<Server>,
    rec: Recovered,
    listener: TcpListener,
) -> Result<(), String> {
    let Some(group) = server.config.group.clone() else {
        return Err("not a group node".into());
    };
    let peers: BTreeMap<u64, PeerNode> = group
        .peers
        .iter()
        .map(|(id, addr)| {
            (
                *id,
                PeerNode {
                    raft_addr: addr.clone(),
                    resp_addr: String::new(),
                },
            )
        })
        .collect();
    server.ks.set_log_sink(Box::new(rec.proposer.clone()));
    let wal = rec.persistence.wal.clone();
    let _ = persistence::ACTIVE_WAL.set(wal);
    let _ = server.persistence.set(Arc::new(rec.persistence));
    let node = GroupNode::start(
        group.node_id,
        rec.identity.clone(),
        Timing {
            snapshot_every: group.snapshot_entries,
            ..Timing::default()
        },
        rec.log,
        rec.sm,
        rec.local,
        &rec.proposer,
    )
    .await
    .map_err(|e| e.to_string())?;
    let _ = server.group.set(node.clone());
    crate::fanout::install(&server);
    let app = flashdb_replication::network::raft_router(node.raft.clone(), rec.identity).merge(
        Router::new()
            .route("/flashdb/forward", post(forwarded))
            .route("/flashdb/node", get(node_info))
            .route("/flashdb/publish", post(crate::fanout::receive))
            .route("/flashdb/tap", post(crate::fanout::lease_tap))
            .with_state(server.clone()),
    );
    let srv = server.clone();
    tokio::spawn(async move {
        let tls_replication = srv.config.tls_replication;
        let tls = srv.clone();
        let stop = async move { srv.shutdown_signal().await };
        // Small request/response exchanges: Nagle's algorithm would hold each reply
        // back until the peer's delayed acknowledgement.
        use axum::serve::ListenerExt;
        let served = if tls_replication {
            match crate::tls::PeerListener::new(listener, move || {
                tls.tls.get().and_then(|t| t.peer_acceptor())
            }) {
                Ok(l) => axum::serve(l, app).with_graceful_shutdown(stop).await,
                Err(e) => Err(e),
            }
        } else {
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        };
        if let Err(e) = served {
            tracing::error!(error = %e, "the group port stopped");
        }
    });
    let me = format!(
        "{}:{}",
        server.config.bind,
        server.port.load(std::sync::atomic::Ordering::Relaxed)
    );
    server.peer_resp.write().insert(group.node_id, me);
    tokio::spawn(discover_peers(server.clone(), group.peers.clone()));
    tokio::spawn(release_watches(server.clone()));
    if !node.is_initialized().await.map_err(|e| e.to_string())? {
        tokio::spawn(form_when_ready(server.clone(), node.clone(), peers));
    }
    tracing::info!(node = group.node_id, "joined the replication group");
    crate::announce_ready(&server);
    server.ks.set_loading(false);
    Ok(())
}

/// Releases on the leader the watch sessions of this node's connections that ended
/// them (`UNWATCH`, `DISCARD`, `RESET`, a disconnection), as they come.
async fn release_watches(server: Arc<Server>) {
    let shutdown = server.shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = server.remote_watches.release_wanted.notified() => {}
            _ = &mut shutdown => return,
        }
        for id in server.remote_watches.take_releases() {
            let unwatch = [vec![b"UNWATCH".to_vec()]];
            // A session the leader lost is gone already; one not reached lapses there.
            let _ = forward(&server, 0, ProtocolVersion::Resp2, &unwatch, Some(id)).await;
        }
    }
}

/// A new node's first start: the node with the lowest id in `--peers` forms the group,
/// once a majority of the peers (itself included) answer and none of them belongs to a
/// group yet. A node that finds a peer in a group leaves it to that group to add it: it
/// was started to join one, not to form one.
async fn form_when_ready(
    server: Arc<Server>,
    node: Arc<GroupNode>,
    peers: BTreeMap<u64, PeerNode>,
) {
    if peers.keys().next() != Some(&node.id) {
        tracing::info!(node = node.id, "waiting to be reached by the group");
        return;
    }
    loop {
        if server
            .shutting_down
            .load(std::sync::atomic::Ordering::Relaxed)
            || node.identity.get().is_some()
        {
            return;
        }
        let mut fresh = 1;
        for (id, peer) in &peers {
            if *id == node.id {
                continue;
            }
            match node_info_of(&peer.raft_addr).await {
                Ok(info) if info.group.is_some() => {
                    tracing::info!(
                        node = node.id,
                        peer = id,
                        "a peer belongs to a group already: waiting to be added to it rather than forming one"
                    );
                    return;
                }
                Ok(_) => fresh += 1,
                Err(_) => {}
            }
        }
        if fresh * 2 > peers.len() {
            if let Err(e) = node.form(peers.clone()).await {
                tracing::info!(error = %e, "group not formed by this node");
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a node tells others about itself.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct NodeInfo {
    /// Its node id.
    pub id: u64,
    /// `HOST:PORT` of its Redis protocol listener.
    pub resp_addr: String,
    /// The group it belongs to, if any yet.
    #[serde(default)]
    pub group: Option<String>,
}

/// `GET /flashdb/node` on the group port.
async fn node_info(State(server): State<Arc<Server>>) -> Response {
    let Some(g) = server.group.get() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "not started").into_response();
    };
    let resp_addr = server
        .peer_resp
        .read()
        .get(&g.id)
        .cloned()
        .unwrap_or_default();
    axum::Json(NodeInfo {
        id: g.id,
        resp_addr,
        group: g.identity.get().map(|id| id.0),
    })
    .into_response()
}

/// Asks the node at `raft_addr` (its group port) about itself.
pub(crate) async fn node_info_of(raft_addr: &str) -> Result<NodeInfo, String> {
    let r = http_client()
        .get(peer_url(raft_addr, "/flashdb/node"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .map_err(|e| format!("no answer from {raft_addr}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("{raft_addr} answered {}", r.status()));
    }
    r.json::<NodeInfo>()
        .await
        .map_err(|e| format!("{raft_addr} is not a FlashDB group port: {e}"))
}

/// Learns the Redis protocol address of every member (for `ROLE` and `INFO`), asking
/// each on its group port: every half second while one has not answered, every ten
/// seconds once all have. The members are those of the latest membership, and the
/// `--peers` of the first start until there is one.
async fn discover_peers(server: Arc<Server>, peers: BTreeMap<u64, String>) {
    loop {
        let mut missing = false;
        let me = server.group.get().map(|g| g.id);
        let members: BTreeMap<u64, String> = match server.group.get() {
            Some(g) if !g.members().is_empty() => g
                .members()
                .into_iter()
                .map(|m| (m.id, m.node.raft_addr))
                .collect(),
            _ => peers.clone(),
        };
        for (id, addr) in &members {
            if Some(*id) == me {
                continue;
            }
            match node_info_of(addr).await {
                Ok(info) if info.id == *id && !info.resp_addr.is_empty() => {
                    server.peer_resp.write().insert(*id, info.resp_addr);
                }
                _ => missing = true,
            }
        }
        if server
            .shutting_down
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        // Addresses can change across restarts: asked again from time to time.
        let wait = if missing { 500 } else { 10_000 };
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

/// A command sent to the leader by another node.
#[derive(Debug, Serialize, Deserialize)]
struct ForwardRequest {
    /// The client's database.
    db: usize,
    /// The client's protocol (2 or 3), which the reply is encoded in.
    resp: u8,
    /// The commands, each argument base64: run in order in one session; the reply is
    /// the last one's.
    commands: Vec<Vec<String>>,
    /// The `WATCH` session they run in (0: a new one); the leader answers the session
    /// holding the watches afterwards in [`WATCH_SESSION_HEADER`], if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    watch_session: Option<u64>,
}

/// The response header naming the leader's watch session of a forwarded request.
const WATCH_SESSION_HEADER: &str = "flashdb-watch-session";

const NOT_LEADER: StatusCode = StatusCode::MISDIRECTED_REQUEST;

/// `POST /flashdb/forward` on the group port: runs a command here if this node leads.
async fn forwarded(State(server): State<Arc<Server>>, body: Bytes) -> Response {
    let req: ForwardRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut commands = Vec::with_capacity(req.commands.len());
    for c in &req.commands {
        let mut args = Vec::with_capacity(c.len());
        for a in c {
            match base64::engine::general_purpose::STANDARD.decode(a) {
                Ok(b) => args.push(b),
                Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
            }
        }
        if args.is_empty() {
            return (StatusCode::BAD_REQUEST, "an empty command").into_response();
        }
        commands.push(args);
    }
    if commands.is_empty() || req.db >= server.config.databases {
        return (StatusCode::BAD_REQUEST, "no command, or no such database").into_response();
    }
    match run_here(&server, req.db, req.resp, &commands, req.watch_session).await {
        Some((reply, Some(session))) => {
            ([(WATCH_SESSION_HEADER, session.to_string())], reply).into_response()
        }
        Some((reply, None)) => reply.into_response(),
        None => (NOT_LEADER, "not the leader").into_response(),
    }
}

/// Runs commands on this node if it leads, in watch session `session` if given; the
/// last one's reply and the session then holding the watches, or `None` if it does not
/// lead.
async fn run_here(
    server: &Arc<Server>,
    db: usize,
    resp: u8,
    commands: &[Vec<Vec<u8>>],
    session: Option<u64>,
) -> Option<(Vec<u8>, Option<u64>)> {
    let node = server.group.get()?;
    if !node.is_ready_leader() {
        return None;
    }
    let handle = server.new_client("group".into(), "group".into());
    // The node the client is connected to authenticated it and checked its ACL rules.
    let mut st = ConnState::new(handle, true);
    st.acl_exempt = true;
    st.rate_exempt = true;
    st.forwarded = true;
    st.db = db;
    st.out.set_version(if resp == 3 {
        ProtocolVersion::Resp3
    } else {
        ProtocolVersion::Resp2
    });
    if let Some(id) = session {
        server.remote_watches.adopt(id, &mut st.tx);
    }
    let mut last = 0;
    for c in commands {
        last = st.out.len();
        let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        // Boxed: a forwarded command is never forwarded again, but the types do not know.
        Box::pin(run_detached(server, &mut st, &args)).await;
    }
    let mut reply = st.out.as_bytes()[last..].to_vec();
    let kept = match session {
        Some(id) => match server.remote_watches.keep(server, id, &mut st.tx) {
            Ok(kept) => kept,
            Err(e) => {
                reply = format!("-{e}\r\n").into_bytes();
                None
            }
        },
        // Watches in a one-off session would outlive it.
        None => {
            st.tx.unwatch_all(server);
            None
        }
    };
    Some((reply, kept))
}

/// Runs a command on the group's leader for a client of this node; the reply, in the
/// client's protocol, or the error line to send instead.
pub async fn forward(
    server: &Arc<Server>,
    db: usize,
    version: ProtocolVersion,
    commands: &[Vec<Vec<u8>>],
    watch_session: Option<u64>,
) -> Result<(Vec<u8>, Option<u64>), String> {
    let Some(node) = server.group.get() else {
        return Err("ERR not a member of a replication group".into());
    };
    let resp = if version == ProtocolVersion::Resp3 {
        3
    } else {
        2
    };
    let body = ForwardRequest {
        db,
        resp,
        commands: commands
            .iter()
            .map(|c| {
                c.iter()
                    .map(|a| base64::engine::general_purpose::STANDARD.encode(a))
                    .collect()
            })
            .collect(),
        watch_session,
    };
    let body = serde_json::to_vec(&body).map_err(|e| format!("ERR {e}"))?;
    let deadline = Instant::now() + FORWARD_PATIENCE;
    loop {
        match node.leader() {
            Some((id, _)) if id == node.id => {
                if let Some(done) = run_here(server, db, resp, commands, watch_session).await {
                    return Ok(done);
                }
            }
            Some((_, peer)) => {
                let sent = http_client()
                    .post(peer_url(&peer.raft_addr, "/flashdb/forward"))
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        let session = r
                            .headers()
                            .get(WATCH_SESSION_HEADER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse().ok());
                        return r
                            .bytes()
                            .await
                            .map(|b| (b.to_vec(), session))
                            .map_err(|e| unknown_outcome(&e));
                    }
                    Ok(r) if r.status() == NOT_LEADER => {}
                    Ok(r) => {
                        return Err(format!(
                            "ERR the leader refused the command: {}",
                            r.status()
                        ))
                    }
                    // Never reached the leader: safe to send again.
                    Err(e) if e.is_connect() => {}
                    Err(e) => return Err(unknown_outcome(&e)),
                }
            }
            None => {}
        }
        if Instant::now() >= deadline {
            return Err("CLUSTERDOWN no leader elected in the replication group".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn unknown_outcome(e: &reqwest::Error) -> String {
    format!("TRYAGAIN the leader failed while running the command, whose outcome is unknown ({e})")
}

/// The client for requests to other nodes' group ports.
pub(crate) fn http_client() -> reqwest::Client {
    flashdb_replication::network::peer_client()
}

/// An operation of a connection that waits on the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOp {
    /// `WAIT n timeout`.
    WaitReplicas {
        /// Replicas to wait for.
        n: i64,
        /// Milliseconds to wait at most (0: no limit).
        timeout_ms: u64,
    },
    /// `FLASHDB.GROUP ADD`.
    Add {
        /// The new node's id.
        id: u64,
        /// Its group port, `HOST:PORT`.
        addr: String,
    },
    /// `FLASHDB.GROUP REMOVE`.
    Remove {
        /// The node to remove.
        id: u64,
    },
    /// `FLASHDB.GROUP REPLACE`.
    Replace {
        /// The voter to replace.
        old: u64,
        /// The new node's id.
        new: u64,
        /// Its group port.
        addr: String,
    },
}

/// Runs a group operation: `Ok(Some(n))` for an integer reply, `Ok(None)` for `+OK`, or
/// the error line.
pub async fn run_op(server: &Arc<Server>, op: GroupOp) -> Result<Option<i64>, String> {
    if let GroupOp::WaitReplicas { n, timeout_ms } = op {
        return Ok(Some(wait_replicas(server, n, timeout_ms).await));
    }
    let Some(node) = server.group.get() else {
        return Err("ERR not a member of a replication group".into());
    };
    let result = match op {
        GroupOp::WaitReplicas { .. } => return Ok(None),
        GroupOp::Add { id, addr } => {
            let peer = check_new_node(node, id, &addr).await?;
            node.add_member(id, peer).await
        }
        GroupOp::Remove { id } => node.remove_member(id).await,
        GroupOp::Replace { old, new, addr } => {
            let peer = check_new_node(node, new, &addr).await?;
            node.replace_member(old, new, peer).await
        }
    };
    match result {
        Ok(()) => Ok(None),
        Err(flashdb_replication::MembershipError::NotLeader) => Err(
            "TRYAGAIN this node stopped leading the replication group; send the command again"
                .into(),
        ),
        Err(e) => Err(format!("ERR {e}")),
    }
}

/// Asks the node to be added, at its group port, who it is: it must be node `id`, and
/// belong to no group or to this one.
async fn check_new_node(node: &GroupNode, id: u64, addr: &str) -> Result<PeerNode, String> {
    let info = node_info_of(addr)
        .await
        .map_err(|e| format!("ERR cannot add node {id}: {e}"))?;
    if info.id != id {
        return Err(format!(
            "ERR the node at {addr} is node {}, not node {id}",
            info.id
        ));
    }
    let ours = node.identity.get().map(|g| g.0);
    if let Some(theirs) = info.group {
        if Some(&theirs) != ours.as_ref() {
            return Err(format!(
                "ERR node {id} at {addr} belongs to another group ({theirs}); only a node of no group, or of this one ({}), can be added",
                ours.unwrap_or_default()
            ));
        }
    }
    Ok(PeerNode {
        raft_addr: addr.to_string(),
        resp_addr: info.resp_addr,
    })
}

/// How many replicas hold the leader's log up to its last entry now, waiting until `n` do
/// or `timeout_ms` passes (0: no limit). A single node has none: it waits out the timeout,
/// as Redis without replicas does (with no timeout it answers at once rather than never).
async fn wait_replicas(server: &Arc<Server>, n: i64, timeout_ms: u64) -> i64 {
    let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
    let Some(node) = server.group.get() else {
        if let Some(d) = deadline {
            tokio::time::sleep_until(d.into()).await;
        }
        return 0;
    };
    let target = node.metrics().last_log_index.unwrap_or(0);
    let mut metrics = node.raft.metrics();
    loop {
        metrics.borrow_and_update();
        let count = node
            .followers()
            .iter()
            .filter(|(_, matched)| *matched >= target)
            .count() as i64;
        if count >= n {
            return count;
        }
        let changed = metrics.changed();
        match deadline {
            Some(d) => match tokio::time::timeout_at(d.into(), changed).await {
                Ok(Ok(())) => {}
                _ => return count,
            },
            None => {
                if changed.await.is_err() {
                    return count;
                }
            }
        }
    }
}
