//! One sandboxed Lua 5.1 state, as Redis 7.0 prepares its own: the `redis` API, the
//! libraries Redis loads, globals that cannot be created or changed, a bounded heap,
//! and a hook that lets another thread stop a script.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use flashdb_protocol::ReplyBuf;
use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};
use sha1::{Digest, Sha1};
use smallvec::SmallVec;

use crate::convert::lua_to_reply;
use crate::{libs, ScriptError};

/// What a script's `redis.*` calls reach: the server, which runs the commands.
pub trait Host {
    /// Runs one command for `redis.call` / `redis.pcall` and returns its reply as RESP
    /// bytes (an error reply starts with `-`). `resp3`: the script chose RESP3 with
    /// `redis.setresp(3)`, so the reply is encoded as a RESP3 client would get it.
    fn call(&mut self, args: &[&[u8]], resp3: bool) -> &[u8];
    /// `redis.log(level, message)`: 0 debug, 1 verbose, 2 notice, 3 warning.
    fn log(&mut self, level: u8, message: &str);
    /// `redis.acl_check_cmd(...)`: whether the script's user may run the command;
    /// `Err` with the error text for an unknown command.
    fn acl_check(&mut self, args: &[&[u8]]) -> Result<bool, String>;
}

/// Which kind of code a state runs: it names the chunks (`@user_script`,
/// `@user_function`) and decides whether `KEYS`/`ARGV` are globals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `EVAL` scripts.
    Eval,
    /// `FUNCTION` libraries.
    Function,
}

impl Kind {
    fn chunk(self) -> &'static str {
        match self {
            Kind::Eval => "@user_script",
            Kind::Function => "@user_function",
        }
    }
}

/// State another thread reads or sets while a script runs.
#[derive(Default)]
pub struct Interrupt {
    /// Set by `SCRIPT KILL` / `FUNCTION KILL`: the script ends with an error at its next
    /// check (every [`HOOK_EVERY`] instructions).
    pub kill: AtomicBool,
    /// Checks made so far in the running script (one per [`HOOK_EVERY`] instructions).
    pub ticks: AtomicU64,
    /// Called at every check with the count so far: the server hands its runtime worker
    /// over once a script runs long.
    pub on_tick: std::sync::OnceLock<Box<dyn Fn(u64) + Send + Sync>>,
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt")
            .field("kill", &self.kill)
            .field("ticks", &self.ticks)
            .finish()
    }
}

/// How often, in Lua VM instructions, a running script checks whether it was killed,
/// as Redis's count hook.
pub const HOOK_EVERY: u32 = 100_000;

/// A compiled script or function, ready to run.
#[derive(Debug, Clone)]
pub struct Compiled(Function);

/// A sandboxed Lua state.
pub struct Vm {
    lua: Lua,
    kind: Kind,
    /// The globals as user code sees them: reads go to the real globals, writes fail.
    env: Table,
    /// The metatable of `env`, whose `__index` is `globals`, or `load_globals` while
    /// a library loads.
    env_meta: Table,
    /// The real globals, read-only.
    globals: Table,
    /// The globals a library's code sees while it loads.
    load_globals: Table,
    /// `run(f, handler, keys, args)`: runs `f(keys, args)` under `xpcall`.
    runner: Function,
    /// `run_eval(f, handler)`: runs a script (no arguments: it reads `KEYS`/`ARGV`).
    runner_eval: Function,
    handler: Function,
    /// `redis.register_function` while a library loads, empty otherwise.
    registry: Arc<Registry>,
    interrupt: Arc<Interrupt>,
}

/// How long a library's code may run while it loads (`FUNCTION LOAD`), as in Redis:
/// past it the load fails with `FUNCTION LOAD timeout`.
pub const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Bytes of Lua heap a state may use: past it, allocation fails and the script ends
/// with an error instead of taking the server's memory.
pub const HEAP_LIMIT: usize = 1 << 30;

/// One function a library registered while it loaded.
#[derive(Debug, Clone)]
pub struct Registered {
    /// Its name.
    pub name: String,
    /// The code.
    pub func: Function,
    /// `no-writes`, `allow-oom`, ...
    pub flags: Vec<String>,
    /// Its description, if given.
    pub description: Option<String>,
}

/// What `redis.register_function` registered so far while a library loads; `None`
/// outside a load.
type Registry = parking_lot::Mutex<Option<Vec<Registered>>>;

fn rt(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// The innermost message of an error raised in Rust code (or by the VM).
fn root_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::RuntimeError(s) => s.clone(),
        mlua::Error::MemoryError(_) => "not enough memory".into(),
        other => other.to_string(),
    }
}

