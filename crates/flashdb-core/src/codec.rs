//! Binary encoding of log entries and of snapshot entries.
//!
//! The storage layer frames and checksums these bytes; this module gives them meaning.
//! Decoding checks every length against the bytes actually present, so a damaged or
//! hostile payload yields a [`DecodeError`], never a panic or an unbounded allocation.
//!
//! Integers are LEB128 varints unless noted; byte strings are a varint length followed by
//! the bytes; times are 8-byte little-endian Unix milliseconds.

use smallvec::SmallVec;
use thiserror::Error;

use crate::compact::CompactBytes;
use crate::db::Entry;
use crate::keyspace::Ttl;
use crate::log_entry::LogEntry;
use crate::types::hash::Hash;
use crate::types::list::{End, List};
use crate::types::queue::{Message, Queue, QueueConfig, QueueCounters, State as QState};
use crate::types::set::Set;
use crate::types::zset::ZSet;
use crate::value::Value;

/// A payload that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The payload ends in the middle of a field.
    #[error("truncated payload at byte {0}")]
    Truncated(usize),
    /// An entry or value tag that this version does not know.
    #[error("unknown tag {tag} at byte {at}")]
    UnknownTag {
        /// The tag byte.
        tag: u8,
        /// Its offset.
        at: usize,
    },
    /// A varint longer than 10 bytes or over 64 bits.
    #[error("invalid varint at byte {0}")]
    BadVarint(usize),
    /// A value that no command can produce (a NaN score, an empty collection).
    #[error("invalid value at byte {0}")]
    BadValue(usize),
}

// Entry tags. Never reuse a number: logs written by older versions must stay readable.
const T_SET: u8 = 1;
const T_APPEND: u8 = 2;
const T_SETRANGE: u8 = 3;
const T_INCRBY: u8 = 4;
const T_DEL: u8 = 5;
const T_EXPIRE: u8 = 6;
const T_PERSIST: u8 = 7;
const T_RENAME: u8 = 8;
const T_MOVE: u8 = 9;
const T_COPY: u8 = 10;
const T_SWAPDB: u8 = 11;
const T_FLUSHDB: u8 = 12;
const T_FLUSHALL: u8 = 13;
const T_HSET: u8 = 14;
const T_HDEL: u8 = 15;
const T_PUSH: u8 = 16;
const T_POP: u8 = 17;
const T_LSET: u8 = 18;
const T_LINSERT: u8 = 19;
const T_LREM: u8 = 20;
const T_LTRIM: u8 = 21;
const T_SADD: u8 = 22;
const T_SREM: u8 = 23;
const T_ZADD: u8 = 24;
const T_ZREM: u8 = 25;
const T_RESTORE: u8 = 26;
const T_QPUSH: u8 = 27;
const T_QADVANCE: u8 = 28;
const T_QPOP: u8 = 29;
const T_QRESERVE: u8 = 30;
const T_QACK: u8 = 31;
const T_QNACK: u8 = 32;
const T_QTOUCH: u8 = 33;
const T_QCONFIG: u8 = 34;
const T_QPURGE: u8 = 35;
const T_PFADD: u8 = 36;
const T_XADD: u8 = 37;
const T_XDEL: u8 = 38;
const T_XTRIM: u8 = 39;
const T_XSETID: u8 = 40;
const T_XGROUPSET: u8 = 41;
const T_XGROUPDESTROY: u8 = 42;
const T_XCONSUMER: u8 = 43;
const T_XCONSUMERDEL: u8 = 44;
const T_XPENDING: u8 = 45;
const T_XACK: u8 = 46;
const T_FUNCTIONS: u8 = 47;

// TTL tags.
const TTL_KEEP: u8 = 0;
const TTL_CLEAR: u8 = 1;
const TTL_AT: u8 = 2;

// Value tags in snapshots.
const V_STRING: u8 = 0;
const V_HASH: u8 = 1;
const V_LIST: u8 = 2;
const V_SET: u8 = 3;
const V_ZSET: u8 = 4;
const V_QUEUE: u8 = 5;
const V_STREAM: u8 = 6;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Room for the fields that follow too (a TTL, a number): a value of many megabytes
    // is then copied once, not copied again when the next byte doubles the buffer.
    out.reserve(b.len() + 32);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_items(out: &mut Vec<u8>, items: &[&[u8]]) {
    put_varint(out, items.len() as u64);
    for i in items {
        put_bytes(out, i);
    }
}

fn put_ttl(out: &mut Vec<u8>, ttl: &Ttl) {
    match ttl {
        Ttl::Keep => out.push(TTL_KEEP),
        Ttl::Clear => out.push(TTL_CLEAR),
        Ttl::At(at) => {
            out.push(TTL_AT);
            put_u64(out, *at);
        }
    }
}

fn put_key(out: &mut Vec<u8>, tag: u8, db: u32, key: &[u8]) {
    out.push(tag);
    put_varint(out, u64::from(db));
    put_bytes(out, key);
}

/// A bounds-checked reader over a payload.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(DecodeError::Truncated(self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(DecodeError::BadVarint(start));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::BadVarint(start))
    }

    fn u32v(&mut self) -> Result<u32, DecodeError> {
        let at = self.pos;
        u32::try_from(self.varint()?).map_err(|_| DecodeError::BadVarint(at))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let end = self
            .pos
            .checked_add(8)
            .ok_or(DecodeError::Truncated(self.pos))?;
        let b = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated(self.pos))?;
        self.pos = end;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let at = self.pos;
        let len = usize::try_from(self.varint()?).map_err(|_| DecodeError::Truncated(at))?;
        let end = self
            .pos
            .checked_add(len)
            .ok_or(DecodeError::Truncated(at))?;
        // The length is checked against the bytes present before anything is allocated.
        let b = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated(at))?;
        self.pos = end;
        Ok(b)
    }

    fn ttl(&mut self) -> Result<Ttl, DecodeError> {
        let at = self.pos;
        match self.u8()? {
            TTL_KEEP => Ok(Ttl::Keep),
            TTL_CLEAR => Ok(Ttl::Clear),
            TTL_AT => Ok(Ttl::At(self.u64()?)),
            tag => Err(DecodeError::UnknownTag { tag, at }),
        }
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        let at = self.pos;
        let v = f64::from_bits(self.u64()?);
        if v.is_nan() {
            return Err(DecodeError::BadValue(at));
        }
        Ok(v)
    }

    /// A count of elements that each take at least one byte: never more than the bytes
    /// left, so a hostile count cannot make the decoder reserve memory.
    fn count(&mut self) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.varint()?;
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(DecodeError::Truncated(at));
        }
        Ok(n as usize)
    }

    fn items(&mut self) -> Result<Vec<&'a [u8]>, DecodeError> {
        let n = self.count()?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.bytes()?);
        }
        Ok(v)
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

