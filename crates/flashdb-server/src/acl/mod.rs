//! The server's ACL users: who exists, who may log in, the log of denials, and the
//! `ACL` command. The rules themselves are [`flashdb_core::acl`].
//!
//! Connections keep the user they logged in as and a copy of its rules; a change to
//! any user bumps a version number that every connection compares (one relaxed atomic
//! load per command) before it trusts its copy, so checks take no lock.

mod cmd;
mod file;
mod log;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use flashdb_core::acl::{Denied, RuleContext, RuleError, UserRules};
use parking_lot::RwLock;

pub use cmd::acl_command;
pub use log::{Context, LogEntry, Reason};

/// Redis's `-NOPERM` reply text for a denied command.
pub fn noperm_text(spec: &flashdb_core::table::CommandSpec, denied: Denied) -> String {
    match denied {
        Denied::Command => format!(
            "NOPERM this user has no permissions to run the '{}' command",
            spec.name
        ),
        Denied::Key(_) => {
            "NOPERM this user has no permissions to access one of the keys used as arguments".into()
        }
        Denied::Channel(_) => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .into()
        }
    }
}

/// Records a denied call in the ACL log: the command, key or channel at fault, the
/// user, and the client as `CLIENT LIST` shows it.
pub fn record_denial(
    server: &Arc<crate::server::Server>,
    st: &crate::connection::ConnState,
    spec: &flashdb_core::table::CommandSpec,
    args: &[&[u8]],
    denied: Denied,
    context: Context,
) {
    let (reason, object): (Reason, &[u8]) = match denied {
        Denied::Command => (Reason::Command, spec.name.as_bytes()),
        Denied::Key(i) => (Reason::Key, args.get(i).copied().unwrap_or_default()),
        Denied::Channel(i) => (Reason::Channel, args.get(i).copied().unwrap_or_default()),
    };
    // The client's last command is the one denied, as Redis shows it.
    *st.handle.last_cmd.lock() = spec.name;
    let info = crate::commands::client_line(server, &st.handle);
    server
        .acl
        .record(LogEntry::new(reason, context, object, &st.user.name, info));
}

/// Checks a queued command again when `EXEC` runs it, as Redis does in case the rules
/// changed after it was queued; `Err` is the reply.
pub fn check_again(
    server: &Arc<crate::server::Server>,
    st: &mut crate::connection::ConnState,
    spec: &'static flashdb_core::table::CommandSpec,
    args: &[&[u8]],
) -> Result<(), String> {
    if st.acl_exempt {
        return Ok(());
    }
    st.refresh_rules(server);
    if st.rules.unrestricted() {
        return Ok(());
    }
    let Err(denied) = st.rules.check(spec, args) else {
        return Ok(());
    };
    record_denial(server, st, spec, args, denied, Context::Multi);
    let reason = match denied {
        Denied::Command => "no permission to execute the command or subcommand",
        Denied::Key(_) => "no permission to touch the specified keys",
        Denied::Channel(_) => "no permission to access one of the channels used as arguments",
    };
    Err(format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}"))
}

/// Checks a command a script calls (`redis.call`), for the script's caller; `Err` is
/// the error the script gets, Redis's text.
pub fn check_in_script(
    server: &Arc<crate::server::Server>,
    st: &mut crate::connection::ConnState,
    spec: &'static flashdb_core::table::CommandSpec,
    args: &[&[u8]],
) -> Result<(), String> {
    if st.acl_exempt || st.rules.unrestricted() {
        return Ok(());
    }
    let Err(denied) = st.rules.check(spec, args) else {
        return Ok(());
    };
    record_denial(server, st, spec, args, denied, Context::Lua);
    let what = match denied {
        Denied::Command => "can't run this command or subcommand",
        Denied::Key(_) => {
            "can't access at least one of the keys mentioned in the command arguments"
        }
        Denied::Channel(_) => "can't publish to the channel mentioned in the command",
    };
    Err(format!("ERR The user executing the script {what}"))
}

/// Whether every subscription of a client is allowed by its user's current rules (a
/// pattern subscription needs the same pattern literally).
pub fn subscriptions_allowed(
    server: &Arc<crate::server::Server>,
    st: &mut crate::connection::ConnState,
) -> bool {
    st.refresh_rules(server);
    let Some(subs) = &st.subs else {
        return true;
    };
    let rules = &st.rules;
    subs.channels
        .iter()
        .chain(subs.shard.iter())
        .all(|c| rules.channel_allowed(c, false))
        && subs.patterns.iter().all(|p| rules.channel_allowed(p, true))
}

