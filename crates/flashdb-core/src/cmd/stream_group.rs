//! Stream consumer groups, as Redis 7.0's `t_stream.c`: `XGROUP`, `XREADGROUP`, `XACK`,
//! `XPENDING`, `XCLAIM` and `XAUTOCLAIM`.
//!
//! Every change to a group is logged as its effect: the group's position, the consumers
//! seen, the pending entries assigned (with their delivery time and count) or
//! acknowledged. Recovery therefore restores a group's last delivered id and pending
//! list exactly, and never reads the clock.

use super::stream::{
    begin_per_stream, end_bound, parse_id, parse_read_args, start_bound, stream_at, stream_item,
    stream_mut, strict_id, write_entries, write_id, ReadArgs, BLOCKED_DEFAULT_COUNT, INVALID_ID,
};
use super::{eq_ic, is, lookup, Lookup};
use crate::ctx::{errors, Ctx};
use crate::keyspace::{Locked, Slot, Ttl};
use crate::log_entry::LogEntry;
use crate::numeric::parse_int;
use crate::types::stream::{Entry, Group, Stream, StreamId};
use crate::value::Value;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn id_pair(id: StreamId) -> (u64, u64) {
    (id.ms, id.seq)
}

/// `XGROUP HELP`
pub fn xgroup_help(ctx: &mut Ctx<'_, '_>, _args: &[&[u8]]) {
    super::command::help_reply(
        ctx,
        &[
            "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
            "HELP",
            "    Prints this help.",
        ],
    );
}

fn subcommand_syntax(ctx: &mut Ctx<'_, '_>, sub: &[u8]) {
    let msg = format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
        text(sub)
    );
    ctx.err(&msg);
}

/// `ENTRIESREAD n` (and, for `CREATE`, `MKSTREAM`) after `XGROUP CREATE|SETID key group
/// id`: `(entries read, mkstream)`, `None` after replying.
fn group_options(
    ctx: &mut Ctx<'_, '_>,
    args: &[&[u8]],
    create: bool,
) -> Option<(Option<u64>, bool)> {
    let mut read = None;
    let mut mkstream = false;
    let mut i = 5;
    while i < args.len() {
        if create && eq_ic(args[i], b"mkstream") {
            mkstream = true;
            i += 1;
        } else if eq_ic(args[i], b"entriesread") && i + 1 < args.len() {
            let Some(n) = parse_int(args[i + 1]) else {
                ctx.err(errors::NOT_INT);
                return None;
            };
            if n < -1 {
                ctx.err("ERR value for ENTRIESREAD must be positive or -1");
                return None;
            }
            read = u64::try_from(n).ok();
            i += 2;
        } else {
            subcommand_syntax(ctx, args[1]);
            return None;
        }
    }
    Some((read, mkstream))
}

const NO_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

fn no_group(ctx: &mut Ctx<'_, '_>, key: &[u8], group: &[u8]) {
    let msg = format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        text(group),
        text(key)
    );
    ctx.err(&msg);
}

/// Finds the stream an `XGROUP` subcommand works on; replies when it cannot go on.
fn xgroup_stream(ctx: &mut Ctx<'_, '_>, l: &mut Locked<'_>, key: &[u8]) -> Option<Slot> {
    match lookup(ctx, l, key, false, is::stream) {
        Lookup::Found(s) => Some(s),
        Lookup::WrongType => None,
        Lookup::Missing => {
            ctx.err(NO_KEY);
            None
        }
    }
}