/// `source:line: ` of the innermost Lua code on the stack (as Lua prefixes its own
/// errors), or nothing.
fn position(lua: &Lua) -> String {
    user_frame(lua)
        .map(|(_, short, line)| format!("{short}:{line}: "))
        .unwrap_or_default()
}

/// The source, printable source and current line of the innermost Lua function on the
/// stack: where an error raised by a library function was raised in the script.
fn user_frame(lua: &Lua) -> Option<(String, String, i32)> {
    for level in 0..64 {
        let d = lua.inspect_stack(level)?;
        let src = d.source();
        if matches!(src.what, "Lua" | "main") {
            return Some((
                src.source.as_deref().unwrap_or("?").to_string(),
                src.short_src.as_deref().unwrap_or("?").to_string(),
                d.curr_line(),
            ));
        }
    }
    None
}

/// The name the runtime's code is loaded under (so that the kill hook knows it).
pub(crate) const RUNTIME_CHUNK: &std::ffi::CStr = c"=runtime";

/// Lua code of the runtime: the parts of the API that are easier said in Lua.
const RUNTIME: &str = r#"
local proxy, globals = ...
local xpcall, setfenv, loadstring, load, select, sub, rawset =
  xpcall, setfenv, loadstring, load, select, string.sub, rawset
-- The keys and arguments come as one string and their lengths: one string made by
-- the host instead of one per argument. The lengths' table, sized for all of them by its
-- constructor, becomes KEYS as they are read (no select per argument, no growing table).
local function split(nkeys, blob, ...)
  local keys, argv, pos = {...}, {}, 1
  for i = 1, select('#', ...) do
    local len = keys[i]
    local s = sub(blob, pos, pos + len - 1)
    pos = pos + len
    if i <= nkeys then keys[i] = s else argv[i - nkeys] = s; keys[i] = nil end
  end
  return keys, argv
end
local run = function(f, handler, nkeys, blob, ...)
  local keys, args = split(nkeys, blob, ...)
  return xpcall(function() return f(keys, args) end, handler)
end
local run_eval = function(f, handler, nkeys, blob, ...)
  local keys, argv = split(nkeys, blob, ...)
  rawset(globals, 'KEYS', keys)
  rawset(globals, 'ARGV', argv)
  return xpcall(f, handler)
end
local safe_loadstring = function(s, name)
  local f, e = loadstring(s, name)
  if f then setfenv(f, proxy) end
  return f, e
end
local safe_load = function(fn, name)
  local f, e = load(fn, name)
  if f then setfenv(f, proxy) end
  return f, e
end
return run, run_eval, safe_loadstring, safe_load
"#;

impl Vm {
    /// A fresh sandboxed state for `kind` code.
    pub fn new(kind: Kind) -> Result<Vm, ScriptError> {
        Self::build(kind).map_err(|e| ScriptError::Init(e.to_string()))
    }

    fn build(kind: Kind) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        lua.set_memory_limit(HEAP_LIMIT)?;
        let real = lua.globals();
        let env = lua.create_table()?;
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let rand = Arc::new(AtomicU64::new(libs::math::seed(started as i32)));
        let registry = Arc::new(Registry::default());
        let interrupt = Arc::new(Interrupt::default());

        let handler = lua.create_function(|lua, err: Value| {
            let from_rust = matches!(err, Value::Error(_));
            let t = match err {
                Value::Table(t) => t,
                other => {
                    let msg = match other {
                        Value::String(s) => s.to_string_lossy().to_string(),
                        Value::Error(e) => root_message(&e),
                        v => v.to_string().unwrap_or_else(|_| "execution failure".into()),
                    };
                    let t = lua.create_table()?;
                    // Errors of the API carry their code; others (the VM's, the
                    // libraries') read as Lua's, with where the script raised them.
                    let msg = if msg.starts_with("ERR ") {
                        msg
                    } else if from_rust && !msg.starts_with(&position(lua)) {
                        format!("ERR {}{msg}", position(lua))
                    } else {
                        format!("ERR {msg}")
                    };
                    t.raw_set("err", msg)?;
                    t
                }
            };
            if let Some((src, _, line)) = user_frame(lua) {
                t.raw_set("source", src)?;
                t.raw_set("line", line)?;
            }
            Ok(t)
        })?;

