//! Connection and server commands through the real binary: AUTH/HELLO/RESET, CLIENT,
//! MONITOR, INFO, CONFIG, COMMAND, SHUTDOWN and signals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::time::Duration;

use common::{read_reply, run_flashdb, temp_dir, Raw, TestServer};

#[test]
fn requirepass_gates_commands_until_auth() {
    let server = TestServer::start_with(&["--requirepass", "s3cret"]);
    let mut c = server.raw();
    assert_eq!(
        c.call(&["GET", "a"]),
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(c.call(&["NOSUCH"]), "-NOAUTH Authentication required.\r\n");
    assert_eq!(
        c.call(&["AUTH", "wrong"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        c.call(&["AUTH", "other", "s3cret"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert!(c
        .call(&["HELLO", "3"])
        .starts_with("-NOAUTH HELLO must be called with the client already authenticated"));
    assert_eq!(c.call(&["AUTH", "s3cret"]), "+OK\r\n");
    assert_eq!(c.call(&["SET", "a", "1"]), "+OK\r\n");
    assert_eq!(c.call(&["RESET"]), "+RESET\r\n");
    assert_eq!(
        c.call(&["GET", "a"]),
        "-NOAUTH Authentication required.\r\n"
    );
    let hello = c.call(&[
        "HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "conn1",
    ]);
    assert!(hello.starts_with("%7\r\n"), "{hello}");
    assert_eq!(c.call(&["GET", "a"]), "$1\r\n1\r\n");
    assert_eq!(c.call(&["CLIENT", "GETNAME"]), "$5\r\nconn1\r\n");
    // An unauthenticated client may not send large requests.
    let mut u = server.raw();
    u.send(b"*11\r\n");
    u.expect(b"-ERR Protocol error: unauthenticated multibulk length\r\n");
    assert!(u.is_closed());
}

#[test]
fn hello_switches_protocol_and_reset_switches_back() {
    let server = TestServer::start();
    let mut c = server.raw();
    assert_eq!(c.call(&["GET", "none"]), "$-1\r\n");
    let hello = c.call(&["HELLO", "3"]);
    assert!(
        hello.contains("$7\r\nversion\r\n$6\r\n7.0.15\r\n"),
        "{hello}"
    );
    assert_eq!(c.call(&["GET", "none"]), "_\r\n");
    assert!(c.call(&["INFO", "server"]).starts_with("="));
    assert_eq!(c.call(&["RESET"]), "+RESET\r\n");
    assert_eq!(c.call(&["GET", "none"]), "$-1\r\n");
    assert!(c.call(&["HELLO"]).contains("$5\r\nproto\r\n:2\r\n"));
}

#[test]
fn client_list_id_info_and_kill() {
    let server = TestServer::start();
    let mut a = server.raw();
    let mut b = server.raw();
    let id_a: u64 = a
        .call(&["CLIENT", "ID"])
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    let id_b: u64 = b
        .call(&["CLIENT", "ID"])
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert!(id_b > id_a);
    assert_eq!(b.call(&["CLIENT", "SETNAME", "worker"]), "+OK\r\n");
    assert_eq!(b.call(&["SELECT", "3"]), "+OK\r\n");
    let list = a.call(&["CLIENT", "LIST"]);
    assert!(list.contains(&format!("id={id_a} ")), "{list}");
    assert!(
        list.contains(&format!("id={id_b} "))
            && list.contains("name=worker")
            && list.contains("db=3"),
        "{list}"
    );
    let info = b.call(&["CLIENT", "INFO"]);
    assert!(
        info.contains(&format!("id={id_b} ")) && info.contains("cmd=client|info"),
        "{info}"
    );
    let only = a.call(&["CLIENT", "LIST", "ID", &id_b.to_string()]);
    assert!(
        only.contains("name=worker") && !only.contains(&format!("id={id_a} ")),
        "{only}"
    );
    assert_eq!(
        a.call(&["CLIENT", "KILL", "ID", &id_b.to_string()]),
        ":1\r\n"
    );
    assert!(b.is_closed());
    // SKIPME yes (the default) spares the caller.
    assert_eq!(
        a.call(&["CLIENT", "KILL", "ID", &id_a.to_string()]),
        ":0\r\n"
    );
    let mut c = server.raw();
    let addr_line = c.call(&["CLIENT", "INFO"]);
    let addr = addr_line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("addr="))
        .unwrap()
        .to_string();
    assert_eq!(a.call(&["CLIENT", "KILL", &addr]), "+OK\r\n");
    assert!(c.is_closed());
    assert_eq!(a.call(&["PING"]), "+PONG\r\n");
}

#[test]
fn client_reply_off_and_skip() {
    let server = TestServer::start();
    let mut c = server.raw();
    c.cmd(&[b"CLIENT", b"REPLY", b"OFF"]);
    c.cmd(&[b"SET", b"a", b"1"]);
    c.cmd(&[b"GET", b"a"]);
    c.cmd(&[b"CLIENT", b"REPLY", b"ON"]);
    c.expect(b"+OK\r\n");
    c.cmd(&[b"CLIENT", b"REPLY", b"SKIP"]);
    c.cmd(&[b"GET", b"a"]);
    c.cmd(&[b"GET", b"a"]);
    c.expect(b"$1\r\n1\r\n");
}

#[test]
fn monitor_streams_other_clients_commands() {
    let server = TestServer::start();
    let mut m = server.raw();
    assert_eq!(m.call(&["MONITOR"]), "+OK\r\n");
    let mut c = server.raw();
    assert_eq!(c.call(&["SET", "mon\"key", "va\nl"]), "+OK\r\n");
    let line = String::from_utf8_lossy(&read_reply(&mut m.stream)).into_owned();
    assert!(line.starts_with('+'), "{line}");
    assert!(line.contains("[0 127.0.0.1:"), "{line}");
    assert!(
        line.ends_with("\"SET\" \"mon\\\"key\" \"va\\nl\"\r\n"),
        "{line}"
    );
}

#[test]
fn info_has_redis_sections_and_counts() {
    let server = TestServer::start();
    let mut conn = server.client();
    for i in 0..5 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut conn)
            .unwrap();
    }
    let _: () = redis::cmd("EXPIRE")
        .arg("k0")
        .arg(100)
        .query(&mut conn)
        .unwrap();
    let _: Option<String> = redis::cmd("GET").arg("k1").query(&mut conn).unwrap();
    let _: Option<String> = redis::cmd("GET").arg("nokey").query(&mut conn).unwrap();
    let info: String = redis::cmd("INFO").query(&mut conn).unwrap();
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Keyspace",
    ] {
        assert!(info.contains(section), "missing {section}");
    }
    assert!(
        !info.contains("# Commandstats"),
        "commandstats is not a default section"
    );
    assert!(info.contains("db0:keys=5,expires=1,avg_ttl=0"), "{info}");
    assert!(
        info.contains("keyspace_hits:1\r\n") && info.contains("keyspace_misses:1\r\n"),
        "{info}"
    );
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(used > 0);
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut conn)
        .unwrap();
    assert!(stats.contains("cmdstat_set:calls=5,"), "{stats}");
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut conn)
        .unwrap();
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut conn)
        .unwrap();
    assert!(!stats.contains("cmdstat_set"), "{stats}");
    let all: String = redis::cmd("INFO")
        .arg("everything")
        .query(&mut conn)
        .unwrap();
    assert!(all.contains("# Commandstats"));
}