/// Appends the encoding of one entry.
pub fn encode_entry(e: &LogEntry<'_>, out: &mut Vec<u8>) {
    match e {
        LogEntry::Set {
            db,
            key,
            value,
            ttl,
        } => {
            out.push(T_SET);
            put_varint(out, u64::from(*db));
            put_bytes(out, key);
            put_bytes(out, value);
            put_ttl(out, ttl);
        }
        LogEntry::Append { db, key, data } => {
            out.push(T_APPEND);
            put_varint(out, u64::from(*db));
            put_bytes(out, key);
            put_bytes(out, data);
        }
        LogEntry::SetRange {
            db,
            key,
            offset,
            data,
        } => {
            out.push(T_SETRANGE);
            put_varint(out, u64::from(*db));
            put_bytes(out, key);
            put_varint(out, *offset);
            put_bytes(out, data);
        }
        LogEntry::IncrBy { db, key, delta } => {
            out.push(T_INCRBY);
            put_varint(out, u64::from(*db));
            put_bytes(out, key);
            put_u64(out, *delta as u64);
        }
        LogEntry::Del { db, key } => {
            out.push(T_DEL);
            put_varint(out, u64::from(*db));
            put_bytes(out, key);
        }
        LogEntry::Expire { db, key, at } => {
            out.push(T_EXPIRE);
            put_varint(out, u64::from(*db));
            put_bytes(out, key);
            put_u64(out, *at);
        }
        LogEntry::Persist { db, key } => {
            out.push(T_PERSIST);
            put_varint(out, u64::from(*db));
            put_bytes(out, key);
        }
        LogEntry::Rename { db, from, to } => {
            out.push(T_RENAME);
            put_varint(out, u64::from(*db));
            put_bytes(out, from);
            put_bytes(out, to);
        }
        LogEntry::Move { db, key, to_db } => {
            out.push(T_MOVE);
            put_varint(out, u64::from(*db));
            put_bytes(out, key);
            put_varint(out, u64::from(*to_db));
        }
        LogEntry::Copy {
            db,
            from,
            to_db,
            to,
        } => {
            out.push(T_COPY);
            put_varint(out, u64::from(*db));
            put_bytes(out, from);
            put_varint(out, u64::from(*to_db));
            put_bytes(out, to);
        }
        LogEntry::SwapDb { a, b } => {
            out.push(T_SWAPDB);
            put_varint(out, u64::from(*a));
            put_varint(out, u64::from(*b));
        }
        LogEntry::FlushDb { db } => {
            out.push(T_FLUSHDB);
            put_varint(out, u64::from(*db));
        }
        LogEntry::FlushAll => out.push(T_FLUSHALL),
        LogEntry::Functions { codes } => {
            out.push(T_FUNCTIONS);
            put_varint(out, codes.len() as u64);
            for c in codes {
                put_bytes(out, c);
            }
        }
        LogEntry::HSet { db, key, items } => {
            put_key(out, T_HSET, *db, key);
            put_items(out, items);
        }
        LogEntry::HDel { db, key, items } => {
            put_key(out, T_HDEL, *db, key);
            put_items(out, items);
        }
        LogEntry::Push {
            db,
            key,
            left,
            items,
        } => {
            put_key(out, T_PUSH, *db, key);
            out.push(u8::from(*left));
            put_items(out, items);
        }
        LogEntry::Pop {
            db,
            key,
            left,
            count,
        } => {
            put_key(out, T_POP, *db, key);
            out.push(u8::from(*left));
            put_varint(out, *count);
        }
        LogEntry::LSet {
            db,
            key,
            index,
            value,
        } => {
            put_key(out, T_LSET, *db, key);
            put_u64(out, *index as u64);
            put_bytes(out, value);
        }
        LogEntry::LInsert {
            db,
            key,
            before,
            pivot,
            value,
        } => {
            put_key(out, T_LINSERT, *db, key);
            out.push(u8::from(*before));
            put_bytes(out, pivot);
            put_bytes(out, value);
        }
        LogEntry::LRem {
            db,
            key,
            count,
            value,
        } => {
            put_key(out, T_LREM, *db, key);
            put_u64(out, *count as u64);
            put_bytes(out, value);
        }
        LogEntry::LTrim {
            db,
            key,
            start,
            stop,
        } => {
            put_key(out, T_LTRIM, *db, key);
            put_u64(out, *start as u64);
            put_u64(out, *stop as u64);
        }
        LogEntry::SAdd { db, key, items } => {
            put_key(out, T_SADD, *db, key);
            put_items(out, items);
        }
        LogEntry::PfAdd {
            db,
            key,
            sparse_max,
            items,
        } => {
            put_key(out, T_PFADD, *db, key);
            put_u64(out, *sparse_max);
            put_items(out, items);
        }
        LogEntry::SRem { db, key, items } => {
            put_key(out, T_SREM, *db, key);
            put_items(out, items);
        }
        LogEntry::XAdd {
            db,
            key,
            id,
            fields,
        } => {
            put_key(out, T_XADD, *db, key);
            put_varint(out, id.0);
            put_varint(out, id.1);
            put_items(out, fields);
        }
        LogEntry::XDel { db, key, ids } => {
            put_key(out, T_XDEL, *db, key);
            put_varint(out, ids.len() as u64);
            for id in ids {
                put_varint(out, id.0);
                put_varint(out, id.1);
            }
        }
        LogEntry::XTrim { db, key, before } => {
            put_key(out, T_XTRIM, *db, key);
            put_varint(out, before.0);
            put_varint(out, before.1);
        }
        LogEntry::XGroupSet {
            db,
            key,
            group,
            last,
            entries_read,
            created,
            mkstream,
            announce,
        } => {
            put_key(out, T_XGROUPSET, *db, key);
            put_bytes(out, group);
            put_varint(out, last.0);
            put_varint(out, last.1);
            // 0 for unknown, else the count plus one.
            put_varint(out, entries_read.map_or(0, |n| n.saturating_add(1)));
            out.push(u8::from(*created) | (u8::from(*mkstream) << 1) | (u8::from(*announce) << 2));
        }
        LogEntry::XGroupDestroy { db, key, group } => {
            put_key(out, T_XGROUPDESTROY, *db, key);
            put_bytes(out, group);
        }
        LogEntry::XConsumer {
            db,
            key,
            group,
            consumer,
            seen,
            created,
        } => {
            put_key(out, T_XCONSUMER, *db, key);
            put_bytes(out, group);
            put_bytes(out, consumer);
            put_varint(out, *seen);
            out.push(u8::from(*created));
        }
        LogEntry::XConsumerDel {
            db,
            key,
            group,
            consumer,
        } => {
            put_key(out, T_XCONSUMERDEL, *db, key);
            put_bytes(out, group);
            put_bytes(out, consumer);
        }
        LogEntry::XPending {
            db,
            key,
            group,
            consumer,
            entries,
        } => {
            put_key(out, T_XPENDING, *db, key);
            put_bytes(out, group);
            put_bytes(out, consumer);
            put_varint(out, entries.len() as u64);
            for (id, time, count) in entries {
                put_varint(out, id.0);
                put_varint(out, id.1);
                put_varint(out, *time);
                put_varint(out, *count);
            }
        }
        LogEntry::XAck {
            db,
            key,
            group,
            ids,
        } => {
            put_key(out, T_XACK, *db, key);
            put_bytes(out, group);
            put_varint(out, ids.len() as u64);
            for id in ids {
                put_varint(out, id.0);
                put_varint(out, id.1);
            }
        }
        LogEntry::XSetId {
            db,
            key,
            last,
            entries_added,
            max_deleted,
        } => {
            put_key(out, T_XSETID, *db, key);
            put_varint(out, last.0);
            put_varint(out, last.1);
            put_varint(out, *entries_added);
            put_varint(out, max_deleted.0);
            put_varint(out, max_deleted.1);
        }
        LogEntry::ZAdd { db, key, pairs } => {
            put_key(out, T_ZADD, *db, key);
            put_varint(out, pairs.len() as u64);
            for (score, m) in pairs.iter() {
                put_u64(out, score.to_bits());
                put_bytes(out, m);
            }
        }
        LogEntry::ZRem { db, key, items } => {
            put_key(out, T_ZREM, *db, key);
            put_items(out, items);
        }
        LogEntry::Restore {
            db,
            key,
            value,
            ttl,
        } => {
            put_key(out, T_RESTORE, *db, key);
            put_bytes(out, value);
            put_ttl(out, ttl);
        }
        LogEntry::QPush {
            db,
            key,
            tag,
            now,
            priority,
            visible_at,
            items,
        } => {
            put_key(out, T_QPUSH, *db, key);
            put_varint(out, u64::from(*tag));
            put_u64(out, *now);
            out.push(*priority);
            put_u64(out, *visible_at);
            put_items(out, items);
        }
        LogEntry::QAdvance {
            db,
            key,
            now,
            count,
        } => {
            put_key(out, T_QADVANCE, *db, key);
            put_u64(out, *now);
            put_varint(out, *count);
        }
        LogEntry::QPop { db, key, count } => {
            put_key(out, T_QPOP, *db, key);
            put_varint(out, *count);
        }
        LogEntry::QReserve {
            db,
            key,
            count,
            deadline,
        } => {
            put_key(out, T_QRESERVE, *db, key);
            put_varint(out, *count);
            put_u64(out, *deadline);
        }
        LogEntry::QAck { db, key, seqs } => {
            put_key(out, T_QACK, *db, key);
            put_varint(out, seqs.len() as u64);
            for s in seqs.iter() {
                put_varint(out, *s);
            }
        }
        LogEntry::QNack {
            db,
            key,
            seq,
            now,
            visible_at,
        } => {
            put_key(out, T_QNACK, *db, key);
            put_varint(out, *seq);
            put_u64(out, *now);
            put_u64(out, *visible_at);
        }
        LogEntry::QTouch {
            db,
            key,
            seq,
            deadline,
        } => {
            put_key(out, T_QTOUCH, *db, key);
            put_varint(out, *seq);
            put_u64(out, *deadline);
        }
        LogEntry::QConfig {
            db,
            key,
            tag,
            max_attempts,
            dead_letter,
            lease_ms,
        } => {
            put_key(out, T_QCONFIG, *db, key);
            put_varint(out, u64::from(*tag));
            put_varint(out, u64::from(*max_attempts));
            put_bytes(out, dead_letter);
            put_varint(out, *lease_ms);
        }
        LogEntry::QPurge { db, key } => put_key(out, T_QPURGE, *db, key),
    }
}

