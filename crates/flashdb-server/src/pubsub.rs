//! The pub/sub hub: channels, patterns and shard channels, and the subscribers of each.
//!
//! A publisher hands each subscriber a shared message through the subscriber's queue;
//! the subscriber's connection encodes it in its own protocol (a RESP2 array or a RESP3
//! push). Each subscriber counts the bytes waiting in its queue, and one that lets them
//! pass `client-output-buffer-limit`'s pubsub limits (hard, or soft for longer than its
//! seconds) is disconnected, so a slow consumer never holds up publishers or grows memory
//! without bound. Other parts of the server subscribe through [`Hub::internal`], with the
//! same queue and limits, and no TCP client.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use flashdb_core::glob::glob_match;
use flashdb_protocol::{ProtocolVersion, ReplyBuf};
use parking_lot::RwLock;
use tokio::sync::mpsc;

use crate::server::ClientHandle;

/// What kind of subscription delivered a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `SUBSCRIBE`d channel.
    Message,
    /// A `PSUBSCRIBE`d pattern.
    PMessage,
    /// An `SSUBSCRIBE`d shard channel.
    SMessage,
}

/// One published message, shared by all its receivers, encoded once for each protocol.
#[derive(Debug)]
pub struct Message {
    /// How the receiver subscribed.
    pub kind: Kind,
    /// The pattern that matched, for [`Kind::PMessage`].
    pub pattern: Option<Bytes>,
    /// The channel published to.
    pub channel: Bytes,
    /// The payload.
    pub payload: Bytes,
    /// The log record this message reveals (a keyspace event's write; 0 for a plain
    /// `PUBLISH`): a receiver holds the message back until that record is durable.
    pub after_seq: u64,
    /// The frame as RESP2 sends it (an array) and as RESP3 does (a push).
    frames: [Bytes; 2],
}

impl Message {
    /// A message and its frames: `message`/`pmessage`/`smessage`, as Redis sends them.
    pub fn new(kind: Kind, pattern: Option<Bytes>, channel: Bytes, payload: Bytes) -> Message {
        Self::after(kind, pattern, channel, payload, 0)
    }

    /// A message that reveals log record `after_seq` (see [`Message::after_seq`]).
    pub fn after(
        kind: Kind,
        pattern: Option<Bytes>,
        channel: Bytes,
        payload: Bytes,
        after_seq: u64,
    ) -> Message {
        let frame = |version| {
            let mut out = ReplyBuf::small(version);
            match kind {
                Kind::Message => {
                    out.push(3);
                    out.bulk(b"message");
                }
                Kind::SMessage => {
                    out.push(3);
                    out.bulk(b"smessage");
                }
                Kind::PMessage => {
                    out.push(4);
                    out.bulk(b"pmessage");
                    out.bulk(pattern.as_deref().unwrap_or_default());
                }
            }
            out.bulk(&channel);
            out.bulk(&payload);
            Bytes::copy_from_slice(out.as_bytes())
        };
        let frames = [frame(ProtocolVersion::Resp2), frame(ProtocolVersion::Resp3)];
        Message {
            kind,
            pattern,
            channel,
            payload,
            after_seq,
            frames,
        }
    }

    /// A message given as its ready frames: RESP2's and RESP3's (an empty one is not
    /// sent to clients of that protocol). Client-side caching's invalidations.
    pub fn frames(resp2: Bytes, resp3: Bytes) -> Message {
        Message {
            kind: Kind::Message,
            pattern: None,
            channel: Bytes::from_static(b"__redis__:invalidate"),
            payload: Bytes::new(),
            after_seq: 0,
            frames: [resp2, resp3],
        }
    }

    /// Bytes this message adds to a subscriber's output.
    pub fn cost(&self) -> u64 {
        self.frames[0].len().max(self.frames[1].len()) as u64 + 16
    }

    /// Appends the message's frame in the connection's protocol.
    pub fn encode(&self, out: &mut ReplyBuf) {
        let i = usize::from(out.version() == ProtocolVersion::Resp3);
        out.raw(&self.frames[i]);
    }
}

/// Output-buffer limits of a class of clients (`client-output-buffer-limit`): the
/// subscribers' (`pubsub`), or the others' (`normal`, no limit by default).
#[derive(Debug, Default)]
pub struct Limits {
    /// Disconnect as soon as this many bytes wait (0: no limit).
    pub hard: AtomicU64,
    /// Disconnect when this many bytes have waited for `soft_secs` (0: no limit).
    pub soft: AtomicU64,
    /// See `soft`.
    pub soft_secs: AtomicU64,
}

