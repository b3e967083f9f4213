//! `DUMP` and `RESTORE`: every type round-trips with its TTL and access metadata, the
//! options and errors are Redis's (checked against the real Redis 7), a payload from
//! another program or a damaged one is refused, and restored keys survive a restart and
//! wake blocked clients.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::real_redis::{run_script, RedisServer};
use common::{dump, read_reply, temp_dir, Raw, TestServer};

/// `DUMP key`'s payload (the bulk string's bytes), or `None` for a null reply.
fn dump_of(c: &mut Raw, key: &str) -> Option<Vec<u8>> {
    c.cmd(&[b"DUMP", key.as_bytes()]);
    let reply = read_reply(&mut c.stream);
    if reply.starts_with(b"$-1") || reply.starts_with(b"_") {
        return None;
    }
    let header_end = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
    Some(reply[header_end..reply.len() - 2].to_vec())
}

fn restore(c: &mut Raw, key: &str, ttl: &str, payload: &[u8], opts: &[&str]) -> String {
    let mut args: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), ttl.as_bytes(), payload];
    args.extend(opts.iter().map(|o| o.as_bytes()));
    c.cmd(&args);
    String::from_utf8_lossy(&read_reply(&mut c.stream)).into_owned()
}

#[test]
fn options_and_errors_match_redis() {
    run_script(&[
        "FLUSHALL",
        "SET k v",
        "DUMP nokey",
        "RESTORE k 0 payload",
        "RESTORE k2 -1 payload",
        "RESTORE k2 x payload",
        "RESTORE k2 0 payload",
        "RESTORE k2 0 {empty}",
        "RESTORE k2 0 payload REPLACE ABSTTL",
        "RESTORE k2 0 payload BOGUS",
        "RESTORE k2 0 payload IDLETIME",
        "RESTORE k2 0 payload IDLETIME -1",
        "RESTORE k2 0 payload IDLETIME x",
        "RESTORE k2 0 payload FREQ 256",
        "RESTORE k2 0 payload FREQ -1",
        "RESTORE k2 0 payload IDLETIME 5 FREQ 5",
        "RESTORE k2 0 payload FREQ 5 IDLETIME 5",
        "RESTORE k 0 payload REPLACE",
        "RESTORE",
        "DUMP",
    ]);
}

#[test]
fn every_type_round_trips_and_foreign_payloads_are_refused() {
    let redis = RedisServer::start();
    let server = TestServer::start();
    let mut c = server.raw();
    for setup in [
        vec!["SET", "str", "hello"],
        vec!["SET", "bin", "a\u{0}\u{ff}b"],
        vec!["RPUSH", "list", "a", "b", "c", "a"],
        vec!["SADD", "set", "x", "y", "3"],
        vec!["SADD", "ints", "1", "2", "3"],
        vec!["HSET", "hash", "f", "v", "g", "w"],
        vec!["ZADD", "zset", "1.5", "a", "-inf", "b"],
        vec!["QPUSH", "queue", "m1", "m2"],
        vec!["PFADD", "hll", "a", "b", "c"],
    ] {
        assert!(!c.call(&setup).starts_with('-'), "{setup:?}");
    }
    let keys = [
        "str", "bin", "list", "set", "ints", "hash", "zset", "queue", "hll",
    ];
    let before = dump(server.port, 1);
    for k in keys {
        let payload = dump_of(&mut c, k).unwrap();
        assert_eq!(
            restore(&mut c, k, "0", &payload, &[]),
            "-BUSYKEY Target key name already exists.\r\n"
        );
        assert_eq!(restore(&mut c, k, "0", &payload, &["REPLACE"]), "+OK\r\n");
        // A flipped byte anywhere is caught by the checksum.
        for at in [0, payload.len() / 2, payload.len() - 1] {
            let mut bad = payload.clone();
            bad[at] ^= 0x20;
            assert_eq!(
                restore(&mut c, "other", "0", &bad, &[]),
                "-ERR DUMP payload version or checksum are wrong\r\n"
            );
        }
        // Redis refuses FlashDB's payload with the same error.
        let mut r = Raw::connect(redis.port);
        assert_eq!(
            restore(&mut r, "k", "0", &payload, &[]),
            "-ERR DUMP payload version or checksum are wrong\r\n"
        );
    }
    assert_eq!(
        dump(server.port, 1),
        before,
        "values survive DUMP and RESTORE REPLACE"
    );
    assert_eq!(c.call(&["EXISTS", "other"]), ":0\r\n");
    // A Redis payload is refused here.
    let mut r = Raw::connect(redis.port);
    r.call(&["SET", "s", "v"]);
    let foreign = dump_of(&mut r, "s").unwrap();
    assert_eq!(
        restore(&mut c, "s", "0", &foreign, &[]),
        "-ERR DUMP payload version or checksum are wrong\r\n"
    );
}

