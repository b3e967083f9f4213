//! The `ACL` command, with Redis 7.0's replies and error texts.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use flashdb_core::acl::{
    category_names, commands_in_category, is_category, merge_selector_args, Denied,
};
use flashdb_core::table::{lookup, lookup_sub, Handler};
use flashdb_protocol::parse_i64;
use rand::RngCore;

use super::User;
use crate::connection::ConnState;
use crate::server::Server;

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];

const NO_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// Runs `ACL <sub> ...`; `sub` is the table name (`acl|setuser`, ...).
pub fn acl_command(server: &Arc<Server>, st: &mut ConnState, sub: &str, args: &[&[u8]]) {
    let acl = &server.acl;
    match sub {
        "acl|setuser" => setuser(server, st, args),
        "acl|deluser" => {
            if args[2..].iter().any(|n| *n == b"default") {
                st.out.error("ERR The 'default' user cannot be removed");
                return;
            }
            let gone = acl.delete_users(&args[2..]);
            close_clients_of(server, st, &gone);
            st.out.int(gone.len() as i64);
        }
        "acl|getuser" => getuser(server, st, args[2]),
        "acl|list" | "acl|users" => {
            let users = acl.users();
            st.out.array(users.len());
            for u in users {
                if sub == "acl|users" {
                    st.out.bulk(&u.name);
                } else {
                    let mut line = b"user ".to_vec();
                    line.extend_from_slice(&u.name);
                    line.push(b' ');
                    line.extend_from_slice(&u.rules().describe());
                    st.out.bulk(&line);
                }
            }
        }
        "acl|whoami" => {
            let name = st.user.name.clone();
            st.out.bulk(&name);
        }
        "acl|load" | "acl|save" if acl.file.is_none() => st.out.error(NO_FILE),
        "acl|load" => {
            let Some(path) = acl.file.clone() else { return };
            match acl.parse_file(&path) {
                Ok(users) => {
                    let gone = acl.replace_all(users);
                    close_clients_of(server, st, &gone);
                    st.out.ok();
                }
                Err(e) => st.out.error(&format!("ERR {e}")),
            }
        }
        "acl|save" => {
            let Some(path) = acl.file.clone() else { return };
            match acl.save_file(&path) {
                Ok(()) => st.out.ok(),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "ACL SAVE failed");
                    st.out.error("ERR There was an error trying to save the ACLs. Please check the server logs for more information");
                }
            }
        }
        "acl|cat" => cat(st, args),
        "acl|genpass" => genpass(st, args),
        "acl|log" => log(server, st, args),
        "acl|dryrun" => dryrun(server, st, args),
        "acl|help" => {
            st.out.array(HELP.len());
            for l in HELP {
                st.out.simple(l.as_bytes());
            }
        }
        _ => st.out.error("ERR unknown ACL subcommand"),
    }
}

fn setuser(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) {
    let name = args[2];
    if name
        .iter()
        .any(|&c| c == 0 || c.is_ascii_whitespace() || c == 0x0b)
    {
        st.out
            .error("ERR Usernames can't contain spaces or null characters");
        return;
    }
    let ops = match merge_selector_args(&args[3..]) {
        Ok(ops) => ops,
        Err(at) => {
            st.out.error(&format!(
                "ERR Unmatched parenthesis in acl selector starting at '{}'.",
                String::from_utf8_lossy(args[3 + at])
            ));
            return;
        }
    };
    match server.acl.set_user(name, &ops) {
        Ok((user, Some(before))) => {
            let after = user.rules();
            // Subscribers whose channels the new rules no longer allow are closed, as
            // Redis closes them; their connections check their own subscriptions.
            if after != before {
                for c in server.clients.lock().values() {
                    if Arc::ptr_eq(&c.user.lock(), &user)
                        && c.subscriptions.load(Ordering::Relaxed) > 0
                    {
                        c.acl_recheck.store(true, Ordering::Relaxed);
                        c.wake.notify_one();
                    }
                }
            }
            st.out.ok();
        }
        Ok((_, None)) => st.out.ok(),
        Err((op, e)) => st.out.error(&format!(
            "ERR Error in ACL SETUSER modifier '{}': {e}",
            String::from_utf8_lossy(&op)
        )),
    }
}

/// Closes the connections logged in as any of `gone`, as Redis does when a user is
/// deleted; this client's own connection closes after its reply.
fn close_clients_of(server: &Arc<Server>, st: &mut ConnState, gone: &[Arc<User>]) {
    if gone.is_empty() {
        return;
    }
    for c in server.clients.lock().values() {
        let user = c.user.lock().clone();
        if gone.iter().any(|g| Arc::ptr_eq(g, &user)) {
            c.killed.store(true, Ordering::Relaxed);
            c.wake.notify_one();
        }
    }
    if gone.iter().any(|g| Arc::ptr_eq(g, &st.user)) {
        st.close_after_reply = true;
    }
}