/// Encodes the entries of one write (one log record's payload).
pub fn encode_entries(entries: &[LogEntry<'_>], out: &mut Vec<u8>) {
    for e in entries {
        encode_entry(e, out);
    }
}

/// Decodes a record payload back into its entries.
pub fn decode_entries(payload: &[u8]) -> Result<SmallVec<[LogEntry<'_>; 2]>, DecodeError> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    // Inline: most records hold one or two entries, and recovery decodes a million
    // records a second; a heap vector per record was a tenth of a restart.
    let mut out = SmallVec::new();
    while !r.done() {
        let at = r.pos;
        let e = match r.u8()? {
            T_SET => LogEntry::Set {
                db: r.u32v()?,
                key: r.bytes()?,
                value: r.bytes()?,
                ttl: r.ttl()?,
            },
            T_APPEND => LogEntry::Append {
                db: r.u32v()?,
                key: r.bytes()?,
                data: r.bytes()?,
            },
            T_SETRANGE => LogEntry::SetRange {
                db: r.u32v()?,
                key: r.bytes()?,
                offset: r.varint()?,
                data: r.bytes()?,
            },
            T_INCRBY => LogEntry::IncrBy {
                db: r.u32v()?,
                key: r.bytes()?,
                delta: r.u64()? as i64,
            },
            T_DEL => LogEntry::Del {
                db: r.u32v()?,
                key: r.bytes()?,
            },
            T_EXPIRE => LogEntry::Expire {
                db: r.u32v()?,
                key: r.bytes()?,
                at: r.u64()?,
            },
            T_PERSIST => LogEntry::Persist {
                db: r.u32v()?,
                key: r.bytes()?,
            },
            T_RENAME => LogEntry::Rename {
                db: r.u32v()?,
                from: r.bytes()?,
                to: r.bytes()?,
            },
            T_MOVE => LogEntry::Move {
                db: r.u32v()?,
                key: r.bytes()?,
                to_db: r.u32v()?,
            },
            T_COPY => LogEntry::Copy {
                db: r.u32v()?,
                from: r.bytes()?,
                to_db: r.u32v()?,
                to: r.bytes()?,
            },
            T_SWAPDB => LogEntry::SwapDb {
                a: r.u32v()?,
                b: r.u32v()?,
            },
            T_FLUSHDB => LogEntry::FlushDb { db: r.u32v()? },
            T_FLUSHALL => LogEntry::FlushAll,
            T_FUNCTIONS => {
                let n = r.count()?;
                let mut codes = Vec::with_capacity(n);
                for _ in 0..n {
                    codes.push(r.bytes()?);
                }
                LogEntry::Functions { codes }
            }
            T_HSET => LogEntry::HSet {
                db: r.u32v()?,
                key: r.bytes()?,
                items: r.items()?.into(),
            },
            T_HDEL => LogEntry::HDel {
                db: r.u32v()?,
                key: r.bytes()?,
                items: r.items()?.into(),
            },
            T_PUSH => LogEntry::Push {
                db: r.u32v()?,
                key: r.bytes()?,
                left: r.u8()? != 0,
                items: r.items()?.into(),
            },
            T_POP => LogEntry::Pop {
                db: r.u32v()?,
                key: r.bytes()?,
                left: r.u8()? != 0,
                count: r.varint()?,
            },
            T_LSET => LogEntry::LSet {
                db: r.u32v()?,
                key: r.bytes()?,
                index: r.u64()? as i64,
                value: r.bytes()?,
            },
            T_LINSERT => LogEntry::LInsert {
                db: r.u32v()?,
                key: r.bytes()?,
                before: r.u8()? != 0,
                pivot: r.bytes()?,
                value: r.bytes()?,
            },
            T_LREM => LogEntry::LRem {
                db: r.u32v()?,
                key: r.bytes()?,
                count: r.u64()? as i64,
                value: r.bytes()?,
            },
            T_LTRIM => LogEntry::LTrim {
                db: r.u32v()?,
                key: r.bytes()?,
                start: r.u64()? as i64,
                stop: r.u64()? as i64,
            },
            T_SADD => LogEntry::SAdd {
                db: r.u32v()?,
                key: r.bytes()?,
                items: r.items()?.into(),
            },
            T_PFADD => LogEntry::PfAdd {
                db: r.u32v()?,
                key: r.bytes()?,
                sparse_max: r.u64()?,
                items: r.items()?.into(),
            },
            T_SREM => LogEntry::SRem {
                db: r.u32v()?,
                key: r.bytes()?,
                items: r.items()?.into(),
            },
            T_XADD => LogEntry::XAdd {
                db: r.u32v()?,
                key: r.bytes()?,
                id: (r.varint()?, r.varint()?),
                fields: r.items()?.into(),
            },
            T_XDEL => {
                let db = r.u32v()?;
                let key = r.bytes()?;
                let n = r.count()?;
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push((r.varint()?, r.varint()?));
                }
                LogEntry::XDel { db, key, ids }
            }
            T_XTRIM => LogEntry::XTrim {
                db: r.u32v()?,
                key: r.bytes()?,
                before: (r.varint()?, r.varint()?),
            },
            T_XGROUPSET => {
                let (db, key, group) = (r.u32v()?, r.bytes()?, r.bytes()?);
                let last = (r.varint()?, r.varint()?);
                let read = r.varint()?;
                let flags = r.u8()?;
                LogEntry::XGroupSet {
                    db,
                    key,
                    group,
                    last,
                    entries_read: read.checked_sub(1),
                    created: flags & 1 != 0,
                    mkstream: flags & 2 != 0,
                    announce: flags & 4 != 0,
                }
            }
            T_XGROUPDESTROY => LogEntry::XGroupDestroy {
                db: r.u32v()?,
                key: r.bytes()?,
                group: r.bytes()?,
            },
            T_XCONSUMER => LogEntry::XConsumer {
                db: r.u32v()?,
                key: r.bytes()?,
                group: r.bytes()?,
                consumer: r.bytes()?,
                seen: r.varint()?,
                created: r.u8()? != 0,
            },
            T_XCONSUMERDEL => LogEntry::XConsumerDel {
                db: r.u32v()?,
                key: r.bytes()?,
                group: r.bytes()?,
                consumer: r.bytes()?,
            },
            T_XPENDING => {
                let (db, key, group, consumer) = (r.u32v()?, r.bytes()?, r.bytes()?, r.bytes()?);
                let n = r.count()?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push(((r.varint()?, r.varint()?), r.varint()?, r.varint()?));
                }
                LogEntry::XPending {
                    db,
                    key,
                    group,
                    consumer,
                    entries,
                }
            }
            T_XACK => {
                let (db, key, group) = (r.u32v()?, r.bytes()?, r.bytes()?);
                let n = r.count()?;
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push((r.varint()?, r.varint()?));
                }
                LogEntry::XAck {
                    db,
                    key,
                    group,
                    ids,
                }
            }
            T_XSETID => LogEntry::XSetId {
                db: r.u32v()?,
                key: r.bytes()?,
                last: (r.varint()?, r.varint()?),
                entries_added: r.varint()?,
                max_deleted: (r.varint()?, r.varint()?),
            },
            T_ZADD => {
                let db = r.u32v()?;
                let key = r.bytes()?;
                let n = r.count()?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    pairs.push((r.f64()?, r.bytes()?));
                }
                LogEntry::ZAdd {
                    db,
                    key,
                    pairs: pairs.into(),
                }
            }
            T_ZREM => LogEntry::ZRem {
                db: r.u32v()?,
                key: r.bytes()?,
                items: r.items()?.into(),
            },
            T_RESTORE => LogEntry::Restore {
                db: r.u32v()?,
                key: r.bytes()?,
                value: r.bytes()?,
                ttl: r.ttl()?,
            },
            T_QPUSH => LogEntry::QPush {
                db: r.u32v()?,
                key: r.bytes()?,
                tag: r.u32v()?,
                now: r.u64()?,
                priority: r.u8()?,
                visible_at: r.u64()?,
                items: r.items()?.into(),
            },
            T_QADVANCE => LogEntry::QAdvance {
                db: r.u32v()?,
                key: r.bytes()?,
                now: r.u64()?,
                count: r.varint()?,
            },
            T_QPOP => LogEntry::QPop {
                db: r.u32v()?,
                key: r.bytes()?,
                count: r.varint()?,
            },
            T_QRESERVE => LogEntry::QReserve {
                db: r.u32v()?,
                key: r.bytes()?,
                count: r.varint()?,
                deadline: r.u64()?,
            },
            T_QACK => {
                let db = r.u32v()?;
                let key = r.bytes()?;
                let n = r.count()?;
                let mut seqs = Vec::with_capacity(n);
                for _ in 0..n {
                    seqs.push(r.varint()?);
                }
                LogEntry::QAck {
                    db,
                    key,
                    seqs: seqs.into(),
                }
            }
            T_QNACK => LogEntry::QNack {
                db: r.u32v()?,
                key: r.bytes()?,
                seq: r.varint()?,
                now: r.u64()?,
                visible_at: r.u64()?,
            },
            T_QTOUCH => LogEntry::QTouch {
                db: r.u32v()?,
                key: r.bytes()?,
                seq: r.varint()?,
                deadline: r.u64()?,
            },
            T_QCONFIG => LogEntry::QConfig {
                db: r.u32v()?,
                key: r.bytes()?,
                tag: r.u32v()?,
                max_attempts: r.u32v()?,
                dead_letter: r.bytes()?,
                lease_ms: r.varint()?,
            },
            T_QPURGE => LogEntry::QPurge {
                db: r.u32v()?,
                key: r.bytes()?,
            },
            tag => return Err(DecodeError::UnknownTag { tag, at }),
        };
        out.push(e);
    }
    Ok(out)
}

