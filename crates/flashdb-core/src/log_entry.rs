//! Deterministic log entries: what a write did, not what the client asked for.
//!
//! Every write command describes its effect with these entries while it still holds the
//! locks of its keys, so that their order in the log agrees with the order in which keys
//! changed. Relative times are already absolute (`EXPIRE k 10` is [`LogEntry::Expire`] at a
//! Unix time), floating-point results are the value produced (`INCRBYFLOAT` logs a
//! [`LogEntry::Set`]), and keys removed because their TTL passed are logged as
//! [`LogEntry::Del`], so replay never consults the clock and always reproduces the state.

use std::borrow::Cow;

use crate::keyspace::Ttl;

/// A list of byte strings in an entry: borrowed from the command when logging, collected
/// from the payload when decoding.
pub type Items<'a> = Cow<'a, [&'a [u8]]>;

/// One effect on the keyspace.
#[derive(Debug, Clone, PartialEq)]
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
    /// The function libraries after a `FUNCTION LOAD`, `DELETE`, `FLUSH` or `RESTORE`:
    /// the code of every library (the whole set, so that applying it is idempotent).
    Functions {
        /// Each library's code, shebang line included.
        codes: Vec<&'a [u8]>,
    },
    /// Set hash fields (creating the hash if missing).
    HSet {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// Field, value, field, value, ...
        items: Items<'a>,
    },
    /// Remove hash fields (the key goes when its last field does).
    HDel {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The fields.
        items: Items<'a>,
    },
    /// Push elements one by one at one end of a list (creating it if missing).
    Push {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// Head (true) or tail.
        left: bool,
        /// The elements, in push order.
        items: Items<'a>,
    },
    /// Pop elements from one end of a list.
    Pop {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// Head (true) or tail.
        left: bool,
        /// How many.
        count: u64,
    },
    /// Replace the list element at an index.
    LSet {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// Redis index (negative from the tail).
        index: i64,
        /// The new element.
        value: &'a [u8],
    },
    /// Insert next to the first occurrence of a pivot.
    LInsert {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// Before (true) or after the pivot.
        before: bool,
        /// The pivot.
        pivot: &'a [u8],
        /// The element inserted.
        value: &'a [u8],
    },
    /// `LREM`'s removal.
    LRem {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// As `LREM`'s count.
        count: i64,
        /// The element removed.
        value: &'a [u8],
    },
    /// `LTRIM`'s trim.
    LTrim {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// Start index.
        start: i64,
        /// Stop index.
        stop: i64,
    },
    /// Add set members (creating the set if missing).
    SAdd {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The members.
        items: Items<'a>,
    },
    /// `PFADD`'s elements, added to the HyperLogLog (created if missing) by the same
    /// deterministic function the command runs.
    PfAdd {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The `hll-sparse-max-bytes` the command ran under, which decides when the HLL
        /// turns dense.
        sparse_max: u64,
        /// The elements.
        items: Items<'a>,
    },
    /// An entry added to a stream (created if missing), with its id as resolved.
    XAdd {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The entry's id: milliseconds and sequence.
        id: (u64, u64),
        /// Field, value, field, value, ...
        fields: Items<'a>,
    },
    /// Stream entries deleted (`XDEL`).
    XDel {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The ids deleted.
        ids: Vec<(u64, u64)>,
    },
    /// Every stream entry below an id removed (a trim, whatever its options: exact on
    /// replay).
    XTrim {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The first id kept.
        before: (u64, u64),
    },
    /// A stream's last id and counters set (`XSETID`).
    XSetId {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The last id.
        last: (u64, u64),
        /// Entries ever added.
        entries_added: u64,
        /// Largest deleted id.
        max_deleted: (u64, u64),
    },
    /// A consumer group created or its position set (`XGROUP CREATE|SETID`).
    XGroupSet {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The group.
        group: &'a [u8],
        /// Its last delivered id.
        last: (u64, u64),
        /// Entries it has read, when known.
        entries_read: Option<u64>,
        /// Created by this entry (else its position was set).
        created: bool,
        /// The stream was created with it (`MKSTREAM`).
        mkstream: bool,
        /// Announced as a keyspace event (`XGROUP CREATE|SETID`); a read or a claim that
        /// moves the group is not.
        announce: bool,
    },
    /// A consumer group destroyed.
    XGroupDestroy {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The group.
        group: &'a [u8],
    },
    /// A consumer seen (created if missing) at a time.
    XConsumer {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The group.
        group: &'a [u8],
        /// The consumer.
        consumer: &'a [u8],
        /// Unix milliseconds.
        seen: u64,
        /// Created by this entry.
        created: bool,
    },
    /// A consumer deleted with its pending entries.
    XConsumerDel {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The group.
        group: &'a [u8],
        /// The consumer.
        consumer: &'a [u8],
    },
    /// Pending entries assigned to a consumer (delivered, redelivered or claimed), each
    /// with its delivery time and count.
    XPending {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The group.
        group: &'a [u8],
        /// The consumer.
        consumer: &'a [u8],
        /// `(id, delivery time, delivery count)`.
        entries: Vec<((u64, u64), u64, u64)>,
    },
    /// Pending entries acknowledged (or dropped from the list).
    XAck {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The group.
        group: &'a [u8],
        /// The ids.
        ids: Vec<(u64, u64)>,
    },
    /// Remove set members.
    SRem {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The members.
        items: Items<'a>,
    },
    /// Set sorted-set scores (the final scores, whatever the command computed).
    ZAdd {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// Score and member pairs.
        pairs: Cow<'a, [(f64, &'a [u8])]>,
    },
    /// Remove sorted-set members.
    ZRem {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The members.
        items: Items<'a>,
    },
    /// Push messages onto a queue at time `now` (creating the queue with `tag` if
    /// missing); each gets the queue's next sequence number.
    QPush {
        /// Database number.
        db: u32,
        /// The queue.
        key: &'a [u8],
        /// The tag of a queue this push creates.
        tag: u32,
        /// The push's time (Unix milliseconds): the messages' enqueue time.
        now: u64,
        /// The messages' priority.
        priority: u8,
        /// When they become visible (ready at once when not after `now`).
        visible_at: u64,
        /// The payloads, in push order.
        items: Items<'a>,
    },
    /// Move up to `count` messages whose lease ended or whose delay passed by `now` (see
    /// `Queue::advance`); those that used up their attempts leave the queue (their pushes
    /// onto a dead-letter queue are entries of their own).
    QAdvance {
        /// Database number.
        db: u32,
        /// The queue.
        key: &'a [u8],
        /// The time the leases and delays are compared with.
        now: u64,
        /// How many due messages moved.
        count: u64,
    },
    /// Remove the first `count` ready messages for good.
    QPop {
        /// Database number.
        db: u32,
        /// The queue.
        key: &'a [u8],
        /// How many.
        count: u64,
    },
    /// Lease the first `count` ready messages until `deadline`.
    QReserve {
        /// Database number.
        db: u32,
        /// The queue.
        key: &'a [u8],
        /// How many.
        count: u64,
        /// End of the lease (Unix milliseconds).
        deadline: u64,
    },
    /// Delete messages by sequence number.
    QAck {
        /// Database number.
        db: u32,
        /// The queue.
        key: &'a [u8],
        /// Their sequence numbers.
        seqs: Cow<'a, [u64]>,
    },
    /// Give back a leased message (see `Queue::nack`).
    QNack {
        /// Database number.
        db: u32,
        /// The queue.
        key: &'a [u8],
        /// Its sequence number.
        seq: u64,
        /// The command's time.
        now: u64,
        /// When it becomes visible again.
        visible_at: u64,
    },
    /// Move the end of a leased message's lease.
    QTouch {
        /// Database number.
        db: u32,
        /// The queue.
        key: &'a [u8],
        /// Its sequence number.
        seq: u64,
        /// The new end of the lease (Unix milliseconds).
        deadline: u64,
    },
    /// Set a queue's whole policy (creating the queue with `tag` if missing).
    QConfig {
        /// Database number.
        db: u32,
        /// The queue.
        key: &'a [u8],
        /// The tag of a queue this creates.
        tag: u32,
        /// Deliveries before dead-lettering (0: unlimited).
        max_attempts: u32,
        /// The dead-letter queue (empty: none).
        dead_letter: &'a [u8],
        /// Default lease in milliseconds.
        lease_ms: u64,
    },
    /// Remove every message of a queue.
    QPurge {
        /// Database number.
        db: u32,
        /// The queue.
        key: &'a [u8],
    },
    /// Store a whole value (the result of a `*STORE` command), replacing the key.
    Restore {
        /// Database number.
        db: u32,
        /// The key.
        key: &'a [u8],
        /// The value in snapshot encoding (see `codec::encode_value`).
        value: &'a [u8],
        /// What happens to the key's TTL.
        ttl: Ttl,
    },
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

    /// The sequence number a snapshot's cut is taken at: the last record appended. Called
    /// with every shard locked, so that no record is appended meanwhile; a sink that
    /// gathers records into larger units (a replicated node's Raft entries) ends a unit
    /// there, so that the snapshot covers whole units.
    fn snapshot_cut(&self) -> u64 {
        self.last_seq()
    }

    /// The highest sequence number that is durable: a reply that reveals a later record
    /// must wait for it (see [`note_seq`]).
    fn durable_seq(&self) -> u64;
}