fn getuser(server: &Arc<Server>, st: &mut ConnState, name: &[u8]) {
    let Some(user) = server.acl.user(name) else {
        st.out.null();
        return;
    };
    let rules = user.rules();
    st.out.map(6);
    st.out.bulk(b"flags");
    let flags = rules.flags();
    st.out.set(flags.len());
    for f in flags {
        st.out.bulk(f.as_bytes());
    }
    st.out.bulk(b"passwords");
    let hashes = rules.password_hashes();
    st.out.array(hashes.len());
    for h in hashes {
        st.out.bulk(h.as_bytes());
    }
    selector_fields(st, rules.root());
    st.out.bulk(b"selectors");
    let extra = rules.extra_selectors();
    st.out.array(extra.len());
    for s in extra {
        st.out.map(3);
        selector_fields(st, s);
    }
}

fn selector_fields(st: &mut ConnState, s: &flashdb_core::acl::Selector) {
    st.out.bulk(b"commands");
    st.out.bulk(s.command_rules().as_bytes());
    st.out.bulk(b"keys");
    st.out.bulk(&s.keys_text());
    st.out.bulk(b"channels");
    st.out.bulk(&s.channels_text());
}

fn cat(st: &mut ConnState, args: &[&[u8]]) {
    match args.get(2) {
        None => {
            let names = category_names();
            st.out.array(names.len());
            for n in names {
                st.out.bulk(n.as_bytes());
            }
        }
        Some(c) => match is_category(c) {
            Some(i) => {
                let members = commands_in_category(i);
                st.out.array(members.len());
                for m in members {
                    st.out.bulk(m.name.as_bytes());
                }
            }
            None => {
                let shown: Vec<u8> = c.iter().copied().take(128).collect();
                st.out.error(&format!(
                    "ERR Unknown category '{}'",
                    String::from_utf8_lossy(&shown)
                ));
            }
        },
    }
}

fn genpass(st: &mut ConnState, args: &[&[u8]]) {
    const MAX_BITS: i64 = 4096;
    let bits = match args.get(2) {
        None => 256,
        Some(a) => match parse_i64(a) {
            Some(n) => n,
            None => {
                st.out.error("ERR value is not an integer or out of range");
                return;
            }
        },
    };
    if bits <= 0 || bits > MAX_BITS {
        st.out.error(&format!("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to {MAX_BITS}"));
        return;
    }
    let chars = ((bits + 3) / 4) as usize;
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    st.out.bulk(&hex.as_bytes()[..chars]);
}

fn log(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) {
    let mut count = 10usize;
    if let Some(a) = args.get(2) {
        if a.eq_ignore_ascii_case(b"reset") {
            server.acl.log_reset();
            st.out.ok();
            return;
        }
        match parse_i64(a) {
            Some(n) => count = n.max(0) as usize,
            None => {
                st.out.error("ERR value is not an integer or out of range");
                return;
            }
        }
    }
    let entries = server.acl.log_entries(count);
    st.out.array(entries.len());
    for e in entries {
        st.out.map(7);
        st.out.bulk(b"count");
        st.out.int(e.count as i64);
        st.out.bulk(b"reason");
        st.out.bulk(e.reason.name().as_bytes());
        st.out.bulk(b"context");
        st.out.bulk(e.context.name().as_bytes());
        st.out.bulk(b"object");
        st.out.bulk(&e.object);
        st.out.bulk(b"username");
        st.out.bulk(&e.username);
        st.out.bulk(b"age-seconds");
        st.out.double(e.at.elapsed().as_secs_f64());
        st.out.bulk(b"client-info");
        st.out.bulk(e.client_info.as_bytes());
    }
}

fn dryrun(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) {
    let Some(user) = server.acl.user(args[2]) else {
        st.out.error(&format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(args[2])
        ));
        return;
    };
    let call = &args[3..];
    let found = lookup(call[0]).and_then(|c| {
        if matches!(c.handler, Handler::Container) && call.len() >= 2 {
            lookup_sub(c, call[1])
        } else {
            Some(c)
        }
    });
    let Some(spec) = found else {
        st.out.error(&format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(call[0])
        ));
        return;
    };
    if !spec.arity_ok(call.len()) {
        st.out.error(&format!(
            "ERR wrong number of arguments for '{}' command",
            spec.name
        ));
        return;
    }
    match user.rules().check(spec, call) {
        Ok(()) => st.out.ok(),
        Err(d) => {
            let msg = match d {
                Denied::Command => format!(
                    "This user has no permissions to run the '{}' command",
                    spec.name
                ),
                Denied::Key(i) => format!(
                    "This user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(call[i])
                ),
                Denied::Channel(i) => format!(
                    "This user has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(call[i])
                ),
            };
            st.out.bulk(msg.as_bytes());
        }
    }
}