/// Appends one key of a snapshot: database, key, expiry time (0: none), value.
pub fn encode_snapshot_entry(db: usize, e: &Entry, out: &mut Vec<u8>) {
    put_varint(out, db as u64);
    put_bytes(out, e.key.as_slice());
    put_u64(out, e.expire_at);
    encode_value(&e.value, out);
}

/// Appends the encoding of a value: a type tag, then the string or the elements (sorted
/// sets in ascending order, each score as 8 little-endian bytes of its IEEE bits).
pub fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) => {
            out.push(V_STRING);
            put_bytes(out, s.as_slice());
        }
        Value::Hash(h) => {
            out.push(V_HASH);
            put_varint(out, h.len() as u64);
            for (f, v) in h.iter() {
                put_bytes(out, f);
                put_bytes(out, v);
            }
        }
        Value::List(l) => {
            out.push(V_LIST);
            put_varint(out, l.len() as u64);
            for e in l.iter() {
                put_bytes(out, e);
            }
        }
        Value::Set(s) => {
            out.push(V_SET);
            put_varint(out, s.len() as u64);
            for m in s.iter() {
                put_bytes(out, &m);
            }
        }
        Value::ZSet(z) => {
            out.push(V_ZSET);
            put_varint(out, z.len() as u64);
            for (m, score) in z.iter() {
                put_u64(out, score.to_bits());
                put_bytes(out, m);
            }
        }
        Value::Queue(q) => encode_queue(q, out),
        Value::Stream(s) => encode_stream(s, out),
    }
}