/// One user: a name and its current rules.
#[derive(Debug)]
pub struct User {
    /// The user's name (no spaces or NUL bytes).
    pub name: Vec<u8>,
    rules: RwLock<Arc<UserRules>>,
    deleted: AtomicBool,
    /// The token bucket of its `ratelimit=` rule, shared by all its connections.
    pub bucket: crate::ratelimit::Bucket,
}

impl User {
    fn new(name: &[u8], rules: UserRules) -> Arc<User> {
        Arc::new(User {
            name: name.to_vec(),
            rules: RwLock::new(Arc::new(rules)),
            deleted: AtomicBool::new(false),
            bucket: crate::ratelimit::Bucket::default(),
        })
    }

    /// The user's rules now.
    pub fn rules(&self) -> Arc<UserRules> {
        self.rules.read().clone()
    }

    /// The name, for messages and `CLIENT LIST`.
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// Whether `ACL DELUSER` or `ACL LOAD` removed the user.
    pub fn deleted(&self) -> bool {
        self.deleted.load(Ordering::Relaxed)
    }
}

/// What `set_user` changed: the user, and its rules before (none if it is new).
pub type SetUser = (Arc<User>, Option<Arc<UserRules>>);

/// Counters of denials, by reason (`INFO stats`, `/metrics`).
#[derive(Debug, Default)]
pub struct Denials {
    /// Wrong passwords and unknown or disabled users.
    pub auth: AtomicU64,
    /// Commands the user may not run.
    pub command: AtomicU64,
    /// Keys the user may not touch.
    pub key: AtomicU64,
    /// Channels the user may not use.
    pub channel: AtomicU64,
}

/// Every user, the ACL log and the settings they follow.
#[derive(Debug)]
pub struct Acl {
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    default: Arc<User>,
    version: AtomicU64,
    pubsub_all: AtomicBool,
    log: log::Log,
    /// Denials so far.
    pub denials: Denials,
    /// `--aclfile`, where `ACL LOAD` and `ACL SAVE` read and write users.
    pub file: Option<PathBuf>,
}

/// A user that `check_login` refused, and why, for the ACL log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginError {
    /// No such user, it is off, or the password is wrong.
    Wrong,
}

impl Acl {
    /// The users a server starts with: `default`, with `requirepass` as its password if
    /// one is given.
    pub fn new(requirepass: Option<&str>, file: Option<PathBuf>) -> Acl {
        let ctx = RuleContext::default();
        let default = User::new(b"default", UserRules::default_user(ctx));
        let acl = Acl {
            users: RwLock::new(BTreeMap::from([(b"default".to_vec(), default.clone())])),
            default,
            version: AtomicU64::new(1),
            pubsub_all: AtomicBool::new(false),
            log: log::Log::new(128),
            denials: Denials::default(),
            file,
        };
        acl.set_default_password(requirepass);
        acl
    }

    fn ctx(&self) -> RuleContext {
        RuleContext {
            pubsub_all: self.pubsub_all.load(Ordering::Relaxed),
        }
    }

    /// Changes `acl-pubsub-default` (`allchannels` true, `resetchannels` false).
    pub fn set_pubsub_default(&self, all: bool) {
        self.pubsub_all.store(all, Ordering::Relaxed);
    }

    /// `acl-pubsub-default` now.
    pub fn pubsub_default(&self) -> bool {
        self.pubsub_all.load(Ordering::Relaxed)
    }

    /// Changes `acllog-max-len`.
    pub fn set_log_max_len(&self, n: usize) {
        self.log.set_max_len(n);
    }

