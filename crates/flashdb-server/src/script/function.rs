//! `FUNCTION` and `FCALL`/`FCALL_RO`, as Redis 7.0's `functions.c`.
//!
//! The libraries' codes are data of the keyspace (logged and snapshotted like keys, so
//! recovery and replicas have them); the Lua state that runs them is built from those
//! codes, again whenever their version moves (after recovery, or a replica applying a
//! change).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use flashdb_core::cmd::eq_ic;
use flashdb_core::glob::glob_match;
use flashdb_core::keyspace::{unix_ms, Locked};
use flashdb_core::{CommandSpec, Keyspace};
use flashdb_scripting::{valid_name, Kind, Registered, ScriptError, Vm};

use super::eval::{run_checked, split_keys, Script};
use super::ScriptFlags;
use crate::connection::ConnState;
use crate::server::Server;

/// One loaded library.
pub(crate) struct Library {
    name: String,
    code: Vec<u8>,
    functions: Vec<Registered>,
}

/// The function libraries as loaded in their Lua state.
pub(crate) struct FunctionState {
    vm: Vm,
    /// The keyspace's version of the libraries this state was built from.
    version: u64,
    libraries: Vec<Library>,
}

impl FunctionState {
    /// An empty state.
    pub(crate) fn new() -> Result<FunctionState, ScriptError> {
        Ok(FunctionState {
            vm: Vm::new(Kind::Function)?,
            version: 0,
            libraries: Vec::new(),
        })
    }

    /// Rebuilds the state from the keyspace's libraries if they changed since.
    pub(crate) fn sync(&mut self, ks: &Keyspace) {
        if self.version == ks.functions_version() {
            return;
        }
        let (version, codes) = ks.functions();
        match build(&codes) {
            Ok(state) => *self = FunctionState { version, ..state },
            Err(e) => {
                // Stored libraries loaded once; a failure now is a bug, not bad input.
                tracing::error!("cannot load the stored function libraries: {e}");
                self.version = version;
            }
        }
    }

    fn codes(&self) -> Vec<Vec<u8>> {
        self.libraries.iter().map(|l| l.code.clone()).collect()
    }

    /// The function named `name`; as in Redis, names do not depend on case.
    fn function(&self, name: &[u8]) -> Option<&Registered> {
        self.libraries
            .iter()
            .flat_map(|l| l.functions.iter())
            .find(|f| f.name.as_bytes().eq_ignore_ascii_case(name))
    }

