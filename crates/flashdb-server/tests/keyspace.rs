//! Keyspace behaviour through the real binary: expiry (lazy and active), SCAN's guarantee
//! under concurrent writes, databases.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::TestServer;

fn scan_all(conn: &mut redis::Connection, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(&cursor);
        for a in extra {
            cmd.arg(*a);
        }
        let (next, batch): (String, Vec<String>) = cmd.query(conn).unwrap();
        keys.extend(batch);
        if next == "0" {
            return keys;
        }
        cursor = next;
    }
}

#[test]
fn keys_expire_lazily_and_actively() {
    let server = TestServer::start();
    let mut conn = server.client();
    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        pipe.cmd("SET")
            .arg(format!("active:{i}"))
            .arg("v")
            .arg("PX")
            .arg(3000)
            .ignore();
    }
    pipe.cmd("SET").arg("stays").arg("v").ignore();
    let _: () = pipe.query(&mut conn).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut conn).unwrap();
    assert_eq!(n, 20_001);
    let _: () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(100)
        .query(&mut conn)
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let v: Option<String> = redis::cmd("GET").arg("short").query(&mut conn).unwrap();
    assert_eq!(v, None, "an expired key is gone when read");
    // Nobody touches the 20,000 keys: the background cycle must reclaim them.
    let mut left = i64::MAX;
    for _ in 0..200 {
        std::thread::sleep(Duration::from_millis(50));
        left = redis::cmd("DBSIZE").query(&mut conn).unwrap();
        if left == 1 {
            break;
        }
    }
    assert_eq!(left, 1, "active expiry must reclaim untouched keys");
    let info: String = redis::cmd("INFO").arg("stats").query(&mut conn).unwrap();
    assert!(info.contains("expired_keys:20001"), "{info}");
}

#[test]
fn scan_returns_every_key_present_throughout_despite_writes() {
    let server = TestServer::start();
    let mut conn = server.client();
    let mut pipe = redis::pipe();
    for i in 0..5_000 {
        pipe.cmd("SET").arg(format!("stable:{i}")).arg(i).ignore();
    }
    let _: () = pipe.query(&mut conn).unwrap();
    let port = server.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
            let mut w = c.get_connection().unwrap();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut p = redis::pipe();
                for j in 0..100 {
                    p.cmd("SET")
                        .arg(format!("churn:{}", i + j))
                        .arg("x")
                        .ignore();
                    if i + j >= 50 {
                        p.cmd("DEL").arg(format!("churn:{}", i + j - 50)).ignore();
                    }
                }
                let _: () = p.query(&mut w).unwrap();
                i += 100;
            }
        })
    };
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    loop {
        let (next, batch): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("COUNT")
            .arg(50)
            .query(&mut conn)
            .unwrap();
        seen.extend(batch);
        if next == "0" {
            break;
        }
        cursor = next;
        std::thread::sleep(Duration::from_micros(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    for i in 0..5_000 {
        assert!(
            seen.contains(&format!("stable:{i}")),
            "stable:{i} was not returned by SCAN"
        );
    }
}

#[test]
fn scan_filters_by_match_and_type() {
    let server = TestServer::start();
    let mut conn = server.client();
    for i in 0..300 {
        let _: () = redis::cmd("SET")
            .arg(format!("user:{i}"))
            .arg(i)
            .query(&mut conn)
            .unwrap();
        let _: () = redis::cmd("SET")
            .arg(format!("order:{i}"))
            .arg(i)
            .query(&mut conn)
            .unwrap();
    }
    let mut users = scan_all(&mut conn, &["MATCH", "user:*", "COUNT", "37"]);
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 300);
    assert!(users.iter().all(|k| k.starts_with("user:")));
    assert_eq!(scan_all(&mut conn, &["TYPE", "string"]).len(), 600);
    assert!(scan_all(&mut conn, &["TYPE", "hash"]).is_empty());
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("order:1?").query(&mut conn).unwrap();
    keys.sort();
    assert_eq!(
        keys,
        (10..20).map(|i| format!("order:{i}")).collect::<Vec<_>>()
    );
    let rk: String = redis::cmd("RANDOMKEY").query(&mut conn).unwrap();
    assert!(rk.starts_with("user:") || rk.starts_with("order:"));
}

#[test]
fn databases_are_separate_and_swappable() {
    let server = TestServer::start_with(&["--databases", "4"]);
    let mut c = server.raw();
    assert_eq!(c.call(&["SET", "k", "zero"]), "+OK\r\n");
    assert_eq!(c.call(&["SELECT", "2"]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "k"]), "$-1\r\n");
    assert_eq!(c.call(&["SET", "k", "two"]), "+OK\r\n");
    assert_eq!(
        c.call(&["SELECT", "4"]),
        "-ERR DB index is out of range\r\n"
    );
    assert_eq!(c.call(&["SWAPDB", "0", "2"]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "k"]), "$4\r\nzero\r\n");
    let mut other = server.raw();
    assert_eq!(other.call(&["GET", "k"]), "$3\r\ntwo\r\n");
    assert_eq!(c.call(&["FLUSHALL", "ASYNC"]), "+OK\r\n");
    assert_eq!(other.call(&["DBSIZE"]), ":0\r\n");
    assert_eq!(c.call(&["DBSIZE"]), ":0\r\n");
}

#[test]
fn expire_variants_and_ttl_arithmetic() {
    let server = TestServer::start();
    let mut c = server.raw();
    assert_eq!(c.call(&["SET", "k", "v", "PX", "1800"]), "+OK\r\n");
    let pttl: i64 = c
        .call(&["PTTL", "k"])
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert!((1500..=1800).contains(&pttl), "{pttl}");
    assert_eq!(c.call(&["TTL", "k"]), ":2\r\n", "TTL rounds like Redis");
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1000;
    assert_eq!(c.call(&["EXPIREAT", "k", &at.to_string()]), ":1\r\n");
    assert_eq!(c.call(&["EXPIRETIME", "k"]), format!(":{at}\r\n"));
    assert_eq!(
        c.call(&["SET", "e", "v", "EXAT", &at.to_string()]),
        "+OK\r\n"
    );
    assert_eq!(c.call(&["EXPIRETIME", "e"]), format!(":{at}\r\n"));
    assert_eq!(c.call(&["GETEX", "e", "PXAT", "1"]), "$1\r\nv\r\n");
    assert_eq!(c.call(&["EXISTS", "e"]), ":0\r\n");
    assert_eq!(c.call(&["RENAME", "k", "k2"]), "+OK\r\n");
    assert_eq!(
        c.call(&["EXPIRETIME", "k2"]),
        format!(":{at}\r\n"),
        "RENAME keeps the TTL"
    );
    assert_eq!(c.call(&["COPY", "k2", "k3"]), ":1\r\n");
    assert_eq!(
        c.call(&["EXPIRETIME", "k3"]),
        format!(":{at}\r\n"),
        "COPY keeps the TTL"
    );
    assert_eq!(c.call(&["MOVE", "k3", "5"]), ":1\r\n");
    assert_eq!(c.call(&["SELECT", "5"]), "+OK\r\n");
    assert_eq!(
        c.call(&["EXPIRETIME", "k3"]),
        format!(":{at}\r\n"),
        "MOVE keeps the TTL"
    );
}
