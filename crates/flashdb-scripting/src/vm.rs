//! One sandboxed Lua 5.1 state, as Redis 7.0 prepares its own: the `redis` API, the
//! libraries Redis loads, globals that cannot be created or changed, a bounded heap,
//! and a hook that lets another thread stop a script.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use flashdb_protocol::{Frame, ReplyBuf};
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use sha1::{Digest, Sha1};

use crate::convert::{frame_to_lua, lua_to_reply};
use crate::{fmt, libs, ScriptError};

/// What a script's `redis.*` calls reach: the server, which runs the commands.
pub trait Host {
    /// Runs one command for `redis.call` / `redis.pcall` and returns its reply (an error
    /// reply as [`Frame::Error`], without its `-`). `resp3`: the script chose RESP3 with
    /// `redis.setresp(3)`, so the reply is encoded as a RESP3 client would get it.
    fn call(&mut self, args: Vec<Vec<u8>>, resp3: bool) -> Frame;
    /// `redis.log(level, message)`: 0 debug, 1 verbose, 2 notice, 3 warning.
    fn log(&mut self, level: u8, message: &str);
    /// `redis.acl_check_cmd(...)`: whether the script's user may run the command;
    /// `Err` with the error text for an unknown command.
    fn acl_check(&mut self, args: &[Vec<u8>]) -> Result<bool, String>;
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

/// What one run of a script returned: the reply is written, and this says how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The script returned (its reply may still be an error reply it built).
    Returned,
    /// The script raised an error (including being killed).
    Raised,
}

/// A sandboxed Lua state.
pub struct Vm {
    lua: Lua,
    kind: Kind,
    /// The globals as user code sees them: reads go to the real globals, writes fail.
    env: Table,
    /// The real globals (where `KEYS` and `ARGV` are set for `EVAL`).
    real: Table,
    /// The `redis` table behind its read-only proxy, where each run puts the functions
    /// that reach its host (`call`, `pcall`, `log`, `acl_check_cmd`).
    api: Table,
    /// `run(f, handler, keys, args)`: runs `f(keys, args)` under `xpcall`.
    runner: Function,
    /// `run_eval(f, handler)`: runs a script (no arguments: it reads `KEYS`/`ARGV`).
    runner_eval: Function,
    handler: Function,
    /// The RESP version the running script chose (2 or 3).
    resp: Arc<AtomicU64>,
    /// `redis.register_function` while a library loads, empty otherwise.
    registry: Arc<parking::Registry>,
    interrupt: Arc<Interrupt>,
}

/// Bytes of Lua heap a state may use: past it, allocation fails and the script ends
/// with an error instead of taking the server's memory.
pub const HEAP_LIMIT: usize = 1 << 30;

mod parking {
    //! Functions a library registers while it loads.

    use mlua::Function;
    use parking_lot_like::Mutex;

    /// One registered function.
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

    /// Whether a library is loading, and what it registered so far.
    #[derive(Debug, Default)]
    pub struct Registry {
        /// `None` outside a load.
        pub loading: Mutex<Option<Vec<Registered>>>,
    }

    mod parking_lot_like {
        /// A std mutex that shrugs off poisoning (the data is a plain list).
        #[derive(Debug, Default)]
        pub struct Mutex<T>(std::sync::Mutex<T>);

        impl<T> Mutex<T> {
            pub fn lock(&self) -> std::sync::MutexGuard<'_, T> {
                self.0.lock().unwrap_or_else(|e| e.into_inner())
            }
        }
    }
}

pub use parking::Registered;

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

/// What `redis.call` raises from Rust for a command's error: the handler then takes
/// the error table it left in the registry under this name (Rust code cannot raise a
/// table itself).
const RAISED: &str = "__flashdb_raised";

/// Lua code of the runtime: the parts of the API that are easier said in Lua.
const RUNTIME: &str = r#"
local proxy = ...
local xpcall, setfenv, loadstring, load = xpcall, setfenv, loadstring, load
local run = function(f, handler, keys, args)
  return xpcall(function() return f(keys, args) end, handler)