    /// Loads `code` as a library, checking it against the others (`replace`: one of the
    /// same name goes). The library, not yet added.
    fn load(&self, code: &[u8], replace: bool) -> Result<Library, String> {
        let (name, skip) = metadata(code)?;
        if !replace && self.libraries.iter().any(|l| l.name == name) {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let functions = self.vm.load_library(&code[skip..]).map_err(|e| match e {
            ScriptError::Compile(m) => format!("ERR Error compiling function: {m}"),
            ScriptError::Load(m) => format!("ERR Error registering functions: {m}"),
            other => format!("ERR {other}"),
        })?;
        if functions.is_empty() {
            return Err("ERR No functions registered".into());
        }
        for f in &functions {
            let taken = self
                .libraries
                .iter()
                .filter(|l| l.name != name)
                .flat_map(|l| l.functions.iter())
                .any(|g| g.name.eq_ignore_ascii_case(&f.name));
            if taken {
                return Err(format!("ERR Function {} already exists", f.name));
            }
        }
        Ok(Library {
            name,
            code: code.to_vec(),
            functions,
        })
    }

    fn add(&mut self, lib: Library) {
        self.libraries.retain(|l| l.name != lib.name);
        self.libraries.push(lib);
    }
}

/// A state holding the libraries `codes`, or the first one's error.
fn build(codes: &[Vec<u8>]) -> Result<FunctionState, String> {
    let mut state = FunctionState::new().map_err(|e| e.to_string())?;
    for code in codes {
        let lib = state.load(code, false)?;
        state.add(lib);
    }
    Ok(state)
}

/// A library's shebang line (`#!lua name=mylib`): its name, and the line's length.
fn metadata(code: &[u8]) -> Result<(String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&c| c == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let line = String::from_utf8_lossy(&code[..end]);
    let mut parts = line.split_whitespace();
    let engine = parts.next().unwrap_or("#!").trim_start_matches("#!");
    let mut name = None;
    for part in parts {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(part[5..].to_string());
            continue;
        }
        return Err(format!("ERR Invalid metadata value given: {part}"));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    if !valid_name(&name) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    Ok((name, end))
}

/// Stores `codes` as the libraries (logged, under every shard's lock: see
/// `Keyspace::set_functions`), and notes the version in `state`.
fn persist(server: &Server, state: &mut FunctionState, codes: Vec<Vec<u8>>) {
    let mut all = server.ks.lock_all();
    all.cmd = "function";
    all.set_functions(codes);
    drop(all);
    state.version = server.ks.functions_version();
    server.scripting.note_function_stats(state);
}

fn flags_of(f: &Registered) -> ScriptFlags {
    ScriptFlags {
        declared: true,
        no_writes: f.flags.iter().any(|x| x == "no-writes"),
        allow_oom: f.flags.iter().any(|x| x == "allow-oom"),
        allow_stale: f.flags.iter().any(|x| x == "allow-stale"),
    }
}

/// `FCALL` and `FCALL_RO`. `held`: the locks of the `EXEC` it runs in, if any.
pub fn fcall(
    server: &Arc<Server>,
    st: &mut ConnState,
    spec: &'static CommandSpec,
    args: &[&[u8]],
    held: Option<&mut Locked<'_>>,
) {
    let read_only_command = spec.name == "fcall_ro";
    let mut state = server.scripting.functions.lock();
    state.sync(&server.ks);
    // As Redis: the function is looked up before its number of keys is read.
    let Some(f) = state.function(args[1]) else {
        drop(state);
        return st.out.error("ERR Function not found");
    };
    let (keys, argv) = match split_keys(args) {
        Ok(split) => split,
        Err("ERR value is not an integer or out of range") => {
            drop(state);
            return st.out.error("ERR Bad number of keys provided");
        }
        Err(e) => {
            drop(state);
            return st.out.error(e);
        }
    };
    let (code, flags, name) = (f.compiled(), flags_of(f), f.name.clone());
    *server.scripting.running.name.lock() = name.clone();
    *server.scripting.running.command.lock() = args.iter().map(|a| a.to_vec()).collect();
    let script = Script {
        code: &code,
        name: &name,
        flags,
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

const HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

/// `FUNCTION LOAD|DELETE|FLUSH|LIST|DUMP|RESTORE|STATS|KILL|HELP`.
pub fn function(
    server: &Arc<Server>,
    st: &mut ConnState,
    spec: &'static CommandSpec,
    args: &[&[u8]],
) {
    match spec.name {
        "function|kill" => return super::eval::kill(server, st, false),
        "function|stats" => return stats(server, st),
        "function|help" => {
            st.out.array(HELP.len());
            for line in HELP {
                st.out.simple(line.as_bytes());
            }
            return;
        }
        _ => {}
    }
    let mut state = server.scripting.functions.lock();
    state.sync(&server.ks);
    server.scripting.note_function_stats(&state);
    match spec.name {
        "function|load" => {
            // Options (only REPLACE, repeated or not) up to the last argument, the code.
            let (options, code) = args.split_at(args.len() - 1);
            if let Some(bad) = options[2..].iter().find(|o| !eq_ic(o, b"replace")) {
                return st.out.error(&format!(
                    "ERR Unknown option given: {}",
                    String::from_utf8_lossy(bad)
                ));
            }
            let (replace, code) = (options.len() > 2, code[0]);
            match state.load(code, replace) {
                Ok(lib) => {
                    let name = lib.name.clone();
                    let mut codes: Vec<Vec<u8>> = state
                        .libraries
                        .iter()
                        .filter(|l| l.name != name)
                        .map(|l| l.code.clone())
                        .collect();
                    codes.push(lib.code.clone());
                    state.add(lib);
                    persist(server, &mut state, codes);
                    st.out.bulk(name.as_bytes());
                }
                Err(e) => st.out.error(&e),
            }
        }
        "function|delete" => {
            let name = String::from_utf8_lossy(args[2]).to_string();
            if !state.libraries.iter().any(|l| l.name == name) {
                return st.out.error("ERR Library not found");
            }
            state.libraries.retain(|l| l.name != name);
            let codes = state.codes();
            persist(server, &mut state, codes);
            st.out.ok();
        }
        "function|flush" => {
            if args.len() > 3 {
                return st.out.error(&format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
                    String::from_utf8_lossy(args[1])
                ));
            }
            if args.len() == 3 && !eq_ic(args[2], b"async") && !eq_ic(args[2], b"sync") {
                return st
                    .out
                    .error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
            }
            match FunctionState::new() {
                Ok(fresh) => {
                    *state = fresh;
                    persist(server, &mut state, Vec::new());
                    st.out.ok();
                }
                Err(e) => st.out.error(&format!("ERR {e}")),
            }
        }
        "function|list" => list(&state, st, args),
        "function|dump" => st
            .out
            .bulk(&flashdb_core::codec::dump_functions(&state.codes())),
        "function|restore" => {
            let policy = match args.get(3) {
                None => "append",
                Some(p) if args.len() == 4 && eq_ic(p, b"flush") => "flush",
                Some(p) if args.len() == 4 && eq_ic(p, b"append") => "append",
                Some(p) if args.len() == 4 && eq_ic(p, b"replace") => "replace",
                Some(_) => {
                    return st.out.error(
                        "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                    )
                }
            };
            let restored = match flashdb_core::codec::restore_functions(args[2]) {
                Ok(codes) => codes,
                Err(_) => {
                    return st
                        .out
                        .error("ERR DUMP payload version or checksum are wrong")
                }
            };
            let mut codes: Vec<Vec<u8>> = if policy == "flush" {
                Vec::new()
            } else {
                state.codes()
            };
            for code in restored {
                let name = match metadata(&code) {
                    Ok((name, _)) => name,
                    Err(e) => return st.out.error(&e),
                };
                let same = codes
                    .iter()
                    .position(|c| metadata(c).is_ok_and(|(n, _)| n == name));
                match (same, policy) {
                    (Some(_), "append") => {
                        return st.out.error(&format!("ERR Library {name} already exists"))
                    }
                    (Some(i), _) => codes[i] = code,
                    (None, _) => codes.push(code),
                }
            }
            match build(&codes) {
                Ok(fresh) => {
                    *state = fresh;
                    persist(server, &mut state, codes);
                    st.out.ok();
                }
                Err(e) => st.out.error(&e),
            }
        }
        _ => st.out.error("ERR unknown subcommand"),
    }
}

fn list(state: &FunctionState, st: &mut ConnState, args: &[&[u8]]) {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        if !with_code && eq_ic(args[i], b"withcode") {
            with_code = true;
        } else if pattern.is_none() && eq_ic(args[i], b"libraryname") {
            if i + 1 >= args.len() {
                return st.out.error("ERR library name argument was not given");
            }
            i += 1;
            pattern = Some(args[i]);
        } else {
            return st.out.error(&format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(args[i])
            ));
        }
        i += 1;
    }
    let libs: Vec<&Library> = state
        .libraries
        .iter()
        .filter(|l| pattern.is_none_or(|p| glob_match(p, l.name.as_bytes(), false)))
        .collect();
    let out = &mut st.out;
    out.array(libs.len());
    for l in libs {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(l.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(l.functions.len());
        for f in &l.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d.as_bytes()),
                None => out.null(),
            }
            out.bulk(b"flags");
            out.set(f.flags.len());
            for flag in &f.flags {
                out.simple(flag.as_bytes());
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&l.code);
        }
    }
}

/// `FUNCTION STATS`: answered without waiting for a running function.
fn stats(server: &Server, st: &mut ConnState) {
    let scripting = &server.scripting;
    let out = &mut st.out;
    out.map(2);
    out.bulk(b"running_script");
    let since = scripting.running.since_ms.load(Ordering::Acquire);
    if since != 0 && !scripting.running.is_eval.load(Ordering::Relaxed) {
        out.map(3);
        out.bulk(b"name");
        out.bulk(scripting.running.name.lock().as_bytes());
        out.bulk(b"command");
        let command = scripting.running.command.lock().clone();
        out.array(command.len());
        for a in &command {
            out.bulk(a);
        }
        out.bulk(b"duration_ms");
        out.int(unix_ms().saturating_sub(since) as i64);
    } else {
        out.null();
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(scripting.libraries_count() as i64);
    out.bulk(b"functions_count");
    out.int(scripting.functions_count() as i64);
}

impl FunctionState {
    /// Bytes the functions' Lua heap uses.
    pub(crate) fn used_memory(&self) -> usize {
        self.vm.used_memory()
    }

    /// Number of libraries and of functions.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (
            self.libraries.len(),
            self.libraries.iter().map(|l| l.functions.len()).sum(),
        )
    }
}
