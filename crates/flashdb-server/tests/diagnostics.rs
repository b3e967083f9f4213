//! `SLOWLOG`, `LATENCY` and `MEMORY`: replies and errors as Redis 7's (checked against the real
//! Redis where they do not depend on timing), the slow log's entries, the latency
//! monitor's events, the per-command histograms, and their HTTP and Prometheus forms.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::real_redis::run_script;
use common::{read_reply, Raw, TestServer};

#[test]
fn replies_that_do_not_depend_on_timing_match_redis() {
    run_script(&[
        "SLOWLOG HELP",
        "SLOWLOG RESET",
        "SLOWLOG LEN",
        "SLOWLOG GET",
        "SLOWLOG GET -2",
        "SLOWLOG GET x",
        "SLOWLOG NOPE",
        "SLOWLOG",
        "SLOWLOG LEN extra",
        "~CONFIG GET slowlog-*",
        "CONFIG SET slowlog-log-slower-than -2",
        "CONFIG SET slowlog-log-slower-than x",
        "CONFIG SET slowlog-max-len -1",
        "CONFIG GET latency-monitor-threshold",
        "LATENCY HELP",
        "LATENCY LATEST",
        "LATENCY DOCTOR",
        "LATENCY HISTORY command",
        "LATENCY GRAPH command",
        "LATENCY RESET",
        "LATENCY RESET command fast-command",
        "LATENCY HISTOGRAM nosuchcommand",
        "LATENCY HISTOGRAM lpush",
        "LATENCY NOPE",
        "LATENCY HISTORY",
        "CONFIG SET latency-monitor-threshold 1000",
        "LATENCY DOCTOR",
        "MEMORY HELP",
        "MEMORY USAGE nokey",
        "MEMORY USAGE nokey SAMPLES -1",
        "MEMORY USAGE nokey SAMPLES x",
        "MEMORY USAGE nokey BOGUS",
        "MEMORY USAGE",
        "MEMORY PURGE",
        "MEMORY DOCTOR",
        "MEMORY NOPE",
    ]);
}

#[test]
fn memory_usage_grows_with_the_value_and_redis_cli_memkeys_works() {
    let server = TestServer::start();
    let mut c = server.raw();
    let usage = |c: &mut Raw, key: &str, extra: &[&str]| -> i64 {
        let mut args = vec!["MEMORY", "USAGE", key];
        args.extend(extra);
        let r = c.call(&args);
        r[1..].trim().parse().unwrap_or_else(|_| panic!("{r}"))
    };
    c.call(&["SET", "small", "x"]);
    c.call(&["SET", "big", &"x".repeat(10_000)]);
    let (small, big) = (usage(&mut c, "small", &[]), usage(&mut c, "big", &[]));
    assert!(small > 0 && big >= small + 10_000, "{small} {big}");
    let members: Vec<String> = (0..1000).map(|i| format!("member-{i:06}")).collect();
    let mut sadd = vec!["SADD", "set"];
    sadd.extend(members.iter().map(|m| m.as_str()));
    c.call(&sadd);
    let all = usage(&mut c, "set", &["SAMPLES", "0"]);
    let sampled = usage(&mut c, "set", &[]);
    assert!(all > 1000 * 13, "{all}");
    assert!((sampled - all).abs() < all / 2, "{sampled} vs {all}");
    // The tools that need MEMORY USAGE run against FlashDB.
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "--memkeys"])
        .output()
        .expect("redis-cli must be installed (apt-get install redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Biggest string found '\"big\"'"), "{text}");
    assert!(text.contains("Biggest    set found '\"set\"'"), "{text}");
    let stats = c.call(&["MEMORY", "STATS"]);
    assert!(stats.contains("$10\r\nkeys.count\r\n:3\r\n"), "{stats}");
    assert_eq!(c.call(&["MEMORY", "PURGE"]), "+OK\r\n");
    let malloc = c.call(&["MEMORY", "MALLOC-STATS"]);
    assert!(malloc.contains("jemalloc statistics"), "{malloc}");
}

fn call(c: &mut Raw, args: &[&str]) -> String {
    c.call(args)
}

/// `GET url` (with a bearer token if given): the status and the body.
fn http_get(url: &str, token: Option<&str>) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    })
}