/// A stream: last id, largest deleted id, entries ever added, the entries (id, then the
/// field-value pairs), then its consumer groups: name, last delivered id, entries read
/// (0 for unknown, else plus one), the pending entries (id, consumer, delivery time and
/// count) and the consumers (name, seen time).
fn encode_stream(s: &crate::types::stream::Stream, out: &mut Vec<u8>) {
    out.push(V_STREAM);
    for id in [s.last_id, s.max_deleted] {
        put_varint(out, id.ms);
        put_varint(out, id.seq);
    }
    put_varint(out, s.entries_added);
    put_varint(out, s.len());
    for e in s.entries() {
        put_varint(out, e.id.ms);
        put_varint(out, e.id.seq);
        put_varint(out, e.fields.len() as u64);
        for (f, v) in &e.fields {
            put_bytes(out, f);
            put_bytes(out, v);
        }
    }
    put_varint(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        put_bytes(out, name);
        put_varint(out, g.last_id.ms);
        put_varint(out, g.last_id.seq);
        put_varint(out, g.entries_read.map_or(0, |n| n.saturating_add(1)));
        put_varint(out, g.pending.len() as u64);
        for (id, p) in &g.pending {
            put_varint(out, id.ms);
            put_varint(out, id.seq);
            put_bytes(out, &p.consumer);
            put_varint(out, p.delivery_time);
            put_varint(out, p.delivery_count);
        }
        put_varint(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            put_bytes(out, cname);
            put_varint(out, c.seen_time);
        }
    }
}

fn read_stream(r: &mut Reader<'_>, at: usize) -> Result<Value, DecodeError> {
    use crate::types::stream::{Stream, StreamId};
    let mut id =
        || -> Result<StreamId, DecodeError> { Ok(StreamId::new(r.varint()?, r.varint()?)) };
    let (last_id, max_deleted) = (id()?, id()?);
    let entries_added = r.varint()?;
    let n = r.count()?;
    let mut s = Stream::new();
    let mut prev: Option<StreamId> = None;
    for _ in 0..n {
        let eid = StreamId::new(r.varint()?, r.varint()?);
        if prev.is_some_and(|p| p >= eid) || eid > last_id {
            return Err(DecodeError::BadValue(at));
        }
        prev = Some(eid);
        let nf = r.count()?;
        if nf == 0 {
            return Err(DecodeError::BadValue(at));
        }
        let mut fields = Vec::with_capacity(nf);
        for _ in 0..nf {
            fields.push((r.bytes()?, r.bytes()?));
        }
        s.append(eid, &fields);
    }
    if (n as u64) > entries_added {
        return Err(DecodeError::BadValue(at));
    }
    let groups = r.count()?;
    for _ in 0..groups {
        let name = r.bytes()?.to_vec();
        let mut g = crate::types::stream::Group {
            last_id: StreamId::new(r.varint()?, r.varint()?),
            entries_read: r.varint()?.checked_sub(1),
            ..Default::default()
        };
        let pending = r.count()?;
        let mut assigned = Vec::with_capacity(pending);
        for _ in 0..pending {
            let id = StreamId::new(r.varint()?, r.varint()?);
            let consumer = r.bytes()?;
            assigned.push((id, consumer, r.varint()?, r.varint()?));
        }
        let consumers = r.count()?;
        for _ in 0..consumers {
            let cname = r.bytes()?.to_vec();
            g.consumers.entry(cname).or_default().seen_time = r.varint()?;
        }
        for (id, consumer, time, count) in assigned {
            // Every pending entry belongs to a listed consumer.
            if !g.consumers.contains_key(consumer) {
                return Err(DecodeError::BadValue(at));
            }
            g.assign(id, consumer, time, count);
        }
        if s.groups.insert(name, g).is_some() {
            return Err(DecodeError::BadValue(at));
        }
    }
    s.last_id = last_id;
    s.max_deleted = max_deleted;
    s.entries_added = entries_added;
    Ok(Value::Stream(Box::new(s)))
}

