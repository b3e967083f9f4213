//! The web dashboard in real browsers: headless Chromium and Firefox (Debian's), driven
//! by puppeteer-core (tests/clients/dashboard/dashboard.js) against the real server, as a
//! user works with it: a refused and an accepted login, every page, the console, the key
//! explorer, queues, pub/sub, settings, the dark theme and a phone's screen, with no
//! error in the browser's console. The server's side of each change is checked here.
//!
//! With `UPDATE_DOCS=1` the screenshots go to docs/dashboard/ (shown by
//! docs/dashboard.md); otherwise to a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::group::Group;
use common::{temp_dir, TestServer};
use serde_json::{json, Value};

const PAGES: [&str; 11] = [
    "login",
    "overview",
    "console",
    "keys",
    "queues",
    "pubsub",
    "slowlog",
    "settings",
    "cluster",
    "overview-dark",
    "phone",
];

#[test]
fn the_dashboard_works_in_chromium() {
    let docs = std::env::var_os("UPDATE_DOCS").is_some();
    run_in("chrome", docs);
}

#[test]
fn the_dashboard_works_in_firefox() {
    run_in("firefox", false);
}

/// Runs the browser script with `args` (after the base URL); returns its report.
fn drive(browser: &str, base: &str, args: &[&str]) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/dashboard/dashboard.js"
    );
    // Node.js, puppeteer-core and the browsers must be installed: scripts/test.sh does it.
    let out = Command::new("node")
        .env("BROWSER", browser)
        .arg(script)
        .arg(base)
        .args(args)
        .output()
        .expect("node must be installed (scripts/test.sh installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "no report ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(report.get("failed").is_none(), "{report:#}");
    assert_eq!(report["consoleErrors"], json!([]), "{report:#}");
    assert_eq!(report["pageErrors"], json!([]), "{report:#}");
    assert_eq!(report["dialogs"], json!([]), "{report:#}");
    report
}

#[test]
fn the_cluster_page_shows_a_group_and_adds_and_removes_a_node() {
    let mut g = Group::start(3);
    let leader = g.wait_leader();
    let new = g.spawn_new(false);
    let shots = if std::env::var_os("UPDATE_DOCS").is_some() {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/dashboard"))
    } else {
        temp_dir("dashboard-cluster")
    };
    std::fs::create_dir_all(&shots).unwrap();
    let (id, addr) = (new.to_string(), g.raft_addr(new));
    let report = drive(
        "chrome",
        &g.node(leader).http(),
        &["", shots.to_str().unwrap(), "cluster", &id, &addr],
    );
    assert_eq!(report["members"], json!(["1", "2", "3"]), "{report:#}");
    let roles = report["roles"].as_array().unwrap();
    assert_eq!(
        roles.iter().filter(|r| *r == "leader").count(),
        1,
        "{report:#}"
    );
    assert_eq!(roles[(leader - 1) as usize], json!("leader"), "{report:#}");
    assert!(report["summary"]
        .as_str()
        .unwrap()
        .contains(&format!("leader {leader}")));
    assert_eq!(report["afterAdd"], json!(["1", "2", "3", id.clone()]));
    assert_eq!(report["afterRemove"], json!(["1", "2", "3"]));
    // The group agrees: the node was added and removed again.
    let members = g.raw(leader).call(&["FLASHDB.GROUP", "MEMBERS"]);
    assert!(!members.contains(&addr), "{members}");
}

