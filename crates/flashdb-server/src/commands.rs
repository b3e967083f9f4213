//! Commands that need connection or process state: `HELLO`, `AUTH`, `CLIENT`, `CONFIG`,
//! `INFO`, `PING`, `QUIT`, `RESET`, `SHUTDOWN`, `MONITOR`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use flashdb_core::cmd::eq_ic;
use flashdb_core::CommandSpec;
use flashdb_protocol::{parse_i64, ProtocolVersion};

use crate::connection::{ConnState, Flow, ReplyMode};
use crate::info;
use crate::pubsub::Kind;
use crate::pubsub_cmd;
use crate::server::{ClientHandle, Server};
use crate::transaction;
use flashdb_core::keyspace::Locked;

const SYNTAX: &str = "ERR syntax error";
const NO_PERSISTENCE: &str =
    "ERR persistence is off (--persistence off): there is nothing to save to";

/// Runs a server-level command. `held` are the locks of the `EXEC` it runs in, if any.
pub fn run(
    server: &Arc<Server>,
    st: &mut ConnState,
    spec: &'static CommandSpec,
    args: &[&[u8]],
    held: Option<&mut Locked<'_>>,
) -> Flow {
    match spec.name {
        "multi" => transaction::multi(st),
        "subscribe" => pubsub_cmd::subscribe(server, st, Kind::Message, &args[1..]),
        "psubscribe" => pubsub_cmd::subscribe(server, st, Kind::PMessage, &args[1..]),
        "ssubscribe" => pubsub_cmd::subscribe(server, st, Kind::SMessage, &args[1..]),
        "unsubscribe" => pubsub_cmd::unsubscribe(server, st, Kind::Message, &args[1..]),
        "punsubscribe" => pubsub_cmd::unsubscribe(server, st, Kind::PMessage, &args[1..]),
        "sunsubscribe" => pubsub_cmd::unsubscribe(server, st, Kind::SMessage, &args[1..]),
        "publish" => pubsub_cmd::publish(server, st, Kind::Message, args),
        "spublish" => pubsub_cmd::publish(server, st, Kind::SMessage, args),
        name if name.starts_with("pubsub|") => pubsub_cmd::pubsub(server, st, name, args),
        "exec" => return transaction::exec(server, st),
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" => {
            crate::script::eval(server, st, spec, args, held)
        }
        name if name.starts_with("script|") => crate::script::script(server, st, spec, args),
        "fcall" | "fcall_ro" => crate::script::fcall(server, st, spec, args, held),
        name if name.starts_with("function|") => crate::script::function(server, st, spec, args),
        "discard" => transaction::discard(server, st),
        "watch" => return transaction::watch(server, st, args),
        "unwatch" => transaction::unwatch(server, st),
        "ping" => {
            if args.len() > 2 {
                st.out
                    .error("ERR wrong number of arguments for 'ping' command");
            } else if pubsub_cmd::restricted(st) {
                // A subscribed RESP2 connection answers as a message would arrive.
                st.out.array(2);
                st.out.bulk(b"pong");
                st.out.bulk(args.get(1).copied().unwrap_or_default());
            } else if let Some(msg) = args.get(1) {
                st.out.bulk(msg);
            } else {
                st.out.simple(b"PONG");
            }
        }
        "quit" => {
            st.out.ok();
            return Flow::Close;
        }
        "reset" => reset(server, st),
        "hello" => hello(server, st, args),
        "auth" => auth(server, st, args),
        name if name.starts_with("acl|") => {
            crate::acl::acl_command(server, st, name, args);
            if st.close_after_reply {
                return Flow::Close;
            }
        }
        "info" => {
            let text = info::render(server, &args[1..], held.as_deref());
            st.out.verbatim(text.as_bytes());
        }
        "monitor" => {
            if st.monitor_rx.is_none() {
                st.monitor_rx = Some(server.monitor_tx.subscribe());
                server.monitors.fetch_add(1, Ordering::Relaxed);
                st.handle.monitor.store(true, Ordering::Relaxed);
            }
            st.out.ok();
        }
        "shutdown" => return shutdown(server, st, args),
        "save" => match server.persistence.get() {
            None => st.out.error(NO_PERSISTENCE),
            Some(p) if p.snapshot_in_progress() => {
                st.out.error("ERR Background save already in progress")
            }
            Some(_) => return Flow::Save,
        },
        "backup" => {
            let to = std::path::PathBuf::from(String::from_utf8_lossy(args[1]).into_owned());
            st.backup_to = Some(to);
            return Flow::Save;
        }
        "debug" => crate::debug_cmd::run(server, st, args, held),
        "bgrewriteaof" => match server.persistence.get() {
            // The log is compacted by a snapshot: the records it covers are dropped.
            None => st.out.error(NO_PERSISTENCE),
            Some(p) if p.snapshot_in_progress() => {
                p.schedule_snapshot();
                st.out
                    .simple(b"Background append only file rewriting scheduled");
            }
            Some(p) => {
                p.spawn_snapshot(server.clone());
                st.out
                    .simple(b"Background append only file rewriting started");
            }
        },
        "lolwut" => {
            // Redis draws art only for `VERSION 5` and `6`; 7.0 itself answers this.
            if args.len() >= 3
                && eq_ic(args[1], b"version")
                && flashdb_core::numeric::parse_int(args[2]).is_none()
            {
                st.out.error("ERR value is not an integer or out of range");
                return Flow::Continue;
            }
            let text = format!("Redis ver. {}\n", crate::info::REDIS_VERSION);
            st.out.verbatim(text.as_bytes());
        }
        "bgsave" => {
            let schedule = args.get(1).is_some_and(|a| eq_ic(a, b"schedule"));
            if args.len() > 2 || (args.len() == 2 && !schedule) {
                st.out.error(SYNTAX);
            } else {
                match server.persistence.get() {
                    None => st.out.error(NO_PERSISTENCE),
                    Some(p) if p.snapshot_in_progress() => {
                        if schedule {
                            p.schedule_snapshot();
                            st.out.simple(b"Background saving scheduled");
                        } else {
                            st.out.error("ERR Background save already in progress");
                        }
                    }
                    Some(p) => {
                        p.spawn_snapshot(server.clone());
                        st.out.simple(b"Background saving started");
                    }
                }
            }
        }
        "role" => role(server, st),
        "wait" => return wait(server, st, args),
        "failover" => return crate::group_cmd::failover(server, st, args),
        n if n.starts_with("sentinel|") => crate::sentinel::run(server, st, n, args),
        n if n.starts_with("ledger|") => return crate::ledger_cmd::run(server, st, n, args),
        n if n.starts_with("flashdb.group|") => {
            return crate::group_cmd::run(server, st, n, args)
        }
        "replicaof" | "slaveof" => st.out.error(
            "ERR FlashDB nodes do not replicate from a Redis master: they form a Raft group (--node-id, --raft-port, --peers; see docs/replication.md)",
        ),
        "readonly" | "readwrite" => {
            if server.group.get().is_some() {
                st.readonly = spec.name == "readonly";
                st.out.ok();
            } else {
                st.out.error("ERR This instance has cluster support disabled");
            }
        }
        "lastsave" => {
            let t = server
                .persistence
                .get()
                .map_or(server.started_unix, |p| p.last_save.load(Ordering::Relaxed));
            st.out.int(t as i64);
        }
        "client|id" => st.out.int(st.handle.id as i64),
        "client|getname" => {
            let name = st.handle.name.lock().clone();
            if name.is_empty() {
                st.out.null();
            } else {
                st.out.bulk(name.as_bytes());
            }
        }
        "client|setname" => match valid_client_name(args[2]) {
            Ok(name) => {
                *st.handle.name.lock() = name;
                st.out.ok();
            }
            Err(e) => st.out.error(e),
        },
        "client|setinfo" => {
            let value = String::from_utf8_lossy(args[3]).into_owned();
            if value.chars().any(|c| c == ' ' || c.is_control()) {
                st.out.error("ERR lib-name or lib-ver cannot contain spaces, newlines or special characters.");
            } else if eq_ic(args[2], b"lib-name") {
                st.handle.lib.lock().0 = value;
                st.out.ok();
            } else if eq_ic(args[2], b"lib-ver") {
                st.handle.lib.lock().1 = value;
                st.out.ok();
            } else {
                st.out.error(&format!(
                    "ERR Unrecognized option '{}'",
                    String::from_utf8_lossy(args[2])
                ));
            }
        }
        "client|info" => {
            *st.handle.last_cmd.lock() = spec.name;
            let line = client_line(server, &st.handle);
            st.out.verbatim(line.as_bytes());
        }
        "client|list" => client_list(server, st, args),
        "client|no-evict" => {
            if eq_ic(args[2], b"on") {
                st.handle.no_evict.store(true, Ordering::Relaxed);
                st.out.ok();
            } else if eq_ic(args[2], b"off") {
                st.handle.no_evict.store(false, Ordering::Relaxed);
                st.out.ok();
            } else {
                st.out.error(SYNTAX);
            }
        }
        "client|unblock" => client_unblock(server, st, args),
        "client|pause" => client_pause(server, st, args),
        "client|unpause" => {
            *server.pause.lock() = crate::server::Pause::default();
            server.pause_changed.notify_waiters();
            st.out.ok();
        }
        "client|kill" => return client_kill(server, st, args),
        "client|reply" => {
            if eq_ic(args[2], b"on") {
                st.reply_mode = ReplyMode::On;
                st.out.ok();
            } else if eq_ic(args[2], b"off") {
                st.reply_mode = ReplyMode::Off;
            } else if eq_ic(args[2], b"skip") {
                if st.reply_mode != ReplyMode::Off {
                    st.reply_mode = ReplyMode::SkipArmed;
                }
            } else {
                st.out.error(SYNTAX);
            }
        }
        "client|help" => help(st, CLIENT_HELP),
        n @ ("client|tracking" | "client|caching" | "client|getredir" | "client|trackinginfo") => {
            crate::tracking_cmd::run(server, st, n, args)
        }
        name if ["slowlog|", "latency|", "memory|"]
            .iter()
            .any(|p| name.starts_with(p)) =>
        {
            crate::diagnostics::run(server, st, name, args)
        }
        "config|get" => {
            let pairs = server.params.read().get(&args[2..]);
            st.out.map(pairs.len());
            for (k, v) in pairs {
                st.out.bulk(k.as_bytes());
                st.out.bulk(v.as_bytes());
            }
        }
        "config|set" => config_set(server, st, args),
        "config|resetstat" => {
            match held {
                Some(l) => l.reset_stats(),
                None => server.ks.reset_stats(),
            }
            server.reset_cmdstats();
            server.eviction.reset_stats();
            for c in [
                &server.stats.commands,
                &server.stats.connections,
                &server.stats.rejected_connections,
                &server.stats.net_input,
                &server.stats.net_output,
                &server.stats.error_replies,
            ] {
                c.store(0, Ordering::Relaxed);
            }
            st.out.ok();
        }
        "config|rewrite" => match crate::config_rewrite::rewrite(server) {
            Ok(()) => st.out.ok(),
            Err(e) => st.out.error(&e),
        },
        "config|help" => help(st, CONFIG_HELP),
        other => st.out.error(&format!("ERR unknown command '{other}'")),
    }
    Flow::Continue
}

