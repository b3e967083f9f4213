//! `FLASHDB.GROUP`: the membership commands of a replication group. `MEMBERS` and `ID`
//! answer from this node; `ADD`, `REMOVE` and `REPLACE` run on the leader (sent there from
//! any other node) and reply once the change is committed.

use flashdb_protocol::parse_i64;

use crate::connection::{ConnState, Flow};
use crate::group::GroupOp;
use crate::server::Server;

const HELP: &[&str] = &[
    "FLASHDB.GROUP <subcommand> [<arg> ...]. Subcommands are:",
    "MEMBERS",
    "    Return the members of the group: id, addresses, voter or learner, match index.",
    "ID",
    "    Return the id of the group.",
    "ADD <node-id> <raft-host:port>",
    "    Add a node: it catches up as a learner, then becomes a voter.",
    "REMOVE <node-id>",
    "    Remove a node from the group.",
    "REPLACE <old-node-id> <new-node-id> <raft-host:port>",
    "    Replace a voter by a new node, which catches up first.",
    "HELP",
    "    Print this help.",
];

const NOT_IN_GROUP: &str =
    "ERR this node is not a member of a replication group (start it with --node-id, --raft-port and --peers)";

/// Runs `FLASHDB.GROUP <sub>` (`name` is `flashdb.group|<sub>`).
pub fn run(server: &Server, st: &mut ConnState, name: &str, args: &[&[u8]]) -> Flow {
    if name == "flashdb.group|help" {
        st.out.array(HELP.len());
        for l in HELP {
            st.out.simple(l.as_bytes());
        }
        return Flow::Continue;
    }
    let Some(g) = server.group.get() else {
        st.out.error(NOT_IN_GROUP);
        return Flow::Continue;
    };
    let op = match name {
        "flashdb.group|id" => {
            match g.identity.get() {
                Some(id) => st.out.bulk(id.0.as_bytes()),
                None => st.out.null(),
            }
            return Flow::Continue;
        }
        "flashdb.group|members" => {
            members(server, st);
            return Flow::Continue;
        }
        "flashdb.group|add" => match (node_id(args[2]), address(args[3])) {
            (Ok(id), Ok(addr)) => GroupOp::Add { id, addr },
            (Err(e), _) | (_, Err(e)) => {
                st.out.error(&e);
                return Flow::Continue;
            }
        },
        "flashdb.group|remove" => match node_id(args[2]) {
            Ok(id) => GroupOp::Remove { id },
            Err(e) => {
                st.out.error(&e);
                return Flow::Continue;
            }
        },
        "flashdb.group|replace" => match (node_id(args[2]), node_id(args[3]), address(args[4])) {
            (Ok(old), Ok(new), Ok(addr)) => GroupOp::Replace { old, new, addr },
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                st.out.error(&e);
                return Flow::Continue;
            }
        },
        other => {
            st.out.error(&format!("ERR unknown command '{other}'"));
            return Flow::Continue;
        }
    };
    if !g.is_ready_leader() && !st.forwarded {
        st.forward = Some(vec![args.iter().map(|a| a.to_vec()).collect()]);
        return Flow::Forward;
    }
    st.group_op = Some(op);
    Flow::Group
}

/// `MEMBERS`: one entry per member, as a map (RESP3) or a flat array of field and value.
fn members(server: &Server, st: &mut ConnState) {
    let Some(g) = server.group.get() else {
        return;
    };
    let leader = g.metrics().current_leader;
    let members = g.members();
    st.out.array(members.len());
    for m in members {
        let resp = server
            .peer_resp
            .read()
            .get(&m.id)
            .cloned()
            .unwrap_or_default();
        st.out.map(6);
        st.out.bulk(b"id");
        st.out.int(m.id as i64);
        st.out.bulk(b"raft-addr");
        st.out.bulk(m.node.raft_addr.as_bytes());
        st.out.bulk(b"resp-addr");
        st.out.bulk(resp.as_bytes());
        st.out.bulk(b"role");
        st.out.bulk(if m.voter { b"voter" } else { b"learner" });
        st.out.bulk(b"leader");
        st.out.int(i64::from(leader == Some(m.id)));
        st.out.bulk(b"match-index");
        match m.matched {
            Some(i) => st.out.int(i as i64),
            None => st.out.null(),
        }
    }
}

fn node_id(raw: &[u8]) -> Result<u64, String> {
    match parse_i64(raw) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(format!(
            "ERR invalid node id '{}': a non-negative integer is expected",
            String::from_utf8_lossy(raw)
        )),
    }
}