/// A subscriber's end of the hub: its queue and what waits in it.
#[derive(Debug)]
pub struct Subscriber {
    tx: mpsc::UnboundedSender<Arc<Message>>,
    /// Bytes queued and not yet taken by the receiver.
    pending: AtomicU64,
    /// Unix milliseconds since when `pending` has been above the soft limit (0: it is not).
    soft_since: AtomicU64,
    /// The connection, disconnected when the limits are passed; `None` for internal
    /// subscribers, which are simply dropped from then on.
    client: Option<Arc<ClientHandle>>,
    /// Passed a limit: receives nothing more.
    cut: AtomicBool,
    /// For a lossy subscriber (see [`lossy_subscriber`]), the most bytes that may wait:
    /// past it a message is dropped and counted instead of the subscriber being cut off.
    lossy_limit: u64,
    /// Messages dropped by a lossy subscriber and not yet reported.
    lost: AtomicU64,
}

impl Subscriber {
    /// Queues `msg`; returns false (and cuts the subscriber off) past the limits.
    pub fn deliver(&self, msg: &Arc<Message>, limits: &Limits) -> bool {
        if self.cut.load(Ordering::Relaxed) {
            return false;
        }
        let cost = msg.cost();
        if self.lossy_limit > 0 {
            if self.pending.load(Ordering::Relaxed) + cost > self.lossy_limit {
                self.lost.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            self.pending.fetch_add(cost, Ordering::Relaxed);
            return self.tx.send(msg.clone()).is_ok();
        }
        let pending = self.pending.fetch_add(cost, Ordering::Relaxed) + cost;
        let hard = limits.hard.load(Ordering::Relaxed);
        let soft = limits.soft.load(Ordering::Relaxed);
        let mut over = hard > 0 && pending > hard;
        if soft > 0 && pending > soft {
            let now = flashdb_core::keyspace::unix_ms();
            let since =
                match self
                    .soft_since
                    .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => now,
                    Err(t) => t,
                };
            over |= now.saturating_sub(since) > limits.soft_secs.load(Ordering::Relaxed) * 1000;
        }
        if over {
            self.cut.store(true, Ordering::Relaxed);
            if let Some(c) = &self.client {
                tracing::warn!(client = c.id, addr = %c.addr, pending, "closing subscriber that passed the pubsub output buffer limit");
                c.killed.store(true, Ordering::Relaxed);
                c.wake.notify_one();
            }
            return false;
        }
        self.tx.send(msg.clone()).is_ok()
    }

    /// Notes that the receiver took messages of `bytes` (their [`Message::cost`]) from
    /// the queue.
    pub fn taken(&self, bytes: u64) {
        let left = self.pending.fetch_sub(bytes, Ordering::Relaxed) - bytes;
        if left == 0 {
            self.soft_since.store(0, Ordering::Relaxed);
        }
    }

    /// Messages a lossy subscriber dropped since the last call.
    pub fn take_lost(&self) -> u64 {
        self.lost.swap(0, Ordering::Relaxed)
    }

    /// Whether a limit cut this subscriber off.
    pub fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Relaxed)
    }
}

type Subs = HashMap<Bytes, Vec<Arc<Subscriber>>>;

/// Where a message published on this node also goes (the other nodes of a group): called
/// with the kind (`Message` for channels and patterns, `SMessage` for shard channels), the
/// channel, the payload and the log record it reveals.
pub type Relay = Box<dyn Fn(Kind, &[u8], &[u8], u64) + Send + Sync>;

/// Where the keyspace events of the tap also go (the other nodes of a group whose
/// WebSocket clients follow them).
pub type TapRelay = Box<dyn Fn(&KeyEvent) + Send + Sync>;

/// All subscriptions of the server.
pub struct Hub {
    channels: RwLock<Subs>,
    patterns: RwLock<Subs>,
    shard_channels: RwLock<Subs>,
    /// The pubsub output-buffer limits.
    pub limits: Limits,
    relay: std::sync::OnceLock<Relay>,
    tap_relay: std::sync::OnceLock<TapRelay>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("limits", &self.limits)
            .field("relay", &self.relay.get().is_some())
            .finish()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            channels: RwLock::default(),
            patterns: RwLock::default(),
            shard_channels: RwLock::default(),
            // Redis's defaults: `client-output-buffer-limit pubsub 32mb 8mb 60`.
            limits: Limits {
                hard: AtomicU64::new(32 << 20),
                soft: AtomicU64::new(8 << 20),
                soft_secs: AtomicU64::new(60),
            },
            relay: std::sync::OnceLock::new(),
            tap_relay: std::sync::OnceLock::new(),
        }
    }
}

