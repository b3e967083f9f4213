//! Lua scripting: `EVAL`, `EVALSHA`, their `_RO` forms and `SCRIPT`, over the
//! runtime of `flashdb-scripting`.
//!
//! A script runs under the keyspace's script locks: the shards of the keys it declares,
//! and the gate that lets it take the shard of any other key it reaches (see
//! `Keyspace::lock_script`), so no other command sees or changes its keys while it runs.
//! Its writes are logged as their own entries, all in one record when the locks go: the
//! log never holds Lua, and a crash keeps all of a script's writes or none.
//!
//! While a script runs, a command that would wait for it (its keys are the script's,
//! it needs every shard, or it is a script itself) waits outside the lock, so that the
//! runtime's workers stay free to answer `SCRIPT KILL`; past `busy-reply-threshold` it
//! gets `-BUSY`, as in Redis.

mod eval;
mod function;
mod host;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use flashdb_core::table::{flag, txn_keys};
use flashdb_core::CommandSpec;
use flashdb_scripting::{Compiled, Interrupt, Kind, ScriptError, Vm};
use parking_lot::Mutex;

pub use eval::{eval, script};
pub use function::{fcall, function};

/// `-BUSY` while an `EVAL` script runs too long.
pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// `-BUSY` while a function runs too long.
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// A script in the cache: its compiled code, its body, and its shebang flags.
pub(crate) struct Cached {
    pub(crate) code: Compiled,
    pub(crate) flags: ScriptFlags,
}

/// Flags a script declares in its shebang (`#!lua flags=no-writes,allow-oom`), or
/// that a function was registered with.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScriptFlags {
    /// Declared at all: a script without a shebang runs in Redis's compatibility mode.
    pub declared: bool,
    /// `no-writes`.
    pub no_writes: bool,
    /// `allow-oom`.
    pub allow_oom: bool,
    /// `allow-stale`.
    pub allow_stale: bool,
}

/// The `EVAL` state: its Lua state and the script cache.
pub(crate) struct EvalState {
    pub(crate) vm: Vm,
    pub(crate) cache: HashMap<String, Cached>,
}

/// What runs now, for `SCRIPT KILL`, `-BUSY` and `INFO`.
#[derive(Debug, Default)]
pub struct Running {
    /// Unix milliseconds at which the running script started; 0 when none runs.
    pub since_ms: AtomicU64,
    /// The running script is an `EVAL` (else a function).
    pub is_eval: AtomicBool,
    /// It ran a write command: it can no longer be killed.
    pub wrote: AtomicBool,
    /// Stops it.
    pub interrupt: Mutex<Option<Arc<Interrupt>>>,
    /// The running function's name and command (`FUNCTION STATS`).
    pub name: Mutex<String>,
    /// The command that runs it.
    pub command: Mutex<Vec<Vec<u8>>>,
}

/// Scripting's state in the server.
pub struct Scripting {
    pub(crate) eval: Mutex<EvalState>,
    pub(crate) functions: Mutex<function::FunctionState>,
    /// What runs now.
    pub running: Running,
    /// Poked when a script ends: commands that waited for it run.
    pub done: tokio::sync::Notify,
    /// `busy-reply-threshold` (alias `lua-time-limit`), in milliseconds.
    pub busy_ms: AtomicU64,
    /// Scripts in the cache, bytes of the `EVAL` Lua heap, libraries, functions and
    /// bytes of the functions' Lua heap, as of the last change (or read, for the
    /// heaps): `INFO` and `FUNCTION STATS` read them without waiting for a running
    /// script.
    stats: [AtomicU64; 5],
}

/// What a command must do while a script runs.
#[derive(Debug, PartialEq, Eq)]
pub enum WhileRunning {
    /// Nothing: it does not touch what the script holds.
    Run,
    /// Wait until the script ends.
    Wait,
    /// Refused with this `-BUSY` error (without its `-`).
    Busy(&'static str),
}

impl std::fmt::Debug for Scripting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripting")
            .field("running", &self.running)
            .field("busy_ms", &self.busy_ms)
            .finish_non_exhaustive()
    }
}

impl Scripting {
    /// Scripting with empty caches.
    pub fn new() -> Result<Scripting, ScriptError> {
        Ok(Scripting {
            eval: Mutex::new(EvalState {
                vm: Vm::new(Kind::Eval)?,
                cache: HashMap::new(),
            }),
            functions: Mutex::new(function::FunctionState::new()?),
            running: Running::default(),
            done: tokio::sync::Notify::new(),
            busy_ms: AtomicU64::new(5000),
            stats: Default::default(),
        })
    }

    /// Whether a script runs and is not yet past `busy-reply-threshold` (commands that
    /// need what it holds wait for it until then).
    pub fn holds_up(&self, now_ms: u64) -> bool {
        let since = self.running.since_ms.load(Ordering::Acquire);
        since != 0 && now_ms.saturating_sub(since) < self.busy_ms.load(Ordering::Relaxed)
    }

