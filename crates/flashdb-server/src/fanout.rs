//! Pub/sub across a group: a message published on one node (by `PUBLISH`, `SPUBLISH`, or
//! as a keyspace event of a write the leader ran) reaches the subscribers of every node.
//!
//! Each node sends what is published on it to each other member over the group port
//! (`POST /flashdb/publish`), in order, batched, from one queue and task per member;
//! the receiver delivers to its own subscribers only. As in Redis, pub/sub is at most
//! once: a member that cannot be reached misses what is sent meanwhile, and a member
//! whose queue is full (it is slow or gone) misses what does not fit. A keyspace event
//! leaves only once the write it reveals is committed, as it does to local subscribers;
//! one whose write was lost is never sent.
//!
//! A node's WebSocket clients follow the keyspace events of every write, which the
//! leader runs: while a node has such clients, it asks the leader for the events
//! (`POST /flashdb/tap`, a lease of [`TAP_LEASE`] renewed each second), and the leader
//! sends them along with the messages, also once committed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::pubsub::{KeyEvent, Kind};
use crate::server::Server;

/// How long a node's request for the leader's keyspace events lasts; it renews it each
/// second while its WebSocket clients follow them.
const TAP_LEASE: Duration = Duration::from_secs(3);

/// Messages waiting for one member at most; beyond, messages to it are dropped.
const QUEUE: usize = 65_536;
/// Messages sent to a member in one request at most.
const BATCH: usize = 1024;

/// What a message between nodes is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// For channels and patterns.
    Message,
    /// For shard channels.
    Shard,
    /// A keyspace event for WebSocket clients: the key, and `DB EVENT` as payload.
    KeyEvent,
}

impl Wire {
    fn tag(self) -> &'static str {
        match self {
            Wire::Message => "m",
            Wire::Shard => "s",
            Wire::KeyEvent => "k",
        }
    }
}

/// One message on its way to another node.
#[derive(Debug)]
struct Outgoing {
    kind: Wire,
    channel: Vec<u8>,
    payload: Vec<u8>,
    /// The log record it reveals (0: none).
    seq: u64,
}

/// A batch of messages between nodes, each part base64.
#[derive(Debug, Serialize, Deserialize)]
struct Batch {
    /// `[kind, channel, payload]`: kind `m` (channel and patterns), `s` (shard channel)
    /// or `k` (keyspace event: key, and `DB EVENT`).
    messages: Vec<(String, String, String)>,
}

/// The queues to the other members.
#[derive(Default)]
pub struct Fanout {
    queues: Mutex<HashMap<u64, mpsc::Sender<Outgoing>>>,
    /// The runtime the senders run on (a message can be published from a thread of
    /// its own, such as active expiry's).
    runtime: std::sync::OnceLock<tokio::runtime::Handle>,
    /// Messages dropped because a member's queue was full.
    pub dropped: AtomicU64,
    /// On the leader, the members that asked for keyspace events, until when.
    tap_leases: Mutex<HashMap<u64, Instant>>,
    /// Poked when this node's first WebSocket client starts following keyspace events.
    pub tap_wanted: tokio::sync::Notify,
}

impl Fanout {
    /// Whether another member asked for keyspace events, and its request still lasts.
    pub fn tap_leased(&self) -> bool {
        let now = Instant::now();
        self.tap_leases.lock().values().any(|until| *until > now)
    }

    fn tap_leased_by(&self, id: u64) -> bool {
        self.tap_leases
            .lock()
            .get(&id)
            .is_some_and(|until| *until > Instant::now())
    }
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("members", &self.queues.lock().len())
            .finish()
    }
}

/// Relays what is published on `server`'s hub (and the keyspace events that members ask
/// for) to the other members of its group. Must be called inside the runtime.
pub fn install(server: &Arc<Server>) {
    let _ = server.fanout.runtime.set(tokio::runtime::Handle::current());
    let weak: Weak<Server> = Arc::downgrade(server);
    server
        .pubsub
        .set_relay(Box::new(move |kind, channel, payload, seq| {
            if let Some(server) = weak.upgrade() {
                let kind = if kind == Kind::SMessage {
                    Wire::Shard
                } else {
                    Wire::Message
                };
                send(&server, kind, channel, payload, seq);
            }
        }));
    let weak: Weak<Server> = Arc::downgrade(server);
    server.pubsub.set_tap_relay(Box::new(move |ev: &KeyEvent| {
        if let Some(server) = weak.upgrade() {
            let payload = format!("{} {}", ev.db, ev.event);
            send(&server, Wire::KeyEvent, &ev.key, payload.as_bytes(), ev.seq);
        }
    }));
    tokio::spawn(follow_tap(server.clone()));
}