/// A queue: tag, next sequence number, policy (maximum attempts, dead-letter key, empty
/// for none, lease), counters (pushed, acked, dead-lettered), then each message in
/// sequence order: sequence number, priority byte, deliveries, enqueue time, state byte
/// (0 ready, 1 delayed, 2 leased) with its time for the last two, payload.
fn encode_queue(q: &Queue, out: &mut Vec<u8>) {
    out.push(V_QUEUE);
    put_varint(out, u64::from(q.tag()));
    put_varint(out, q.next_seq());
    put_varint(out, u64::from(q.config.max_attempts));
    put_bytes(
        out,
        q.config
            .dead_letter
            .as_ref()
            .map_or(&b""[..], |d| d.as_slice()),
    );
    put_varint(out, q.config.lease_ms);
    put_varint(out, q.counters.pushed);
    put_varint(out, q.counters.acked);
    put_varint(out, q.counters.dead_lettered);
    let msgs = q.messages();
    put_varint(out, msgs.len() as u64);
    for (seq, m) in msgs {
        put_varint(out, seq);
        out.push(m.priority);
        put_varint(out, u64::from(m.deliveries));
        put_u64(out, m.enqueued_at);
        match m.state {
            QState::Ready => out.push(0),
            QState::Delayed(at) => {
                out.push(1);
                put_u64(out, at);
            }
            QState::Leased(at) => {
                out.push(2);
                put_u64(out, at);
            }
        }
        put_bytes(out, m.payload.as_slice());
    }
}

fn read_queue(r: &mut Reader<'_>, at: usize) -> Result<Value, DecodeError> {
    let tag = r.u32v()?;
    let next_seq = r.varint()?;
    let max_attempts = r.u32v()?;
    let dead_letter = r.bytes()?;
    let lease_ms = r.varint()?;
    if lease_ms == 0 || lease_ms > crate::types::queue::MAX_MS {
        return Err(DecodeError::BadValue(at));
    }
    let config = QueueConfig {
        max_attempts,
        dead_letter: (!dead_letter.is_empty()).then(|| CompactBytes::new(dead_letter)),
        lease_ms,
    };
    let counters = QueueCounters {
        pushed: r.varint()?,
        acked: r.varint()?,
        dead_lettered: r.varint()?,
    };
    let n = r.count()?;
    let mut msgs = Vec::with_capacity(n);
    for _ in 0..n {
        let seq = r.varint()?;
        let priority = r.u8()?;
        let deliveries = r.u32v()?;
        let enqueued_at = r.u64()?;
        let state_at = r.pos;
        let state = match r.u8()? {
            0 => QState::Ready,
            1 => QState::Delayed(r.u64()?),
            2 => QState::Leased(r.u64()?),
            _ => return Err(DecodeError::BadValue(state_at)),
        };
        let payload = CompactBytes::new(r.bytes()?);
        msgs.push((
            seq,
            Message {
                payload,
                priority,
                deliveries,
                enqueued_at,
                state,
            },
        ));
    }
    Queue::from_parts(tag, next_seq, config, counters, msgs)
        .map(|q| Value::Queue(Box::new(q)))
        .ok_or(DecodeError::BadValue(at))
}

/// The version in a `DUMP` payload's trailer. Redis puts its RDB version (at most 11)
/// there: a Redis payload is refused here, and a FlashDB payload by Redis, with the same
/// error, rather than read as something it is not.
pub const DUMP_VERSION: u16 = 0xFD01;

/// A `DUMP` payload: the value as [`encode_value`] writes it, then the version (2 bytes)
/// and a CRC-32C of everything before it (4 bytes), little endian.
pub fn dump_payload(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(v, &mut out);
    seal(&mut out);
    out
}

/// Appends a payload's trailer: the version, then a CRC-32C of everything before it.
fn seal(out: &mut Vec<u8>) {
    out.extend_from_slice(&DUMP_VERSION.to_le_bytes());
    let crc = crc32c::crc32c(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// A `FUNCTION DUMP` payload: the libraries' codes, then the version and a CRC-32C as
/// in [`dump_payload`].
pub fn dump_functions(codes: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, codes.len() as u64);
    for c in codes {
        put_bytes(&mut out, c);
    }
    seal(&mut out);
    out
}

/// Reads a [`dump_functions`] payload, checking its version and checksum first.
pub fn restore_functions(payload: &[u8]) -> Result<Vec<Vec<u8>>, DumpError> {
    let body = checked_body(payload)?;
    let mut r = Reader { buf: body, pos: 0 };
    let read = |r: &mut Reader<'_>| -> Result<Vec<Vec<u8>>, DecodeError> {
        let n = r.count()?;
        let mut codes = Vec::with_capacity(n);
        for _ in 0..n {
            codes.push(r.bytes()?.to_vec());
        }
        Ok(codes)
    };
    let codes = read(&mut r).map_err(|_| DumpError::BadFormat)?;
    if !r.done() {
        return Err(DumpError::BadFormat);
    }
    Ok(codes)
}

/// Why a `RESTORE` payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DumpError {
    /// Another version, another program's payload, or damaged bytes.
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    /// The checksum holds but the value does not decode.
    #[error("Bad data format")]
    BadFormat,
}

/// Reads a [`dump_payload`], checking its version and checksum before decoding.
pub fn restore_payload(payload: &[u8]) -> Result<Value, DumpError> {
    decode_value(checked_body(payload)?).map_err(|_| DumpError::BadFormat)
}

/// What a payload carries before its version and checksum, once both are right.
fn checked_body(payload: &[u8]) -> Result<&[u8], DumpError> {
    let Some(body_len) = payload.len().checked_sub(6) else {
        return Err(DumpError::VersionOrChecksum);
    };
    let (body, trailer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([trailer[0], trailer[1]]);
    let crc = u32::from_le_bytes([trailer[2], trailer[3], trailer[4], trailer[5]]);
    if version != DUMP_VERSION || crc32c::crc32c(&payload[..body_len + 2]) != crc {
        return Err(DumpError::VersionOrChecksum);
    }
    Ok(body)
}

/// Decodes a whole value written by [`encode_value`].
pub fn decode_value(payload: &[u8]) -> Result<Value, DecodeError> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let v = read_value(&mut r)?;
    if !r.done() {
        return Err(DecodeError::BadValue(r.pos));
    }
    Ok(v)
}

