//! The command table: every command FlashDB knows, as data.
//!
//! One entry per command (name, arity, flags, key positions, group, documentation) drives
//! argument-count errors, `COMMAND`, ACL categories (later ACL checks and cluster routing)
//! and `docs/commands.md`, as Redis's `commands/*.json` do.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::cmd;
use crate::ctx::Ctx;

/// A command implemented by the engine: `args[0]` is the command name as sent.
pub type EngineFn = fn(&mut Ctx<'_, '_>, &[&[u8]]);

/// Who executes a command.
#[derive(Clone, Copy)]
pub enum Handler {
    /// The engine, through this function.
    Engine(EngineFn),
    /// The server, which needs connection or process state (`CLIENT`, `INFO`, `AUTH`, ...).
    Server,
    /// A container whose subcommands are the real commands (`CONFIG`, `CLIENT`, ...).
    Container,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handler::Engine(_) => "Engine",
            Handler::Server => "Server",
            Handler::Container => "Container",
        })
    }
}

/// Command flags, as `COMMAND INFO` reports them.
pub mod flag {
    /// May modify the keyspace.
    pub const WRITE: u32 = 1;
    /// Only reads.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory.
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 3;
    /// Constant or logarithmic time.
    pub const FAST: u32 = 1 << 4;
    /// Allowed before authentication.
    pub const NO_AUTH: u32 = 1 << 5;
    /// Allowed while the data set is loading.
    pub const LOADING: u32 = 1 << 6;
    /// Allowed on a stale replica.
    pub const STALE: u32 = 1 << 7;
    /// Not allowed in scripts.
    pub const NOSCRIPT: u32 = 1 << 8;
    /// May block the client.
    pub const BLOCKING: u32 = 1 << 9;
    /// Pub/sub related.
    pub const PUBSUB: u32 = 1 << 10;
    /// Not shown by `MONITOR`.
    pub const SKIP_MONITOR: u32 = 1 << 11;
    /// Not logged by the slow log.
    pub const SKIP_SLOWLOG: u32 = 1 << 12;
    /// Not allowed inside `MULTI`.
    pub const NO_MULTI: u32 = 1 << 13;
    /// Allowed while a script runs too long (`-BUSY` for the others).
    pub const ALLOW_BUSY: u32 = 1 << 14;
    /// Refused while the data set loads asynchronously (a replica's diskless load).
    pub const NO_ASYNC_LOADING: u32 = 1 << 15;
    /// Its keys' positions depend on its arguments, though no key specification says so
    /// (`SORT_RO`, whose `BY` and `GET` patterns name keys).
    pub const MOVABLE_KEYS: u32 = 1 << 16;
    /// Its keys are optional (`EVAL` with no keys).
    pub const NO_MANDATORY_KEYS: u32 = 1 << 17;
    /// FlashDB's own, not shown by `COMMAND INFO`: allowed on a RESP2 connection in
    /// pub/sub mode (`SUBSCRIBE` and friends, `PING`, `QUIT`, `RESET`).
    pub const SUBSCRIBED_OK: u32 = 1 << 24;
    /// FlashDB's own, not shown by `COMMAND INFO`: runs at once inside `MULTI` instead of
    /// being queued (`EXEC`, `DISCARD`, `MULTI`, `WATCH`, `QUIT`, `RESET`).
    pub const TX_CONTROL: u32 = 1 << 25;
    /// FlashDB's own, not shown by `COMMAND INFO`: works on the whole keyspace, so a
    /// transaction holding it locks every shard (`KEYS`, `SCAN`, `FLUSHALL`, ...).
    pub const ALL_SHARDS: u32 = 1 << 26;
    /// FlashDB's own, not shown by `COMMAND INFO`: its `BY` and `GET` patterns name keys
    /// the arguments only describe (`SORT`), so a transaction that gives them locks
    /// every shard.
    pub const PATTERN_KEYS: u32 = 1 << 27;

    /// Names of flags in `COMMAND INFO` order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories in the order Redis lists them.
const CATEGORY_ORDER: &[&str] = &[
    "@keyspace",
    "@read",
    "@write",
    "@set",
    "@sortedset",
    "@list",
    "@hash",
    "@string",
    "@bitmap",
    "@hyperloglog",
    "@geo",
    "@stream",
    "@pubsub",
    "@admin",
    "@fast",
    "@slow",
    "@blocking",
    "@dangerous",
    "@connection",
    "@transaction",
    "@scripting",
];

/// Keys a command names at positions its arguments decide (Redis's key specifications
/// with a `keynum` or `keyword` search).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovableKeys {
    /// None.
    None,
    /// `numkeys key [key ...]` with `numkeys` at this position (`ZUNION`, `LMPOP`, ...).
    Counted(usize),
    /// The argument after any of these keywords, looked for from this position on
    /// (`SORT ... STORE dest`).
    After(usize, &'static [&'static str]),
    /// The first half of the arguments after `STREAMS`, looked for from this position on
    /// (`XREAD`: keys, then as many ids).
    Streams(usize),
}

/// One command's metadata.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lowercase name; subcommands are `container|sub`.
    pub name: &'static str,
    /// Argument count including the name: `n` exactly, or `-n` for at least `n`.
    pub arity: i32,
    /// Bits of [`flag`].
    pub flags: u32,
    /// Position of the first key (0 when there is none).
    pub first_key: i32,
    /// Position of the last key (negative counts from the end).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// Keys at no fixed position (Redis's movable keys), besides those of
    /// `first_key`..`last_key`.
    pub movable: MovableKeys,
    /// ACL categories beyond those derived from flags and group (`@dangerous`, ...).
    pub acl_extra: &'static [&'static str],
    /// Documentation group (`string`, `generic`, `connection`, `server`, ...).
    pub group: &'static str,
    /// Version of Redis that introduced the command.
    pub since: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// Time complexity.
    pub complexity: &'static str,
    /// Arguments after the name, in Redis's documentation notation.
    pub syntax: &'static str,
    /// Subcommands of a container.
    pub subcommands: &'static [CommandSpec],
    /// Who executes it.
    pub handler: Handler,
}

impl CommandSpec {
    /// Whether `argc` arguments (name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let a = i64::from(self.arity);
        if a >= 0 {
            argc == a
        } else {
            argc >= -a
        }
    }

    /// Whether the command has a flag of [`flag`].
    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// Flag names, for `COMMAND INFO`; `movablekeys` for a command whose keys its
    /// arguments place, as Redis reports it.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let flags = if self.movable == MovableKeys::None {
            self.flags
        } else {
            self.flags | flag::MOVABLE_KEYS
        };
        flag::NAMES
            .iter()
            .filter(|(f, _)| flags & f != 0)
            .map(|(_, n)| *n)
            .collect()
    }

    /// ACL categories, for `COMMAND INFO` and ACL rules.
    pub fn acl_categories(&self) -> Vec<&'static str> {
        let mut c = Vec::new();
        if self.has(flag::WRITE) {
            c.push("@write");
        }
        // Scripting commands are left out of @read, as Redis leaves them.
        if self.has(flag::READONLY) && self.group != "scripting" {
            c.push("@read");
        }
        // A container's own categories are only its speed, as in Redis.
        let group = match self.handler {
            Handler::Container => "",
            _ => self.group,
        };
        match group {
            "string" => c.push("@string"),
            // SORT's categories are the types it sorts, WAIT's the connection's.
            "generic" if !matches!(self.name, "sort" | "sort_ro" | "wait") => c.push("@keyspace"),
            "bitmap" => c.push("@bitmap"),
            "hash" => c.push("@hash"),
            "list" => c.push("@list"),
            "set" => c.push("@set"),
            "sorted-set" => c.push("@sortedset"),
            "transactions" => c.push("@transaction"),
            "queue" => c.push("@queue"),
            "hyperloglog" => c.push("@hyperloglog"),
            "stream" => c.push("@stream"),
            "geo" => c.push("@geo"),
            "connection" => c.push("@connection"),
            "scripting" => c.push("@scripting"),
            "server" => {}
            _ => {}
        }
        if self.has(flag::ADMIN) {
            c.push("@admin");
            c.push("@dangerous");
        }
        if self.has(flag::FAST) {
            c.push("@fast");
        } else {
            c.push("@slow");
        }
        if self.has(flag::BLOCKING) {
            c.push("@blocking");
        }
        if self.has(flag::PUBSUB) {
            c.push("@pubsub");
        }
        for extra in self.acl_extra {
            if !c.contains(extra) {
                c.push(extra);
            }
        }
        // In Redis's order (`ACLCommandCategories`); FlashDB's own ones last.
        c.sort_by_key(|cat| {
            CATEGORY_ORDER
                .iter()
                .position(|o| o == cat)
                .unwrap_or(CATEGORY_ORDER.len())
        });
        c
    }

    /// Positions of every key in `args` (name at 0): the fixed ones, then those its
    /// arguments place (`numkeys`, a keyword). `None` when they cannot be told from the
    /// arguments (a `numkeys` that is not a count of the keys present), which the
    /// command itself refuses.
    pub fn keys_in(&self, args: &[&[u8]]) -> Option<smallvec::SmallVec<[usize; 8]>> {
        // Inline for the usual handful of keys: a script's every `redis.call` asks.
        let mut keys: smallvec::SmallVec<[usize; 8]> = self.key_positions(args.len()).collect();
        match self.movable {
            MovableKeys::None => {}
            MovableKeys::Counted(at) => {
                let n = args
                    .get(at)
                    .and_then(|a| crate::numeric::parse_int(a))
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|&n| n > 0 && at + n < args.len())?;
                keys.extend(at + 1..=at + n);
            }
            MovableKeys::After(start, words) => {
                let mut i = start;
                while i + 1 < args.len() {
                    if words
                        .iter()
                        .any(|w| args[i].eq_ignore_ascii_case(w.as_bytes()))
                    {
                        keys.push(i + 1);
                        i += 1;
                    }
                    i += 1;
                }
            }
            MovableKeys::Streams(from) => {
                let at = args
                    .iter()
                    .skip(from)
                    .position(|a| a.eq_ignore_ascii_case(b"streams"))?
                    + from
                    + 1;
                let rest = args.len() - at;
                if rest == 0 || !rest.is_multiple_of(2) {
                    return None;
                }
                keys.extend(at..at + rest / 2);
            }
        }
        Some(keys)
    }

    /// Positions of the key arguments in `args` (name at 0), from first/last/step.
    pub fn key_positions(&self, argc: usize) -> impl Iterator<Item = usize> {
        let first = i64::from(self.first_key);
        let last = if self.last_key < 0 {
            argc as i64 + i64::from(self.last_key)
        } else {
            i64::from(self.last_key)
        };
        // No keys when the command has none (`first_key` 0) or `last` falls before them.
        let end = if first <= 0 {
            0
        } else {
            (last + 1).min(argc as i64).max(first)
        };
        (first.max(0)..end)
            .step_by(self.step.max(1) as usize)
            .map(|i| i as usize)
    }
}

/// The keys a command queued in a transaction will touch, so that `EXEC` can lock their
/// shards before running any of it: calls `key` with the position in `args` of each.
/// Returns false when the command needs every shard (it works on whole databases, or
/// reads every shard's counters) or its keys cannot be known from its arguments (a
/// malformed `numkeys`, which the command itself will reject).
pub fn txn_keys(spec: &CommandSpec, args: &[&[u8]], mut key: impl FnMut(usize)) -> bool {
    // A queue command may move messages to its queue's dead-letter queue, a key that
    // only the queue's policy names.
    if spec.group == "queue" {
        return false;
    }
    if spec.has(ALL_SHARDS) {
        return false;
    }
    // A script may reach keys it does not declare: a transaction running one holds
    // every shard.
    if spec.group == "scripting" && spec.has(NO_MANDATORY_KEYS) {
        return false;
    }
    if spec.has(PATTERN_KEYS)
        && args
            .iter()
            .skip(2)
            .any(|a| a.eq_ignore_ascii_case(b"by") || a.eq_ignore_ascii_case(b"get"))
    {
        return false;
    }
    match spec.keys_in(args) {
        Some(keys) => {
            keys.into_iter().for_each(&mut key);
            true
        }
        None => false,
    }
}

use flag::*;

#[allow(clippy::too_many_arguments)]
const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    complexity: &'static str,
    syntax: &'static str,
    handler: Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        movable: MovableKeys::None,
        acl_extra: &[],
        group,
        since,
        summary,
        complexity,
        syntax,
        subcommands: &[],
        handler,
    }
}

const fn dangerous(mut s: CommandSpec) -> CommandSpec {
    s.acl_extra = &["@dangerous"];
    s
}

/// Gives a command keys at positions its arguments decide.
const fn movable(mut s: CommandSpec, m: MovableKeys) -> CommandSpec {
    s.movable = m;
    s
}

