//! `MULTI`/`EXEC`/`DISCARD`/`WATCH`/`UNWATCH` through the real server: replies against the
//! real Redis 7, watches broken by other clients, by expiry and by whole-database
//! commands, optimistic-locking races, atomicity across shards, and `EXEC` waking a
//! client blocked on a list.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::real_redis::run_script;
use common::TestServer;

#[test]
fn transaction_replies_match_redis() {
    run_script(&[
        "FLUSHALL",
        // Queued commands, runtime errors in place, the rest still runs.
        "MULTI",
        "SET a 1",
        "INCR a",
        "LPUSH a x",
        "GET a",
        "EXEC",
        // Errors while queuing abort the whole transaction.
        "MULTI",
        "SET b 1",
        "NOSUCHCOMMAND x",
        "GET",
        "EXEC",
        "EXISTS b",
        // Nesting, WATCH inside MULTI, EXEC/DISCARD without MULTI.
        "MULTI",
        "MULTI",
        "WATCH a",
        "SET c 1",
        "EXEC",
        "EXEC",
        "DISCARD",
        "MULTI",
        "SET d 1",
        "DISCARD",
        "EXISTS d",
        // Commands not allowed inside a transaction flag it.
        "MULTI",
        "SAVE",
        "EXEC",
        "MULTI",
        "MONITOR",
        "EXEC",
        // Blocking commands do not block inside a transaction.
        "MULTI",
        "BLPOP emptylist 0",
        "BRPOP emptylist 0",
        "BLMOVE emptylist dst LEFT LEFT 0",
        "BRPOPLPUSH emptylist dst 0",
        "BLMPOP 0 1 emptylist LEFT",
        "BZPOPMIN emptyz 0",
        "BZPOPMAX emptyz 0",
        "BZMPOP 0 1 emptyz MIN",
        "EXEC",
        // ... but they do take what is there.
        "RPUSH full x y",
        "MULTI",
        "BLPOP full 0",
        "BLMOVE full dst RIGHT LEFT 0",
        "EXEC",
        // An empty transaction, SELECT inside one, UNWATCH inside one.
        "MULTI",
        "EXEC",
        "MULTI",
        "SELECT 1",
        "SET q 1",
        "UNWATCH",
        "EXEC",
        "GET q",
        "SELECT 0",
        "GET q",
        // Whole-database commands inside a transaction.
        "MSET k1 1 k2 2 k3 3",
        "MULTI",
        "DBSIZE",
        "KEYS k1*",
        "SWAPDB 0 1",
        "DBSIZE",
        "SWAPDB 0 1",
        "FLUSHDB",
        "DBSIZE",
        "RANDOMKEY",
        "SCAN 0",
        "EXEC",
        "!MULTI",
        "!INFO keyspace",
        "!CONFIG RESETSTAT",
        "!EXEC",
        // Keys in many shards, and multi-key commands with counted keys.
        "MULTI",
        "MSET x1 1 x2 2 x3 3 x4 4 x5 5 x6 6",
        "ZADD z1 1 a 2 b",
        "ZADD z2 3 b",
        "ZUNIONSTORE zu 2 z1 z2",
        "ZRANGE zu 0 -1 WITHSCORES",
        "LMPOP 2 nolist full LEFT",
        "MGET x1 x2 x3 x4 x5 x6",
        "EXEC",
        // A watched key this client changes itself still aborts.
        "WATCH w",
        "SET w 1",
        "MULTI",
        "INCR w",
        "EXEC",
        "GET w",
        // A write that changes nothing does not.
        "SADD s m",
        "WATCH s",
        "SREM s nomember",
        "MULTI",
        "SCARD s",
        "EXEC",
        // A watched key that did not exist is not touched by FLUSHALL...
        "WATCH nokey",
        "FLUSHALL",
        "MULTI",
        "PING",
        "EXEC",
        // ... but one that existed is, and so is one that SWAPDB replaces.
        "SET e 1",
        "WATCH e",
        "FLUSHDB",
        "MULTI",
        "PING",
        "EXEC",
        "SELECT 1",
        "SET sw 1",
        "SELECT 0",
        "WATCH sw",
        "SWAPDB 0 1",
        "MULTI",
        "PING",
        "EXEC",
        "SWAPDB 0 1",
        // RENAME touches both keys; UNWATCH forgets.
        "SET r1 1",
        "WATCH r2",
        "RENAME r1 r2",
        "MULTI",
        "PING",
        "EXEC",
        "WATCH r2",
        "DEL r2",
        "UNWATCH",
        "MULTI",
        "PING",
        "EXEC",
    ]);
}

