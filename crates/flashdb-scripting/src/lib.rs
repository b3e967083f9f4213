//! Lua scripting for FlashDB, as Redis 7.0 runs scripts: `EVAL` scripts and `FUNCTION`
//! libraries in a sandboxed Lua 5.1 state (mlua with its vendored Lua), the `redis` API,
//! Redis's conversions between replies and Lua values, and the libraries Redis loads.
//!
//! This crate knows nothing of the keyspace: a script's `redis.call` goes to a
//! [`Host`], which the server implements by running the command under the script's
//! locks.

mod call;
pub mod convert;
pub mod fmt;
mod hook;
pub mod libs;
pub mod vm;

pub use vm::{sha1_hex, valid_name, Compiled, Host, Interrupt, Kind, Registered, Vm};

/// The Redis version scripts see as `redis.REDIS_VERSION`.
pub const REDIS_VERSION: &str = "7.0.15";

/// `redis.REDIS_VERSION_NUM`: the version as `0x00MMmmpp`.
pub fn redis_version_num() -> i64 {
    let mut parts = REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a << 16) | (b << 8) | c
}

/// Why a script or library could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The Lua state could not be created.
    #[error("cannot create the Lua state: {0}")]
    Init(String),
    /// The code does not compile: Lua's message (`user_script:1: ...`).
    #[error("{0}")]
    Compile(String),
    /// A library's code failed while it loaded.
    #[error("{0}")]
    Load(String),
}
