//! The context a command runs in, and the error replies commands share.

use flashdb_protocol::ReplyBuf;

use crate::db::DbShard;
use crate::keyspace::{Keyspace, LockRef, Locked, Shards};
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
    /// `hll-sparse-max-bytes`: the size past which a HyperLogLog turns dense.
    pub hll_sparse_max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            hll_sparse_max_bytes: crate::types::hll::SPARSE_MAX_BYTES,
        }
    }
}

/// What a command needs to run: the keyspace, the client's database, the reply buffer.
/// `'h` is the lifetime of the locks an `EXEC` holds for the whole transaction.
pub struct Ctx<'a, 'h> {
    /// All databases.
    pub ks: &'a Keyspace,
    /// The client's selected database; `SELECT` changes it.
    pub db: usize,
    /// Where the reply goes.
    pub out: &'h mut ReplyBuf,
    /// Configured limits.
    pub limits: Limits,
    /// The command being run (for error messages that name it).
    pub spec: &'static CommandSpec,
    /// The command's time in Unix milliseconds, read once (Redis's cached command time).
    pub now: u64,
    /// Set by a blocking command that found nothing to take: the server then parks the
    /// client on these keys and runs the command again when one becomes ready.
    pub block: Option<BlockOn>,
    /// The locks of the transaction this command runs in (`EXEC`), which hold every shard
    /// the transaction's commands touch; `None` outside a transaction.
    pub held: Option<&'h mut Locked<'a>>,
    /// The command runs from a Lua script (`redis.call`), where a few options are
    /// refused as Redis refuses them there (`XREAD ... BLOCK`).
    pub in_script: bool,
}

/// What a blocked client waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOn {
    /// The keys (in the client's database).
    pub keys: Vec<Vec<u8>>,
    /// Unix milliseconds at which to give up; 0 waits forever.
    pub deadline_ms: u64,
    /// Unix milliseconds at which to run the command again although no key was signalled
    /// (a delayed message becomes visible, a lease ends); 0 for never.
    pub retry_at_ms: u64,
    /// The reply when the deadline passes.
    pub timeout: TimeoutReply,
    /// The arguments to run the command with when it runs again, when its first run
    /// resolved some of them (`XREAD`'s `$`: the ids it saw); `None` for the same ones.
    pub args: Option<Vec<Vec<u8>>>,
}

/// What a blocking command answers when its timeout passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeoutReply {
    /// A null array (`*-1`, RESP3 `_`), as Redis's list and sorted-set commands.
    #[default]
    NullArray,
    /// An empty array (`QRESERVE ... BLOCK`).
    EmptyArray,
}

impl TimeoutReply {
    /// Writes the reply.
    pub fn write(self, out: &mut ReplyBuf) {
        match self {
            TimeoutReply::NullArray => out.null_array(),
            TimeoutReply::EmptyArray => out.array(0),
        }
    }
}

impl<'a, 'h> Ctx<'a, 'h> {
    /// The locks for a command on `keys`: its own, or, inside `EXEC`, the transaction's
    /// (a command takes its locks once).
    pub fn lock(&mut self, keys: &[&[u8]]) -> LockRef<'h, 'a> {
        match self.held.take() {
            Some(held) => {
                held.cmd = self.spec.name;
                LockRef::Held(held)
            }
            None => {
                let mut own = self.ks.lock_at(self.now, keys);
                own.cmd = self.spec.name;
                LockRef::Own(own)
            }
        }
    }

    /// Every shard's lock, for a command that reaches keys its arguments do not name
    /// (`SORT ... BY weight_*`): its own, or inside `EXEC` the transaction's, which
    /// then holds every shard.
    pub fn lock_all(&mut self) -> LockRef<'h, 'a> {
        match self.held.take() {
            Some(held) => {
                held.cmd = self.spec.name;
                LockRef::Held(held)
            }
            None => {
                let mut own = self.ks.lock_all_at(self.now);
                own.cmd = self.spec.name;
                LockRef::Own(own)
            }
        }
    }

    /// The shards for a whole-keyspace read (`KEYS`, `SCAN`, `DBSIZE`, `RANDOMKEY`).
    pub fn shards(&self) -> Shards<'_, 'a> {
        match self.held.as_deref() {
            Some(held) => held.shards(),
            None => Shards::Each(self.ks),
        }
    }

    /// Empties `db` (all with `None`), under the transaction's locks when in one.
    pub fn flush(&mut self, db: Option<usize>) -> Vec<DbShard> {
        match self.held.as_deref_mut() {
            Some(held) => held.flush(db),
            None => self.ks.flush(db),
        }
    }

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

    /// Parses a blocking command's timeout (seconds, fractions allowed) as Redis's
    /// `getTimeoutFromObjectOrReply`: the absolute deadline in Unix milliseconds, 0 for
    /// none; `None` after replying the error.
    pub fn block_timeout(&mut self, arg: &[u8]) -> Option<u64> {
        let Some(secs) = crate::numeric::parse_float(arg) else {
            self.err("ERR timeout is not a float or out of range");
            return None;
        };
        let ms = (secs * 1000.0).ceil();
        if ms > i64::MAX as f64 {
            self.err("ERR timeout is out of range");
            return None;
        }
        if ms < 0.0 {
            self.err("ERR timeout is negative");
            return None;
        }
        let ms = ms as u64;
        if ms == 0 {
            return Some(0);
        }
        match ms.checked_add(self.now).filter(|&d| d <= i64::MAX as u64) {
            Some(d) => Some(d),
            None => {
                self.err("ERR timeout is out of range");
                None
            }
        }
    }

    /// `ERR invalid expire time in '<name>' command`.
    pub fn expire_err(&mut self) {
        let msg = format!("ERR invalid expire time in '{}' command", self.spec.name);
        self.out.error(&msg);
    }
}
