//! Membership changes of a running group, as operators make them: a new node is added (it
//! catches up, then votes), a node is removed, a failed node is replaced, and a node of
//! another group is refused; by `FLASHDB.GROUP`, by `flashdb-cli`, and over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::group::Group;
use serde_json::Value;

/// Sends an HTTP request; the status and the JSON body.
fn http(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut req = c.request(method, url);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
        (status, json)
    })
}

/// The ids of the group's voters and learners, as node `via` reports them over HTTP.
fn members(g: &Group, via: u64) -> (Vec<u64>, Vec<u64>) {
    let (status, v) = http(
        reqwest::Method::GET,
        &format!("{}/api/v1/cluster", g.node(via).http()),
        None,
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["mode"], "group", "{v}");
    let mut voters = Vec::new();
    let mut learners = Vec::new();
    for m in v["members"].as_array().unwrap() {
        let id = m["id"].as_u64().unwrap();
        match m["role"].as_str().unwrap() {
            "voter" => voters.push(id),
            _ => learners.push(id),
        }
    }
    (voters, learners)
}

/// A follower of the group (not the leader), running.
fn follower(g: &Group, leader: u64, among: &[u64]) -> u64 {
    *among
        .iter()
        .find(|&&id| id != leader && g.is_running(id))
        .expect("a running follower")
}