fn call(r: &mut common::Raw, args: &[&str]) -> String {
    r.call(args)
}

#[test]
fn a_watched_key_changed_by_another_client_aborts_exec() {
    let s = TestServer::start();
    let mut a = s.raw();
    let mut b = s.raw();
    assert_eq!(call(&mut a, &["SET", "k", "1"]), "+OK\r\n");
    assert_eq!(call(&mut a, &["WATCH", "k", "other"]), "+OK\r\n");
    assert_eq!(call(&mut b, &["INCR", "k"]), ":2\r\n");
    assert_eq!(call(&mut a, &["MULTI"]), "+OK\r\n");
    assert_eq!(call(&mut a, &["SET", "k", "100"]), "+QUEUED\r\n");
    assert_eq!(call(&mut a, &["EXEC"]), "*-1\r\n");
    assert_eq!(call(&mut a, &["GET", "k"]), "$1\r\n2\r\n");
    // The watch ended with EXEC: the next transaction runs.
    assert_eq!(call(&mut b, &["INCR", "k"]), ":3\r\n");
    assert_eq!(call(&mut a, &["MULTI"]), "+OK\r\n");
    assert_eq!(call(&mut a, &["SET", "k", "100"]), "+QUEUED\r\n");
    assert_eq!(call(&mut a, &["EXEC"]), "*1\r\n+OK\r\n");
    // A change in another database does not touch a key watched in this one.
    assert_eq!(call(&mut a, &["WATCH", "k"]), "+OK\r\n");
    assert_eq!(call(&mut b, &["SELECT", "1"]), "+OK\r\n");
    assert_eq!(call(&mut b, &["SET", "k", "x"]), "+OK\r\n");
    assert_eq!(call(&mut a, &["MULTI"]), "+OK\r\n");
    assert_eq!(call(&mut a, &["GET", "k"]), "+QUEUED\r\n");
    assert_eq!(call(&mut a, &["EXEC"]), "*1\r\n$3\r\n100\r\n");
    // DISCARD and a disconnection forget watches: later changes reach nobody.
    assert_eq!(call(&mut a, &["WATCH", "k"]), "+OK\r\n");
    drop(a);
    assert_eq!(call(&mut b, &["SELECT", "0"]), "+OK\r\n");
    assert_eq!(call(&mut b, &["SET", "k", "y"]), "+OK\r\n");
}

#[test]
fn a_watched_key_that_expires_aborts_exec() {
    let s = TestServer::start();
    let mut a = s.raw();
    assert_eq!(call(&mut a, &["SET", "k", "1", "PX", "100"]), "+OK\r\n");
    assert_eq!(call(&mut a, &["WATCH", "k"]), "+OK\r\n");
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(call(&mut a, &["MULTI"]), "+OK\r\n");
    assert_eq!(call(&mut a, &["PING"]), "+QUEUED\r\n");
    assert_eq!(call(&mut a, &["EXEC"]), "*-1\r\n");
    // A key already expired when it was watched does not abort (nothing changed since).
    assert_eq!(call(&mut a, &["SET", "j", "1", "PX", "50"]), "+OK\r\n");
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(call(&mut a, &["WATCH", "j"]), "+OK\r\n");
    assert_eq!(call(&mut a, &["MULTI"]), "+OK\r\n");
    assert_eq!(call(&mut a, &["PING"]), "+QUEUED\r\n");
    assert_eq!(call(&mut a, &["EXEC"]), "*1\r\n+PONG\r\n");
}

