//! Clients blocked on keys (`BLPOP`, `BZPOPMIN`, ...), in the order they blocked.
//!
//! A blocked client registers a wake-up for each of its keys. A write that makes a key
//! ready (a push, an add) wakes only the first client waiting on that key; that client
//! retries its command under the key's lock. When a client leaves the queue (served,
//! timed out or disconnected) the next one on each of its keys is woken in turn, so
//! clients are served in the order they blocked and an element is never left unclaimed
//! while someone waits for it.
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

/// How a blocked client is woken (the server passes a closure that notifies its task).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

struct Waiter {
    keys: Vec<(usize, Vec<u8>)>,
    wake: Wake,
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

    /// Number of distinct keys clients are blocked on.
    pub fn keys(&self) -> usize {
        self.inner.lock().by_key.len()
    }

    /// Queues a client on `keys` of database `db`; returns its ticket.
    pub fn register(&self, db: usize, keys: &[Vec<u8>], wake: Wake) -> u64 {
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
        g.waiters.insert(id, Waiter { keys: mine, wake });
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
            let Some(w) = g.waiters.remove(&id) else {
                return;
            };
            g.woken.remove(&id);
            self.active.fetch_sub(1, Ordering::AcqRel);
            for k in &w.keys {
                let mut emptied = false;
                if let Some(q) = g.by_key.get_mut(k) {
                    q.retain(|&x| x != id);
                    emptied = q.is_empty();
                }
                if emptied {
                    g.by_key.remove(k);
                } else if let Some(&next) = g.by_key.get(k).and_then(|q| q.front()) {
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