fn help(st: &mut ConnState, lines: &[&str]) {
    st.out.array(lines.len());
    for l in lines {
        st.out.simple(l.as_bytes());
    }
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

fn valid_client_name(raw: &[u8]) -> Result<String, &'static str> {
    if raw.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err("ERR Client names cannot contain spaces, newlines or special characters.");
    }
    Ok(String::from_utf8_lossy(raw).into_owned())
}

fn reset(server: &Arc<Server>, st: &mut ConnState) {
    st.tx.discard(server);
    if let Some(mut subs) = st.subs.take() {
        subs.clear(&server.pubsub);
    }
    st.handle.subscriptions.store(0, Ordering::Relaxed);
    server.tracking.disable(&server.ks, &st.handle);
    st.tracking = false;
    st.db = 0;
    st.handle.db.store(0, Ordering::Relaxed);
    st.out.set_version(ProtocolVersion::Resp2);
    st.handle.resp.store(2, Ordering::Relaxed);
    st.reply_mode = ReplyMode::On;
    st.handle.name.lock().clear();
    if st.monitor_rx.take().is_some() {
        server.monitors.fetch_sub(1, Ordering::Relaxed);
        st.handle.monitor.store(false, Ordering::Relaxed);
    }
    st.set_user(server, server.acl.default_user());
    st.authenticated = server.acl.default_needs_no_password();
    st.out.simple(b"RESET");
}