/// ACL categories Redis gives a command beyond what its flags and group imply.
const fn cats(mut s: CommandSpec, extra: &'static [&'static str]) -> CommandSpec {
    s.acl_extra = extra;
    s
}

const fn container(mut s: CommandSpec, subs: &'static [CommandSpec]) -> CommandSpec {
    s.subcommands = subs;
    s
}

const NK: (i32, i32, i32) = (0, 0, 0);
const K1: (i32, i32, i32) = (1, 1, 1);
const K12: (i32, i32, i32) = (1, 2, 1);
const KALL: (i32, i32, i32) = (1, -1, 1);
const KPAIRS: (i32, i32, i32) = (1, -1, 2);
/// Keys counted by a `numkeys` argument (Redis's movable keys): none at fixed positions.
const KNUM: (i32, i32, i32) = (0, 0, 0);
/// The key of a subcommand, after the subcommand name.
const KSUB: (i32, i32, i32) = (2, 2, 1);

use Handler::{Container, Engine, Server};

const O1: &str = "O(1)";
const ON: &str = "O(N)";

static PUBSUB_SUBS: [CommandSpec; 6] = [
    spec("pubsub|channels", -2, PUBSUB | LOADING | STALE, NK, "pubsub", "2.8.0", "Returns the active channels.", "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)", "[pattern]", Server),
    spec("pubsub|numsub", -2, PUBSUB | LOADING | STALE, NK, "pubsub", "2.8.0", "Returns a count of subscribers to channels.", "O(N) for the NUMSUB subcommand, where N is the number of requested channels", "[channel [channel ...]]", Server),
    spec("pubsub|numpat", 2, PUBSUB | LOADING | STALE, NK, "pubsub", "2.8.0", "Returns a count of unique pattern subscriptions.", O1, "", Server),
    spec("pubsub|shardchannels", -2, PUBSUB | LOADING | STALE, NK, "pubsub", "7.0.0", "Returns the active shard channels.", "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).", "[pattern]", Server),
    spec("pubsub|shardnumsub", -2, PUBSUB | LOADING | STALE, NK, "pubsub", "7.0.0", "Returns the count of subscribers of shard channels.", "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels", "[shardchannel [shardchannel ...]]", Server),
    spec("pubsub|help", 2, LOADING | STALE, NK, "pubsub", "6.2.0", "Returns helpful text about the different subcommands.", O1, "", Server),
];

static GROUP_SUBS: [CommandSpec; 6] = [
    spec("flashdb.group|members", 2, ADMIN | NOSCRIPT | LOADING | STALE, NK, "cluster", "0.1.0", "Returns the members of the node's replication group: ids, addresses, voter or learner, and how far each one's log matches the leader's.", "O(N) where N is the number of members", "", Server),
    spec("flashdb.group|id", 2, ADMIN | NOSCRIPT | LOADING | STALE, NK, "cluster", "0.1.0", "Returns the id of the node's replication group.", O1, "", Server),
    spec("flashdb.group|add", 4, ADMIN | NOSCRIPT, NK, "cluster", "0.1.0", "Adds a node to the replication group: it catches up as a learner, then becomes a voter.", "O(N) where N is the log the new node must receive", "node-id raft-host:port", Server),
    spec("flashdb.group|remove", 3, ADMIN | NOSCRIPT, NK, "cluster", "0.1.0", "Removes a node from the replication group.", O1, "node-id", Server),
    spec("flashdb.group|replace", 5, ADMIN | NOSCRIPT, NK, "cluster", "0.1.0", "Replaces a voter of the replication group by a new node, which catches up first.", "O(N) where N is the log the new node must receive", "old-node-id new-node-id raft-host:port", Server),
    spec("flashdb.group|help", 2, LOADING | STALE, NK, "cluster", "0.1.0", "Returns helpful text about the different subcommands.", O1, "", Server),
];

static LEDGER_SUBS: [CommandSpec; 9] = [
    spec("ledger|getat", 4, READONLY | LOADING | STALE, (2, 2, 1), "server", "0.1.0", "Returns the type and value a key had right after a given leaf of the ledger (time travel).", "O(V) where V is the number of changes of the key up to that leaf", "key index", Server),
    spec("ledger|history", -3, READONLY | LOADING | STALE, (2, 2, 1), "server", "0.1.0", "Returns the changes of a key recorded in the ledger, newest first: leaf index, kind and value.", "O(V) where V is the number of changes returned", "key [LIMIT count]", Server),
    spec("ledger|get", 3, READONLY | LOADING | STALE, (2, 2, 1), "server", "0.1.0", "Returns the value a key was last SET to, with the ledger leaf of that write and its inclusion proof against the current root.", "O(log N) where N is the number of records in the ledger", "key", Server),
    spec("ledger|root", 2, LOADING | STALE, NK, "server", "0.1.0", "Returns the size and root hash of the ledger's Merkle tree over the log (RFC 9162).", "O(log N) where N is the number of records in the ledger", "", Server),
    spec("ledger|prove", -3, LOADING | STALE, NK, "server", "0.1.0", "Returns the inclusion proof of a leaf of the ledger in the tree of a given size.", "O(log N) where N is the number of records in the ledger", "index [size]", Server),
    spec("ledger|consistency", -3, LOADING | STALE, NK, "server", "0.1.0", "Returns the consistency proof between two sizes of the ledger's tree.", "O(log N) where N is the number of records in the ledger", "first [second]", Server),
    spec("ledger|leaf", 3, LOADING | STALE, NK, "server", "0.1.0", "Returns the bytes of a leaf of the ledger: its record's sequence number and payload.", "O(S) where S is the size of the log segment holding the record", "index", Server),
    spec("ledger|verify", 2, ADMIN | NOSCRIPT | LOADING | STALE, NK, "server", "0.1.0", "Recomputes every leaf of the ledger from its record and reports the first one that differs.", "O(N) where N is the number of records in the ledger", "", Server),
    spec("ledger|help", 2, LOADING | STALE, NK, "server", "0.1.0", "Returns helpful text about the different subcommands.", O1, "", Server),
];

static SENTINEL_SUBS: [CommandSpec; 8] = [
    spec(
        "sentinel|get-master-addr-by-name",
        3,
        NOSCRIPT | LOADING | STALE,
        NK,
        "sentinel",
        "2.8.4",
        "Returns the port and address of a master Redis instance.",
        O1,
        "master-name",
        Server,
    ),
    spec(
        "sentinel|masters",
        2,
        NOSCRIPT | LOADING | STALE,
        NK,
        "sentinel",
        "2.8.4",
        "Returns a list of monitored Redis masters.",
        "O(N) where N is the number of masters",
        "",
        Server,
    ),
    spec(
        "sentinel|master",
        3,
        NOSCRIPT | LOADING | STALE,
        NK,
        "sentinel",
        "2.8.4",
        "Returns the state of a master Redis instance.",
        O1,
        "master-name",
        Server,
    ),
    spec(
        "sentinel|replicas",
        3,
        NOSCRIPT | LOADING | STALE,
        NK,
        "sentinel",
        "5.0.0",
        "Returns a list of the monitored Redis replicas.",
        O1,
        "master-name",
        Server,
    ),
    spec(
        "sentinel|slaves",
        3,
        NOSCRIPT | LOADING | STALE,
        NK,
        "sentinel",
        "2.8.0",
        "Returns a list of the monitored replicas.",
        O1,
        "master-name",
        Server,
    ),
    spec(
        "sentinel|sentinels",
        3,
        NOSCRIPT | LOADING | STALE,
        NK,
        "sentinel",
        "2.8.4",
        "Returns a list of Sentinel instances.",
        O1,
        "master-name",
        Server,
    ),
    spec(
        "sentinel|myid",
        2,
        NOSCRIPT | LOADING | STALE,
        NK,
        "sentinel",
        "6.2.0",
        "Returns the Redis Sentinel instance ID.",
        O1,
        "",
        Server,
    ),
    spec(
        "sentinel|help",
        2,
        LOADING | STALE,
        NK,
        "sentinel",
        "6.2.0",
        "Returns helpful text about the different subcommands.",
        O1,
        "",
        Server,
    ),
];

static SLOWLOG_SUBS: [CommandSpec; 4] = [
    spec(
        "slowlog|get",
        -2,
        ADMIN | LOADING | STALE,
        NK,
        "server",
        "2.2.12",
        "Returns the slow log's entries.",
        "O(N) where N is the number of entries returned",
        "[count]",
        Server,
    ),
    spec(
        "slowlog|len",
        2,
        ADMIN | LOADING | STALE,
        NK,
        "server",
        "2.2.12",
        "Returns the number of entries in the slow log.",
        O1,
        "",
        Server,
    ),
    spec(
        "slowlog|reset",
        2,
        ADMIN | LOADING | STALE,
        NK,
        "server",
        "2.2.12",
        "Clears all entries from the slow log.",
        "O(N) where N is the number of entries in the slowlog",
        "",
        Server,
    ),
    spec(
        "slowlog|help",
        2,
        LOADING | STALE,
        NK,
        "server",
        "6.2.0",
        "Show helpful text about the different subcommands",
        O1,
        "",
        Server,
    ),
];

static LATENCY_SUBS: [CommandSpec; 7] = [
    spec(
        "latency|latest",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "2.8.13",
        "Returns the latest latency samples for all events.",
        "O(1)",
        "",
        Server,
    ),
    spec(
        "latency|history",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "2.8.13",
        "Returns timestamp-latency samples for an event.",
        O1,
        "event",
        Server,
    ),
    spec(
        "latency|reset",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "2.8.13",
        "Resets the latency data for one or more events.",
        O1,
        "[event [event ...]]",
        Server,
    ),
    spec(
        "latency|doctor",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "2.8.13",
        "Returns a human-readable latency analysis report.",
        O1,
        "",
        Server,
    ),
    spec(
        "latency|graph",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "2.8.13",
        "Returns a latency graph for an event.",
        O1,
        "event",
        Server,
    ),
    spec(
        "latency|histogram",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "7.0.0",
        "Returns the cumulative distribution of latencies of a subset or all commands.",
        "O(N) where N is the number of commands with latency information being retrieved.",
        "[command [command ...]]",
        Server,
    ),
    spec(
        "latency|help",
        2,
        LOADING | STALE,
        NK,
        "server",
        "2.8.13",
        "Returns helpful text about the different subcommands.",
        O1,
        "",
        Server,
    ),
];

static MEMORY_SUBS: [CommandSpec; 6] = [
    spec(
        "memory|usage",
        -3,
        READONLY,
        KSUB,
        "server",
        "4.0.0",
        "Estimates the memory usage of a key.",
        "O(N) where N is the number of samples.",
        "key [SAMPLES count]",
        Engine(cmd::keys::memory_usage),
    ),
    spec(
        "memory|stats",
        2,
        0,
        NK,
        "server",
        "4.0.0",
        "Returns details about memory usage.",
        O1,
        "",
        Server,
    ),
    spec(
        "memory|doctor",
        2,
        0,
        NK,
        "server",
        "4.0.0",
        "Outputs a memory problems report.",
        O1,
        "",
        Server,
    ),
    spec(
        "memory|malloc-stats",
        2,
        0,
        NK,
        "server",
        "4.0.0",
        "Returns the allocator statistics.",
        "Depends on how much memory is allocated, could be slow",
        "",
        Server,
    ),
    spec(
        "memory|purge",
        2,
        0,
        NK,
        "server",
        "4.0.0",
        "Asks the allocator to release memory.",
        "Depends on how much memory is allocated, could be slow",
        "",
        Server,
    ),
    spec(
        "memory|help",
        2,
        LOADING | STALE,
        NK,
        "server",
        "4.0.0",
        "Returns helpful text about the different subcommands.",
        O1,
        "",
        Server,
    ),
];

static CONFIG_SUBS: [CommandSpec; 5] = [
    spec(
        "config|get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "2.0.0",
        "Returns the effective values of configuration parameters.",
        "O(N) when N is the number of configuration parameters provided",
        "parameter [parameter ...]",
        Server,
    ),
    spec(
        "config|set",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "2.0.0",
        "Sets configuration parameters in-flight.",
        "O(N) when N is the number of configuration parameters provided",
        "parameter value [parameter value ...]",
        Server,
    ),
    spec(
        "config|resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE | ALL_SHARDS,
        NK,
        "server",
        "2.0.0",
        "Resets the server's statistics.",
        O1,
        "",
        Server,
    ),
    spec(
        "config|rewrite",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "2.8.0",
        "Persists the effective configuration to file.",
        O1,
        "",
        Server,
    ),
    spec(
        "config|help",
        2,
        LOADING | STALE,
        NK,
        "server",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        O1,
        "",
        Server,
    ),
];

