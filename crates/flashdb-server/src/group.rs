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
use flashdb_replication::vote::VoteFile;
use flashdb_replication::{
    decode_meta, GroupNode, Local, LogRecovery, LogStore, PeerNode, Proposer, StateMachine, Timing,
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
    Ok(Recovered {
        persistence: p,
        log,
        sm,
        local,
        proposer,
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
        peers,
        Timing::default(),
        rec.log,
        rec.sm,
        rec.local,
        &rec.proposer,
    )
    .await
    .map_err(|e| e.to_string())?;
    let _ = server.group.set(node.clone());
    let app = flashdb_replication::network::raft_router(node.raft.clone()).merge(
        Router::new()
            .route("/flashdb/forward", post(forwarded))
            .route("/flashdb/node", get(node_info))
            .with_state(server.clone()),
    );
    let srv = server.clone();
    tokio::spawn(async move {
        let stop = async move { srv.shutdown_signal().await };
        // Small request/response exchanges: Nagle's algorithm would hold each reply
        // back until the peer's delayed acknowledgement.
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
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
    server.ks.set_loading(false);
    tracing::info!(node = group.node_id, "joined the replication group");
    Ok(())
}

/// What a node tells others about itself.
#[derive(Debug, Serialize, Deserialize)]
struct NodeInfo {
    id: u64,
    resp_addr: String,
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
    })
    .into_response()
}

/// Learns the Redis protocol address of every peer (for `ROLE` and `INFO`), asking each
/// on its group port: every half second while one has not answered, every ten seconds
/// once all have.
async fn discover_peers(server: Arc<Server>, peers: BTreeMap<u64, String>) {
    loop {
        let mut missing = false;
        let me = server.group.get().map(|g| g.id);
        for (id, addr) in &peers {
            if Some(*id) == me {
                continue;
            }
            let got = http_client()
                .get(format!("http://{addr}/flashdb/node"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            match got {
                Ok(r) if r.status().is_success() => match r.json::<NodeInfo>().await {
                    Ok(info) if info.id == *id && !info.resp_addr.is_empty() => {
                        server.peer_resp.write().insert(*id, info.resp_addr);
                    }
                    _ => missing = true,
                },
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
}

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
    match run_here(&server, req.db, req.resp, &commands).await {
        Some(reply) => reply.into_response(),
        None => (NOT_LEADER, "not the leader").into_response(),
    }
}

/// Runs commands on this node if it leads; the last one's reply, or `None` if it does not
/// lead.
async fn run_here(
    server: &Arc<Server>,
    db: usize,
    resp: u8,
    commands: &[Vec<Vec<u8>>],
) -> Option<Vec<u8>> {
    let node = server.group.get()?;
    if !node.is_ready_leader() {
        return None;
    }
    let handle = server.new_client("group".into(), "group".into());
    // The node the client is connected to authenticated it.
    let mut st = ConnState::new(handle, true);
    st.forwarded = true;
    st.db = db;
    st.out.set_version(if resp == 3 {
        ProtocolVersion::Resp3
    } else {
        ProtocolVersion::Resp2
    });
    let mut last = 0;
    for c in commands {
        last = st.out.len();
        let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        // Boxed: a forwarded command is never forwarded again, but the types do not know.
        Box::pin(run_detached(server, &mut st, &args)).await;
    }
    Some(st.out.as_bytes()[last..].to_vec())
}

/// Runs a command on the group's leader for a client of this node; the reply, in the
/// client's protocol, or the error line to send instead.
pub async fn forward(
    server: &Arc<Server>,
    db: usize,
    version: ProtocolVersion,
    commands: &[Vec<Vec<u8>>],
) -> Result<Vec<u8>, String> {
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
    };
    let body = serde_json::to_vec(&body).map_err(|e| format!("ERR {e}"))?;
    let deadline = Instant::now() + FORWARD_PATIENCE;
    loop {
        match node.leader() {
            Some((id, _)) if id == node.id => {
                if let Some(reply) = run_here(server, db, resp, commands).await {
                    return Ok(reply);
                }
            }
            Some((_, peer)) => {
                let sent = http_client()
                    .post(format!("http://{}/flashdb/forward", peer.raft_addr))
                    .body(body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        return r
                            .bytes()
                            .await
                            .map(|b| b.to_vec())
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

fn http_client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default()
    })
}

/// How many replicas hold the leader's log up to its last entry now, waiting until `n` do
/// or `timeout_ms` passes (0: no limit). A single node has none: it waits out the timeout,
/// as Redis without replicas does (with no timeout it answers at once rather than never).
pub async fn wait_replicas(server: &Arc<Server>, n: i64, timeout_ms: u64) -> i64 {
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
