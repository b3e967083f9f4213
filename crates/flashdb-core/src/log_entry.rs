//! Deterministic log entries: what a write did, not what the client asked for.
//!
//! Every write command describes its effect with these entries while it still holds the
//! locks of its keys, so that their order in the log agrees with the order in which keys
//! changed. Relative times are already absolute (`EXPIRE k 10` is [`LogEntry::Expire`] at a
//! Unix time), floating-point results are the value produced (`INCRBYFLOAT` logs a
//! [`LogEntry::Set`]), and keys removed because their TTL passed are logged as
//! [`LogEntry::Del`], so replay never consults the clock and always reproduces the state.

use crate::keyspace::Ttl;

/// One effect on the keyspace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LogEntry<'a> {
    /// Store a string value (`SET`, `INCRBYFLOAT`, `GETSET`, ...), with its TTL handling.
    Set {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The new value.
        value: &'a [u8],
        /// What happens to the key's TTL.
        ttl: Ttl,
    },
    /// Append to a string (creating it if missing).
    Append {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The bytes appended.
        data: &'a [u8],
    },
    /// Overwrite part of a string, zero-padding it if needed (creating it if missing).
    SetRange {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// Byte offset of the write.
        offset: u64,
        /// The bytes written.
        data: &'a [u8],
    },
    /// Add to an integer string, keeping its TTL (creating it as 0 if missing).
    IncrBy {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The amount added.
        delta: i64,
    },
    /// Delete a key (also written when a key's TTL passed).
    Del {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
    },
    /// Set a key's absolute expiry time (Unix milliseconds).
    Expire {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// Expiry time in Unix milliseconds.
        at: u64,
    },
    /// Remove a key's TTL.
    Persist {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
    },
    /// Rename a key, replacing the destination.
    Rename {
        /// Database number.
        db: u32,
        /// The key renamed.
        from: &'a [u8],
        /// Its new name.
        to: &'a [u8],
    },
    /// Move a key to another database.
    Move {
        /// Source database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// Destination database number.
        to_db: u32,
    },
    /// Copy a key, replacing the destination.
    Copy {
        /// Source database number.
        db: u32,
        /// Source key.
        from: &'a [u8],
        /// Destination database number.
        to_db: u32,
        /// Destination key.
        to: &'a [u8],
    },
    /// Swap two databases.
    SwapDb {
        /// First database number.
        a: u32,
        /// Second database number.
        b: u32,
    },
    /// Empty one database.
    FlushDb {
        /// Database number.
        db: u32,
    },
    /// Empty every database.
    FlushAll,
}

/// Receives the entries of each write, in order, while the writer still holds its locks.
/// Entries borrow the command's arguments and are encoded once, straight into the record.
/// The write-ahead log implements it.
pub trait LogSink: Send + Sync + std::fmt::Debug {
    /// Appends the encoded entries of one command (or one transaction) as one record
    /// (see `codec`); returns the record's sequence number.
    fn append(&self, payload: &[u8]) -> u64;

    /// The sequence number of the last record appended (0 when none).
    fn last_seq(&self) -> u64;
}

thread_local! {
    /// Highest sequence number appended by this thread since the last `take_last_seq`.
    static LAST_SEQ: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Records that this thread appended record `seq`. Commands run synchronously on the
/// connection's thread, so the connection reads it right after running them.
pub fn note_seq(seq: u64) {
    LAST_SEQ.with(|c| c.set(c.get().max(seq)));
}

/// The highest sequence number this thread appended since the last call (0 if none).
pub fn take_last_seq() -> u64 {
    LAST_SEQ.with(|c| c.replace(0))
}
