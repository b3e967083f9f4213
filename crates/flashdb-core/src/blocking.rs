//! Clients blocked on keys (`BLPOP`, `BZPOPMIN`, ...), in the order they blocked.
//!
//! A list or sorted-set client is served as Redis serves it: by the command (or
//! transaction) that makes its key ready, under that command's locks, once the command
//! is done and before any other command runs, in the order clients blocked, and only if
//! the key then holds the right type with data ([`HandOff`], run by the keyspace's
//! `Locked` as it is released). Its pop joins the serving command's log record.
//!
//! The other clients (the queue's `BQPOP` and `QRESERVE ... BLOCK`, or a list client
//! whose command reaches a shard that is busy at that moment) are woken instead: a write
//! that makes a key ready wakes only the first client waiting on it, which runs its
//! command again under the key's lock. When a client leaves the queue (served, timed out
//! or disconnected) the next one on each of its keys is woken in turn, so clients are
//! served in the order they blocked and an element is never left unclaimed while someone
//! waits for it. A client is never both served and running its command itself: each
//! waiter's state says which is happening.
//!
//! Woken clients also retry in the order they blocked ([`BlockRegistry::may_retry`]). A
//! client that leaves can wake two at once: the next on each of its keys. Were they to
//! retry in whatever order their tasks happen to run, a client blocked later, woken
//! through a key that is not ready, could take an element from another key ahead of the
//! client that had waited longer on it.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::keyspace::Locked;
use crate::value::Value;

/// How a blocked client is woken (the server passes a closure that notifies its task).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// How a blocked client is served by the command that makes its key ready, under that
/// command's locks, before any other command runs (Redis's hand-off).
pub struct HandOff {
    /// Every key the blocked command touches: it is served this way only when the
    /// serving command holds all their shards.
    pub keys: Vec<Vec<u8>>,
    /// The type the blocked command takes (a list, a sorted set): a ready key that holds
    /// another type, or nothing, leaves the client blocked.
    pub wants: fn(&Value) -> bool,
    /// Runs the blocked command on the locks given; its reply, or `None` if it still
    /// found nothing to take.
    #[allow(clippy::type_complexity)]
    pub serve: Box<dyn Fn(&mut Locked<'_>) -> Option<Vec<u8>> + Send + Sync>,
    /// Hands the reply to the client, with the log record it must wait for.
    #[allow(clippy::type_complexity)]
    pub deliver: Box<dyn Fn(Vec<u8>, u64) + Send + Sync>,
}

/// What a blocked client is doing, so that it is never served twice.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting.
    Idle,
    /// Running its command again itself (woken).
    Retrying,
    /// Being served by the command that made its key ready.
    Serving,
}

/// Whether a woken client may run its command again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Yes: it is marked as retrying until [`BlockRegistry::end_retry`].
    Proceed,
    /// Not now: another command is serving it; its reply follows, or it stays blocked.
    Busy,
    /// It is no longer blocked: it was served (its reply was delivered) or left.
    Gone,
}

struct Waiter {
    keys: Vec<(usize, Vec<u8>)>,
    wake: Wake,
    handoff: Option<Arc<HandOff>>,
    state: State,
}

#[derive(Default)]
struct Inner {
    by_key: HashMap<(usize, Vec<u8>), VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
    /// Clients woken (or deferred, see `may_retry`) that have not retried yet.
    woken: BTreeSet<u64>,
    next_id: u64,
}

impl Inner {
    /// Removes client `id` from the registry and from every queue (dropping queues left
    /// empty); its keys, for waking the next client on each.
    fn take(&mut self, id: u64) -> Option<Vec<(usize, Vec<u8>)>> {
        let w = self.waiters.remove(&id)?;
        self.woken.remove(&id);
        for k in &w.keys {
            let emptied = match self.by_key.get_mut(k) {
                Some(q) => {
                    q.retain(|&x| x != id);
                    q.is_empty()
                }
                None => false,
            };
            if emptied {
                self.by_key.remove(k);
            }
        }
        Some(w.keys)
    }

    /// Marks `id` woken and returns its wake-up.
    fn wake(&mut self, id: u64) -> Option<Wake> {
        let wake = self.waiters.get(&id)?.wake.clone();
        self.woken.insert(id);
        Some(wake)
    }

