//! `DEBUG`: refused by default as in Redis 7, and with `--enable-debug-command yes` its
//! digests equal Redis's for the same data (also after `DEBUG RELOAD`), `OBJECT` reports Redis's fields, `SLEEP`
//! stops the server, and `SET-ACTIVE-EXPIRE 0` stops background expiry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::real_redis::{run_script, split, RedisServer};
use common::{read_reply, Raw, TestServer};

#[test]
fn debug_is_refused_unless_enabled_as_in_redis() {
    run_script(&["DEBUG SLEEP 0", "DEBUG HELP", "DEBUG DIGEST", "DEBUG"]);
}

fn send(c: &mut Raw, cmd: &str) -> Vec<u8> {
    let args = split(cmd);
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    c.cmd(&refs);
    read_reply(&mut c.stream)
}

#[test]
fn digests_equal_redis_s_for_the_same_data() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    let flash = TestServer::start_with(&["--enable-debug-command", "yes"]);
    let mut r = Raw::connect(redis.port);
    let mut f = flash.raw();
    let script = [
        "DEBUG DIGEST",
        "SET s hello",
        "SET n 12345",
        "RPUSH l a b c a",
        "SADD set x y 1 2",
        "HSET h f1 v1 f2 v2",
        "ZADD z 1.5 a 2 b -0.25 c 1e20 d",
        "SET t v PX 100000000",
        "XADD st 1-1 f v g w",
        "XADD st 2-5 f x",
        "SELECT 3",
        "SET other db",
        "SELECT 0",
        "DEBUG DIGEST-VALUE s n l set h z t st missing",
        "DEBUG DIGEST",
        "DEL t",
        "DEBUG DIGEST",
        // Through the persistence format and back, the data is the same as Redis's.
        "DEBUG RELOAD",
        "DEBUG DIGEST",
        "DEBUG RELOAD MERGE NOFLUSH",
        "DEBUG DIGEST",
        "DEBUG RELOAD BOGUS",
        "DEBUG OBJECT missing",
        "DEBUG NOPE",
        "DEBUG SLEEP 0",
        "DEBUG SET-ACTIVE-EXPIRE 1",
        "DEBUG ERROR boom",
        "MULTI",
        "DEBUG DIGEST-VALUE s",
        "EXEC",
    ];
    let mut diffs = Vec::new();
    for cmd in script {
        let (want, got) = (send(&mut r, cmd), send(&mut f, cmd));
        if want != got {
            diffs.push(format!(
                "{cmd}\n  redis:   {:?}\n  flashdb: {:?}",
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn object_sleep_and_active_expire_behave_as_in_redis() {
    let server = TestServer::start_with(&["--enable-debug-command", "local"]);
    let mut c = server.raw();
    c.call(&["SET", "k", "12345"]);
    let obj = c.call(&["DEBUG", "OBJECT", "k"]);
    assert!(obj.starts_with("+Value at:0x"), "{obj}");
    assert!(
        obj.contains(" refcount:1 encoding:int serializedlength:"),
        "{obj}"
    );
    assert!(obj.contains(" lru_seconds_idle:0"), "{obj}");
    // SLEEP stops every client, not just the caller.
    let mut other = server.raw();
    c.cmd(&[b"DEBUG", b"SLEEP", b"0.3"]);
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    assert_eq!(other.call(&["GET", "k"]), "$5\r\n12345\r\n");
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(read_reply(&mut c.stream), b"+OK\r\n");
    // Without active expiry, an expired key nobody reads stays counted.
    assert_eq!(c.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), "+OK\r\n");
    c.call(&["SET", "gone", "v", "PX", "20"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(c.call(&["DBSIZE"]), ":2\r\n");
    assert_eq!(c.call(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]), "+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.call(&["DBSIZE"]) != ":1\r\n" {
        assert!(
            Instant::now() < deadline,
            "the expired key was never reclaimed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `DEBUG RELOAD` keeps every type FlashDB has, with its TTL, exactly: what a restart
/// would load.
#[test]
fn reload_keeps_every_key_and_ttl() {
    let server = TestServer::start_with(&["--enable-debug-command", "yes"]);
    let mut c = server.raw();
    for cmd in [
        "SET s hello",
        "SET n 12345 PX 100000000",
        "RPUSH l a b c",
        "SADD set x 1 2",
        "HSET h f v",
        "ZADD z 1 a 2 b",
        "PFADD hll a b c",
        "GEOADD g 13.36 38.11 palermo",
        "SETBIT bits 100 1",
        "QPUSH jobs payload",
        "XADD stream 5-1 a b c d",
        "XADD stream 6-0 a e",
        "SELECT 5",
        "SET other db",
        "SELECT 0",
    ] {
        let reply = send(&mut c, cmd);
        assert!(
            !reply.starts_with(b"-"),
            "{cmd}: {}",
            String::from_utf8_lossy(&reply)
        );
    }
    let before = common::dump(server.port, 16);
    assert_eq!(send(&mut c, "DEBUG RELOAD"), b"+OK\r\n");
    assert_eq!(common::dump(server.port, 16), before);
    assert!(send(&mut c, "DEBUG RELOAD NOSAVE").starts_with(b"-ERR DEBUG RELOAD NOSAVE"));
    assert_eq!(send(&mut c, "DBSIZE"), b":11\r\n");
}
