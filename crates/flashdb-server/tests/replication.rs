//! A group of three real `flashdb` processes: writes through any node are read on every
//! node, the leader's death is survived with nothing acknowledged lost, a restarted node
//! catches up, and a whole group restarts from its directories.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::group::Group;

fn applied_index(g: &Group, id: u64) -> u64 {
    let info = g.raw(id).call(&["INFO", "replication"]);
    info.lines()
        .find_map(|l| l.strip_prefix("raft_applied_index:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no raft_applied_index in {info}"))
}

#[test]
fn writes_through_any_node_are_read_on_every_node() {
    let g = Group::start(3);
    for id in 1..=3u64 {
        let reply = g
            .raw(id)
            .call(&["SET", &format!("k{id}"), &format!("v{id}")]);
        assert_eq!(reply, "+OK\r\n", "SET through node {id}");
    }
    for reader in 1..=3u64 {
        let mut c = g.raw(reader);
        for id in 1..=3u64 {
            let v = format!("v{id}");
            assert_eq!(
                c.call(&["GET", &format!("k{id}")]),
                format!("${}\r\n{v}\r\n", v.len()),
                "k{id} read through node {reader}"
            );
        }
    }
    // One counter, incremented through each node in turn: one sequence.
    for (i, id) in [1u64, 2, 3, 1, 2, 3].iter().enumerate() {
        assert_eq!(
            g.raw(*id).call(&["INCR", "counter"]),
            format!(":{}\r\n", i + 1)
        );
    }
    // ROLE in Redis's shapes.
    let leader = g.wait_leader();
    let role = g.raw(leader).call(&["ROLE"]);
    assert!(role.starts_with("*3\r\n$6\r\nmaster\r\n:"), "{role}");
    let leader_port = g.node(leader).port.to_string();
    for id in (1..=3u64).filter(|&id| id != leader) {
        let start = Instant::now();
        // A follower learns the leader's client address shortly after start.
        loop {
            let role = g.raw(id).call(&["ROLE"]);
            assert!(role.starts_with("*5\r\n$5\r\nslave\r\n"), "{role}");
            if role.contains(&format!(":{leader_port}\r\n$9\r\nconnected\r\n")) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{role}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let info = g.raw(id).call(&["INFO", "replication"]);
        assert!(info.contains("role:slave"), "{info}");
        assert!(info.contains(&format!("raft_leader_id:{leader}")), "{info}");
    }
}

#[test]
fn a_killed_leader_is_replaced_and_nothing_acknowledged_is_lost() {
    let mut g = Group::start(3);
    for i in 0..30u64 {
        let via = i % 3 + 1;
        assert_eq!(
            g.raw(via)
                .call(&["SET", &format!("key:{i}"), &i.to_string()]),
            "+OK\r\n"
        );
    }
    let old = g.wait_leader();
    g.kill(old);
    let survivor = (1..=3u64).find(|&id| id != old).unwrap();
    // The write waits for a new leader (the node forwards it once one is elected).
    assert_eq!(
        g.raw(survivor).call(&["SET", "after", "failover"]),
        "+OK\r\n"
    );
    let new = g.wait_leader();
    assert_ne!(new, old);
    for id in (1..=3u64).filter(|&id| id != old) {
        let mut c = g.raw(id);
        for i in 0..30u64 {
            let v = i.to_string();
            assert_eq!(
                c.call(&["GET", &format!("key:{i}")]),
                format!("${}\r\n{v}\r\n", v.len()),
                "key:{i} through node {id}"
            );
        }
        assert_eq!(c.call(&["GET", "after"]), "$8\r\nfailover\r\n");
    }
    // The old leader comes back as a follower and catches up from the log.
    g.start_node(old);
    assert_eq!(g.raw(new).call(&["SET", "later", "x"]), "+OK\r\n");
    let target = applied_index(&g, new);
    let start = Instant::now();
    while applied_index(&g, old) < target {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "node {old} did not catch up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let role = g.raw(old).call(&["ROLE"]);
    assert!(role.starts_with("*5\r\n$5\r\nslave\r\n"), "{role}");
}

#[test]
fn a_whole_group_restarts_from_its_directories() {
    let mut g = Group::start(3);
    for i in 0..20u64 {
        assert_eq!(
            g.raw(i % 3 + 1).call(&["RPUSH", "list", &i.to_string()]),
            format!(":{}\r\n", i + 1)
        );
    }
    for id in 1..=3u64 {
        g.kill(id);
    }
    for id in 1..=3u64 {
        g.start_node(id);
    }
    g.wait_leader();
    for id in 1..=3u64 {
        let reply = g.raw(id).call(&["LLEN", "list"]);
        assert_eq!(reply, ":20\r\n", "through node {id}");
    }
    assert_eq!(g.raw(2).call(&["LINDEX", "list", "-1"]), "$2\r\n19\r\n");
}

#[test]
fn a_transaction_through_a_follower_runs_on_the_leader() {
    let g = Group::start(3);
    let leader = g.wait_leader();
    let follower = (1..=3u64).find(|&id| id != leader).unwrap();
    let mut c = g.raw(follower);
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["SET", "tx:a", "1"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["INCR", "tx:a"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["GET", "tx:a"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]), "*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n");
    assert_eq!(g.raw(leader).call(&["GET", "tx:a"]), "$1\r\n2\r\n");
    // On the leader, WATCH works as on a single node.
    let mut l = g.raw(leader);
    assert_eq!(l.call(&["WATCH", "tx:a"]), "+OK\r\n");
    assert_eq!(c.call(&["SET", "tx:a", "changed"]), "+OK\r\n");
    assert_eq!(l.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(l.call(&["INCR", "tx:a"]), "+QUEUED\r\n");
    assert_eq!(l.call(&["EXEC"]), "*-1\r\n");
}

/// `WATCH` on a follower is held by the leader for the connection, and `EXEC` through
/// the follower checks it there: a watched key changed by anyone, on any node, aborts
/// the transaction; one left alone lets it run; `UNWATCH` and `DISCARD` end the watch.
#[test]
fn watch_through_a_follower_is_checked_on_the_leader() {
    let g = Group::start(3);
    let leader = g.wait_leader();
    let follower = (1..=3u64).find(|&id| id != leader).unwrap();
    let other = (1..=3u64)
        .find(|&id| id != leader && id != follower)
        .unwrap();
    let mut c = g.raw(follower);
    let mut l = g.raw(leader);
    assert_eq!(c.call(&["SET", "w:a", "1"]), "+OK\r\n");
    // Untouched: the transaction runs.
    assert_eq!(c.call(&["WATCH", "w:a", "w:b"]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "w:a"]), "$1\r\n1\r\n");
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["INCR", "w:a"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]), "*1\r\n:2\r\n");
    // Changed on the leader between WATCH and EXEC: aborted, nothing run.
    assert_eq!(c.call(&["WATCH", "w:a"]), "+OK\r\n");
    assert_eq!(l.call(&["SET", "w:a", "10"]), "+OK\r\n");
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["INCR", "w:a"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]), "*-1\r\n");
    assert_eq!(l.call(&["GET", "w:a"]), "$2\r\n10\r\n");
    // Changed through the other follower, to the same value (any write counts, as in
    // Redis): aborted.
    assert_eq!(c.call(&["WATCH", "w:a"]), "+OK\r\n");
    assert_eq!(g.raw(other).call(&["SET", "w:a", "10"]), "+OK\r\n");
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["INCR", "w:a"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]), "*-1\r\n");
    // A key created by another client while watched (it did not exist): aborted.
    assert_eq!(c.call(&["WATCH", "w:new"]), "+OK\r\n");
    assert_eq!(l.call(&["SET", "w:new", "x"]), "+OK\r\n");
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["DEL", "w:new"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]), "*-1\r\n");
    // UNWATCH ends the watch: a later change does not abort.
    assert_eq!(c.call(&["WATCH", "w:a"]), "+OK\r\n");
    assert_eq!(c.call(&["UNWATCH"]), "+OK\r\n");
    assert_eq!(l.call(&["SET", "w:a", "20"]), "+OK\r\n");
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["INCR", "w:a"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]), "*1\r\n:21\r\n");
    // DISCARD too.
    assert_eq!(c.call(&["WATCH", "w:a"]), "+OK\r\n");
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["DISCARD"]), "+OK\r\n");
    assert_eq!(l.call(&["SET", "w:a", "30"]), "+OK\r\n");
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["INCR", "w:a"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]), "*1\r\n:31\r\n");
    // Watches in another database are that database's.
    assert_eq!(c.call(&["SELECT", "1"]), "+OK\r\n");
    assert_eq!(c.call(&["WATCH", "w:a"]), "+OK\r\n");
    assert_eq!(l.call(&["SET", "w:a", "db0"]), "+OK\r\n");
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["SET", "w:a", "db1"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]), "*1\r\n+OK\r\n");
    assert_eq!(c.call(&["SELECT", "0"]), "+OK\r\n");
}

