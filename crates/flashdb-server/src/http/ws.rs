//! `GET /api/v1/ws`: the WebSocket event stream.
//!
//! A client sends `{"subscribe": ["stats", "keyspace", "channel:NAME", "pattern:GLOB"]}`
//! (and `{"unsubscribe": [...]}`) and receives `{"type": "stats"|"keyspace"|"message",
//! "data": ...}`: the statistics once a second, every keyspace event, and the pub/sub
//! messages of its channels and patterns.
//!
//! One task gathers events and one writes them to the socket, with a bounded queue of
//! [`QUEUE_BYTES`] between them (and as much in the pub/sub hub's queue before the
//! gathering task, which drops and counts as well). The gathering task never waits for the socket: when the
//! queue is full an event is dropped and counted, and once there is room again the client
//! gets `{"type": "lagged", "data": {"dropped": N}}` before the next event. A slow reader
//! therefore loses events; it never slows the server, and its memory stays bounded.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::json::Encoding;
use crate::pubsub::{self, Kind};
use crate::server::Server;

/// Bytes of events waiting for a slow client before new ones are dropped.
pub const QUEUE_BYTES: usize = 4 << 20;

/// Longest client message read (subscription requests are small).
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// Most subscriptions one client may hold.
const MAX_SUBSCRIPTIONS: usize = 1024;

#[utoipa::path(get, path = "/api/v1/ws", tag = "events",
    responses(
        (status = 101, description = "Switching to the WebSocket event stream"),
        (status = 400, description = "Not a WebSocket upgrade request", body = super::openapi::ErrorResponse),
    ))]
/// Upgrades to the event stream.
pub async fn upgrade(State(state): State<super::AppState>, ws: WebSocketUpgrade) -> Response {
    // The socket lives in a task of its own: it keeps the request's ACL user.
    let user = super::request_user(&state.server);
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| super::as_user(user, run(state.server, state.stats, socket)))
}

/// The statistics once a second, computed once for every client that follows them.
#[derive(Clone, Debug)]
pub struct StatsFeed {
    tx: broadcast::Sender<Arc<str>>,
}

impl StatsFeed {
    /// Starts the feed's task: each second, if anyone listens, it renders the statistics
    /// (which takes every shard's lock in turn, so it runs off the async workers) and
    /// sends them to all listeners. The task ends with the server.
    pub fn start(server: Arc<Server>) -> StatsFeed {
        let (tx, _) = broadcast::channel(4);
        let feed = StatsFeed { tx: tx.clone() };
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let shutdown = server.shutdown_signal();
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut shutdown => return,
                }
                if tx.receiver_count() == 0 {
                    continue;
                }
                let s = server.clone();
                if let Ok(stats) =
                    tokio::task::spawn_blocking(move || super::stats::stats_of(&s)).await
                {
                    let msg = json!({"type": "stats", "data": stats}).to_string();
                    let _ = tx.send(Arc::from(msg));
                }
            }
        });
        feed
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(default)]
    subscribe: Vec<String>,
    #[serde(default)]
    unsubscribe: Vec<String>,
}

/// The outgoing queue: messages, and the bytes they hold.
struct Outbox {
    tx: mpsc::UnboundedSender<Utf8Bytes>,
    queued: Arc<AtomicUsize>,
    dropped: u64,
}

impl Outbox {
    /// Queues `msg` unless the queue is full, in which case it is counted as dropped;
    /// tells the client about drops as soon as there is room again.
    fn offer(&mut self, msg: Value) {
        self.offer_text(msg.to_string());
    }

    /// [`offer`](Self::offer) for a message already rendered.
    fn offer_text(&mut self, text: String) {
        if self.dropped > 0 {
            let notice = json!({"type": "lagged", "data": {"dropped": self.dropped}}).to_string();
            if !self.push(notice) {
                self.dropped += 1;
                return;
            }
            self.dropped = 0;
        }
        if !self.push(text) {
            self.dropped += 1;
        }
    }

    fn push(&mut self, text: String) -> bool {
        let len = text.len();
        if self.queued.load(Ordering::Relaxed) + len > QUEUE_BYTES {
            return false;
        }
        self.queued.fetch_add(len, Ordering::Relaxed);
        self.tx.send(Utf8Bytes::from(text)).is_ok()
    }
}

/// A client's subscriptions.
#[derive(Default)]
struct Subs {
    stats: Option<broadcast::Receiver<Arc<str>>>,
    tap: Option<crate::server::EventTap>,
    channels: HashSet<Bytes>,
    patterns: HashSet<Bytes>,
}

