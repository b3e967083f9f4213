//! `SENTINEL`: every node of a group answers the Redis Sentinel queries that clients use
//! to find the master (`get-master-addr-by-name`, `masters`, `master`, `replicas`,
//! `sentinels`), so that redis-py's, ioredis's or go-redis's Sentinel clients, pointed at
//! the nodes as if they were Sentinels, find the leader and follow it through failovers.
//!
//! The group is the one "master" these Sentinels monitor, under `--group-name` (by
//! default `mymaster`, the name Sentinel set-ups usually use); its leader is the master,
//! the other members its replicas, and every node a Sentinel. States are given in
//! Sentinel's field names and shapes, every value a string, as Sentinel sends them.

use crate::connection::ConnState;
use crate::server::Server;

const HELP: &[&str] = &[
    "SENTINEL <subcommand> [<arg> ...]. Subcommands are:",
    "GET-MASTER-ADDR-BY-NAME <master-name>",
    "    Return the ip and port of the group's leader.",
    "MASTERS",
    "    Show the group's leader as the one monitored master.",
    "MASTER <master-name>",
    "    Show the state of the group's leader.",
    "REPLICAS <master-name>",
    "    Show the other members of the group as its replicas.",
    "SENTINELS <master-name>",
    "    Show the other members of the group as Sentinels.",
    "MYID",
    "    Return this node's run id.",
    "HELP",
    "    Print this help.",
];

/// The delay after which Sentinel would call a silent node down: the group's election
/// timeout plays that part.
const DOWN_AFTER_MS: &str = "600";

/// Runs `SENTINEL <sub>` (`name` is `sentinel|<sub>`).
pub fn run(server: &Server, st: &mut ConnState, name: &str, args: &[&[u8]]) {
    match name {
        "sentinel|help" => {
            st.out.array(HELP.len());
            for l in HELP {
                st.out.simple(l.as_bytes());
            }
            return;
        }
        "sentinel|myid" => {
            st.out.bulk(server.run_id.as_bytes());
            return;
        }
        _ => {}
    }
    let Some(view) = View::of(server) else {
        st.out.error(
            "ERR this node is not a member of a replication group: there is no master to monitor",
        );
        return;
    };
    if name == "sentinel|masters" {
        st.out.array(1);
        view.master(st);
        return;
    }
    // Every other subcommand names the master.
    let asked = args.get(2).copied().unwrap_or_default();
    let known = asked == view.name.as_bytes();
    match name {
        "sentinel|get-master-addr-by-name" => match (&view.leader, known) {
            (Some(l), true) => {
                st.out.array(2);
                st.out.bulk(l.host.as_bytes());
                st.out.bulk(l.port.as_bytes());
            }
            _ => st.out.null_array(),
        },
        _ if !known => st.out.error("ERR No such master with that name"),
        "sentinel|master" => view.master(st),
        "sentinel|replicas" | "sentinel|slaves" => view.replicas(st),
        "sentinel|sentinels" => view.sentinels(st),
        other => st.out.error(&format!("ERR unknown command '{other}'")),
    }
}

/// A member as Sentinel shows it.
struct Node {
    id: u64,
    host: String,
    port: String,
    matched: u64,
}

/// The group as this node sees it now.
struct View {
    name: String,
    me: u64,
    term: u64,
    voters: usize,
    leader: Option<Node>,
    others: Vec<Node>,
}

impl View {
    fn of(server: &Server) -> Option<View> {
        let g = server.group.get()?;
        let cfg = server.config.group.as_ref()?;
        let m = g.metrics();
        let members = g.members();
        let node = |id: u64, matched: Option<u64>| {
            let (host, port) = server.peer_host_port(id);
            Node {
                id,
                host,
                port,
                matched: matched.unwrap_or(0),
            }
        };
        let leader = m
            .current_leader
            .map(|id| {
                node(
                    id,
                    members.iter().find(|x| x.id == id).and_then(|x| x.matched),
                )
            })
            .filter(|n| !n.port.is_empty());
        let others = members
            .iter()
            .filter(|x| Some(x.id) != m.current_leader)
            .map(|x| node(x.id, x.matched))
            .collect();
        Some(View {
            name: cfg.name.clone(),
            me: g.id,
            term: m.current_term,
            voters: members.iter().filter(|x| x.voter).count(),
            leader,
            others,
        })
    }

