//! Applying log entries to the keyspace: how recovery rebuilds the state.
//!
//! Replay never looks at the clock: keys whose TTL passed are not expired while replaying
//! (their deletions, if they happened, are in the log as [`LogEntry::Del`]), so the state
//! after replay is exactly the state the entries describe.

use thiserror::Error;

use crate::compact::CompactBytes;
use crate::db::flags;
use crate::keyspace::{Keyspace, Ttl};
use crate::log_entry::LogEntry;
use crate::numeric::parse_int;
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
}

/// The time replay runs at: no key is ever expired by the clock during replay.
const REPLAY_NOW: u64 = 0;

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
            let mut l = ks.lock_at(REPLAY_NOW, &[key]);
            l.set(db, key, Value::Str(CompactBytes::new(value)), *ttl);
        }
        LogEntry::Append { db, key, data } => {
            let db = check_db(ks, *db)?;
            let mut l = ks.lock_at(REPLAY_NOW, &[key]);
            match l.find(db, key) {
                Some(s) => {
                    let e = l.entry_mut(s);
                    let Value::Str(cur) = &mut e.value;
                    let mut v = std::mem::replace(cur, CompactBytes::new(b"")).into_vec();
                    v.extend_from_slice(data);
                    *cur = CompactBytes::from_vec(v);
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
            let mut l = ks.lock_at(REPLAY_NOW, &[key]);
            let off = usize::try_from(*offset).unwrap_or(usize::MAX);
            let mut v = match l.find(db, key) {
                Some(s) => {
                    let Value::Str(cur) = &l.entry(s).value;
                    cur.as_slice().to_vec()
                }
                None => Vec::new(),
            };
            let end = off.saturating_add(data.len());
            if v.len() < end {
                v.resize(end, 0);
            }
            v[off..end].copy_from_slice(data);
            let s = l.set(db, key, Value::Str(CompactBytes::from_vec(v)), Ttl::Keep);
            l.entry_mut(s).flags |= flags::RAW;
        }
        LogEntry::IncrBy { db, key, delta } => {
            let db = check_db(ks, *db)?;
            let mut l = ks.lock_at(REPLAY_NOW, &[key]);
            let current = match l.find(db, key) {
                Some(s) => {
                    let Value::Str(cur) = &l.entry(s).value;
                    parse_int(cur.as_slice()).unwrap_or(0)
                }
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
            ks.lock_at(REPLAY_NOW, &[key]).delete(db, key);
        }
        LogEntry::Expire { db, key, at } => {
            let db = check_db(ks, *db)?;
            let mut l = ks.lock_at(REPLAY_NOW, &[key]);
            if let Some(s) = l.find(db, key) {
                l.set_expire(s, *at);
            }
        }
        LogEntry::Persist { db, key } => {
            let db = check_db(ks, *db)?;
            let mut l = ks.lock_at(REPLAY_NOW, &[key]);
            if let Some(s) = l.find(db, key) {
                l.set_expire(s, 0);
            }
        }
        LogEntry::Rename { db, from, to } => {
            let db = check_db(ks, *db)?;
            let mut l = ks.lock_at(REPLAY_NOW, &[from, to]);
            if let Some(s) = l.find(db, from) {
                let mut entry = l.remove(s);
                l.delete(db, to);
                entry.key = CompactBytes::new(to);
                l.insert_entry(db, entry);
            }
        }
        LogEntry::Move { db, key, to_db } => {
            let (db, to_db) = (check_db(ks, *db)?, check_db(ks, *to_db)?);
            let mut l = ks.lock_at(REPLAY_NOW, &[key]);
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
            let mut l = ks.lock_at(REPLAY_NOW, &[from, to]);
            if let Some(s) = l.find(db, from) {
                let mut entry = l.entry(s).clone();
                l.delete(to_db, to);
                entry.key = CompactBytes::new(to);
                l.insert_entry(to_db, entry);
            }
        }
        LogEntry::SwapDb { a, b } => {
            let (a, b) = (check_db(ks, *a)?, check_db(ks, *b)?);
            ks.swap(a, b);
        }
        LogEntry::FlushDb { db } => {
            let db = check_db(ks, *db)?;
            drop(ks.flush(Some(db)));
        }
        LogEntry::FlushAll => drop(ks.flush(None)),
    }
    Ok(())
}

/// Applies the entries of one record in order.
pub fn apply_all(ks: &Keyspace, entries: &[LogEntry<'_>]) -> Result<(), ReplayError> {
    entries.iter().try_for_each(|e| apply(ks, e))
}