        let (runner, runner_eval, safe_loadstring, safe_load): (
            Function,
            Function,
            Function,
            Function,
        ) = lua
            .load(RUNTIME)
            .set_name(RUNTIME_CHUNK.to_string_lossy())
            .call((env.clone(), real.clone()))?;
        for name in [
            "print", "dofile", "loadfile", "require", "module", "setfenv", "getfenv", "newproxy",
            "package", "io", "os", "debug",
        ] {
            real.raw_set(name, Value::Nil)?;
        }
        real.raw_set("loadstring", safe_loadstring)?;
        crate::call::install_pcall(&lua, &real)?;
        real.raw_set("load", safe_load)?;

        libs::math::install(&lua, &real, rand)?;
        let redis = Self::redis_api(&lua, kind, &registry)?;
        real.raw_set("redis", redis.clone())?;
        real.raw_set("cjson", libs::cjson::module(&lua)?)?;
        real.raw_set("cmsgpack", libs::cmsgpack::module(&lua)?)?;
        real.raw_set("bit", libs::bit::module(&lua)?)?;
        real.raw_set("struct", libs::structs::module(&lua)?)?;

        // Libraries are read through proxies, so that scripts cannot change them.
        // The handler puts where in the script it was raised in front.
        let readonly = lua.create_function(|_, _: MultiValue| -> mlua::Result<()> {
            Err(rt("Attempt to modify a readonly table"))
        })?;
        for lib in [
            "string",
            "table",
            "math",
            "coroutine",
            "redis",
            "cjson",
            "cmsgpack",
            "bit",
            "struct",
        ] {
            if let Value::Table(t) = real.raw_get::<Value>(lib)? {
                let proxy = lua.create_table()?;
                let meta = lua.create_table()?;
                meta.raw_set("__index", t)?;
                meta.raw_set("__newindex", readonly.clone())?;
                meta.raw_set("__metatable", false)?;
                proxy.set_metatable(Some(meta));
                real.raw_set(lib, proxy)?;
            }
        }
        real.raw_set("_G", env.clone())?;
        // Reading a global that does not exist is an error, not nil.
        let missing = lua.create_function(|_, (_, k): (Value, Value)| -> mlua::Result<()> {
            let name = k.to_string().unwrap_or_default();
            Err(rt(format!(
                "Script attempted to access nonexistent global variable '{name}'"
            )))
        })?;
        let real_meta = lua.create_table()?;
        real_meta.raw_set("__index", missing)?;
        real.set_metatable(Some(real_meta.clone()));
        // `redis.nosuch` reads as a missing global does, as in Redis.
        redis.set_metatable(Some(real_meta.clone()));
        let env_meta = lua.create_table()?;
        env_meta.raw_set("__index", real.clone())?;
        env_meta.raw_set("__newindex", readonly.clone())?;
        env_meta.raw_set("__metatable", false)?;
        env.set_metatable(Some(env_meta.clone()));

        // What a library's code sees while it loads, as in Redis: `redis` with only
        // `register_function`, `log` and the constants; any other name is missing.
        let load_redis = lua.create_table()?;
        for name in [
            "register_function",
            "log",
            "LOG_DEBUG",
            "LOG_VERBOSE",
            "LOG_NOTICE",
            "LOG_WARNING",
            "REDIS_VERSION",
            "REDIS_VERSION_NUM",
        ] {
            load_redis.raw_set(name, redis.raw_get::<Value>(name)?)?;
        }
        let load_globals = lua.create_table()?;
        for t in [&load_redis, &load_globals] {
            let meta = lua.create_table()?;
            meta.raw_set("__index", real_meta.raw_get::<Value>("__index")?)?;
            meta.raw_set("__newindex", readonly.clone())?;
            meta.raw_set("__metatable", false)?;
            t.set_metatable(Some(meta));
        }
        load_globals.raw_set("redis", load_redis)?;

