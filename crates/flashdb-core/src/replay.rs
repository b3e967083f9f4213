//! Applying log entries to the keyspace: how recovery rebuilds the state.
//!
//! Replay never looks at the clock: keys whose TTL passed are not expired while replaying
//! (their deletions, if they happened, are in the log as [`LogEntry::Del`]), so the state
//! after replay is exactly the state the entries describe.

use thiserror::Error;

use crate::codec::{decode_value, DecodeError};
use crate::compact::CompactBytes;
use crate::db::flags;
use crate::keyspace::{Keyspace, Ttl};
use crate::log_entry::LogEntry;
use crate::numeric::parse_int;
use crate::types::list::End;
use crate::types::queue::{Queue, QueueConfig};
use crate::types::set::Set;
use crate::types::stream::StreamId;
use crate::value::Value;

/// A log entry that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplayError {
    /// The entry names a database that does not exist with this `--databases`.
    #[error("the log refers to database {db}, but the server has {databases} databases (was --databases lowered?)")]
    NoSuchDatabase {
        /// The database in the entry.
        db: u32,
        /// Databases configured.
        databases: usize,
    },
    /// A stored value that cannot be decoded.
    #[error("a logged value cannot be decoded: {0}")]
    BadValue(DecodeError),
    /// An edit that would make a string longer than any server accepts.
    #[error("the log edits a string at offset {len}, beyond the largest string a server accepts")]
    TooLong {
        /// The offset in the entry.
        len: u64,
    },
}

/// The longest string replay builds (4 TiB): no server holds one this long, so only a
/// damaged or foreign log reaches past it, and it must not make recovery allocate that.
pub const MAX_STRING_LEN: u64 = 1 << 42;

fn check_db(ks: &Keyspace, db: u32) -> Result<usize, ReplayError> {
    let d = db as usize;
    if d < ks.databases() {
        Ok(d)
    } else {
        Err(ReplayError::NoSuchDatabase {
            db,
            databases: ks.databases(),
        })
    }
}

