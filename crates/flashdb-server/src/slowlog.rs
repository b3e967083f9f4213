//! The slow log (`SLOWLOG`, `GET /api/v1/slowlog`), as Redis's `slowlog.c`: commands
//! that ran longer than `slowlog-log-slower-than` microseconds, newest first, at most
//! `slowlog-max-len` of them, with their arguments (shortened, and passwords redacted)
//! and the client that sent them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

/// Most arguments an entry keeps; the last one kept says how many more there were.
const MAX_ARGC: usize = 32;
/// Longest argument an entry keeps; past it, the argument says how many bytes more.
const MAX_STRING: usize = 128;

/// One slow command.
#[derive(Debug, Clone)]
pub struct SlowEntry {
    /// Increasing id.
    pub id: u64,
    /// Unix time in seconds when it was logged.
    pub time: u64,
    /// Duration in microseconds.
    pub micros: u64,
    /// The arguments, name included, shortened as Redis does.
    pub args: Vec<Vec<u8>>,
    /// The client's address.
    pub addr: String,
    /// The client's name.
    pub name: String,
}

/// The slow log and its settings.
#[derive(Debug)]
pub struct SlowLog {
    entries: Mutex<VecDeque<SlowEntry>>,
    next_id: AtomicU64,
    /// `slowlog-log-slower-than`: the threshold in microseconds; negative logs nothing.
    pub slower_than: AtomicI64,
    /// `slowlog-max-len`.
    pub max_len: AtomicU64,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog {
            entries: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(0),
            slower_than: AtomicI64::new(10_000),
            max_len: AtomicU64::new(128),
        }
    }
}

/// The arguments as the slow log keeps them.
fn shorten(args: &[&[u8]]) -> Vec<Vec<u8>> {
    let kept = args.len().min(MAX_ARGC);
    let redact_from = redacted_from(args);
    (0..kept)
        .map(|j| {
            if kept != args.len() && j == kept - 1 {
                format!("... ({} more arguments)", args.len() - kept + 1).into_bytes()
            } else if redact_from.is_some_and(|from| j >= from) {
                b"(redacted)".to_vec()
            } else if args[j].len() > MAX_STRING {
                let mut s = args[j][..MAX_STRING].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", args[j].len() - MAX_STRING).as_bytes(),
                );
                s
            } else {
                args[j].to_vec()
            }
        })
        .collect()
}

/// The first argument that is a secret, if the command carries one: Redis redacts the
/// passwords of `AUTH`, `HELLO ... AUTH` and `CONFIG SET requirepass`, and every
/// argument of `ACL SETUSER` (the user's name and rules, passwords among them).
fn redacted_from(args: &[&[u8]]) -> Option<usize> {
    let name = args.first()?;
    if name.eq_ignore_ascii_case(b"auth") {
        return Some(1);
    }
    if name.eq_ignore_ascii_case(b"acl")
        && args
            .get(1)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"setuser"))
    {
        return Some(2);
    }
    if name.eq_ignore_ascii_case(b"hello") {
        return args
            .iter()
            .position(|a| a.eq_ignore_ascii_case(b"auth"))
            .map(|i| i + 1);
    }
    if name.eq_ignore_ascii_case(b"config")
        && args.get(1).is_some_and(|s| s.eq_ignore_ascii_case(b"set"))
        && args.iter().skip(2).step_by(2).any(|p| {
            p.eq_ignore_ascii_case(b"requirepass") || p.eq_ignore_ascii_case(b"masterauth")
        })
    {
        return Some(3);
    }
    None
}

impl SlowLog {
    /// Whether a command that took `micros` belongs in the log.
    pub fn wants(&self, micros: u64) -> bool {
        let t = self.slower_than.load(Ordering::Relaxed);
        t >= 0 && micros >= t as u64
    }

    /// Logs a command (call after [`wants`](Self::wants) said yes).
    pub fn record(&self, args: &[&[u8]], micros: u64, addr: &str, name: &str) {
        let entry = SlowEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            time: flashdb_core::keyspace::unix_ms() / 1000,
            micros,
            args: shorten(args),
            addr: addr.to_string(),
            name: name.to_string(),
        };
        let max = self.max_len.load(Ordering::Relaxed) as usize;
        let mut entries = self.entries.lock();
        entries.push_front(entry);
        entries.truncate(max);
    }

    /// The newest `count` entries (all with `None`).
    pub fn newest(&self, count: Option<usize>) -> Vec<SlowEntry> {
        let entries = self.entries.lock();
        let n = count.unwrap_or(entries.len()).min(entries.len());
        entries.iter().take(n).cloned().collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the log.
    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    /// Applies a new `slowlog-max-len` at once, as Redis trims on the next entry.
    pub fn set_max_len(&self, max: u64) {
        self.max_len.store(max, Ordering::Relaxed);
        self.entries.lock().truncate(max as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_shortened_and_secrets_redacted() {
        let long = vec![b'x'; 200];
        let many: Vec<Vec<u8>> = (0..40).map(|i| i.to_string().into_bytes()).collect();
        let mut args: Vec<&[u8]> = vec![b"SET", &long];
        args.extend(many.iter().map(|a| a.as_slice()));
        let s = shorten(&args);
        assert_eq!(s.len(), 32);
        assert_eq!(&s[1][..128], &long[..128]);
        assert_eq!(&s[1][128..], b"... (72 more bytes)");
        assert_eq!(s[31], b"... (11 more arguments)");
        let s = shorten(&[b"AUTH", b"user", b"secret"]);
        assert_eq!(
            s,
            vec![
                b"AUTH".to_vec(),
                b"(redacted)".to_vec(),
                b"(redacted)".to_vec()
            ]
        );
        let s = shorten(&[b"HELLO", b"3", b"AUTH", b"u", b"p"]);
        assert_eq!(s[3], b"(redacted)");
        assert_eq!(s[1], b"3");
        let s = shorten(&[b"ACL", b"SETUSER", b"alice", b">pw"]);
        assert_eq!(s[1], b"SETUSER");
        assert_eq!(
            (s[2].as_slice(), s[3].as_slice()),
            (&b"(redacted)"[..], &b"(redacted)"[..])
        );
        let s = shorten(&[b"CONFIG", b"SET", b"requirepass", b"pw"]);
        assert_eq!(s[3], b"(redacted)");
        assert_eq!(s[2], b"requirepass");
    }

    #[test]
    fn the_log_keeps_the_newest_within_its_length() {
        let log = SlowLog::default();
        log.slower_than.store(-1, Ordering::Relaxed);
        assert!(!log.wants(u64::MAX));
        log.slower_than.store(0, Ordering::Relaxed);
        assert!(log.wants(0));
        log.set_max_len(2);
        for i in 0..3u64 {
            log.record(&[b"GET", i.to_string().as_bytes()], i, "a:1", "");
        }
        let got = log.newest(None);
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(log.newest(Some(1)).len(), 1);
        log.reset();
        assert!(log.is_empty());
    }
}