fn http_json(url: &str, token: Option<&str>) -> serde_json::Value {
    let (status, body) = http_get(url, token);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn slow_commands_are_logged_newest_first_shortened_and_redacted() {
    let server = TestServer::start_with(&["--requirepass", "sekret"]);
    let mut c = server.raw();
    assert_eq!(call(&mut c, &["AUTH", "sekret"]), "+OK\r\n");
    call(&mut c, &["CLIENT", "SETNAME", "tester"]);
    assert_eq!(
        call(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        "+OK\r\n"
    );
    call(&mut c, &["SLOWLOG", "RESET"]);
    let long = "x".repeat(300);
    call(&mut c, &["SET", "k", &long]);
    call(&mut c, &["AUTH", "sekret"]);
    let mut many = vec!["SADD", "s"];
    let members: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    many.extend(members.iter().map(|m| m.as_str()));
    call(&mut c, &many);
    let got = call(&mut c, &["SLOWLOG", "GET", "3"]);
    // Newest first: SADD (32 arguments kept, the last counting the rest), AUTH (its
    // password redacted), SET (its value cut at 128 bytes).
    let sadd = got.find("$4\r\nSADD").unwrap();
    let auth = got.find("$4\r\nAUTH").unwrap();
    let set = got.find("$3\r\nSET").unwrap();
    assert!(sadd < auth && auth < set, "{got}");
    assert!(got.contains("... (21 more arguments)"), "{got}");
    assert!(got.contains("$10\r\n(redacted)"), "{got}");
    assert!(!got.contains("sekret"), "{got}");
    assert!(
        got.contains(&format!("{}... (172 more bytes)", "x".repeat(128))),
        "{got}"
    );
    assert!(got.contains("$6\r\ntester"), "{got}");
    assert!(got.starts_with("*3\r\n"), "{got}");
    // The log keeps at most slowlog-max-len entries; -1 turns it off.
    call(&mut c, &["CONFIG", "SET", "slowlog-max-len", "2"]);
    assert_eq!(call(&mut c, &["SLOWLOG", "LEN"]), ":2\r\n");
    call(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    call(&mut c, &["SLOWLOG", "RESET"]);
    call(&mut c, &["SET", "a", "b"]);
    assert_eq!(call(&mut c, &["SLOWLOG", "LEN"]), ":0\r\n");
    // Over HTTP.
    call(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    call(&mut c, &["GET", "a"]);
    let body = http_json(
        &format!("{}/api/v1/slowlog?count=5", server.http()),
        Some("sekret"),
    );
    assert_eq!(body["success"], true);
    assert_eq!(body["slower_than_us"], 0);
    let first = &body["entries"][0];
    assert_eq!(first["args"], serde_json::json!(["GET", "a"]));
    assert_eq!(first["client_name"], "tester");
    let (status, _) = http_get(
        &format!("{}/api/v1/slowlog?count=x", server.http()),
        Some("sekret"),
    );
    assert_eq!(status, 400);
}

#[test]
fn the_latency_monitor_records_slow_commands_and_histograms_count_every_call() {
    let server = TestServer::start();
    let mut c = server.raw();
    // A command that takes milliseconds: sorting 200,000 numbers.
    let mut load = Vec::new();
    for chunk in 0..200 {
        let mut args: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), b"big".to_vec()];
        args.extend((0..1000).map(|i| {
            ((chunk * 7919 + i * 104_729) % 1_000_003)
                .to_string()
                .into_bytes()
        }));
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        load.extend(common::encode(&refs));
    }
    c.send(&load);
    for _ in 0..200 {
        read_reply(&mut c.stream);
    }
    assert_eq!(
        call(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "1"]),
        "+OK\r\n"
    );
    c.cmd(&[b"SORT", b"big", b"LIMIT", b"0", b"1"]);
    read_reply(&mut c.stream);
    let latest = call(&mut c, &["LATENCY", "LATEST"]);
    assert!(
        latest.starts_with("*1\r\n*4\r\n$7\r\ncommand\r\n"),
        "{latest}"
    );
    let history = call(&mut c, &["LATENCY", "HISTORY", "command"]);
    assert!(history.starts_with("*1\r\n*2\r\n"), "{history}");
    let doctor = call(&mut c, &["LATENCY", "DOCTOR"]);
    assert!(doctor.contains("1. command: 1 latency spikes"), "{doctor}");
    let graph = call(&mut c, &["LATENCY", "GRAPH", "command"]);
    assert!(graph.contains("command - high"), "{graph}");
    // Every call is in its command's histogram, also over HTTP and in /metrics.
    for _ in 0..5 {
        call(&mut c, &["SET", "k", "v"]);
    }
    let h = call(&mut c, &["LATENCY", "HISTOGRAM", "set", "config"]);
    assert!(
        h.starts_with("*4\r\n$3\r\nset\r\n*4\r\n$5\r\ncalls\r\n:5\r\n$14\r\nhistogram_usec\r\n"),
        "{h}"
    );
    assert!(h.contains("$10\r\nconfig|set\r\n"), "{h}");
    let body = http_json(&format!("{}/api/v1/latency", server.http()), None);
    assert_eq!(body["threshold_ms"], 1);
    assert_eq!(body["events"][0]["event"], "command");
    let set = body["commands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["command"] == "set")
        .unwrap();
    assert_eq!(set["calls"], 5);
    let cdf = set["histogram_usec"].as_array().unwrap();
    assert_eq!(cdf.last().unwrap()[1], 5);
    let (_, metrics) = http_get(&format!("{}/metrics", server.http()), None);
    assert!(
        metrics.contains("flashdb_command_latency_seconds_count{command=\"set\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("flashdb_command_latency_seconds_bucket{command=\"set\",le=\"+Inf\"} 5")
    );
    assert_eq!(call(&mut c, &["LATENCY", "RESET"]), ":1\r\n");
    assert_eq!(call(&mut c, &["LATENCY", "LATEST"]), "*0\r\n");
    call(&mut c, &["CONFIG", "RESETSTAT"]);
    // As Redis, a command's histogram is gone until it runs again.
    assert_eq!(call(&mut c, &["LATENCY", "HISTOGRAM", "set"]), "*0\r\n");
}
