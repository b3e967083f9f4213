//! The values a key can hold.
//!
//! Each data type keeps its structure in its own module (`types`); this enum only ties
//! them together so the keyspace can store any of them. Collections are boxed so that a
//! key holding a short string stays as small as before.

use crate::compact::CompactBytes;
use crate::types::{hash::Hash, list::List, queue::Queue, set::Set, stream::Stream, zset::ZSet};

/// A key's value.
#[derive(Debug, Clone)]
pub enum Value {
    /// A string (Redis's `string` type), binary-safe.
    Str(CompactBytes),
    /// A hash.
    Hash(Box<Hash>),
    /// A list.
    List(Box<List>),
    /// A set.
    Set(Box<Set>),
    /// A sorted set.
    ZSet(Box<ZSet>),
    /// A work queue (FlashDB's own type).
    Queue(Box<Queue>),
    /// A stream.
    Stream(Box<Stream>),
}

impl PartialEq for Value {
    /// Equal contents (collections compare element by element, in iteration order for
    /// ordered types and as sets otherwise).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Hash(a), Value::Hash(b)) => {
                a.len() == b.len() && a.iter().all(|(f, v)| b.get(f) == Some(v))
            }
            (Value::Set(a), Value::Set(b)) => {
                a.len() == b.len() && a.iter().all(|m| b.contains(&m))
            }
            (Value::ZSet(a), Value::ZSet(b)) => a.len() == b.len() && a.iter().eq(b.iter()),
            (Value::Queue(a), Value::Queue(b)) => a == b,
            (Value::Stream(a), Value::Stream(b)) => {
                a.len() == b.len()
                    && a.last_id == b.last_id
                    && a.max_deleted == b.max_deleted
                    && a.entries_added == b.entries_added
                    && a.groups == b.groups
                    && a.entries().eq(b.entries())
            }
            _ => false,
        }
    }
}

impl Value {
    /// The name `TYPE` answers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Queue(_) => "queue",
            Value::Stream(_) => "stream",
        }
    }

    /// `OBJECT ENCODING` for a collection (`None` for strings, whose encoding depends on
    /// the entry's flags).
    pub fn collection_encoding(&self) -> Option<&'static str> {
        match self {
            Value::Str(_) => None,
            Value::Hash(h) => Some(h.encoding()),
            Value::List(_) => Some("quicklist"),
            Value::Set(s) => Some(s.encoding()),
            Value::ZSet(z) => Some(z.encoding()),
            Value::Queue(_) => Some("queue"),
            Value::Stream(_) => Some("stream"),
        }
    }
}