/// Logs the client in as `user` if `pass` is right (see [`crate::acl`]); `args[0]` is
/// the command as sent, which the ACL log names on failure. `Err` is the reply when the
/// client's address is locked out after too many wrong passwords (see
/// [`crate::auth_limit`]), in which case nothing is checked.
fn login(
    server: &Arc<Server>,
    st: &mut ConnState,
    user: &[u8],
    pass: &[u8],
    command: &[u8],
) -> Result<bool, String> {
    let ip = crate::auth_limit::ip_of(&st.handle.addr);
    if let Err(secs) = server.auth_failures.check(ip) {
        return Err(format!(
            "ERR too many wrong passwords from this address; try again in {secs} s"
        ));
    }
    match server.acl.check_login(user, pass) {
        Ok(u) => {
            server.auth_failures.succeeded(ip);
            st.set_user(server, u);
            st.authenticated = true;
            Ok(true)
        }
        Err(_) => {
            server.auth_failures.failed(ip);
            let info = client_line(server, &st.handle);
            server.acl.record(crate::acl::LogEntry::new(
                crate::acl::Reason::Auth,
                if st.tx.active() {
                    crate::acl::Context::Multi
                } else {
                    crate::acl::Context::Toplevel
                },
                command,
                user,
                info,
            ));
            Ok(false)
        }
    }
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn auth(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) {
    let (user, pass): (&[u8], &[u8]) = match args.len() {
        2 => {
            if server.acl.default_user().rules().nopass() {
                st.out.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
                return;
            }
            (b"default", args[1])
        }
        3 => (args[1], args[2]),
        _ => {
            st.out.error(SYNTAX);
            return;
        }
    };
    match login(server, st, user, pass, args[0]) {
        Ok(true) => st.out.ok(),
        Ok(false) => {
            tracing::warn!(client = st.handle.id, addr = %st.handle.addr, "failed AUTH attempt");
            st.out.error(WRONGPASS);
        }
        Err(refused) => st.out.error(&refused),
    }
}

fn hello(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) {
    let mut ver: Option<i64> = None;
    let mut next = 1;
    if args.len() >= 2 {
        match parse_i64(args[1]) {
            Some(v) => ver = Some(v),
            None => {
                st.out
                    .error("ERR Protocol version is not an integer or out of range");
                return;
            }
        }
        next = 2;
    }
    let mut credentials: Option<(&[u8], &[u8])> = None;
    let mut name: Option<&[u8]> = None;
    let mut j = next;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if eq_ic(args[j], b"auth") && more >= 2 {
            credentials = Some((args[j + 1], args[j + 2]));
            j += 2;
        } else if eq_ic(args[j], b"setname") && more >= 1 {
            name = Some(args[j + 1]);
            j += 1;
        } else {
            st.out.error(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(args[j])
            ));
            return;
        }
        j += 1;
    }
    if let Some(v) = ver {
        if !(2..=3).contains(&v) {
            st.out.error("NOPROTO unsupported protocol version");
            return;
        }
    }
    if let Some((user, pass)) = credentials {
        match login(server, st, user, pass, args[0]) {
            Ok(true) => {}
            Ok(false) => {
                st.out.error(WRONGPASS);
                return;
            }
            Err(refused) => {
                st.out.error(&refused);
                return;
            }
        }
    }
    if !st.authenticated {
        st.out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return;
    }
    if let Some(n) = name {
        match valid_client_name(n) {
            Ok(n) => *st.handle.name.lock() = n,
            Err(e) => {
                st.out.error(e);
                return;
            }
        }
    }
    if let Some(v) = ver {
        let version = if v == 3 {
            ProtocolVersion::Resp3
        } else {
            ProtocolVersion::Resp2
        };
        st.out.set_version(version);
        st.handle.resp.store(v as u8, Ordering::Relaxed);
    }
    st.out.map(7);
    st.out.bulk(b"server");
    st.out.bulk(b"redis");
    st.out.bulk(b"version");
    st.out.bulk(info::REDIS_VERSION.as_bytes());
    st.out.bulk(b"proto");
    st.out.int(st.out.version().number());
    st.out.bulk(b"id");
    st.out.int(st.handle.id as i64);
    st.out.bulk(b"mode");
    st.out.bulk(b"standalone");
    st.out.bulk(b"role");
    st.out.bulk(b"master");
    st.out.bulk(b"modules");
    st.out.array(0);
}

