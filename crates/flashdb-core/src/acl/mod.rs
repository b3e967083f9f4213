//! Redis 7 access control lists, as rules: what a user may run, which keys and pub/sub
//! channels it may name, how `ACL SETUSER` rules change that, and the text `ACL LIST`
//! and `ACL GETUSER` show for it. The registry of users, the log of denials and the
//! `ACL` command live in the server; everything here is pure and testable alone.

mod categories;
mod selector;
mod user;

pub use categories::{category_names, commands_in_category, is_category};
pub use selector::{channels_of, Access, Denied, Selector};
pub use user::{hash_password, merge_selector_args, RateLimit, RuleError, UserRules};

/// Settings that shape how rules apply: Redis's `acl-pubsub-default`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleContext {
    /// New users and selectors may use every channel (`allchannels`) rather than none
    /// (`resetchannels`, Redis 7's default).
    pub pubsub_all: bool,
}