/// `XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n]`
pub fn xgroup_create(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some((read, mkstream)) = group_options(ctx, args, true) else {
        return;
    };
    let (key, group) = (args[2], args[3]);
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    let found = match lookup(ctx, &mut l, key, false, is::stream) {
        Lookup::Found(s) => Some(s),
        Lookup::WrongType => return,
        Lookup::Missing if mkstream => None,
        Lookup::Missing => return ctx.err(NO_KEY),
    };
    let id = if args[4] == b"$" {
        found.map_or(StreamId::MIN, |s| stream_at(&l, s).last_id)
    } else {
        match strict_id(args[4]) {
            Some(id) => id,
            None => return ctx.err(INVALID_ID),
        }
    };
    let s = match found {
        Some(s) => s,
        None => l.set(db, key, Value::Stream(Box::default()), Ttl::Clear),
    };
    let st = stream_mut(&mut l, s);
    if st.groups.contains_key(group) {
        return ctx.err("BUSYGROUP Consumer Group name already exists");
    }
    st.groups.insert(
        group.to_vec(),
        Group {
            last_id: id,
            entries_read: read,
            ..Default::default()
        },
    );
    l.log(LogEntry::XGroupSet {
        db: db as u32,
        key,
        group,
        last: id_pair(id),
        entries_read: read,
        created: true,
        mkstream: found.is_none(),
        announce: true,
    });
    ctx.out.ok();
}

/// `XGROUP SETID key group id|$ [ENTRIESREAD n]`
pub fn xgroup_setid(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if args.len() != 5 && args.len() != 7 {
        return subcommand_syntax(ctx, args[1]);
    }
    let Some((read, _)) = group_options(ctx, args, false) else {
        return;
    };
    let (key, group) = (args[2], args[3]);
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    let Some(s) = xgroup_stream(ctx, &mut l, key) else {
        return;
    };
    let st = stream_mut(&mut l, s);
    let last = st.last_id;
    let Some(g) = st.groups.get_mut(group) else {
        return no_group(ctx, key, group);
    };
    let id = if args[4] == b"$" {
        last
    } else {
        match parse_id(args[4], 0, false, false) {
            Some(p) => p.id,
            None => return ctx.err(INVALID_ID),
        }
    };
    g.last_id = id;
    g.entries_read = read;
    l.log(LogEntry::XGroupSet {
        db: db as u32,
        key,
        group,
        last: id_pair(id),
        entries_read: read,
        created: false,
        mkstream: false,
        announce: true,
    });
    ctx.out.ok();
}

/// `XGROUP DESTROY key group`
pub fn xgroup_destroy(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, group) = (args[2], args[3]);
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    let Some(s) = xgroup_stream(ctx, &mut l, key) else {
        return;
    };
    if stream_mut(&mut l, s).groups.remove(group).is_none() {
        return ctx.out.int(0);
    }
    l.log(LogEntry::XGroupDestroy {
        db: db as u32,
        key,
        group,
    });
    // Consumers blocked on the group find it gone.
    l.signal_ready(db, key);
    ctx.out.int(1);
}

/// `XGROUP CREATECONSUMER key group consumer`
pub fn xgroup_createconsumer(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, group, consumer) = (args[2], args[3], args[4]);
    let db = ctx.db;
    let now = ctx.now;
    let mut l = ctx.lock(&[key]);
    let Some(s) = xgroup_stream(ctx, &mut l, key) else {
        return;
    };
    let Some(g) = stream_mut(&mut l, s).groups.get_mut(group) else {
        return no_group(ctx, key, group);
    };
    if g.consumers.contains_key(consumer) {
        return ctx.out.int(0);
    }
    g.consumers.entry(consumer.to_vec()).or_default().seen_time = now;
    l.log(LogEntry::XConsumer {
        db: db as u32,
        key,
        group,
        consumer,
        seen: now,
        created: true,
    });
    ctx.out.int(1);
}

/// `XGROUP DELCONSUMER key group consumer`
pub fn xgroup_delconsumer(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, group, consumer) = (args[2], args[3], args[4]);
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    let Some(s) = xgroup_stream(ctx, &mut l, key) else {
        return;
    };
    let Some(g) = stream_mut(&mut l, s).groups.get_mut(group) else {
        return no_group(ctx, key, group);
    };
    let Some(pending) = g.remove_consumer(consumer) else {
        return ctx.out.int(0);
    };
    l.log(LogEntry::XConsumerDel {
        db: db as u32,
        key,
        group,
        consumer,
    });
    ctx.out.int(pending as i64);
}