fn shutdown(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) -> Flow {
    let mut abort = false;
    let mut nosave = false;
    for a in &args[1..] {
        if eq_ic(a, b"abort") {
            abort = true;
        } else if eq_ic(a, b"nosave") {
            nosave = true;
        } else if !(eq_ic(a, b"save")
            || eq_ic(a, b"save")
            || eq_ic(a, b"now")
            || eq_ic(a, b"force"))
        {
            st.out.error(SYNTAX);
            return Flow::Continue;
        }
    }
    if abort {
        if args.len() > 2 {
            st.out.error(SYNTAX);
        } else {
            st.out.error("ERR No shutdown in progress.");
        }
        return Flow::Continue;
    }
    tracing::info!(
        client = st.handle.id,
        nosave,
        "SHUTDOWN requested by a client"
    );
    if nosave {
        // The log alone is replayed at the next start: nothing acknowledged is lost.
        server.no_final_snapshot.store(true, Ordering::Relaxed);
    }
    server.begin_shutdown();
    // As Redis: a successful SHUTDOWN closes the connection without a reply.
    Flow::Close
}

/// One `CLIENT LIST` line, without the trailing newline.
pub fn client_line(server: &Arc<Server>, c: &ClientHandle) -> String {
    let now = server.uptime_ms();
    let idle = now.saturating_sub(c.last_active_ms.load(Ordering::Relaxed)) / 1000;
    let (tracking, redir) = crate::tracking_cmd::list_fields(c);
    let mut flags = String::new();
    if c.monitor.load(Ordering::Relaxed) {
        flags.push('O');
    }
    if c.subscriptions.load(Ordering::Relaxed) > 0 {
        flags.push('P');
    }
    if c.blocked.load(Ordering::Relaxed) {
        flags.push('b');
    }
    flags.push_str(&tracking);
    if c.no_evict.load(Ordering::Relaxed) {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let (lib_name, lib_ver) = c.lib.lock().clone();
    format!(
        "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
        c.id,
        c.addr,
        c.laddr,
        c.name.lock(),
        c.created.elapsed().as_secs(),
        idle,
        flags,
        c.db.load(Ordering::Relaxed),
        c.last_cmd.lock(),
        c.user.lock().name_lossy(),
        redir,
        c.resp.load(Ordering::Relaxed),
        lib_name,
        lib_ver,
    )
}

fn clients_sorted(server: &Arc<Server>) -> Vec<Arc<ClientHandle>> {
    let mut v: Vec<Arc<ClientHandle>> = server.clients.lock().values().cloned().collect();
    v.sort_by_key(|c| c.id);
    v
}

fn client_list(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) {
    let mut ids: Option<Vec<u64>> = None;
    let mut normal_only = true;
    let mut i = 2;
    while i < args.len() {
        if eq_ic(args[i], b"type") && i + 1 < args.len() {
            let t = args[i + 1];
            if eq_ic(t, b"normal") {
                normal_only = true;
            } else if eq_ic(t, b"master")
                || eq_ic(t, b"replica")
                || eq_ic(t, b"slave")
                || eq_ic(t, b"pubsub")
            {
                normal_only = false;
            } else {
                st.out.error(&format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(t)
                ));
                return;
            }
            i += 2;
        } else if eq_ic(args[i], b"id") && i + 1 < args.len() {
            let mut list = Vec::new();
            for raw in &args[i + 1..] {
                match parse_i64(raw) {
                    Some(n) if n > 0 => list.push(n as u64),
                    _ => {
                        st.out.error("ERR Invalid client ID");
                        return;
                    }
                }
            }
            ids = Some(list);
            i = args.len();
        } else {
            st.out.error(SYNTAX);
            return;
        }
    }
    let mut text = String::new();
    if normal_only {
        for c in clients_sorted(server) {
            if ids.as_ref().is_some_and(|l| !l.contains(&c.id)) {
                continue;
            }
            text.push_str(&client_line(server, &c));
            text.push('\n');
        }
    }
    st.out.verbatim(text.as_bytes());
}

