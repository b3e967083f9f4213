//! The work queue: messages with priorities, delays, leases, delivery counts and a
//! dead-letter policy.
//!
//! A queue is a pure state machine over explicit times: every operation takes the time it
//! runs at as an argument and never reads the clock, so that replaying the log (whose
//! entries carry those times) rebuilds exactly the same queue. Lease deadlines and delays
//! are absolute Unix milliseconds.
//!
//! Every message has a sequence number, unique within the queue and never reused, and the
//! queue has a random tag chosen when it is created; a message's id is `<seq>-<tag>`, so
//! an id taken from another queue (or from an earlier queue of the same name) names
//! nothing here. Ready messages are served by priority (highest first), then by sequence
//! number (first in, first out); a redelivered message keeps its place.
//!
//! Every operation is O(log n) in the queue's size, or O(k log n) for k messages.

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::HashMap;

use crate::compact::CompactBytes;

/// Lease of a reserved message when neither the command nor the queue names one (30 s).
pub const DEFAULT_LEASE_MS: u64 = 30_000;

/// Longest delay or lease any command may ask for, in milliseconds (about 34 years):
/// keeps every deadline far inside the range of a Unix millisecond time.
pub const MAX_MS: u64 = 1 << 40;

/// Most due messages one operation moves out of the lease or delay sets; the rest move
/// on the next operation, so that no command does unbounded work under the shard lock
/// after a mass of leases ends at once.
pub const ADVANCE_BATCH: usize = 1024;

/// Where a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Can be taken now.
    Ready,
    /// Invisible until this Unix millisecond time.
    Delayed(u64),
    /// Taken by a consumer whose lease ends at this Unix millisecond time.
    Leased(u64),
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The payload, as pushed.
    pub payload: CompactBytes,
    /// 0 to 255; higher is served first.
    pub priority: u8,
    /// How many times it has been reserved.
    pub deliveries: u32,
    /// Unix milliseconds when it was pushed.
    pub enqueued_at: u64,
    /// Ready, delayed or leased.
    pub state: State,
}

/// A queue's policy, set with `QCONFIG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// Deliveries after which an unacknowledged message is dead-lettered (0: unlimited).
    pub max_attempts: u32,
    /// The queue (a key of the same database) that receives dead-lettered messages; they
    /// are dropped when there is none.
    pub dead_letter: Option<CompactBytes>,
    /// Lease of `QRESERVE` without `LEASE`, in milliseconds.
    pub lease_ms: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_attempts: 0,
            dead_letter: None,
            lease_ms: DEFAULT_LEASE_MS,
        }
    }
}

/// Counters `QINFO` reports, kept since the queue was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounters {
    /// Messages pushed.
    pub pushed: u64,
    /// Messages removed by their consumer: acknowledged, or popped for good.
    pub acked: u64,
    /// Messages that used up their attempts (moved to the dead-letter queue or dropped).
    pub dead_lettered: u64,
}

/// A message that used up its attempts, for the caller to move to the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadMessage {
    /// The payload.
    pub payload: CompactBytes,
    /// Its priority, which the dead-letter queue keeps.
    pub priority: u8,
}

/// What [`Queue::nack`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nacked {
    /// No leased message has that sequence number.
    NotLeased,
    /// The message is ready again, or delayed.
    Requeued,
    /// The message had used up its attempts and left the queue.
    Dead(DeadMessage),
}

/// A work queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    tag: u32,
    next_seq: u64,
    msgs: HashMap<u64, Message>,
    /// Ready sequence numbers by priority; the last priority is served first.
    ready: BTreeMap<u8, BTreeSet<u64>>,
    ready_len: usize,
    /// `(visible at, seq)`.
    delayed: BTreeSet<(u64, u64)>,
    /// `(lease deadline, seq)`.
    leased: BTreeSet<(u64, u64)>,
    /// The queue's policy.
    pub config: QueueConfig,
    /// Its counters.
    pub counters: QueueCounters,
}

/// A message id that is not of the form `<seq>-<tag>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadId;