/// Prepares a server, runs every step in `browser`, and checks the report and the
/// server's side; with `docs`, the screenshots go to docs/dashboard/.
fn run_in(browser: &str, docs: bool) {
    let server = TestServer::start_with(&["--requirepass", "secret"]);
    let mut r = server.raw();
    assert_eq!(r.call(&["AUTH", "secret"]), "+OK\r\n");
    r.call(&["HSET", "user:1", "name", "Ada", "age", "36"]);
    r.call(&["HSET", "user:2", "name", "Alan"]);
    r.call(&["SET", "todelete", "x"]);
    r.call(&["SET", "<img src=x onerror=alert(1)>", "boom"]);
    // A queue whose one message was dead-lettered (one attempt, a lease that ran out).
    r.call(&[
        "QCONFIG",
        "jobs",
        "MAXATTEMPTS",
        "1",
        "DEADLETTER",
        "jobs:dead",
        "LEASE",
        "50",
    ]);
    r.call(&["QPUSH", "jobs", "j1"]);
    r.call(&["QRESERVE", "jobs"]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    r.call(&["QRESERVE", "jobs"]);
    assert_eq!(r.call(&["QLEN", "jobs:dead"]), ":1\r\n");
    r.call(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    // One key of each type, for the explorer's views.
    r.call(&["SET", "t:string", "{\"json\": [1, 2]}"]);
    r.call(&["HSET", "t:hash", "f", "v"]);
    r.call(&["RPUSH", "t:list", "a", "b", "c"]);
    r.call(&["SADD", "t:set", "x", "y"]);
    r.call(&["ZADD", "t:zset", "1.5", "m"]);
    r.call(&["XADD", "t:stream", "1-1", "f", "v"]);
    r.call(&["QPUSH", "t:queue", "message"]);

    let shots: PathBuf = if docs {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/dashboard"))
    } else {
        temp_dir(&format!("dashboard-shots-{browser}"))
    };
    std::fs::create_dir_all(&shots).unwrap();
    let report = drive(
        browser,
        &server.http(),
        &["secret", shots.to_str().unwrap()],
    );
    assert_eq!(report["steps"].as_array().unwrap().len(), 17, "{report:#}");
    // Nothing a key's name holds ran: no alert (`dialogs`, checked by `drive`), no image
    // element.
    assert_eq!(report["xssKeyShown"], json!("<img src=x onerror=alert(1)>"));
    assert_eq!(report["imagesInPage"], json!(0));
    assert!(report["securityHeaders"]["csp"]
        .as_str()
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(report["securityHeaders"]["nosniff"], json!("nosniff"));
    assert!(
        report["firstLoadBytes"].as_u64().unwrap() < 200_000,
        "{report:#}"
    );
    // Login: a wrong password is refused and the form stays; logout forgets the token.
    assert!(report["loginRefused"]
        .as_str()
        .unwrap()
        .contains("Wrong user name or password"));
    assert_eq!(report["stillOnLogin"], json!(true));
    assert_eq!(report["afterLogout"], json!(null));
    // The chart of operations followed the load.
    let before = report["opsBefore"].as_f64().unwrap();
    let during = report["opsDuringLoad"].as_f64().unwrap();
    assert!(during > 1000.0 && during > before, "{report:#}");
    assert_eq!(report["consoleTable"], json!(["lang", "name"]));
    assert_eq!(report["completed"], json!("ZRANGEBYSCORE "));
    assert_eq!(report["userKeys"], json!(["user:1", "user:2"]));
    assert_eq!(
        report["queueStatus"],
        json!("Moved 1 messages back to jobs.")
    );
    assert!(report["slowlogRows"].as_u64().unwrap() > 0);
    assert!(report["clusterText"]
        .as_str()
        .unwrap()
        .contains("single node"));
    assert_eq!(report["theme"], json!("dark"));
    assert_eq!(report["darkBackground"], json!("rgb(17, 20, 24)"));
    assert!(report["phoneOverflow"].as_i64().unwrap() <= 0, "{report:#}");
    assert_eq!(report["firstTab"], json!("Skip to content"));
    assert_eq!(report["secondTab"], json!("Overview"));

    // What the pages changed, as the server sees it.
    assert_eq!(r.call(&["HGET", "user:1", "name"]), "$5\r\nGrace\r\n");
    assert_eq!(r.call(&["EXISTS", "todelete"]), ":0\r\n");
    assert_eq!(r.call(&["GET", "greeting"]), "$5\r\nhello\r\n");
    assert_eq!(r.call(&["QLEN", "jobs"]), ":1\r\n");
    assert_eq!(r.call(&["XLEN", "t:stream"]), ":2\r\n");
    let views = &report["typeViews"];
    assert!(
        views["string"].as_str().unwrap().contains("JSON"),
        "{views}"
    );
    assert!(views["zset"].as_str().unwrap().contains("1.5"), "{views}");
    assert!(
        views["list"].as_str().unwrap().contains("3 elements"),
        "{views}"
    );
    assert!(views["stream"].as_str().unwrap().contains("1-1"), "{views}");
    assert!(
        views["queue"].as_str().unwrap().contains("message"),
        "{views}"
    );
    assert_eq!(r.call(&["QLEN", "jobs:dead"]), ":0\r\n");
    assert_eq!(
        r.call(&["CONFIG", "GET", "slowlog-max-len"]),
        "*2\r\n$15\r\nslowlog-max-len\r\n$2\r\n64\r\n"
    );
    for page in PAGES {
        let len = std::fs::metadata(shots.join(format!("{page}.png")))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 5_000, "screenshot of {page}: {len} bytes");
    }
}
