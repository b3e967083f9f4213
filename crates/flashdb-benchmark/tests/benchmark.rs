//! `flashdb-benchmark` against the real server: request counts, the JSON report, each
//! workload doing what it says, and bad arguments.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use flashdb_testkit::{server_binary, Server};
use serde_json::Value;

const BENCH: &str = env!("CARGO_BIN_EXE_flashdb-benchmark");

fn bench(port: u16, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BENCH)
        .args(["-p", &port.to_string(), "--quiet"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cli_call(port: u16, args: &[&str]) -> String {
    // The benchmark is checked through the server's own answers, over a plain socket.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0; 65536];
    // A signal may interrupt the read before anything arrives (CI saw EINTR here).
    let n = loop {
        match s.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => break r.unwrap(),
        }
    };
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn string_workload_sends_exactly_the_requests_asked_for() {
    let s = Server::start(&server_binary(Path::new(BENCH)), &[]);
    let (code, out, err) = bench(
        s.port,
        &[
            "-n", "20000", "-c", "8", "-P", "4", "--ratio", "1:1", "-r", "500", "--json", "--keep",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["requests"], 20000);
    let set = report["commands"]["SET"]["count"].as_u64().unwrap();
    let get = report["commands"]["GET"]["count"].as_u64().unwrap();
    assert_eq!(set + get, 20000);
    assert!(set > 8000 && get > 8000, "1:1 ratio: {set} SET, {get} GET");
    assert_eq!(report["commands"]["SET"]["errors"], 0);
    assert_eq!(report["first_error"], Value::Null);
    for q in ["p50_ms", "p99_ms", "p999_ms", "max_ms"] {
        assert!(report["commands"]["GET"][q].as_f64().unwrap() > 0.0, "{q}");
    }
    assert!(
        report["commands"]["GET"]["p50_ms"].as_f64()
            <= report["commands"]["GET"]["p99_ms"].as_f64()
    );
    // Keys come from the key space asked for: at most 500, and nearly all of them.
    let dbsize: u64 = cli_call(s.port, &["DBSIZE"])
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert!(dbsize <= 500 && dbsize > 450, "{dbsize}");
    // The table form names each command.
    let (code, out, _) = bench(s.port, &["-n", "1000", "-w", "hash"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("HSET") && out.contains("HGET") && out.contains("p99.9 ms"),
        "{out}"
    );
}

#[test]
fn queue_workload_consumes_everything_it_produces() {
    let s = Server::start(&server_binary(Path::new(BENCH)), &[]);
    let (code, out, err) = bench(
        s.port,
        &[
            "-w", "queue", "-n", "3000", "-c", "6", "-P", "10", "--json", "--keep",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["commands"]["QADD"]["count"], 3000);
    assert_eq!(report["commands"]["messages"]["count"], 3000, "{err}");
    let info = cli_call(s.port, &["QINFO", "bench:queue"]);
    assert!(info.contains("pushed\r\n:3000\r\n"), "{info}");
    assert!(info.contains("acked\r\n:3000\r\n"), "{info}");
    assert!(info.contains("ready\r\n:0\r\n"), "{info}");
    // By duration too: producers stop when it is over, consumers take what is left.
    let (code, out, err) = bench(
        s.port,
        &["-w", "queue", "-D", "1", "-c", "4", "-P", "10", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["commands"]["QADD"]["count"], report["commands"]["messages"]["count"],
        "{out}"
    );
    // Without --keep the queue is gone when the run ends.
    assert_eq!(cli_call(s.port, &["DBSIZE"]), ":0\r\n");
}

#[test]
fn keys_under_the_prefix_are_removed_unless_kept() {
    let s = Server::start(&server_binary(Path::new(BENCH)), &[]);
    cli_call(s.port, &["SET", "mine", "stays"]);
    cli_call(
        s.port,
        &["SET", "bx", "stays: not under the literal prefix b*"],
    );
    let (code, _, err) = bench(s.port, &["-n", "5000", "-r", "300", "--ratio", "1:0"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(cli_call(s.port, &["DBSIZE"]), ":2\r\n");
    let (code, _, err) = bench(
        s.port,
        &[
            "-n",
            "5000",
            "-r",
            "300",
            "--ratio",
            "1:0",
            "--key-prefix",
            "b*",
            "--keep",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let kept: u64 = cli_call(s.port, &["DBSIZE"])[1..].trim().parse().unwrap();
    assert!(kept > 250, "{kept}");
    // A glob character in the prefix is literal: `bx` is not under `b*`.
    let (code, _, err) = bench(
        s.port,
        &[
            "-n",
            "100",
            "-r",
            "300",
            "--ratio",
            "0:1",
            "--key-prefix",
            "b*",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(cli_call(s.port, &["DBSIZE"]), ":2\r\n");
    assert_eq!(
        cli_call(s.port, &["GET", "bx"]).lines().nth(1),
        Some("stays: not under the literal prefix b*")
    );
    let (code, _, err) = bench(s.port, &["-n", "10", "--key-prefix", ""]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--key-prefix cannot be empty unless --keep"),
        "{err}"
    );
}

#[test]
fn stream_workload_adds_reads_and_acknowledges_through_a_group() {
    let s = Server::start(&server_binary(Path::new(BENCH)), &[]);
    let (code, out, err) = bench(
        s.port,
        &[
            "-w", "stream", "-n", "3000", "-c", "6", "-P", "10", "--json", "--keep",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["commands"]["XADD"]["count"], 3000);
    assert_eq!(report["commands"]["messages"]["count"], 3000, "{err}");
    assert_eq!(cli_call(s.port, &["XLEN", "bench:stream"]), ":3000\r\n");
    // Everything was acknowledged: the group's pending list is empty.
    let pending = cli_call(s.port, &["XPENDING", "bench:stream", "workers"]);
    assert!(pending.starts_with("*4\r\n:0\r\n"), "{pending}");
    let info = cli_call(s.port, &["XINFO", "GROUPS", "bench:stream"]);
    assert!(info.contains("workers"), "{info}");
}

/// Error replies are counted per command, and the first one is shown.
#[test]
fn error_replies_are_counted_and_shown() {
    let s = Server::start(&server_binary(Path::new(BENCH)), &[]);
    // A list where the hash workload expects hashes: every HSET and HGET fails.
    for i in 0..100 {
        cli_call(s.port, &["RPUSH", &format!("bench:h{i}"), "x"]);
    }
    let (code, out, _) = bench(s.port, &["-w", "hash", "-n", "500", "--json"]);
    assert_eq!(code, 1, "every request failed");
    let report: Value = serde_json::from_str(&out).unwrap();
    let errors = report["commands"]["HGET"]["errors"].as_u64().unwrap()
        + report["commands"]["HSET"]["errors"].as_u64().unwrap();
    assert_eq!(errors, 500);
    assert_eq!(
        report["first_error"],
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn bad_arguments_are_refused() {
    for args in [
        vec!["--pipeline", "0"],
        vec!["--ratio", "1-2"],
        vec!["--requests", "0"],
        vec!["--duration", "-1"],
        vec!["-D", "0"],
        vec!["-w", "queue", "-c", "1"],
        vec!["--distribution", "zipf", "--zipf-exponent", "0"],
    ] {
        let (code, _, err) = bench(1, &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(!err.is_empty());
    }
    let (code, _, err) = bench(1, &["-n", "10"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot connect to 127.0.0.1:1"), "{err}");
}
