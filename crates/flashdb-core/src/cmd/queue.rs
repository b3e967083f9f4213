//! Work queue commands (FlashDB's own type, see `types::queue`).
//!
//! Every command first *settles* its queue at the command's time: leases that ended and
//! delays that passed take effect (logged as one `QAdvance` entry), and messages that used
//! up their attempts move to the dead-letter queue. A queue's dead-letter queue may live
//! in another shard, so commands lock it along with the queue ([`lock_queues`]).
//!
//! Queues, like Redis streams, stay when they empty: their policy and counters remain.

use std::borrow::Cow;

use super::{eq_ic, is, lookup, Lookup};
use crate::compact::CompactBytes;
use crate::ctx::{errors, Ctx, TimeoutReply};
use crate::keyspace::{LockRef, Locked, Slot, Ttl};
use crate::log_entry::LogEntry;
use crate::numeric::parse_int;
use crate::types::queue::{DeadMessage, Nacked, Queue, QueueConfig, ADVANCE_BATCH, MAX_MS};
use crate::value::Value;

/// An id that is not of the form `<seq>-<tag>`.
const BAD_ID: &str = "ERR Invalid queue message ID";
/// A `COUNT` below 1.
const BAD_COUNT: &str = "ERR count should be greater than 0";

fn queue_at<'l>(l: &'l Locked<'_>, s: Slot) -> &'l Queue {
    match &l.entry(s).value {
        Value::Queue(q) => q,
        _ => unreachable!("slot checked to hold a queue"),
    }
}

fn queue_mut<'l>(l: &'l mut Locked<'_>, s: Slot) -> &'l mut Queue {
    match &mut l.entry_mut(s).value {
        Value::Queue(q) => q,
        _ => unreachable!("slot checked to hold a queue"),
    }
}

/// Locks `keys` and the dead-letter queues of those that are queues (retrying with the
/// extra keys when one is in a shard not yet locked). Inside `EXEC` every shard is held.
fn lock_queues<'a, 'h>(ctx: &mut Ctx<'a, 'h>, keys: &[&[u8]]) -> LockRef<'h, 'a> {
    let db = ctx.db;
    let mut extra: Vec<Vec<u8>> = Vec::new();
    for _ in 0..4 {
        let all: Vec<&[u8]> = keys
            .iter()
            .copied()
            .chain(extra.iter().map(|k| k.as_slice()))
            .collect();
        let mut l = ctx.lock(&all);
        let mut missing = None;
        for k in keys {
            let Some(s) = l.find(db, k) else { continue };
            if let Value::Queue(q) = &l.entry(s).value {
                if let Some(dl) = &q.config.dead_letter {
                    if !l.covers(dl.as_slice()) {
                        missing = Some(dl.as_slice().to_vec());
                        break;
                    }
                }
            }
        }
        match missing {
            None => return l,
            Some(k) => {
                drop(l);
                extra.push(k);
            }
        }
    }
    // Policies changing under us on every attempt: take every shard.
    let mut l = ctx.ks.lock_all_at(ctx.now);
    l.cmd = ctx.spec.name;
    LockRef::Own(l)
}

/// The queue `key`, settled, or created (with a fresh random tag) when missing; `None`
/// after replying `WRONGTYPE`.
fn queue_or_create(ctx: &mut Ctx<'_, '_>, l: &mut Locked<'_>, key: &[u8]) -> Option<Slot> {
    match open(ctx, l, key, false) {
        Lookup::Found(s) => Some(s),
        Lookup::WrongType => None,
        Lookup::Missing => Some(l.set(
            ctx.db,
            key,
            Value::Queue(Box::new(Queue::new(rand::random()))),
            Ttl::Clear,
        )),
    }
}