/// Looks the consumer up (creating it) and notes it was seen now, as Redis does on a
/// read or a claim; logs it.
fn see_consumer(
    l: &mut Locked<'_>,
    s: Slot,
    db: usize,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    now: u64,
) {
    let Some(g) = stream_mut(l, s).groups.get_mut(group) else {
        return;
    };
    let created = !g.consumers.contains_key(consumer);
    g.consumers.entry(consumer.to_vec()).or_default().seen_time = now;
    l.log(LogEntry::XConsumer {
        db: db as u32,
        key,
        group,
        consumer,
        seen: now,
        created,
    });
}

/// One stream's part of an `XREADGROUP` reply: the new entries delivered, or the
/// consumer's history (an entry deleted since shows as its id with a null).
enum Served {
    New(Vec<Entry>),
    History(Vec<(StreamId, Option<Entry>)>),
}

/// `XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key [key
/// ...] id [id ...]`
pub fn xreadgroup(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(ReadArgs {
        count,
        count_given,
        block,
        streams_at,
        group: group_consumer,
        noack,
    }) = parse_read_args(ctx, args, true)
    else {
        return;
    };
    let Some((group, consumer)) = group_consumer else {
        return ctx.err("ERR Missing GROUP option for XREADGROUP");
    };
    let n = (args.len() - streams_at) / 2;
    let keys = &args[streams_at..streams_at + n];
    let id_args = &args[streams_at + n..];
    let db = ctx.db;
    let now = ctx.now;
    let mut l = ctx.lock(keys);
    // Every key, group and id is checked before anything is read or delivered.
    let mut slots = Vec::with_capacity(n);
    let mut after: Vec<Option<StreamId>> = Vec::with_capacity(n);
    for (key, id_arg) in keys.iter().zip(id_args) {
        let found = match l.find_read(db, key) {
            Some(s) if is::stream(&l.entry(s).value) => Some(s),
            Some(_) => return ctx.err(errors::WRONGTYPE),
            None => None,
        };
        let has_group = found.is_some_and(|s| stream_at(&l, s).groups.contains_key(group));
        let Some(s) = found.filter(|_| has_group) else {
            let msg = format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                text(key),
                text(group)
            );
            return ctx.err(&msg);
        };
        slots.push(s);
        match *id_arg {
            b"$" => return ctx.err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."),
            b">" => after.push(None),
            a => match strict_id(a) {
                Some(id) => after.push(Some(id)),
                None => return ctx.err(INVALID_ID),
            },
        }
    }
    let mut replies: Vec<(&[u8], Served)> = Vec::new();
    for ((key, &s), gt) in keys.iter().zip(&slots).zip(&after) {
        match gt {
            Some(gt) => {
                see_consumer(&mut l, s, db, key, group, consumer, now);
                let history = redeliver(&mut l, s, db, key, group, consumer, *gt, count, now);
                replies.push((key, Served::History(history)));
            }
            None => {
                // As Redis 7.0: the consumer is made (or seen) only when the stream
                // has ids past the group's, not by a read that finds nothing new.
                let st = stream_at(&l, s);
                let behind = st.groups.get(group).is_some_and(|g| g.last_id < st.last_id);
                if !behind {
                    continue;
                }
                see_consumer(&mut l, s, db, key, group, consumer, now);
                let delivered = deliver_new(&mut l, s, db, key, group, consumer, count, noack, now);
                if !delivered.is_empty() {
                    replies.push((key, Served::New(delivered)));
                }
            }
        }
    }
    if !replies.is_empty() {
        begin_per_stream(ctx, replies.len());
        for (key, served) in &replies {
            stream_item(ctx, key);
            match served {
                Served::New(entries) => write_entries(ctx, entries),
                Served::History(items) => {
                    ctx.out.array(items.len());
                    for (id, entry) in items {
                        match entry {
                            Some(e) => write_entries_one(ctx, e),
                            None => {
                                ctx.out.array(2);
                                write_id(ctx, *id);
                                ctx.out.null_array();
                            }
                        }
                    }
                }
            }
        }
        return;
    }
    drop(l);
    let Some(deadline) = block else {
        return ctx.out.null_array();
    };
    // Blocked, it runs again with Redis's default COUNT for a blocked read.
    let mut again: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
    if !count_given {
        // Right after the name: options may come in any order before STREAMS.
        again.splice(1..1, [b"COUNT".to_vec(), BLOCKED_DEFAULT_COUNT.to_vec()]);
    }
    super::block_on_with(ctx, keys, deadline, 0, crate::ctx::TimeoutReply::NullArray);
    if let Some(on) = ctx.block.as_mut() {
        on.args = Some(again);
    }
}