end
local run_eval = function(f, handler)
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
        let resp = Arc::new(AtomicU64::new(2));
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let rand = Arc::new(AtomicU64::new(libs::math::seed(started as i32)));
        let registry = Arc::new(parking::Registry::default());
        let interrupt = Arc::new(Interrupt::default());

        let handler = lua.create_function(|lua, err: Value| {
            let err = match err {
                Value::Error(e) if root_message(&e) == RAISED => lua
                    .named_registry_value::<Value>(RAISED)
                    .unwrap_or(Value::Nil),
                other => other,
            };
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
        ) = lua.load(RUNTIME).set_name("=runtime").call(env.clone())?;
        for name in [
            "print", "dofile", "loadfile", "require", "module", "setfenv", "getfenv", "newproxy",
            "package", "io", "os", "debug",
        ] {
            real.raw_set(name, Value::Nil)?;
        }
        real.raw_set("loadstring", safe_loadstring)?;
        real.raw_set("load", safe_load)?;

        libs::math::install(&lua, &real, rand)?;
        let redis = Self::redis_api(&lua, kind, &resp, &registry)?;
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
        redis.set_metatable(Some(real_meta));
        let env_meta = lua.create_table()?;
        env_meta.raw_set("__index", real.clone())?;
        env_meta.raw_set("__newindex", readonly)?;
        env_meta.raw_set("__metatable", false)?;
        env.set_metatable(Some(env_meta));

        let hook_state = interrupt.clone();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |_lua, _debug| {
                let ticks = hook_state.ticks.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(f) = hook_state.on_tick.get() {
                    f(ticks);
                }
                if hook_state.kill.load(Ordering::Acquire) {
                    return Err(rt("ERR Script killed by user with SCRIPT KILL..."));
                }
                Ok(VmState::Continue)
            },
        );
        Ok(Vm {
            lua,
            kind,
            env,
            real,
            api: redis,
            runner,
            runner_eval,
            handler,
            resp,
            registry,
            interrupt,
        })
    }

    fn redis_api(
        lua: &Lua,
        kind: Kind,
        resp: &Arc<AtomicU64>,
        registry: &Arc<parking::Registry>,
    ) -> mlua::Result<Table> {
        let redis = lua.create_table()?;
        redis.raw_set(
            "call",
            lua.create_function(
                |lua, args: MultiValue| match dispatch(lua, OP_CALL, args)? {
                    (true, v) => Ok(v),
                    (false, t) => {
                        lua.set_named_registry_value(RAISED, t)?;
                        Err(rt(RAISED))
                    }
                },
            )?,
        )?;
        redis.raw_set(
            "pcall",
            lua.create_function(|lua, args: MultiValue| Ok(dispatch(lua, OP_CALL, args)?.1))?,
        )?;
        redis.raw_set(
            "log",
            lua.create_function(|lua, args: MultiValue| dispatch(lua, OP_LOG, args).map(|_| ()))?,
        )?;
        redis.raw_set(
            "acl_check_cmd",
            lua.create_function(|lua, args: MultiValue| Ok(dispatch(lua, OP_ACL, args)?.1))?,
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
                    _ => return Err(rt("wrong number of arguments")),
                };
                Ok(sha1_hex(
                    &s.map(|s| s.as_bytes().to_vec()).unwrap_or_default(),
                ))
            })?,
        )?;
        let resp_set = resp.clone();
        redis.raw_set(
            "setresp",
            lua.create_function(move |_, args: MultiValue| {
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
                resp_set.store(v as u64, Ordering::Relaxed);
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
                lua.create_function(move |lua, args: MultiValue| register(lua, &reg, args))?,
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
        *self.registry.loading.lock() = Some(Vec::new());
        self.interrupt.kill.store(false, Ordering::Release);
        // Loading must not reach the data: as in Redis, `redis.call` is not there.
        let kept: Vec<(&str, Value)> = ["call", "pcall"]
            .into_iter()
            .map(|name| (name, self.api.raw_get(name).unwrap_or(Value::Nil)))
            .collect();
        for (name, _) in &kept {
            self.api.raw_set(*name, Value::Nil).ok();
        }
        let result: mlua::Result<(bool, Value)> =
            self.runner
                .call((f, self.handler.clone(), Value::Nil, Value::Nil));
        for (name, v) in kept {
            self.api.raw_set(name, v).ok();
        }
        let registered = self.registry.loading.lock().take().unwrap_or_default();
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
    ) -> Ended {
        match self.try_run(f, name, keys, args, host, out) {
            Ok(ended) => ended,
            Err(e) => {
                out.error(&format!(
                    "ERR Error running script {name}, {}",
                    root_message(&e)
                ));
                Ended::Raised
            }
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
    ) -> mlua::Result<Ended> {
        let lua = &self.lua;
        let to_table = |items: &[&[u8]]| -> mlua::Result<Table> {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, a) in items.iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(a)?)?;
            }
            Ok(t)
        };
        let keys_t = to_table(keys)?;
        let args_t = to_table(args)?;
        if self.kind == Kind::Eval {
            self.real.raw_set("KEYS", keys_t.clone())?;
            self.real.raw_set("ARGV", args_t.clone())?;
        }
        self.resp.store(2, Ordering::Relaxed);
        self.interrupt.kill.store(false, Ordering::Release);
        self.interrupt.ticks.store(0, Ordering::Relaxed);
        let host = std::cell::RefCell::new(host);
        let resp = &self.resp;
        // `redis.call` and `redis.pcall` run a command: the busiest path, so each run
        // puts its own functions in the API table (one Rust call per command); the
        // rarer `log` and `acl_check_cmd` reach the host through `DISPATCH`.
        let invoke = |lua: &Lua, args: MultiValue| -> mlua::Result<(bool, Value)> {
            let argv = match command_args(lua, args) {
                Ok(a) => a,
                Err(msg) => return Ok((false, error_table(lua, msg)?)),
            };
            let resp3 = resp.load(Ordering::Relaxed) == 3;
            let reply = host.borrow_mut().call(argv, resp3);
            match reply {
                Frame::Error(e) => {
                    let text = String::from_utf8_lossy(&e).to_string();
                    Ok((false, error_table(lua, format!("-{text}"))?))
                }
                frame => Ok((true, frame_to_lua(lua, frame, resp3)?)),
            }
        };
        let invoke = &invoke;
        let permanent: Vec<(&str, Value)> = ["call", "pcall"]
            .into_iter()
            .map(|name| (name, self.api.raw_get(name).unwrap_or(Value::Nil)))
            .collect();
        let result = lua.scope(|scope| {
            let call =
                scope.create_function(move |lua, args: MultiValue| match invoke(lua, args)? {
                    (true, v) => Ok(v),
                    (false, t) => {
                        lua.set_named_registry_value(RAISED, t)?;
                        Err(rt(RAISED))
                    }
                })?;
            let pcall =
                scope.create_function(move |lua, args: MultiValue| Ok(invoke(lua, args)?.1))?;
            self.api.raw_set("call", call)?;
            self.api.raw_set("pcall", pcall)?;
            // One function per run reaches the host; the API's permanent functions call
            // it (see `DISPATCH`).
            let dispatch = scope.create_function(|lua, mut args: MultiValue| {
                let op = match args.pop_front() {
                    Some(Value::Integer(n)) => n,
                    Some(Value::Number(n)) => n as i64,
                    _ => 0,
                };
                match op {
                    OP_CALL => {
                        let argv = match command_args(lua, args) {
                            Ok(a) => a,
                            Err(msg) => return Ok((false, error_table(lua, msg)?)),
                        };
                        let resp3 = resp.load(Ordering::Relaxed) == 3;
                        let reply = host.borrow_mut().call(argv, resp3);
                        match reply {
                            Frame::Error(e) => {
                                let text = String::from_utf8_lossy(&e).to_string();
                                Ok((false, error_table(lua, format!("-{text}"))?))
                            }
                            frame => Ok((true, frame_to_lua(lua, frame, resp3)?)),
                        }
                    }
                    OP_LOG => {
                        let (level, msg) = log_message(lua, args)?;
                        host.borrow_mut().log(level, &msg);
                        Ok((true, Value::Nil))
                    }
                    _ => {
                        let argv = command_args(lua, args).map_err(rt)?;
                        let ok = host.borrow_mut().acl_check(&argv).map_err(rt)?;
                        Ok((true, Value::Boolean(ok)))
                    }
                }
            })?;
            lua.set_named_registry_value(DISPATCH, dispatch)?;
            let (ok, v): (bool, Value) = match self.kind {
                Kind::Eval => self.runner_eval.call((f.0.clone(), self.handler.clone()))?,
                Kind::Function => {
                    self.runner
                        .call((f.0.clone(), self.handler.clone(), keys_t, args_t))?
                }
            };
            if ok {
                lua_to_reply(&v, out, resp.load(Ordering::Relaxed) == 3);
                Ok(Ended::Returned)
            } else {
                out.error(&error_message_with_place(&v, name));
                Ok(Ended::Raised)
            }
        });
        // However the run ended, nothing may reach its host any more.
        lua.set_named_registry_value(DISPATCH, Value::Nil).ok();
        for (name, v) in permanent {
            self.api.raw_set(name, v).ok();
        }
        result
    }
}

