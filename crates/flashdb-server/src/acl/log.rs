//! `ACL LOG`: the most recent denials, with repeats of the same denial within a minute
//! folded into one entry with a count, as Redis keeps them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Why something was denied (`reason` in `ACL LOG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A wrong password, or a user that does not exist or is off.
    Auth,
    /// A command the user may not run.
    Command,
    /// A key the user may not touch.
    Key,
    /// A channel the user may not use.
    Channel,
}

impl Reason {
    /// The name `ACL LOG` shows.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Auth => "auth",
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
        }
    }
}

/// Where the denied call was made (`context` in `ACL LOG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Sent by the client.
    Toplevel,
    /// Inside `MULTI` / `EXEC`.
    Multi,
    /// From a script's `redis.call`.
    Lua,
}

impl Context {
    /// The name `ACL LOG` shows.
    pub fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// One entry.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// How many times this denial happened (within a minute of the previous one).
    pub count: u64,
    /// Why.
    pub reason: Reason,
    /// Where.
    pub context: Context,
    /// The command, key or channel denied (for `Auth`, the command as sent).
    pub object: Vec<u8>,
    /// The user.
    pub username: Vec<u8>,
    /// When it last happened.
    pub at: Instant,
    /// The client, as a `CLIENT LIST` line.
    pub client_info: String,
}

impl LogEntry {
    /// A new entry of one denial, now.
    pub fn new(
        reason: Reason,
        context: Context,
        object: &[u8],
        username: &[u8],
        client_info: String,
    ) -> LogEntry {
        LogEntry {
            count: 1,
            reason,
            context,
            object: object.to_vec(),
            username: username.to_vec(),
            at: Instant::now(),
            client_info,
        }
    }

    fn same_as(&self, other: &LogEntry) -> bool {
        self.reason == other.reason
            && self.context == other.context
            && self.object == other.object
            && self.username == other.username
            && other.at.saturating_duration_since(self.at) <= GROUPING
    }
}

/// Denials this close together are one entry.
const GROUPING: Duration = Duration::from_secs(60);

/// How many of the newest entries a new one is compared with.
const SCAN: usize = 10;

#[derive(Debug)]
pub(super) struct Log {
    entries: Mutex<VecDeque<LogEntry>>,
    max_len: AtomicUsize,
}

impl Log {
    pub(super) fn new(max_len: usize) -> Log {
        Log {
            entries: Mutex::new(VecDeque::new()),
            max_len: AtomicUsize::new(max_len),
        }
    }

    pub(super) fn set_max_len(&self, n: usize) {
        self.max_len.store(n, Ordering::Relaxed);
        self.entries.lock().truncate(n);
    }

    pub(super) fn add(&self, entry: LogEntry) {
        let mut entries = self.entries.lock();
        if let Some(i) = entries.iter().take(SCAN).position(|e| e.same_as(&entry)) {
            if let Some(mut old) = entries.remove(i) {
                old.count += 1;
                old.at = entry.at;
                old.client_info = entry.client_info;
                entries.push_front(old);
                return;
            }
        }
        entries.push_front(entry);
        let max = self.max_len.load(Ordering::Relaxed);
        entries.truncate(max);
    }

    pub(super) fn newest(&self, count: usize) -> Vec<LogEntry> {
        self.entries.lock().iter().take(count).cloned().collect()
    }

    pub(super) fn reset(&self) {
        self.entries.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_fold_into_one_entry_and_the_log_is_bounded() {
        let log = Log::new(3);
        let e =
            |obj: &[u8]| LogEntry::new(Reason::Key, Context::Toplevel, obj, b"u", String::new());
        log.add(e(b"a"));
        log.add(e(b"b"));
        log.add(e(b"a"));
        let got = log.newest(10);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].object.as_slice(), got[0].count),
            (b"a".as_slice(), 2)
        );
        log.add(e(b"c"));
        log.add(e(b"d"));
        let got: Vec<Vec<u8>> = log.newest(10).into_iter().map(|e| e.object).collect();
        assert_eq!(got, vec![b"d".to_vec(), b"c".to_vec(), b"a".to_vec()]);
        log.set_max_len(1);
        assert_eq!(log.newest(10).len(), 1);
        log.reset();
        assert!(log.newest(10).is_empty());
    }
}
