//! The work queue type through the real server: ordering by priority and delay, leases
//! that end and redeliver, dead letters (after lease ends and after `QNACK`, into a queue
//! in another shard), blocking waits with several waiters, durability of every state
//! across restarts, transactions, and the errors of bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{read_reply, temp_dir, Raw, TestServer};

/// The elements of a flat RESP2 reply (bulk strings, integers, nils as `(nil)`), for
/// readable assertions.
fn flat(reply: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = reply.split("\r\n");
    while let Some(l) = lines.next() {
        match l.as_bytes().first() {
            Some(b'$') if l == "$-1" => out.push("(nil)".into()),
            Some(b'$') => out.push(lines.next().unwrap_or_default().to_string()),
            Some(b':') | Some(b'+') | Some(b'-') => out.push(l.to_string()),
            Some(b'*') if l == "*-1" => out.push("(nil)".into()),
            _ => {}
        }
    }
    out
}

fn call(c: &mut Raw, args: &[&str]) -> Vec<String> {
    flat(&c.call(args))
}

/// `QRESERVE`'s reply as `(id, payload, deliveries)`.
fn reserved(c: &mut Raw, args: &[&str]) -> Vec<(String, String, i64)> {
    call(c, args)
        .chunks(3)
        .map(|t| {
            (
                t[0].clone(),
                t[1].clone(),
                t[2].trim_start_matches(':').parse().unwrap(),
            )
        })
        .collect()
}

fn info(c: &mut Raw, q: &str) -> std::collections::HashMap<String, String> {
    call(c, &["QINFO", q])
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].trim_start_matches(':').to_string()))
        .collect()
}