/// The registry slot of the function that reaches the running script's host: set for
/// each run (it borrows the host), cleared after.
const DISPATCH: &str = "__flashdb_dispatch";
const OP_CALL: i64 = 1;
const OP_LOG: i64 = 2;
const OP_ACL: i64 = 3;

/// Calls the running script's host for `op` with `args`: `(true, value)` or, for a
/// command that failed, `(false, error table)`.
fn dispatch(lua: &Lua, op: i64, mut args: MultiValue) -> mlua::Result<(bool, Value)> {
    let Ok(Value::Function(d)) = lua.named_registry_value::<Value>(DISPATCH) else {
        return Err(rt("ERR redis calls are not allowed here"));
    };
    args.push_front(Value::Integer(op as _));
    d.call(args)
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

/// `redis.call`'s arguments as a command, or the error Redis gives.
fn command_args(lua: &Lua, args: MultiValue) -> Result<Vec<Vec<u8>>, String> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call".into());
    }
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Value::String(s) => out.push(s.as_bytes().to_vec()),
            Value::Number(n) => out.push(number_arg(n).into_bytes()),
            Value::Integer(n) => out.push(n.to_string().into_bytes()),
            _ => {
                let _ = lua;
                return Err("Lua redis lib command arguments must be strings or integers".into());
            }
        }
    }
    Ok(out)
}