static CLIENT_SUBS: [CommandSpec; 17] = [
    spec("client|no-evict", 3, ADMIN | NOSCRIPT | LOADING | STALE, NK, "connection", "7.0.0", "Sets the client eviction mode of the connection.", O1, "ON | OFF", Server),
    spec("client|unblock", -3, ADMIN | NOSCRIPT | LOADING | STALE, NK, "connection", "5.0.0", "Unblocks a client blocked by a blocking command from a different connection.", "O(log N) where N is the number of client connections", "client-id [TIMEOUT | ERROR]", Server),
    spec("client|pause", -3, ADMIN | NOSCRIPT | LOADING | STALE, NK, "connection", "3.0.0", "Suspends commands processing.", O1, "timeout [WRITE | ALL]", Server),
    spec("client|unpause", 2, ADMIN | NOSCRIPT | LOADING | STALE, NK, "connection", "6.2.0", "Resumes processing commands from paused clients.", "O(N) Where N is the number of paused clients", "", Server),
    spec("client|id", 2, NOSCRIPT | LOADING | STALE, NK, "connection", "5.0.0", "Returns the unique client ID of the connection.", O1, "", Server),
    spec("client|setname", 3, NOSCRIPT | LOADING | STALE, NK, "connection", "2.6.9", "Sets the connection name.", O1, "connection-name", Server),
    spec("client|getname", 2, NOSCRIPT | LOADING | STALE, NK, "connection", "2.6.9", "Returns the name of the connection.", O1, "", Server),
    spec("client|list", -2, ADMIN | NOSCRIPT | LOADING | STALE, NK, "connection", "2.4.0", "Lists open connections.", "O(N) where N is the number of client connections", "[TYPE <NORMAL | MASTER | REPLICA | PUBSUB>] [ID client-id [client-id ...]]", Server),
    spec("client|info", 2, NOSCRIPT | LOADING | STALE, NK, "connection", "6.2.0", "Returns information about the connection.", O1, "", Server),
    spec("client|kill", -3, ADMIN | NOSCRIPT | LOADING | STALE, NK, "connection", "2.4.0", "Terminates open connections.", "O(N) where N is the number of client connections", "<ip:port | [ID client-id] [TYPE <NORMAL | MASTER | SLAVE | REPLICA | PUBSUB>] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME <YES | NO>] ...>", Server),
    spec("client|reply", 3, NOSCRIPT | LOADING | STALE, NK, "connection", "3.2.0", "Instructs the server whether to reply to commands.", O1, "<ON | OFF | SKIP>", Server),
    spec("client|tracking", -3, NOSCRIPT | LOADING | STALE, NK, "connection", "6.0.0", "Controls server-assisted client-side caching for the connection.", "O(1). Some options may introduce additional complexity.", "<ON | OFF> [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]", Server),
    spec("client|caching", 3, NOSCRIPT | LOADING | STALE, NK, "connection", "6.0.0", "Instructs the server whether to track the keys in the next request.", O1, "<YES | NO>", Server),
    spec("client|getredir", 2, NOSCRIPT | LOADING | STALE, NK, "connection", "6.0.0", "Returns the client ID to which the connection's tracking notifications are redirected.", O1, "", Server),
    spec("client|trackinginfo", 2, NOSCRIPT | LOADING | STALE, NK, "connection", "6.2.0", "Returns information about server-assisted client-side caching for the connection.", O1, "", Server),
    spec("client|setinfo", 4, NOSCRIPT | LOADING | STALE, NK, "connection", "7.2.0", "Sets information specific to the client or connection.", O1, "<LIB-NAME libname | LIB-VER libver>", Server),
    spec("client|help", 2, LOADING | STALE, NK, "connection", "5.0.0", "Returns helpful text about the different subcommands.", O1, "", Server),
];

static ACL_SUBS: [CommandSpec; 13] = [
    spec(
        "acl|cat",
        -2,
        NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "6.0.0",
        "Lists the ACL categories, or the commands inside a category.",
        "O(1) since the categories and commands are a fixed set.",
        "[category]",
        Server,
    ),
    spec(
        "acl|deluser",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "6.0.0",
        "Deletes ACL users, and terminates their connections.",
        "O(1) amortized time considering the typical user.",
        "username [username ...]",
        Server,
    ),
    spec(
        "acl|dryrun",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "7.0.0",
        "Simulates the execution of a command by a user, without executing the command.",
        O1,
        "username command [arg [arg ...]]",
        Server,
    ),
    spec(
        "acl|genpass",
        -2,
        NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "6.0.0",
        "Generates a pseudorandom, secure password that can be used to identify ACL users.",
        O1,
        "[bits]",
        Server,
    ),
    spec(
        "acl|getuser",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "6.0.0",
        "Lists the ACL rules of a user.",
        "O(N). Where N is the number of password, command and pattern rules that the user has.",
        "username",
        Server,
    ),
    spec(
        "acl|help",
        2,
        LOADING | STALE,
        NK,
        "server",
        "6.0.0",
        "Returns helpful text about the different subcommands.",
        O1,
        "",
        Server,
    ),
    spec(
        "acl|list",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "6.0.0",
        "Dumps the effective rules in ACL file format.",
        "O(N). Where N is the number of configured users.",
        "",
        Server,
    ),
    spec(
        "acl|load",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "6.0.0",
        "Reloads the rules from the configured ACL file.",
        "O(N). Where N is the number of configured users.",
        "",
        Server,
    ),
    spec(
        "acl|log",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "6.0.0",
        "Lists recent security events generated due to ACL rules.",
        "O(N) with N being the number of entries shown.",
        "[count | RESET]",
        Server,
    ),
    spec(
        "acl|save",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "6.0.0",
        "Saves the effective ACL rules in the configured ACL file.",
        "O(N). Where N is the number of configured users.",
        "",
        Server,
    ),
    spec(
        "acl|setuser",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "6.0.0",
        "Creates and modifies an ACL user and its rules.",
        "O(N). Where N is the number of rules provided.",
        "username [rule [rule ...]]",
        Server,
    ),
    spec(
        "acl|users",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "6.0.0",
        "Lists all ACL users.",
        "O(N). Where N is the number of configured users.",
        "",
        Server,
    ),
    spec(
        "acl|whoami",
        2,
        NOSCRIPT | LOADING | STALE,
        NK,
        "server",
        "6.0.0",
        "Returns the authenticated username of the current connection.",
        O1,
        "",
        Server,
    ),
];

static COMMAND_SUBS: [CommandSpec; 7] = [
    cats(
        spec(
            "command|count",
            2,
            LOADING | STALE,
            NK,
            "server",
            "2.8.13",
            "Returns a count of commands.",
            O1,
            "",
            Engine(cmd::command::count),
        ),
        &["@connection"],
    ),
    cats(
        spec(
            "command|info",
            -2,
            LOADING | STALE,
            NK,
            "server",
            "2.8.13",
            "Returns information about one, multiple or all commands.",
            "O(N) where N is the number of commands to look up",
            "[command-name [command-name ...]]",
            Engine(cmd::command::info),
        ),
        &["@connection"],
    ),
    cats(
        spec(
            "command|docs",
            -2,
            LOADING | STALE,
            NK,
            "server",
            "7.0.0",
            "Returns documentary information about one, multiple or all commands.",
            "O(N) where N is the number of commands to look up",
            "[command-name [command-name ...]]",
            Engine(cmd::command::docs),
        ),
        &["@connection"],
    ),
    cats(
        spec(
            "command|list",
            -2,
            LOADING | STALE,
            NK,
            "server",
            "7.0.0",
            "Returns a list of command names.",
            "O(N) where N is the total number of Redis commands",
            "[FILTERBY <MODULE module-name | ACLCAT category | PATTERN pattern>]",
            Engine(cmd::command::list),
        ),
        &["@connection"],
    ),
    cats(
        spec(
            "command|getkeys",
            -4,
            LOADING | STALE,
            NK,
            "server",
            "2.8.13",
            "Extracts the key names from an arbitrary command.",
            "O(N) where N is the number of arguments to the command",
            "command [arg [arg ...]]",
            Engine(cmd::command::getkeys),
        ),
        &["@connection"],
    ),
    cats(
        spec(
            "command|getkeysandflags",
            -4,
            LOADING | STALE,
            NK,
            "server",
            "7.0.0",
            "Extracts the key names and access flags for an arbitrary command.",
            "O(N) where N is the number of arguments to the command",
            "command [arg [arg ...]]",
            Engine(cmd::command::getkeysandflags),
        ),
        &["@connection"],
    ),
    cats(
        spec(
            "command|help",
            2,
            LOADING | STALE,
            NK,
            "server",
            "5.0.0",
            "Returns helpful text about the different subcommands.",
            O1,
            "",
            Engine(cmd::command::help),
        ),
        &["@connection"],
    ),
];

static OBJECT_SUBS: [CommandSpec; 5] = [
    spec(
        "object|encoding",
        3,
        READONLY,
        KSUB,
        "generic",
        "2.2.3",
        "Returns the internal encoding of a Redis object.",
        O1,
        "key",
        Engine(cmd::keys::object_encoding),
    ),
    spec(
        "object|freq",
        3,
        READONLY,
        KSUB,
        "generic",
        "4.0.0",
        "Returns the logarithmic access frequency counter of a Redis object.",
        O1,
        "key",
        Engine(cmd::keys::object_freq),
    ),
    spec(
        "object|idletime",
        3,
        READONLY,
        KSUB,
        "generic",
        "2.2.3",
        "Returns the time since the last access to a Redis object.",
        O1,
        "key",
        Engine(cmd::keys::object_idletime),
    ),
    spec(
        "object|refcount",
        3,
        READONLY,
        KSUB,
        "generic",
        "2.2.3",
        "Returns the reference count of a value of a key.",
        O1,
        "key",
        Engine(cmd::keys::object_refcount),
    ),
    spec(
        "object|help",
        2,
        LOADING | STALE,
        NK,
        "generic",
        "6.2.0",
        "Returns helpful text about the different subcommands.",
        O1,
        "",
        Engine(cmd::keys::object_help),
    ),
];

static FUNCTION_SUBS: [CommandSpec; 9] = [
    spec(
        "function|delete",
        3,
        WRITE | NOSCRIPT,
        NK,
        "scripting",
        "7.0.0",
        "Deletes a library and its functions.",
        O1,
        "library-name",
        Server,
    ),
    spec(
        "function|dump",
        2,
        NOSCRIPT,
        NK,
        "scripting",
        "7.0.0",
        "Dumps all libraries into a serialized binary payload.",
        "O(N) where N is the number of functions",
        "",
        Server,
    ),
    spec(
        "function|flush",
        -2,
        WRITE | NOSCRIPT,
        NK,
        "scripting",
        "7.0.0",
        "Deletes all libraries and functions.",
        "O(N) where N is the number of functions deleted",
        "[ASYNC | SYNC]",
        Server,
    ),
    spec(
        "function|help",
        2,
        LOADING | STALE,
        NK,
        "scripting",
        "7.0.0",
        "Returns helpful text about the different subcommands.",
        O1,
        "",
        Server,
    ),
    spec(
        "function|kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        NK,
        "scripting",
        "7.0.0",
        "Terminates a function during execution.",
        O1,
        "",
        Server,
    ),
    spec(
        "function|list",
        -2,
        NOSCRIPT,
        NK,
        "scripting",
        "7.0.0",
        "Returns information about all libraries.",
        "O(N) where N is the number of functions",
        "[LIBRARYNAME library-name-pattern] [WITHCODE]",
        Server,
    ),
    spec(
        "function|load",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        NK,
        "scripting",
        "7.0.0",
        "Creates a library.",
        "O(1) (considering compilation time is redundant)",
        "[REPLACE] function-code",
        Server,
    ),
    spec(
        "function|restore",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        NK,
        "scripting",
        "7.0.0",
        "Restores all libraries from a payload.",
        "O(N) where N is the number of functions on the payload",
        "serialized-value [FLUSH | APPEND | REPLACE]",
        Server,
    ),
    spec(
        "function|stats",
        2,
        NOSCRIPT | ALLOW_BUSY,
        NK,
        "scripting",
        "7.0.0",
        "Returns information about a function during execution.",
        O1,
        "",
        Server,
    ),
];

