//! `EVAL`, `EVALSHA`, `EVAL_RO`, `EVALSHA_RO` and `SCRIPT`, as Redis 7.0's `eval.c`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use flashdb_core::cmd::eq_ic;
use flashdb_core::keyspace::{unix_ms, Locked};
use flashdb_core::CommandSpec;
use flashdb_protocol::{parse_i64, ReplyBuf};
use flashdb_scripting::{sha1_hex, Kind, Vm};

use super::host::ScriptHost;
use super::{Cached, EvalState, ScriptFlags};
use crate::connection::ConnState;
use crate::server::Server;

/// After this many checks (of 100,000 Lua instructions each) a script hands its
/// runtime worker over (see [`super::hand_off_worker`]).
const HAND_OFF_AFTER_TICKS: u64 = 20;

/// Reads a script's shebang line (`#!lua flags=no-writes,allow-oom`): its flags and the
/// length of the line (the body is compiled from there, its newline kept so that line
/// numbers stay right). A body without one runs in Redis's compatibility mode.
pub(crate) fn shebang(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags::default(), 0));
    }
    let Some(end) = body.iter().position(|&c| c == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_whitespace();
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = ScriptFlags {
        declared: true,
        ..ScriptFlags::default()
    };
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        // As Redis splits them: nothing for `flags=`, and an empty flag otherwise
        // (`flags=a,`) is an unexpected one.
        for f in list.split(',').filter(|_| !list.is_empty()) {
            match f {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                "allow-stale" => flags.allow_stale = true,
                "no-cluster" | "allow-cross-slot-keys" => {}
                other => return Err(format!("ERR Unexpected flag in script shebang: {other}")),
            }
        }
    }
    Ok((flags, end))
}

/// Compiles `body` into the cache (if not there yet); its SHA1.
fn load(state: &mut EvalState, body: &[u8]) -> Result<String, String> {
    let sha = sha1_hex(body);
    if state.cache.contains_key(&sha) {
        return Ok(sha);
    }
    let (flags, skip) = shebang(body)?;
    let code = state
        .vm
        .compile(&body[skip..])
        .map_err(|e| format!("ERR Error compiling script (new function): {e}"))?;
    state.cache.insert(sha.clone(), Cached { code, flags });
    Ok(sha)
}

