//! `CLIENT TRACKING`, `CLIENT CACHING`, `CLIENT GETREDIR` and `CLIENT TRACKINGINFO`,
//! with Redis 7's arguments, replies and errors (`networking.c`'s `clientCommand`).

use std::sync::Arc;

use crate::connection::ConnState;
use crate::server::Server;
use crate::tracking::Options;

const SYNTAX: &str = "ERR syntax error";

fn eq_ic(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Runs `CLIENT TRACKING|CACHING|GETREDIR|TRACKINGINFO` (`name` is the table's name).
pub fn run(server: &Arc<Server>, st: &mut ConnState, name: &str, args: &[&[u8]]) {
    match name {
        "client|tracking" => tracking(server, st, args),
        "client|caching" => caching(st, args),
        "client|getredir" => {
            let t = st.handle.tracking.lock();
            let redir = if t.on { t.redirect as i64 } else { -1 };
            drop(t);
            st.out.int(redir);
        }
        _ => tracking_info(st),
    }
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`
fn tracking(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) {
    let mut opts = Options::default();
    let mut redirect_to = None;
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let a = args[j];
        if eq_ic(a, b"redirect") && more {
            j += 1;
            if opts.redirect != 0 {
                return st
                    .out
                    .error("ERR A client can only redirect to a single other client");
            }
            let Some(id) = flashdb_core::numeric::parse_int(args[j]) else {
                return st.out.error("ERR value is not an integer or out of range");
            };
            let target = u64::try_from(id)
                .ok()
                .and_then(|id| server.clients.lock().get(&id).cloned());
            let Some(target) = target else {
                return st
                    .out
                    .error("ERR The client ID you want redirect to does not exist");
            };
            opts.redirect = target.id;
            redirect_to = Some(target);
        } else if eq_ic(a, b"bcast") {
            opts.bcast = true;
        } else if eq_ic(a, b"optin") {
            opts.optin = true;
        } else if eq_ic(a, b"optout") {
            opts.optout = true;
        } else if eq_ic(a, b"noloop") {
            opts.noloop = true;
        } else if eq_ic(a, b"prefix") && more {
            j += 1;
            // Bounded by the request size, as any argument list is.
            opts.prefixes.push(args[j].to_vec());
        } else {
            return st.out.error(SYNTAX);
        }
        j += 1;
    }
    if eq_ic(args[2], b"on") {
        if server.config.group.is_some() {
            // A follower applies the leader's changes without keyspace events, and its
            // clients' reads run on the leader: nothing here would invalidate them.
            return st.out.error("ERR CLIENT TRACKING is not available on a node of a replication group yet: changes applied from the group's log would not invalidate cached keys");
        }
        match server
            .tracking
            .enable(&server.ks, &st.handle, opts, redirect_to.as_ref())
        {
            Ok(()) => {
                st.tracking = true;
                st.out.ok();
            }
            Err(e) => st.out.error(&e),
        }
    } else if eq_ic(args[2], b"off") {
        server.tracking.disable(&server.ks, &st.handle);
        st.tracking = false;
        st.out.ok();
    } else {
        st.out.error(SYNTAX);
    }
}

/// `CLIENT CACHING YES|NO`
fn caching(st: &mut ConnState, args: &[&[u8]]) {
    let mut t = st.handle.tracking.lock();
    if !t.on {
        drop(t);
        return st.out.error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
    }
    let err = if eq_ic(args[2], b"yes") {
        if t.optin {
            t.caching = true;
            None
        } else {
            Some("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
        }
    } else if eq_ic(args[2], b"no") {
        if t.optout {
            t.caching = true;
            None
        } else {
            Some("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
        }
    } else {
        Some(SYNTAX)
    };
    drop(t);
    match err {
        Some(e) => st.out.error(e),
        None => st.out.ok(),
    }
}

/// `CLIENT TRACKINGINFO`: a map of `flags` (a set), `redirect` and `prefixes`.
fn tracking_info(st: &mut ConnState) {
    let t = st.handle.tracking.lock();
    let mut flags: Vec<&[u8]> = vec![if t.on { b"on" } else { b"off" }];
    if t.bcast {
        flags.push(b"bcast");
    }
    if t.optin {
        flags.push(b"optin");
        if t.caching {
            flags.push(b"caching-yes");
        }
    }
    if t.optout {
        flags.push(b"optout");
        if t.caching {
            flags.push(b"caching-no");
        }
    }
    if t.noloop {
        flags.push(b"noloop");
    }
    if t.broken_redirect {
        flags.push(b"broken_redirect");
    }
    let redirect = if t.on { t.redirect as i64 } else { -1 };
    let prefixes: Vec<Vec<u8>> = t.prefixes.iter().cloned().collect();
    drop(t);
    st.out.map(3);
    st.out.bulk(b"flags");
    st.out.set(flags.len());
    for f in flags {
        st.out.bulk(f);
    }
    st.out.bulk(b"redirect");
    st.out.int(redirect);
    st.out.bulk(b"prefixes");
    st.out.array(prefixes.len());
    for p in &prefixes {
        st.out.bulk(p);
    }
}

/// The keys a read by a tracking client makes it remember, or `None` when it remembers
/// nothing: tracking off or in `BCAST` mode, a command that does not read, or an
/// `OPTIN` client without `CLIENT CACHING yes` (an `OPTOUT` one with `CLIENT CACHING
/// no`), as Redis's `trackingRememberKeys`.
pub fn keys_to_remember(
    st: &ConnState,
    spec: &flashdb_core::CommandSpec,
    args: &[&[u8]],
) -> Option<Vec<Vec<u8>>> {
    use flashdb_core::table::flag;
    if !st.tracking || !spec.has(flag::READONLY) || spec.has(flag::PUBSUB) {
        return None;
    }
    {
        let t = st.handle.tracking.lock();
        if !t.on || t.bcast || (t.optin && !t.caching) || (t.optout && t.caching) {
            return None;
        }
    }
    let keys: Vec<Vec<u8>> = spec
        .keys_in(args)?
        .into_iter()
        .filter_map(|i| args.get(i).map(|k| k.to_vec()))
        .collect();
    (!keys.is_empty()).then_some(keys)
}

/// Ends the effect of `CLIENT CACHING` after the command it was for, as Redis does
/// after any command that is not a `CLIENT` one, outside a transaction.
pub fn after_command(st: &ConnState, spec: &flashdb_core::CommandSpec) {
    if st.tracking && !st.tx.active() && !spec.name.starts_with("client|") {
        st.handle.tracking.lock().caching = false;
    }
}

/// `CLIENT LIST`'s flags for tracking (`t`, `R` for a broken redirect, `B` for
/// `BCAST`) and its `redir` field.
pub fn list_fields(client: &crate::server::ClientHandle) -> (String, i64) {
    let t = client.tracking.lock();
    let mut flags = String::new();
    if t.on {
        flags.push('t');
        if t.broken_redirect {
            flags.push('R');
        }
        if t.bcast {
            flags.push('B');
        }
    }
    (flags, if t.on { t.redirect as i64 } else { -1 })
}
