//! Persistence settings and commands: the data-directory lock, `--persistence off`,
//! `-LOADING` during recovery, `everysec`/`no`, `SAVE`/`BGSAVE`/`LASTSAVE`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{run_flashdb, temp_dir, TestServer};

#[test]
fn a_second_server_on_the_same_dir_refuses_to_start() {
    let dir = temp_dir("lock");
    let s = TestServer::start_in(&dir, &[], &[]);
    let (code, _, err) = run_flashdb(
        &[
            "--port",
            "0",
            "--http-port",
            "0",
            "--dir",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    assert_ne!(code, Some(0));
    assert!(err.contains("is in use by another FlashDB server"), "{err}");
    // Nor may `flashdb check` (let alone --repair) touch the files of a running server.
    let (code, _, err) = run_flashdb(&["check", "--dir", dir.to_str().unwrap(), "--repair"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("is in use by another FlashDB server"), "{err}");
    assert_eq!(s.raw().call(&["PING"]), "+PONG\r\n");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn persistence_off_writes_nothing() {
    let dir = temp_dir("off").join("never-created");
    let s = TestServer::start_in(&dir, &["--persistence", "off"], &[]);
    let mut c = s.raw();
    assert_eq!(c.call(&["SET", "a", "1"]), "+OK\r\n");
    assert_eq!(
        c.call(&["SAVE"]),
        "-ERR persistence is off (--persistence off): there is nothing to save to\r\n"
    );
    assert!(c
        .call(&["INFO", "persistence"])
        .contains("flashdb_persistence:off"));
    assert!(c
        .call(&["CONFIG", "GET", "appendonly"])
        .contains("$2\r\nno\r\n"));
    assert!(!dir.exists(), "--persistence off must not touch --dir");
}

#[test]
fn commands_get_loading_until_recovery_finishes() {
    let dir = temp_dir("loading");
    drop(TestServer::start_in(&dir, &[], &[]));
    let s = TestServer::spawn_in(&dir, &[], &[("FLASHDB_FAILPOINTS", "recovery-pause=1500")]);
    let mut c = s.raw();
    assert_eq!(
        c.call(&["GET", "a"]),
        "-LOADING Redis is loading the dataset in memory\r\n"
    );
    assert!(c.call(&["INFO", "persistence"]).contains("loading:1"));
    s.wait_ready();
    assert_eq!(c.call(&["GET", "a"]), "$-1\r\n");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn everysec_and_no_keep_data_across_a_clean_restart() {
    for policy in ["everysec", "no"] {
        let dir = temp_dir(policy);
        let mut s = TestServer::start_in(&dir, &["--appendfsync", policy], &[]);
        let mut c = s.raw();
        for i in 0..100 {
            assert_eq!(
                c.call(&["SET", &format!("k{i}"), &i.to_string()]),
                "+OK\r\n"
            );
        }
        assert!(c.call(&["CONFIG", "GET", "appendfsync"]).contains(policy));
        assert_eq!(s.terminate(), Some(0));
        let s = TestServer::start_in(&dir, &[], &[]);
        assert_eq!(s.raw().call(&["DBSIZE"]), ":100\r\n", "{policy}");
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn save_bgsave_lastsave_and_segment_deletion() {
    let dir = temp_dir("save");
    let s = TestServer::start_in(&dir, &["--wal-segment-size", "64kb"], &[]);
    let mut c = s.raw();
    let started: u64 = c
        .call(&["LASTSAVE"])
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    let big = "y".repeat(2000);
    for i in 0..200 {
        assert_eq!(c.call(&["SET", &format!("k{i}"), &big]), "+OK\r\n");
    }
    let segments_before: u64 = field(&c.call(&["INFO", "persistence"]), "flashdb_log_segments");
    assert!(segments_before > 3, "{segments_before}");
    assert_eq!(c.call(&["SAVE"]), "+OK\r\n");
    let info = c.call(&["INFO", "persistence"]);
    assert!(
        field(&info, "flashdb_log_segments") < segments_before,
        "covered segments deleted: {info}"
    );
    assert_eq!(field(&info, "flashdb_snapshot_seq"), 200);
    let last: u64 = c
        .call(&["LASTSAVE"])
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert!(last >= started);
    assert_eq!(c.call(&["BGSAVE"]), "+Background saving started\r\n");
    for _ in 0..200 {
        if field(&c.call(&["INFO", "persistence"]), "rdb_bgsave_in_progress") == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(c.call(&["BGSAVE", "FOO"]), "-ERR syntax error\r\n");
    drop(c);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn field(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in {info}"))
}

#[test]
fn appendfsync_changes_at_run_time() {
    let dir = temp_dir("fsync-live");
    let s = TestServer::start_in(&dir, &["--appendfsync", "no"], &[]);
    let mut c = s.raw();
    for i in 0..50 {
        assert_eq!(c.call(&["SET", &format!("a{i}"), "x"]), "+OK\r\n");
    }
    let info = c.call(&["INFO", "persistence"]);
    assert_eq!(field(&info, "flashdb_log_fsyncs"), 0, "{info}");
    assert_eq!(
        c.call(&["CONFIG", "SET", "appendfsync", "always"]),
        "+OK\r\n"
    );
    assert!(c
        .call(&["CONFIG", "GET", "appendfsync"])
        .contains("$6\r\nalways\r\n"));
    // One client, one write at a time: each reply waits for an fsync of its own.
    for i in 0..20 {
        assert_eq!(c.call(&["SET", &format!("b{i}"), "x"]), "+OK\r\n");
    }
    let info = c.call(&["INFO", "persistence"]);
    assert!(info.contains("flashdb_appendfsync:always"), "{info}");
    assert!(field(&info, "flashdb_log_fsyncs") >= 20, "{info}");
    assert_eq!(c.call(&["CONFIG", "SET", "appendfsync", "no"]), "+OK\r\n");
    let before = field(&c.call(&["INFO", "persistence"]), "flashdb_log_fsyncs");
    for i in 0..20 {
        assert_eq!(c.call(&["SET", &format!("c{i}"), "x"]), "+OK\r\n");
    }
    let after = field(&c.call(&["INFO", "persistence"]), "flashdb_log_fsyncs");
    assert_eq!(before, after, "no fsyncs under appendfsync no");
    assert_eq!(
        c.call(&["CONFIG", "SET", "appendfsync", "sometimes"]),
        "-ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: everysec, always, no\r\n"
    );
    // Logging cannot be switched off under a running server: said so, not pretended.
    assert!(c
        .call(&["CONFIG", "SET", "appendonly", "no"])
        .starts_with("-ERR CONFIG SET failed (possibly related to argument 'appendonly') - FlashDB logs every write"));
    assert_eq!(c.call(&["CONFIG", "SET", "appendonly", "yes"]), "+OK\r\n");
    drop(c);
    drop(s);
    let s = TestServer::start_in(&dir, &[], &[]);
    assert_eq!(s.raw().call(&["DBSIZE"]), ":90\r\n");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}
