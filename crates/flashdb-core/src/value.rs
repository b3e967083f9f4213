//! The values a key can hold.
//!
//! Each data type keeps its structure in its own module; this enum only ties them together
//! so the keyspace can store any of them. Later types (hashes, lists, sets, sorted sets,
//! queues) become further variants.

use crate::compact::CompactBytes;

/// A key's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string (Redis's `string` type), binary-safe.
    Str(CompactBytes),
}

impl Value {
    /// The name `TYPE` answers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }
}