/// Applies one entry.
pub fn apply(ks: &Keyspace, e: &LogEntry<'_>) -> Result<(), ReplayError> {
    match e {
        LogEntry::Set {
            db,
            key,
            value,
            ttl,
        } => {
            let db = check_db(ks, *db)?;
            let mut l = ks.replay_lock(&[key]);
            l.set(db, key, Value::Str(CompactBytes::new(value)), *ttl);
        }
        LogEntry::Append { db, key, data } => {
            let db = check_db(ks, *db)?;
            let mut l = ks.replay_lock(&[key]);
            match l.find(db, key) {
                Some(s) => {
                    let e = l.entry_mut(s);
                    let mut v = match &mut e.value {
                        Value::Str(cur) => {
                            std::mem::replace(cur, CompactBytes::new(b"")).into_vec()
                        }
                        _ => Vec::new(),
                    };
                    v.extend_from_slice(data);
                    e.value = Value::Str(CompactBytes::from_vec(v));
                    e.flags |= flags::RAW;
                }
                None => {
                    let s = l.set(db, key, Value::Str(CompactBytes::new(data)), Ttl::Clear);
                    l.entry_mut(s).flags |= flags::RAW;
                }
            }
        }
        LogEntry::SetRange {
            db,
            key,
            offset,
            data,
        } => {
            let db = check_db(ks, *db)?;
            let mut l = ks.replay_lock(&[key]);
            let end = offset
                .checked_add(data.len() as u64)
                .filter(|&e| e <= MAX_STRING_LEN)
                .ok_or(ReplayError::TooLong { len: *offset })?;
            let (off, end) = (*offset as usize, end as usize);
            // In place: a bitmap edited bit by bit replays in time linear in its edits.
            let slot = match l.find(db, key) {
                Some(s) if matches!(l.entry(s).value, Value::Str(_)) => s,
                _ => l.set(db, key, Value::Str(CompactBytes::new(b"")), Ttl::Keep),
            };
            let e = l.entry_mut(slot);
            if let Value::Str(cur) = &mut e.value {
                cur.grow_zeroed(end);
                cur.as_mut_slice()[off..end].copy_from_slice(data);
            }
            e.flags |= flags::RAW;
        }
        LogEntry::IncrBy { db, key, delta } => {
            let db = check_db(ks, *db)?;
            let mut l = ks.replay_lock(&[key]);
            let current = match l.find(db, key) {
                Some(s) => match &l.entry(s).value {
                    Value::Str(cur) => parse_int(cur.as_slice()).unwrap_or(0),
                    _ => 0,
                },
                None => 0,
            };
            let new = current.wrapping_add(*delta).to_string();
            l.set(
                db,
                key,
                Value::Str(CompactBytes::new(new.as_bytes())),
                Ttl::Keep,
            );
        }
        LogEntry::Del { db, key } => {
            let db = check_db(ks, *db)?;
            ks.replay_lock(&[key]).delete(db, key);
        }
        LogEntry::Expire { db, key, at } => {
            let db = check_db(ks, *db)?;
            let mut l = ks.replay_lock(&[key]);
            if let Some(s) = l.find(db, key) {
                l.set_expire(s, *at);
            }
        }
        LogEntry::Persist { db, key } => {
            let db = check_db(ks, *db)?;
            let mut l = ks.replay_lock(&[key]);
            if let Some(s) = l.find(db, key) {
                l.set_expire(s, 0);
            }
        }
        LogEntry::Rename { db, from, to } => {
            let db = check_db(ks, *db)?;
            let mut l = ks.replay_lock(&[from, to]);
            if let Some(s) = l.find(db, from) {
                let mut entry = l.remove(s);
                l.delete(db, to);
                entry.key = CompactBytes::new(to);
                l.insert_entry(db, entry);
            }
        }
        LogEntry::Move { db, key, to_db } => {
            let (db, to_db) = (check_db(ks, *db)?, check_db(ks, *to_db)?);
            let mut l = ks.replay_lock(&[key]);
            if let Some(s) = l.find(db, key) {
                let entry = l.remove(s);
                l.delete(to_db, key);
                l.insert_entry(to_db, entry);
            }
        }
        LogEntry::Copy {
            db,
            from,
            to_db,
            to,
        } => {
            let (db, to_db) = (check_db(ks, *db)?, check_db(ks, *to_db)?);
            let mut l = ks.replay_lock(&[from, to]);
            if let Some(s) = l.find(db, from) {
                let mut entry = l.entry(s).clone();
                l.delete(to_db, to);
                entry.key = CompactBytes::new(to);
                l.insert_entry(to_db, entry);
            }
        }
        LogEntry::SwapDb { a, b } => {
            let (a, b) = (check_db(ks, *a)?, check_db(ks, *b)?);
            ks.replay_lock_all().swap(a, b);
        }
        LogEntry::FlushDb { db } => {
            let db = check_db(ks, *db)?;
            drop(ks.replay_lock_all().flush(Some(db)));
        }
        LogEntry::FlushAll => drop(ks.replay_lock_all().flush(None)),
        LogEntry::Functions { codes } => {
            ks.store_functions(codes.iter().map(|c| c.to_vec()).collect())
        }
        LogEntry::HSet { db, key, items } => edit(ks, *db, key, new_hash, |v| {
            if let Value::Hash(h) = v {
                for p in items.chunks_exact(2) {
                    h.set(p[0], p[1]);
                }
            }
        })?,
        LogEntry::HDel { db, key, items } => edit(ks, *db, key, new_hash, |v| {
            if let Value::Hash(h) = v {
                for f in items.iter() {
                    h.remove(f);
                }
            }
        })?,
        LogEntry::Push {
            db,
            key,
            left,
            items,
        } => edit(ks, *db, key, new_list, |v| {
            if let Value::List(l) = v {
                for i in items.iter() {
                    l.push(end(*left), i);
                }
            }
        })?,
        LogEntry::Pop {
            db,
            key,
            left,
            count,
        } => edit(ks, *db, key, new_list, |v| {
            if let Value::List(l) = v {
                for _ in 0..*count {
                    if l.pop(end(*left)).is_none() {
                        break;
                    }
                }
            }
        })?,
        LogEntry::LSet {
            db,
            key,
            index,
            value,
        } => edit(ks, *db, key, new_list, |v| {
            if let Value::List(l) = v {
                if let Some(i) = l.index(*index) {
                    l.set(i, value);
                }
            }
        })?,
        LogEntry::LInsert {
            db,
            key,
            before,
            pivot,
            value,
        } => edit(ks, *db, key, new_list, |v| {
            if let Value::List(l) = v {
                l.insert(*before, pivot, value);
            }
        })?,
        LogEntry::LRem {
            db,
            key,
            count,
            value,
        } => edit(ks, *db, key, new_list, |v| {
            if let Value::List(l) = v {
                l.remove(*count, value);
            }
        })?,
        LogEntry::LTrim {
            db,
            key,
            start,
            stop,
        } => edit(ks, *db, key, new_list, |v| {
            if let Value::List(l) = v {
                l.trim(*start, *stop);
            }
        })?,
        LogEntry::PfAdd {
            db,
            key,
            sparse_max,
            items,
        } => {
            let db = check_db(ks, *db)?;
            let mut l = ks.replay_lock(&[key]);
            let sparse_max = usize::try_from(*sparse_max).unwrap_or(usize::MAX);
            // A corrupt HLL fails here exactly where the command failed.
            let _ = crate::cmd::hyperloglog::add_elements(&mut l, db, key, items, sparse_max);
        }
        LogEntry::XAdd {
            db,
            key,
            id,
            fields,
        } => edit(ks, *db, key, new_stream, |v| {
            if let Value::Stream(s) = v {
                let pairs: Vec<(&[u8], &[u8])> =
                    fields.chunks_exact(2).map(|p| (p[0], p[1])).collect();
                let id = StreamId::new(id.0, id.1);
                if id > s.last_id {
                    s.append(id, &pairs);
                }
            }
        })?,
        LogEntry::XDel { db, key, ids } => edit_stream(ks, *db, key, |s| {
            for id in ids {
                s.delete(StreamId::new(id.0, id.1));
            }
        })?,
        LogEntry::XTrim { db, key, before } => edit_stream(ks, *db, key, |s| {
            s.remove_before(StreamId::new(before.0, before.1));
        })?,
        LogEntry::XGroupSet {
            db,
            key,
            group,
            last,
            entries_read,
            mkstream,
            ..
        } => {
            if *mkstream {
                let dbn = check_db(ks, *db)?;
                let mut l = ks.replay_lock(&[key]);
                if l.find(dbn, key).is_none() {
                    l.set(dbn, key, new_stream(), Ttl::Clear);
                }
            }
            edit_stream(ks, *db, key, |s| {
                let g = s.groups.entry(group.to_vec()).or_default();
                g.last_id = StreamId::new(last.0, last.1);
                g.entries_read = *entries_read;
            })?
        }
        LogEntry::XGroupDestroy { db, key, group } => edit_stream(ks, *db, key, |s| {
            s.groups.remove(*group);
        })?,
        LogEntry::XConsumer {
            db,
            key,
            group,
            consumer,
            seen,
            ..
        } => edit_stream(ks, *db, key, |s| {
            if let Some(g) = s.groups.get_mut(*group) {
                g.consumers.entry(consumer.to_vec()).or_default().seen_time = *seen;
            }
        })?,
        LogEntry::XConsumerDel {
            db,
            key,
            group,
            consumer,
        } => edit_stream(ks, *db, key, |s| {
            if let Some(g) = s.groups.get_mut(*group) {
                g.remove_consumer(consumer);
            }
        })?,
        LogEntry::XPending {
            db,
            key,
            group,
            consumer,
            entries,
        } => edit_stream(ks, *db, key, |s| {
            if let Some(g) = s.groups.get_mut(*group) {
                for (id, time, count) in entries {
                    g.assign(StreamId::new(id.0, id.1), consumer, *time, *count);
                }
            }
        })?,
        LogEntry::XAck {
            db,
            key,
            group,
            ids,
        } => edit_stream(ks, *db, key, |s| {
            if let Some(g) = s.groups.get_mut(*group) {
                for id in ids {
                    g.ack(StreamId::new(id.0, id.1));
                }
            }
        })?,
        LogEntry::XSetId {
            db,
            key,
            last,
            entries_added,
            max_deleted,
        } => edit_stream(ks, *db, key, |s| {
            s.last_id = StreamId::new(last.0, last.1);
            s.entries_added = *entries_added;
            s.max_deleted = StreamId::new(max_deleted.0, max_deleted.1);
        })?,
        LogEntry::SAdd { db, key, items } => {
            let first = items.first().copied().unwrap_or_default();
            edit(
                ks,
                *db,
                key,
                || Value::Set(Box::new(Set::for_member(first))),
                |v| {
                    if let Value::Set(s) = v {
                        for m in items.iter() {
                            s.add(m);
                        }
                    }
                },
            )?
        }
        LogEntry::SRem { db, key, items } => edit(ks, *db, key, new_set, |v| {
            if let Value::Set(s) = v {
                for m in items.iter() {
                    s.remove(m);
                }
            }
        })?,
        LogEntry::ZAdd { db, key, pairs } => edit(ks, *db, key, new_zset, |v| {
            if let Value::ZSet(z) = v {
                for (score, m) in pairs.iter() {
                    z.set(m, *score);
                }
            }
        })?,
        LogEntry::ZRem { db, key, items } => edit(ks, *db, key, new_zset, |v| {
            if let Value::ZSet(z) = v {
                for m in items.iter() {
                    z.remove(m);
                }
            }
        })?,
        LogEntry::Restore {
            db,
            key,
            value,
            ttl,
        } => {
            let db = check_db(ks, *db)?;
            let value = decode_value(value).map_err(ReplayError::BadValue)?;
            ks.replay_lock(&[key]).set(db, key, value, *ttl);
        }
        LogEntry::QPush {
            db,
            key,
            tag,
            now,
            priority,
            visible_at,
            items,
        } => edit_queue(ks, *db, key, Some(*tag), |q| {
            for p in items.iter() {
                q.push(*now, *priority, *visible_at, p);
            }
        })?,
        LogEntry::QAdvance {
            db,
            key,
            now,
            count,
        } => edit_queue(ks, *db, key, None, |q| {
            let limit = usize::try_from(*count).unwrap_or(usize::MAX);
            q.advance(*now, limit, &mut Vec::new());
        })?,
        LogEntry::QPop { db, key, count } => edit_queue(ks, *db, key, None, |q| {
            q.pop(usize::try_from(*count).unwrap_or(usize::MAX));
        })?,
        LogEntry::QReserve {
            db,
            key,
            count,
            deadline,
        } => edit_queue(ks, *db, key, None, |q| {
            q.reserve(usize::try_from(*count).unwrap_or(usize::MAX), *deadline);
        })?,
        LogEntry::QAck { db, key, seqs } => edit_queue(ks, *db, key, None, |q| {
            for s in seqs.iter() {
                q.ack(*s);
            }
        })?,
        LogEntry::QNack {
            db,
            key,
            seq,
            now,
            visible_at,
        } => edit_queue(ks, *db, key, None, |q| {
            q.nack(*seq, *now, *visible_at);
        })?,
        LogEntry::QTouch {
            db,
            key,
            seq,
            deadline,
        } => edit_queue(ks, *db, key, None, |q| {
            q.touch(*seq, *deadline);
        })?,
        LogEntry::QConfig {
            db,
            key,
            tag,
            max_attempts,
            dead_letter,
            lease_ms,
        } => edit_queue(ks, *db, key, Some(*tag), |q| {
            q.config = QueueConfig {
                max_attempts: *max_attempts,
                dead_letter: (!dead_letter.is_empty()).then(|| CompactBytes::new(dead_letter)),
                lease_ms: *lease_ms,
            };
        })?,
        LogEntry::QPurge { db, key } => edit_queue(ks, *db, key, None, |q| {
            q.purge();
        })?,
    }
    Ok(())
}