fn client_kill(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) -> Flow {
    let me = st.handle.id;
    if args.len() == 3 {
        // Old form: CLIENT KILL addr:port
        let addr = String::from_utf8_lossy(args[2]);
        let target = clients_sorted(server).into_iter().find(|c| c.addr == addr);
        return match target {
            Some(c) => {
                c.killed.store(true, Ordering::Relaxed);
                c.wake.notify_one();
                st.out.ok();
                if c.id == me {
                    Flow::Close
                } else {
                    Flow::Continue
                }
            }
            None => {
                st.out.error("ERR No such client");
                Flow::Continue
            }
        };
    }
    if !(args.len() - 2).is_multiple_of(2) {
        st.out.error(SYNTAX);
        return Flow::Continue;
    }
    let mut id: Option<u64> = None;
    let mut addr: Option<String> = None;
    let mut laddr: Option<String> = None;
    let mut user: Option<String> = None;
    let mut typ_normal: Option<bool> = None;
    let mut maxage: Option<u64> = None;
    let mut skipme = true;
    for pair in args[2..].chunks(2) {
        let (k, v) = (pair[0], pair[1]);
        if eq_ic(k, b"id") {
            match parse_i64(v) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => {
                    st.out.error("ERR client-id should be greater than 0");
                    return Flow::Continue;
                }
            }
        } else if eq_ic(k, b"addr") {
            addr = Some(String::from_utf8_lossy(v).into_owned());
        } else if eq_ic(k, b"laddr") {
            laddr = Some(String::from_utf8_lossy(v).into_owned());
        } else if eq_ic(k, b"user") {
            user = Some(String::from_utf8_lossy(v).into_owned());
        } else if eq_ic(k, b"type") {
            if eq_ic(v, b"normal") {
                typ_normal = Some(true);
            } else if eq_ic(v, b"master")
                || eq_ic(v, b"replica")
                || eq_ic(v, b"slave")
                || eq_ic(v, b"pubsub")
            {
                typ_normal = Some(false);
            } else {
                st.out.error(&format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(v)
                ));
                return Flow::Continue;
            }
        } else if eq_ic(k, b"skipme") {
            if eq_ic(v, b"yes") {
                skipme = true;
            } else if eq_ic(v, b"no") {
                skipme = false;
            } else {
                st.out.error(SYNTAX);
                return Flow::Continue;
            }
        } else if eq_ic(k, b"maxage") {
            match parse_i64(v) {
                Some(n) if n >= 0 => maxage = Some(n as u64),
                _ => {
                    st.out.error(SYNTAX);
                    return Flow::Continue;
                }
            }
        } else {
            st.out.error(SYNTAX);
            return Flow::Continue;
        }
    }
    if let Some(u) = &user {
        if server.acl.user(u.as_bytes()).is_none() {
            st.out.error(&format!("ERR No such user '{u}'"));
            return Flow::Continue;
        }
    }
    let mut killed = 0;
    let mut close_self = false;
    for c in clients_sorted(server) {
        if id.is_some_and(|i| i != c.id)
            || addr.as_ref().is_some_and(|a| *a != c.addr)
            || laddr.as_ref().is_some_and(|a| *a != c.laddr)
            || user
                .as_ref()
                .is_some_and(|u| u.as_bytes() != c.user.lock().name.as_slice())
            || typ_normal == Some(false)
            || maxage.is_some_and(|m| c.created.elapsed().as_secs() < m)
            || (skipme && c.id == me)
        {
            continue;
        }
        c.killed.store(true, Ordering::Relaxed);
        c.wake.notify_one();
        if c.id == me {
            close_self = true;
        }
        killed += 1;
    }
    st.out.int(killed);
    if close_self {
        Flow::Close
    } else {
        Flow::Continue
    }
}

