//! Blocking pops through the real server: woken by a push from another connection, served
//! in the order clients blocked, timeouts, and disconnected clients leave nothing behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{read_reply, TestServer};

fn blocked_clients(s: &TestServer) -> String {
    let mut c = s.raw();
    c.cmd(&[b"INFO", b"clients"]);
    let info = String::from_utf8_lossy(&read_reply(&mut c.stream)).into_owned();
    info.lines()
        .find(|l| l.starts_with("blocked_clients:"))
        .unwrap_or_default()
        .to_string()
}

fn wait_blocked(s: &TestServer, n: usize) {
    let want = format!("blocked_clients:{n}");
    let start = Instant::now();
    while blocked_clients(s) != want {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never reached {want}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_push_from_another_connection_wakes_the_first_blocked_client_first() {
    let s = TestServer::start();
    let mut a = s.raw();
    let mut b = s.raw();
    a.cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&s, 1);
    b.cmd(&[b"BRPOP", b"q", b"other", b"0"]);
    wait_blocked(&s, 2);
    let mut p = s.raw();
    p.cmd(&[b"RPUSH", b"q", b"one"]);
    p.expect(b":1\r\n");
    a.expect(b"*2\r\n$1\r\nq\r\n$3\r\none\r\n");
    wait_blocked(&s, 1);
    p.cmd(&[b"LPUSH", b"other", b"two"]);
    p.expect(b":1\r\n");
    b.expect(b"*2\r\n$5\r\nother\r\n$3\r\ntwo\r\n");
    wait_blocked(&s, 0);
    p.cmd(&[b"EXISTS", b"q", b"other"]);
    p.expect(b":0\r\n");
}

#[test]
fn one_push_of_several_elements_serves_several_clients_in_order() {
    let s = TestServer::start();
    let mut clients = Vec::new();
    for i in 0..3 {
        let mut c = s.raw();
        c.cmd(&[b"BLPOP", b"q", b"0"]);
        wait_blocked(&s, i + 1);
        clients.push(c);
    }
    let mut p = s.raw();
    p.cmd(&[b"RPUSH", b"q", b"a", b"b", b"c", b"d"]);
    p.expect(b":4\r\n");
    for (c, want) in clients.iter_mut().zip([b"a", b"b", b"c"]) {
        let mut expect = b"*2\r\n$1\r\nq\r\n$1\r\n".to_vec();
        expect.extend_from_slice(want);
        expect.extend_from_slice(b"\r\n");
        c.expect(&expect);
    }
    p.cmd(&[b"LRANGE", b"q", b"0", b"-1"]);
    p.expect(b"*1\r\n$1\r\nd\r\n");
}

#[test]
fn clients_on_several_keys_are_served_in_the_order_they_blocked() {
    // Every other client also waits on a key that never gets data. A served client wakes
    // the next on each of its keys, so two are woken at once: the one blocked earlier on
    // `q` must still be served first. (Woken last, the later client used to run first
    // and take the earlier one's element, as Redis never does.)
    for _ in 0..5 {
        let s = TestServer::start();
        let mut clients = Vec::new();
        for i in 0..12 {
            let mut c = s.raw();
            if i % 2 == 0 {
                c.cmd(&[b"BLPOP", b"q", b"never", b"0"]);
            } else {
                c.cmd(&[b"BLPOP", b"q", b"0"]);
            }
            wait_blocked(&s, i + 1);
            clients.push(c);
        }
        let mut p = s.raw();
        let values: Vec<String> = (0..12).map(|i| format!("v{i:02}")).collect();
        let mut push: Vec<&[u8]> = vec![b"RPUSH", b"q"];
        push.extend(values.iter().map(|v| v.as_bytes()));
        p.cmd(&push);
        p.expect(b":12\r\n");
        for (c, v) in clients.iter_mut().zip(&values) {
            c.expect(format!("*2\r\n$1\r\nq\r\n$3\r\n{v}\r\n").as_bytes());
        }
    }
}

#[test]
fn blmove_wakes_timeouts_reply_nil_and_pipelined_commands_wait() {
    let s = TestServer::start();
    let mut a = s.raw();
    a.cmd(&[b"BLMOVE", b"src", b"dst", b"LEFT", b"RIGHT", b"0"]);
    wait_blocked(&s, 1);
    let mut p = s.raw();
    p.cmd(&[b"RPUSH", b"src", b"x"]);
    p.expect(b":1\r\n");
    a.expect(b"$1\r\nx\r\n");
    p.cmd(&[b"LRANGE", b"dst", b"0", b"-1"]);
    p.expect(b"*1\r\n$1\r\nx\r\n");
    let start = Instant::now();
    a.cmd(&[b"BLPOP", b"none", b"0.2"]);
    a.expect(b"*-1\r\n");
    // Deadlines are whole milliseconds of the wall clock, as in Redis: allow for the
    // truncation of the start time.
    assert!(start.elapsed() >= Duration::from_millis(195));
    wait_blocked(&s, 0);
    // Commands pipelined behind a blocking one run after it is served.
    a.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nw\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n");
    wait_blocked(&s, 1);
    p.cmd(&[b"RPUSH", b"w", b"v"]);
    p.expect(b":1\r\n");
    a.expect(b"*2\r\n$1\r\nw\r\n$1\r\nv\r\n+PONG\r\n");
}

#[test]
fn a_blocked_client_that_disconnects_leaves_nothing_behind() {
    let s = TestServer::start();
    let a = s.raw();
    let mut a = a;
    a.cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&s, 1);
    drop(a);
    wait_blocked(&s, 0);
    let mut p = s.raw();
    p.cmd(&[b"RPUSH", b"q", b"kept"]);
    p.expect(b":1\r\n");
    p.cmd(&[b"LRANGE", b"q", b"0", b"-1"]);
    p.expect(b"*1\r\n$4\r\nkept\r\n");
}