fn end(left: bool) -> End {
    if left {
        End::Left
    } else {
        End::Right
    }
}

fn new_hash() -> Value {
    Value::Hash(Box::default())
}

fn new_list() -> Value {
    Value::List(Box::default())
}

fn new_set() -> Value {
    Value::Set(Box::default())
}

fn new_zset() -> Value {
    Value::ZSet(Box::default())
}

/// Applies `f` to the collection under `key`, created by `make` when missing (or when the
/// key holds another type, which a log written by FlashDB never asks for), and deletes the
/// key when the collection ends up empty, as every command does.
fn edit(
    ks: &Keyspace,
    db: u32,
    key: &[u8],
    make: impl FnOnce() -> Value,
    f: impl FnOnce(&mut Value),
) -> Result<(), ReplayError> {
    let db = check_db(ks, db)?;
    let mut l = ks.replay_lock(&[key]);
    let fresh = make();
    let slot = match l.find(db, key) {
        Some(s) if std::mem::discriminant(&l.entry(s).value) == std::mem::discriminant(&fresh) => s,
        _ => l.set(db, key, fresh, Ttl::Clear),
    };
    f(&mut l.entry_mut(slot).value);
    if collection_len(&l.entry(slot).value) == Some(0) {
        l.remove(slot);
    }
    Ok(())
}

