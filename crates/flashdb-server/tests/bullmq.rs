//! BullMQ (the npm package, on Node.js) runs a queue and a worker against FlashDB as
//! applications run it: its Lua scripts (`EVALSHA` with keys built at run time,
//! `cmsgpack`, `cjson`), blocking commands and streams of events. 1,000 jobs — in bulk,
//! one by one, with priorities, delayed, and one that fails once and is retried — all
//! complete with the right results.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::TestServer;

#[test]
fn bullmq_queue_and_worker_complete_a_thousand_jobs() {
    let server = TestServer::start();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/bullmq/queue_and_worker.js"
    );
    // Node.js and the package's bullmq must be installed: scripts/test.sh installs them.
    let out = Command::new("node")
        .arg(script)
        .arg(server.port.to_string())
        .output()
        .expect("node must be installed (scripts/test.sh installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bullmq run failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(report["completed"], 1000, "{report}");
    assert_eq!(report["wrong"], 0, "{report}");
    // Every job ran once, and the flaky one twice.
    assert_eq!(report["processed"], 1001, "{report}");
    assert_eq!(report["failedEvents"], 1, "{report}");
    assert_eq!(report["flakyAttempts"], 2, "{report}");
    let counts = &report["counts"];
    assert_eq!(counts["completed"], 1000, "{report}");
    for state in ["failed", "waiting", "active", "delayed", "prioritized"] {
        assert_eq!(counts[state], 0, "{state}: {report}");
    }
}
