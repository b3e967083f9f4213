//! What a script's `redis.call` reaches: the command runs as Redis's script client
//! would run it, under the script's locks, and its reply goes back to Lua.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use flashdb_core::keyspace::Locked;
use flashdb_core::table::{command_index, flag, txn_keys, Handler};
use flashdb_core::{execute, Ctx, Resolved};
use flashdb_protocol::{ProtocolVersion, ReplyBuf};
use smallvec::SmallVec;

use crate::connection::ConnState;
use crate::server::Server;

/// The server side of one script run.
pub(crate) struct ScriptHost<'s, 'l> {
    pub(crate) server: &'s Arc<Server>,
    /// The calling client: server commands run on its state, with the script's
    /// database and a reply buffer of their own.
    pub(crate) st: &'s mut ConnState,
    pub(crate) locked: &'s mut Locked<'l>,
    /// The script client's database (`SELECT` in a script changes only this).
    pub(crate) db: usize,
    /// Writes are refused (`EVAL_RO`, `FCALL_RO`, `no-writes`).
    pub(crate) read_only: bool,
    /// `allow-oom`: commands that may grow memory run even over `maxmemory`.
    pub(crate) allow_oom: bool,
    /// Reused for every call's reply.
    pub(crate) scratch: ReplyBuf,
    pub(crate) now: u64,
}

impl ScriptHost<'_, '_> {
    /// The command to run, or why a script may not run it.
    fn spec(&mut self, args: &[&[u8]]) -> Result<&'static flashdb_core::CommandSpec, String> {
        let spec = match flashdb_core::resolve(args) {
            Resolved::Command(spec) => spec,
            Resolved::Error(_) if flashdb_core::table::lookup(args[0]).is_none() => {
                return Err("ERR Unknown Redis command called from script".into())
            }
            Resolved::Error(msg) if msg.contains("wrong number of arguments") => {
                return Err("ERR Wrong number of args calling Redis command from script".into())
            }
            // Redis looks a script's command up whole: a container's unknown
            // subcommand is an unknown command.
            Resolved::Error(msg) if msg.starts_with("ERR unknown subcommand") => {
                return Err("ERR Unknown Redis command called from script".into())
            }
            Resolved::Error(msg) => return Err(msg),
        };
        if spec.has(flag::NOSCRIPT) {
            return Err("ERR This Redis command is not allowed from script".into());
        }
        crate::acl::check_in_script(self.server, self.st, spec, args)?;
        if spec.has(flag::WRITE) {
            if self.read_only {
                return Err("ERR Write commands are not allowed from read-only scripts.".into());
            }
            if let Some(why) = crate::connection::refusal(self.server, spec) {
                return Err(why);
            }
        }
        if spec.has(flag::DENYOOM)
            && !self.allow_oom
            && self.server.eviction.maxmemory.load(Ordering::Relaxed) != 0
            && self.server.eviction.excess().is_some()
        {
            return Err(crate::evict::OOM_ERROR.into());
        }
        Ok(spec)
    }
}

impl flashdb_scripting::Host for ScriptHost<'_, '_> {
    fn call(&mut self, args: &[&[u8]], resp3: bool) -> &[u8] {
        self.scratch.clear();
        let spec = match self.spec(args) {
            Ok(spec) => spec,
            Err(e) => {
                self.scratch.error(&e);
                return self.scratch.as_bytes();
            }
        };
        // The keys this command reaches: the script's locks must cover them first.
        let mut keys: SmallVec<[&[u8]; 8]> = SmallVec::new();
        let all = !txn_keys(spec, args, |i| keys.push(args[i]));
        self.locked.hold(if all { None } else { Some(&keys) });
        if spec.has(flag::WRITE) {
            self.server
                .scripting
                .running
                .wrote
                .store(true, Ordering::Relaxed);
        }
        self.scratch.set_version(if resp3 {
            ProtocolVersion::Resp3
        } else {
            ProtocolVersion::Resp2
        });
        let server = self.server;
        match spec.handler {
            Handler::Engine(_) => {
                let mut ctx = Ctx {
                    ks: self.locked.keyspace(),
                    db: self.db,
                    out: &mut self.scratch,
                    limits: server.limits(),
                    spec,
                    now: self.now,
                    block: None,
                    held: Some(&mut *self.locked),
                    in_script: true,
                };
                execute(&mut ctx, args);
                let (blocked, db) = (ctx.block.take(), ctx.db);
                if let Some(on) = blocked {
                    // A script never blocks: the command answers as if its timeout passed.
                    match spec.name {
                        "blmove" | "brpoplpush" => self.scratch.null(),
                        _ => on.timeout.write(&mut self.scratch),
                    }
                }
                self.db = db;
            }
            Handler::Server | Handler::Container => {
                let caller_db = self.st.db;
                self.st.db = self.db;
                std::mem::swap(&mut self.st.out, &mut self.scratch);
                crate::commands::run(server, self.st, spec, args, Some(&mut *self.locked));
                std::mem::swap(&mut self.st.out, &mut self.scratch);
                self.db = self.st.db;
                self.st.db = caller_db;
            }
        }
        let failed = self.scratch.as_bytes().first() == Some(&b'-');
        self.st.note_command(command_index(spec), failed);
        self.scratch.as_bytes()
    }

    fn log(&mut self, level: u8, message: &str) {
        match level {
            0 => tracing::debug!(target: "script", "{message}"),
            1 => tracing::info!(target: "script", "{message}"),
            2 => tracing::info!(target: "script", "{message}"),
            _ => tracing::warn!(target: "script", "{message}"),
        }
    }

    fn acl_check(&mut self, args: &[&[u8]]) -> Result<bool, String> {
        let spec = match flashdb_core::resolve(args) {
            Resolved::Command(spec) => spec,
            Resolved::Error(_) => {
                return Err("ERR Invalid command passed to redis.acl_check_cmd()".into())
            }
        };
        Ok(self.st.acl_exempt
            || self.st.rules.unrestricted()
            || self.st.rules.check(spec, args).is_ok())
    }
}