fn config_set(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) {
    if !(args.len() - 2).is_multiple_of(2) {
        st.out
            .error("ERR wrong number of arguments for 'config|set' command");
        return;
    }
    // (name, normalized value, value as given)
    let mut checked: Vec<(String, String, String)> = Vec::new();
    let mut listener = None;
    {
        let params = server.params.read();
        for pair in args[2..].chunks(2) {
            let name = String::from_utf8_lossy(pair[0]).to_ascii_lowercase();
            let value = String::from_utf8_lossy(pair[1]).into_owned();
            if checked.iter().any(|(n, _, _)| *n == name) {
                st.out.error(&format!("ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"));
                return;
            }
            match params.check(&name, &value) {
                Ok(v) => checked.push((name, v, value)),
                Err(e) => {
                    st.out.error(&e);
                    return;
                }
            }
        }
        // A new port or address is bound before anything changes, so that a port taken
        // fails the whole command, as Redis's does.
        let wanted = |n: &str| {
            checked
                .iter()
                .find(|(name, _, _)| name == n)
                .map(|(_, v, _)| v.clone())
        };
        let (bind, port) = (wanted("bind"), wanted("port"));
        if bind.is_some() || port.is_some() {
            let bind = bind.unwrap_or_else(|| params.value("bind").unwrap_or_default().to_string());
            let current = server.port.load(Ordering::Relaxed).to_string();
            let port = port.unwrap_or(current.clone());
            if bind != params.value("bind").unwrap_or_default() || port != current {
                match bind_listener(&bind, &port) {
                    Ok(l) => {
                        let bound = l.local_addr().map(|a| a.port().to_string()).unwrap_or(port);
                        for c in checked.iter_mut().filter(|c| c.0 == "port") {
                            c.1 = bound.clone();
                        }
                        listener = Some((l, bound));
                    }
                    Err(e) => {
                        tracing::warn!(addr = %format!("{bind}:{port}"), error = %e, "CONFIG SET cannot listen");
                        let which = if wanted("port").is_some() {
                            "port"
                        } else {
                            "bind"
                        };
                        st.out.error(&format!(
                            "ERR CONFIG SET failed (possibly related to argument '{which}') - {}",
                            if which == "port" {
                                "Unable to listen on this port"
                            } else {
                                "Failed to bind to specified addresses."
                            }
                        ));
                        return;
                    }
                }
            }
        }
    }
    if let Some((_, _, given)) = checked
        .iter()
        .find(|(n, _, _)| n == "ratelimit-per-address")
    {
        if let Err(e) = crate::ratelimit::parse_setting(given) {
            st.out.error(&format!("ERR CONFIG SET failed (possibly related to argument 'ratelimit-per-address') - {e}"));
            return;
        }
    }
    if let Some(tls) = server.tls.get() {
        if let Some((name, _, _)) = checked.iter().find(|(n, _, _)| n.starts_with("tls-")) {
            // The files are read now: a certificate that does not load fails the command,
            // and one that does serves new connections from here on.
            let params = server.params.read();
            let settings = crate::tls::TlsSettings::from_params(|n| {
                checked
                    .iter()
                    .find(|(c, _, _)| c == n)
                    .map(|(_, v, _)| v.clone())
                    .or_else(|| params.value(n).map(str::to_string))
            });
            if let Err(e) = tls.reload(&settings) {
                tracing::warn!(error = %e, "CONFIG SET cannot update TLS");
                st.out.error(&format!("ERR CONFIG SET failed (possibly related to argument '{name}') - Unable to update TLS configuration: {e}"));
                return;
            }
        }
    }
    if let Some((l, port)) = listener {
        server
            .port
            .store(port.parse().unwrap_or(0), Ordering::Relaxed);
        *server.new_listener.lock() = Some(l);
        server.listener_changed.notify_one();
    }
    let mut params = server.params.write();
    let mut written = server.config_given.lock();
    for (name, value, given) in checked {
        apply_param(server, &mut params, &name, &value, &given);
        written.insert(name, given);
    }
    st.out.ok();
}