/// A script call's keys and arguments.
type KeysAndArgs<'a> = (&'a [&'a [u8]], &'a [&'a [u8]]);

/// Parses `numkeys` of a script call: the keys and the arguments, or Redis's error.
pub(crate) fn split_keys<'a>(args: &'a [&'a [u8]]) -> Result<KeysAndArgs<'a>, &'static str> {
    let n = parse_i64(args[2]).ok_or("ERR value is not an integer or out of range")?;
    if n < 0 {
        return Err("ERR Number of keys can't be negative");
    }
    let rest = &args[3..];
    if n as u64 > rest.len() as u64 {
        return Err("ERR Number of keys can't be greater than number of args");
    }
    Ok(rest.split_at(n as usize))
}

/// `EVAL`, `EVALSHA`, `EVAL_RO` and `EVALSHA_RO`.
/// `held`: the locks of the `EXEC` it runs in (every shard), if any.
pub fn eval(
    server: &Arc<Server>,
    st: &mut ConnState,
    spec: &'static CommandSpec,
    args: &[&[u8]],
    held: Option<&mut Locked<'_>>,
) {
    let (keys, argv) = match split_keys(args) {
        Ok(split) => split,
        Err(e) => return st.out.error(e),
    };
    let by_sha = spec.name.starts_with("evalsha");
    let read_only_command = spec.name.ends_with("_ro");
    let scripting = &server.scripting;
    let mut state = scripting.eval.lock();
    let sha = if by_sha {
        let sha = String::from_utf8_lossy(args[1]).to_ascii_lowercase();
        if !state.cache.contains_key(&sha) {
            drop(state);
            return st
                .out
                .error("NOSCRIPT No matching script. Please use EVAL.");
        }
        sha
    } else {
        match load(&mut state, args[1]) {
            Ok(sha) => {
                scripting.note_stats(&state);
                sha
            }
            Err(e) => {
                drop(state);
                return st.out.error(&e);
            }
        }
    };
    let Some(cached) = state.cache.get(&sha) else {
        return st
            .out
            .error("NOSCRIPT No matching script. Please use EVAL.");
    };
    let script = Script {
        code: &cached.code,
        name: &sha,
        flags: cached.flags,
    };
    run_checked(
        server,
        st,
        &state.vm,
        script,
        read_only_command,
        keys,
        argv,
        held,
    );
}

/// Compiled code to run, what its errors call it, and its flags.
pub(crate) struct Script<'a> {
    pub(crate) code: &'a flashdb_scripting::Compiled,
    pub(crate) name: &'a str,
    pub(crate) flags: ScriptFlags,
}

/// Runs a script if its flags let it (see [`may_run`]), and appends its reply (or why
/// it may not run) to the client's replies.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_checked(
    server: &Arc<Server>,
    st: &mut ConnState,
    vm: &Vm,
    script: Script<'_>,
    read_only_command: bool,
    keys: &[&[u8]],
    argv: &[&[u8]],
    held: Option<&mut Locked<'_>>,
) {
    let flags = script.flags;
    if let Err(e) = may_run(server, flags, read_only_command) {
        return st.out.error(e);
    }
    let mut out = ReplyBuf::small(st.out.version());
    run(
        server,
        st,
        vm,
        script.code,
        script.name,
        keys,
        argv,
        read_only_command || flags.no_writes,
        flags.allow_oom,
        held,
        &mut out,
    );
    st.out.raw(out.as_bytes());
}

/// Whether a script with `flags` may start, as Redis's `scriptPrepareForRun` decides
/// for scripts that declare flags.
pub(crate) fn may_run(
    server: &Server,
    flags: ScriptFlags,
    read_only_command: bool,
) -> Result<(), &'static str> {
    if !flags.declared {
        return Ok(());
    }
    if !flags.allow_oom
        && server.eviction.maxmemory.load(Ordering::Relaxed) != 0
        && server.eviction.excess().is_some()
    {
        return Err(crate::evict::OOM_ERROR);
    }
    if !flags.no_writes && read_only_command {
        return Err("ERR Can not execute a script with write flag using *_ro command.");
    }
    Ok(())
}

/// Runs compiled code under the script locks and writes its reply to `out`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    server: &Arc<Server>,
    st: &mut ConnState,
    vm: &Vm,
    code: &flashdb_scripting::Compiled,
    name: &str,
    keys: &[&[u8]],
    argv: &[&[u8]],
    read_only: bool,
    allow_oom: bool,
    held: Option<&mut Locked<'_>>,
    out: &mut ReplyBuf,
) {
    let interrupt = vm.interrupt();
    if interrupt.on_tick.get().is_none() {
        let _ = interrupt.on_tick.set(Box::new(|ticks| {
            if ticks == HAND_OFF_AFTER_TICKS {
                super::hand_off_worker();
            }
        }));
    }
    let now = unix_ms();
    server
        .scripting
        .begin(now, vm.kind() == Kind::Eval, interrupt);
    let st_db = st.db;
    let mut host = |locked: &mut Locked<'_>| {
        let mut scratch = SCRATCH
            .with(|s| s.borrow_mut().take())
            .unwrap_or_else(|| ReplyBuf::new(out.version()));
        scratch.clear();
        let mut host = ScriptHost {
            server,
            st: &mut *st,
            locked,
            db: st_db,
            read_only,
            allow_oom,
            scratch,
            now,
        };
        vm.run(code, name, keys, argv, &mut host, out);
        let mut scratch = host.scratch;
        // `clear` gives back what a huge reply made it take.
        scratch.clear();
        SCRATCH.with(|s| *s.borrow_mut() = Some(scratch));
    };
    match held {
        // Inside EXEC, the transaction's locks (every shard: see `txn_keys`) serve.
        Some(held) => host(held),
        None => {
            let mut own = server.ks.lock_script(now, keys);
            own.cmd = "eval";
            if keys.len() > 1 {
                // One key has nothing to overlap with.
                own.warm(st_db, keys);
            }
            host(&mut own);
            // Releasing the locks logs every write of the script as one record.
            drop(own);
        }
    }
    server.scripting.end();
}

