//! Waiting until a log record is durable.
//!
//! Under `appendfsync always` every connection waits for its own records, and group commit
//! makes one fsync durable for many of them while others wait for the next one. Waking
//! every waiter on every fsync (as a broadcast channel does) would poll each connection
//! several times per reply; here waiters are kept in order of the record they wait for,
//! and each fsync wakes exactly the ones it made durable.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

struct Waiter {
    seq: u64,
    waker: Waker,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl Eq for Waiter {}

impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.seq.cmp(&other.seq)
    }
}

/// The highest durable sequence number, and the tasks waiting for higher ones.
#[derive(Default)]
pub(crate) struct DurableSeq {
    seq: AtomicU64,
    /// Set with `failure`: lets a poll skip the lock in the common case.
    failed: AtomicBool,
    failure: Mutex<Option<Arc<str>>>,
    stopped: AtomicBool,
    waiters: Mutex<BinaryHeap<Reverse<Waiter>>>,
}

impl DurableSeq {
    /// Starts with every record up to `seq` durable.
    pub(crate) fn new(seq: u64) -> DurableSeq {
        let d = DurableSeq::default();
        d.seq.store(seq, Ordering::Release);
        d
    }

    /// The highest sequence number known durable.
    pub(crate) fn get(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Every record up to `seq` is durable: wakes their waiters.
    pub(crate) fn advance(&self, seq: u64) {
        self.seq.fetch_max(seq, Ordering::AcqRel);
        let mut ready = Vec::new();
        {
            let mut w = self.waiters.lock();
            while w.peek().is_some_and(|Reverse(x)| x.seq <= seq) {
                if let Some(Reverse(x)) = w.pop() {
                    ready.push(x.waker);
                }
            }
        }
        for waker in ready {
            waker.wake();
        }
    }

    /// The log failed: no waiter's record is ever reported durable again.
    pub(crate) fn fail(&self, cause: Arc<str>) {
        *self.failure.lock() = Some(cause);
        self.failed.store(true, Ordering::Release);
        self.wake_all();
    }

    /// The log was closed: records not yet durable never will be.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.wake_all();
    }

    fn wake_all(&self) {
        let all = std::mem::take(&mut *self.waiters.lock());
        for Reverse(w) in all {
            w.waker.wake();
        }
    }

    fn poll_seq(&self, seq: u64, cx: &mut Context<'_>) -> Poll<Result<(), Arc<str>>> {
        // A failure wins over a durable sequence number: after a failed fsync, a later
        // successful one proves nothing about the data of the failed one.
        if self.failed.load(Ordering::Acquire) {
            if let Some(cause) = self.failure.lock().clone() {
                return Poll::Ready(Err(cause));
            }
        }
        if self.get() >= seq {
            return Poll::Ready(Ok(()));
        }
        if self.stopped.load(Ordering::Acquire) {
            return Poll::Ready(Err(Arc::from("the write-ahead log stopped")));
        }
        let mut w = self.waiters.lock();
        // Checked again under the lock that `advance`, `fail` and `stop` take after
        // changing their state: either they see this waiter, or this poll sees them.
        if self.get() >= seq
            || self.failed.load(Ordering::Acquire)
            || self.stopped.load(Ordering::Acquire)
        {
            drop(w);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        w.push(Reverse(Waiter {
            seq,
            waker: cx.waker().clone(),
        }));
        Poll::Pending
    }
}

/// A future that resolves once the record `seq` is durable, or with the reason it never
/// will be.
pub struct WaitDurable<'a> {
    pub(crate) durable: &'a DurableSeq,
    pub(crate) seq: u64,
}

impl Future for WaitDurable<'_> {
    type Output = Result<(), Arc<str>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.durable.poll_seq(self.seq, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(d: &DurableSeq, seq: u64, count: &Arc<Count>) -> Poll<Result<(), Arc<str>>> {
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut f = WaitDurable { durable: d, seq };
        Pin::new(&mut f).poll(&mut cx)
    }

    #[test]
    fn each_advance_wakes_only_the_waiters_it_satisfies() {
        let d = DurableSeq::new(5);
        let counts: Vec<Arc<Count>> = (0..4)
            .map(|_| Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        assert_eq!(poll(&d, 5, &counts[0]), Poll::Ready(Ok(())));
        for (i, seq) in [(1, 7), (2, 9), (3, 12)] {
            assert!(poll(&d, seq, &counts[i]).is_pending());
        }
        d.advance(9);
        let woken: Vec<usize> = counts.iter().map(|c| c.0.load(Ordering::SeqCst)).collect();
        assert_eq!(woken, vec![0, 1, 1, 0]);
        assert_eq!(poll(&d, 9, &counts[2]), Poll::Ready(Ok(())));
        assert!(poll(&d, 12, &counts[3]).is_pending());
        d.advance(8); // never goes back
        assert_eq!(d.get(), 9);
        d.fail(Arc::from("disk gone"));
        // Polled twice while pending, so registered (and woken) twice.
        assert_eq!(counts[3].0.load(Ordering::SeqCst), 2);
        assert_eq!(
            poll(&d, 12, &counts[3]),
            Poll::Ready(Err(Arc::from("disk gone")))
        );
        // A failure wins even over a record that was durable.
        assert_eq!(
            poll(&d, 3, &counts[0]),
            Poll::Ready(Err(Arc::from("disk gone")))
        );
    }

    #[test]
    fn stopping_ends_the_waits_that_can_no_longer_end() {
        let d = DurableSeq::new(5);
        let c = Arc::new(Count(AtomicUsize::new(0)));
        assert!(poll(&d, 6, &c).is_pending());
        d.stop();
        assert_eq!(c.0.load(Ordering::SeqCst), 1);
        assert!(matches!(poll(&d, 6, &c), Poll::Ready(Err(_))));
        assert_eq!(poll(&d, 5, &c), Poll::Ready(Ok(())));
    }
}