static SCRIPT_SUBS: [CommandSpec; 6] = [
    spec("script|flush", -2, NOSCRIPT, NK, "scripting", "2.6.0", "Removes all server-side Lua scripts from the script cache.", "O(N) with N being the number of scripts in cache", "[ASYNC | SYNC]", Server),
    spec("script|debug", 3, NOSCRIPT, NK, "scripting", "3.2.0", "Sets the debug mode of server-side Lua scripts.", O1, "<YES | SYNC | NO>", Server),
    spec("script|exists", -3, NOSCRIPT, NK, "scripting", "2.6.0", "Determines whether server-side Lua scripts exist in the script cache.", "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).", "sha1 [sha1 ...]", Server),
    spec("script|help", 2, LOADING | STALE, NK, "scripting", "5.0.0", "Returns helpful text about the different subcommands.", O1, "", Server),
    spec("script|load", 3, NOSCRIPT | STALE, NK, "scripting", "2.6.0", "Loads a server-side Lua script to the script cache.", "O(N) with N being the length in bytes of the script body.", "script", Server),
    spec("script|kill", 2, NOSCRIPT | ALLOW_BUSY, NK, "scripting", "2.6.0", "Terminates a server-side Lua script during execution.", O1, "", Server),
];

static XGROUP_SUBS: [CommandSpec; 6] = [
    spec(
        "xgroup|create",
        -5,
        WRITE | DENYOOM,
        (2, 2, 1),
        "stream",
        "5.0.0",
        "Creates a consumer group.",
        O1,
        "key group <id | $> [MKSTREAM] [ENTRIESREAD entries-read]",
        Engine(cmd::stream_group::xgroup_create),
    ),
    spec(
        "xgroup|setid",
        -5,
        WRITE,
        (2, 2, 1),
        "stream",
        "5.0.0",
        "Sets the last-delivered ID of a consumer group.",
        O1,
        "key group <id | $> [ENTRIESREAD entries-read]",
        Engine(cmd::stream_group::xgroup_setid),
    ),
    spec(
        "xgroup|destroy",
        4,
        WRITE,
        (2, 2, 1),
        "stream",
        "5.0.0",
        "Destroys a consumer group.",
        "O(N) where N is the number of entries in the group's pending entries list (PEL).",
        "key group",
        Engine(cmd::stream_group::xgroup_destroy),
    ),
    spec(
        "xgroup|createconsumer",
        5,
        WRITE | DENYOOM,
        (2, 2, 1),
        "stream",
        "6.2.0",
        "Creates a consumer in a consumer group.",
        O1,
        "key group consumer",
        Engine(cmd::stream_group::xgroup_createconsumer),
    ),
    spec(
        "xgroup|delconsumer",
        5,
        WRITE,
        (2, 2, 1),
        "stream",
        "5.0.0",
        "Deletes a consumer from a consumer group.",
        O1,
        "key group consumer",
        Engine(cmd::stream_group::xgroup_delconsumer),
    ),
    spec(
        "xgroup|help",
        2,
        LOADING | STALE,
        NK,
        "stream",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        O1,
        "",
        Engine(cmd::stream_group::xgroup_help),
    ),
];

static XINFO_SUBS: [CommandSpec; 4] = [
    spec(
        "xinfo|stream",
        -3,
        READONLY,
        (2, 2, 1),
        "stream",
        "5.0.0",
        "Returns information about a stream.",
        O1,
        "key [FULL [COUNT count]]",
        Engine(cmd::stream::xinfo_stream),
    ),
    spec(
        "xinfo|groups",
        3,
        READONLY,
        (2, 2, 1),
        "stream",
        "5.0.0",
        "Returns a list of the consumer groups of a stream.",
        O1,
        "key",
        Engine(cmd::stream::xinfo_groups),
    ),
    spec(
        "xinfo|consumers",
        4,
        READONLY,
        (2, 2, 1),
        "stream",
        "5.0.0",
        "Returns a list of the consumers in a consumer group.",
        O1,
        "key group",
        Engine(cmd::stream::xinfo_consumers),
    ),
    spec(
        "xinfo|help",
        2,
        LOADING | STALE,
        NK,
        "stream",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        O1,
        "",
        Engine(cmd::stream::xinfo_help),
    ),
];

