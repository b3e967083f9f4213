//! `CONFIG GET`/`CONFIG SET` against the real Redis 7: every parameter Redis has is known
//! here (but the ACL and TLS ones, which come with those features), and each is settable
//! at run time exactly where Redis's is, with Redis's errors where it is not. Also the LFU
//! tuning parameters, which change how counters grow.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::real_redis::RedisServer;
use common::{Raw, TestServer};

/// The names and values of `CONFIG GET *`.
fn all_params(c: &mut Raw) -> Vec<(String, String)> {
    let reply = c.call(&["CONFIG", "GET", "*"]);
    let lines: Vec<&str> = reply.split("\r\n").collect();
    // *N, then $len / text pairs: name, value, name, value...
    let texts: Vec<&str> = lines[1..]
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| c[1])
        .collect();
    texts
        .chunks(2)
        .map(|p| (p[0].to_string(), p[1].to_string()))
        .collect()
}

/// Parameters whose values Redis parses with a grammar of their own, which FlashDB
/// remembers without checking (they mean nothing here).
const OWN_PARSER: &[&str] = &[
    "save",
    "latency-tracking-info-percentiles",
    "oom-score-adj-values",
    "maxmemory-clients",
    "client-output-buffer-limit",
    "bind",
    "notify-keyspace-events",
    "port",
    "dir",
];

fn not_yet(name: &str) -> bool {
    name.starts_with("tls-") || name == "masterauth" || name == "masteruser"
}

#[test]
fn every_redis_parameter_is_known_and_settable_where_redis_allows() {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    let mut r = Raw::connect(redis.port);
    let mut f = flash.raw();
    let ours: std::collections::BTreeMap<String, String> = all_params(&mut f).into_iter().collect();
    let mut missing = Vec::new();
    let mut differ = Vec::new();
    let mut compared = 0;
    for (name, value) in all_params(&mut r) {
        if not_yet(&name) {
            continue;
        }
        let Some(our_value) = ours.get(&name) else {
            missing.push(name);
            continue;
        };
        // Each side is given its own value back: what matters is whether it may change.
        let theirs = r.call(&["CONFIG", "SET", &name, &value]);
        let mine = f.call(&["CONFIG", "SET", &name, our_value]);
        compared += 1;
        if theirs != mine {
            differ.push(format!("{name}: redis {theirs:?}, flashdb {mine:?}"));
        }
        // A value that is no value: refused alike, with the same text.
        if !OWN_PARSER.contains(&name.as_str()) {
            let theirs = r.call(&["CONFIG", "SET", &name, "banana"]);
            let mine = f.call(&["CONFIG", "SET", &name, "banana"]);
            if theirs != mine {
                differ.push(format!("{name} banana: redis {theirs:?}, flashdb {mine:?}"));
            }
            if theirs == "+OK\r\n" {
                r.call(&["CONFIG", "SET", &name, &value]);
                f.call(&["CONFIG", "SET", &name, our_value]);
            }
        }
    }
    assert!(missing.is_empty(), "unknown here: {missing:?}");
    assert!(compared > 160, "{compared}");
    assert!(differ.is_empty(), "{differ:#?}");
}

#[test]
fn lfu_log_factor_changes_how_counters_grow() {
    let flash = TestServer::start();
    let mut c = flash.raw();
    assert_eq!(
        c.call(&[
            "CONFIG",
            "SET",
            "maxmemory-policy",
            "allkeys-lfu",
            "lfu-log-factor",
            "0"
        ]),
        "+OK\r\n"
    );
    assert_eq!(c.call(&["SET", "hot", "v"]), "+OK\r\n");
    let start: i64 = c.call(&["OBJECT", "FREQ", "hot"])[1..]
        .trim()
        .parse()
        .unwrap();
    for _ in 0..20 {
        c.call(&["GET", "hot"]);
    }
    // With a factor of 0 every access counts: 1 / (base * 0 + 1) = 1.
    let after: i64 = c.call(&["OBJECT", "FREQ", "hot"])[1..]
        .trim()
        .parse()
        .unwrap();
    assert_eq!(after, start + 20);
    assert_eq!(
        c.call(&["CONFIG", "SET", "lfu-decay-time", "3000000000"]),
        "-ERR CONFIG SET failed (possibly related to argument 'lfu-decay-time') - argument must be between 0 and 2147483647 inclusive\r\n"
    );
}