fn wait_blocked(s: &TestServer, n: usize) {
    let want = format!("blocked_clients:{n}");
    let start = Instant::now();
    loop {
        let mut c = s.raw();
        c.cmd(&[b"INFO", b"clients"]);
        let text = String::from_utf8_lossy(&read_reply(&mut c.stream)).into_owned();
        if text.lines().any(|l| l == want) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never reached {want}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn priorities_then_first_in_first_out_and_delays() {
    let s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(call(&mut c, &["QPUSH", "q", "a", "b"]), [":2"]);
    let id = call(&mut c, &["QADD", "q", "PRIORITY", "9", "urgent"]).remove(0);
    // `<seq>-<tag>`: the third message of the queue, and 8 hex digits.
    let (seq, tag) = id.split_once('-').unwrap();
    assert_eq!(seq, "3", "{id}");
    assert!(
        tag.len() == 8 && tag.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    call(&mut c, &["QADD", "q", "PRIORITY", "3", "mid"]);
    call(
        &mut c,
        &["QADD", "q", "DELAY", "300", "PRIORITY", "255", "later"],
    );
    call(&mut c, &["QPUSH", "q", "c"]);
    assert_eq!(call(&mut c, &["QLEN", "q"]), [":5"]);
    assert_eq!(
        call(&mut c, &["QPEEK", "q", "COUNT", "10"]),
        ["urgent", "mid", "a", "b", "c"]
    );
    assert_eq!(call(&mut c, &["QPEEK", "q"]), ["urgent"]);
    assert_eq!(call(&mut c, &["QPOP", "q"]), ["urgent"]);
    let i = info(&mut c, "q");
    assert_eq!((i["ready"].as_str(), i["delayed"].as_str()), ("4", "1"));
    std::thread::sleep(Duration::from_millis(350));
    // The delayed message is visible now, and its priority puts it first.
    assert_eq!(
        call(&mut c, &["QPOP", "q", "COUNT", "10"]),
        ["later", "mid", "a", "b", "c"]
    );
    assert_eq!(call(&mut c, &["QPOP", "q"]), ["(nil)"]);
    assert_eq!(call(&mut c, &["QPOP", "q", "COUNT", "2"]), ["(nil)"]);
    assert_eq!(
        call(&mut c, &["QPEEK", "q", "COUNT", "2"]),
        Vec::<String>::new()
    );
    // The queue stays, empty, with its counters.
    assert_eq!(call(&mut c, &["TYPE", "q"]), ["+queue"]);
    let i = info(&mut c, "q");
    assert_eq!((i["pushed"].as_str(), i["acked"].as_str()), ("6", "6"));
    assert_eq!(call(&mut c, &["EXISTS", "q"]), [":1"]);
    assert_eq!(call(&mut c, &["QLEN", "missing"]), [":0"]);
    assert_eq!(call(&mut c, &["QPOP", "missing"]), ["(nil)"]);
}

#[test]
fn leases_end_and_messages_come_back_with_their_delivery_count() {
    let s = TestServer::start();
    let mut c = s.raw();
    call(&mut c, &["QPUSH", "jobs", "one", "two"]);
    let got = reserved(&mut c, &["QRESERVE", "jobs", "LEASE", "200"]);
    assert_eq!(got.len(), 1);
    let (id, payload, deliveries) = got[0].clone();
    assert_eq!((payload.as_str(), deliveries), ("one", 1));
    // Invisible to others while leased.
    assert_eq!(call(&mut c, &["QPEEK", "jobs", "COUNT", "5"]), ["two"]);
    let i = info(&mut c, "jobs");
    assert_eq!((i["ready"].as_str(), i["leased"].as_str()), ("1", "1"));
    std::thread::sleep(Duration::from_millis(250));
    // Back, in front of the later message, with its count kept.
    let again = reserved(
        &mut c,
        &["QRESERVE", "jobs", "COUNT", "5", "LEASE", "10000"],
    );
    assert_eq!(
        again
            .iter()
            .map(|r| (r.1.as_str(), r.2))
            .collect::<Vec<_>>(),
        [("one", 2), ("two", 1)]
    );
    assert_eq!(again[0].0, id, "a redelivered message keeps its id");
    // A late acknowledgement of the first delivery still deletes the message; a second
    // one finds nothing.
    assert_eq!(call(&mut c, &["QACK", "jobs", &id, &id]), [":1"]);
    assert_eq!(call(&mut c, &["QACK", "jobs", &id]), [":0"]);
    // Touch keeps the lease alive past its first end; nack gives it back at once.
    let two = again[1].0.clone();
    assert_eq!(call(&mut c, &["QTOUCH", "jobs", &two, "100"]), [":1"]);
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(
        call(&mut c, &["QTOUCH", "jobs", &two, "100"]),
        [":0"],
        "lease ended"
    );
    let r = reserved(&mut c, &["QRESERVE", "jobs", "LEASE", "10000"]);
    assert_eq!((r[0].1.as_str(), r[0].2), ("two", 2));
    assert_eq!(call(&mut c, &["QTOUCH", "jobs", &two, "60000"]), [":1"]);
    assert_eq!(call(&mut c, &["QNACK", "jobs", &two]), [":1"]);
    assert_eq!(
        call(&mut c, &["QNACK", "jobs", &two]),
        [":0"],
        "not leased any more"
    );
    let r = reserved(&mut c, &["QRESERVE", "jobs"]);
    assert_eq!((r[0].1.as_str(), r[0].2), ("two", 3));
    // NACK with a delay hides it until then.
    assert_eq!(
        call(&mut c, &["QNACK", "jobs", &two, "DELAY", "200"]),
        [":1"]
    );
    assert!(reserved(&mut c, &["QRESERVE", "jobs"]).is_empty());
    assert_eq!(info(&mut c, "jobs")["delayed"], "1");
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(reserved(&mut c, &["QRESERVE", "jobs"])[0].1, "two");
    // The default lease is the queue's.
    let i = info(&mut c, "jobs");
    assert_eq!(i["lease_ms"], "30000");
    assert_eq!(i["leased"], "1");
}

#[test]
fn ids_of_another_queue_acknowledge_nothing() {
    let s = TestServer::start();
    let mut c = s.raw();
    let a = call(&mut c, &["QADD", "qa", "x"])[0].clone();
    let b = call(&mut c, &["QADD", "qb", "y"])[0].clone();
    // Both are the first message of their queue, but their queues' tags differ.
    assert!(
        a.starts_with("1-") && b.starts_with("1-") && a != b,
        "{a} {b}"
    );
    assert_eq!(call(&mut c, &["QACK", "qa", &b]), [":0"]);
    assert_eq!(call(&mut c, &["QACK", "qb", &a]), [":0"]);
    assert_eq!(call(&mut c, &["QLEN", "qa"]), [":1"]);
    // An id of an earlier queue of the same name names nothing either.
    call(&mut c, &["DEL", "qa"]);
    let a2 = call(&mut c, &["QADD", "qa", "x2"])[0].clone();
    assert_ne!(a2, a);
    assert_eq!(call(&mut c, &["QACK", "qa", &a]), [":0"]);
    assert_eq!(call(&mut c, &["QACK", "qa", &a2]), [":1"]);
}

#[test]
fn messages_that_use_up_their_attempts_go_to_the_dead_letter_queue() {
    let s = TestServer::start();
    let mut c = s.raw();
    // Dead-letter queues under many names, so that some live in another shard than
    // their queue (the move then needs both shards' locks).
    for n in 0..12 {
        let (q, dlq) = (format!("work{n}"), format!("dead{n}"));
        assert_eq!(
            call(
                &mut c,
                &[
                    "QCONFIG",
                    &q,
                    "MAXATTEMPTS",
                    "2",
                    "DEADLETTER",
                    &dlq,
                    "LEASE",
                    "50"
                ]
            ),
            ["+OK"]
        );
        call(&mut c, &["QADD", &q, "PRIORITY", "7", "poison"]);
        call(&mut c, &["QPUSH", &q, "fine"]);
        // First delivery: the lease ends. Second: nacked, which uses the last attempt.
        let r = reserved(&mut c, &["QRESERVE", &q]);
        assert_eq!(r[0].1, "poison");
        std::thread::sleep(Duration::from_millis(60));
        let r = reserved(&mut c, &["QRESERVE", &q, "LEASE", "5000"]);
        assert_eq!((r[0].1.as_str(), r[0].2), ("poison", 2));
        assert_eq!(call(&mut c, &["QNACK", &q, &r[0].0]), [":1"]);
        assert_eq!(call(&mut c, &["QPEEK", &q, "COUNT", "9"]), ["fine"]);
        let i = info(&mut c, &q);
        assert_eq!(i["dead_lettered"], "1");
        assert_eq!(i["dead_letter"], dlq);
        assert_eq!(i["max_attempts"], "2");
        assert_eq!(call(&mut c, &["QPOP", &dlq]), ["poison"]);
        // Through lease ends alone.
        let r = reserved(&mut c, &["QRESERVE", &q]);
        assert_eq!(r[0].1, "fine");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(reserved(&mut c, &["QRESERVE", &q])[0].2, 2);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(call(&mut c, &["QLEN", &q]), [":0"]);
        assert_eq!(call(&mut c, &["QLEN", &dlq]), [":1"]);
        assert_eq!(info(&mut c, &q)["dead_lettered"], "2");
    }
    // Without a dead-letter queue the message is dropped, and counted.
    call(
        &mut c,
        &["QCONFIG", "solo", "MAXATTEMPTS", "1", "LEASE", "30"],
    );
    call(&mut c, &["QPUSH", "solo", "m"]);
    reserved(&mut c, &["QRESERVE", "solo"]);
    std::thread::sleep(Duration::from_millis(50));
    let i = info(&mut c, "solo");
    assert_eq!(
        (i["ready"].as_str(), i["dead_lettered"].as_str()),
        ("0", "1")
    );
    assert_eq!(i["dead_letter"], "(nil)");
    // Clearing the dead-letter queue with an empty name.
    call(&mut c, &["QCONFIG", "work0", "DEADLETTER", ""]);
    assert_eq!(info(&mut c, "work0")["dead_letter"], "(nil)");
}

#[test]
fn blocked_consumers_are_woken_in_order_by_pushes_and_by_delays() {
    let s = TestServer::start();
    let mut waiters = Vec::new();
    for i in 0..3 {
        let mut w = s.raw();
        if i == 1 {
            w.cmd(&[b"QRESERVE", b"tasks", b"BLOCK", b"0", b"LEASE", b"60000"]);
        } else {
            w.cmd(&[b"BQPOP", b"other", b"tasks", b"0"]);
        }
        wait_blocked(&s, i + 1);
        waiters.push(w);
    }
    let mut p = s.raw();
    assert_eq!(
        call(&mut p, &["QPUSH", "tasks", "t1", "t2", "t3", "t4"]),
        [":4"]
    );
    let replies: Vec<Vec<String>> = waiters
        .iter_mut()
        .map(|w| flat(&String::from_utf8_lossy(&read_reply(&mut w.stream))))
        .collect();
    assert_eq!(replies[0], ["tasks", "t1"]);
    assert_eq!(replies[1][1..], ["t2".to_string(), ":1".to_string()]);
    assert_eq!(replies[2], ["tasks", "t3"]);
    wait_blocked(&s, 0);
    assert_eq!(call(&mut p, &["QPEEK", "tasks", "COUNT", "9"]), ["t4"]);
    call(&mut p, &["QPOP", "tasks"]);

    // A delayed message wakes a waiter when it becomes visible, with no push.
    let mut w = s.raw();
    let start = Instant::now();
    call(&mut p, &["QADD", "tasks", "DELAY", "300", "soon"]);
    w.cmd(&[b"QRESERVE", b"tasks", b"BLOCK", b"5000"]);
    let got = flat(&String::from_utf8_lossy(&read_reply(&mut w.stream)));
    assert_eq!(got[1], "soon");
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_millis(4000),
        "{:?}",
        start.elapsed()
    );

    // So does a lease that ends.
    call(&mut p, &["QPUSH", "tasks", "retry-me"]);
    reserved(&mut p, &["QRESERVE", "tasks", "LEASE", "300"]);
    w.cmd(&[b"BQPOP", b"tasks", b"5"]);
    assert_eq!(
        flat(&String::from_utf8_lossy(&read_reply(&mut w.stream))),
        ["tasks", "retry-me"]
    );

    // Timeouts: BQPOP answers a null array, QRESERVE an empty one.
    w.cmd(&[b"BQPOP", b"tasks", b"0.1"]);
    assert_eq!(
        String::from_utf8_lossy(&read_reply(&mut w.stream)),
        "*-1\r\n"
    );
    w.cmd(&[b"QRESERVE", b"tasks", b"BLOCK", b"100"]);
    assert_eq!(
        String::from_utf8_lossy(&read_reply(&mut w.stream)),
        "*0\r\n"
    );
}

#[test]
fn every_state_survives_restarts_from_the_log_and_from_a_snapshot() {
    let dir = temp_dir("queue-restart");
    let mut s = TestServer::start_in(&dir, &[], &[]);
    let mut c = s.raw();
    call(
        &mut c,
        &[
            "QCONFIG",
            "q",
            "MAXATTEMPTS",
            "5",
            "DEADLETTER",
            "dq",
            "LEASE",
            "700",
        ],
    );
    call(&mut c, &["QPUSH", "q", "a", "b", "c", "d"]);
    call(
        &mut c,
        &["QADD", "q", "DELAY", "600000", "PRIORITY", "4", "far"],
    );
    let leased = reserved(&mut c, &["QRESERVE", "q", "COUNT", "2"]);
    assert_eq!(call(&mut c, &["QACK", "q", &leased[1].0]), [":1"]);
    assert_eq!(call(&mut c, &["QPOP", "q"]), ["c"]);
    let before = info(&mut c, "q");
    let leased_at = Instant::now();
    s.kill9();

    for restart in ["log", "snapshot"] {
        let mut s2 = TestServer::start_in(&dir, &[], &[]);
        let mut c = s2.raw();
        let mut after = info(&mut c, "q");
        after.remove("oldest_ready_age_ms");
        let mut want = before.clone();
        want.remove("oldest_ready_age_ms");
        if restart == "snapshot" {
            // The lease of `a` had ended by then and it was ready again.
            want.insert("ready".into(), "2".into());
            want.insert("leased".into(), "0".into());
        }
        assert_eq!(after, want, "after a restart from the {restart}");
        if restart == "log" {
            // The lease of `a` still runs: it comes back when it ends, not before.
            assert_eq!(call(&mut c, &["QPEEK", "q", "COUNT", "9"]), ["d"]);
            std::thread::sleep(Duration::from_millis(700).saturating_sub(leased_at.elapsed()));
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(call(&mut c, &["QPEEK", "q", "COUNT", "9"]), ["a", "d"]);
            assert_eq!(call(&mut c, &["SAVE"]), ["+OK"]);
            s2.kill9();
        } else {
            let r = reserved(&mut c, &["QRESERVE", "q", "COUNT", "9"]);
            assert_eq!(
                r.iter().map(|r| (r.1.as_str(), r.2)).collect::<Vec<_>>(),
                [("a", 2), ("d", 1)]
            );
            assert_eq!(r[0].0, leased[0].0, "ids survive restarts");
            // A new message continues the sequence.
            let id = call(&mut c, &["QADD", "q", "e"])[0].clone();
            assert!(id.starts_with("6-"), "{id}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn queue_commands_in_transactions() {
    let s = TestServer::start();
    let mut c = s.raw();
    call(
        &mut c,
        &["QCONFIG", "tq", "DEADLETTER", "tdead", "MAXATTEMPTS", "1"],
    );
    assert_eq!(call(&mut c, &["MULTI"]), ["+OK"]);
    for cmd in [
        &["QPUSH", "tq", "m1", "m2"][..],
        &["QPOP", "tq"],
        &["BQPOP", "empty", "0"],
        &["QRESERVE", "empty", "BLOCK", "0"],
        &["QLEN", "tq"],
    ] {
        assert_eq!(call(&mut c, cmd), ["+QUEUED"]);
    }
    let reply = c.call(&["EXEC"]);
    assert_eq!(reply, "*5\r\n:2\r\n$2\r\nm1\r\n*-1\r\n*0\r\n:1\r\n");
}

#[test]
fn queues_are_a_type_of_their_own() {
    let s = TestServer::start();
    let mut c = s.raw();
    call(&mut c, &["QPUSH", "q1", "x"]);
    call(&mut c, &["QCONFIG", "q2"]);
    call(&mut c, &["SET", "str", "v"]);
    call(&mut c, &["LPUSH", "list", "v"]);
    let mut keys = call(&mut c, &["SCAN", "0", "TYPE", "queue", "COUNT", "100"]);
    keys.remove(0);
    keys.sort();
    assert_eq!(keys, ["q1", "q2"], "an empty queue still exists");
    assert_eq!(call(&mut c, &["OBJECT", "ENCODING", "q1"]), ["queue"]);
    let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(call(&mut c, &["GET", "q1"]), [wrong]);
    assert_eq!(call(&mut c, &["LPUSH", "q1", "x"]), [wrong]);
    assert_eq!(call(&mut c, &["QPUSH", "str", "x"]), [wrong]);
    assert_eq!(call(&mut c, &["QLEN", "list"]), [wrong]);
    assert_eq!(
        call(&mut c, &["QCONFIG", "q1", "DEADLETTER", "list"]),
        [wrong]
    );
    // Key commands work on queues.
    assert_eq!(call(&mut c, &["RENAME", "q1", "q3"]), ["+OK"]);
    assert_eq!(call(&mut c, &["QPOP", "q3"]), ["x"]);
    assert_eq!(call(&mut c, &["PEXPIRE", "q3", "50"]), [":1"]);
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(call(&mut c, &["EXISTS", "q3"]), [":0"]);
    assert_eq!(call(&mut c, &["QPUSH", "p", "1", "2", "3"]), [":3"]);
    assert_eq!(call(&mut c, &["QPURGE", "p"]), [":3"]);
    assert_eq!(call(&mut c, &["QPURGE", "p"]), [":0"]);
    assert_eq!(call(&mut c, &["QPURGE", "nosuch"]), [":0"]);
    assert_eq!(call(&mut c, &["EXISTS", "p"]), [":1"]);
}

#[test]
fn bad_input_gets_clear_errors() {
    let s = TestServer::start();
    let mut c = s.raw();
    call(&mut c, &["QPUSH", "q", "x"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["QPUSH", "q"],
            "-ERR wrong number of arguments for 'qpush' command",
        ),
        (
            &["QADD", "q", "PRIORITY", "256", "x"],
            "-ERR PRIORITY must be between 0 and 255",
        ),
        (
            &["QADD", "q", "PRIORITY", "-1", "x"],
            "-ERR PRIORITY must be between 0 and 255",
        ),
        (
            &["QADD", "q", "PRIORITY", "high", "x"],
            "-ERR value is not an integer or out of range",
        ),
        (
            &["QADD", "q", "DELAY", "-5", "x"],
            "-ERR DELAY can't be negative",
        ),
        (
            &["QADD", "q", "DELAY", "99999999999999999999", "x"],
            "-ERR value is not an integer or out of range",
        ),
        (
            &["QADD", "q", "DELAY", "9223372036854775807", "x"],
            "-ERR DELAY is out of range",
        ),
        (&["QADD", "q", "SOON", "1", "x"], "-ERR syntax error"),
        (&["QADD", "q", "DELAY", "x"], "-ERR syntax error"),
        (
            &["QPOP", "q", "COUNT", "0"],
            "-ERR count should be greater than 0",
        ),
        (&["QPOP", "q", "LIMIT", "1"], "-ERR syntax error"),
        (
            &["QRESERVE", "q", "COUNT", "-1"],
            "-ERR count should be greater than 0",
        ),
        (
            &["QRESERVE", "q", "LEASE", "0"],
            "-ERR LEASE must be positive",
        ),
        (
            &["QRESERVE", "q", "BLOCK", "-1"],
            "-ERR BLOCK can't be negative",
        ),
        (&["QRESERVE", "q", "WAIT", "1"], "-ERR syntax error"),
        (&["QRESERVE", "q", "COUNT"], "-ERR syntax error"),
        (&["QACK", "q", "nope"], "-ERR Invalid queue message ID"),
        (
            &["QACK", "q", "1-0000000g"],
            "-ERR Invalid queue message ID",
        ),
        (&["QNACK", "q", "1"], "-ERR Invalid queue message ID"),
        (
            &["QNACK", "q", "1-00000000", "DELAY", "-1"],
            "-ERR DELAY can't be negative",
        ),
        (
            &["QTOUCH", "q", "1-00000000", "0"],
            "-ERR lease must be positive",
        ),
        (
            &["QCONFIG", "q", "MAXATTEMPTS", "-1"],
            "-ERR MAXATTEMPTS can't be negative",
        ),
        (
            &["QCONFIG", "q", "MAXATTEMPTS", "4294967296"],
            "-ERR MAXATTEMPTS is out of range",
        ),
        (
            &["QCONFIG", "q", "LEASE", "0"],
            "-ERR LEASE must be positive",
        ),
        (
            &["QCONFIG", "q", "DEADLETTER", "q"],
            "-ERR a queue can't be its own dead-letter queue",
        ),
        (&["QCONFIG", "q", "COLOR", "red"], "-ERR syntax error"),
        (&["QINFO", "nosuch"], "-ERR no such key"),
        (
            &["BQPOP", "q", "soon"],
            "-ERR timeout is not a float or out of range",
        ),
        (&["BQPOP", "q", "-1"], "-ERR timeout is negative"),
    ];
    for (cmd, want) in cases {
        assert_eq!(call(&mut c, cmd), [*want], "{cmd:?}");
    }
    // Nothing above changed the queue.
    let i = info(&mut c, "q");
    assert_eq!((i["ready"].as_str(), i["pushed"].as_str()), ("1", "1"));
    assert_eq!(i["lease_ms"], "30000");
}

#[test]
fn qinfo_is_a_map_in_resp3() {
    let s = TestServer::start();
    let mut c = s.raw();
    c.call(&["HELLO", "3"]);
    call(&mut c, &["QPUSH", "q", "x"]);
    let reply = c.call(&["QINFO", "q"]);
    assert!(reply.starts_with("%10\r\n$5\r\nready\r\n:1\r\n"), "{reply}");
    assert!(reply.contains("$11\r\ndead_letter\r\n_\r\n"), "{reply}");
}

#[test]
fn queue_changes_are_keyspace_events_of_class_d() {
    let s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(
        call(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Ed"]),
        ["+OK"]
    );
    let mut sub = s.raw();
    sub.cmd(&[b"PSUBSCRIBE", b"__keyevent@0__:*"]);
    read_reply(&mut sub.stream);
    call(&mut c, &["QPUSH", "q", "a", "b"]);
    let r = reserved(&mut c, &["QRESERVE", "q", "LEASE", "30"]);
    call(&mut c, &["QACK", "q", &r[0].0]);
    std::thread::sleep(Duration::from_millis(40));
    reserved(&mut c, &["QRESERVE", "q", "LEASE", "30"]);
    std::thread::sleep(Duration::from_millis(40));
    call(&mut c, &["QLEN", "q"]);
    let mut events = Vec::new();
    for _ in 0..5 {
        let m = flat(&String::from_utf8_lossy(&read_reply(&mut sub.stream)));
        events.push((m[2].clone(), m[3].clone()));
    }
    let want: Vec<(String, String)> = ["qpush", "qreserve", "qack", "qreserve", "qrequeue"]
        .iter()
        .map(|e| (format!("__keyevent@0__:{e}"), "q".to_string()))
        .collect();
    assert_eq!(events, want);
}