fn write_entries_one(ctx: &mut Ctx<'_, '_>, e: &Entry) {
    ctx.out.array(2);
    write_id(ctx, e.id);
    ctx.out.array(e.fields.len() * 2);
    for (f, v) in &e.fields {
        ctx.out.bulk(f);
        ctx.out.bulk(v);
    }
}

/// Delivers the entries after the group's last delivered id to `consumer`, as Redis's
/// `streamReplyWithRange` with a group: the group moves on, and each entry becomes
/// pending for the consumer (unless `NOACK`).
#[allow(clippy::too_many_arguments)]
fn deliver_new(
    l: &mut Locked<'_>,
    s: Slot,
    db: usize,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    count: usize,
    noack: bool,
    now: u64,
) -> Vec<Entry> {
    let st = stream_mut(l, s);
    let Some(last) = st.groups.get(group).map(|g| g.last_id) else {
        return Vec::new();
    };
    let Some(start) = last.next() else {
        return Vec::new();
    };
    let entries = st.range(start, StreamId::MAX, count, false);
    if entries.is_empty() {
        return entries;
    }
    // The read counter, as Redis keeps it entry by entry.
    let mut read = st.groups.get(group).and_then(|g| g.entries_read);
    for e in &entries {
        read = match read {
            Some(n) if !st.has_tombstones(e.id, StreamId::MAX) => Some(n + 1),
            _ if st.entries_added > 0 => st.distance_from_first(e.id),
            other => other,
        };
    }
    let new_last = entries[entries.len() - 1].id;
    if let Some(g) = st.groups.get_mut(group) {
        g.last_id = new_last;
        g.entries_read = read;
        if !noack {
            for e in &entries {
                g.assign(e.id, consumer, now, 1);
            }
        }
    }
    l.log(LogEntry::XGroupSet {
        db: db as u32,
        key,
        group,
        last: id_pair(new_last),
        entries_read: read,
        created: false,
        mkstream: false,
        announce: false,
    });
    if !noack {
        l.log(LogEntry::XPending {
            db: db as u32,
            key,
            group,
            consumer,
            entries: entries.iter().map(|e| (id_pair(e.id), now, 1)).collect(),
        });
    }
    entries
}

/// The consumer's pending entries after `after` (Redis's
/// `streamReplyWithRangeFromConsumerPEL`): each still in the stream is delivered again
/// (its time and count updated).
#[allow(clippy::too_many_arguments)]
fn redeliver(
    l: &mut Locked<'_>,
    s: Slot,
    db: usize,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    after: StreamId,
    count: usize,
    now: u64,
) -> Vec<(StreamId, Option<Entry>)> {
    let Some(start) = after.next() else {
        return Vec::new();
    };
    let st = stream_mut(l, s);
    let ids: Vec<StreamId> = st
        .groups
        .get(group)
        .and_then(|g| g.consumers.get(consumer))
        .map(|c| {
            c.pending
                .range(start..)
                .take(if count == 0 { usize::MAX } else { count })
                .copied()
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::with_capacity(ids.len());
    let mut updated = Vec::new();
    for id in ids {
        let entry = st.range(id, id, 1, false).into_iter().next();
        if entry.is_some() {
            if let Some(p) = st
                .groups
                .get_mut(group)
                .and_then(|g| g.pending.get_mut(&id))
            {
                p.delivery_time = now;
                p.delivery_count += 1;
                updated.push((id_pair(id), now, p.delivery_count));
            }
        }
        out.push((id, entry));
    }
    if !updated.is_empty() {
        l.log(LogEntry::XPending {
            db: db as u32,
            key,
            group,
            consumer,
            entries: updated,
        });
    }
    out
}

/// The group of an existing stream, for the commands that answer `NOGROUP` otherwise.
fn group_of<'s>(st: &'s Stream, group: &[u8]) -> Option<&'s Group> {
    st.groups.get(group)
}