/// Pushes `items` onto the queue at slot `s` (the caller made sure it is one), logs the
/// push and wakes a client waiting on it; returns the first message's sequence number.
#[allow(clippy::too_many_arguments)]
fn push_at(
    l: &mut Locked<'_>,
    s: Slot,
    db: usize,
    key: &[u8],
    priority: u8,
    visible_at: u64,
    items: &[&[u8]],
) -> u64 {
    let now = l.now;
    let q = queue_mut(l, s);
    let tag = q.tag();
    let first = q.next_seq();
    for p in items {
        q.push(now, priority, visible_at, p);
    }
    let ready = q.ready_len() > 0;
    l.log(LogEntry::QPush {
        db: db as u32,
        key,
        tag,
        now,
        priority,
        visible_at,
        items: Cow::Borrowed(items),
    });
    if ready {
        l.signal_ready(db, key);
    }
    first
}

/// Moves messages that used up their attempts to the dead-letter queue `target`; they
/// are dropped (and stay counted as dead-lettered) when it holds another type.
fn dead_letter(l: &mut Locked<'_>, db: usize, target: &[u8], dead: Vec<DeadMessage>) {
    if dead.is_empty() || !l.covers(target) {
        return;
    }
    let s = match l.find(db, target) {
        Some(s) if matches!(l.entry(s).value, Value::Queue(_)) => s,
        Some(_) => return,
        None => l.set(
            db,
            target,
            Value::Queue(Box::new(Queue::new(rand::random()))),
            Ttl::Clear,
        ),
    };
    let now = l.now;
    for d in dead {
        push_at(l, s, db, target, d.priority, now, &[d.payload.as_slice()]);
    }
}

/// Applies the leases that ended and the delays that passed by the command's time to the
/// queue at `key` (see the module's documentation). Returns the queue's slot.
fn settle(l: &mut Locked<'_>, db: usize, key: &[u8]) -> Option<Slot> {
    let s = l.find(db, key)?;
    let now = l.now;
    // Looked at first without `entry_mut`, which would capture the shard for a snapshot
    // in progress: a read that moves nothing is not a write.
    if !matches!(&l.entry(s).value, Value::Queue(q) if q.has_due(now)) {
        return Some(s);
    }
    let Value::Queue(q) = &mut l.entry_mut(s).value else {
        return Some(s);
    };
    let mut dead = Vec::new();
    let moved = q.advance(now, ADVANCE_BATCH, &mut dead);
    let ready = q.ready_len() > 0;
    let target = q.config.dead_letter.clone();
    l.log(LogEntry::QAdvance {
        db: db as u32,
        key,
        now,
        count: moved as u64,
    });
    if ready {
        l.signal_ready(db, key);
    }
    if let Some(t) = target {
        dead_letter(l, db, t.as_slice(), dead);
    }
    l.find(db, key)
}

/// Looks up the queue `key` and settles it: `Found` after settling, or `Missing`, or
/// `WrongType` after replying.
fn open(ctx: &mut Ctx<'_, '_>, l: &mut Locked<'_>, key: &[u8], read: bool) -> Lookup {
    match lookup(ctx, l, key, read, is::queue) {
        Lookup::Found(_) => match settle(l, ctx.db, key) {
            Some(s) => Lookup::Found(s),
            None => Lookup::Missing,
        },
        other => other,
    }
}

fn parse_count(ctx: &mut Ctx<'_, '_>, arg: &[u8]) -> Option<usize> {
    match parse_int(arg) {
        None => {
            ctx.err(errors::NOT_INT);
            None
        }
        Some(n) if n < 1 => {
            ctx.err(BAD_COUNT);
            None
        }
        Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
    }
}

/// A millisecond argument named `name`, at least `min` and at most [`MAX_MS`].
fn parse_ms(ctx: &mut Ctx<'_, '_>, arg: &[u8], name: &str, min: i64) -> Option<u64> {
    match parse_int(arg) {
        None => {
            ctx.err(errors::NOT_INT);
            None
        }
        Some(n) if n < min => {
            let what = if min > 0 { "positive" } else { "negative" };
            let msg = if min > 0 {
                format!("ERR {name} must be {what}")
            } else {
                format!("ERR {name} can't be {what}")
            };
            ctx.err(&msg);
            None
        }
        Some(n) if n as u64 > MAX_MS => {
            ctx.err(&format!("ERR {name} is out of range"));
            None
        }
        Some(n) => Some(n as u64),
    }
}