    /// The wake-up of the earliest client waiting for its turn to retry, unless it is
    /// one of `already` (woken just now).
    fn wake_earliest_woken(&mut self, already: &[u64]) -> Option<Wake> {
        let first = *self.woken.first()?;
        if already.contains(&first) {
            return None;
        }
        self.wake(first)
    }
}

/// The registry of blocked clients.
#[derive(Default)]
pub struct BlockRegistry {
    active: AtomicUsize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for BlockRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockRegistry")
            .field("active", &self.active.load(Ordering::Relaxed))
            .finish()
    }
}

impl BlockRegistry {
    /// Number of blocked clients (`INFO clients`' `blocked_clients`).
    pub fn blocked(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// The keys of `db` that clients are blocked on (`SWAPDB` looks at each again).
    pub fn keys_of(&self, db: usize) -> Vec<Vec<u8>> {
        self.inner
            .lock()
            .by_key
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// Number of distinct keys clients are blocked on.
    pub fn keys(&self) -> usize {
        self.inner.lock().by_key.len()
    }

    /// Queues a client on `keys` of database `db`; returns its ticket.
    pub fn register(&self, db: usize, keys: &[Vec<u8>], wake: Wake) -> u64 {
        self.register_with(db, keys, wake, None)
    }

    /// [`register`](Self::register), with the way to serve the client in the command
    /// that makes one of its keys ready.
    pub fn register_with(
        &self,
        db: usize,
        keys: &[Vec<u8>],
        wake: Wake,
        handoff: Option<HandOff>,
    ) -> u64 {
        let mut g = self.inner.lock();
        g.next_id += 1;
        let id = g.next_id;
        let mut mine = Vec::with_capacity(keys.len());
        for k in keys {
            let entry = (db, k.clone());
            if mine.contains(&entry) {
                continue;
            }
            g.by_key.entry(entry.clone()).or_default().push_back(id);
            mine.push(entry);
        }
        g.waiters.insert(
            id,
            Waiter {
                keys: mine,
                wake,
                handoff: handoff.map(Arc::new),
                state: State::Idle,
            },
        );
        self.active.fetch_add(1, Ordering::AcqRel);
        id
    }

    /// Removes a client from every queue and wakes the next client on each of its keys,
    /// which may be able to take what this one leaves.
    pub fn unregister(&self, id: u64) {
        let mut wakes: Vec<Wake> = Vec::new();
        let mut woken = Vec::new();
        {
            let mut g = self.inner.lock();
            let Some(keys) = g.take(id) else {
                return;
            };
            self.active.fetch_sub(1, Ordering::AcqRel);
            for k in &keys {
                if let Some(&next) = g.by_key.get(k).and_then(|q| q.front()) {
                    if !woken.contains(&next) {
                        woken.push(next);
                        wakes.extend(g.wake(next));
                    }
                }
            }
            // A client deferred behind this one may retry now.
            wakes.extend(g.wake_earliest_woken(&woken));
        }
        for w in wakes {
            w();
        }
    }

    /// The first client blocked on `key` of `db`, if it can be served by hand-off now
    /// (it has a hand-off and is not running its command itself); it is marked as being
    /// served until [`served`](Self::served) or [`not_served`](Self::not_served).
    pub fn begin_serving(&self, db: usize, key: &[u8]) -> Option<(u64, Arc<HandOff>)> {
        let mut g = self.inner.lock();
        let id = *g.by_key.get(&(db, key.to_vec()))?.front()?;
        let w = g.waiters.get_mut(&id)?;
        if w.state != State::Idle {
            return None;
        }
        let h = w.handoff.clone()?;
        w.state = State::Serving;
        Some((id, h))
    }

    /// Client `id` was served by hand-off: it leaves every queue, and nobody is woken
    /// (the serving command goes on with the next client itself).
    pub fn served(&self, id: u64) {
        if self.inner.lock().take(id).is_some() {
            self.active.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Client `id` could not be served by hand-off after all: it waits on.
    pub fn not_served(&self, id: u64) {
        if let Some(w) = self.inner.lock().waiters.get_mut(&id) {
            w.state = State::Idle;
        }
    }

    /// Client `id`, woken, asks to run its command again (see [`Gate`]).
    pub fn begin_retry(&self, id: u64) -> Gate {
        match self.inner.lock().waiters.get_mut(&id) {
            None => Gate::Gone,
            Some(w) if w.state == State::Serving => Gate::Busy,
            Some(w) => {
                w.state = State::Retrying;
                Gate::Proceed
            }
        }
    }

    /// Client `id` ran its command again and is still blocked.
    pub fn end_retry(&self, id: u64) {
        if let Some(w) = self.inner.lock().waiters.get_mut(&id) {
            w.state = State::Idle;
        }
    }

    /// A write made `key` ready: wakes the first client blocked on it.
    pub fn key_ready(&self, db: usize, key: &[u8]) {
        let wake = {
            let mut g = self.inner.lock();
            let front = g.by_key.get(&(db, key.to_vec())).and_then(|q| q.front());
            match front {
                Some(&id) => g.wake(id),
                None => None,
            }
        };
        if let Some(w) = wake {
            w();
        }
    }

    /// Whether client `id`, about to retry its command, may do so now: no client that
    /// blocked before it is woken and still to retry. If one is, `id` waits its turn and
    /// is woken again when that client has retried or left.
    pub fn may_retry(&self, id: u64) -> bool {
        let mut g = self.inner.lock();
        if g.woken.first().is_some_and(|&first| first < id) {
            g.woken.insert(id);
            return false;
        }
        g.woken.remove(&id);
        true
    }

    /// Client `id` retried and is still blocked: the next client waiting for its turn,
    /// if any, retries now.
    pub fn retried(&self, id: u64) {
        let wake = {
            let mut g = self.inner.lock();
            g.woken.remove(&id);
            g.wake_earliest_woken(&[])
        };
        if let Some(w) = wake {
            w();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn counter() -> (Arc<AtomicU32>, Wake) {
        let c = Arc::new(AtomicU32::new(0));
        let c2 = c.clone();
        (
            c,
            Arc::new(move || {
                c2.fetch_add(1, Ordering::SeqCst);
            }),
        )
    }

    #[test]
    fn the_first_blocked_client_is_woken_then_the_next() {
        let r = BlockRegistry::default();
        let (a, wa) = counter();
        let (b, wb) = counter();
        let ia = r.register(0, &[b"k".to_vec()], wa);
        let _ib = r.register(0, &[b"k".to_vec(), b"other".to_vec()], wb);
        assert_eq!(r.blocked(), 2);
        r.key_ready(0, b"k");
        assert_eq!((a.load(Ordering::SeqCst), b.load(Ordering::SeqCst)), (1, 0));
        r.key_ready(1, b"k");
        assert_eq!(b.load(Ordering::SeqCst), 0, "another database's key");
        r.unregister(ia);
        assert_eq!(
            b.load(Ordering::SeqCst),
            1,
            "served client passes the turn on"
        );
        r.unregister(ia);
        assert_eq!(r.blocked(), 1);
        r.key_ready(0, b"other");
        assert_eq!(b.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn woken_clients_retry_in_the_order_they_blocked() {
        let r = BlockRegistry::default();
        let (_, w0) = counter();
        let (c1, w1) = counter();
        let (c2, w2) = counter();
        // As BQPOP other tasks, QRESERVE tasks, BQPOP other tasks.
        let i0 = r.register(0, &[b"other".to_vec(), b"tasks".to_vec()], w0);
        let i1 = r.register(0, &[b"tasks".to_vec()], w1);
        let i2 = r.register(0, &[b"other".to_vec(), b"tasks".to_vec()], w2);
        r.key_ready(0, b"tasks");
        assert!(r.may_retry(i0));
        // The first is served: the next on each of its keys is woken, 2 through `other`.
        r.unregister(i0);
        assert_eq!(c1.load(Ordering::SeqCst), 1);
        assert_eq!(c2.load(Ordering::SeqCst), 1);
        // 2 runs first, but 1 blocked before it: 2 waits its turn.
        assert!(!r.may_retry(i2));
        let woken_before = c2.load(Ordering::SeqCst);
        assert!(r.may_retry(i1));
        // 1 found nothing after all and stays blocked: 2's turn.
        r.retried(i1);
        assert_eq!(c2.load(Ordering::SeqCst), woken_before + 1);
        assert!(r.may_retry(i2));
        // Nobody else is waiting for a turn: a retry wakes no one.
        r.retried(i2);
        assert_eq!(c1.load(Ordering::SeqCst), 1);
        // A client that leaves while deferred does not hold up the others.
        r.key_ready(0, b"tasks");
        r.key_ready(0, b"other");
        assert!(!r.may_retry(i2));
        r.unregister(i1);
        assert!(r.may_retry(i2));
    }
}
