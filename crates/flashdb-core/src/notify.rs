//! Keyspace notifications: the event classes of `notify-keyspace-events`, and the event
//! each change produces, named as Redis 7 names them (`notify.c` and the commands'
//! `notifyKeyspaceEvent` calls).
//!
//! The engine turns each change a command makes (its [`LogEntry`]) into events, using the
//! command's name where the entry alone does not tell (`SPOP` and `SREM` both remove
//! members); the server publishes them as `__keyspace@<db>__:<key>` and
//! `__keyevent@<db>__:<event>` messages through an [`EventSink`].

use crate::keyspace::Ttl;
use crate::log_entry::LogEntry;

/// `K`: publish to `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: publish to `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: generic commands (`DEL`, `EXPIRE`, `RENAME`, ...).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted-set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: keys removed because their TTL passed.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: keys evicted by `maxmemory`.
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `m`: reads of missing keys.
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module events.
pub const MODULE: u32 = 1 << 12;
/// `n`: keys created.
pub const NEW: u32 = 1 << 13;
/// Not a Redis class: set (by [`Keyspace::set_event_tap`](crate::Keyspace::set_event_tap))
/// while a listener inside the server, such as a WebSocket client of the HTTP API, wants
/// every event of the classes in [`ALL`], whatever `notify-keyspace-events` says.
pub const TAP: u32 = 1 << 30;
/// Not a Redis class: set (by [`Keyspace::set_event_track`](crate::Keyspace::set_event_track))
/// while a client tracks the keys it reads (`CLIENT TRACKING`), whose cache every change
/// of a key must invalidate.
pub const TRACK: u32 = 1 << 29;
/// `A`: `g$lshzxetd`.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

const CLASSES: &[(u8, u32)] = &[
    (b'g', GENERIC),
    (b'$', STRING),
    (b'l', LIST),
    (b's', SET),
    (b'h', HASH),
    (b'z', ZSET),
    (b'x', EXPIRED),
    (b'e', EVICTED),
    (b't', STREAM),
    (b'd', MODULE),
    (b'n', NEW),
];

/// Parses a `notify-keyspace-events` value; `None` for an unknown character.
pub fn parse_flags(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.bytes() {
        flags |= match c {
            b'A' => ALL,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b'm' => KEY_MISS,
            c => CLASSES.iter().find(|(k, _)| *k == c)?.1,
        };
    }
    Some(flags)
}

/// Formats flags as Redis's `CONFIG GET notify-keyspace-events` shows them.
pub fn format_flags(flags: u32) -> String {
    let mut out = String::new();
    // As Redis 7.0, `A` stands for its classes and hides `n` (which stays set).
    if flags & ALL == ALL {
        out.push('A');
    } else {
        for (c, f) in CLASSES {
            if flags & f != 0 {
                out.push(char::from(*c));
            }
        }
    }
    for (c, f) in [('K', KEYSPACE), ('E', KEYEVENT), ('m', KEY_MISS)] {
        if flags & f != 0 {
            out.push(c);
        }
    }
    out
}

/// Whether `flags` publish anything at all for events of `class`.
pub fn wants(flags: u32, class: u32) -> bool {
    publishes(flags, class) || (flags & (TAP | TRACK) != 0 && class & ALL != 0)
}

/// Whether `flags` publish events of `class` on the `__keyspace`/`__keyevent` channels.
pub fn publishes(flags: u32, class: u32) -> bool {
    flags & (KEYSPACE | KEYEVENT) != 0 && flags & class != 0
}