/// `XACK key group id [id ...]`
pub fn xack(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, group) = (args[1], args[2]);
    // Every id is checked before any is acknowledged.
    let mut ids = Vec::with_capacity(args.len() - 3);
    for a in &args[3..] {
        match strict_id(a) {
            Some(id) => ids.push(id),
            None => return ctx.err(INVALID_ID),
        }
    }
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::stream) {
        Lookup::Found(s) => s,
        Lookup::WrongType => return,
        Lookup::Missing => return ctx.out.int(0),
    };
    let Some(g) = stream_mut(&mut l, s).groups.get_mut(group) else {
        return ctx.out.int(0);
    };
    let acked: Vec<(u64, u64)> = ids
        .into_iter()
        .filter(|id| g.ack(*id))
        .map(id_pair)
        .collect();
    let n = acked.len();
    if n > 0 {
        l.log(LogEntry::XAck {
            db: db as u32,
            key,
            group,
            ids: acked,
        });
    }
    ctx.out.int(n as i64);
}

/// `XPENDING key group [[IDLE min-idle-time] start end count [consumer]]`
pub fn xpending(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, group) = (args[1], args[2]);
    let extended = args.len() > 3;
    let mut min_idle: u64 = 0;
    let mut range = (StreamId::MIN, StreamId::MAX);
    let mut count: i64 = -1;
    let mut consumer: Option<&[u8]> = None;
    if extended {
        let mut i = 3;
        if eq_ic(args[3], b"idle") {
            if args.len() < 8 {
                return ctx.err(errors::SYNTAX);
            }
            let Some(n) = parse_int(args[4]) else {
                return ctx.err(errors::NOT_INT);
            };
            min_idle = n.max(0) as u64;
            i = 5;
        }
        if args.len() < i + 3 || args.len() > i + 4 {
            return ctx.err(errors::SYNTAX);
        }
        let start = match start_bound(args[i]) {
            Ok(id) => id,
            Err(e) => return ctx.err(e),
        };
        let end = match end_bound(args[i + 1]) {
            Ok(id) => id,
            Err(e) => return ctx.err(e),
        };
        range = (start, end);
        let Some(c) = parse_int(args[i + 2]) else {
            return ctx.err(errors::NOT_INT);
        };
        count = c.max(0);
        consumer = args.get(i + 3).copied();
    }
    let now = ctx.now;
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, true, is::stream) {
        Lookup::Found(s) => Some(s),
        Lookup::WrongType => return,
        Lookup::Missing => None,
    };
    let g = s.and_then(|s| group_of(stream_at(&l, s), group));
    let Some(g) = g else {
        let msg = format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            text(key),
            text(group)
        );
        return ctx.err(&msg);
    };
    if !extended {
        ctx.out.array(4);
        ctx.out.int(g.pending.len() as i64);
        match (g.pending.keys().next(), g.pending.keys().next_back()) {
            (Some(first), Some(last)) => {
                write_id(ctx, *first);
                write_id(ctx, *last);
                let owners: Vec<(&Vec<u8>, usize)> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pending.is_empty())
                    .map(|(n, c)| (n, c.pending.len()))
                    .collect();
                ctx.out.array(owners.len());
                for (name, n) in owners {
                    ctx.out.array(2);
                    ctx.out.bulk(name);
                    ctx.out.bulk(n.to_string().as_bytes());
                }
            }
            _ => {
                ctx.out.null();
                ctx.out.null();
                ctx.out.null_array();
            }
        }
        return;
    }
    let limit = usize::try_from(count).unwrap_or(0);
    let rows: Vec<(StreamId, &[u8], u64, u64)> = if range.0 > range.1 {
        Vec::new()
    } else {
        let ids: Box<dyn Iterator<Item = StreamId>> = match consumer {
            Some(c) => match g.consumers.get(c) {
                Some(c) => Box::new(c.pending.range(range.0..=range.1).copied()),
                None => Box::new(std::iter::empty()),
            },
            None => Box::new(g.pending.range(range.0..=range.1).map(|(id, _)| *id)),
        };
        ids.filter_map(|id| {
            let p = g.pending.get(&id)?;
            let idle = now.saturating_sub(p.delivery_time);
            (idle >= min_idle).then_some((id, p.consumer.as_slice(), idle, p.delivery_count))
        })
        .take(limit)
        .collect()
    };
    ctx.out.array(rows.len());
    for (id, owner, idle, deliveries) in rows {
        ctx.out.array(4);
        write_id(ctx, id);
        ctx.out.bulk(owner);
        ctx.out.int(idle as i64);
        ctx.out.int(deliveries as i64);
    }
}