fn new_stream() -> Value {
    Value::Stream(Box::default())
}

/// Applies `f` to the stream under `key`; skipped when there is none (a log written by
/// FlashDB never names one that is missing or of another type). Streams stay when empty.
fn edit_stream(
    ks: &Keyspace,
    db: u32,
    key: &[u8],
    f: impl FnOnce(&mut crate::types::stream::Stream),
) -> Result<(), ReplayError> {
    let db = check_db(ks, db)?;
    let mut l = ks.replay_lock(&[key]);
    if let Some(slot) = l.find(db, key) {
        if let Value::Stream(s) = &mut l.entry_mut(slot).value {
            f(s);
        }
    }
    Ok(())
}

/// Applies `f` to the queue under `key`. A missing queue is created with `create`'s tag
/// when the entry creates queues, and the entry is skipped otherwise (as is one naming a
/// key of another type, which a log written by FlashDB never holds). Queues stay when
/// empty.
fn edit_queue(
    ks: &Keyspace,
    db: u32,
    key: &[u8],
    create: Option<u32>,
    f: impl FnOnce(&mut Queue),
) -> Result<(), ReplayError> {
    let db = check_db(ks, db)?;
    let mut l = ks.replay_lock(&[key]);
    let slot = match (l.find(db, key), create) {
        (Some(s), _) if matches!(l.entry(s).value, Value::Queue(_)) => s,
        (_, Some(tag)) => l.set(db, key, Value::Queue(Box::new(Queue::new(tag))), Ttl::Clear),
        _ => return Ok(()),
    };
    if let Value::Queue(q) = &mut l.entry_mut(slot).value {
        f(q);
    }
    Ok(())
}

/// The number of elements of a collection (`None` for a string, and for a queue, which
/// is not deleted when it empties).
pub fn collection_len(v: &Value) -> Option<usize> {
    match v {
        Value::Str(_) => None,
        Value::Hash(h) => Some(h.len()),
        Value::List(l) => Some(l.len()),
        Value::Set(s) => Some(s.len()),
        Value::ZSet(z) => Some(z.len()),
        Value::Queue(_) | Value::Stream(_) => None,
    }
}

/// Applies the entries of one record in order.
pub fn apply_all(ks: &Keyspace, entries: &[LogEntry<'_>]) -> Result<(), ReplayError> {
    entries.iter().try_for_each(|e| apply(ks, e))
}