fn read_value(r: &mut Reader<'_>) -> Result<Value, DecodeError> {
    let at = r.pos;
    let v = match r.u8()? {
        V_STRING => Value::Str(CompactBytes::new(r.bytes()?)),
        V_HASH => {
            let n = r.count()?;
            let mut h = Hash::default();
            for _ in 0..n {
                let (f, v) = (r.bytes()?, r.bytes()?);
                h.set(f, v);
            }
            if h.is_empty() {
                return Err(DecodeError::BadValue(at));
            }
            Value::Hash(Box::new(h))
        }
        V_LIST => {
            let n = r.count()?;
            let mut l = List::default();
            for _ in 0..n {
                l.push(End::Right, r.bytes()?);
            }
            if l.is_empty() {
                return Err(DecodeError::BadValue(at));
            }
            Value::List(Box::new(l))
        }
        V_SET => {
            let n = r.count()?;
            let mut s: Option<Set> = None;
            for _ in 0..n {
                let m = r.bytes()?;
                s.get_or_insert_with(|| Set::for_member(m)).add(m);
            }
            Value::Set(Box::new(s.ok_or(DecodeError::BadValue(at))?))
        }
        V_ZSET => {
            let n = r.count()?;
            let mut z = ZSet::default();
            for _ in 0..n {
                let score = r.f64()?;
                z.set(r.bytes()?, score);
            }
            if z.is_empty() {
                return Err(DecodeError::BadValue(at));
            }
            Value::ZSet(Box::new(z))
        }
        V_QUEUE => read_queue(r, at)?,
        V_STREAM => read_stream(r, at)?,
        tag => return Err(DecodeError::UnknownTag { tag, at }),
    };
    Ok(v)
}

/// A key read back from a snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotEntry {
    /// Database number.
    pub db: u32,
    /// The key and its value (LRU fields reset).
    pub entry: Entry,
}

/// The database number that marks a snapshot entry holding the function libraries
/// (a list of their codes) instead of a key.
pub const FUNCTIONS_DB: u32 = u32::MAX;

/// A snapshot chunk holding the function libraries' codes: one entry in
/// [`FUNCTIONS_DB`] whose value is the list of codes.
pub fn encode_functions_chunk(codes: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, u64::from(FUNCTIONS_DB));
    put_bytes(&mut out, b"");
    put_u64(&mut out, 0);
    out.push(V_LIST);
    put_varint(&mut out, codes.len() as u64);
    for c in codes {
        put_bytes(&mut out, c);
    }
    out
}