/// Looks up the stream and group of `XCLAIM`/`XAUTOCLAIM`; replies `NOGROUP`.
fn claim_target(
    ctx: &mut Ctx<'_, '_>,
    l: &mut Locked<'_>,
    key: &[u8],
    group: &[u8],
) -> Option<Slot> {
    let s = match lookup(ctx, l, key, false, is::stream) {
        Lookup::Found(s) => Some(s),
        Lookup::WrongType => return None,
        Lookup::Missing => None,
    };
    match s.filter(|s| stream_at(l, *s).groups.contains_key(group)) {
        Some(s) => Some(s),
        None => {
            let msg = format!(
                "NOGROUP No such key '{}' or consumer group '{}'",
                text(key),
                text(group)
            );
            ctx.err(&msg);
            None
        }
    }
}

/// Claims pending entry `id` for `consumer` (Redis's claim step of `XCLAIM` and
/// `XAUTOCLAIM`): a forced record starts with one delivery; the count is `retry` when
/// given, else one more unless `justid`.
fn claim_one(
    g: &mut Group,
    id: StreamId,
    consumer: &[u8],
    time: u64,
    retry: Option<u64>,
    justid: bool,
    base: u64,
) -> u64 {
    let count = match retry {
        Some(n) => n,
        None if justid => base,
        None => base + 1,
    };
    g.assign(id, consumer, time, count);
    count
}

/// The entries of claimed ids, for a reply that shows them (none with `JUSTID`).
fn claimed_entries(st: &Stream, claimed: &[StreamId], justid: bool) -> Vec<Entry> {
    if justid {
        return Vec::new();
    }
    claimed
        .iter()
        .filter_map(|id| st.range(*id, *id, 1, false).into_iter().next())
        .collect()
}

/// Replies with the claimed ids (`JUSTID`) or their entries.
fn write_claimed(ctx: &mut Ctx<'_, '_>, claimed: &[StreamId], entries: &[Entry], justid: bool) {
    if justid {
        ctx.out.array(claimed.len());
        for id in claimed {
            write_id(ctx, *id);
        }
    } else {
        write_entries(ctx, entries);
    }
}