#[test]
fn config_get_patterns_and_set_take_effect() {
    let server = TestServer::start();
    let mut c = server.raw();
    let got = c.call(&["CONFIG", "GET", "maxclients", "timeout"]);
    assert!(
        got.contains("$10\r\nmaxclients\r\n$5\r\n10000\r\n")
            && got.contains("$7\r\ntimeout\r\n$1\r\n0\r\n"),
        "{got}"
    );
    let globbed = c.call(&["CONFIG", "GET", "*max-*-len*"]);
    assert!(globbed.contains("proto-max-bulk-len"), "{globbed}");
    assert_eq!(
        c.call(&["CONFIG", "SET", "maxclients", "2", "timeout", "0"]),
        "+OK\r\n"
    );
    let _second = server.raw();
    let mut third = server.raw();
    let mut buf = Vec::new();
    third.stream.read_to_end(&mut buf).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&buf),
        "-ERR max number of clients reached\r\n"
    );
    // Atomic: one bad value, nothing changes.
    assert!(c
        .call(&[
            "CONFIG",
            "SET",
            "maxclients",
            "50",
            "maxmemory-policy",
            "bogus"
        ])
        .starts_with("-ERR CONFIG SET failed"));
    assert!(c
        .call(&["CONFIG", "GET", "maxclients"])
        .contains("$1\r\n2\r\n"));
    assert_eq!(c.call(&["CONFIG", "SET", "databases", "1"]), "-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n");
    assert_eq!(c.call(&["CONFIG", "SET", "dir", "/tmp"]), "-ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config\r\n");
    // Redis parameters without meaning here are remembered.
    assert_eq!(
        c.call(&["CONFIG", "SET", "save", "900 1", "appendonly", "yes"]),
        "+OK\r\n"
    );
    assert!(c
        .call(&["CONFIG", "GET", "save"])
        .contains("$5\r\n900 1\r\n"));
    // LFU policy switches OBJECT FREQ on and IDLETIME off.
    assert_eq!(c.call(&["SET", "k", "v"]), "+OK\r\n");
    assert!(c.call(&["OBJECT", "IDLETIME", "k"]).starts_with(':'));
    assert_eq!(
        c.call(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]),
        "+OK\r\n"
    );
    assert!(c.call(&["OBJECT", "FREQ", "k"]).starts_with(':'));
    assert!(c
        .call(&["OBJECT", "IDLETIME", "k"])
        .starts_with("-ERR An LFU maxmemory policy is selected"));
    assert_eq!(c.call(&["CONFIG", "SET", "log-level", "debug"]), "+OK\r\n");
    assert!(c
        .call(&["CONFIG", "GET", "loglevel"])
        .contains("$5\r\ndebug\r\n"));
    assert_eq!(
        c.call(&["CONFIG", "REWRITE"]),
        "-ERR The server is running without a config file\r\n"
    );
}