/// `SELECT` on a follower picks that connection's database for what it then runs on the
/// leader, as on one node.
#[test]
fn select_on_a_follower_picks_the_connections_database() {
    let g = Group::start(3);
    let leader = g.wait_leader();
    let follower = (1..=3u64).find(|&id| id != leader).unwrap();
    let mut c = g.raw(follower);
    assert_eq!(c.call(&["SELECT", "2"]), "+OK\r\n");
    assert_eq!(c.call(&["SET", "sel:k", "in2"]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "sel:k"]), "$3\r\nin2\r\n");
    assert_eq!(
        c.call(&["SELECT", "99"]),
        "-ERR DB index is out of range\r\n"
    );
    let mut l = g.raw(leader);
    assert_eq!(l.call(&["GET", "sel:k"]), "$-1\r\n");
    assert_eq!(l.call(&["SELECT", "2"]), "+OK\r\n");
    assert_eq!(l.call(&["GET", "sel:k"]), "$3\r\nin2\r\n");
}

/// A watch held by a leader that then loses office cannot be checked by the next one:
/// `EXEC` aborts, as for a changed key, and runs nothing.
#[test]
fn a_watch_held_by_a_lost_leader_aborts_the_transaction() {
    let mut g = Group::start(3);
    let leader = g.wait_leader();
    let follower = (1..=3u64).find(|&id| id != leader).unwrap();
    let mut c = g.raw(follower);
    assert_eq!(c.call(&["SET", "lost:a", "1"]), "+OK\r\n");
    assert_eq!(c.call(&["WATCH", "lost:a"]), "+OK\r\n");
    g.kill(leader);
    g.wait_leader();
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["INCR", "lost:a"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]), "*-1\r\n");
    assert_eq!(c.call(&["GET", "lost:a"]), "$1\r\n1\r\n");
    // Watched anew, through whichever node leads now, it works again.
    assert_eq!(c.call(&["WATCH", "lost:a"]), "+OK\r\n");
    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(c.call(&["INCR", "lost:a"]), "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]), "*1\r\n:2\r\n");
}