/// Logs what a claim did: the consumer seen (when it claimed anything), pending records
/// dropped for deleted entries, and the entries assigned.
#[allow(clippy::too_many_arguments)]
fn log_claims(
    l: &mut Locked<'_>,
    s: Slot,
    db: usize,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    now: u64,
    consumer_existed: bool,
    dropped: Vec<(u64, u64)>,
    assigned: Vec<((u64, u64), u64, u64)>,
) {
    if !dropped.is_empty() {
        l.log(LogEntry::XAck {
            db: db as u32,
            key,
            group,
            ids: dropped,
        });
    }
    if !assigned.is_empty() {
        if let Some(c) = stream_mut(l, s)
            .groups
            .get_mut(group)
            .and_then(|g| g.consumers.get_mut(consumer))
        {
            c.seen_time = now;
        }
        l.log(LogEntry::XConsumer {
            db: db as u32,
            key,
            group,
            consumer,
            seen: now,
            created: !consumer_existed,
        });
        l.log(LogEntry::XPending {
            db: db as u32,
            key,
            group,
            consumer,
            entries: assigned,
        });
    }
}

/// `XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]`
pub fn xclaim(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, group, consumer) = (args[1], args[2], args[3]);
    let now = ctx.now;
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    let Some(s) = claim_target(ctx, &mut l, key, group) else {
        return;
    };
    let Some(min_idle) = parse_int(args[4]) else {
        return ctx.err("ERR Invalid min-idle-time argument for XCLAIM");
    };
    let min_idle = min_idle.max(0) as u64;
    // The ids come first; the options follow the last one.
    let mut ids = Vec::new();
    let mut j = 5;
    while let Some(id) = args.get(j).and_then(|a| strict_id(a)) {
        ids.push(id);
        j += 1;
    }
    let mut delivery: Option<i64> = None;
    let mut retry: Option<u64> = None;
    let mut force = false;
    let mut justid = false;
    let mut lastid = StreamId::MIN;
    while j < args.len() {
        let more = j + 1 < args.len();
        let o = args[j];
        if eq_ic(o, b"force") {
            force = true;
        } else if eq_ic(o, b"justid") {
            justid = true;
        } else if eq_ic(o, b"idle") && more {
            j += 1;
            let Some(ms) = parse_int(args[j]) else {
                return ctx.err("ERR Invalid IDLE option argument for XCLAIM");
            };
            delivery = Some((now as i64).saturating_sub(ms));
        } else if eq_ic(o, b"time") && more {
            j += 1;
            let Some(ms) = parse_int(args[j]) else {
                return ctx.err("ERR Invalid TIME option argument for XCLAIM");
            };
            delivery = Some(ms);
        } else if eq_ic(o, b"retrycount") && more {
            j += 1;
            let Some(n) = parse_int(args[j]) else {
                return ctx.err("ERR Invalid RETRYCOUNT option argument for XCLAIM");
            };
            retry = u64::try_from(n).ok();
        } else if eq_ic(o, b"lastid") && more {
            j += 1;
            match strict_id(args[j]) {
                Some(id) => lastid = id,
                None => return ctx.err(INVALID_ID),
            }
        } else {
            let msg = format!("ERR Unrecognized XCLAIM option '{}'", text(o));
            return ctx.err(&msg);
        }
        j += 1;
    }
    // A delivery time before the epoch or in the future is now, as in Redis.
    let delivery_time = match delivery {
        Some(t) if t >= 0 && (t as u64) <= now => t as u64,
        _ => now,
    };
    let st = stream_mut(&mut l, s);
    let existing: Vec<bool> = ids.iter().map(|id| st.contains(*id)).collect();
    let Some(g) = st.groups.get_mut(group) else {
        return;
    };
    let consumer_existed = g.consumers.contains_key(consumer);
    let moved = (lastid > g.last_id).then(|| {
        g.last_id = lastid;
        g.entries_read
    });
    let mut claimed = Vec::new();
    let mut dropped = Vec::new();
    let mut assigned = Vec::new();
    for (id, exists) in ids.into_iter().zip(existing) {
        let record = g.pending.get(&id).cloned();
        if !exists {
            if record.is_some() {
                g.ack(id);
                dropped.push(id_pair(id));
            }
            continue;
        }
        let base = match record {
            Some(p) => {
                if min_idle > 0 && now.saturating_sub(p.delivery_time) < min_idle {
                    continue;
                }
                p.delivery_count
            }
            // FORCE makes a pending record for an entry that has none.
            None if force => 1,
            None => continue,
        };
        let count = claim_one(g, id, consumer, delivery_time, retry, justid, base);
        assigned.push((id_pair(id), delivery_time, count));
        claimed.push(id);
    }
    let entries = claimed_entries(st, &claimed, justid);
    if let Some(read) = moved {
        l.log(LogEntry::XGroupSet {
            db: db as u32,
            key,
            group,
            last: id_pair(lastid),
            entries_read: read,
            created: false,
            mkstream: false,
            announce: false,
        });
    }
    log_claims(
        &mut l,
        s,
        db,
        key,
        group,
        consumer,
        now,
        consumer_existed,
        dropped,
        assigned,
    );
    write_claimed(ctx, &claimed, &entries, justid);
}