/// Parses a message id into its sequence number and queue tag.
pub fn parse_id(id: &[u8]) -> Result<(u64, u32), BadId> {
    let s = std::str::from_utf8(id).map_err(|_| BadId)?;
    let (seq, tag) = s.split_once('-').ok_or(BadId)?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) || tag.len() != 8 {
        return Err(BadId);
    }
    let seq = seq.parse::<u64>().map_err(|_| BadId)?;
    let tag = u32::from_str_radix(tag, 16).map_err(|_| BadId)?;
    Ok((seq, tag))
}

impl Queue {
    /// An empty queue with the given tag and the default policy.
    pub fn new(tag: u32) -> Self {
        Queue {
            tag,
            next_seq: 1,
            msgs: HashMap::new(),
            ready: BTreeMap::new(),
            ready_len: 0,
            delayed: BTreeSet::new(),
            leased: BTreeSet::new(),
            config: QueueConfig::default(),
            counters: QueueCounters::default(),
        }
    }

    /// The queue's tag, part of every message id.
    pub fn tag(&self) -> u32 {
        self.tag
    }

    /// The sequence number the next message gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The id of message `seq`, as clients see it.
    pub fn id(&self, seq: u64) -> String {
        format!("{seq}-{:08x}", self.tag)
    }

    /// The sequence number an id names in this queue: `Ok(None)` for a well-formed id of
    /// another queue.
    pub fn seq_of(&self, id: &[u8]) -> Result<Option<u64>, BadId> {
        let (seq, tag) = parse_id(id)?;
        Ok((tag == self.tag).then_some(seq))
    }

    /// Messages that can be taken now.
    pub fn ready_len(&self) -> usize {
        self.ready_len
    }

    /// Messages taken and not yet acknowledged.
    pub fn leased_len(&self) -> usize {
        self.leased.len()
    }

    /// Messages waiting for their delay.
    pub fn delayed_len(&self) -> usize {
        self.delayed.len()
    }

    /// Every message in the queue, whatever its state.
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// Whether the queue holds no message (it still exists, with its policy).
    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// A message by sequence number.
    pub fn get(&self, seq: u64) -> Option<&Message> {
        self.msgs.get(&seq)
    }

    /// The earliest time a delayed message becomes visible or a lease ends, if any: when a
    /// client waiting for a message should look again.
    pub fn next_due(&self) -> Option<u64> {
        let d = self.delayed.first().map(|&(at, _)| at);
        let l = self.leased.first().map(|&(at, _)| at);
        match (d, l) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether an operation at `now` has due leases or delays to move first.
    pub fn has_due(&self, now: u64) -> bool {
        self.next_due().is_some_and(|at| at <= now)
    }

    /// When the longest-waiting ready message was pushed.
    pub fn oldest_ready_enqueued_at(&self) -> Option<u64> {
        self.ready
            .values()
            .filter_map(|s| s.first())
            .filter_map(|seq| self.msgs.get(seq))
            .map(|m| m.enqueued_at)
            .min()
    }

    fn make_ready(&mut self, seq: u64, priority: u8) {
        if self.ready.entry(priority).or_default().insert(seq) {
            self.ready_len += 1;
        }
    }

    fn unready(&mut self, seq: u64, priority: u8) {
        if let Some(set) = self.ready.get_mut(&priority) {
            if set.remove(&seq) {
                self.ready_len -= 1;
            }
            if set.is_empty() {
                self.ready.remove(&priority);
            }
        }
    }

    /// Detaches message `seq` from the index of its state (it stays in `msgs`).
    fn unindex(&mut self, seq: u64) {
        let Some(m) = self.msgs.get(&seq) else { return };
        let (state, priority) = (m.state, m.priority);
        match state {
            State::Ready => self.unready(seq, priority),
            State::Delayed(at) => {
                self.delayed.remove(&(at, seq));
            }
            State::Leased(at) => {
                self.leased.remove(&(at, seq));
            }
        }
    }

    fn set_state(&mut self, seq: u64, state: State) {
        self.unindex(seq);
        let Some(m) = self.msgs.get_mut(&seq) else {
            return;
        };
        m.state = state;
        let priority = m.priority;
        match state {
            State::Ready => self.make_ready(seq, priority),
            State::Delayed(at) => {
                self.delayed.insert((at, seq));
            }
            State::Leased(at) => {
                self.leased.insert((at, seq));
            }
        }
    }

    /// Adds a message pushed at `now`, invisible until `visible_at` if that is later;
    /// returns its sequence number.
    pub fn push(&mut self, now: u64, priority: u8, visible_at: u64, payload: &[u8]) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let state = if visible_at > now {
            State::Delayed(visible_at)
        } else {
            State::Ready
        };
        self.msgs.insert(
            seq,
            Message {
                payload: CompactBytes::new(payload),
                priority,
                deliveries: 0,
                enqueued_at: now,
                state: State::Ready,
            },
        );
        match state {
            State::Ready => self.make_ready(seq, priority),
            _ => self.set_state(seq, state),
        }
        self.counters.pushed += 1;
        seq
    }