/// A listening socket for `CONFIG SET port|bind`, ready for the runtime.
fn bind_listener(bind: &str, port: &str) -> std::io::Result<std::net::TcpListener> {
    let port: u16 = port
        .parse()
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad port"))?;
    let l = std::net::TcpListener::bind((bind, port))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Applies the file's settings that only `CONFIG SET` knows (`slowlog-max-len`, ...),
/// checked as `CONFIG SET` checks them; `Err` names the bad one.
pub fn apply_file_params(server: &Server) -> Result<(), String> {
    let mut params = server.params.write();
    for (name, given) in &server.config.runtime_params {
        let value = params
            .check(name, given)
            .map_err(|e| format!("config file: {name} = {given:?}: {e}"))?;
        apply_param(server, &mut params, name, &value, given);
    }
    Ok(())
}

/// Puts a checked parameter value into force at once, then stores it for `CONFIG GET`.
/// `given` is the value as written, `value` as [`Params::check`] normalized it.
fn apply_param(
    server: &Server,
    params: &mut crate::config::Params,
    name: &str,
    value: &str,
    given: &str,
) {
    {
        match name {
            "proto-max-bulk-len" => server
                .proto_max_bulk_len
                .store(value.parse().unwrap_or(0), Ordering::Relaxed),
            "slowlog-log-slower-than" => server
                .slowlog
                .slower_than
                .store(value.parse().unwrap_or(10_000), Ordering::Relaxed),
            "slowlog-max-len" => server.slowlog.set_max_len(value.parse().unwrap_or(128)),
            "latency-monitor-threshold" => server
                .latency
                .threshold_ms
                .store(value.parse().unwrap_or(0), Ordering::Relaxed),
            "hll-sparse-max-bytes" => server
                .hll_sparse_max_bytes
                .store(value.parse().unwrap_or(0), Ordering::Relaxed),
            "client-query-buffer-limit" => server
                .query_buffer_limit
                .store(value.parse().unwrap_or(0), Ordering::Relaxed),
            "maxclients" => server
                .maxclients
                .store(value.parse().unwrap_or(1), Ordering::Relaxed),
            "timeout" => server
                .timeout
                .store(value.parse().unwrap_or(0), Ordering::Relaxed),
            "requirepass" => {
                server
                    .acl
                    .set_default_password((!value.is_empty()).then_some(value));
            }
            "acllog-max-len" => server.acl.set_log_max_len(value.parse().unwrap_or(128)),
            "ratelimit-per-address" => server
                .ratelimits
                .set_per_address(crate::ratelimit::parse_setting(value).ok().flatten()),
            "acl-pubsub-default" => server.acl.set_pubsub_default(value == "allchannels"),
            "maxmemory-policy" => {
                if let Some(p) = flashdb_core::keyspace::Policy::parse(value) {
                    server.ks.set_lfu(p.lfu());
                    server.eviction.set_policy(p);
                }
            }
            "maxmemory" => {
                let max: u64 = value.parse().unwrap_or(0);
                server.eviction.maxmemory.store(max, Ordering::Relaxed);
                let used = crate::alloc::allocated() as u64;
                if max != 0 && used > max {
                    tracing::warn!(
                        "the new maxmemory value set via CONFIG SET ({max}) is smaller than the \
                         current memory usage ({used}): keys will be evicted or writes refused, \
                         depending on maxmemory-policy"
                    );
                }
            }
            "tracking-table-max-keys" => server
                .tracking
                .max_keys
                .store(value.parse().unwrap_or(1_000_000), Ordering::Relaxed),
            "protected-mode" => server
                .protected_mode
                .store(value == "yes", Ordering::Relaxed),
            "lfu-log-factor" | "lfu-decay-time" => {
                params.store(name, value.to_string());
                let get = |n: &str| params.value(n).and_then(|v| v.parse().ok());
                server.ks.set_lfu_tuning(
                    get("lfu-log-factor").unwrap_or(10),
                    get("lfu-decay-time").unwrap_or(1),
                );
            }
            "maxmemory-samples" => server
                .eviction
                .samples
                .store(value.parse().unwrap_or(5), Ordering::Relaxed),
            "busy-reply-threshold" | "lua-time-limit" => server
                .scripting
                .busy_ms
                .store(value.parse().unwrap_or(5000), Ordering::Relaxed),
            "maxmemory-eviction-tenacity" => server
                .eviction
                .tenacity
                .store(value.parse().unwrap_or(10), Ordering::Relaxed),
            // From the value as given: the normalized one hides `n` behind `A`, as
            // Redis's does.
            "notify-keyspace-events" => server
                .ks
                .set_notify_flags(flashdb_core::notify::parse_flags(given).unwrap_or(0)),
            "client-output-buffer-limit" => {
                for (class, l) in [
                    ("pubsub", &server.pubsub.limits),
                    ("normal", &server.normal_limits),
                ] {
                    if let Some([hard, soft, secs]) = crate::config::class_limits(value, class) {
                        l.hard.store(hard, Ordering::Relaxed);
                        l.soft.store(soft, Ordering::Relaxed);
                        l.soft_secs.store(secs, Ordering::Relaxed);
                    }
                }
            }
            "appendfsync" => {
                // While recovering there is no log yet: it opens with the parameter's value.
                if let (Some(p), Some(policy)) = (
                    server.persistence.get(),
                    flashdb_storage::FsyncPolicy::parse(value),
                ) {
                    p.wal.set_policy(policy);
                }
            }
            "snapshot-threshold" => {
                if let Some(p) = server.persistence.get() {
                    p.snapshot_threshold
                        .store(value.parse().unwrap_or(0), Ordering::Relaxed);
                }
            }
            "log-level" => {
                crate::logging::set_level(value);
                params.store("loglevel", crate::config::redis_loglevel(value).to_string());
            }
            "loglevel" => {
                let level = crate::config::tracing_level(value);
                crate::logging::set_level(level);
                params.store("log-level", level.to_string());
            }
            _ => {}
        }
        params.store(name, value.to_string());
    }
}

/// `ROLE`, in Redis's shapes: a single node and a group's leader are `master` (with each
/// follower's address and replicated log index), a follower is `slave` of the leader.
fn role(server: &Server, st: &mut ConnState) {
    let Some(g) = server.group.get() else {
        st.out.array(3);
        st.out.bulk(b"master");
        st.out.int(0);
        st.out.array(0);
        return;
    };
    let m = g.metrics();
    let offset = m.last_applied.map_or(0, |l| l.index) as i64;
    if m.current_leader == Some(g.id) {
        let followers = g.followers();
        st.out.array(3);
        st.out.bulk(b"master");
        st.out.int(offset);
        st.out.array(followers.len());
        for (id, matched) in followers {
            let (host, port) = server.peer_host_port(id);
            st.out.array(3);
            st.out.bulk(host.as_bytes());
            st.out.bulk(port.as_bytes());
            st.out.bulk(matched.to_string().as_bytes());
        }
    } else {
        let (host, port) = m
            .current_leader
            .map(|id| server.peer_host_port(id))
            .unwrap_or_default();
        st.out.array(5);
        st.out.bulk(b"slave");
        st.out.bulk(host.as_bytes());
        st.out.int(port.parse().unwrap_or(0));
        let state: &[u8] = if m.current_leader.is_some() {
            b"connected"
        } else {
            b"connect"
        };
        st.out.bulk(state);
        st.out.int(offset);
    }
}

/// `WAIT numreplicas timeout`: how many replicas hold this client's writes. In a group, a
/// replica holds them once its log matches the leader's up to where it was when `WAIT`
/// arrived (the client's writes were committed before their replies left, so they lie
/// there or before); on a node that does not lead, `WAIT` runs on the leader. A single
/// node has no replicas.
fn wait(server: &Server, st: &mut ConnState, args: &[&[u8]]) -> Flow {
    let Some(n) = parse_i64(args[1]) else {
        st.out.error("ERR value is not an integer or out of range");
        return Flow::Continue;
    };
    let Some(timeout) = parse_i64(args[2]) else {
        st.out
            .error("ERR timeout is not an integer or out of range");
        return Flow::Continue;
    };
    if timeout < 0 {
        st.out.error("ERR timeout is negative");
        return Flow::Continue;
    }
    if let Some(g) = server.group.get() {
        if !g.is_ready_leader() && !st.forwarded {
            st.forward = Some(vec![args.iter().map(|a| a.to_vec()).collect()]);
            return Flow::Forward;
        }
    } else if n <= 0 {
        st.out.int(0);
        return Flow::Continue;
    }
    st.group_op = Some(crate::group::GroupOp::WaitReplicas {
        n,
        timeout_ms: timeout as u64,
    });
    Flow::Group
}

/// `CLIENT UNBLOCK client-id [TIMEOUT | ERROR]`: ends another client's blocking command,
/// as if it timed out or with an error; 1 if that client was blocked.
fn client_unblock(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) {
    if args.len() > 4 {
        st.out.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(args[1])
        ));
        return;
    }
    let how = match args.get(3) {
        None => 1,
        Some(a) if eq_ic(a, b"timeout") => 1,
        Some(a) if eq_ic(a, b"error") => 2,
        Some(_) => {
            st.out
                .error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            return;
        }
    };
    let Some(id) = flashdb_core::numeric::parse_int(args[2]) else {
        st.out.error("ERR value is not an integer or out of range");
        return;
    };
    let target = u64::try_from(id)
        .ok()
        .and_then(|id| server.clients.lock().get(&id).cloned());
    match target {
        Some(h) if h.blocked.load(Ordering::Acquire) => {
            h.unblock.store(how, Ordering::Release);
            h.wake.notify_waiters();
            st.out.int(1);
        }
        _ => st.out.int(0),
    }
}

/// `CLIENT PAUSE timeout [WRITE | ALL]`: holds back every command (`ALL`, the default)
/// or those that may write, for `timeout` milliseconds or until `CLIENT UNPAUSE`.
fn client_pause(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) {
    if args.len() > 4 {
        st.out.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(args[1])
        ));
        return;
    }
    let all = match args.get(3) {
        None => true,
        Some(a) if eq_ic(a, b"all") => true,
        Some(a) if eq_ic(a, b"write") => false,
        Some(_) => {
            st.out.error("ERR CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    };
    let ms = match flashdb_core::numeric::parse_int(args[2]) {
        None => {
            st.out
                .error("ERR timeout is not an integer or out of range");
            return;
        }
        Some(ms) if ms < 0 => {
            st.out.error("ERR timeout is negative");
            return;
        }
        Some(ms) => ms as u64,
    };
    let until_ms = if ms == 0 {
        0
    } else {
        st.now_ms.saturating_add(ms)
    };
    *server.pause.lock() = crate::server::Pause { until_ms, all };
    server.pause_changed.notify_waiters();
    st.out.ok();
}