thread_local! {
    /// Highest sequence number noted by this thread since the last `take_last_seq`.
    static LAST_SEQ: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Records that this thread's reply depends on record `seq`: the command appended it, or
/// read data that it wrote. Commands run synchronously on the connection's thread, so the
/// connection reads it right after running them and replies once `seq` is durable.
pub fn note_seq(seq: u64) {
    LAST_SEQ.with(|c| c.set(c.get().max(seq)));
}

/// The highest sequence number this thread noted since the last call (0 if none).
pub fn take_last_seq() -> u64 {
    LAST_SEQ.with(|c| c.replace(0))
}

/// What an entry changes: one key, two (a rename, move or copy: from, then to), a whole
/// database, two swapped databases, every database, or no key at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touches<'a> {
    /// One key of one database.
    Key(u32, &'a [u8]),
    /// A key's value goes from the first (database, key) to the second.
    Two((u32, &'a [u8]), (u32, &'a [u8])),
    /// Every key of a database (`FLUSHDB`).
    Db(u32),
    /// Two databases trade places (`SWAPDB`).
    Swap(u32, u32),
    /// Every key of every database (`FLUSHALL`).
    All,
    /// No key (functions).
    Nothing,
}

impl<'a> LogEntry<'a> {
    /// The keys the entry changes.
    pub fn touches(&self) -> Touches<'a> {
        use LogEntry as E;
        match self {
            E::Set { db, key, .. }
            | E::Append { db, key, .. }
            | E::SetRange { db, key, .. }
            | E::IncrBy { db, key, .. }
            | E::Del { db, key }
            | E::Expire { db, key, .. }
            | E::Persist { db, key }
            | E::HSet { db, key, .. }
            | E::HDel { db, key, .. }
            | E::Push { db, key, .. }
            | E::Pop { db, key, .. }
            | E::LSet { db, key, .. }
            | E::LInsert { db, key, .. }
            | E::LRem { db, key, .. }
            | E::LTrim { db, key, .. }
            | E::SAdd { db, key, .. }
            | E::PfAdd { db, key, .. }
            | E::XAdd { db, key, .. }
            | E::XDel { db, key, .. }
            | E::XTrim { db, key, .. }
            | E::XSetId { db, key, .. }
            | E::XGroupSet { db, key, .. }
            | E::XGroupDestroy { db, key, .. }
            | E::XConsumer { db, key, .. }
            | E::XConsumerDel { db, key, .. }
            | E::XPending { db, key, .. }
            | E::XAck { db, key, .. }
            | E::SRem { db, key, .. }
            | E::ZAdd { db, key, .. }
            | E::ZRem { db, key, .. }
            | E::QPush { db, key, .. }
            | E::QAdvance { db, key, .. }
            | E::QPop { db, key, .. }
            | E::QReserve { db, key, .. }
            | E::QAck { db, key, .. }
            | E::QNack { db, key, .. }
            | E::QTouch { db, key, .. }
            | E::QConfig { db, key, .. }
            | E::QPurge { db, key, .. }
            | E::Restore { db, key, .. } => Touches::Key(*db, key),
            E::Rename { db, from, to } => Touches::Two((*db, from), (*db, to)),
            E::Move { db, key, to_db } => Touches::Two((*db, key), (*to_db, key)),
            E::Copy {
                db,
                from,
                to_db,
                to,
            } => Touches::Two((*db, from), (*to_db, to)),
            E::SwapDb { a, b } => Touches::Swap(*a, *b),
            E::FlushDb { db } => Touches::Db(*db),
            E::FlushAll => Touches::All,
            E::Functions { .. } => Touches::Nothing,
        }
    }

    /// The entry's kind, lowercase (`set`, `del`, `expire`, `hset`, `rename`...).
    pub fn kind(&self) -> &'static str {
        use LogEntry as E;
        match self {
            E::Set { .. } => "set",
            E::Append { .. } => "append",
            E::SetRange { .. } => "setrange",
            E::IncrBy { .. } => "incrby",
            E::Del { .. } => "del",
            E::Expire { .. } => "expire",
            E::Persist { .. } => "persist",
            E::Rename { .. } => "rename",
            E::Move { .. } => "move",
            E::Copy { .. } => "copy",
            E::SwapDb { .. } => "swapdb",
            E::FlushDb { .. } => "flushdb",
            E::FlushAll => "flushall",
            E::Functions { .. } => "functions",
            E::HSet { .. } => "hset",
            E::HDel { .. } => "hdel",
            E::Push { .. } => "push",
            E::Pop { .. } => "pop",
            E::LSet { .. } => "lset",
            E::LInsert { .. } => "linsert",
            E::LRem { .. } => "lrem",
            E::LTrim { .. } => "ltrim",
            E::SAdd { .. } => "sadd",
            E::PfAdd { .. } => "pfadd",
            E::XAdd { .. } => "xadd",
            E::XDel { .. } => "xdel",
            E::XTrim { .. } => "xtrim",
            E::XSetId { .. } => "xsetid",
            E::XGroupSet { .. } => "xgroupset",
            E::XGroupDestroy { .. } => "xgroupdestroy",
            E::XConsumer { .. } => "xconsumer",
            E::XConsumerDel { .. } => "xconsumerdel",
            E::XPending { .. } => "xpending",
            E::XAck { .. } => "xack",
            E::SRem { .. } => "srem",
            E::ZAdd { .. } => "zadd",
            E::ZRem { .. } => "zrem",
            E::QPush { .. } => "qpush",
            E::QAdvance { .. } => "qadvance",
            E::QPop { .. } => "qpop",
            E::QReserve { .. } => "qreserve",
            E::QAck { .. } => "qack",
            E::QNack { .. } => "qnack",
            E::QTouch { .. } => "qtouch",
            E::QConfig { .. } => "qconfig",
            E::QPurge { .. } => "qpurge",
            E::Restore { .. } => "restore",
        }
    }
}