        crate::hook::install(&lua)?;
        Ok(Vm {
            lua,
            kind,
            env,
            env_meta,
            globals: real,
            load_globals,
            runner,
            runner_eval,
            handler,
            registry,
            interrupt,
        })
    }

    fn redis_api(lua: &Lua, kind: Kind, registry: &Arc<Registry>) -> mlua::Result<Table> {
        let redis = lua.create_table()?;
        crate::call::install(lua, &redis)?;
        redis.raw_set(
            "log",
            lua.create_function(|lua, args: MultiValue| {
                let (level, msg) = log_message(lua, args)?;
                // Loading a library has no host: its log lines go nowhere.
                current::with(|host| host.log(level, &msg));
                Ok(())
            })?,
        )?;
        redis.raw_set(
            "acl_check_cmd",
            lua.create_function(|_, args: MultiValue| {
                let (mut bytes, mut ranges) = (Vec::new(), Vec::new());
                command_args(args, &mut bytes, &mut ranges).map_err(|m| rt(format!("ERR {m}")))?;
                let argv: SmallVec<[&[u8]; 8]> = ranges.iter().map(|r| &bytes[r.clone()]).collect();
                current::with(|host| host.acl_check(&argv))
                    .unwrap_or(Ok(true))
                    .map_err(rt)
            })?,
        )?;
        redis.raw_set(
            "error_reply",
            lua.create_function(|lua, args: MultiValue| {
                let msg = match args.front() {
                    Some(Value::String(s)) if args.len() == 1 => s.to_string_lossy().to_string(),
                    _ => return Err(rt("ERR wrong number or type of arguments")),
                };
                let t = lua.create_table()?;
                let msg = if msg.starts_with('-') {
                    msg
                } else {
                    format!("-{msg}")
                };
                t.raw_set("err", error_text(&msg))?;
                Ok(t)
            })?,
        )?;
        redis.raw_set(
            "status_reply",
            lua.create_function(|lua, args: MultiValue| {
                let msg = match args.front() {
                    Some(Value::String(s)) if args.len() == 1 => s.clone(),
                    _ => return Err(rt("ERR wrong number or type of arguments")),
                };
                let t = lua.create_table()?;
                t.raw_set("ok", msg)?;
                Ok(t)
            })?,
        )?;
        redis.raw_set(
            "sha1hex",
            lua.create_function(|lua, args: MultiValue| {
                let s = match args.front() {
                    Some(v @ (Value::String(_) | Value::Number(_) | Value::Integer(_)))
                        if args.len() == 1 =>
                    {
                        lua.coerce_string(v.clone())?
                    }
                    _ => return Err(rt("ERR wrong number of arguments")),
                };
                Ok(sha1_hex(
                    &s.map(|s| s.as_bytes().to_vec()).unwrap_or_default(),
                ))
            })?,
        )?;
        redis.raw_set(
            "setresp",
            lua.create_function(|_, args: MultiValue| {
                if args.len() != 1 {
                    return Err(rt("ERR redis.setresp() requires one argument."));
                }
                let v = match args.front() {
                    Some(Value::Number(n)) => *n as i64,
                    Some(Value::Integer(n)) => *n,
                    Some(Value::String(s)) => s
                        .to_str()
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(0),
                    _ => 0,
                };
                if v != 2 && v != 3 {
                    return Err(rt("ERR RESP version must be 2 or 3."));
                }
                current::set_resp3(v == 3);
                Ok(())
            })?,
        )?;
        redis.raw_set(
            "set_repl",
            lua.create_function(|_, args: MultiValue| {
                if args.len() != 1 {
                    return Err(rt("ERR redis.set_repl() requires one argument."));
                }
                match args.front() {
                    Some(Value::Number(n)) if (0.0..=3.0).contains(n) => Ok(()),
                    Some(Value::Integer(n)) if (0..=3).contains(n) => Ok(()),
                    _ => Err(rt(
                        "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                    )),
                }
            })?,
        )?;
        redis.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
        redis.raw_set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
        redis.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
        for (name, v) in [
            ("LOG_DEBUG", 0),
            ("LOG_VERBOSE", 1),
            ("LOG_NOTICE", 2),
            ("LOG_WARNING", 3),
            ("REPL_NONE", 0),
            ("REPL_AOF", 1),
            ("REPL_SLAVE", 2),
            ("REPL_REPLICA", 2),
            ("REPL_ALL", 3),
        ] {
            redis.raw_set(name, v)?;
        }
        redis.raw_set("REDIS_VERSION", crate::REDIS_VERSION)?;
        redis.raw_set("REDIS_VERSION_NUM", crate::redis_version_num())?;
        if kind == Kind::Function {
            let reg = registry.clone();
            redis.raw_set(
                "register_function",
                lua.create_function(move |_, args: MultiValue| register(&reg, args))?,
            )?;
        }
        Ok(redis)
    }

    /// The state's kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// What another thread uses to stop the running script.
    pub fn interrupt(&self) -> Arc<Interrupt> {
        self.interrupt.clone()
    }

    /// Bounds the Lua heap at `bytes` (a new state has [`HEAP_LIMIT`]): past it,
    /// allocation fails and the running script ends with an error.
    pub fn set_heap_limit(&self, bytes: usize) -> Result<(), ScriptError> {
        self.lua
            .set_memory_limit(bytes)
            .map(|_| ())
            .map_err(|e| ScriptError::Init(e.to_string()))
    }

    /// Bytes the Lua heap uses.
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// Compiles `body` as user code (an `EVAL` script's body), without running it.
    pub fn compile(&self, body: &[u8]) -> Result<Compiled, ScriptError> {
        self.lua
            .load(body)
            .set_name(self.kind.chunk())
            .set_environment(self.env.clone())
            .into_function()
            .map(Compiled)
            .map_err(|e| ScriptError::Compile(compile_message(&e)))
    }

    /// Runs a function library's code (`FUNCTION LOAD`): the functions it registers
    /// with `redis.register_function`, or why it failed.
    pub fn load_library(&self, code: &[u8]) -> Result<Vec<Registered>, ScriptError> {
        let f = self
            .lua
            .load(code)
            .set_name(self.kind.chunk())
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| ScriptError::Compile(compile_message(&e)))?;
        *self.registry.lock() = Some(Vec::new());
        self.interrupt.kill.store(false, Ordering::Release);
        // Loading must not reach the data: as in Redis, its code sees only a part of
        // the `redis` API and no other globals. The functions it registers share its
        // environment, and see all of them once the load is over.
        self.env_meta
            .raw_set("__index", self.load_globals.clone())
            .map_err(|e| ScriptError::Load(root_message(&e)))?;
        let result: mlua::Result<(bool, Value)> = {
            let deadline = std::time::Instant::now() + LOAD_TIMEOUT;
            let _running = current::Running::set(None, &self.interrupt, Some(deadline));
            self.runner
                .call((f, self.handler.clone(), Value::Nil, Value::Nil))
        };
        let restored = self.env_meta.raw_set("__index", self.globals.clone());
        current::resume_panic();
        restored.map_err(|e| ScriptError::Load(root_message(&e)))?;
        let registered = self.registry.lock().take().unwrap_or_default();
        match result {
            Ok((true, _)) => Ok(registered),
            Ok((false, err)) => Err(ScriptError::Load(error_message(&err))),
            Err(e) => Err(ScriptError::Load(root_message(&e))),
        }
    }

    /// Runs `f` with `keys` and `args` (as `KEYS`/`ARGV` for a script, as the function's
    /// two arguments for a function) and writes its result, or its error, to `out`.
    /// `name` is what error replies call it (the script's SHA1, or the function's name).
    pub fn run(
        &self,
        f: &Compiled,
        name: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
        host: &mut dyn Host,
        out: &mut ReplyBuf,
    ) {
        if let Err(e) = self.try_run(f, name, keys, args, host, out) {
            out.error(&format!(
                "ERR Error running script {name}, {}",
                root_message(&e)
            ));
        }
    }

    fn try_run(
        &self,
        f: &Compiled,
        name: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
        host: &mut dyn Host,
        out: &mut ReplyBuf,
    ) -> mlua::Result<()> {
        let lua = &self.lua;
        self.interrupt.kill.store(false, Ordering::Release);
        self.interrupt.ticks.store(0, Ordering::Relaxed);
        let mut blob = Vec::with_capacity(keys.iter().chain(args).map(|a| a.len()).sum());
        let mut call = Vec::with_capacity(4 + keys.len() + args.len());
        call.push(Value::Function(f.0.clone()));
        call.push(Value::Function(self.handler.clone()));
        call.push(Value::Integer(keys.len() as _));
        for a in keys.iter().chain(args) {
            blob.extend_from_slice(a);
        }
        call.push(Value::String(lua.create_string(&blob)?));
        for a in keys.iter().chain(args) {
            call.push(Value::Integer(a.len() as _));
        }
        let runner = match self.kind {
            Kind::Eval => &self.runner_eval,
            Kind::Function => &self.runner,
        };
        let (result, resp3) = {
            let _running = current::Running::set(Some(host), &self.interrupt, None);
            let result: mlua::Result<(bool, Value)> = runner.call(MultiValue::from_vec(call));
            (result, current::resp3())
        };
        current::resume_panic();
        let out_of_memory = match &result {
            Err(mlua::Error::MemoryError(_)) => true,
            Ok((false, Value::String(s))) => s.as_bytes() == b"not enough memory".as_slice(),
            _ => false,
        };
        if out_of_memory {
            // What the failed script left fills the heap, and Lua 5.1 never collects
            // when an allocation fails: without a full collection now, the scripts
            // after it (even their compilation) would fail as well. It costs what the
            // script's own allocations did, once.
            let _ = lua.gc_collect();
        }
        let (ok, v) = result?;
        match v {
            _ if ok => lua_to_reply(&v, out, resp3),
            // Errors the handler never saw (Lua calls no handler when its heap is
            // exhausted): a bare message, given the shape of any failed run.
            Value::String(s) => out.error(&format!(
                "ERR Error running script {name}, {}",
                s.to_string_lossy()
            )),
            v => out.error(&error_message_with_place(&v, name)),
        }
        Ok(())
    }
}

