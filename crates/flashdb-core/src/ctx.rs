//! The context a command runs in, and the error replies commands share.

use flashdb_protocol::ReplyBuf;

use crate::keyspace::Keyspace;
use crate::table::CommandSpec;

/// Standard error texts, exactly as Redis 7 sends them.
pub mod errors {
    /// A key holds a value of another type.
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    /// Bad option combination or unknown option.
    pub const SYNTAX: &str = "ERR syntax error";
    /// An argument that must be an integer is not, or is out of range.
    pub const NOT_INT: &str = "ERR value is not an integer or out of range";
    /// An argument that must be a float is not.
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    /// An integer operation would leave the 64-bit range.
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    /// A missing key where one is required.
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    /// A database number outside `0..databases`.
    pub const DB_RANGE: &str = "ERR DB index is out of range";
    /// Source and destination are the same.
    pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
    /// A string would grow beyond `proto-max-bulk-len`.
    pub const STRING_TOO_LONG: &str =
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
}

/// Limits from the configuration that commands enforce.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest string a command may create.
    pub max_bulk_len: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
        }
    }
}

/// What a command needs to run: the keyspace, the client's database, the reply buffer.
pub struct Ctx<'a> {
    /// All databases.
    pub ks: &'a Keyspace,
    /// The client's selected database; `SELECT` changes it.
    pub db: usize,
    /// Where the reply goes.
    pub out: &'a mut ReplyBuf,
    /// Configured limits.
    pub limits: Limits,
    /// The command being run (for error messages that name it).
    pub spec: &'static CommandSpec,
    /// The command's time in Unix milliseconds, read once (Redis's cached command time).
    pub now: u64,
}

impl Ctx<'_> {
    /// Replies with an error.
    pub fn err(&mut self, msg: &str) {
        self.out.error(msg);
    }

    /// `ERR wrong number of arguments for '<name>' command`.
    pub fn arity_err(&mut self) {
        let msg = format!(
            "ERR wrong number of arguments for '{}' command",
            self.spec.name
        );
        self.out.error(&msg);
    }

    /// `ERR invalid expire time in '<name>' command`.
    pub fn expire_err(&mut self) {
        let msg = format!("ERR invalid expire time in '{}' command", self.spec.name);
        self.out.error(&msg);
    }
}
