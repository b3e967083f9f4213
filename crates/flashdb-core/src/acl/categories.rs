//! ACL categories: their names in Redis's order, and which commands each holds, taken
//! from the command table once.

use std::sync::OnceLock;

use crate::table::{all_specs, command_index, CommandSpec};

/// Redis's categories in `ACL CAT` order, then FlashDB's own (`queue`).
const NAMES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
    "queue",
];

/// Every category name, as `ACL CAT` lists them.
pub fn category_names() -> &'static [&'static str] {
    NAMES
}

/// The position of a category in [`category_names`], matched case-insensitively as
/// Redis matches them.
pub fn is_category(name: &[u8]) -> Option<usize> {
    NAMES
        .iter()
        .position(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

/// The commands (and subcommands) of category `cat`, in table order: a container right
/// before its subcommands, as `ACL CAT name` lists them.
pub fn commands_in_category(cat: usize) -> &'static [&'static CommandSpec] {
    static MEMBERS: OnceLock<Vec<Vec<&'static CommandSpec>>> = OnceLock::new();
    let all = MEMBERS.get_or_init(|| {
        let mut out = vec![Vec::new(); NAMES.len()];
        for spec in table_order() {
            for c in spec.acl_categories() {
                if let Some(i) = is_category(c.trim_start_matches('@').as_bytes()) {
                    out[i].push(*spec);
                }
            }
        }
        out
    });
    all.get(cat).map_or(&[], |v| v.as_slice())
}

/// Every command, each container followed by its subcommands: the order in which rule
/// descriptions name single commands.
pub(crate) fn table_order() -> &'static [&'static CommandSpec] {
    static ORDER: OnceLock<Vec<&'static CommandSpec>> = OnceLock::new();
    ORDER.get_or_init(|| {
        let mut v = Vec::new();
        for spec in crate::table::COMMANDS {
            v.push(spec);
            v.extend(spec.subcommands.iter());
        }
        v
    })
}

/// How many command bits a selector holds: one per command and subcommand.
pub(crate) fn command_bits() -> usize {
    all_specs().len()
}

/// The bit of a command in a selector.
pub(crate) fn bit_of(spec: &'static CommandSpec) -> usize {
    command_index(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_hold_the_commands_redis_puts_in_them() {
        let names = |cat: &str| -> Vec<&str> {
            let i = is_category(cat.as_bytes()).unwrap_or(usize::MAX);
            commands_in_category(i).iter().map(|c| c.name).collect()
        };
        assert!(names("string").contains(&"get"));
        assert!(!names("string").contains(&"hget"));
        assert!(names("admin").contains(&"config|set"));
        assert!(names("queue").iter().all(|n| !n.is_empty()));
        assert!(!names("queue").is_empty());
        assert_eq!(is_category(b"SortedSet"), Some(4));
        assert_eq!(is_category(b"all"), None);
    }
}