pub(crate) mod current {
    //! The host of the script running on this thread, which the `redis` API's functions
    //! reach, and what the run's `redis.*` calls change (the RESP version) or leave (a
    //! host's panic). A `Lua::scope` per run would do this without `unsafe`, but it cost
    //! more than the rest of a short script's run (several microseconds).
    #![allow(unsafe_code)]

    use std::any::Any;
    use std::cell::{Cell, RefCell};
    use std::marker::PhantomData;
    use std::time::Instant;

    use super::{Host, Interrupt};

    /// What a run makes reachable, kept in one cell so that a run's guard reads and
    /// restores it in one go.
    #[derive(Clone, Copy)]
    struct Frame {
        host: Option<*mut (dyn Host + 'static)>,
        interrupt: Option<*const Interrupt>,
        /// When the code must have ended (a library's load has a deadline).
        deadline: Option<Instant>,
        /// The script chose RESP3 (`redis.setresp(3)`).
        resp3: bool,
    }

    thread_local! {
        static FRAME: Cell<Frame> = const {
            Cell::new(Frame { host: None, interrupt: None, deadline: None, resp3: false })
        };
        static PANIC: RefCell<Option<Box<dyn Any + Send>>> = const { RefCell::new(None) };
    }

    /// The host and the interrupt are reachable while this lives; it cannot outlive
    /// either borrow (`'a`).
    pub(crate) struct Running<'a> {
        previous: Frame,
        _borrows: PhantomData<(&'a mut (), &'a Interrupt)>,
    }