fn address(raw: &[u8]) -> Result<String, String> {
    let s = std::str::from_utf8(raw).map_err(|_| "ERR the address is not UTF-8".to_string())?;
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(s.to_string())
        }
        _ => Err(format!(
            "ERR invalid address '{s}': HOST:PORT of the node's --raft-port is expected"
        )),
    }
}

/// How long a `FAILOVER` without `TIMEOUT` may take.
const FAILOVER_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// `FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]`: hands leadership to a voter
/// (the one named by its client address, or the most up to date), in the background, as
/// Redis does; `INFO replication` shows `master_failover_state`. On a node that does not
/// lead it runs on the leader. `FORCE` is accepted and changes nothing: a node whose log
/// is behind cannot be elected, so the hand-over always waits for the target to catch up.
pub fn failover(server: &Server, st: &mut ConnState, args: &[&[u8]]) -> Flow {
    let leads = server.group.get().is_some_and(|g| g.is_ready_leader());
    let runs_here = leads || st.forwarded || server.group.get().is_none();
    if args.len() == 2 && args[1].eq_ignore_ascii_case(b"abort") {
        let in_progress = server.group.get().is_some_and(|g| g.handover().is_some());
        if in_progress || runs_here {
            match server.group.get() {
                Some(g) if g.abort_handover() => st.out.ok(),
                _ => st.out.error("ERR No failover in progress."),
            }
            return Flow::Continue;
        }
        st.forward = Some(vec![args.iter().map(|a| a.to_vec()).collect()]);
        return Flow::Forward;
    }
    let mut timeout_ms: i64 = 0;
    let mut to: Option<(String, i64)> = None;
    let mut force = false;
    let mut j = 1;
    while j < args.len() {
        let a = args[j];
        if a.eq_ignore_ascii_case(b"timeout") && j + 1 < args.len() && timeout_ms == 0 {
            let Some(t) = parse_i64(args[j + 1]) else {
                st.out.error("ERR value is not an integer or out of range");
                return Flow::Continue;
            };
            if t <= 0 {
                st.out.error("ERR FAILOVER timeout must be greater than 0");
                return Flow::Continue;
            }
            timeout_ms = t;
            j += 2;
        } else if a.eq_ignore_ascii_case(b"to") && j + 2 < args.len() && to.is_none() {
            let Some(port) = parse_i64(args[j + 2]) else {
                st.out.error("ERR value is not an integer or out of range");
                return Flow::Continue;
            };
            to = Some((String::from_utf8_lossy(args[j + 1]).into_owned(), port));
            j += 3;
        } else if a.eq_ignore_ascii_case(b"force") && !force {
            force = true;
            j += 1;
        } else {
            st.out.error("ERR syntax error");
            return Flow::Continue;
        }
    }
    let Some(g) = server.group.get() else {
        st.out.error("ERR FAILOVER requires connected replicas.");
        return Flow::Continue;
    };
    if g.handover().is_some() {
        st.out.error("ERR FAILOVER already in progress.");
        return Flow::Continue;
    }
    if !runs_here {
        st.forward = Some(vec![args.iter().map(|a| a.to_vec()).collect()]);
        return Flow::Forward;
    }
    let followers = g.followers();
    if followers.is_empty() {
        st.out.error("ERR FAILOVER requires connected replicas.");
        return Flow::Continue;
    }
    if force && (timeout_ms == 0 || to.is_none()) {
        st.out.error(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        );
        return Flow::Continue;
    }
    let target = match &to {
        Some((host, port)) => {
            let want = format!("{host}:{port}");
            let resp = server.peer_resp.read();
            followers
                .iter()
                .map(|(id, _)| *id)
                .find(|id| resp.get(id) == Some(&want))
        }
        None => followers.iter().max_by_key(|(_, m)| *m).map(|(id, _)| *id),
    };
    let Some(target) = target else {
        st.out
            .error("ERR FAILOVER target HOST and PORT is not a replica.");
        return Flow::Continue;
    };
    let patience = if timeout_ms > 0 {
        std::time::Duration::from_millis(timeout_ms as u64)
    } else {
        FAILOVER_PATIENCE
    };
    use flashdb_replication::HandOverError;
    match g.begin_handover(target, patience) {
        Ok(run) => {
            tokio::spawn(run);
            st.out.ok();
        }
        Err(HandOverError::InProgress) => st.out.error("ERR FAILOVER already in progress."),
        Err(HandOverError::NotAVoter(_)) => st
            .out
            .error("ERR FAILOVER target HOST and PORT is not a replica."),
        Err(e) => st.out.error(&format!("TRYAGAIN {e}")),
    }
    Flow::Continue
}