/// Where the engine's events go: the server's pub/sub hub.
pub trait EventSink: Send + Sync + std::fmt::Debug {
    /// Publishes `event` (of `class`) for `key` of `db`; `flags` are the configured
    /// classes (which of the two channels to publish to, see [`publishes`]), with [`TAP`]
    /// when the internal listener wants it too. `seq` is the log record the event reveals
    /// (0: none): a receiver must not see the event before that record is durable.
    fn publish(&self, flags: u32, class: u32, db: usize, event: &'static str, key: &[u8], seq: u64);

    /// Called after the events of one command (or one batch of expiries) were published,
    /// for receivers that group what a command changed.
    fn flush(&self) {}

    /// A database (or all of them) was emptied: told while [`TRACK`] is set, whose
    /// clients forget every key then, whatever the database.
    fn flushed(&self) {}
}

/// A pending event: class, name, database, key.
pub type Event = (u32, &'static str, usize, Vec<u8>);

/// The events of one change made by command `cmd`, in Redis's order. Every key the change
/// touches gets at least one event (whole-database entries name none), so `WATCH` uses
/// them too.
pub fn events_of(
    cmd: &str,
    entry: &LogEntry<'_>,
    mut ev: impl FnMut(u32, &'static str, usize, &[u8]),
) {
    use LogEntry::*;
    match entry {
        Set { db, key, ttl, .. } => {
            let (class, name) = match cmd {
                "incrbyfloat" => (STRING, "incrbyfloat"),
                // A merge is a mass add of elements.
                "pfmerge" => (STRING, "pfadd"),
                // Changes Redis makes without announcing them (`WATCH` still sees them).
                "pfdebug" => (0, "pfdebug"),
                _ => (STRING, "set"),
            };
            ev(class, name, *db as usize, key);
            if matches!(ttl, Ttl::At(_)) {
                ev(GENERIC, "expire", *db as usize, key);
            }
        }
        Append { db, key, .. } => ev(STRING, "append", *db as usize, key),
        SetRange { db, key, .. } => {
            let (class, name) = match cmd {
                "setbit" | "bitfield" => (STRING, "setbit"),
                // `PFCOUNT` caching the cardinality in the header.
                "pfcount" => (0, "pfcount"),
                _ => (STRING, "setrange"),
            };
            ev(class, name, *db as usize, key)
        }
        IncrBy { db, key, .. } => ev(STRING, "incrby", *db as usize, key),
        Del { db, key } => ev(GENERIC, "del", *db as usize, key),
        Expire { db, key, .. } => ev(GENERIC, "expire", *db as usize, key),
        Persist { db, key } => ev(GENERIC, "persist", *db as usize, key),
        Rename { db, from, to } => {
            ev(GENERIC, "rename_from", *db as usize, from);
            ev(GENERIC, "rename_to", *db as usize, to);
        }
        Move { db, key, to_db } => {
            ev(GENERIC, "move_from", *db as usize, key);
            ev(GENERIC, "move_to", *to_db as usize, key);
        }
        Copy { to_db, to, .. } => ev(GENERIC, "copy_to", *to_db as usize, to),
        SwapDb { .. } | FlushDb { .. } | FlushAll | Functions { .. } => {}
        HSet { db, key, .. } => {
            let name = match cmd {
                "hincrby" => "hincrby",
                "hincrbyfloat" => "hincrbyfloat",
                _ => "hset",
            };
            ev(HASH, name, *db as usize, key);
        }
        HDel { db, key, .. } => ev(HASH, "hdel", *db as usize, key),
        Push { db, key, left, .. } => ev(
            LIST,
            if *left { "lpush" } else { "rpush" },
            *db as usize,
            key,
        ),
        Pop { db, key, left, .. } => {
            ev(LIST, if *left { "lpop" } else { "rpop" }, *db as usize, key)
        }
        LSet { db, key, .. } => ev(LIST, "lset", *db as usize, key),
        LInsert { db, key, .. } => ev(LIST, "linsert", *db as usize, key),
        LRem { db, key, .. } => ev(LIST, "lrem", *db as usize, key),
        LTrim { db, key, .. } => ev(LIST, "ltrim", *db as usize, key),
        SAdd { db, key, .. } => ev(SET, "sadd", *db as usize, key),
        PfAdd { db, key, .. } => ev(STRING, "pfadd", *db as usize, key),
        XAdd { db, key, .. } => ev(STREAM, "xadd", *db as usize, key),
        XDel { db, key, .. } => ev(STREAM, "xdel", *db as usize, key),
        XTrim { db, key, .. } => ev(STREAM, "xtrim", *db as usize, key),
        XSetId { db, key, .. } => ev(STREAM, "xsetid", *db as usize, key),
        XGroupSet {
            db,
            key,
            created,
            announce: true,
            ..
        } => {
            let name = if *created {
                "xgroup-create"
            } else {
                "xgroup-setid"
            };
            ev(STREAM, name, *db as usize, key)
        }
        XGroupDestroy { db, key, .. } => ev(STREAM, "xgroup-destroy", *db as usize, key),
        XConsumer {
            db,
            key,
            created: true,
            ..
        } => ev(STREAM, "xgroup-createconsumer", *db as usize, key),
        XConsumerDel { db, key, .. } => ev(STREAM, "xgroup-delconsumer", *db as usize, key),
        // Reads, claims and acknowledgements: no event, as in Redis.
        XGroupSet { .. } | XConsumer { .. } | XPending { .. } | XAck { .. } => {}
        SRem { db, key, .. } => ev(
            SET,
            if cmd == "spop" { "spop" } else { "srem" },
            *db as usize,
            key,
        ),
        ZAdd { db, key, .. } => {
            let name = match cmd {
                "zincrby" => "zincr",
                _ => "zadd",
            };
            ev(ZSET, name, *db as usize, key);
        }
        ZRem { db, key, .. } => {
            let name = match cmd {
                "zremrangebyscore" | "zremrangebyrank" | "zremrangebylex" | "zpopmin"
                | "zpopmax" => cmd_name(cmd),
                "bzpopmin" => "zpopmin",
                "bzpopmax" => "zpopmax",
                _ => "zrem",
            };
            ev(ZSET, name, *db as usize, key);
        }
        // Queues are FlashDB's own type: their events are of the class Redis gives to
        // the types modules add (`d`).
        QPush { db, key, .. } => ev(MODULE, "qpush", *db as usize, key),
        QAdvance { db, key, .. } => ev(MODULE, "qrequeue", *db as usize, key),
        QPop { db, key, .. } => ev(MODULE, "qpop", *db as usize, key),
        QReserve { db, key, .. } => ev(MODULE, "qreserve", *db as usize, key),
        QAck { db, key, .. } => ev(MODULE, "qack", *db as usize, key),
        QNack { db, key, .. } => ev(MODULE, "qnack", *db as usize, key),
        QTouch { db, key, .. } => ev(MODULE, "qtouch", *db as usize, key),
        QConfig { db, key, .. } => ev(MODULE, "qconfig", *db as usize, key),
        QPurge { db, key, .. } => ev(MODULE, "qpurge", *db as usize, key),
        Restore { db, key, .. } => {
            let (class, name) = match cmd {
                "sinterstore" | "sunionstore" | "sdiffstore" => (SET, cmd_name(cmd)),
                "zunionstore" | "zinterstore" | "zdiffstore" | "zrangestore" => {
                    (ZSET, cmd_name(cmd))
                }
                "georadius" | "georadiusbymember" => (ZSET, "georadiusstore"),
                "geosearchstore" => (ZSET, "geosearchstore"),
                "sort" => (LIST, "sortstore"),
                _ => (GENERIC, "restore"),
            };
            ev(class, name, *db as usize, key);
        }
    }
}

/// The static name of a command that is its own event name.
fn cmd_name(cmd: &str) -> &'static str {
    const NAMES: &[&str] = &[
        "zremrangebyscore",
        "zremrangebyrank",
        "zremrangebylex",
        "zpopmin",
        "zpopmax",
        "sinterstore",
        "sunionstore",
        "sdiffstore",
        "zunionstore",
        "zinterstore",
        "zdiffstore",
        "zrangestore",
    ];
    NAMES
        .iter()
        .find(|n| **n == cmd)
        .copied()
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn flags_parse_and_format_as_redis() {
        assert_eq!(format_flags(parse_flags("KEA").unwrap()), "AKE");
        assert_eq!(format_flags(parse_flags("Kg$lshzxetdnm").unwrap()), "AKm");
        assert_eq!(format_flags(parse_flags("E").unwrap()), "E");
        assert_eq!(format_flags(parse_flags("Elg").unwrap()), "glE");
        assert_eq!(format_flags(parse_flags("").unwrap()), "");
        assert!(parse_flags("Kq").is_none());
        assert!(!wants(parse_flags("A").unwrap(), LIST), "neither K nor E");
        assert!(wants(parse_flags("Kl").unwrap(), LIST));
        assert!(!wants(parse_flags("Kl").unwrap(), SET));
    }
}