    impl<'a> Running<'a> {
        /// Makes `host` (none while a library loads), `interrupt` and `deadline` (when
        /// the code must have ended: a library's load has one) the running code's
        /// until the guard drops, with RESP2 until the script chooses otherwise (each
        /// run starts with RESP2, as in Redis).
        pub(crate) fn set(
            host: Option<&'a mut dyn Host>,
            interrupt: &'a Interrupt,
            deadline: Option<Instant>,
        ) -> Self {
            let host = host.map(|h| {
                let ptr: *mut (dyn Host + 'a) = h;
                // SAFETY: only the trait object's lifetime bound is erased. The pointer
                // is stored while the returned guard lives, which the borrow `'a`
                // outlives; dropping the guard (also on unwinding) puts the previous
                // value back, so the stored pointer never outlives the `&mut`.
                let ptr: *mut (dyn Host + 'static) = unsafe { std::mem::transmute(ptr) };
                ptr
            });
            let frame = Frame {
                host,
                interrupt: Some(interrupt as *const Interrupt),
                deadline,
                resp3: false,
            };
            Running {
                previous: FRAME.with(|f| f.replace(frame)),
                _borrows: PhantomData,
            }
        }
    }

    impl Drop for Running<'_> {
        fn drop(&mut self) {
            FRAME.with(|f| f.set(self.previous));
        }
    }

    fn frame() -> Frame {
        FRAME.with(|f| f.get())
    }

    /// Runs `f` with the interrupt and the deadline of the code running on this
    /// thread; `None` when none runs.
    pub(crate) fn with_interrupt<R>(f: impl FnOnce(&Interrupt, Option<Instant>) -> R) -> Option<R> {
        let frame = frame();
        let ptr = frame.interrupt?;
        // SAFETY: the pointer was made from a `&Interrupt` that outlives the guard
        // which stored it (see `Running::set`), and is cleared when the guard drops.
        Some(f(unsafe { &*ptr }, frame.deadline))
    }

    /// Whether the running script chose RESP3 (`redis.setresp(3)`).
    pub(crate) fn resp3() -> bool {
        frame().resp3
    }

    /// `redis.setresp`: the protocol of the replies the script gets and gives.
    pub(crate) fn set_resp3(on: bool) {
        FRAME.with(|f| {
            f.set(Frame {
                resp3: on,
                ..f.get()
            })
        });
    }

    /// Keeps a panic of the host, caught before it could unwind through Lua, for
    /// [`resume_panic`] once the run is back in Rust.
    pub(crate) fn keep_panic(payload: Box<dyn Any + Send>) {
        PANIC.with(|p| *p.borrow_mut() = Some(payload));
    }