/// For `QNACK` and `QTOUCH`: locks and settles the queue `key` and finds message `id`
/// in it. `None` after replying: an error for a malformed id or another type, 0 when
/// there is no such queue or the id is another queue's.
fn open_message<'a, 'h>(
    ctx: &mut Ctx<'a, 'h>,
    key: &[u8],
    id: &[u8],
) -> Option<(LockRef<'h, 'a>, Slot, u64)> {
    let Ok((seq, tag)) = crate::types::queue::parse_id(id) else {
        ctx.err(BAD_ID);
        return None;
    };
    let mut l = lock_queues(ctx, &[key]);
    match open(ctx, &mut l, key, false) {
        Lookup::Found(s) if queue_at(&l, s).tag() == tag => Some((l, s, seq)),
        Lookup::WrongType => None,
        _ => {
            ctx.out.int(0);
            None
        }
    }
}

/// `QPUSH queue payload [payload ...]`
pub fn qpush(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let mut l = lock_queues(ctx, &[key]);
    let Some(s) = queue_or_create(ctx, &mut l, key) else {
        return;
    };
    let now = l.now;
    push_at(&mut l, s, db, key, 0, now, &args[2..]);
    let ready = queue_at(&l, s).ready_len();
    ctx.out.int(ready as i64);
}

/// `QADD queue [DELAY ms] [PRIORITY p] payload`
pub fn qadd(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let payload = args[args.len() - 1];
    let opts = &args[2..args.len() - 1];
    let (mut delay, mut priority) = (0u64, 0u8);
    if !opts.len().is_multiple_of(2) {
        return ctx.err(errors::SYNTAX);
    }
    for pair in opts.chunks_exact(2) {
        if eq_ic(pair[0], b"delay") {
            let Some(d) = parse_ms(ctx, pair[1], "DELAY", 0) else {
                return;
            };
            delay = d;
        } else if eq_ic(pair[0], b"priority") {
            match parse_int(pair[1]) {
                Some(p) if (0..=255).contains(&p) => priority = p as u8,
                Some(_) => return ctx.err("ERR PRIORITY must be between 0 and 255"),
                None => return ctx.err(errors::NOT_INT),
            }
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let mut l = lock_queues(ctx, &[key]);
    let Some(s) = queue_or_create(ctx, &mut l, key) else {
        return;
    };
    let visible_at = l.now + delay;
    let seq = push_at(&mut l, s, db, key, priority, visible_at, &[payload]);
    let id = queue_at(&l, s).id(seq);
    ctx.out.bulk(id.as_bytes());
}

/// Parses `[COUNT n]` at `args[from..]`: `Some(None)` when absent.
fn parse_opt_count(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], from: usize) -> Option<Option<usize>> {
    match &args[from..] {
        [] => Some(None),
        [kw, n] if eq_ic(kw, b"count") => parse_count(ctx, n).map(Some),
        _ => {
            ctx.err(errors::SYNTAX);
            None
        }
    }
}

/// Removes up to `count` ready messages of the queue at `s` for good and logs it.
fn pop_at(l: &mut Locked<'_>, s: Slot, db: usize, key: &[u8], count: usize) -> Vec<CompactBytes> {
    let v = queue_mut(l, s).pop(count);
    if !v.is_empty() {
        l.log(LogEntry::QPop {
            db: db as u32,
            key,
            count: v.len() as u64,
        });
    }
    v
}

/// `QPOP queue [COUNT n]`
pub fn qpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(count) = parse_opt_count(ctx, args, 2) else {
        return;
    };
    let (key, db) = (args[1], ctx.db);
    let mut l = lock_queues(ctx, &[key]);
    let s = match open(ctx, &mut l, key, false) {
        Lookup::Found(s) => s,
        Lookup::Missing => {
            return match count {
                None => ctx.out.null(),
                Some(_) => ctx.out.null_array(),
            }
        }
        Lookup::WrongType => return,
    };
    let v = pop_at(&mut l, s, db, key, count.unwrap_or(1));
    match count {
        None => match v.first() {
            Some(p) => ctx.out.bulk(p.as_slice()),
            None => ctx.out.null(),
        },
        Some(_) if v.is_empty() => ctx.out.null_array(),
        Some(_) => {
            ctx.out.array(v.len());
            for p in &v {
                ctx.out.bulk(p.as_slice());
            }
        }
    }
}