/// Waits until node `id`, reading its own memory (`READONLY`), has `key` = `value`.
fn wait_local_value(g: &Group, id: u64, key: &str, value: &str) {
    let mut c = g.raw(id);
    assert_eq!(c.call(&["READONLY"]), "+OK\r\n");
    let want = format!("${}\r\n{value}\r\n", value.len());
    let start = Instant::now();
    loop {
        if c.call(&["GET", key]) == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "node {id} never held {key}={value}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_added_node_catches_up_and_votes_and_a_removed_one_no_longer_counts() {
    let mut g = Group::start(3);
    let leader = g.wait_leader();
    let mut c = g.raw(leader);
    for i in 0..300 {
        assert_eq!(
            c.call(&["SET", &format!("k{i}"), &format!("v{i}")]),
            "+OK\r\n"
        );
    }
    let new = g.spawn_new(false);
    // A new node waits to be added: it forms no group of its own.
    assert_eq!(g.raw(new).call(&["FLASHDB.GROUP", "ID"]), "$-1\r\n");
    // Through a follower: the change runs on the leader.
    let via = follower(&g, leader, &[1, 2, 3]);
    let addr = g.raft_addr(new);
    assert_eq!(
        g.raw(via)
            .call(&["FLASHDB.GROUP", "ADD", &new.to_string(), &addr]),
        "+OK\r\n"
    );
    assert_eq!(members(&g, leader), (vec![1, 2, 3, new], vec![]));
    // It holds the data written before it joined, and what is written after.
    wait_local_value(&g, new, "k299", "v299");
    assert_eq!(c.call(&["SET", "after", "added"]), "+OK\r\n");
    wait_local_value(&g, new, "after", "added");
    let group_id = g.raw(leader).call(&["FLASHDB.GROUP", "ID"]);
    assert!(group_id.starts_with("$32\r\n"), "{group_id}");
    assert_eq!(g.raw(new).call(&["FLASHDB.GROUP", "ID"]), group_id);
    let listed = g.raw(new).call(&["FLASHDB.GROUP", "MEMBERS"]);
    assert!(
        listed.contains(&addr) && listed.contains("voter"),
        "{listed}"
    );

    // Over HTTP, one original follower is removed: three voters remain, the new node
    // among them.
    let removed = follower(&g, leader, &[1, 2, 3]);
    let (status, v) = http(
        reqwest::Method::DELETE,
        &format!("{}/api/v1/cluster/nodes/{removed}", g.node(new).http()),
        None,
    );
    assert_eq!((status, v["success"].as_bool()), (200, Some(true)), "{v}");
    let (voters, learners) = members(&g, leader);
    assert!(
        !voters.contains(&removed) && voters.len() == 3,
        "{voters:?}"
    );
    assert!(learners.is_empty(), "{learners:?}");
    g.kill(removed);
    // Killing the other original follower leaves the leader and the new node: a majority
    // of three only if the new node votes.
    let other = follower(&g, leader, &[1, 2, 3]);
    g.kill(other);
    let mut c = g.raw(leader);
    assert_eq!(c.call(&["SET", "two", "of-three"]), "+OK\r\n");
    wait_local_value(&g, new, "two", "of-three");
    // Removing a node that is not there says so.
    assert_eq!(
        c.call(&["FLASHDB.GROUP", "REMOVE", &removed.to_string()]),
        format!("-ERR node {removed} is not a member of this group\r\n")
    );
}

#[test]
fn a_failed_node_is_replaced_by_a_new_one_over_http() {
    let mut g = Group::start(3);
    let leader = g.wait_leader();
    let failed = follower(&g, leader, &[1, 2, 3]);
    g.kill(failed);
    assert_eq!(g.raw(leader).call(&["SET", "before", "replace"]), "+OK\r\n");
    let new = g.spawn_new(false);
    let body = serde_json::json!({"id": new, "raft_addr": g.raft_addr(new)});
    let (status, v) = http(
        reqwest::Method::POST,
        &format!(
            "{}/api/v1/cluster/nodes/{failed}/replace",
            g.node(leader).http()
        ),
        Some(body),
    );
    assert_eq!((status, v["success"].as_bool()), (200, Some(true)), "{v}");
    let (mut voters, learners) = members(&g, leader);
    voters.sort_unstable();
    let mut want: Vec<u64> = [1, 2, 3, new]
        .into_iter()
        .filter(|&i| i != failed)
        .collect();
    want.sort_unstable();
    assert_eq!((voters, learners), (want, vec![]));
    wait_local_value(&g, new, "before", "replace");
    // The leader and the new node are a majority without the third.
    let third = follower(&g, leader, &[1, 2, 3]);
    g.kill(third);
    assert_eq!(g.raw(leader).call(&["SET", "after", "replace"]), "+OK\r\n");
    wait_local_value(&g, new, "after", "replace");
}

#[test]
fn a_node_of_another_group_or_with_another_id_is_refused() {
    let mut g = Group::start(3);
    let leader = g.wait_leader();
    // A node started alone forms a group of its own.
    let stranger = g.spawn_new(true);
    let start = Instant::now();
    while g.raw(stranger).call(&["FLASHDB.GROUP", "ID"]) == "$-1\r\n" {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the lone node formed no group"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let addr = g.raft_addr(stranger);
    let mut c = g.raw(leader);
    let reply = c.call(&["FLASHDB.GROUP", "ADD", &stranger.to_string(), &addr]);
    assert!(
        reply.starts_with(&format!(
            "-ERR node {stranger} at {addr} belongs to another group"
        )),
        "{reply}"
    );
    // The node at an address must be the one named.
    let wrong = stranger + 1;
    assert_eq!(
        c.call(&["FLASHDB.GROUP", "ADD", &wrong.to_string(), &addr]),
        format!("-ERR the node at {addr} is node {stranger}, not node {wrong}\r\n")
    );
    assert_eq!(
        c.call(&["FLASHDB.GROUP", "ADD", "9", "nowhere"]),
        "-ERR invalid address 'nowhere': HOST:PORT of the node's --raft-port is expected\r\n"
    );
    assert_eq!(
        c.call(&["FLASHDB.GROUP", "ADD", "x", "127.0.0.1:1"]),
        "-ERR invalid node id 'x': a non-negative integer is expected\r\n"
    );
    assert_eq!(
        c.call(&[
            "FLASHDB.GROUP",
            "ADD",
            &leader.to_string(),
            &g.raft_addr(leader)
        ]),
        format!("-ERR node {leader} is already a voter of this group\r\n")
    );
    // Over HTTP the same refusal is a 400 with the reason.
    let (status, v) = http(
        reqwest::Method::POST,
        &format!("{}/api/v1/cluster/nodes", g.node(leader).http()),
        Some(serde_json::json!({"id": stranger, "raft_addr": addr})),
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("belongs to another group"),
        "{v}"
    );
    // Nothing changed.
    assert_eq!(members(&g, leader), (vec![1, 2, 3], vec![]));
}

#[test]
fn flashdb_cli_lists_and_changes_members() {
    let mut g = Group::start(3);
    let leader = g.wait_leader();
    let cli = flashdb_testkit::binary_beside(
        std::path::Path::new(env!("CARGO_BIN_EXE_flashdb")),
        "flashdb-cli",
        "flashdb-cli",
    );
    let run = |port: u16, args: &[&str]| -> (i32, String) {
        let out = std::process::Command::new(&cli)
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .unwrap();
        // Replies go to standard output, errors included (as with redis-cli).
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    };
    let new = g.spawn_new(false);
    let port = g.port(leader).unwrap();
    let (code, out) = run(
        port,
        &["FLASHDB.GROUP", "ADD", &new.to_string(), &g.raft_addr(new)],
    );
    assert_eq!((code, out.as_str()), (0, "OK\n"));
    let (code, out) = run(port, &["--json", "FLASHDB.GROUP", "MEMBERS"]);
    assert_eq!(code, 0, "{out}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<u64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap_or_else(|| panic!("{m}")))
        .collect();
    assert_eq!(ids, vec![1, 2, 3, new]);
    let (code, out) = run(port, &["FLASHDB.GROUP", "REMOVE", &new.to_string()]);
    assert_eq!((code, out.as_str()), (0, "OK\n"));
    assert_eq!(members(&g, leader), (vec![1, 2, 3], vec![]));
    // A single node has no group to change.
    let single = common::TestServer::start();
    let (code, out) = run(single.port, &["FLASHDB.GROUP", "MEMBERS"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not a member of a replication group"), "{out}");
}