    /// Resumes the panic a host raised during the run that just returned, if any.
    pub(crate) fn resume_panic() {
        if let Some(payload) = PANIC.with(|p| p.borrow_mut().take()) {
            std::panic::resume_unwind(payload);
        }
    }

    /// Runs `f` with the running script's host; `None` when no script runs on this
    /// thread (a library loading, or code kept past its run).
    pub(crate) fn with<R>(f: impl FnOnce(&mut dyn Host) -> R) -> Option<R> {
        let ptr = frame().host?;
        // SAFETY: the pointer was made from a `&mut dyn Host` that the guard borrows
        // for the whole Lua call, so nothing else touches the host meanwhile (see
        // `Running::set`), and it is cleared before that borrow ends. Lua runs one
        // callback at a time on this thread, and no host method calls back into Lua, so
        // this `&mut` is the only live reference to the host while `f` runs.
        Some(f(unsafe { &mut *ptr }))
    }
}

/// `redis.log`'s level and message, or Redis's error.
fn log_message(lua: &Lua, args: MultiValue) -> mlua::Result<(u8, String)> {
    let args: Vec<Value> = args.into_iter().collect();
    if args.len() < 2 {
        return Err(rt("ERR redis.log() requires two arguments or more."));
    }
    let level = match &args[0] {
        Value::Number(n) => *n as i64,
        Value::Integer(n) => *n,
        _ => return Err(rt("ERR First argument must be a number (log level).")),
    };
    if !(0..=3).contains(&level) {
        return Err(rt("ERR Invalid debug level."));
    }
    let mut msg = String::new();
    for (i, a) in args[1..].iter().enumerate() {
        if i > 0 {
            msg.push(' ');
        }
        if let Ok(Some(s)) = lua.coerce_string(a.clone()) {
            msg.push_str(&s.to_string_lossy());
        }
    }
    Ok((level as u8, msg))
}

/// `redis.acl_check_cmd`'s arguments as a command, back to back in `bytes` (each
/// one's range in `ranges`), read as `redis.call` reads its own; or the error Redis
/// gives.
fn command_args(
    args: MultiValue,
    bytes: &mut Vec<u8>,
    ranges: &mut Vec<std::ops::Range<usize>>,
) -> Result<(), String> {
    bytes.clear();
    ranges.clear();
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call".into());
    }
    for a in args {
        let start = bytes.len();
        match a {
            Value::String(s) => bytes.extend_from_slice(&s.as_bytes()),
            Value::Number(n) => crate::call::number_arg(n, bytes),
            Value::Integer(n) => crate::call::number_arg(n as f64, bytes),
            _ => return Err("Lua redis lib command arguments must be strings or integers".into()),
        }
        ranges.push(start..bytes.len());
    }
    Ok(())
}

/// An error's text as Redis keeps it in a Lua error table: `-CODE msg` becomes
/// `CODE msg`; a text without `-` gets the generic `ERR` code.
pub fn error_text(msg: &str) -> String {
    let mut out = Vec::with_capacity(msg.len() + 4);
    error_text_into(msg.as_bytes(), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`error_text`] on bytes (a command's error reply, which Redis keeps as it is),
/// appended to `out`.
pub(crate) fn error_text_into(msg: &[u8], out: &mut Vec<u8>) {
    let (code, rest): (&[u8], &[u8]) = match msg.strip_prefix(b"-") {
        Some(m) => match m.iter().position(|&c| c == b' ') {
            Some(i) => (&m[..i], &m[i + 1..]),
            None => (b"ERR", m),
        },
        None => (b"ERR", msg),
    };
    let end = rest
        .iter()
        .rposition(|&c| c != b'\r' && c != b'\n')
        .map_or(0, |i| i + 1);
    out.extend_from_slice(code);
    out.push(b' ');
    out.extend_from_slice(&rest[..end]);
}

/// The error table a failed run left, as the reply's text: its message, and where in
/// the user's code it was raised.
fn error_message_with_place(v: &Value, name: &str) -> String {
    let msg = error_message(v);
    if let Value::Table(t) = v {
        let source: Option<String> = t.raw_get("source").ok();
        let line: Option<i64> = t.raw_get::<Value>("line").ok().and_then(|l| match l {
            Value::Number(n) => Some(n as i64),
            Value::Integer(n) => Some(n),
            _ => None,
        });
        if let (Some(source), Some(line)) = (source, line) {
            return format!("{msg} script: {name}, on {source}:{line}.");
        }
    }
    msg
}

fn error_message(v: &Value) -> String {
    match v {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => s.to_string_lossy().to_string(),
            _ => "ERR execution failure".into(),
        },
        Value::String(s) => s.to_string_lossy().to_string(),
        Value::Error(e) => root_message(e),
        _ => "ERR execution failure".into(),
    }
}

fn compile_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => root_message(other),
    }
}