    /// Whether a message with `deliveries` deliveries has used up its attempts.
    fn exhausted(&self, deliveries: u32) -> bool {
        self.config.max_attempts != 0 && deliveries >= self.config.max_attempts
    }

    /// Removes message `seq` as dead-lettered.
    fn kill(&mut self, seq: u64) -> Option<DeadMessage> {
        self.unindex(seq);
        let m = self.msgs.remove(&seq)?;
        self.counters.dead_lettered += 1;
        Some(DeadMessage {
            payload: m.payload,
            priority: m.priority,
        })
    }

    /// Moves up to `limit` messages whose lease ended or whose delay passed by `now`:
    /// ended leases first, in deadline order, then delays. A message whose lease ended
    /// after its last attempt leaves the queue and is returned, for the dead-letter queue.
    /// Returns how many messages moved.
    pub fn advance(&mut self, now: u64, limit: usize, dead: &mut Vec<DeadMessage>) -> usize {
        let mut moved = 0;
        while moved < limit {
            let Some(&(at, seq)) = self.leased.first() else {
                break;
            };
            if at > now {
                break;
            }
            moved += 1;
            let deliveries = self.msgs.get(&seq).map_or(0, |m| m.deliveries);
            if self.exhausted(deliveries) {
                dead.extend(self.kill(seq));
            } else {
                self.set_state(seq, State::Ready);
            }
        }
        while moved < limit {
            let Some(&(at, seq)) = self.delayed.first() else {
                break;
            };
            if at > now {
                break;
            }
            moved += 1;
            self.set_state(seq, State::Ready);
        }
        moved
    }

    /// The next ready message's sequence number.
    fn first_ready(&self) -> Option<u64> {
        self.ready
            .last_key_value()
            .and_then(|(_, s)| s.first().copied())
    }

    /// Removes up to `count` ready messages for good, in serving order.
    pub fn pop(&mut self, count: usize) -> Vec<CompactBytes> {
        let mut out = Vec::with_capacity(count.min(self.ready_len));
        while out.len() < count {
            let Some(seq) = self.first_ready() else { break };
            self.unindex(seq);
            if let Some(m) = self.msgs.remove(&seq) {
                out.push(m.payload);
            }
        }
        self.counters.acked += out.len() as u64;
        out
    }

    /// Leases up to `count` ready messages until `deadline`, in serving order; returns
    /// their sequence numbers (each message's delivery count has gone up by one).
    pub fn reserve(&mut self, count: usize, deadline: u64) -> Vec<u64> {
        let mut out = Vec::with_capacity(count.min(self.ready_len));
        while out.len() < count {
            let Some(seq) = self.first_ready() else { break };
            self.set_state(seq, State::Leased(deadline));
            if let Some(m) = self.msgs.get_mut(&seq) {
                m.deliveries = m.deliveries.saturating_add(1);
            }
            out.push(seq);
        }
        out
    }

