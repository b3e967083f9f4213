//! `CLIENT PAUSE`, `UNPAUSE`, `UNBLOCK` and `NO-EVICT`: replies and errors as Redis 7's,
//! paused commands run when the pause ends (writes only under `WRITE`), and a blocked
//! client is released as on timeout or with an error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::real_redis::run_script;
use common::{read_reply, TestServer};

#[test]
fn replies_and_errors_match_redis() {
    run_script(&[
        "CLIENT UNBLOCK 1 TIMEOUT extra",
        "CLIENT PAUSE x",
        "CLIENT PAUSE -1",
        "CLIENT PAUSE 10 NOPE",
        "CLIENT PAUSE 10 WRITE extra",
        "CLIENT PAUSE 0",
        "CLIENT PAUSE 0 WRITE",
        "CLIENT UNPAUSE",
        "CLIENT UNPAUSE extra",
        "CLIENT UNBLOCK x",
        "CLIENT UNBLOCK 99999",
        "CLIENT UNBLOCK 99999 TIMEOUT",
        "CLIENT UNBLOCK 99999 ERROR",
        "CLIENT UNBLOCK 99999 NOPE",
        "CLIENT UNBLOCK x NOPE",
        "CLIENT NO-EVICT on",
        "CLIENT NO-EVICT OFF",
        "CLIENT NO-EVICT maybe",
        "CLIENT NO-EVICT",
    ]);
}

fn id_of(c: &mut common::Raw) -> String {
    c.call(&["CLIENT", "ID"])[1..].trim().to_string()
}

#[test]
fn a_blocked_client_is_released_as_on_timeout_or_with_an_error() {
    let server = TestServer::start();
    let mut admin = server.raw();
    let mut waiter = server.raw();
    let id = id_of(&mut waiter);
    assert_eq!(
        admin.call(&["CLIENT", "UNBLOCK", &id]),
        ":0\r\n",
        "not blocked yet"
    );
    waiter.cmd(&[b"BLPOP", b"nothing", b"0"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(admin.call(&["CLIENT", "UNBLOCK", &id]), ":1\r\n");
    assert_eq!(read_reply(&mut waiter.stream), b"*-1\r\n");
    waiter.cmd(&[b"BZPOPMIN", b"nothing", b"0"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(admin.call(&["CLIENT", "UNBLOCK", &id, "ERROR"]), ":1\r\n");
    assert_eq!(
        read_reply(&mut waiter.stream),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    // The connection goes on, and a late unblock does not leak into the next wait.
    assert_eq!(admin.call(&["CLIENT", "UNBLOCK", &id]), ":0\r\n");
    waiter.cmd(&[b"BLPOP", b"l", b"5"]);
    std::thread::sleep(Duration::from_millis(100));
    admin.call(&["RPUSH", "l", "x"]);
    assert_eq!(
        read_reply(&mut waiter.stream),
        b"*2\r\n$1\r\nl\r\n$1\r\nx\r\n"
    );
}

#[test]
fn paused_commands_run_when_the_pause_ends() {
    let server = TestServer::start();
    let mut admin = server.raw();
    let mut other = server.raw();
    admin.call(&["SET", "k", "before"]);
    // WRITE: reads go on, writes wait.
    assert_eq!(
        admin.call(&["CLIENT", "PAUSE", "100000", "WRITE"]),
        "+OK\r\n"
    );
    assert_eq!(other.call(&["GET", "k"]), "$6\r\nbefore\r\n");
    other.cmd(&[b"SET", b"k", b"after"]);
    other
        .stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(
        common::try_read_reply(&mut other.stream).is_err(),
        "a write waits out the pause"
    );
    assert_eq!(admin.call(&["GET", "k"]), "$6\r\nbefore\r\n");
    assert_eq!(admin.call(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    other
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(read_reply(&mut other.stream), b"+OK\r\n");
    assert_eq!(admin.call(&["GET", "k"]), "$5\r\nafter\r\n");
    // ALL: reads wait too, and the pause ends by itself.
    let start = Instant::now();
    assert_eq!(admin.call(&["CLIENT", "PAUSE", "400", "ALL"]), "+OK\r\n");
    assert_eq!(other.call(&["GET", "k"]), "$5\r\nafter\r\n");
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    // A transaction that writes waits under WRITE; one that only reads does not.
    admin.call(&["CLIENT", "PAUSE", "100000", "WRITE"]);
    other.call(&["MULTI"]);
    other.call(&["GET", "k"]);
    assert_eq!(other.call(&["EXEC"]), "*1\r\n$5\r\nafter\r\n");
    other.call(&["MULTI"]);
    other.call(&["INCR", "n"]);
    other.cmd(&[b"EXEC"]);
    other
        .stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(common::try_read_reply(&mut other.stream).is_err());
    admin.call(&["CLIENT", "UNPAUSE"]);
    other
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(read_reply(&mut other.stream), b"*1\r\n:1\r\n");
}