#[test]
fn ttl_idletime_freq_and_expired_restores_behave_as_in_redis() {
    let server = TestServer::start();
    let mut c = server.raw();
    c.call(&["SET", "k", "v"]);
    let payload = dump_of(&mut c, "k").unwrap();
    assert_eq!(restore(&mut c, "a", "100000", &payload, &[]), "+OK\r\n");
    let pttl: i64 = c.call(&["PTTL", "a"])[1..].trim().parse().unwrap();
    assert!((90_000..=100_000).contains(&pttl), "{pttl}");
    let far = "4102444800000"; // 2100-01-01
    assert_eq!(restore(&mut c, "b", far, &payload, &["ABSTTL"]), "+OK\r\n");
    assert_eq!(c.call(&["PEXPIRETIME", "b"]), format!(":{far}\r\n"));
    // Already expired: nothing is created; with REPLACE, the old key is removed.
    assert_eq!(restore(&mut c, "c", "1", &payload, &["ABSTTL"]), "+OK\r\n");
    assert_eq!(c.call(&["EXISTS", "c"]), ":0\r\n");
    assert_eq!(
        restore(&mut c, "a", "1", &payload, &["ABSTTL", "REPLACE"]),
        "+OK\r\n"
    );
    assert_eq!(c.call(&["EXISTS", "a"]), ":0\r\n");
    // IDLETIME sets the idle time under an LRU policy, FREQ the counter under LFU.
    assert_eq!(
        restore(&mut c, "idle", "0", &payload, &["IDLETIME", "1000"]),
        "+OK\r\n"
    );
    let idle: i64 = c.call(&["OBJECT", "IDLETIME", "idle"])[1..]
        .trim()
        .parse()
        .unwrap();
    assert!((1000..1010).contains(&idle), "{idle}");
    c.call(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
    assert_eq!(
        restore(&mut c, "hot", "0", &payload, &["FREQ", "200"]),
        "+OK\r\n"
    );
    assert_eq!(c.call(&["OBJECT", "FREQ", "hot"]), ":200\r\n");
}

#[test]
fn restored_keys_wake_blocked_clients_and_survive_a_restart() {
    let dir = temp_dir("dump-restore");
    let mut server = TestServer::start_in(&dir, &[], &[]);
    let mut c = server.raw();
    c.call(&["RPUSH", "src", "x", "y"]);
    c.call(&["ZADD", "zsrc", "1", "m"]);
    let list = dump_of(&mut c, "src").unwrap();
    let mut waiter = server.raw();
    waiter.cmd(&[b"BLPOP", b"dst", b"5"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(restore(&mut c, "dst", "0", &list, &[]), "+OK\r\n");
    assert_eq!(
        String::from_utf8_lossy(&read_reply(&mut waiter.stream)),
        "*2\r\n$3\r\ndst\r\n$1\r\nx\r\n"
    );
    let z = dump_of(&mut c, "zsrc").unwrap();
    assert_eq!(restore(&mut c, "zdst", "3600000", &z, &[]), "+OK\r\n");
    let before = dump(server.port, 1);
    server.kill9();
    let server = TestServer::start_in(&dir, &[], &[]);
    assert_eq!(dump(server.port, 1), before);
}