/// Decodes every key of one snapshot chunk.
pub fn decode_snapshot_entries(
    payload: &[u8],
    mut f: impl FnMut(SnapshotEntry),
) -> Result<usize, DecodeError> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let mut n = 0;
    while !r.done() {
        let db = r.u32v()?;
        let key = CompactBytes::new(r.bytes()?);
        let expire_at = r.u64()?;
        let value = read_value(&mut r)?;
        f(SnapshotEntry {
            db,
            entry: Entry {
                key,
                value,
                expire_at,
                // Idle since the server started.
                lru: crate::db::LRU_CLOCK_BASE,
                freq: 0,
                flags: 0,
            },
        });
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_entries<'a>() -> Vec<LogEntry<'a>> {
        vec![
            LogEntry::HSet {
                db: 1,
                key: b"h",
                items: vec![b"f".as_slice(), b"v".as_slice()].into(),
            },
            LogEntry::HDel {
                db: 1,
                key: b"h",
                items: vec![b"f".as_slice()].into(),
            },
            LogEntry::Push {
                db: 0,
                key: b"l",
                left: true,
                items: vec![b"a".as_slice(), b"".as_slice()].into(),
            },
            LogEntry::Pop {
                db: 0,
                key: b"l",
                left: false,
                count: 3,
            },
            LogEntry::LSet {
                db: 0,
                key: b"l",
                index: -1,
                value: b"x",
            },
            LogEntry::LInsert {
                db: 0,
                key: b"l",
                before: false,
                pivot: b"p",
                value: b"x",
            },
            LogEntry::LRem {
                db: 0,
                key: b"l",
                count: i64::MIN,
                value: b"x",
            },
            LogEntry::LTrim {
                db: 0,
                key: b"l",
                start: -5,
                stop: 7,
            },
            LogEntry::SAdd {
                db: 2,
                key: b"s",
                items: vec![b"1".as_slice(), b"m".as_slice()].into(),
            },
            LogEntry::SRem {
                db: 2,
                key: b"s",
                items: vec![b"m".as_slice()].into(),
            },
            LogEntry::PfAdd {
                db: 1,
                key: b"hll",
                sparse_max: 3000,
                items: vec![b"a".as_slice(), b"".as_slice()].into(),
            },
            LogEntry::XAdd {
                db: 2,
                key: b"st",
                id: (1_700_000_000_000, 3),
                fields: vec![b"f".as_slice(), b"v".as_slice()].into(),
            },
            LogEntry::XDel {
                db: 2,
                key: b"st",
                ids: vec![(1, 2), (u64::MAX, u64::MAX)],
            },
            LogEntry::XTrim {
                db: 2,
                key: b"st",
                before: (5, 0),
            },
            LogEntry::XSetId {
                db: 2,
                key: b"st",
                last: (9, 9),
                entries_added: 12,
                max_deleted: (3, 0),
            },
            LogEntry::XGroupSet {
                db: 2,
                key: b"st",
                group: b"g",
                last: (1, 0),
                entries_read: Some(0),
                created: true,
                mkstream: true,
                announce: true,
            },
            LogEntry::XGroupDestroy {
                db: 2,
                key: b"st",
                group: b"g",
            },
            LogEntry::XConsumer {
                db: 2,
                key: b"st",
                group: b"g",
                consumer: b"c",
                seen: 1_700_000_000_000,
                created: true,
            },
            LogEntry::XConsumerDel {
                db: 2,
                key: b"st",
                group: b"g",
                consumer: b"c",
            },
            LogEntry::XPending {
                db: 2,
                key: b"st",
                group: b"g",
                consumer: b"c",
                entries: vec![((1, 2), 3, 4)],
            },
            LogEntry::XAck {
                db: 2,
                key: b"st",
                group: b"g",
                ids: vec![(1, 2)],
            },
            LogEntry::ZAdd {
                db: 3,
                key: b"z",
                pairs: vec![(f64::NEG_INFINITY, b"a".as_slice()), (1.5, b"b".as_slice())].into(),
            },
            LogEntry::ZRem {
                db: 3,
                key: b"z",
                items: vec![b"a".as_slice()].into(),
            },
            LogEntry::Restore {
                db: 4,
                key: b"r",
                value: &[V_STRING, 1, b'x'],
                ttl: Ttl::At(5),
            },
            LogEntry::QPush {
                db: 1,
                key: b"q",
                tag: u32::MAX,
                now: 1_700_000_000_000,
                priority: 255,
                visible_at: 1_700_000_000_500,
                items: vec![b"p1".as_slice(), b"".as_slice()].into(),
            },
            LogEntry::QAdvance {
                db: 1,
                key: b"q",
                now: 5,
                count: 1024,
            },
            LogEntry::QPop {
                db: 1,
                key: b"q",
                count: 3,
            },
            LogEntry::QReserve {
                db: 1,
                key: b"q",
                count: 2,
                deadline: u64::MAX,
            },
            LogEntry::QAck {
                db: 1,
                key: b"q",
                seqs: vec![1, 300, u64::MAX].into(),
            },
            LogEntry::QNack {
                db: 1,
                key: b"q",
                seq: 9,
                now: 10,
                visible_at: 20,
            },
            LogEntry::QTouch {
                db: 1,
                key: b"q",
                seq: 9,
                deadline: 30,
            },
            LogEntry::QConfig {
                db: 1,
                key: b"q",
                tag: 7,
                max_attempts: 3,
                dead_letter: b"dlq",
                lease_ms: 1000,
            },
            LogEntry::QPurge { db: 1, key: b"q" },
            LogEntry::Set {
                db: 3,
                key: b"k",
                value: &[0, 1, 2, 255],
                ttl: Ttl::At(1_700_000_000_123),
            },
            LogEntry::Set {
                db: 0,
                key: b"",
                value: b"",
                ttl: Ttl::Keep,
            },
            LogEntry::Set {
                db: 0,
                key: b"a",
                value: b"b",
                ttl: Ttl::Clear,
            },
            LogEntry::Append {
                db: 1,
                key: b"k",
                data: b"xyz",
            },
            LogEntry::SetRange {
                db: 1,
                key: b"k",
                offset: 1 << 40,
                data: b"x",
            },
            LogEntry::IncrBy {
                db: 2,
                key: b"n",
                delta: i64::MIN,
            },
            LogEntry::Del {
                db: 15,
                key: b"gone",
            },
            LogEntry::Expire {
                db: 0,
                key: b"e",
                at: u64::MAX,
            },
            LogEntry::Persist { db: 0, key: b"e" },
            LogEntry::Rename {
                db: 0,
                from: b"a",
                to: b"b",
            },
            LogEntry::Move {
                db: 0,
                key: b"m",
                to_db: 9,
            },
            LogEntry::Copy {
                db: 0,
                from: b"a",
                to_db: 4,
                to: b"c",
            },
            LogEntry::SwapDb { a: 0, b: u32::MAX },
            LogEntry::FlushDb { db: 7 },
            LogEntry::FlushAll,
            LogEntry::Functions {
                codes: vec![b"#!lua name=a\nreturn 1".as_slice(), b"".as_slice()],
            },
        ]
    }

    #[test]
    fn entries_round_trip() {
        let entries = all_entries();
        let mut buf = Vec::new();
        encode_entries(&entries, &mut buf);
        assert_eq!(decode_entries(&buf).unwrap().as_slice(), entries.as_slice());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut buf = Vec::new();
        encode_entries(&all_entries(), &mut buf);
        for cut in 0..buf.len() {
            // A prefix either decodes to fewer whole entries or fails cleanly.
            let _ = decode_entries(&buf[..cut]);
        }
        assert!(matches!(
            decode_entries(&[T_SET, 0, 200]),
            Err(DecodeError::Truncated(_))
        ));
        assert!(matches!(
            decode_entries(&[99]),
            Err(DecodeError::UnknownTag { tag: 99, at: 0 })
        ));
        let overlong = [
            T_DEL, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert!(matches!(
            decode_entries(&overlong),
            Err(DecodeError::BadVarint(1))
        ));
    }

    #[test]
    fn collection_values_round_trip() {
        let mut h = Hash::default();
        h.set(b"f", b"v");
        let mut l = List::default();
        l.push(End::Right, b"a");
        l.push(End::Right, b"b");
        let mut s = Set::default();
        s.add(b"7");
        s.add(b"x");
        let mut z = ZSet::default();
        z.set(b"m", 1.5);
        z.set(b"n", f64::INFINITY);
        let mut q = Queue::new(0xabcd);
        q.config.max_attempts = 4;
        q.config.dead_letter = Some(CompactBytes::new(b"dead"));
        q.push(100, 3, 0, b"ready");
        q.push(100, 0, 900, b"delayed");
        q.push(100, 0, 0, b"leased");
        q.push(100, 0, 0, b"acked");
        q.reserve(1, 5000);
        q.reserve(1, 6000);
        q.ack(4);
        for v in [
            Value::Queue(Box::new(q)),
            Value::Hash(Box::new(h)),
            Value::List(Box::new(l)),
            Value::Set(Box::new(s)),
            Value::ZSet(Box::new(z)),
        ] {
            let mut buf = Vec::new();
            encode_value(&v, &mut buf);
            assert_eq!(decode_value(&buf).unwrap(), v);
            for cut in 0..buf.len() {
                assert!(decode_value(&buf[..cut]).is_err());
            }
        }
        // A NaN score, an empty collection and a huge count are refused, not allocated.
        let mut nan = vec![V_ZSET, 1];
        nan.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        nan.extend_from_slice(&[1, b'm']);
        assert!(matches!(decode_value(&nan), Err(DecodeError::BadValue(_))));
        assert!(matches!(
            decode_value(&[V_LIST, 0]),
            Err(DecodeError::BadValue(_))
        ));
        // A queue whose message sequence number is not below its next one.
        let mut bad = vec![V_QUEUE, 1, 2, 0, 0, 100, 0, 0, 0, 1];
        bad.extend_from_slice(&[5, 0, 0]);
        bad.extend_from_slice(&0u64.to_le_bytes());
        bad.extend_from_slice(&[0, 1, b'x']);
        assert!(matches!(decode_value(&bad), Err(DecodeError::BadValue(_))));
        bad[9 + 1] = 1;
        assert!(
            decode_value(&bad).is_ok(),
            "the same queue with seq 1 is valid"
        );
        let huge = [V_SET, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(
            decode_value(&huge),
            Err(DecodeError::Truncated(_))
        ));
    }

    #[test]
    fn snapshot_entries_round_trip() {
        let e = Entry {
            key: CompactBytes::new(b"key"),
            value: Value::Str(CompactBytes::new(&[7u8; 100])),
            expire_at: 42,
            lru: 9,
            freq: 1,
            flags: 0,
        };
        let mut buf = Vec::new();
        encode_snapshot_entry(5, &e, &mut buf);
        encode_snapshot_entry(0, &e, &mut buf);
        let mut got = Vec::new();
        assert_eq!(decode_snapshot_entries(&buf, |s| got.push(s)).unwrap(), 2);
        assert_eq!(got[0].db, 5);
        assert_eq!(got[0].entry.key, e.key);
        assert_eq!(got[0].entry.value, e.value);
        assert_eq!(got[0].entry.expire_at, 42);
    }
}