/// `XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]`
pub fn xautoclaim(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, group, consumer) = (args[1], args[2], args[3]);
    let Some(min_idle) = parse_int(args[4]) else {
        return ctx.err("ERR Invalid min-idle-time argument for XAUTOCLAIM");
    };
    let min_idle = min_idle.max(0) as u64;
    let start = match start_bound(args[5]) {
        Ok(id) => id,
        Err(e) => return ctx.err(e),
    };
    let mut count: usize = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = j + 1 < args.len();
        if eq_ic(args[j], b"count") && more {
            let max = i64::MAX / 16;
            let n = parse_int(args[j + 1]).filter(|n| (1..=max).contains(n));
            let Some(n) = n else {
                return ctx.err("ERR COUNT must be > 0");
            };
            count = usize::try_from(n).unwrap_or(usize::MAX);
            j += 2;
        } else if eq_ic(args[j], b"justid") {
            justid = true;
            j += 1;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let now = ctx.now;
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    let Some(s) = claim_target(ctx, &mut l, key, group) else {
        return;
    };
    let st = stream_mut(&mut l, s);
    let candidates: Vec<(StreamId, bool)> = match st.groups.get(group) {
        Some(g) => g
            .pending
            .range(start..)
            .take(count.saturating_mul(10).saturating_add(1))
            .map(|(id, _)| (*id, false))
            .collect(),
        None => return,
    };
    let candidates: Vec<(StreamId, bool)> = candidates
        .into_iter()
        .map(|(id, _)| (id, st.contains(id)))
        .collect();
    let Some(g) = st.groups.get_mut(group) else {
        return;
    };
    let consumer_existed = g.consumers.contains_key(consumer);
    // Redis looks at up to ten times COUNT pending entries, and COUNT bounds the
    // entries claimed and deleted together.
    let mut attempts = count.saturating_mul(10);
    let mut left = count;
    let mut at = 0;
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut assigned = Vec::new();
    while attempts > 0 && left > 0 && at < candidates.len() {
        attempts -= 1;
        let (id, exists) = candidates[at];
        at += 1;
        if !exists {
            g.ack(id);
            deleted.push(id);
            left -= 1;
            continue;
        }
        let Some(p) = g.pending.get(&id).cloned() else {
            continue;
        };
        if min_idle > 0 && now.saturating_sub(p.delivery_time) < min_idle {
            continue;
        }
        let count = claim_one(g, id, consumer, now, None, justid, p.delivery_count);
        assigned.push((id_pair(id), now, count));
        claimed.push(id);
        left -= 1;
    }
    let next = candidates.get(at).map_or(StreamId::MIN, |(id, _)| *id);
    let entries = claimed_entries(st, &claimed, justid);
    let dropped = deleted.iter().map(|id| id_pair(*id)).collect();
    log_claims(
        &mut l,
        s,
        db,
        key,
        group,
        consumer,
        now,
        consumer_existed,
        dropped,
        assigned,
    );
    ctx.out.array(3);
    write_id(ctx, next);
    write_claimed(ctx, &claimed, &entries, justid);
    ctx.out.array(deleted.len());
    for id in deleted {
        write_id(ctx, id);
    }
}