/// Many clients increment one counter with WATCH/MULTI/EXEC, retrying when EXEC aborts:
/// the total is exact, so no EXEC ran on a stale read.
#[test]
fn optimistic_increments_race_to_the_exact_total() {
    let s = TestServer::start();
    let (clients, each) = (8, 60);
    let port = s.port;
    let aborts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let aborts = aborts.clone();
            std::thread::spawn(move || {
                let mut c = common::Raw::connect(port);
                for _ in 0..each {
                    loop {
                        assert_eq!(c.call(&["WATCH", "counter"]), "+OK\r\n");
                        let v = c.call(&["GET", "counter"]);
                        let n: i64 = v.lines().nth(1).map_or(0, |l| l.parse().unwrap());
                        assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
                        let next = (n + 1).to_string();
                        assert_eq!(c.call(&["SET", "counter", &next]), "+QUEUED\r\n");
                        match c.call(&["EXEC"]).as_str() {
                            "*1\r\n+OK\r\n" => break,
                            "*-1\r\n" => {
                                aborts.fetch_add(1, Ordering::Relaxed);
                            }
                            other => panic!("EXEC: {other:?}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = s.raw();
    let want = clients * each;
    assert_eq!(
        c.call(&["GET", "counter"]),
        format!("${}\r\n{want}\r\n", want.to_string().len())
    );
    // Contention did happen, so the aborts were exercised.
    assert!(aborts.load(Ordering::Relaxed) > 0);
}

/// Transfers between keys in different shards keep a constant sum, as seen by readers
/// that read all the keys at once while transactions run.
#[test]
fn no_reader_sees_part_of_a_transaction() {
    let s = TestServer::start();
    let keys: Vec<String> = (0..16).map(|i| format!("acct:{i}")).collect();
    let mut setup = s.raw();
    for k in &keys {
        assert_eq!(setup.call(&["SET", k, "100"]), "+OK\r\n");
    }
    let total = 100 * keys.len() as i64;
    let stop = Arc::new(AtomicBool::new(false));
    let port = s.port;
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let keys = keys.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = common::Raw::connect(port);
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let (from, to) = (&keys[i % 16], &keys[(i * 7 + 3) % 16]);
                    i += 1;
                    assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
                    c.call(&["DECRBY", from, "5"]);
                    c.call(&["INCRBY", to, "5"]);
                    let r = c.call(&["EXEC"]);
                    assert!(r.starts_with("*2\r\n:"), "{r:?}");
                }
            })
        })
        .collect();
    let mut reader = s.raw();
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    for _ in 0..300 {
        let r = reader.call(&mget);
        let sum: i64 = r
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with('$'))
            .map(|l| l.parse::<i64>().unwrap())
            .sum();
        assert_eq!(sum, total, "a reader saw part of a transfer");
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
}

#[test]
fn exec_wakes_a_client_blocked_on_a_list() {
    let s = TestServer::start();
    let mut blocked = s.raw();
    let mut pusher = s.raw();
    blocked.cmd(&[b"BLPOP", b"jobs", b"0"]);
    // Wait until the server has parked the client.
    for _ in 0..200 {
        if pusher
            .call(&["INFO", "clients"])
            .contains("blocked_clients:1")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(call(&mut pusher, &["MULTI"]), "+OK\r\n");
    assert_eq!(
        call(&mut pusher, &["RPUSH", "jobs", "a", "b"]),
        "+QUEUED\r\n"
    );
    assert_eq!(call(&mut pusher, &["LPOP", "jobs"]), "+QUEUED\r\n");
    assert_eq!(call(&mut pusher, &["EXEC"]), "*2\r\n:2\r\n$1\r\na\r\n");
    // The transaction took "a" itself; the blocked client gets what it left.
    blocked.expect(b"*2\r\n$4\r\njobs\r\n$1\r\nb\r\n");
}