/// Each second (and as soon as a WebSocket client starts following keyspace events):
/// drops the members' requests for events that have lapsed, and, on a node that does
/// not lead, renews its own request to the leader while its clients follow events.
async fn follow_tap(server: Arc<Server>) {
    let shutdown = server.shutdown_signal();
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = server.fanout.tap_wanted.notified() => {}
            _ = &mut shutdown => return,
        }
        let lapsed = {
            let now = Instant::now();
            let mut leases = server.fanout.tap_leases.lock();
            let before = leases.len();
            leases.retain(|_, until| *until > now);
            leases.len() != before
        };
        if lapsed {
            server.refresh_tap();
        }
        let Some(node) = server.group.get() else {
            continue;
        };
        if !server.has_tap_listeners() {
            continue;
        }
        let Some((leader, peer)) = node.leader().filter(|(id, _)| *id != node.id) else {
            continue;
        };
        let asked = crate::group::http_client()
            .post(flashdb_replication::network::peer_url(
                &peer.raft_addr,
                "/flashdb/tap",
            ))
            .timeout(Duration::from_secs(2))
            .json(&TapRequest { node: node.id })
            .send()
            .await;
        if let Err(e) = asked {
            tracing::debug!(leader, error = %e, "could not ask the leader for keyspace events");
        }
    }
}

/// A member's request for the leader's keyspace events.
#[derive(Debug, Serialize, Deserialize)]
struct TapRequest {
    node: u64,
}

/// `POST /flashdb/tap` on the group port: member `node` wants the keyspace events of the
/// writes this node runs, for [`TAP_LEASE`].
pub async fn lease_tap(State(server): State<Arc<Server>>, body: Bytes) -> Response {
    let req: TapRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    server
        .fanout
        .tap_leases
        .lock()
        .insert(req.node, Instant::now() + TAP_LEASE);
    server.refresh_tap();
    StatusCode::NO_CONTENT.into_response()
}

fn send(server: &Arc<Server>, kind: Wire, channel: &[u8], payload: &[u8], seq: u64) {
    let Some(node) = server.group.get() else {
        return;
    };
    let Some(runtime) = server.fanout.runtime.get() else {
        return;
    };
    let members = node.members();
    let mut queues = server.fanout.queues.lock();
    queues.retain(|id, _| members.iter().any(|m| m.id == *id));
    for m in members.iter().filter(|m| m.id != node.id) {
        if kind == Wire::KeyEvent && !server.fanout.tap_leased_by(m.id) {
            continue;
        }
        let tx = queues.entry(m.id).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            runtime.spawn(drain(Arc::downgrade(server), m.id, rx));
            tx
        });
        let msg = Outgoing {
            kind,
            channel: channel.to_vec(),
            payload: payload.to_vec(),
            seq,
        };
        if tx.try_send(msg).is_err() {
            server.fanout.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends member `id`'s queue, in order, until the member leaves the group.
async fn drain(server: Weak<Server>, id: u64, mut rx: mpsc::Receiver<Outgoing>) {
    let b64 = base64::engine::general_purpose::STANDARD;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let Some(server) = server.upgrade() else {
            return;
        };
        let mut messages = Vec::with_capacity(batch.len());
        for m in batch {
            // Shown elsewhere only once shown here: when its write is committed.
            if m.seq > 0 && server.wait_durable(m.seq).await.is_err() {
                continue;
            }
            messages.push((
                m.kind.tag().to_string(),
                b64.encode(&m.channel),
                b64.encode(&m.payload),
            ));
        }
        let addr = server
            .group
            .get()
            .and_then(|g| g.members().into_iter().find(|m| m.id == id))
            .map(|m| m.node.raft_addr);
        let (Some(addr), false) = (addr, messages.is_empty()) else {
            continue;
        };
        let sent = crate::group::http_client()
            .post(flashdb_replication::network::peer_url(
                &addr,
                "/flashdb/publish",
            ))
            .timeout(Duration::from_secs(5))
            .json(&Batch { messages })
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::debug!(node = id, status = %r.status(), "pub/sub messages refused"),
            Err(e) => tracing::debug!(node = id, error = %e, "pub/sub messages not delivered"),
        }
    }
}

/// `POST /flashdb/publish` on the group port: messages published on another node, for
/// this node's subscribers.
pub async fn receive(State(server): State<Arc<Server>>, body: Bytes) -> Response {
    let batch: Batch = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    for (kind, channel, payload) in batch.messages {
        let (Ok(channel), Ok(payload)) = (b64.decode(channel), b64.decode(payload)) else {
            return (StatusCode::BAD_REQUEST, "a part is not base64").into_response();
        };
        match kind.as_str() {
            "s" => {
                server.pubsub.sdeliver(&channel, &payload);
            }
            "k" => {
                let event = String::from_utf8_lossy(&payload);
                let Some((db, event)) = event
                    .split_once(' ')
                    .and_then(|(db, ev)| Some((db.parse::<usize>().ok()?, ev.to_string())))
                else {
                    return (StatusCode::BAD_REQUEST, "a keyspace event is not DB EVENT")
                        .into_response();
                };
                // Committed already: the sender waited for it. No listener is no error.
                let _ = server.key_events.send(Arc::new(KeyEvent {
                    db,
                    event: std::borrow::Cow::Owned(event),
                    key: channel.into(),
                    seq: 0,
                }));
            }
            _ => {
                server.pubsub.deliver(&channel, &payload, 0);
            }
        };
    }
    StatusCode::NO_CONTENT.into_response()
}