/// A new subscriber and the queue it receives from.
pub fn subscriber(
    client: Option<Arc<ClientHandle>>,
) -> (Arc<Subscriber>, mpsc::UnboundedReceiver<Arc<Message>>) {
    new_subscriber(client, 0)
}

/// A subscriber inside the server that would rather lose messages than be cut off (a
/// WebSocket client): at most `limit` bytes wait in its queue, and what comes beyond is
/// dropped and counted ([`Subscriber::take_lost`]).
pub fn lossy_subscriber(limit: u64) -> (Arc<Subscriber>, mpsc::UnboundedReceiver<Arc<Message>>) {
    new_subscriber(None, limit.max(1))
}

fn new_subscriber(
    client: Option<Arc<ClientHandle>>,
    lossy_limit: u64,
) -> (Arc<Subscriber>, mpsc::UnboundedReceiver<Arc<Message>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let sub = Arc::new(Subscriber {
        tx,
        pending: AtomicU64::new(0),
        soft_since: AtomicU64::new(0),
        client,
        cut: AtomicBool::new(false),
        lossy_limit,
        lost: AtomicU64::new(0),
    });
    (sub, rx)
}

fn add(map: &RwLock<Subs>, name: Bytes, sub: &Arc<Subscriber>) {
    map.write().entry(name).or_default().push(sub.clone());
}

fn remove(map: &RwLock<Subs>, name: &[u8], sub: &Arc<Subscriber>) {
    let mut m = map.write();
    if let Some(v) = m.get_mut(name) {
        v.retain(|s| !Arc::ptr_eq(s, sub));
        if v.is_empty() {
            m.remove(name);
        }
    }
}

impl Hub {
    /// Sends every message published on this node to `relay` as well (once; later calls
    /// are ignored).
    pub fn set_relay(&self, relay: Relay) {
        let _ = self.relay.set(relay);
    }

    /// Sends every keyspace event of the tap to `relay` as well (once; later calls are
    /// ignored).
    pub fn set_tap_relay(&self, relay: TapRelay) {
        let _ = self.tap_relay.set(relay);
    }

    /// Publishes to a channel's subscribers and to the patterns that match it, here and
    /// through the relay; returns how many subscribers of this node received it.
    pub fn publish(&self, channel: &[u8], payload: &[u8]) -> usize {
        self.publish_after(channel, payload, 0)
    }

    /// [`publish`](Self::publish) for a message that reveals log record `after_seq`.
    pub fn publish_after(&self, channel: &[u8], payload: &[u8], after_seq: u64) -> usize {
        if let Some(relay) = self.relay.get() {
            relay(Kind::Message, channel, payload, after_seq);
        }
        self.deliver(channel, payload, after_seq)
    }

    /// Delivers a message to this node's subscribers only (one relayed from another node).
    pub fn deliver(&self, channel: &[u8], payload: &[u8], after_seq: u64) -> usize {
        let channel = Bytes::copy_from_slice(channel);
        let payload = Bytes::copy_from_slice(payload);
        let mut n = 0;
        if let Some(subs) = self.channels.read().get(&channel) {
            let msg = Arc::new(Message::after(
                Kind::Message,
                None,
                channel.clone(),
                payload.clone(),
                after_seq,
            ));
            n += subs
                .iter()
                .filter(|s| s.deliver(&msg, &self.limits))
                .count();
        }
        let patterns = self.patterns.read();
        for (pattern, subs) in patterns.iter() {
            if glob_match(pattern, &channel, false) {
                let msg = Arc::new(Message::after(
                    Kind::PMessage,
                    Some(pattern.clone()),
                    channel.clone(),
                    payload.clone(),
                    after_seq,
                ));
                n += subs
                    .iter()
                    .filter(|s| s.deliver(&msg, &self.limits))
                    .count();
            }
        }
        n
    }