#[test]
fn config_file_is_read_and_rewritten() {
    let dir = std::env::temp_dir().join(format!("flashdb-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("flashdb.toml");
    std::fs::write(&file, "databases = 4\ntimeout = 300\n").unwrap();
    let server = TestServer::start_with(&["--config", file.to_str().unwrap()]);
    let mut c = server.raw();
    assert_eq!(c.call(&["SELECT", "3"]), "+OK\r\n");
    assert_eq!(
        c.call(&["SELECT", "4"]),
        "-ERR DB index is out of range\r\n"
    );
    assert!(c
        .call(&["CONFIG", "GET", "timeout"])
        .contains("$3\r\n300\r\n"));
    assert_eq!(c.call(&["CONFIG", "SET", "maxclients", "77"]), "+OK\r\n");
    assert_eq!(c.call(&["CONFIG", "REWRITE"]), "+OK\r\n");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("maxclients = 77") && text.contains("databases = 4"),
        "{text}"
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_rewrite_keeps_comments_order_and_written_forms() {
    let dir = temp_dir("conf-rewrite");
    let file = dir.join("flashdb.toml");
    let original = "\
# FlashDB settings for the test
databases = 4

# Memory: keep it small.
maxmemory = \"1gb\"   # one gigabyte
timeout = 300 # seconds
slowlog_max_len = 32
appendfsync = \"everysec\"
";
    std::fs::write(&file, original).unwrap();
    let server = TestServer::start_with(&["--config", file.to_str().unwrap()]);
    let mut c = server.raw();
    // A setting only CONFIG SET knows, read from the file.
    assert!(c
        .call(&["CONFIG", "GET", "slowlog-max-len"])
        .contains("$2\r\n32\r\n"));
    assert!(c
        .call(&["CONFIG", "GET", "maxmemory"])
        .contains("$10\r\n1073741824\r\n"));
    // Nothing changed: the file stays byte for byte.
    assert_eq!(c.call(&["CONFIG", "REWRITE"]), "+OK\r\n");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    assert_eq!(
        c.call(&[
            "CONFIG",
            "SET",
            "timeout",
            "60",
            "maxmemory-policy",
            "allkeys-lru",
            "latency-monitor-threshold",
            "5",
            "maxmemory",
            "1024mb",
            "appendfsync",
            "always"
        ]),
        "+OK\r\n"
    );
    assert_eq!(c.call(&["CONFIG", "REWRITE"]), "+OK\r\n");
    let text = std::fs::read_to_string(&file).unwrap();
    let expected = original
        .replace("timeout = 300", "timeout = 60")
        .replace("\"everysec\"", "\"always\"");
    assert!(text.starts_with(&expected), "{text}");
    let added: Vec<&str> = text[expected.len()..].lines().collect();
    assert_eq!(
        added,
        vec![
            "latency_monitor_threshold = 5",
            "maxmemory_policy = \"allkeys-lru\""
        ],
        "{text}"
    );
    assert!(!dir.join("flashdb.toml.rewrite.tmp").exists());
    drop(c);
    drop(server);
    // The rewritten file starts a server with the same settings.
    let server = TestServer::start_with(&["--config", file.to_str().unwrap()]);
    let mut c = server.raw();
    for (name, value) in [
        ("timeout", "60"),
        ("maxmemory-policy", "allkeys-lru"),
        ("latency-monitor-threshold", "5"),
        ("appendfsync", "always"),
        ("slowlog-max-len", "32"),
    ] {
        let reply = c.call(&["CONFIG", "GET", name]);
        assert!(
            reply.ends_with(&format!("${}\r\n{value}\r\n", value.len())),
            "{name}: {reply}"
        );
    }
    drop(c);
    drop(server);
    // A bad value for such a setting stops start-up with a clear error.
    std::fs::write(&file, "slowlog_max_len = \"lots\"\n").unwrap();
    let (code, _, err) = run_flashdb(
        &[
            "--port",
            "0",
            "--http-port",
            "0",
            "--persistence",
            "off",
            "--config",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("slowlog-max-len = \"lots\"")
            && err.contains("couldn't be parsed into an integer"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_config_is_refused_with_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("flashdb-badconf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "databses = 4\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashdb"))
        .args(["--port", "0", "--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid config file") && err.contains("databses"),
        "{err}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashdb"))
        .args(["--port", "0", "--http-max-body", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("http-max-body must be between"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashdb"))
        .args(["--port", "0", "--databases", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("databases must be between 1 and"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashdb"))
        .args(["--port", "0", "--idle-spin-us", "5000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("idle-spin-us must be at most 1000"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn idle_spin_is_configurable_and_reported() {
    for (args, want) in [(&[][..], "5"), (&["--idle-spin-us", "0"][..], "0")] {
        let server = TestServer::start_with(args);
        let mut c = server.client();
        let got: (String, String) = redis::cmd("CONFIG")
            .arg("GET")
            .arg("idle-spin-us")
            .query(&mut c)
            .unwrap();
        assert_eq!(got.1, want);
        // The server serves requests either way.
        let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
        let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
        assert_eq!(v, "v");
    }
}

#[test]
fn command_introspection_comes_from_the_table() {
    let server = TestServer::start();
    let mut conn = server.client();
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut conn).unwrap();
    let all: Vec<redis::Value> = redis::cmd("COMMAND").query(&mut conn).unwrap();
    assert_eq!(all.len() as i64, count);
    let names: Vec<String> = redis::cmd("COMMAND").arg("LIST").query(&mut conn).unwrap();
    for n in ["get", "set", "config|get", "client|kill", "lcs", "scan"] {
        assert!(
            names.iter().any(|x| x == n),
            "{n} missing from COMMAND LIST"
        );
    }
    let strings: Vec<String> = redis::cmd("COMMAND")
        .arg("LIST")
        .arg("FILTERBY")
        .arg("ACLCAT")
        .arg("string")
        .query(&mut conn)
        .unwrap();
    assert!(strings.contains(&"append".to_string()) && !strings.contains(&"del".to_string()));
    let mut c = server.raw();
    let info = c.call(&["COMMAND", "INFO", "get"]);
    assert!(
        info.starts_with(
            "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n"
        ),
        "{info}"
    );
    let docs = c.call(&["COMMAND", "DOCS", "set"]);
    assert!(
        docs.contains("$7\r\nsummary\r\n") && docs.contains("$5\r\ntoken\r\n$2\r\nNX\r\n"),
        "{docs}"
    );
    assert_eq!(
        c.call(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
}

#[test]
fn shutdown_command_stops_the_server_cleanly() {
    // SHUTDOWN writes a snapshot on the way out; SHUTDOWN NOSAVE does not, and the log
    // alone brings the data back.
    for (args, snapshot) in [
        (vec!["SHUTDOWN"], true),
        (vec!["SHUTDOWN", "NOSAVE"], false),
    ] {
        let dir = temp_dir("shutdown");
        let mut server = TestServer::start_in(&dir, &[], &[]);
        let mut c = server.raw();
        assert_eq!(c.call(&["SET", "a", "1"]), "+OK\r\n");
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        c.cmd(&argv);
        assert!(c.is_closed());
        assert_eq!(server.wait_exit(), Some(0));
        let snapshots = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                let name = name.to_string_lossy();
                name.starts_with("snapshot-") && name.ends_with(".fdb")
            })
            .count();
        assert_eq!(snapshots > 0, snapshot, "{args:?}");
        drop(server);
        let server = TestServer::start_in(&dir, &[], &[]);
        assert_eq!(server.raw().call(&["GET", "a"]), "$1\r\n1\r\n", "{args:?}");
        drop(server);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut server = TestServer::start();
    let mut idle = server.raw();
    assert_eq!(idle.call(&["PING"]), "+PONG\r\n");
    assert_eq!(server.terminate(), Some(0));
    idle.stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert!(idle.is_closed());
}

#[test]
fn sigint_stops_the_server_cleanly_and_keeps_the_data() {
    let dir = common::temp_dir("sigint");
    let s = TestServer::start_in(&dir, &[], &[]);
    assert_eq!(s.raw().call(&["SET", "kept", "yes"]), "+OK\r\n");
    let status = std::process::Command::new("kill")
        .args(["-INT", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut s = s;
    assert_eq!(s.wait_exit(), Some(0));
    drop(s);
    let s = TestServer::start_in(&dir, &[], &[]);
    assert_eq!(s.raw().call(&["GET", "kept"]), "$3\r\nyes\r\n");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn role_and_readonly_on_a_single_node_answer_as_redis_does() {
    let s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(c.call(&["ROLE"]), "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
    assert_eq!(
        c.call(&["READONLY"]),
        "-ERR This instance has cluster support disabled\r\n"
    );
    assert_eq!(
        c.call(&["READWRITE"]),
        "-ERR This instance has cluster support disabled\r\n"
    );
    // No replicas: WAIT answers 0, once its timeout has passed when it asked for some.
    assert_eq!(c.call(&["WAIT", "0", "0"]), ":0\r\n");
    let start = std::time::Instant::now();
    assert_eq!(c.call(&["WAIT", "1", "50"]), ":0\r\n");
    assert!(start.elapsed() >= Duration::from_millis(45));
    assert_eq!(c.call(&["WAIT", "1", "-1"]), "-ERR timeout is negative\r\n");
    assert_eq!(
        c.call(&["WAIT", "1", "x"]),
        "-ERR timeout is not an integer or out of range\r\n"
    );
    assert_eq!(
        c.call(&["WAIT", "1"]),
        "-ERR wrong number of arguments for 'wait' command\r\n"
    );
}

#[test]
fn info_errorstats_modules_and_cluster_match_redis() {
    common::real_redis::run_script(&[
        "CONFIG RESETSTAT",
        "SET k v",
        "LPUSH k x",
        "INCR k",
        "NOSUCHCOMMAND",
        "GET",
        "INFO errorstats",
        "INFO modules",
        "INFO cluster",
        "CONFIG RESETSTAT",
        "INFO errorstats",
    ]);
}

#[test]
fn info_reports_memory_and_latency_percentiles() {
    let server = TestServer::start();
    let mut c = server.raw();
    for _ in 0..10 {
        c.call(&["SET", "k", "v"]);
    }
    let info = c.call(&["INFO", "everything"]);
    for field in [
        "used_memory_startup:",
        "used_memory_dataset:",
        "allocator_allocated:",
        "allocator_frag_ratio:",
        "total_system_memory:",
        "lru_clock:",
        "# Latencystats",
        "latency_percentiles_usec_set:p50=",
        "# Errorstats",
    ] {
        assert!(info.contains(field), "{field} missing from INFO");
    }
}

/// `flashdb --version` names the release and the commit it was built from, and `INFO`
/// reports the same commit.
#[test]
fn version_names_the_release_and_the_commit() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flashdb"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let prefix = format!("flashdb {} (commit ", env!("CARGO_PKG_VERSION"));
    let commit = text
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{text:?}"));
    // The commit git names for this checkout ("unknown" where git cannot tell, as in a
    // source archive).
    let expected = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    assert_eq!(commit, expected, "{text:?}");
    let server = TestServer::start();
    let mut c = server.raw();
    let info = c.call(&["INFO", "server"]);
    assert!(
        info.contains(&format!("flashdb_commit:{commit}\r\n")),
        "{info}"
    );
}

#[test]
fn logs_are_key_value_lines_or_json_objects() {
    // Text: the recovery line with plain values, and readiness after it.
    let server = TestServer::start_with(&["--log-level", "info"]);
    let text = server.log_text();
    let recovered = text
        .lines()
        .position(|l| l.contains("recovery finished"))
        .unwrap_or_else(|| panic!("{text}"));
    let ready = text
        .lines()
        .position(|l| l.contains("FlashDB ready to accept connections"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        recovered < ready,
        "ready is logged once recovery is done: {text}"
    );
    let line = text.lines().nth(recovered).unwrap();
    assert!(
        line.contains("snapshot=none")
            && line.contains("snapshot_seq=0")
            && !line.contains("Some("),
        "{line}"
    );
    drop(server);
    let server = TestServer::start_with(&["--log-level", "info", "--log-format", "json"]);
    let text = server.log_text();
    let mut messages = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        messages.push(
            v["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        if v["fields"]["message"] == "recovery finished" {
            assert_eq!(v["fields"]["records"], 0, "{line}");
        }
    }
    assert!(
        messages
            .iter()
            .any(|m| m == "FlashDB ready to accept connections"),
        "{messages:?}"
    );
    let (code, _, err) = run_flashdb(&["--port", "0", "--log-format", "xml"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("log-format must be text or json"), "{err}");
}

#[test]
fn config_set_port_moves_the_listener_and_keeps_open_connections() {
    let server = TestServer::start();
    let mut c = server.raw();
    // A port that is taken: refused, nothing changes.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    assert_eq!(
        c.call(&["CONFIG", "SET", "port", &taken_port, "timeout", "5"]),
        "-ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port\r\n"
    );
    assert!(c
        .call(&["CONFIG", "GET", "timeout"])
        .ends_with("$1\r\n0\r\n"));
    assert_eq!(
        c.call(&["CONFIG", "SET", "port", "70000"]),
        "-ERR CONFIG SET failed (possibly related to argument 'port') - argument must be between 0 and 65535 inclusive\r\n"
    );
    // Port 0 picks a free one, which CONFIG GET port then names.
    assert_eq!(c.call(&["CONFIG", "SET", "port", "0"]), "+OK\r\n");
    let reply = c.call(&["CONFIG", "GET", "port"]);
    let new_port: u16 = reply.lines().nth(4).unwrap().parse().unwrap();
    assert_ne!(new_port, server.port);
    // The open connection stays; new ones go to the new port, the old one is closed.
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    let mut moved = Raw::connect(new_port);
    assert_eq!(moved.call(&["PING"]), "+PONG\r\n");
    let mut refused = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err() {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(refused, "the old port still accepts connections");
    assert!(moved
        .call(&["INFO", "server"])
        .contains(&format!("tcp_port:{new_port}")));
}

/// Guessing passwords: after 20 wrong ones within 10 s, an address's AUTH is refused for
/// a while without being checked, the right password included, however many guesses a
/// client pipelines; other commands of authenticated clients are not affected.
#[test]
fn repeated_wrong_passwords_lock_the_address_out() {
    let server = TestServer::start_with(&["--requirepass", "s3cret"]);
    let mut authed = server.raw();
    assert_eq!(authed.call(&["AUTH", "s3cret"]), "+OK\r\n");
    let mut guesser = server.raw();
    let mut pipeline = Vec::new();
    for i in 0..5000 {
        let guess = format!("guess{i}");
        pipeline.extend(common::encode(&[b"AUTH", guess.as_bytes()]));
    }
    guesser.send(&pipeline);
    let mut wrong = 0;
    let mut refused = 0;
    for _ in 0..5000 {
        let reply = String::from_utf8(read_reply(&mut guesser.stream)).unwrap();
        if reply.starts_with("-WRONGPASS") {
            wrong += 1;
        } else if reply.starts_with("-ERR too many wrong passwords from this address") {
            refused += 1;
        } else {
            panic!("{reply:?}");
        }
    }
    assert_eq!(wrong, 20, "only 20 guesses were checked");
    assert_eq!(refused, 4980);
    // The right password is refused too while the address is locked out.
    let reply = guesser.call(&["AUTH", "s3cret"]);
    assert!(
        reply.starts_with("-ERR too many wrong passwords"),
        "{reply}"
    );
    let reply = server
        .raw()
        .call(&["HELLO", "3", "AUTH", "default", "s3cret"]);
    assert!(
        reply.starts_with("-ERR too many wrong passwords"),
        "{reply}"
    );
    // A client already authenticated goes on.
    assert_eq!(authed.call(&["SET", "k", "v"]), "+OK\r\n");
}