    /// Up to `count` ready messages in serving order, left in place.
    pub fn peek(&self, count: usize) -> impl Iterator<Item = &Message> + '_ {
        self.ready
            .values()
            .rev()
            .flat_map(|s| s.iter())
            .take(count)
            .filter_map(|seq| self.msgs.get(seq))
    }

    /// Deletes message `seq` whatever its state; whether it was there.
    pub fn ack(&mut self, seq: u64) -> bool {
        if !self.msgs.contains_key(&seq) {
            return false;
        }
        self.unindex(seq);
        self.msgs.remove(&seq);
        self.counters.acked += 1;
        true
    }

    /// Gives back leased message `seq`: ready again, or delayed until `visible_at` if that
    /// is after `now`; dead-lettered at once if it has used up its attempts.
    pub fn nack(&mut self, seq: u64, now: u64, visible_at: u64) -> Nacked {
        let Some(m) = self.msgs.get(&seq) else {
            return Nacked::NotLeased;
        };
        if !matches!(m.state, State::Leased(_)) {
            return Nacked::NotLeased;
        }
        if self.exhausted(m.deliveries) {
            return match self.kill(seq) {
                Some(d) => Nacked::Dead(d),
                None => Nacked::NotLeased,
            };
        }
        let state = if visible_at > now {
            State::Delayed(visible_at)
        } else {
            State::Ready
        };
        self.set_state(seq, state);
        Nacked::Requeued
    }

    /// Moves the end of leased message `seq`'s lease to `deadline`; whether it is leased.
    pub fn touch(&mut self, seq: u64, deadline: u64) -> bool {
        match self.msgs.get(&seq) {
            Some(m) if matches!(m.state, State::Leased(_)) => {
                self.set_state(seq, State::Leased(deadline));
                true
            }
            _ => false,
        }
    }

    /// Removes every message, in any state; returns how many.
    pub fn purge(&mut self) -> usize {
        let n = self.msgs.len();
        self.msgs.clear();
        self.ready.clear();
        self.ready_len = 0;
        self.delayed.clear();
        self.leased.clear();
        n
    }

    /// Every message with its sequence number, in sequence order (for snapshots).
    pub fn messages(&self) -> Vec<(u64, &Message)> {
        let mut v: Vec<(u64, &Message)> = self.msgs.iter().map(|(&s, m)| (s, m)).collect();
        v.sort_unstable_by_key(|&(s, _)| s);
        v
    }

    /// Rebuilds a queue from a snapshot's parts; `None` when they are inconsistent (a
    /// sequence number at or past `next_seq`, or twice).
    pub fn from_parts(
        tag: u32,
        next_seq: u64,
        config: QueueConfig,
        counters: QueueCounters,
        messages: Vec<(u64, Message)>,
    ) -> Option<Queue> {
        let mut q = Queue::new(tag);
        q.next_seq = next_seq;
        q.config = config;
        q.counters = counters;
        for (seq, m) in messages {
            if seq >= next_seq || q.msgs.contains_key(&seq) {
                return None;
            }
            let (state, priority) = (m.state, m.priority);
            q.msgs.insert(seq, m);
            match state {
                State::Ready => q.make_ready(seq, priority),
                State::Delayed(at) => {
                    q.delayed.insert((at, seq));
                }
                State::Leased(at) => {
                    q.leased.insert((at, seq));
                }
            }
        }
        Some(q)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn payloads(v: Vec<CompactBytes>) -> Vec<Vec<u8>> {
        v.into_iter().map(|p| p.as_slice().to_vec()).collect()
    }

    #[test]
    fn priority_first_then_fifo() {
        let mut q = Queue::new(7);
        q.push(100, 0, 0, b"a");
        q.push(100, 5, 0, b"b");
        q.push(100, 0, 0, b"c");
        q.push(100, 5, 0, b"d");
        q.push(100, 255, 0, b"e");
        assert_eq!(q.ready_len(), 5);
        let peeked: Vec<&[u8]> = q.peek(10).map(|m| m.payload.as_slice()).collect();
        assert_eq!(peeked, [&b"e"[..], b"b", b"d", b"a", b"c"]);
        assert_eq!(
            payloads(q.pop(3)),
            [b"e".to_vec(), b"b".to_vec(), b"d".to_vec()]
        );
        assert_eq!(q.ready_len(), 2);
        assert_eq!(q.counters.acked, 3);
    }

    #[test]
    fn delays_hide_until_due() {
        let mut q = Queue::new(1);
        q.push(1000, 0, 1500, b"late");
        q.push(1000, 0, 0, b"now");
        assert_eq!((q.ready_len(), q.delayed_len()), (1, 1));
        assert_eq!(q.next_due(), Some(1500));
        let mut dead = Vec::new();
        assert_eq!(q.advance(1499, ADVANCE_BATCH, &mut dead), 0);
        assert_eq!(q.advance(1500, ADVANCE_BATCH, &mut dead), 1);
        // The delayed message was pushed first, so it is served first once visible.
        assert_eq!(payloads(q.pop(2)), [b"late".to_vec(), b"now".to_vec()]);
    }

    #[test]
    fn ended_leases_come_back_with_their_count_then_die() {
        let mut q = Queue::new(1);
        q.config.max_attempts = 2;
        let a = q.push(0, 0, 0, b"a");
        q.push(0, 0, 0, b"b");
        assert_eq!(q.reserve(1, 100), [a]);
        assert_eq!(q.get(a).unwrap().deliveries, 1);
        assert_eq!((q.ready_len(), q.leased_len()), (1, 1));
        let mut dead = Vec::new();
        q.advance(100, ADVANCE_BATCH, &mut dead);
        assert!(dead.is_empty());
        // Back in front of `b`, which came later.
        assert_eq!(q.reserve(1, 200), [a]);
        assert_eq!(q.get(a).unwrap().deliveries, 2);
        q.advance(200, ADVANCE_BATCH, &mut dead);
        assert_eq!(
            dead,
            [DeadMessage {
                payload: CompactBytes::new(b"a"),
                priority: 0
            }]
        );
        assert_eq!(q.counters.dead_lettered, 1);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn advance_is_bounded() {
        let mut q = Queue::new(1);
        for i in 0..10u64 {
            q.push(0, 0, 10 + i, b"x");
        }
        let mut dead = Vec::new();
        assert_eq!(q.advance(100, 4, &mut dead), 4);
        assert_eq!(q.ready_len(), 4);
        assert_eq!(q.advance(100, 100, &mut dead), 6);
        assert_eq!(q.ready_len(), 10);
    }

    #[test]
    fn ack_nack_touch() {
        let mut q = Queue::new(1);
        let a = q.push(0, 0, 0, b"a");
        assert_eq!(q.nack(a, 0, 0), Nacked::NotLeased, "not leased");
        assert!(!q.touch(a, 50));
        q.reserve(1, 100);
        assert!(q.touch(a, 500));
        assert_eq!(q.next_due(), Some(500));
        assert_eq!(q.nack(a, 10, 60), Nacked::Requeued);
        assert_eq!((q.ready_len(), q.delayed_len(), q.leased_len()), (0, 1, 0));
        assert!(q.ack(a));
        assert!(!q.ack(a));
        assert!(q.is_empty());
        assert_eq!(q.next_due(), None);
    }

    #[test]
    fn ids_name_their_queue() {
        let q = Queue::new(0xdead_beef);
        assert_eq!(q.id(42), "42-deadbeef");
        assert_eq!(q.seq_of(b"42-deadbeef"), Ok(Some(42)));
        assert_eq!(q.seq_of(b"42-00000001"), Ok(None));
        for bad in [
            &b"42"[..],
            b"-deadbeef",
            b"x-deadbeef",
            b"42-dead",
            b"+4-deadbeef",
        ] {
            assert_eq!(q.seq_of(bad), Err(BadId), "{bad:?}");
        }
    }

    #[test]
    fn from_parts_rebuilds_and_rejects_inconsistency() {
        let mut q = Queue::new(3);
        q.push(0, 2, 0, b"r");
        q.push(0, 0, 99, b"d");
        q.push(0, 0, 0, b"l");
        q.reserve(1, 70);
        let parts: Vec<(u64, Message)> = q
            .messages()
            .into_iter()
            .map(|(s, m)| (s, m.clone()))
            .collect();
        let back = Queue::from_parts(3, q.next_seq(), q.config.clone(), q.counters, parts.clone())
            .unwrap();
        assert_eq!(back, q);
        assert!(Queue::from_parts(3, 2, QueueConfig::default(), q.counters, parts).is_none());
    }
}