/// Every top-level command.
pub static COMMANDS: &[CommandSpec] = &[
    // --- strings ---
    spec("get", 2, READONLY | FAST, K1, "string", "1.0.0", "Returns the string value of a key.", O1, "key", Engine(cmd::string::get)),
    spec("set", -3, WRITE | DENYOOM, K1, "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", O1, "key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]", Engine(cmd::string::set)),
    spec("setnx", 3, WRITE | DENYOOM | FAST, K1, "string", "1.0.0", "Set the string value of a key only when the key doesn't exist.", O1, "key value", Engine(cmd::string::setnx)),
    spec("setex", 4, WRITE | DENYOOM, K1, "string", "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", O1, "key seconds value", Engine(cmd::string::setex)),
    spec("psetex", 4, WRITE | DENYOOM, K1, "string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", O1, "key milliseconds value", Engine(cmd::string::psetex)),
    spec("mget", -2, READONLY | FAST, KALL, "string", "1.0.0", "Atomically returns the string values of one or more keys.", "O(N) where N is the number of keys to retrieve.", "key [key ...]", Engine(cmd::string::mget)),
    spec("mset", -3, WRITE | DENYOOM, KPAIRS, "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.", "O(N) where N is the number of keys to set.", "key value [key value ...]", Engine(cmd::string::mset)),
    spec("msetnx", -3, WRITE | DENYOOM, KPAIRS, "string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", "O(N) where N is the number of keys to set.", "key value [key value ...]", Engine(cmd::string::msetnx)),
    spec("getset", 3, WRITE | DENYOOM | FAST, K1, "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value.", O1, "key value", Engine(cmd::string::getset)),
    spec("getdel", 2, WRITE | FAST, K1, "string", "6.2.0", "Returns the string value of a key after deleting the key.", O1, "key", Engine(cmd::string::getdel)),
    spec("getex", -2, WRITE | FAST, K1, "string", "6.2.0", "Returns the string value of a key after setting its expiration time.", O1, "key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]", Engine(cmd::string::getex)),
    spec("append", 3, WRITE | DENYOOM | FAST, K1, "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", O1, "key value", Engine(cmd::string::append)),
    spec("strlen", 2, READONLY | FAST, K1, "string", "2.2.0", "Returns the length of a string value.", O1, "key", Engine(cmd::string::strlen)),
    spec("getrange", 4, READONLY, K1, "string", "2.4.0", "Returns a substring of the string stored at a key.", "O(N) where N is the length of the returned string.", "key start end", Engine(cmd::string::getrange)),
    spec("substr", 4, READONLY, K1, "string", "1.0.0", "Returns a substring from a string value.", "O(N) where N is the length of the returned string.", "key start end", Engine(cmd::string::getrange)),
    spec("setrange", 4, WRITE | DENYOOM, K1, "string", "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", O1, "key offset value", Engine(cmd::string::setrange)),
    spec("incr", 2, WRITE | DENYOOM | FAST, K1, "string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", O1, "key", Engine(cmd::string::incr)),
    spec("decr", 2, WRITE | DENYOOM | FAST, K1, "string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", O1, "key", Engine(cmd::string::decr)),
    spec("incrby", 3, WRITE | DENYOOM | FAST, K1, "string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", O1, "key increment", Engine(cmd::string::incrby)),
    spec("decrby", 3, WRITE | DENYOOM | FAST, K1, "string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", O1, "key decrement", Engine(cmd::string::decrby)),
    spec("incrbyfloat", 3, WRITE | DENYOOM | FAST, K1, "string", "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", O1, "key increment", Engine(cmd::string::incrbyfloat)),
    spec("lcs", -3, READONLY, K12, "string", "7.0.0", "Finds the longest common substring.", "O(N*M) where N and M are the lengths of s1 and s2, respectively", "key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]", Engine(cmd::string::lcs)),
    // --- hashes ---
    // Bitmaps (t_bitops.c).
    spec("setbit", 4, WRITE | DENYOOM, K1, "bitmap", "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", O1, "key offset value", Engine(cmd::bitmap::setbit)),
    spec("getbit", 3, READONLY | FAST, K1, "bitmap", "2.2.0", "Returns a bit value by offset.", O1, "key offset", Engine(cmd::bitmap::getbit)),
    spec("bitcount", -2, READONLY, K1, "bitmap", "2.6.0", "Counts the number of set bits (population counting) in a string.", ON, "key [start end [BYTE | BIT]]", Engine(cmd::bitmap::bitcount)),
    spec("bitpos", -3, READONLY, K1, "bitmap", "2.8.7", "Finds the first set (1) or clear (0) bit in a string.", ON, "key bit [start [end [BYTE | BIT]]]", Engine(cmd::bitmap::bitpos)),
    spec("bitop", -4, WRITE | DENYOOM, (2, -1, 1), "bitmap", "2.6.0", "Performs bitwise operations on multiple strings, and stores the result.", ON, "AND | OR | XOR | NOT destkey key [key ...]", Engine(cmd::bitmap::bitop)),
    spec("bitfield", -2, WRITE | DENYOOM, K1, "bitmap", "3.2.0", "Performs arbitrary bitfield integer operations on strings.", "O(1) for each subcommand specified", "key [GET encoding offset | [OVERFLOW WRAP | SAT | FAIL] SET encoding offset value | INCRBY encoding offset increment [GET encoding offset | [OVERFLOW WRAP | SAT | FAIL] SET encoding offset value | INCRBY encoding offset increment ...]]", Engine(cmd::bitmap::bitfield)),
    spec("bitfield_ro", -2, READONLY | FAST, K1, "bitmap", "6.0.0", "Performs arbitrary read-only bitfield integer operations on strings.", "O(1) for each subcommand specified", "key [GET encoding offset [GET encoding offset ...]]", Engine(cmd::bitmap::bitfield_ro)),
    // HyperLogLog (hyperloglog.c).
    spec("xadd", -5, WRITE | DENYOOM | FAST, K1, "stream", "5.0.0", "Appends a new message to a stream. Creates the key if it doesn't exist.", "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.", "key [NOMKSTREAM] [<MAXLEN | MINID> [= | ~] threshold [LIMIT count]] <* | id> field value [field value ...]", Engine(cmd::stream::xadd)),
    spec("xrange", -4, READONLY, K1, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs.", "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", "key start end [COUNT count]", Engine(cmd::stream::xrange)),
    spec("xrevrange", -4, READONLY, K1, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs in reverse order.", "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).", "key end start [COUNT count]", Engine(cmd::stream::xrevrange)),
    spec("xlen", 2, READONLY | FAST, K1, "stream", "5.0.0", "Return the number of messages in a stream.", O1, "key", Engine(cmd::stream::xlen)),
    spec("xdel", -3, WRITE | FAST, K1, "stream", "5.0.0", "Returns the number of messages after removing them from a stream.", "O(1) for each single item to delete in the stream, regardless of the stream size.", "key id [id ...]", Engine(cmd::stream::xdel)),
    spec("xtrim", -4, WRITE, K1, "stream", "5.0.0", "Deletes messages from the beginning of a stream.", "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.", "key <MAXLEN | MINID> [= | ~] threshold [LIMIT count]", Engine(cmd::stream::xtrim)),
    spec("xsetid", -3, WRITE | DENYOOM | FAST, K1, "stream", "5.0.0", "An internal command for replicating stream values.", O1, "key last-id [ENTRIESADDED entries_added] [MAXDELETEDID max_deleted_entry_id]", Engine(cmd::stream::xsetid)),
    movable(spec("xread", -4, READONLY | BLOCKING, NK, "stream", "5.0.0", "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.", "For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.", "[COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]", Engine(cmd::stream::xread)), MovableKeys::Streams(1)),
    movable(spec("xreadgroup", -7, WRITE | BLOCKING, NK, "stream", "5.0.0", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.", "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.", "GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]", Engine(cmd::stream_group::xreadgroup)), MovableKeys::Streams(4)),
    spec("xack", -4, WRITE | FAST, K1, "stream", "5.0.0", "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.", "O(1) for each message ID processed.", "key group id [id ...]", Engine(cmd::stream_group::xack)),
    spec("xpending", -3, READONLY, K1, "stream", "5.0.0", "Returns the information and entries from a stream consumer group's pending entries list.", "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.", "key group [[IDLE min-idle-time] start end count [consumer]]", Engine(cmd::stream_group::xpending)),
    spec("xclaim", -6, WRITE | FAST, K1, "stream", "5.0.0", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.", "O(log N) with N being the number of messages in the PEL of the consumer group.", "key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID id]", Engine(cmd::stream_group::xclaim)),
    spec("xautoclaim", -6, WRITE | FAST, K1, "stream", "6.2.0", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.", "O(1) if COUNT is small.", "key group consumer min-idle-time start [COUNT count] [JUSTID]", Engine(cmd::stream_group::xautoclaim)),
    movable(spec("eval", -3, NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS, KNUM, "scripting", "2.6.0", "Executes a server-side Lua script.", "Depends on the script that is executed.", "script numkeys [key [key ...]] [arg [arg ...]]", Server), MovableKeys::Counted(2)),
    movable(spec("evalsha", -3, NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS, KNUM, "scripting", "2.6.0", "Executes a server-side Lua script by SHA1 digest.", "Depends on the script that is executed.", "sha1 numkeys [key [key ...]] [arg [arg ...]]", Server), MovableKeys::Counted(2)),
    movable(spec("eval_ro", -3, READONLY | NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS, KNUM, "scripting", "7.0.0", "Executes a read-only server-side Lua script.", "Depends on the script that is executed.", "script numkeys [key [key ...]] [arg [arg ...]]", Server), MovableKeys::Counted(2)),
    movable(spec("evalsha_ro", -3, READONLY | NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS, KNUM, "scripting", "7.0.0", "Executes a read-only server-side Lua script by SHA1 digest.", "Depends on the script that is executed.", "sha1 numkeys [key [key ...]] [arg [arg ...]]", Server), MovableKeys::Counted(2)),
    container(spec("script", -2, 0, NK, "scripting", "2.6.0", "A container for Lua scripts management commands.", "Depends on subcommand.", "", Container), &SCRIPT_SUBS),
    movable(spec("fcall", -3, NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS, KNUM, "scripting", "7.0.0", "Invokes a function.", "Depends on the function that is executed.", "function numkeys [key [key ...]] [arg [arg ...]]", Server), MovableKeys::Counted(2)),
    movable(spec("fcall_ro", -3, READONLY | NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS, KNUM, "scripting", "7.0.0", "Invokes a read-only function.", "Depends on the function that is executed.", "function numkeys [key [key ...]] [arg [arg ...]]", Server), MovableKeys::Counted(2)),
    container(spec("function", -2, 0, NK, "scripting", "7.0.0", "A container for function commands.", "Depends on subcommand.", "", Container), &FUNCTION_SUBS),
    container(spec("xgroup", -2, 0, NK, "stream", "5.0.0", "A container for consumer groups commands.", "Depends on subcommand.", "", Container), &XGROUP_SUBS),
    container(spec("xinfo", -2, 0, NK, "stream", "5.0.0", "A container for stream introspection commands.", "Depends on subcommand.", "", Container), &XINFO_SUBS),
    spec("pfadd", -2, WRITE | DENYOOM | FAST, K1, "hyperloglog", "2.8.9", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.", "O(1) to add every element.", "key [element [element ...]]", Engine(cmd::hyperloglog::pfadd)),
    spec("pfcount", -2, READONLY, KALL, "hyperloglog", "2.8.9", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).", "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.", "key [key ...]", Engine(cmd::hyperloglog::pfcount)),
    spec("pfmerge", -2, WRITE | DENYOOM, KALL, "hyperloglog", "2.8.9", "Merges one or more HyperLogLog values into a single key.", "O(N) to merge N HyperLogLogs, but with high constant times.", "destkey [sourcekey [sourcekey ...]]", Engine(cmd::hyperloglog::pfmerge)),
    spec("pfdebug", 3, WRITE | DENYOOM | ADMIN, (2, 2, 1), "hyperloglog", "2.8.9", "Internal commands for debugging HyperLogLog values.", ON, "subcommand key", Engine(cmd::hyperloglog::pfdebug)),
    spec("pfselftest", 1, ADMIN, NK, "hyperloglog", "2.8.9", "An internal command for testing HyperLogLog values.", ON, "", Engine(cmd::hyperloglog::pfselftest)),
    // Geo (geo.c): positions are sorted-set members scored by their geohash.
    spec("geoadd", -5, WRITE | DENYOOM, K1, "geo", "3.2.0", "Adds one or more members to a geospatial index. The key is created if it doesn't exist.", "O(log(N)) for each item added, where N is the number of elements in the sorted set.", "key [NX | XX] [CH] longitude latitude member [longitude latitude member ...]", Engine(cmd::geo::geoadd)),
    spec("geodist", -4, READONLY, K1, "geo", "3.2.0", "Returns the distance between two members of a geospatial index.", "O(log(N))", "key member1 member2 [M | KM | FT | MI]", Engine(cmd::geo::geodist)),
    spec("geohash", -2, READONLY, K1, "geo", "3.2.0", "Returns members from a geospatial index as geohash strings.", "O(log(N)) for each member requested, where N is the number of elements in the sorted set.", "key [member [member ...]]", Engine(cmd::geo::geohash_cmd)),
    spec("geopos", -2, READONLY, K1, "geo", "3.2.0", "Returns the longitude and latitude of members from a geospatial index.", "O(N) where N is the number of members requested.", "key [member [member ...]]", Engine(cmd::geo::geopos)),
    movable(spec("georadius", -6, WRITE | DENYOOM, K1, "geo", "3.2.0", "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.", "key longitude latitude radius M | KM | FT | MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key] [STOREDIST key]", Engine(cmd::geo::georadius)), MovableKeys::After(6, &["store", "storedist"])),
    spec("georadius_ro", -6, READONLY, K1, "geo", "3.2.10", "Returns members from a geospatial index that are within a distance from a coordinate.", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.", "key longitude latitude radius M | KM | FT | MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC]", Engine(cmd::geo::georadius_ro)),
    movable(spec("georadiusbymember", -5, WRITE | DENYOOM, K1, "geo", "3.2.0", "Queries a geospatial index for members within a distance from a member, optionally stores the result.", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.", "key member radius M | KM | FT | MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key] [STOREDIST key]", Engine(cmd::geo::georadiusbymember)), MovableKeys::After(5, &["store", "storedist"])),
    spec("georadiusbymember_ro", -5, READONLY, K1, "geo", "3.2.10", "Returns members from a geospatial index that are within a distance from a member.", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.", "key member radius M | KM | FT | MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC]", Engine(cmd::geo::georadiusbymember_ro)),
    spec("geosearch", -7, READONLY, K1, "geo", "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle.", "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape", "key FROMMEMBER member | FROMLONLAT longitude latitude BYRADIUS radius M | KM | FT | MI | BYBOX width height M | KM | FT | MI [ASC | DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]", Engine(cmd::geo::geosearch)),
    spec("geosearchstore", -8, WRITE | DENYOOM, K12, "geo", "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.", "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape", "destination source FROMMEMBER member | FROMLONLAT longitude latitude BYRADIUS radius M | KM | FT | MI | BYBOX width height M | KM | FT | MI [ASC | DESC] [COUNT count [ANY]] [STOREDIST]", Engine(cmd::geo::geosearchstore)),
    spec("dump", 2, READONLY, K1, "generic", "2.6.0", "Returns a serialized representation of the value stored at a key.", "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).", "key", Engine(cmd::dump::dump)),
    dangerous(spec("restore", -4, WRITE | DENYOOM, K1, "generic", "2.6.0", "Creates a key from the serialized representation of a value.", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).", "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]", Engine(cmd::dump::restore))),
    movable(cats(spec("sort", -2, WRITE | DENYOOM | PATTERN_KEYS, K1, "generic", "1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA] [STORE destination]", Engine(cmd::sort::sort)), &["@set", "@sortedset", "@list", "@dangerous"]), MovableKeys::After(2, &["store"])),
    cats(spec("sort_ro", -2, READONLY | MOVABLE_KEYS | PATTERN_KEYS, K1, "generic", "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set.", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).", "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA]", Engine(cmd::sort::sort_ro)), &["@set", "@sortedset", "@list", "@dangerous"]),
    spec("hset", -4, WRITE | DENYOOM | FAST, K1, "hash", "2.0.0", "Creates or modifies the value of a field in a hash.", "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.", "key field value [field value ...]", Engine(cmd::hash::hset)),
    spec("hmset", -4, WRITE | DENYOOM | FAST, K1, "hash", "2.0.0", "Sets the values of multiple fields.", "O(N) where N is the number of fields being set.", "key field value [field value ...]", Engine(cmd::hash::hset)),
    spec("hsetnx", 4, WRITE | DENYOOM | FAST, K1, "hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", O1, "key field value", Engine(cmd::hash::hsetnx)),
    spec("hget", 3, READONLY | FAST, K1, "hash", "2.0.0", "Returns the value of a field in a hash.", O1, "key field", Engine(cmd::hash::hget)),
    spec("hmget", -3, READONLY | FAST, K1, "hash", "2.0.0", "Returns the values of all fields in a hash.", "O(N) where N is the number of fields being requested.", "key field [field ...]", Engine(cmd::hash::hmget)),
    spec("hdel", -3, WRITE | FAST, K1, "hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "O(N) where N is the number of fields to be removed.", "key field [field ...]", Engine(cmd::hash::hdel)),
    spec("hlen", 2, READONLY | FAST, K1, "hash", "2.0.0", "Returns the number of fields in a hash.", O1, "key", Engine(cmd::hash::hlen)),
    spec("hstrlen", 3, READONLY | FAST, K1, "hash", "3.2.0", "Returns the length of the value of a field.", O1, "key field", Engine(cmd::hash::hstrlen)),
    spec("hexists", 3, READONLY | FAST, K1, "hash", "2.0.0", "Determines whether a field exists in a hash.", O1, "key field", Engine(cmd::hash::hexists)),
    spec("hkeys", 2, READONLY, K1, "hash", "2.0.0", "Returns all fields in a hash.", "O(N) where N is the size of the hash.", "key", Engine(cmd::hash::hkeys)),
    spec("hvals", 2, READONLY, K1, "hash", "2.0.0", "Returns all values in a hash.", "O(N) where N is the size of the hash.", "key", Engine(cmd::hash::hvals)),
    spec("hgetall", 2, READONLY, K1, "hash", "2.0.0", "Returns all fields and values in a hash.", "O(N) where N is the size of the hash.", "key", Engine(cmd::hash::hgetall)),
    spec("hincrby", 4, WRITE | DENYOOM | FAST, K1, "hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", O1, "key field increment", Engine(cmd::hash::hincrby)),
    spec("hincrbyfloat", 4, WRITE | DENYOOM | FAST, K1, "hash", "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", O1, "key field increment", Engine(cmd::hash::hincrbyfloat)),
    spec("hscan", -3, READONLY, K1, "hash", "2.8.0", "Iterates over fields and values of a hash.", "O(1) for every call. O(N) for a complete iteration.", "key cursor [MATCH pattern] [COUNT count]", Engine(cmd::hash::hscan)),
    spec("hrandfield", -2, READONLY, K1, "hash", "6.2.0", "Returns one or more random fields from a hash.", "O(N) where N is the number of fields returned", "key [count [WITHVALUES]]", Engine(cmd::hash::hrandfield)),
    // --- sets ---
    spec("sadd", -3, WRITE | DENYOOM | FAST, K1, "set", "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "key member [member ...]", Engine(cmd::set::sadd)),
    spec("srem", -3, WRITE | FAST, K1, "set", "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", "O(N) where N is the number of members to be removed.", "key member [member ...]", Engine(cmd::set::srem)),
    spec("smembers", 2, READONLY, K1, "set", "1.0.0", "Returns all members of a set.", "O(N) where N is the set cardinality.", "key", Engine(cmd::set::smembers)),
    spec("sismember", 3, READONLY | FAST, K1, "set", "1.0.0", "Determines whether a member belongs to a set.", O1, "key member", Engine(cmd::set::sismember)),
    spec("smismember", -3, READONLY | FAST, K1, "set", "6.2.0", "Determines whether multiple members belong to a set.", "O(N) where N is the number of elements being checked for membership", "key member [member ...]", Engine(cmd::set::smismember)),
    spec("scard", 2, READONLY | FAST, K1, "set", "1.0.0", "Returns the number of members in a set.", O1, "key", Engine(cmd::set::scard)),
    spec("spop", -2, WRITE | FAST, K1, "set", "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.", "key [count]", Engine(cmd::set::spop)),
    spec("srandmember", -2, READONLY, K1, "set", "1.0.0", "Get one or multiple random members from a set", "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.", "key [count]", Engine(cmd::set::srandmember)),
    spec("smove", 4, WRITE | FAST, K12, "set", "1.0.0", "Moves a member from one set to another.", O1, "source destination member", Engine(cmd::set::smove)),
    spec("sinter", -2, READONLY, KALL, "set", "1.0.0", "Returns the intersect of multiple sets.", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", "key [key ...]", Engine(cmd::set::sinter)),
    movable(spec("sintercard", -3, READONLY, KNUM, "set", "7.0.0", "Returns the number of members of the intersect of multiple sets.", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", "numkeys key [key ...] [LIMIT limit]", Engine(cmd::set::sintercard)), MovableKeys::Counted(1)),
    spec("sunion", -2, READONLY, KALL, "set", "1.0.0", "Returns the union of multiple sets.", "O(N) where N is the total number of elements in all given sets.", "key [key ...]", Engine(cmd::set::sunion)),
    spec("sdiff", -2, READONLY, KALL, "set", "1.0.0", "Returns the difference of multiple sets.", "O(N) where N is the total number of elements in all given sets.", "key [key ...]", Engine(cmd::set::sdiff)),
    spec("sinterstore", -3, WRITE | DENYOOM, KALL, "set", "1.0.0", "Stores the intersect of multiple sets in a key.", "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.", "destination key [key ...]", Engine(cmd::set::sinterstore)),
    spec("sunionstore", -3, WRITE | DENYOOM, KALL, "set", "1.0.0", "Stores the union of multiple sets in a key.", "O(N) where N is the total number of elements in all given sets.", "destination key [key ...]", Engine(cmd::set::sunionstore)),
    spec("sdiffstore", -3, WRITE | DENYOOM, KALL, "set", "1.0.0", "Stores the difference of multiple sets in a key.", "O(N) where N is the total number of elements in all given sets.", "destination key [key ...]", Engine(cmd::set::sdiffstore)),
    spec("sscan", -3, READONLY, K1, "set", "2.8.0", "Iterates over members of a set.", "O(1) for every call. O(N) for a complete iteration.", "key cursor [MATCH pattern] [COUNT count]", Engine(cmd::set::sscan)),
    // --- queues (FlashDB's own; `since` is the FlashDB version) ---
    spec("qpush", -3, WRITE | DENYOOM | FAST, K1, "queue", "0.1.0", "Appends messages to a work queue. Creates the queue if it doesn't exist.", "O(log N) for each message added.", "queue payload [payload ...]", Engine(cmd::queue::qpush)),
    spec("qadd", -3, WRITE | DENYOOM | FAST, K1, "queue", "0.1.0", "Adds one message to a work queue, with a delay and a priority, and returns its id.", "O(log N)", "queue [DELAY ms] [PRIORITY priority] payload", Engine(cmd::queue::qadd)),
    spec("qpop", -2, WRITE | FAST, K1, "queue", "0.1.0", "Removes and returns the next ready messages of a work queue, for good.", "O(M log N) where M is the number of messages returned.", "queue [COUNT count]", Engine(cmd::queue::qpop)),
    spec("bqpop", -3, WRITE | BLOCKING, (1, -2, 1), "queue", "0.1.0", "Removes and returns the next ready message of the first non-empty work queue. Blocks until a message is ready otherwise.", "O(K log N) where K is the number of provided queues.", "queue [queue ...] timeout", Engine(cmd::queue::bqpop)),
    spec("qreserve", -2, WRITE | BLOCKING, K1, "queue", "0.1.0", "Leases the next ready messages of a work queue until they are acknowledged or their lease ends. Can block until a message is ready.", "O(M log N) where M is the number of messages returned.", "queue [COUNT count] [LEASE ms] [BLOCK ms]", Engine(cmd::queue::qreserve)),
    spec("qack", -3, WRITE | FAST, K1, "queue", "0.1.0", "Acknowledges (deletes) messages of a work queue by id.", "O(M log N) where M is the number of ids.", "queue id [id ...]", Engine(cmd::queue::qack)),
    spec("qnack", -3, WRITE | FAST, K1, "queue", "0.1.0", "Gives a leased message back to its work queue, at once or after a delay.", "O(log N)", "queue id [DELAY ms]", Engine(cmd::queue::qnack)),
    spec("qtouch", 4, WRITE | FAST, K1, "queue", "0.1.0", "Extends the lease of a leased message of a work queue.", "O(log N)", "queue id ms", Engine(cmd::queue::qtouch)),
    spec("qpeek", -2, READONLY, K1, "queue", "0.1.0", "Returns the next ready messages of a work queue without taking them.", "O(M) where M is the number of messages returned.", "queue [COUNT count]", Engine(cmd::queue::qpeek)),
    spec("qlen", 2, READONLY | FAST, K1, "queue", "0.1.0", "Returns the number of ready messages of a work queue.", O1, "queue", Engine(cmd::queue::qlen)),
    spec("qinfo", 2, READONLY, K1, "queue", "0.1.0", "Returns the counts, counters and policy of a work queue.", "O(P) where P is the number of distinct priorities.", "queue", Engine(cmd::queue::qinfo)),
    spec("qconfig", -2, WRITE, K1, "queue", "0.1.0", "Sets a work queue's maximum deliveries, dead-letter queue and default lease. Creates the queue if it doesn't exist.", O1, "queue [MAXATTEMPTS attempts] [DEADLETTER queue] [LEASE ms]", Engine(cmd::queue::qconfig)),
    spec("qpurge", 2, WRITE, K1, "queue", "0.1.0", "Removes every message of a work queue, keeping the queue and its policy.", "O(N)", "queue", Engine(cmd::queue::qpurge)),
    // --- lists ---
    spec("lpush", -3, WRITE | DENYOOM | FAST, K1, "list", "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "key element [element ...]", Engine(cmd::list::lpush)),
    spec("rpush", -3, WRITE | DENYOOM | FAST, K1, "list", "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "key element [element ...]", Engine(cmd::list::rpush)),
    spec("lpushx", -3, WRITE | DENYOOM | FAST, K1, "list", "2.2.0", "Prepends one or more elements to a list only when the list exists.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "key element [element ...]", Engine(cmd::list::lpushx)),
    spec("rpushx", -3, WRITE | DENYOOM | FAST, K1, "list", "2.2.0", "Appends an element to a list only when the list exists.", "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.", "key element [element ...]", Engine(cmd::list::rpushx)),
    spec("lpop", -2, WRITE | FAST, K1, "list", "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", "O(N) where N is the number of elements returned", "key [count]", Engine(cmd::list::lpop)),
    spec("rpop", -2, WRITE | FAST, K1, "list", "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", "O(N) where N is the number of elements returned", "key [count]", Engine(cmd::list::rpop)),
    spec("llen", 2, READONLY | FAST, K1, "list", "1.0.0", "Returns the length of a list.", O1, "key", Engine(cmd::list::llen)),
    spec("lrange", 4, READONLY, K1, "list", "1.0.0", "Returns a range of elements from a list.", "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.", "key start stop", Engine(cmd::list::lrange)),
    spec("lindex", 3, READONLY, K1, "list", "1.0.0", "Returns an element from a list by its index.", "O(N) where N is the number of elements to traverse to get to the element at index.", "key index", Engine(cmd::list::lindex)),
    spec("lset", 4, WRITE | DENYOOM, K1, "list", "1.0.0", "Sets the value of an element in a list by its index.", "O(N) where N is the length of the list.", "key index element", Engine(cmd::list::lset)),
    spec("linsert", 5, WRITE | DENYOOM, K1, "list", "2.2.0", "Inserts an element before or after another element in a list.", "O(N) where N is the number of elements to traverse before seeing the value pivot.", "key <BEFORE | AFTER> pivot element", Engine(cmd::list::linsert)),
    spec("lrem", 4, WRITE, K1, "list", "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", "O(N+M) where N is the length of the list and M is the number of elements removed.", "key count element", Engine(cmd::list::lrem)),
    spec("ltrim", 4, WRITE, K1, "list", "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", "O(N) where N is the number of elements to be removed by the operation.", "key start stop", Engine(cmd::list::ltrim)),
    spec("lpos", -3, READONLY, K1, "list", "6.0.6", "Returns the index of matching elements in a list.", "O(N) where N is the number of elements in the list, for the average case.", "key element [RANK rank] [COUNT num-matches] [MAXLEN len]", Engine(cmd::list::lpos)),
    spec("lmove", 5, WRITE | DENYOOM, K12, "list", "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", O1, "source destination <LEFT | RIGHT> <LEFT | RIGHT>", Engine(cmd::list::lmove)),
    spec("rpoplpush", 3, WRITE | DENYOOM, K12, "list", "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", O1, "source destination", Engine(cmd::list::rpoplpush)),
    movable(spec("lmpop", -4, WRITE, KNUM, "list", "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", "numkeys key [key ...] <LEFT | RIGHT> [COUNT count]", Engine(cmd::list::lmpop)), MovableKeys::Counted(1)),
    spec("blpop", -3, WRITE | BLOCKING | NOSCRIPT, (1, -2, 1), "list", "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N) where N is the number of provided keys.", "key [key ...] timeout", Engine(cmd::list::blpop)),
    spec("brpop", -3, WRITE | BLOCKING | NOSCRIPT, (1, -2, 1), "list", "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N) where N is the number of provided keys.", "key [key ...] timeout", Engine(cmd::list::brpop)),
    spec("blmove", 6, WRITE | DENYOOM | BLOCKING | NOSCRIPT, K12, "list", "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", O1, "source destination <LEFT | RIGHT> <LEFT | RIGHT> timeout", Engine(cmd::list::blmove)),
    spec("brpoplpush", 4, WRITE | DENYOOM | BLOCKING | NOSCRIPT, K12, "list", "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", O1, "source destination timeout", Engine(cmd::list::brpoplpush)),
    movable(spec("blmpop", -5, WRITE | BLOCKING, KNUM, "list", "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "O(N+M) where N is the number of provided keys and M is the number of elements returned.", "timeout numkeys key [key ...] <LEFT | RIGHT> [COUNT count]", Engine(cmd::list::blmpop)), MovableKeys::Counted(2)),
    // --- sorted sets ---
    spec("zadd", -4, WRITE | DENYOOM | FAST, K1, "sorted-set", "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", "O(log(N)) for each item added, where N is the number of elements in the sorted set.", "key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]", Engine(cmd::zset::zadd)),
    spec("zincrby", 4, WRITE | DENYOOM | FAST, K1, "sorted-set", "1.2.0", "Increments the score of a member in a sorted set.", "O(log(N)) where N is the number of elements in the sorted set.", "key increment member", Engine(cmd::zset::zincrby)),
    spec("zrem", -3, WRITE | FAST, K1, "sorted-set", "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.", "key member [member ...]", Engine(cmd::zset::zrem)),
    spec("zcard", 2, READONLY | FAST, K1, "sorted-set", "1.2.0", "Returns the number of members in a sorted set.", "O(1)", "key", Engine(cmd::zset::zcard)),
    spec("zcount", 4, READONLY | FAST, K1, "sorted-set", "2.0.0", "Returns the count of members in a sorted set that have scores within a range.", "O(log(N)) with N being the number of elements in the sorted set.", "key min max", Engine(cmd::zset::zcount)),
    spec("zlexcount", 4, READONLY | FAST, K1, "sorted-set", "2.8.9", "Returns the number of members in a sorted set within a lexicographical range.", "O(log(N)) with N being the number of elements in the sorted set.", "key min max", Engine(cmd::zset::zlexcount)),
    spec("zscore", 3, READONLY | FAST, K1, "sorted-set", "1.2.0", "Returns the score of a member in a sorted set.", "O(1)", "key member", Engine(cmd::zset::zscore)),
    spec("zmscore", -3, READONLY | FAST, K1, "sorted-set", "6.2.0", "Returns the score of one or more members in a sorted set.", "O(N) where N is the number of members being requested.", "key member [member ...]", Engine(cmd::zset::zmscore)),
    spec("zrank", -3, READONLY | FAST, K1, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", "O(log(N))", "key member [WITHSCORE]", Engine(cmd::zset::zrank)),
    spec("zrevrank", -3, READONLY | FAST, K1, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores.", "O(log(N))", "key member [WITHSCORE]", Engine(cmd::zset::zrevrank)),
    spec("zrange", -4, READONLY, K1, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", "key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]", Engine(cmd::zset::zrange)),
    spec("zrangebyscore", -4, READONLY, K1, "sorted-set", "1.0.5", "Returns members in a sorted set within a range of scores.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", "key min max [WITHSCORES] [LIMIT offset count]", Engine(cmd::zset::zrangebyscore)),
    spec("zrevrangebyscore", -4, READONLY, K1, "sorted-set", "2.2.0", "Returns members in a sorted set within a range of scores in reverse order.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", "key max min [WITHSCORES] [LIMIT offset count]", Engine(cmd::zset::zrevrangebyscore)),
    spec("zrangebylex", -4, READONLY, K1, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", "key min max [LIMIT offset count]", Engine(cmd::zset::zrangebylex)),
    spec("zrevrangebylex", -4, READONLY, K1, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned.", "key max min [LIMIT offset count]", Engine(cmd::zset::zrevrangebylex)),
    spec("zrevrange", -4, READONLY, K1, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.", "key start stop [WITHSCORES]", Engine(cmd::zset::zrevrange)),
    spec("zrangestore", -5, WRITE | DENYOOM, K12, "sorted-set", "6.2.0", "Stores a range of members from sorted set in a key.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key.", "dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]", Engine(cmd::zset::zrangestore)),
    spec("zremrangebyrank", 4, WRITE, K1, "sorted-set", "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", "key start stop", Engine(cmd::zset::zremrangebyrank)),
    spec("zremrangebyscore", 4, WRITE, K1, "sorted-set", "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", "key min max", Engine(cmd::zset::zremrangebyscore)),
    spec("zremrangebylex", 4, WRITE, K1, "sorted-set", "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.", "key min max", Engine(cmd::zset::zremrangebylex)),
    spec("zpopmin", -2, WRITE | FAST, K1, "sorted-set", "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", "key [count]", Engine(cmd::zset::zpopmin)),
    spec("zpopmax", -2, WRITE | FAST, K1, "sorted-set", "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.", "key [count]", Engine(cmd::zset::zpopmax)),
    spec("bzpopmin", -3, WRITE | FAST | BLOCKING | NOSCRIPT, (1, -2, 1), "sorted-set", "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "O(log(N)) with N being the number of elements in the sorted set.", "key [key ...] timeout", Engine(cmd::zset::bzpopmin)),
    spec("bzpopmax", -3, WRITE | FAST | BLOCKING | NOSCRIPT, (1, -2, 1), "sorted-set", "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", "O(log(N)) with N being the number of elements in the sorted set.", "key [key ...] timeout", Engine(cmd::zset::bzpopmax)),
    movable(spec("zmpop", -4, WRITE, KNUM, "sorted-set", "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", "numkeys key [key ...] <MIN | MAX> [COUNT count]", Engine(cmd::zset::zmpop)), MovableKeys::Counted(1)),
    movable(spec("bzmpop", -5, WRITE | BLOCKING, KNUM, "sorted-set", "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.", "timeout numkeys key [key ...] <MIN | MAX> [COUNT count]", Engine(cmd::zset::bzmpop)), MovableKeys::Counted(2)),
    spec("zrandmember", -2, READONLY, K1, "sorted-set", "6.2.0", "Returns one or more random members from a sorted set.", "O(N) where N is the number of members returned", "key [count [WITHSCORES]]", Engine(cmd::zset::zrandmember)),
    movable(spec("zunion", -3, READONLY, KNUM, "sorted-set", "6.2.0", "Returns the union of multiple sorted sets.", "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]", Engine(cmd::zset::zunion)), MovableKeys::Counted(1)),
    movable(spec("zinter", -3, READONLY, KNUM, "sorted-set", "6.2.0", "Returns the intersect of multiple sorted sets.", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]", Engine(cmd::zset::zinter)), MovableKeys::Counted(1)),
    movable(spec("zdiff", -3, READONLY, KNUM, "sorted-set", "6.2.0", "Returns the difference between multiple sorted sets.", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", "numkeys key [key ...] [WITHSCORES]", Engine(cmd::zset::zdiff)), MovableKeys::Counted(1)),
    movable(spec("zunionstore", -4, WRITE | DENYOOM, K1, "sorted-set", "2.0.0", "Stores the union of multiple sorted sets in a key.", "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.", "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]", Engine(cmd::zset::zunionstore)), MovableKeys::Counted(2)),
    movable(spec("zinterstore", -4, WRITE | DENYOOM, K1, "sorted-set", "2.0.0", "Stores the intersect of multiple sorted sets in a key.", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set.", "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]", Engine(cmd::zset::zinterstore)), MovableKeys::Counted(2)),
    movable(spec("zdiffstore", -4, WRITE | DENYOOM, K1, "sorted-set", "6.2.0", "Stores the difference of multiple sorted sets in a key.", "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set.", "destination numkeys key [key ...]", Engine(cmd::zset::zdiffstore)), MovableKeys::Counted(2)),
    movable(spec("zintercard", -3, READONLY, KNUM, "sorted-set", "7.0.0", "Returns the number of members of the intersect of multiple sorted sets.", "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.", "numkeys key [key ...] [LIMIT limit]", Engine(cmd::zset::zintercard)), MovableKeys::Counted(1)),
    spec("zscan", -3, READONLY, K1, "sorted-set", "2.8.0", "Iterates over members and scores of a sorted set.", "O(1) for every call. O(N) for a complete iteration.", "key cursor [MATCH pattern] [COUNT count]", Engine(cmd::zset::zscan)),
    // --- keys ---
    spec("del", -2, WRITE, KALL, "generic", "1.0.0", "Deletes one or more keys.", "O(N) where N is the number of keys that will be removed.", "key [key ...]", Engine(cmd::keys::del)),
    spec("unlink", -2, WRITE | FAST, KALL, "generic", "4.0.0", "Asynchronously deletes one or more keys.", "O(1) for each key removed regardless of its size.", "key [key ...]", Engine(cmd::keys::del)),
    spec("exists", -2, READONLY | FAST, KALL, "generic", "1.0.0", "Determines whether one or more keys exist.", "O(N) where N is the number of keys to check.", "key [key ...]", Engine(cmd::keys::exists)),
    spec("type", 2, READONLY | FAST, K1, "generic", "1.0.0", "Determines the type of value stored at a key.", O1, "key", Engine(cmd::keys::type_)),
    spec("rename", 3, WRITE, K12, "generic", "1.0.0", "Renames a key and overwrites the destination.", O1, "key newkey", Engine(cmd::keys::rename)),
    spec("renamenx", 3, WRITE | FAST, K12, "generic", "1.0.0", "Renames a key only when the target key name doesn't exist.", O1, "key newkey", Engine(cmd::keys::renamenx)),
    dangerous(spec("keys", 2, READONLY | ALL_SHARDS, NK, "generic", "1.0.0", "Returns all key names that match a pattern.", "O(N) with N being the number of keys in the database", "pattern", Engine(cmd::keys::keys))),
    spec("scan", -2, READONLY | ALL_SHARDS, NK, "generic", "2.8.0", "Iterates over the key names in the database.", "O(1) for every call. O(N) for a complete iteration.", "cursor [MATCH pattern] [COUNT count] [TYPE type]", Engine(cmd::keys::scan)),
    spec("randomkey", 1, READONLY | ALL_SHARDS, NK, "generic", "1.0.0", "Returns a random key name from the database.", O1, "", Engine(cmd::keys::randomkey)),
    spec("touch", -2, READONLY | FAST, KALL, "generic", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "O(N) where N is the number of keys that will be touched.", "key [key ...]", Engine(cmd::keys::touch)),
    spec("copy", -3, WRITE | DENYOOM, K12, "generic", "6.2.0", "Copies the value of a key to a new key.", "O(N) worst case for collections, where N is the number of nested items.", "source destination [DB destination-db] [REPLACE]", Engine(cmd::keys::copy)),
    container(spec("object", -2, 0, NK, "generic", "2.2.3", "A container for object introspection commands.", "Depends on subcommand.", "", Container), &OBJECT_SUBS),
    spec("move", 3, WRITE | FAST, K1, "generic", "1.0.0", "Moves a key to another database.", O1, "key db", Engine(cmd::db::move_)),
    // --- expiry ---
    spec("expire", -3, WRITE | FAST, K1, "generic", "1.0.0", "Sets the expiration time of a key in seconds.", O1, "key seconds [NX | XX | GT | LT]", Engine(cmd::expire::expire)),
    spec("pexpire", -3, WRITE | FAST, K1, "generic", "2.6.0", "Sets the expiration time of a key in milliseconds.", O1, "key milliseconds [NX | XX | GT | LT]", Engine(cmd::expire::pexpire)),
    spec("expireat", -3, WRITE | FAST, K1, "generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", O1, "key unix-time-seconds [NX | XX | GT | LT]", Engine(cmd::expire::expireat)),
    spec("pexpireat", -3, WRITE | FAST, K1, "generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", O1, "key unix-time-milliseconds [NX | XX | GT | LT]", Engine(cmd::expire::pexpireat)),
    spec("ttl", 2, READONLY | FAST, K1, "generic", "1.0.0", "Returns the expiration time in seconds of a key.", O1, "key", Engine(cmd::expire::ttl)),
    spec("pttl", 2, READONLY | FAST, K1, "generic", "2.6.0", "Returns the expiration time in milliseconds of a key.", O1, "key", Engine(cmd::expire::pttl)),
    spec("expiretime", 2, READONLY | FAST, K1, "generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", O1, "key", Engine(cmd::expire::expiretime)),
    spec("pexpiretime", 2, READONLY | FAST, K1, "generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", O1, "key", Engine(cmd::expire::pexpiretime)),
    spec("persist", 2, WRITE | FAST, K1, "generic", "2.2.0", "Removes the expiration time of a key.", O1, "key", Engine(cmd::expire::persist)),
    // --- databases ---
    spec("select", 2, LOADING | STALE | FAST, NK, "connection", "1.0.0", "Changes the selected database.", O1, "index", Engine(cmd::db::select)),
    cats(spec("swapdb", 3, WRITE | FAST | ALL_SHARDS, NK, "server", "4.0.0", "Swaps two Redis databases.", "O(N) where N is the count of clients watching or blocking on keys from both databases.", "index1 index2", Engine(cmd::db::swapdb)), &["@keyspace", "@dangerous"]),
    cats(spec("dbsize", 1, READONLY | FAST | ALL_SHARDS, NK, "server", "1.0.0", "Returns the number of keys in the database.", O1, "", Engine(cmd::db::dbsize)), &["@keyspace"]),
    cats(spec("flushdb", -1, WRITE | ALL_SHARDS, NK, "server", "1.0.0", "Remove all keys from the current database.", "O(N) where N is the number of keys in the selected database", "[ASYNC | SYNC]", Engine(cmd::db::flushdb)), &["@keyspace", "@dangerous"]),
    cats(spec("flushall", -1, WRITE | ALL_SHARDS, NK, "server", "1.0.0", "Removes all keys from all databases.", "O(N) where N is the total number of keys in all databases", "[ASYNC | SYNC]", Engine(cmd::db::flushall)), &["@keyspace", "@dangerous"]),
    // --- connection ---
    spec("ping", -1, FAST | SUBSCRIBED_OK, NK, "connection", "1.0.0", "Returns the server's liveliness response.", O1, "[message]", Server),
    spec("echo", 2, LOADING | STALE | FAST, NK, "connection", "1.0.0", "Returns the given string.", O1, "message", Engine(cmd::command::echo)),
    spec("quit", -1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | SUBSCRIBED_OK | TX_CONTROL, NK, "connection", "1.0.0", "Closes the connection.", O1, "", Server),
    spec("reset", 1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | SUBSCRIBED_OK | TX_CONTROL, NK, "connection", "6.2.0", "Resets the connection.", O1, "", Server),
    spec("hello", -1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, NK, "connection", "6.0.0", "Handshakes with the Redis server.", O1, "[protover [AUTH username password] [SETNAME clientname]]", Server),
    spec("auth", -2, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, NK, "connection", "1.0.0", "Authenticates the connection.", "O(N) where N is the number of passwords defined for the user", "[username] password", Server),
    container(spec("client", -2, 0, NK, "connection", "2.4.0", "A container for client connection commands.", "Depends on subcommand.", "", Container), &CLIENT_SUBS),
    // --- server ---
    cats(spec("info", -1, LOADING | STALE | ALL_SHARDS, NK, "server", "1.0.0", "Returns information and statistics about the server.", O1, "[section [section ...]]", Server), &["@dangerous"]),
    container(spec("sentinel", -2, 0, NK, "sentinel", "2.8.4", "A container for Redis Sentinel commands.", "Depends on subcommand.", "", Container), &SENTINEL_SUBS),
    container(spec("flashdb.group", -2, 0, NK, "cluster", "0.1.0", "A container for the membership commands of a replication group.", "Depends on subcommand.", "", Container), &GROUP_SUBS),
    container(spec("ledger", -2, 0, NK, "server", "0.1.0", "A container for the commands of the tamper-evident ledger.", "Depends on subcommand.", "", Container), &LEDGER_SUBS),
    spec("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE | ALL_SHARDS, NK, "server", "1.0.0", "A container for debugging commands (refused unless --enable-debug-command allows it).", "Depends on subcommand.", "subcommand [arg [arg ...]]", Server),
    spec("bgrewriteaof", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, NK, "server", "1.0.0", "Asynchronously rewrites the append-only file to disk (here: compacts the log through a snapshot).", O1, "", Server),
    spec("lolwut", -1, READONLY | FAST, NK, "server", "5.0.0", "Displays computer art and the Redis version", "", "[VERSION version]", Server),
    container(spec("memory", -2, 0, NK, "server", "4.0.0", "A container for memory diagnostics commands.", "Depends on subcommand.", "", Container), &MEMORY_SUBS),
    container(spec("slowlog", -2, 0, NK, "server", "2.2.12", "A container for slow log commands.", "Depends on subcommand.", "", Container), &SLOWLOG_SUBS),
    container(spec("latency", -2, 0, NK, "server", "2.8.13", "A container for latency diagnostics commands.", "Depends on subcommand.", "", Container), &LATENCY_SUBS),
    container(spec("acl", -2, 0, NK, "server", "6.0.0", "A container for Access List Control commands.", "Depends on subcommand.", "", Container), &ACL_SUBS),
    container(spec("config", -2, 0, NK, "server", "2.0.0", "A container for server configuration commands.", "Depends on subcommand.", "", Container), &CONFIG_SUBS),
    cats(container(spec("command", -1, LOADING | STALE, NK, "server", "2.8.13", "Returns detailed information about all commands.", "O(N) where N is the total number of Redis commands", "", Engine(cmd::command::all)), &COMMAND_SUBS), &["@connection"]),
    spec("time", 1, LOADING | STALE | FAST, NK, "server", "2.6.0", "Returns the server time.", O1, "", Engine(cmd::command::time)),
    spec("subscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK, NK, "pubsub", "2.0.0", "Listens for messages published to channels.", "O(N) where N is the number of channels to subscribe to.", "channel [channel ...]", Server),
    spec("unsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK, NK, "pubsub", "2.0.0", "Stops listening to messages posted to channels.", "O(N) where N is the number of channels to unsubscribe.", "[channel [channel ...]]", Server),
    spec("psubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK, NK, "pubsub", "2.0.0", "Listens for messages published to channels that match one or more patterns.", "O(N) where N is the number of patterns to subscribe to.", "pattern [pattern ...]", Server),
    spec("punsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK, NK, "pubsub", "2.0.0", "Stops listening to messages published to channels that match one or more patterns.", "O(N) where N is the number of patterns to unsubscribe.", "[pattern [pattern ...]]", Server),
    spec("publish", 3, PUBSUB | LOADING | STALE | FAST, NK, "pubsub", "2.0.0", "Posts a message to a channel.", "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).", "channel message", Server),
    spec("ssubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK, KALL, "pubsub", "7.0.0", "Listens for messages published to shard channels.", "O(N) where N is the number of shard channels to subscribe to.", "shardchannel [shardchannel ...]", Server),
    spec("sunsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK, KALL, "pubsub", "7.0.0", "Stops listening to messages posted to shard channels.", "O(N) where N is the number of shard channels to unsubscribe.", "[shardchannel [shardchannel ...]]", Server),
    spec("spublish", 3, PUBSUB | LOADING | STALE | FAST, K1, "pubsub", "7.0.0", "Post a message to a shard channel", "O(N) where N is the number of clients subscribed to the receiving shard channel.", "shardchannel message", Server),
    container(spec("pubsub", -2, 0, NK, "pubsub", "2.8.0", "A container for Pub/Sub commands.", "Depends on subcommand.", "", Container), &PUBSUB_SUBS),
    spec("multi", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TX_CONTROL, NK, "transactions", "1.2.0", "Starts a transaction.", O1, "", Server),
    spec("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG | TX_CONTROL, NK, "transactions", "1.2.0", "Executes all commands in a transaction.", "Depends on commands in the transaction", "", Server),
    spec("discard", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TX_CONTROL, NK, "transactions", "2.0.0", "Discards a transaction.", "O(N), when N is the number of queued commands", "", Server),
    spec("watch", -2, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | TX_CONTROL, KALL, "transactions", "2.2.0", "Monitors changes to keys to determine the execution of a transaction.", "O(1) for every key.", "key [key ...]", Server),
    spec("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, NK, "transactions", "2.2.0", "Forgets about watched keys of a transaction.", O1, "", Server),
    spec("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY, NK, "server", "1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)", "[NOSAVE | SAVE] [NOW] [FORCE] [ABORT]", Server),
    spec("save", 1, ADMIN | NOSCRIPT | NO_MULTI | NO_ASYNC_LOADING, NK, "server", "1.0.0", "Synchronously saves the database(s) to disk.", "O(N) where N is the total number of keys in all databases", "", Server),
    spec("backup", 2, ADMIN | NOSCRIPT | NO_MULTI | NO_ASYNC_LOADING, NK, "server", "0.1.0", "Writes a consistent backup of the data set into a new or empty directory on the server's machine, as of one log sequence number, while clients are served.", "O(N) where N is the total number of keys in all databases", "directory", Server),
    spec("bgsave", -1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, NK, "server", "1.0.0", "Asynchronously saves the database(s) to disk.", "O(1)", "[SCHEDULE]", Server),
    cats(spec("lastsave", 1, LOADING | STALE | FAST, NK, "server", "1.0.0", "Returns the Unix timestamp of the last successful save to disk.", O1, "", Server), &["@admin", "@dangerous"]),
    cats(spec("wait", 3, NOSCRIPT, NK, "generic", "3.0.0", "Wait for the synchronous replication of all the write commands sent in the context of the current connection", O1, "numreplicas timeout", Server), &["@connection"]),
    spec("replicaof", 3, ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING, NK, "server", "5.0.0", "Make the server a replica of another instance, or promote it as master.", O1, "host port|NO ONE", Server),
    spec("slaveof", 3, ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING, NK, "server", "1.0.0", "Make the server a replica of another instance, or promote it as master.", O1, "host port|NO ONE", Server),
    spec("failover", -1, ADMIN | NOSCRIPT | STALE, NK, "server", "6.2.0", "Start a coordinated failover between this server and one of its replicas.", O1, "[TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds]", Server),
    cats(spec("role", 1, NOSCRIPT | LOADING | STALE | FAST, NK, "server", "2.8.12", "Return the role of the instance in the context of replication", O1, "", Server), &["@admin", "@dangerous"]),
    cats(spec("readonly", 1, LOADING | STALE | FAST, NK, "cluster", "3.0.0", "Enables read queries for a connection to a cluster replica node", O1, "", Server), &["@connection"]),
    cats(spec("readwrite", 1, LOADING | STALE | FAST, NK, "cluster", "3.0.0", "Disables read queries for a connection to a cluster replica node", O1, "", Server), &["@connection"]),
    spec("monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, NK, "server", "1.0.0", "Listens for all requests received by the server in real-time.", ON, "", Server),
];

type NameIndex = hashbrown::HashMap<&'static str, &'static CommandSpec>;

fn index() -> &'static NameIndex {
    static INDEX: OnceLock<NameIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut m = NameIndex::default();
        for c in COMMANDS {
            m.insert(c.name, c);
            for s in c.subcommands {
                m.insert(s.name, s);
            }
        }
        m
    })
}

/// Every command and subcommand, in a fixed order: the slots of [`command_index`].
pub fn all_specs() -> &'static [&'static CommandSpec] {
    static ALL: OnceLock<Vec<&'static CommandSpec>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v: Vec<&'static CommandSpec> = COMMANDS.iter().collect();
        v.extend(COMMANDS.iter().flat_map(|c| c.subcommands.iter()));
        v
    })
}

/// A dense index of a command in [`all_specs`], for per-command counters without a map
/// lookup: top-level commands are found by their position in [`COMMANDS`].
pub fn command_index(spec: &'static CommandSpec) -> usize {
    let base = COMMANDS.as_ptr() as usize;
    let addr = spec as *const CommandSpec as usize;
    let size = std::mem::size_of::<CommandSpec>();
    if addr >= base && addr < base + std::mem::size_of_val(COMMANDS) {
        return (addr - base) / size;
    }
    static SUBS: OnceLock<HashMap<&'static str, usize>> = OnceLock::new();
    let subs = SUBS.get_or_init(|| {
        all_specs()
            .iter()
            .enumerate()
            .skip(COMMANDS.len())
            .map(|(i, s)| (s.name, i))
            .collect()
    });
    subs.get(spec.name).copied().unwrap_or(0)
}

/// Looks a command up by name, case-insensitively, without allocating for usual names.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let lower = std::str::from_utf8(&buf[..name.len()]).ok()?;
    index().get(lower).copied()
}

/// Looks up a subcommand of `container` by name, case-insensitively.
pub fn lookup_sub(container: &CommandSpec, sub: &[u8]) -> Option<&'static CommandSpec> {
    let sub = std::str::from_utf8(sub).ok()?.to_ascii_lowercase();
    let full = format!("{}|{}", container.name, sub);
    index().get(full.as_str()).copied()
}

/// Number of top-level commands (`COMMAND COUNT`).
pub fn command_count() -> usize {
    COMMANDS.len()
}

/// `docs/commands.md`, generated from the table.
pub fn commands_markdown() -> String {
    let mut out = String::from(
        "# Commands\n\nGenerated from the command table in `crates/flashdb-core/src/table.rs` \
         (`UPDATE_DOCS=1 cargo test -p flashdb-core commands_doc` rewrites it; a test fails when \
         it is stale). Each command behaves as in Redis 7: same arguments, replies and errors.\n",
    );
    let mut groups: Vec<&str> = COMMANDS.iter().map(|c| c.group).collect();
    groups.sort_unstable();
    groups.dedup();
    for g in groups {
        out.push_str(&format!(
            "\n## {g}\n\n| command | arity | flags | summary |\n|---|---|---|---|\n"
        ));
        let mut cmds: Vec<&CommandSpec> = COMMANDS.iter().filter(|c| c.group == g).collect();
        cmds.sort_by_key(|c| c.name);
        for c in cmds {
            let list: Vec<&CommandSpec> = if c.subcommands.is_empty() {
                vec![c]
            } else {
                c.subcommands.iter().collect()
            };
            for c in list {
                let name = c.name.replace('|', " ").to_uppercase();
                let syntax = if c.syntax.is_empty() {
                    String::new()
                } else {
                    format!(" {}", c.syntax.replace('|', "\\|"))
                };
                out.push_str(&format!(
                    "| `{name}{syntax}` | {} | {} | {} |\n",
                    c.arity,
                    c.flag_names().join(", "),
                    c.summary
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(lookup(b"GeT").map(|c| c.name), Some("get"));
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
        let config = lookup(b"config").unwrap();
        assert_eq!(
            lookup_sub(config, b"GET").map(|c| c.name),
            Some("config|get")
        );
    }

    #[test]
    fn command_index_is_dense_and_consistent() {
        for (i, spec) in all_specs().iter().enumerate() {
            assert_eq!(command_index(spec), i, "{}", spec.name);
        }
    }

    #[test]
    fn transaction_keys_cover_counted_keys_and_refuse_whole_keyspace_commands() {
        let keys = |line: &str| {
            let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            let spec = lookup(args[0]).unwrap();
            let mut keys = Vec::new();
            txn_keys(spec, &args, |i| {
                keys.push(String::from_utf8_lossy(args[i]).into_owned())
            })
            .then_some(keys)
        };
        assert_eq!(keys("set a 1").unwrap(), ["a"]);
        assert_eq!(keys("mset a 1 b 2").unwrap(), ["a", "b"]);
        assert_eq!(
            keys("zunionstore d 2 x y weights 1 2").unwrap(),
            ["d", "x", "y"]
        );
        assert_eq!(keys("bzmpop 0 2 x y min").unwrap(), ["x", "y"]);
        assert_eq!(keys("lmpop 1 x left").unwrap(), ["x"]);
        assert_eq!(keys("blpop x y 0").unwrap(), ["x", "y"]);
        assert_eq!(
            keys("zunionstore d 5 x").unwrap_or_default(),
            Vec::<String>::new()
        );
        assert!(keys("zunionstore d 5 x").is_none());
        assert!(keys("lmpop -1 x left").is_none());
        assert!(keys("flushall").is_none());
        assert!(keys("keys *").is_none());
        assert_eq!(keys("ping").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn key_positions_follow_first_last_step() {
        let mset = lookup(b"mset").unwrap();
        assert_eq!(mset.key_positions(5).collect::<Vec<_>>(), vec![1, 3]);
        let del = lookup(b"del").unwrap();
        assert_eq!(del.key_positions(4).collect::<Vec<_>>(), vec![1, 2, 3]);
        let enc = lookup(b"object|encoding").unwrap();
        assert_eq!(enc.key_positions(3).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn every_command_is_documented() {
        for c in COMMANDS
            .iter()
            .chain(COMMANDS.iter().flat_map(|c| c.subcommands.iter()))
        {
            assert!(!c.summary.is_empty(), "{} has no summary", c.name);
            assert!(c.arity != 0, "{} has no arity", c.name);
        }
    }

    #[test]
    fn commands_doc() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/commands.md");
        let fresh = commands_markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &fresh).unwrap();
        }
        let current = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            current == fresh,
            "docs/commands.md is stale: run `UPDATE_DOCS=1 cargo test -p flashdb-core commands_doc`"
        );
    }
}
