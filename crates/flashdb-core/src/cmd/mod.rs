//! Command implementations, one module per family (as Redis's `t_string.c`, `db.c`,
//! `expire.c`): each parses its arguments, works on the keyspace, writes the reply and
//! describes its effect for the log.

pub mod command;
pub mod db;
pub mod expire;
pub mod keys;
pub mod string;

use crate::keyspace::Locked;
use crate::value::Value;

/// Case-insensitive comparison of an argument with a lowercase keyword.
pub fn eq_ic(arg: &[u8], keyword: &[u8]) -> bool {
    arg.eq_ignore_ascii_case(keyword)
}

/// What a lookup of a string key found.
pub enum Found<'a> {
    /// No such key.
    Missing,
    /// The key holds another type.
    WrongType,
    /// The string's bytes.
    Str(&'a [u8]),
}

/// Looks up a string key; `read` counts a keyspace hit or miss and touches the key.
pub fn string_value<'l>(l: &'l mut Locked<'_>, db: usize, key: &[u8], read: bool) -> Found<'l> {
    let slot = if read {
        l.find_read(db, key)
    } else {
        l.find(db, key)
    };
    match slot {
        None => Found::Missing,
        Some(s) => match &l.entry(s).value {
            Value::Str(v) => Found::Str(v.as_slice()),
            #[allow(unreachable_patterns)]
            _ => Found::WrongType,
        },
    }
}
