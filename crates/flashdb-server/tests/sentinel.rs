//! Every node of a group answers Redis Sentinel's queries: Sentinel clients (redis-py's
//! and ioredis's, run as users run them) find the leader, write through it, and follow
//! it through a failover; and the replies have Sentinel's shapes and errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::group::Group;

/// Waits until every node knows every other's client address (nodes learn them from
/// each other's group port within a second of starting).
fn wait_all_known(g: &Group) {
    for id in 1..=3u64 {
        let start = std::time::Instant::now();
        loop {
            let mut c = g.raw(id);
            let replicas = c.call(&["SENTINEL", "REPLICAS", "mymaster"]);
            let sentinels = c.call(&["SENTINEL", "SENTINELS", "mymaster"]);
            if replicas.starts_with("*2\r\n") && sentinels.starts_with("*2\r\n") {
                break;
            }
            assert!(
                start.elapsed().as_secs() < 10,
                "node {id} never knew the others"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
fn sentinel_queries_name_the_leader_and_the_other_members() {
    let g = Group::start(3);
    let leader = g.wait_leader();
    let port = g.port(leader).unwrap().to_string();
    wait_all_known(&g);
    for id in 1..=3u64 {
        let mut c = g.raw(id);
        let want = format!("*2\r\n$9\r\n127.0.0.1\r\n${}\r\n{port}\r\n", port.len());
        assert_eq!(
            c.call(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]),
            want
        );
        assert_eq!(
            c.call(&["SENTINEL", "get-master-addr-by-name", "other"]),
            "*-1\r\n"
        );
        assert_eq!(
            c.call(&["SENTINEL", "MASTER", "other"]),
            "-ERR No such master with that name\r\n"
        );
        let masters = c.call(&["SENTINEL", "MASTERS"]);
        assert!(
            masters.starts_with("*1\r\n*40\r\n$4\r\nname\r\n$8\r\nmymaster\r\n"),
            "{masters}"
        );
        assert!(
            masters.contains("$5\r\nflags\r\n$6\r\nmaster\r\n"),
            "{masters}"
        );
        assert!(
            masters.contains("$10\r\nnum-slaves\r\n$1\r\n2\r\n"),
            "{masters}"
        );
        let replicas = c.call(&["SENTINEL", "REPLICAS", "mymaster"]);
        assert!(replicas.starts_with("*2\r\n"), "node {id}: {replicas}");
        assert!(
            !replicas.contains(&format!("\r\n{port}\r\n$5\r\nrunid")),
            "{replicas}"
        );
        let sentinels = c.call(&["SENTINEL", "SENTINELS", "mymaster"]);
        assert!(sentinels.starts_with("*2\r\n"), "{sentinels}");
    }
    // A single node has nothing to monitor.
    let single = common::TestServer::start();
    let reply = single.raw().call(&["SENTINEL", "MASTERS"]);
    assert!(
        reply.starts_with("-ERR this node is not a member of a replication group"),
        "{reply}"
    );
}

/// Runs a Sentinel client (`program` with `args`, then the nodes' client ports) against
/// a group: it must name the leader, and, once the test kills it, follow the failover
/// to the new one. The client prints `master PORT` at each step and waits for a line
/// after the first.
fn sentinel_client_follows_a_failover(name: &str, program: &str, args: &[&str]) {
    let mut g = Group::start(3);
    let leader = g.wait_leader();
    // Every node knows the others' client addresses before the client asks.
    wait_all_known(&g);
    let ports: Vec<String> = (1..=3u64)
        .map(|id| g.port(id).unwrap().to_string())
        .collect();
    let mut child = Command::new(program)
        .args(args)
        .args(&ports)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} for the {name} client: {e}"));
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        format!("master {}", g.port(leader).unwrap()),
        "{name}"
    );
    g.kill(leader);
    child.stdin.take().unwrap().write_all(b"killed\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    let new_leader = g.wait_leader();
    assert_eq!(
        line.trim(),
        format!("master {}", g.port(new_leader).unwrap()),
        "{name}"
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "the {name} client failed: {status}");
}

#[test]
fn redis_py_sentinel_client_finds_the_leader_and_follows_a_failover() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/sentinel_redis_py.py"
    );
    // redis-py must be installed: scripts/test.sh installs it.
    sentinel_client_follows_a_failover("redis-py", "python3", &[script]);
}

#[test]
fn ioredis_sentinel_client_finds_the_leader_and_follows_a_failover() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/ioredis/sentinel_ioredis.js"
    );
    // Node.js and the package's ioredis must be installed: scripts/test.sh installs them.
    sentinel_client_follows_a_failover("ioredis", "node", &[script]);
}