/// The earliest time one of `keys`' queues has a lease ending or a delay passing.
fn next_due(l: &mut Locked<'_>, db: usize, keys: &[&[u8]]) -> u64 {
    keys.iter()
        .filter_map(|k| {
            let s = l.find(db, k)?;
            match &l.entry(s).value {
                Value::Queue(q) => q.next_due(),
                _ => None,
            }
        })
        .min()
        .unwrap_or(0)
}

/// `BQPOP queue [queue ...] timeout`
pub fn bqpop(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(deadline) = ctx.block_timeout(args[args.len() - 1]) else {
        return;
    };
    let keys = &args[1..args.len() - 1];
    let db = ctx.db;
    let mut l = lock_queues(ctx, keys);
    for &key in keys {
        match open(ctx, &mut l, key, false) {
            Lookup::Found(s) => {
                let v = pop_at(&mut l, s, db, key, 1);
                if let Some(p) = v.first() {
                    ctx.out.array(2);
                    ctx.out.bulk(key);
                    ctx.out.bulk(p.as_slice());
                    return;
                }
            }
            Lookup::Missing => {}
            Lookup::WrongType => return,
        }
    }
    let retry = next_due(&mut l, db, keys);
    drop(l);
    super::block_on_with(ctx, keys, deadline, retry, TimeoutReply::NullArray);
}