async fn run(server: Arc<Server>, feed: StatsFeed, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let queued = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel::<Utf8Bytes>();
    let writer_queued = queued.clone();
    let writer = tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            let len = text.len();
            let sent = sink.send(Message::Text(text)).await;
            writer_queued.fetch_sub(len, Ordering::Relaxed);
            if sent.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut out = Outbox {
        tx,
        queued,
        dropped: 0,
    };
    let (hub_sub, mut hub_rx) = pubsub::lossy_subscriber(QUEUE_BYTES as u64);
    let mut subs = Subs::default();
    let shutdown = server.shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => handle_request(&server, &feed, &hub_sub, &mut subs, &mut out, text.as_str()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            stats = recv_stats(&mut subs.stats) => match stats {
                Ok(text) => out.offer_text(text.to_string()),
                Err(broadcast::error::RecvError::Lagged(n)) => out.dropped += n,
                Err(broadcast::error::RecvError::Closed) => subs.stats = None,
            },
            event = recv_tap(&mut subs.tap) => match event {
                // An event of a write that the log failed to keep is not shown.
                Ok(ev) => if server.wait_durable(ev.seq).await.is_ok() {
                    let enc = Encoding::for_all([&ev.key[..]]);
                    let mut data = serde_json::Map::new();
                    data.insert("db".into(), json!(ev.db));
                    data.insert("event".into(), json!(ev.event));
                    data.insert("key".into(), enc.text(&ev.key));
                    enc.mark(&mut data);
                    out.offer(json!({"type": "keyspace", "data": data}));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => out.dropped += n,
                Err(broadcast::error::RecvError::Closed) => subs.tap = None,
            },
            msg = hub_rx.recv() => match msg {
                Some(msg) => {
                    hub_sub.taken(msg.cost());
                    // Lost before they reached this task: the hub's queue was full.
                    out.dropped += hub_sub.take_lost();
                    if server.wait_durable(msg.after_seq).await.is_err() {
                        continue;
                    }
                    let enc = Encoding::for_all([&msg.channel[..], &msg.payload[..]]);
                    let mut data = serde_json::Map::new();
                    data.insert("channel".into(), enc.text(&msg.channel));
                    if let Some(p) = &msg.pattern {
                        data.insert("pattern".into(), enc.text(p));
                    }
                    data.insert("message".into(), enc.text(&msg.payload));
                    enc.mark(&mut data);
                    out.offer(json!({"type": "message", "data": data}));
                }
                None => break,
            },
            _ = &mut shutdown => break,
        }
    }
    for ch in &subs.channels {
        server.pubsub.unsubscribe(Kind::Message, ch, &hub_sub);
    }
    for p in &subs.patterns {
        server.pubsub.unsubscribe(Kind::PMessage, p, &hub_sub);
    }
    drop(out);
    let _ = writer.await;
}

async fn recv_stats(
    rx: &mut Option<broadcast::Receiver<Arc<str>>>,
) -> Result<Arc<str>, broadcast::error::RecvError> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_tap(
    tap: &mut Option<crate::server::EventTap>,
) -> Result<Arc<pubsub::KeyEvent>, broadcast::error::RecvError> {
    match tap {
        Some(t) => t.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Whether the socket's ACL user may subscribe to this channel or pattern, as
/// `SUBSCRIBE` and `PSUBSCRIBE` would let it.
fn topic_allowed(server: &Server, name: &[u8], is_pattern: bool) -> bool {
    super::request_user(server)
        .rules()
        .channel_allowed(name, is_pattern)
}

fn handle_request(
    server: &Arc<Server>,
    feed: &StatsFeed,
    hub_sub: &Arc<pubsub::Subscriber>,
    subs: &mut Subs,
    out: &mut Outbox,
    text: &str,
) {
    let req: Request = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            out.offer(json!({"type": "error", "data": {"code": "INVALID_REQUEST", "message": format!("expected {{\"subscribe\": [...]}} or {{\"unsubscribe\": [...]}}: {e}")}}));
            return;
        }
    };
    for (topic, on) in req
        .subscribe
        .iter()
        .map(|t| (t, true))
        .chain(req.unsubscribe.iter().map(|t| (t, false)))
    {
        let count = usize::from(subs.stats.is_some())
            + usize::from(subs.tap.is_some())
            + subs.channels.len()
            + subs.patterns.len();
        if on && count >= MAX_SUBSCRIPTIONS {
            out.offer(json!({"type": "error", "data": {"code": "INVALID_REQUEST", "message": format!("at most {MAX_SUBSCRIPTIONS} subscriptions")}}));
            break;
        }
        match topic.as_str() {
            "stats" => {
                if on && subs.stats.is_none() {
                    subs.stats = Some(feed.tx.subscribe());
                } else if !on {
                    subs.stats = None;
                }
            }
            "keyspace" => {
                // Every key's events: for users that may use every channel.
                if on && !topic_allowed(server, b"*", true) {
                    out.offer(json!({"type": "error", "data": {"code": "NOPERM", "message": "this user has no permissions to access every channel, which the keyspace topic needs"}}));
                    continue;
                }
                if on && subs.tap.is_none() {
                    subs.tap = Some(server.tap_events());
                } else if !on {
                    subs.tap = None;
                }
            }
            t => {
                let (kind, name, set) = if let Some(c) = t.strip_prefix("channel:") {
                    (Kind::Message, c, &mut subs.channels)
                } else if let Some(p) = t.strip_prefix("pattern:") {
                    (Kind::PMessage, p, &mut subs.patterns)
                } else {
                    out.offer(json!({"type": "error", "data": {"code": "INVALID_REQUEST", "message": format!("unknown topic {t:?}: use stats, keyspace, channel:NAME or pattern:GLOB")}}));
                    continue;
                };
                let name = Bytes::copy_from_slice(name.as_bytes());
                if on && !topic_allowed(server, &name, kind == Kind::PMessage) {
                    out.offer(json!({"type": "error", "data": {"code": "NOPERM", "message": format!("this user has no permissions to access the channel of topic {t:?}")}}));
                    continue;
                }
                if on {
                    if set.insert(name.clone()) {
                        server.pubsub.subscribe(kind, name, hub_sub);
                    }
                } else if set.remove(&name) {
                    server.pubsub.unsubscribe(kind, &name, hub_sub);
                }
            }
        }
    }
    let mut topics: Vec<String> = Vec::new();
    if subs.stats.is_some() {
        topics.push("stats".into());
    }
    if subs.tap.is_some() {
        topics.push("keyspace".into());
    }
    topics.extend(
        subs.channels
            .iter()
            .map(|c| format!("channel:{}", String::from_utf8_lossy(c))),
    );
    topics.extend(
        subs.patterns
            .iter()
            .map(|p| format!("pattern:{}", String::from_utf8_lossy(p))),
    );
    topics.sort();
    out.offer(json!({"type": "subscribed", "data": {"subscriptions": topics}}));
}