thread_local! {
    /// The buffer a script's commands reply into, one per worker thread, taken by a run
    /// and given back after it: 16 KiB allocated per run was a measurable share of a
    /// small script's cost.
    static SCRATCH: std::cell::RefCell<Option<ReplyBuf>> = const { std::cell::RefCell::new(None) };
}

const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

/// `SCRIPT LOAD|EXISTS|FLUSH|KILL|DEBUG|HELP`.
pub fn script(
    server: &Arc<Server>,
    st: &mut ConnState,
    spec: &'static CommandSpec,
    args: &[&[u8]],
) {
    let scripting = &server.scripting;
    match spec.name {
        "script|load" => {
            let mut state = scripting.eval.lock();
            let r = load(&mut state, args[2]);
            scripting.note_stats(&state);
            drop(state);
            match r {
                Ok(sha) => st.out.bulk(sha.as_bytes()),
                Err(e) => st.out.error(&e),
            }
        }
        "script|exists" => {
            let state = scripting.eval.lock();
            let found: Vec<bool> = args[2..]
                .iter()
                .map(|s| {
                    state
                        .cache
                        .contains_key(&String::from_utf8_lossy(s).to_ascii_lowercase())
                })
                .collect();
            drop(state);
            st.out.array(found.len());
            for f in found {
                st.out.int(i64::from(f));
            }
        }
        "script|flush" => {
            if args.len() > 3
                || (args.len() == 3 && !eq_ic(args[2], b"async") && !eq_ic(args[2], b"sync"))
            {
                return st
                    .out
                    .error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
            }
            match Vm::new(Kind::Eval) {
                Ok(vm) => {
                    let mut state = scripting.eval.lock();
                    state.vm = vm;
                    state.cache.clear();
                    scripting.note_stats(&state);
                    drop(state);
                    st.out.ok();
                }
                Err(e) => st.out.error(&format!("ERR {e}")),
            }
        }
        "script|kill" => kill(server, st, true),
        // FlashDB has no Lua debugger: turning it off is all there is to do.
        "script|debug" => match args[2] {
            m if eq_ic(m, b"no") => st.out.ok(),
            m if eq_ic(m, b"yes") || eq_ic(m, b"sync") => st
                .out
                .error("ERR FlashDB has no Lua debugger: SCRIPT DEBUG NO is the only mode"),
            _ => st.out.error("ERR Use SCRIPT DEBUG YES/SYNC/NO"),
        },
        "script|help" => {
            st.out.array(SCRIPT_HELP.len());
            for line in SCRIPT_HELP {
                st.out.simple(line.as_bytes());
            }
        }
        _ => st.out.error("ERR unknown subcommand"),
    }
}

/// `SCRIPT KILL` (`is_eval`) and `FUNCTION KILL`.
pub(crate) fn kill(server: &Server, st: &mut ConnState, is_eval: bool) {
    let running = &server.scripting.running;
    if running.since_ms.load(Ordering::Acquire) == 0 {
        return st.out.error("NOTBUSY No scripts in execution right now.");
    }
    if running.wrote.load(Ordering::Relaxed) {
        return st.out.error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
    }
    let running_eval = running.is_eval.load(Ordering::Relaxed);
    if is_eval && !running_eval {
        return st.out.error(super::BUSY_FUNCTION);
    }
    if !is_eval && running_eval {
        return st.out.error(super::BUSY_EVAL);
    }
    if let Some(i) = running.interrupt.lock().as_ref() {
        i.kill.store(true, Ordering::Release);
    }
    st.out.ok();
}