/// `QRESERVE queue [COUNT n] [LEASE ms] [BLOCK ms]`
pub fn qreserve(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let (mut count, mut lease, mut block) = (1usize, None, None);
    let opts = &args[2..];
    if !opts.len().is_multiple_of(2) {
        return ctx.err(errors::SYNTAX);
    }
    for pair in opts.chunks_exact(2) {
        if eq_ic(pair[0], b"count") {
            let Some(n) = parse_count(ctx, pair[1]) else {
                return;
            };
            count = n;
        } else if eq_ic(pair[0], b"lease") {
            let Some(ms) = parse_ms(ctx, pair[1], "LEASE", 1) else {
                return;
            };
            lease = Some(ms);
        } else if eq_ic(pair[0], b"block") {
            let Some(ms) = parse_ms(ctx, pair[1], "BLOCK", 0) else {
                return;
            };
            block = Some(ms);
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let mut l = lock_queues(ctx, &[key]);
    let found = match open(ctx, &mut l, key, false) {
        Lookup::Found(s) => Some(s),
        Lookup::Missing => None,
        Lookup::WrongType => return,
    };
    if let Some(s) = found {
        let lease = lease.unwrap_or(queue_at(&l, s).config.lease_ms);
        let deadline = l.now + lease;
        let seqs = queue_mut(&mut l, s).reserve(count, deadline);
        if !seqs.is_empty() {
            l.log(LogEntry::QReserve {
                db: db as u32,
                key,
                count: seqs.len() as u64,
                deadline,
            });
            let q = queue_at(&l, s);
            ctx.out.array(seqs.len());
            for seq in seqs {
                ctx.out.array(3);
                ctx.out.bulk(q.id(seq).as_bytes());
                match q.get(seq) {
                    Some(m) => {
                        ctx.out.bulk(m.payload.as_slice());
                        ctx.out.int(i64::from(m.deliveries));
                    }
                    None => {
                        ctx.out.null();
                        ctx.out.int(0);
                    }
                }
            }
            return;
        }
    }
    match block {
        None => ctx.out.array(0),
        Some(ms) => {
            let deadline = if ms == 0 { 0 } else { ctx.now + ms };
            let retry = next_due(&mut l, db, &[key]);
            drop(l);
            super::block_on_with(ctx, &[key], deadline, retry, TimeoutReply::EmptyArray);
        }
    }
}

/// `QACK queue id [id ...]`
pub fn qack(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    // Every id is parsed, and checked, before anything changes.
    let Ok(ids) = args[2..]
        .iter()
        .map(|id| crate::types::queue::parse_id(id))
        .collect::<Result<Vec<_>, _>>()
    else {
        return ctx.err(BAD_ID);
    };
    let mut l = lock_queues(ctx, &[key]);
    let s = match open(ctx, &mut l, key, false) {
        Lookup::Found(s) => s,
        Lookup::Missing => return ctx.out.int(0),
        Lookup::WrongType => return,
    };
    let q = queue_mut(&mut l, s);
    let mut acked = Vec::new();
    for (seq, tag) in ids {
        if tag == q.tag() && q.ack(seq) {
            acked.push(seq);
        }
    }
    let n = acked.len();
    if n > 0 {
        l.log(LogEntry::QAck {
            db: db as u32,
            key,
            seqs: Cow::Owned(acked),
        });
    }
    ctx.out.int(n as i64);
}

/// `QNACK queue id [DELAY ms]`
pub fn qnack(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let delay = match &args[3..] {
        [] => 0,
        [kw, ms] if eq_ic(kw, b"delay") => match parse_ms(ctx, ms, "DELAY", 0) {
            Some(d) => d,
            None => return,
        },
        _ => return ctx.err(errors::SYNTAX),
    };
    let Some((mut l, s, seq)) = open_message(ctx, key, args[2]) else {
        return;
    };
    let now = l.now;
    let visible_at = now + delay;
    let q = queue_mut(&mut l, s);
    let outcome = q.nack(seq, now, visible_at);
    let ready = q.ready_len() > 0;
    let target = q.config.dead_letter.clone();
    if outcome == Nacked::NotLeased {
        return ctx.out.int(0);
    }
    l.log(LogEntry::QNack {
        db: db as u32,
        key,
        seq,
        now,
        visible_at,
    });
    match outcome {
        Nacked::Dead(d) => {
            if let Some(t) = target {
                dead_letter(&mut l, db, t.as_slice(), vec![d]);
            }
        }
        _ if ready => l.signal_ready(db, key),
        _ => {}
    }
    ctx.out.int(1);
}

/// `QTOUCH queue id ms`
pub fn qtouch(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let Some(ms) = parse_ms(ctx, args[3], "lease", 1) else {
        return;
    };
    let Some((mut l, s, seq)) = open_message(ctx, key, args[2]) else {
        return;
    };
    let deadline = l.now + ms;
    let touched = queue_mut(&mut l, s).touch(seq, deadline);
    if touched {
        l.log(LogEntry::QTouch {
            db: db as u32,
            key,
            seq,
            deadline,
        });
    }
    ctx.out.int(i64::from(touched));
}

/// `QPEEK queue [COUNT n]`
pub fn qpeek(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(count) = parse_opt_count(ctx, args, 2) else {
        return;
    };
    let key = args[1];
    let mut l = lock_queues(ctx, &[key]);
    let s = match open(ctx, &mut l, key, true) {
        Lookup::Found(s) => Some(s),
        Lookup::Missing => None,
        Lookup::WrongType => return,
    };
    let q = s.map(|s| queue_at(&l, s));
    match count {
        None => match q.and_then(|q| q.peek(1).next()) {
            Some(m) => ctx.out.bulk(m.payload.as_slice()),
            None => ctx.out.null(),
        },
        Some(n) => {
            let v: Vec<&[u8]> = q
                .map(|q| q.peek(n).map(|m| m.payload.as_slice()).collect())
                .unwrap_or_default();
            ctx.out.array(v.len());
            for p in v {
                ctx.out.bulk(p);
            }
        }
    }
}

/// `QLEN queue`
pub fn qlen(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let mut l = lock_queues(ctx, &[key]);
    match open(ctx, &mut l, key, true) {
        Lookup::Found(s) => ctx.out.int(queue_at(&l, s).ready_len() as i64),
        Lookup::Missing => ctx.out.int(0),
        Lookup::WrongType => {}
    }
}

/// `QINFO queue`
pub fn qinfo(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let mut l = lock_queues(ctx, &[key]);
    let s = match open(ctx, &mut l, key, true) {
        Lookup::Found(s) => s,
        Lookup::Missing => return ctx.err(errors::NO_SUCH_KEY),
        Lookup::WrongType => return,
    };
    let now = l.now;
    let q = queue_at(&l, s);
    let out = &mut *ctx.out;
    out.map(10);
    let int = |out: &mut flashdb_protocol::ReplyBuf, name: &str, v: u64| {
        out.bulk(name.as_bytes());
        out.int(i64::try_from(v).unwrap_or(i64::MAX));
    };
    int(out, "ready", q.ready_len() as u64);
    int(out, "leased", q.leased_len() as u64);
    int(out, "delayed", q.delayed_len() as u64);
    int(out, "dead_lettered", q.counters.dead_lettered);
    int(out, "pushed", q.counters.pushed);
    int(out, "acked", q.counters.acked);
    int(out, "max_attempts", u64::from(q.config.max_attempts));
    out.bulk(b"dead_letter");
    match &q.config.dead_letter {
        Some(d) => out.bulk(d.as_slice()),
        None => out.null(),
    }
    int(out, "lease_ms", q.config.lease_ms);
    let age = q
        .oldest_ready_enqueued_at()
        .map_or(0, |at| now.saturating_sub(at));
    int(out, "oldest_ready_age_ms", age);
}

/// `QCONFIG queue [MAXATTEMPTS n] [DEADLETTER queue] [LEASE ms]`
pub fn qconfig(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let opts = &args[2..];
    if !opts.len().is_multiple_of(2) {
        return ctx.err(errors::SYNTAX);
    }
    let (mut max_attempts, mut dead_letter, mut lease) = (None, None, None);
    for pair in opts.chunks_exact(2) {
        if eq_ic(pair[0], b"maxattempts") {
            match parse_int(pair[1]) {
                None => return ctx.err(errors::NOT_INT),
                Some(n) if n < 0 => return ctx.err("ERR MAXATTEMPTS can't be negative"),
                Some(n) => match u32::try_from(n) {
                    Ok(n) => max_attempts = Some(n),
                    Err(_) => return ctx.err("ERR MAXATTEMPTS is out of range"),
                },
            }
        } else if eq_ic(pair[0], b"deadletter") {
            if pair[1] == key {
                return ctx.err("ERR a queue can't be its own dead-letter queue");
            }
            dead_letter = Some(pair[1]);
        } else if eq_ic(pair[0], b"lease") {
            let Some(ms) = parse_ms(ctx, pair[1], "LEASE", 1) else {
                return;
            };
            lease = Some(ms);
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let mut keys: Vec<&[u8]> = vec![key];
    keys.extend(dead_letter.filter(|d| !d.is_empty()));
    let mut l = lock_queues(ctx, &keys);
    if let Some(d) = dead_letter.filter(|d| !d.is_empty()) {
        if let Lookup::WrongType = lookup(ctx, &mut l, d, false, is::queue) {
            return;
        }
    }
    let Some(s) = queue_or_create(ctx, &mut l, key) else {
        return;
    };
    let q = queue_mut(&mut l, s);
    let config = QueueConfig {
        max_attempts: max_attempts.unwrap_or(q.config.max_attempts),
        dead_letter: match dead_letter {
            None => q.config.dead_letter.clone(),
            Some([]) => None,
            Some(d) => Some(CompactBytes::new(d)),
        },
        lease_ms: lease.unwrap_or(q.config.lease_ms),
    };
    q.config = config.clone();
    let tag = q.tag();
    l.log(LogEntry::QConfig {
        db: db as u32,
        key,
        tag,
        max_attempts: config.max_attempts,
        dead_letter: config
            .dead_letter
            .as_ref()
            .map_or(&b""[..], |d| d.as_slice()),
        lease_ms: config.lease_ms,
    });
    ctx.out.ok();
}

/// `QPURGE queue`
pub fn qpurge(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let (key, db) = (args[1], ctx.db);
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::queue) {
        Lookup::Found(s) => s,
        Lookup::Missing => return ctx.out.int(0),
        Lookup::WrongType => return,
    };
    let n = queue_mut(&mut l, s).purge();
    if n > 0 {
        l.log(LogEntry::QPurge { db: db as u32, key });
    }
    ctx.out.int(n as i64);
}