#[test]
fn readonly_connections_read_a_followers_own_memory() {
    let g = Group::start(3);
    let leader = g.wait_leader();
    let follower = (1..=3u64).find(|&id| id != leader).unwrap();
    assert_eq!(g.raw(leader).call(&["SET", "ro", "1"]), "+OK\r\n");
    let mut c = g.raw(follower);
    assert_eq!(c.call(&["READONLY"]), "+OK\r\n");
    // The follower applies the write a moment after the leader commits it.
    let start = Instant::now();
    while c.call(&["GET", "ro"]) != "$1\r\n1\r\n" {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never replicated"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Writes still go to the leader.
    assert_eq!(c.call(&["INCR", "ro"]), ":2\r\n");
    assert_eq!(c.call(&["READWRITE"]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "ro"]), "$1\r\n2\r\n");
    // A follower never expires a key itself: the leader's deletion reaches it.
    assert_eq!(
        g.raw(leader).call(&["SET", "short", "x", "PX", "100"]),
        "+OK\r\n"
    );
    assert_eq!(c.call(&["READONLY"]), "+OK\r\n");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.call(&["GET", "short"]), "$-1\r\n");
}

#[test]
fn wait_counts_the_replicas_that_hold_the_writes() {
    let mut g = Group::start(3);
    let leader = g.wait_leader();
    let follower = (1..=3u64).find(|&id| id != leader).unwrap();
    let mut c = g.raw(follower);
    assert_eq!(c.call(&["SET", "w", "1"]), "+OK\r\n");
    assert_eq!(c.call(&["WAIT", "2", "5000"]), ":2\r\n");
    assert_eq!(g.raw(leader).call(&["WAIT", "1", "0"]), ":2\r\n");
    let other = (1..=3u64)
        .find(|&id| id != leader && id != follower)
        .unwrap();
    g.kill(other);
    assert_eq!(c.call(&["SET", "w", "2"]), "+OK\r\n");
    let start = Instant::now();
    assert_eq!(c.call(&["WAIT", "2", "300"]), ":1\r\n");
    assert!(start.elapsed() >= Duration::from_millis(290));
    assert_eq!(
        c.call(&["WAIT", "x", "0"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    let reply = c.call(&["REPLICAOF", "127.0.0.1", "6379"]);
    assert!(
        reply.starts_with("-ERR FlashDB nodes do not replicate"),
        "{reply}"
    );
}

#[test]
fn a_node_whose_disk_fails_steps_down_and_acknowledges_nothing_more() {
    // Node 1's 40th fsync of its log fails; it forms the group, and usually leads it.
    let g = Group::start_with_env_for_node_1(3, &[("FLASHDB_FAILPOINTS", "wal-fsync=40")]);
    g.wait_leader();
    let mut c = g.raw(1);
    let mut acked = Vec::new();
    let mut failed_at = None;
    for i in 0..200 {
        let key = format!("d{i}");
        let reply = c.call(&["SET", &key, "v"]);
        if reply == "+OK\r\n" {
            assert!(
                failed_at.is_none(),
                "node 1 acknowledged {key} after its disk failed at write {failed_at:?}"
            );
            acked.push(key);
        } else {
            // Refused (the log failed; or memory is rebuilt without a write the failed
            // log never stored), or of unknown outcome: never acknowledged.
            assert!(
                reply.starts_with("-MISCONF")
                    || reply.starts_with("-TRYAGAIN")
                    || reply.starts_with("-LOADING"),
                "{key}: {reply}"
            );
            failed_at.get_or_insert(i);
        }
    }
    let failed_at = failed_at.expect("node 1's disk never failed");
    assert!(failed_at > 0, "no write went through before the failure");
    // The other two elect a leader among themselves (node 1 stepped down, if it led) and
    // hold every write node 1 acknowledged.
    let start = Instant::now();
    let leader = loop {
        let l = [2u64, 3].into_iter().find(|&id| {
            let info = g.raw(id).call(&["INFO", "replication"]);
            info.contains("role:master") && info.contains(&format!("raft_leader_id:{id}\r\n"))
        });
        if let Some(l) = l {
            break l;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nodes 2 and 3 elected no leader:\n{}\n{}\n{}",
            g.raw(1).call(&["INFO", "replication"]),
            g.raw(2).call(&["INFO", "replication"]),
            g.raw(3).call(&["INFO", "replication"])
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut c2 = g.raw(leader);
    assert_eq!(c2.call(&["SET", "after", "failure"]), "+OK\r\n");
    for key in &acked {
        assert_eq!(
            c2.call(&["GET", key]),
            "$1\r\nv\r\n",
            "{key} was acknowledged"
        );
    }
    // Node 1 goes on refusing writes, with the reason, and no longer claims to lead.
    let reply = c.call(&["SET", "more", "v"]);
    assert!(reply.starts_with("-MISCONF"), "{reply}");
    let info = c.call(&["INFO", "replication"]);
    assert!(info.contains("role:slave"), "{info}");
}

/// Reads the next push of a subscribed connection.
fn next_push(c: &mut common::Raw) -> String {
    String::from_utf8_lossy(&common::read_reply(&mut c.stream)).into_owned()
}

#[test]
fn published_messages_and_keyspace_events_reach_subscribers_on_every_node() {
    let g = Group::start(3);
    for id in 1..=3u64 {
        assert_eq!(
            g.raw(id)
                .call(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
            "+OK\r\n"
        );
    }
    let mut subs: Vec<common::Raw> = (1..=3u64).map(|id| g.raw(id)).collect();
    for s in subs.iter_mut() {
        s.cmd(&[b"SUBSCRIBE", b"news"]);
        assert_eq!(
            next_push(s),
            "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
        );
        s.cmd(&[b"PSUBSCRIBE", b"__keyspace@0__:*"]);
        assert!(next_push(s).starts_with("*3\r\n$10\r\npsubscribe\r\n"));
        s.cmd(&[b"SSUBSCRIBE", b"shard"]);
        assert!(next_push(s).starts_with("*3\r\n$10\r\nssubscribe\r\n"));
    }
    // PUBLISH answers how many subscribers of the node it ran on received it, as in a
    // Redis Cluster; every node's subscriber receives it.
    for publisher in 1..=3u64 {
        let text = format!("from-{publisher}");
        assert_eq!(g.raw(publisher).call(&["PUBLISH", "news", &text]), ":1\r\n");
        for s in subs.iter_mut() {
            assert_eq!(
                next_push(s),
                format!(
                    "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n${}\r\n{text}\r\n",
                    text.len()
                )
            );
        }
    }
    assert_eq!(g.raw(2).call(&["SPUBLISH", "shard", "s1"]), ":1\r\n");
    for s in subs.iter_mut() {
        assert_eq!(
            next_push(s),
            "*3\r\n$8\r\nsmessage\r\n$5\r\nshard\r\n$2\r\ns1\r\n"
        );
    }
    // A write through any node is announced to the subscribers of every node, once (a
    // message sent afterwards from another node may overtake it: nodes relay
    // independently).
    assert_eq!(g.raw(3).call(&["SET", "watched", "v"]), "+OK\r\n");
    assert_eq!(g.raw(1).call(&["PUBLISH", "news", "after"]), ":1\r\n");
    for s in subs.iter_mut() {
        let mut got = vec![next_push(s), next_push(s)];
        got.sort();
        assert_eq!(
            got,
            vec![
                "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nafter\r\n".to_string(),
                "*4\r\n$8\r\npmessage\r\n$16\r\n__keyspace@0__:*\r\n$22\r\n__keyspace@0__:watched\r\n$3\r\nset\r\n".to_string(),
            ]
        );
    }
    // Nothing more: the event came once to each.
    assert_eq!(g.raw(2).call(&["PUBLISH", "news", "last"]), ":1\r\n");
    for s in subs.iter_mut() {
        assert_eq!(
            next_push(s),
            "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$4\r\nlast\r\n"
        );
    }
}

/// Waits (up to 10 s) until node `id` leads.
fn wait_until_leads(g: &Group, id: u64) {
    let start = Instant::now();
    while g.leader() != Some(id) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "node {id} did not become leader"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn failover_hands_leadership_to_the_named_node_or_the_most_up_to_date_one() {
    let g = Group::start(3);
    let leader = g.wait_leader();
    let mut c = g.raw(leader);
    assert_eq!(c.call(&["SET", "before", "failover"]), "+OK\r\n");
    let target = (1..=3u64).find(|&id| id != leader).unwrap();
    let port = g.port(target).unwrap().to_string();
    // The leader knows the target's client address once it has asked it.
    let start = Instant::now();
    while !c
        .call(&["INFO", "replication"])
        .contains(&format!("port={port},"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "target never listed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Redis's errors for what cannot be done.
    assert_eq!(
        c.call(&["FAILOVER", "TO", "127.0.0.1", "1"]),
        "-ERR FAILOVER target HOST and PORT is not a replica.\r\n"
    );
    assert_eq!(
        c.call(&["FAILOVER", "TIMEOUT", "0"]),
        "-ERR FAILOVER timeout must be greater than 0\r\n"
    );
    assert_eq!(
        c.call(&["FAILOVER", "FORCE"]),
        "-ERR FAILOVER with force option requires both a timeout and target HOST and IP.\r\n"
    );
    assert_eq!(c.call(&["FAILOVER", "NOW"]), "-ERR syntax error\r\n");
    assert_eq!(
        c.call(&["FAILOVER", "ABORT"]),
        "-ERR No failover in progress.\r\n"
    );
    assert!(c
        .call(&["INFO", "replication"])
        .contains("master_failover_state:no-failover"));
    // To the node named by its client address.
    assert_eq!(
        c.call(&["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "10000"]),
        "+OK\r\n"
    );
    wait_until_leads(&g, target);
    for id in 1..=3u64 {
        assert_eq!(
            g.raw(id).call(&["GET", "before"]),
            "$8\r\nfailover\r\n",
            "read through node {id}"
        );
    }
    assert_eq!(g.raw(leader).call(&["SET", "after", "first"]), "+OK\r\n");
    // Sent to a follower, it runs on the leader, which picks a voter itself.
    let via = (1..=3u64).find(|&id| id != target).unwrap();
    assert_eq!(g.raw(via).call(&["FAILOVER"]), "+OK\r\n");
    let start = Instant::now();
    let next = loop {
        match g.leader() {
            Some(l) if l != target => break l,
            _ => {}
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no new leader");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_ne!(next, target);
    assert_eq!(g.raw(target).call(&["GET", "after"]), "$5\r\nfirst\r\n");
    assert_eq!(g.raw(target).call(&["SET", "after", "second"]), "+OK\r\n");
}

/// Every key of database 0 on node `id` with its value (strings) or its list, read from
/// the node's own memory.
fn local_dump(g: &Group, id: u64) -> Vec<String> {
    let mut c = g.raw(id);
    assert_eq!(c.call(&["READONLY"]), "+OK\r\n");
    let keys = c.call(&["KEYS", "*"]);
    let mut names: Vec<String> = keys
        .split("\r\n")
        .skip(1)
        .filter(|s| !s.is_empty() && !s.starts_with('$'))
        .map(String::from)
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|k| {
            let v = if k.starts_with("list") {
                c.call(&["LRANGE", &k, "0", "-1"])
            } else {
                c.call(&["GET", &k])
            };
            format!("{k}={v}")
        })
        .collect()
}

/// Waits (up to 20 s) until every node's own memory holds `reference`.
fn wait_all_hold(g: &Group, reference: &[String], when: &str) {
    for id in 1..=3u64 {
        let start = Instant::now();
        loop {
            let dump = local_dump(g, id);
            if dump == reference {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "node {id} differs {when}:\n{dump:?}\n{reference:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn snapshots_of_batched_entries_keep_every_write_once_on_every_node() {
    // Snapshots every 5 entries, while many clients' writes are gathered into shared
    // entries: a snapshot must cover whole entries, or a node that installs it (or
    // restarts from it) loses or repeats writes.
    let mut g = Group::start_with_flags(3, &["--snapshot-entries", "5"]);
    let leader = g.wait_leader();
    let lagging = (1..=3u64).find(|&id| id != leader).unwrap();
    g.kill(lagging);
    // Most writers on the leader, so that commands queue up behind entries in flight
    // and are gathered; a few through the other node.
    let ports: Vec<u16> = (1..=3u64).filter_map(|id| g.port(id)).collect();
    let leader_port = g.port(leader).unwrap();
    let writers: Vec<_> = (0..32u64)
        .map(|w| {
            let port = if w % 8 == 7 {
                ports[(w as usize) % ports.len()]
            } else {
                leader_port
            };
            std::thread::spawn(move || {
                let mut c = common::Raw::connect(port);
                // Refused while a node loads a snapshot (`-LOADING`): sent again. Of
                // unknown outcome (`-TRYAGAIN`, a leadership lost): counted as maybe.
                let mut send = |args: &[&str]| loop {
                    let reply = c.call(args);
                    if !reply.starts_with("-LOADING") {
                        return reply;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                };
                let (mut acked, mut maybe) = (0u64, 0u64);
                for i in 0..250u64 {
                    let reply = send(&["INCR", &format!("counter{}", w % 3)]);
                    if reply.starts_with(':') {
                        acked += 1;
                    } else {
                        assert!(reply.starts_with("-TRYAGAIN"), "INCR: {reply}");
                        maybe += 1;
                    }
                    let item = format!("{w}-{i}");
                    let reply = send(&["RPUSH", &format!("list{}", w % 2), &item]);
                    assert!(
                        reply.starts_with(':') || reply.starts_with("-TRYAGAIN"),
                        "RPUSH {item}: {reply}"
                    );
                }
                (w % 3, acked, maybe)
            })
        })
        .collect();
    // The lagging node comes back while the writes go on, after the leader has
    // snapshotted and purged the log it missed: it must take a snapshot cut while
    // commands were being gathered, then the log after it.
    let start = Instant::now();
    while applied_index(&g, leader) < 30 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the writes did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    g.start_node(lagging);
    let mut want = [(0u64, 0u64); 3];
    for h in writers {
        let (k, n, maybe) = h.join().unwrap();
        want[k as usize].0 += n;
        want[k as usize].1 += maybe;
    }
    let mut c = g.raw(leader);
    assert_eq!(c.call(&["SET", "last", "write"]), "+OK\r\n");
    for (k, (acked, maybe)) in want.iter().enumerate() {
        let got = c.call(&["GET", &format!("counter{k}")]);
        let n: u64 = got.lines().nth(1).and_then(|v| v.parse().ok()).unwrap();
        assert!(
            *acked <= n && n <= acked + maybe,
            "counter{k} is {n}: {acked} increments acknowledged, {maybe} of unknown outcome"
        );
    }
    let reference = local_dump(&g, leader);
    wait_all_hold(&g, &reference, "after catching up");
    let info = g.raw(lagging).call(&["INFO", "replication"]);
    let snapshot_index: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("raft_snapshot_index:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(
        snapshot_index > 0,
        "the lagging node installed no snapshot: {info}"
    );
    // And each node restarted from its own snapshot and log holds the same.
    for id in 1..=3u64 {
        g.kill(id);
    }
    for id in 1..=3u64 {
        g.start_node(id);
    }
    g.wait_leader();
    wait_all_hold(&g, &reference, "after a restart of all");
}

/// `GET url`: the status and the JSON body.
fn http_get(url: &str) -> (u16, serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let res = reqwest::get(url).await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    })
}

#[test]
fn http_reads_on_a_follower_see_every_acknowledged_write() {
    let g = Group::start(3);
    let leader = g.wait_leader();
    let follower = (1..=3u64).find(|&id| id != leader).unwrap();
    let base = g.node(follower).http();
    let mut c = g.raw(leader);
    // Right after each acknowledgement, the follower's HTTP API answers with the write,
    // although the follower may not have applied it yet when the request arrives.
    for i in 0..40 {
        let (key, value) = (format!("hk{i}"), format!("v{i}"));
        assert_eq!(c.call(&["SET", &key, &value]), "+OK\r\n");
        let (status, body) = http_get(&format!("{base}/api/v1/key/{key}"));
        assert_eq!(
            (status, body["value"].as_str()),
            (200, Some(value.as_str())),
            "{body}"
        );
        let queue = format!("hq{i}");
        assert_eq!(c.call(&["QPUSH", &queue, "job"]), ":1\r\n");
        let (status, body) = http_get(&format!("{base}/api/v1/queues?count=1000"));
        assert_eq!(status, 200, "{body}");
        let names: Vec<&str> = body["queues"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|q| q["name"].as_str())
            .collect();
        assert!(names.contains(&queue.as_str()), "{queue} not in {names:?}");
    }
}

#[test]
fn function_libraries_reach_a_node_that_catches_up_by_snapshot() {
    // Function libraries are data: a node that missed their loading and catches up from
    // the leader's snapshot (the log it missed purged) has them, and so does every node
    // restarted from its own snapshot.
    let mut g = Group::start_with_flags(3, &["--snapshot-entries", "5"]);
    let leader = g.wait_leader();
    let lagging = (1..=3u64).find(|&id| id != leader).unwrap();
    g.kill(lagging);
    let mut c = g.raw(leader);
    let code = "#!lua name=lib\nredis.register_function('twice', function(keys) return redis.call('incrby', keys[1], 2) end)";
    assert_eq!(c.call(&["FUNCTION", "LOAD", code]), "$3\r\nlib\r\n");
    for _ in 0..30 {
        assert!(c.call(&["FCALL", "twice", "1", "n"]).starts_with(':'));
    }
    g.start_node(lagging);
    let listed = c.call(&["FUNCTION", "LIST", "WITHCODE"]);
    let start = Instant::now();
    loop {
        let on_lagging = g.raw(lagging).call(&["FUNCTION", "LIST", "WITHCODE"]);
        let info = g.raw(lagging).call(&["INFO", "replication"]);
        let installed = info
            .lines()
            .find_map(|l| l.strip_prefix("raft_snapshot_index:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|i| i > 0);
        if on_lagging == listed && installed {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "node {lagging} has {on_lagging:?}, not {listed:?} (snapshot installed: {installed})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for id in 1..=3u64 {
        g.kill(id);
    }
    for id in 1..=3u64 {
        g.start_node(id);
    }
    let leader = g.wait_leader();
    for id in 1..=3u64 {
        let start = Instant::now();
        while g.raw(id).call(&["FUNCTION", "LIST", "WITHCODE"]) != listed {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "node {id} lost the library"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(g.raw(leader).call(&["FCALL", "twice", "1", "n"]), ":62\r\n");
}

/// A value of `mb` megabytes made of 1 KiB blocks that each start with their number and
/// `tag`, so that a lost, repeated or shifted block shows.
fn big_value(mb: usize, tag: char) -> String {
    let mut v = String::with_capacity(mb << 20);
    for block in 0..mb * 1024 {
        let head = format!("{block:08}{tag}");
        v.push_str(&head);
        v.extend(std::iter::repeat_n(tag, 1024 - head.len()));
    }
    v
}

/// Waits until node `id` holds `value` under `key` in its own memory.
fn wait_holds(g: &Group, id: u64, key: &str, value: &str) {
    let mut c = g.raw(id);
    assert_eq!(c.call(&["READONLY"]), "+OK\r\n");
    let start = Instant::now();
    while c.call(&["STRLEN", key]) != format!(":{}\r\n", value.len()) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "node {id} never held {key}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for at in [0, value.len() / 2 + 5, value.len() - 700] {
        let end = at + 600;
        assert_eq!(
            c.call(&["GETRANGE", key, &at.to_string(), &(end - 1).to_string()]),
            format!("$600\r\n{}\r\n", &value[at..end]),
            "{key} on node {id} at {at}"
        );
    }
}

#[test]
fn values_of_many_megabytes_replicate_and_the_group_stays_available() {
    let mut g = Group::start(3);
    let leader = g.wait_leader();
    // An entry that takes longer to send and store than openraft waits for one
    // AppendEntries (50 ms) was sent again and again, never finished, and held up the
    // heartbeats behind it: the followers kept calling elections and the group stopped.
    let a = big_value(40, 'a');
    assert_eq!(g.raw(leader).call(&["SET", "big:a", &a]), "+OK\r\n");
    let mut c = g.raw(g.wait_leader());
    assert_eq!(c.call(&["SET", "small", "1"]), "+OK\r\n");
    for id in 1..=3u64 {
        wait_holds(&g, id, "big:a", &a);
    }
    // A node that was away catches up on several large entries, one at a time.
    let away = (1..=3u64).find(|&id| id != g.wait_leader()).unwrap();
    g.kill(away);
    let rest: Vec<(String, String)> = ['b', 'c', 'd']
        .iter()
        .map(|&t| (format!("big:{t}"), big_value(12, t)))
        .collect();
    for (k, v) in &rest {
        assert_eq!(g.raw(g.wait_leader()).call(&["SET", k, v]), "+OK\r\n");
    }
    g.start_node(away);
    for (k, v) in &rest {
        wait_holds(&g, away, k, v);
    }
    wait_holds(&g, away, "big:a", &a);
    assert_eq!(g.raw(g.wait_leader()).call(&["INCR", "small"]), ":2\r\n");
}