    /// The fields every state has after its flags: Sentinel's link to the node, which
    /// here is always up.
    fn link_fields() -> [(&'static str, String); 6] {
        [
            ("link-pending-commands", "0".into()),
            ("link-refcount", "1".into()),
            ("last-ping-sent", "0".into()),
            ("last-ok-ping-reply", "0".into()),
            ("last-ping-reply", "0".into()),
            ("down-after-milliseconds", DOWN_AFTER_MS.into()),
        ]
    }

    /// Writes one state: field and value pairs, as a map (RESP3) or a flat array.
    fn state(st: &mut ConnState, fields: &[(&str, String)]) {
        st.out.map(fields.len());
        for (k, v) in fields {
            st.out.bulk(k.as_bytes());
            st.out.bulk(v.as_bytes());
        }
    }

    fn master(&self, st: &mut ConnState) {
        let (host, port, flags) = match &self.leader {
            Some(l) => (l.host.clone(), l.port.clone(), "master"),
            // No leader now (an election): down, so that clients ask again.
            None => (String::new(), "0".into(), "master,s_down,o_down"),
        };
        let runid = self.leader.as_ref().map_or(0, |l| l.id).to_string();
        Self::state(
            st,
            &[
                ("name", self.name.clone()),
                ("ip", host),
                ("port", port),
                ("runid", runid),
                ("flags", flags.into()),
            ]
            .into_iter()
            .chain(Self::link_fields())
            .chain([
                ("info-refresh", "0".into()),
                ("role-reported", "master".into()),
                ("role-reported-time", "0".into()),
                ("config-epoch", self.term.to_string()),
                ("num-slaves", self.others.len().to_string()),
                (
                    "num-other-sentinels",
                    self.voters.saturating_sub(1).to_string(),
                ),
                ("quorum", (self.voters / 2 + 1).to_string()),
                ("failover-timeout", "60000".into()),
                ("parallel-syncs", "1".into()),
            ])
            .collect::<Vec<_>>(),
        );
    }

    fn replicas(&self, st: &mut ConnState) {
        let (mhost, mport) = self
            .leader
            .as_ref()
            .map_or((String::new(), "0".into()), |l| {
                (l.host.clone(), l.port.clone())
            });
        let link = if self.leader.is_some() { "ok" } else { "err" };
        let listed: Vec<&Node> = self.others.iter().filter(|n| !n.port.is_empty()).collect();
        st.out.array(listed.len());
        for n in listed {
            Self::state(
                st,
                &[
                    ("name", format!("{}:{}", n.host, n.port)),
                    ("ip", n.host.clone()),
                    ("port", n.port.clone()),
                    ("runid", n.id.to_string()),
                    ("flags", "slave".into()),
                ]
                .into_iter()
                .chain(Self::link_fields())
                .chain([
                    ("info-refresh", "0".into()),
                    ("role-reported", "slave".into()),
                    ("role-reported-time", "0".into()),
                    ("master-link-down-time", "0".into()),
                    ("master-link-status", link.into()),
                    ("master-host", mhost.clone()),
                    ("master-port", mport.clone()),
                    ("slave-priority", "100".into()),
                    ("slave-repl-offset", n.matched.to_string()),
                    ("replica-announced", "1".into()),
                ])
                .collect::<Vec<_>>(),
            );
        }
    }

    fn sentinels(&self, st: &mut ConnState) {
        let listed: Vec<&Node> = self
            .leader
            .iter()
            .chain(self.others.iter())
            .filter(|n| n.id != self.me && !n.port.is_empty())
            .collect();
        st.out.array(listed.len());
        for n in listed {
            Self::state(
                st,
                &[
                    ("name", n.id.to_string()),
                    ("ip", n.host.clone()),
                    ("port", n.port.clone()),
                    ("runid", n.id.to_string()),
                    ("flags", "sentinel".into()),
                ]
                .into_iter()
                .chain(Self::link_fields())
                .chain([
                    ("last-hello-message", "0".into()),
                    ("voted-leader", "?".into()),
                    ("voted-leader-epoch", "0".into()),
                ])
                .collect::<Vec<_>>(),
            );
        }
    }
}