    /// A number that changes whenever any user's rules do.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.version.fetch_add(1, Ordering::Release);
    }

    /// The `default` user.
    pub fn default_user(&self) -> Arc<User> {
        self.default.clone()
    }

    /// Whether a new connection is logged in as `default` without `AUTH`: the default
    /// user is on and has no password.
    pub fn default_needs_no_password(&self) -> bool {
        let r = self.default.rules();
        r.nopass() && r.enabled()
    }

    /// The user of this name, if any.
    pub fn user(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    /// Every user, in name order.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// The user `name` if `pass` logs it in (Redis's `ACLCheckUserCredentials`).
    pub fn check_login(&self, name: &[u8], pass: &[u8]) -> Result<Arc<User>, LoginError> {
        let user = self.user(name).ok_or(LoginError::Wrong)?;
        if user.rules().password_ok(pass) {
            Ok(user)
        } else {
            Err(LoginError::Wrong)
        }
    }

    /// Sets the default user's password (`requirepass`): none makes it `nopass`.
    pub fn set_default_password(&self, pass: Option<&str>) {
        let ctx = self.ctx();
        let mut rules = (*self.default.rules()).clone();
        let _ = rules.apply(b"resetpass", ctx);
        let op = match pass {
            Some(p) => [b">".as_slice(), p.as_bytes()].concat(),
            None => b"nopass".to_vec(),
        };
        // Neither rule can fail.
        let _ = rules.apply(&op, ctx);
        *self.default.rules.write() = Arc::new(rules);
        self.bump();
    }

    /// Applies `ops` to user `name` (created if new), all or nothing, as `ACL SETUSER`.
    /// Returns the user and its rules before the change (none if it is new).
    pub fn set_user(&self, name: &[u8], ops: &[Vec<u8>]) -> Result<SetUser, (Vec<u8>, RuleError)> {
        let ctx = self.ctx();
        let mut users = self.users.write();
        let existing = users.get(name).cloned();
        let before = existing.as_ref().map(|u| u.rules());
        let mut rules = match &before {
            Some(r) => (**r).clone(),
            None => UserRules::new(ctx),
        };
        for op in ops {
            rules.apply(op, ctx).map_err(|e| (op.clone(), e))?;
        }
        let user = match existing {
            Some(u) => {
                *u.rules.write() = Arc::new(rules);
                u
            }
            None => {
                let u = User::new(name, rules);
                users.insert(name.to_vec(), u.clone());
                u
            }
        };
        drop(users);
        self.bump();
        Ok((user, before))
    }

    /// Removes users (never `default`); returns those removed.
    pub fn delete_users(&self, names: &[&[u8]]) -> Vec<Arc<User>> {
        let mut users = self.users.write();
        let gone: Vec<Arc<User>> = names.iter().filter_map(|n| users.remove(*n)).collect();
        drop(users);
        for u in &gone {
            u.deleted.store(true, Ordering::Relaxed);
        }
        self.bump();
        gone
    }

    /// Replaces every user with `new` (the default user's rules are copied into the
    /// existing one, which connections share); returns the users that are gone or were
    /// replaced, whose connections must close, as Redis's `ACL LOAD` closes them.
    pub fn replace_all(&self, new: BTreeMap<Vec<u8>, UserRules>) -> Vec<Arc<User>> {
        let ctx = self.ctx();
        let mut users = self.users.write();
        let mut next = BTreeMap::new();
        let default_rules = new
            .get(b"default".as_slice())
            .cloned()
            .unwrap_or_else(|| UserRules::default_user(ctx));
        *self.default.rules.write() = Arc::new(default_rules);
        next.insert(b"default".to_vec(), self.default.clone());
        for (name, rules) in new {
            if name != b"default" {
                next.insert(name.clone(), User::new(&name, rules));
            }
        }
        let old = std::mem::replace(&mut *users, next);
        drop(users);
        let gone: Vec<Arc<User>> = old
            .into_iter()
            .filter(|(n, _)| n != b"default")
            .map(|(_, u)| u)
            .collect();
        for u in &gone {
            u.deleted.store(true, Ordering::Relaxed);
        }
        self.bump();
        gone
    }

    /// Records a denial in the ACL log and the counters.
    pub fn record(&self, entry: LogEntry) {
        let counter = match entry.reason {
            Reason::Auth => &self.denials.auth,
            Reason::Command => &self.denials.command,
            Reason::Key => &self.denials.key,
            Reason::Channel => &self.denials.channel,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.log.add(entry);
    }

    /// The newest `count` log entries, newest first.
    pub fn log_entries(&self, count: usize) -> Vec<LogEntry> {
        self.log.newest(count)
    }

    /// Empties the ACL log.
    pub fn log_reset(&self) {
        self.log.reset();
    }

    /// The rules loaded from an ACL file (Redis's format: `user <name> rules...` lines).
    pub fn parse_file(
        &self,
        path: &std::path::Path,
    ) -> Result<BTreeMap<Vec<u8>, UserRules>, String> {
        file::parse(path, self.ctx())
    }

    /// Writes every user to `path` in the ACL file format, atomically.
    pub fn save_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        file::save(path, &self.users())
    }
}