    /// Publishes to a shard channel's subscribers (`SPUBLISH`), here and through the
    /// relay.
    pub fn spublish(&self, channel: &[u8], payload: &[u8]) -> usize {
        if let Some(relay) = self.relay.get() {
            relay(Kind::SMessage, channel, payload, 0);
        }
        self.sdeliver(channel, payload)
    }

    /// Delivers a shard channel message to this node's subscribers only.
    pub fn sdeliver(&self, channel: &[u8], payload: &[u8]) -> usize {
        let shard = self.shard_channels.read();
        let Some(subs) = shard.get(channel) else {
            return 0;
        };
        let msg = Arc::new(Message::new(
            Kind::SMessage,
            None,
            Bytes::copy_from_slice(channel),
            Bytes::copy_from_slice(payload),
        ));
        subs.iter()
            .filter(|s| s.deliver(&msg, &self.limits))
            .count()
    }

    /// Subscribes `sub` to a channel, a pattern or a shard channel.
    pub fn subscribe(&self, kind: Kind, name: Bytes, sub: &Arc<Subscriber>) {
        add(self.map(kind), name, sub);
    }

    /// Undoes [`subscribe`](Self::subscribe).
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], sub: &Arc<Subscriber>) {
        remove(self.map(kind), name, sub);
    }

    fn map(&self, kind: Kind) -> &RwLock<Subs> {
        match kind {
            Kind::Message => &self.channels,
            Kind::PMessage => &self.patterns,
            Kind::SMessage => &self.shard_channels,
        }
    }

    /// Channels (or shard channels) with at least one subscriber, matching `pattern`.
    pub fn active(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.map(kind)
            .read()
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of a channel (or shard channel).
    pub fn count(&self, kind: Kind, channel: &[u8]) -> usize {
        self.map(kind).read().get(channel).map_or(0, Vec::len)
    }

    /// Number of distinct patterns subscribed to (`PUBSUB NUMPAT`).
    pub fn numpat(&self) -> usize {
        self.patterns.read().len()
    }

    /// Subscribes another part of the server to channels matching `pattern`, without a
    /// TCP client: messages arrive on the returned queue, under the same limits (past
    /// them the subscription is cut off, which [`Subscriber::is_cut`] tells).
    pub fn internal(
        &self,
        pattern: &[u8],
    ) -> (Arc<Subscriber>, mpsc::UnboundedReceiver<Arc<Message>>) {
        let (sub, rx) = subscriber(None);
        self.subscribe(Kind::PMessage, Bytes::copy_from_slice(pattern), &sub);
        (sub, rx)
    }
}

/// One connection's subscriptions.
#[derive(Debug)]
pub struct ClientSubs {
    /// The connection's end of the hub.
    pub sub: Arc<Subscriber>,
    /// Where its messages arrive.
    pub rx: mpsc::UnboundedReceiver<Arc<Message>>,
    /// Channels, patterns and shard channels it is subscribed to.
    pub channels: HashSet<Bytes>,
    /// See `channels`.
    pub patterns: HashSet<Bytes>,
    /// See `channels`.
    pub shard: HashSet<Bytes>,
}

impl ClientSubs {
    /// A connection's empty subscription set.
    pub fn new(client: Arc<ClientHandle>) -> ClientSubs {
        let (sub, rx) = subscriber(Some(client));
        ClientSubs {
            sub,
            rx,
            channels: HashSet::new(),
            patterns: HashSet::new(),
            shard: HashSet::new(),
        }
    }

    /// The set for one kind of subscription.
    pub fn set(&mut self, kind: Kind) -> &mut HashSet<Bytes> {
        match kind {
            Kind::Message => &mut self.channels,
            Kind::PMessage => &mut self.patterns,
            Kind::SMessage => &mut self.shard,
        }
    }

    /// Channel plus pattern subscriptions: the count `SUBSCRIBE` and friends reply.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Whether any subscription is active (RESP2 then restricts the commands).
    pub fn any(&self) -> bool {
        self.count() + self.shard.len() > 0
    }

    /// Removes every subscription from the hub (the connection closes or resets).
    pub fn clear(&mut self, hub: &Hub) {
        for kind in [Kind::Message, Kind::PMessage, Kind::SMessage] {
            for name in std::mem::take(self.set(kind)) {
                hub.unsubscribe(kind, &name, &self.sub);
            }
        }
    }
}