/// A Lua number as a command argument: `%.17g`, as Redis formats it.
fn number_arg(n: f64) -> String {
    fmt::g(n, 17)
}

fn error_table(lua: &Lua, msg: String) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("err", error_text(&msg))?;
    Ok(Value::Table(t))
}

/// An error's text as Redis keeps it in a Lua error table: `-CODE msg` becomes
/// `CODE msg`; a text without `-` gets the generic `ERR` code.
pub fn error_text(msg: &str) -> String {
    let (code, rest) = match msg.strip_prefix('-') {
        Some(m) => match m.split_once(' ') {
            Some((code, rest)) => (code.to_string(), rest.to_string()),
            None => ("ERR".to_string(), m.to_string()),
        },
        None => ("ERR".to_string(), msg.to_string()),
    };
    format!("{code} {}", rest.trim_end_matches(['\r', '\n']))
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
fn register(lua: &Lua, reg: &parking::Registry, args: MultiValue) -> mlua::Result<()> {
    let mut loading = reg.loading.lock();
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
                    "function_name" => match v {
                        Value::String(s) => name = Some(s.to_string_lossy().to_string()),
                        _ => return Err(rt("ERR function_name argument given to redis.register_function must be a string")),
                    },
                    "description" => match v {
                        Value::String(s) => description = Some(s.to_string_lossy().to_string()),
                        _ => return Err(rt("ERR description argument given to redis.register_function must be a string")),
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
            let name = match it.next() {
                Some(Value::String(s)) => s.to_string_lossy().to_string(),
                _ => {
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
    if list.iter().any(|r| r.name == name) {
        return Err(rt("ERR Function already exists in the library"));
    }
    let _ = lua;
    list.push(Registered {
        name,
        func,
        flags,
        description,
    });
    Ok(())
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