/// `redis.register_function(name, callback)` or
/// `redis.register_function{function_name=..., callback=..., flags=..., description=...}`.
fn register(reg: &Registry, args: MultiValue) -> mlua::Result<()> {
    let mut loading = reg.lock();
    let Some(list) = loading.as_mut() else {
        return Err(rt(
            "ERR redis.register_function can only be called on FUNCTION LOAD command",
        ));
    };
    let (name, func, flags, description) = match args.len() {
        1 => {
            let Some(Value::Table(t)) = args.front() else {
                return Err(rt("ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."));
            };
            let mut name = None;
            let mut func = None;
            let mut flags = Vec::new();
            let mut description = None;
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                let key = match &k {
                    Value::String(s) => s.to_string_lossy().to_string(),
                    _ => return Err(rt(
                        "ERR named argument key given to redis.register_function is not a string",
                    )),
                };
                match key.as_str() {
                    "function_name" => match lua_string(&v) {
                        Some(s) => name = Some(s),
                        None => return Err(rt("ERR function_name argument given to redis.register_function must be a string")),
                    },
                    "description" => match lua_string(&v) {
                        Some(s) => description = Some(s),
                        None => return Err(rt("ERR description argument given to redis.register_function must be a string")),
                    },
                    "callback" => match v {
                        Value::Function(f) => func = Some(f),
                        _ => return Err(rt("ERR callback argument given to redis.register_function must be a function")),
                    },
                    "flags" => match v {
                        Value::Table(ft) => {
                            for f in ft.sequence_values::<Value>() {
                                match f? {
                                    Value::String(s) => flags.push(s.to_string_lossy().to_string()),
                                    _ => return Err(rt("ERR unknown flag given")),
                                }
                            }
                        }
                        _ => return Err(rt("ERR flags argument to redis.register_function must be a table representing function flags")),
                    },
                    _ => return Err(rt("ERR unknown argument given to redis.register_function")),
                }
            }
            let Some(name) = name else {
                return Err(rt(
                    "ERR redis.register_function must get a function name argument",
                ));
            };
            let Some(func) = func else {
                return Err(rt(
                    "ERR redis.register_function must get a callback argument",
                ));
            };
            (name, func, flags, description)
        }
        2 => {
            let mut it = args.into_iter();
            let name = match it.next().as_ref().and_then(lua_string) {
                Some(s) => s,
                None => {
                    return Err(rt(
                        "ERR first argument to redis.register_function must be a string",
                    ))
                }
            };
            let func = match it.next() {
                Some(Value::Function(f)) => f,
                _ => {
                    return Err(rt(
                        "ERR second argument to redis.register_function must be a function",
                    ))
                }
            };
            (name, func, Vec::new(), None)
        }
        _ => {
            return Err(rt(
                "ERR wrong number of arguments to redis.register_function",
            ))
        }
    };
    for f in &flags {
        if !matches!(
            f.as_str(),
            "no-writes" | "allow-oom" | "allow-stale" | "no-cluster" | "allow-cross-slot-keys"
        ) {
            return Err(rt("ERR unknown flag given"));
        }
    }
    if !valid_name(&name) {
        // Redis 7.0's text, which says "Library" for a function's name too.
        return Err(rt("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    }
    // Within a library names compare by their bytes (across libraries, not), as in
    // Redis.
    if list.iter().any(|r| r.name == name) {
        return Err(rt("ERR Function already exists in the library"));
    }
    list.push(Registered {
        name,
        func,
        flags,
        description,
    });
    Ok(())
}

/// A string argument as the Lua C API reads one (`lua_isstring`): a string, or a
/// number as Lua writes it.
fn lua_string(v: &Value) -> Option<String> {
    libs::lua_string_bytes(v).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Whether `name` is a valid function or library name: letters, digits and `_`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

impl Registered {
    /// The registered function, ready to run.
    pub fn compiled(&self) -> Compiled {
        Compiled(self.func.clone())
    }
}

/// The SHA1 of `data` in lowercase hex, as scripts are named.
pub fn sha1_hex(data: &[u8]) -> String {
    let digest = Sha1::digest(data);
    let mut s = String::with_capacity(40);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