/// One keyspace event, as the server's internal listeners (WebSocket clients) get it.
#[derive(Debug, Clone)]
pub struct KeyEvent {
    /// Database.
    pub db: usize,
    /// Event name, as Redis names it (`set`, `del`, `expired`, `lpush`, ...): the
    /// engine's own, or one received from another node.
    pub event: std::borrow::Cow<'static, str>,
    /// The key.
    pub key: Bytes,
    /// The log record the event reveals: shown only once it is durable.
    pub seq: u64,
}

/// Publishes the engine's keyspace notifications on the hub: `__keyspace@<db>__:<key>`
/// with the event as message, and `__keyevent@<db>__:<event>` with the key, for the
/// classes `notify-keyspace-events` names; and, while the tap is on, every event to the
/// internal listeners.
#[derive(Debug)]
pub struct KeyspaceEvents {
    /// The pub/sub hub.
    pub hub: Arc<Hub>,
    /// The internal listeners. A slow one lags and loses events (the channel is bounded);
    /// it never holds up the command that produced them.
    pub tap: tokio::sync::broadcast::Sender<Arc<KeyEvent>>,
    /// Client-side caching, told of every change while a client tracks keys.
    pub tracking: Arc<crate::tracking::Tracking>,
}

impl flashdb_core::notify::EventSink for KeyspaceEvents {
    fn publish(
        &self,
        flags: u32,
        class: u32,
        db: usize,
        event: &'static str,
        key: &[u8],
        seq: u64,
    ) {
        use flashdb_core::notify::{publishes, KEYEVENT, KEYSPACE, TAP, TRACK};
        if flags & TRACK != 0 && class & flashdb_core::notify::ALL != 0 {
            self.tracking.invalidate(key);
        }
        if flags & TAP != 0 && class & flashdb_core::notify::ALL != 0 {
            let ev = Arc::new(KeyEvent {
                db,
                event: std::borrow::Cow::Borrowed(event),
                key: Bytes::copy_from_slice(key),
                seq,
            });
            if let Some(relay) = self.hub.tap_relay.get() {
                relay(&ev);
            }
            // No receiver is not an error: the tap goes off a moment after the last one.
            let _ = self.tap.send(ev);
        }
        if !publishes(flags, class) {
            return;
        }
        if flags & KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            self.hub.publish_after(&channel, event.as_bytes(), seq);
        }
        if flags & KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}");
            self.hub.publish_after(channel.as_bytes(), key, seq);
        }
    }

    fn flush(&self) {
        self.tracking.flush_bcast();
    }

    fn flushed(&self) {
        self.tracking.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use flashdb_core::notify::{parse_flags, EventSink};

    /// An internal subscriber receives keyspace events from the hub with no TCP client.
    #[test]
    fn internal_subscribers_receive_keyspace_events() {
        use flashdb_core::notify::{LIST, TAP};
        let hub = Arc::new(Hub::default());
        let (tap, mut tapped) = tokio::sync::broadcast::channel(4);
        let sink = KeyspaceEvents {
            hub: hub.clone(),
            tap,
            tracking: Arc::default(),
        };
        let (sub, mut rx) = hub.internal(b"__keyevent@*__:*");
        sink.publish(parse_flags("KEA").unwrap(), LIST, 3, "lpush", b"jobs", 0);
        let msg = rx.try_recv().unwrap();
        sub.taken(msg.cost());
        assert_eq!(msg.kind, Kind::PMessage);
        assert_eq!(&msg.channel[..], b"__keyevent@3__:lpush");
        assert_eq!(&msg.payload[..], b"jobs");
        assert!(
            rx.try_recv().is_err(),
            "the keyspace channel does not match"
        );
        // Only keyspace channels when only `K` is set.
        sink.publish(parse_flags("Kl").unwrap(), LIST, 0, "lpush", b"jobs", 0);
        assert!(rx.try_recv().is_err());
        assert!(tapped.try_recv().is_err(), "no tap, nothing tapped");
        // The tap gets events of classes that are not configured, and only it does.
        sink.publish(parse_flags("Kh").unwrap() | TAP, LIST, 2, "rpush", b"q", 0);
        let ev = tapped.try_recv().unwrap();
        assert_eq!(
            (ev.db, ev.event.as_ref(), &ev.key[..]),
            (2, "rpush", &b"q"[..])
        );
        assert!(rx.try_recv().is_err());
        assert_eq!(hub.numpat(), 1);
        assert!(!sub.is_cut());
    }
}