    /// What `spec` with `args` must do while a script may be running.
    pub fn while_running(
        &self,
        ks: &flashdb_core::Keyspace,
        spec: &'static CommandSpec,
        args: &[&[u8]],
        now_ms: u64,
    ) -> WhileRunning {
        let since = self.running.since_ms.load(Ordering::Acquire);
        if since == 0 || spec.has(flag::ALLOW_BUSY) {
            return WhileRunning::Run;
        }
        if now_ms.saturating_sub(since) >= self.busy_ms.load(Ordering::Relaxed) {
            return WhileRunning::Busy(if self.running.is_eval.load(Ordering::Relaxed) {
                BUSY_EVAL
            } else {
                BUSY_FUNCTION
            });
        }
        if matches!(spec.group, "scripting") || spec.has(flag::ALL_SHARDS) {
            return WhileRunning::Wait;
        }
        let mut keys: smallvec::SmallVec<[&[u8]; 4]> = smallvec::SmallVec::new();
        if !txn_keys(spec, args, |i| keys.push(args[i])) {
            return WhileRunning::Wait;
        }
        if !keys.is_empty() && ks.script_holds_any(&keys) {
            WhileRunning::Wait
        } else {
            WhileRunning::Run
        }
    }

    /// Marks a script as running from `now_ms`.
    fn begin(&self, now_ms: u64, is_eval: bool, interrupt: Arc<Interrupt>) {
        self.running.is_eval.store(is_eval, Ordering::Relaxed);
        self.running.wrote.store(false, Ordering::Relaxed);
        *self.running.interrupt.lock() = Some(interrupt);
        self.running
            .since_ms
            .store(now_ms.max(1), Ordering::Release);
    }

    /// Marks the running script as ended and lets waiting commands go.
    fn end(&self) {
        self.running.since_ms.store(0, Ordering::Release);
        *self.running.interrupt.lock() = None;
        self.done.notify_waiters();
    }

    /// Notes the cache's size and the Lua heap's for `INFO`.
    pub(crate) fn note_stats(&self, state: &EvalState) {
        self.stats[0].store(state.cache.len() as u64, Ordering::Relaxed);
    }

    /// Loads the function libraries recovery found into their Lua state (they would be
    /// loaded by the first `FCALL` anyway: this makes `INFO` right from the start, and
    /// the first call fast).
    pub fn load_stored_functions(&self, ks: &flashdb_core::Keyspace) {
        let mut state = self.functions.lock();
        state.sync(ks);
        self.note_function_stats(&state);
    }

    /// Notes the number of libraries and functions, and the functions' Lua heap.
    pub(crate) fn note_function_stats(&self, state: &function::FunctionState) {
        let (libraries, functions) = state.counts();
        self.stats[2].store(libraries as u64, Ordering::Relaxed);
        self.stats[3].store(functions as u64, Ordering::Relaxed);
    }

    /// Number of function libraries.
    pub fn libraries_count(&self) -> u64 {
        self.stats[2].load(Ordering::Relaxed)
    }

    /// Number of functions.
    pub fn functions_count(&self) -> u64 {
        self.stats[3].load(Ordering::Relaxed)
    }

    /// Bytes the functions' Lua state uses.
    pub fn functions_memory(&self) -> u64 {
        // Read now unless a function runs (then as last read): not on the run's path.
        match self.functions.try_lock() {
            Some(state) => {
                let bytes = state.used_memory() as u64;
                self.stats[4].store(bytes, Ordering::Relaxed);
                bytes
            }
            None => self.stats[4].load(Ordering::Relaxed),
        }
    }

    /// Number of scripts in the cache (`INFO`'s `number_of_cached_scripts`).
    pub fn cached_scripts(&self) -> u64 {
        self.stats[0].load(Ordering::Relaxed)
    }

    /// Bytes the `EVAL` Lua state uses (`INFO`'s `used_memory_lua`).
    pub fn eval_memory(&self) -> u64 {
        // Read now unless a script runs (then as last read): not on the run's path.
        match self.eval.try_lock() {
            Some(state) => {
                let bytes = state.vm.used_memory() as u64;
                self.stats[1].store(bytes, Ordering::Relaxed);
                bytes
            }
            None => self.stats[1].load(Ordering::Relaxed),
        }
    }
}

/// Whether `spec` runs a script or function (on a group node, it runs on the leader).
pub fn runs_code(spec: &CommandSpec) -> bool {
    spec.group == "scripting" && spec.has(flag::NO_MANDATORY_KEYS | flag::WRITE)
}

/// Gives the runtime worker running a long script away, so that the runtime goes on
/// serving other clients (their `SCRIPT KILL`, their `-BUSY`) on another thread while
/// this one stays in the script.
pub(crate) fn hand_off_worker() {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            tokio::task::block_in_place(|| std::thread::sleep(std::time::Duration::from_millis(1)));
        }
    }
}
