//! A failing fsync (injected with a failpoint) must never yield an acknowledgement: the
//! write whose record failed gets an error, later writes are refused with MISCONF, reads
//! of durable data keep working (reads that would reveal the failed write are refused),
//! and INFO and the log say why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{temp_dir, TestServer};

#[test]
fn failed_fsync_is_never_acknowledged_and_poisons_the_log() {
    let dir = temp_dir("fsync");
    // The writer's 4th fsync fails: three SETs are durable, the fourth is not.
    let mut s = TestServer::start_in(&dir, &[], &[("FLASHDB_FAILPOINTS", "wal-fsync=4")]);
    let mut c = s.raw();
    for i in 0..3 {
        assert_eq!(c.call(&["SET", &format!("k{i}"), "v"]), "+OK\r\n");
    }
    let reply = c.call(&["SET", "k3", "v"]);
    assert!(
        reply
            .starts_with("-MISCONF Errors writing to the AOF file: fsync failed: injected failure"),
        "the write whose fsync failed must get an error, got {reply:?}"
    );
    let reply = c.call(&["INCR", "counter"]);
    assert!(
        reply.starts_with("-MISCONF Errors writing to the AOF file"),
        "{reply:?}"
    );
    // Reads of durable data keep working. A read is refused only where it could reveal
    // the write whose record failed (k3, which a crash may lose): that is tracked per
    // shard, so a key that happens to share k3's shard is refused too; three keys all
    // sharing it is a one in 16 million chance.
    let reads: Vec<String> = (0..3).map(|i| c.call(&["GET", &format!("k{i}")])).collect();
    assert!(
        reads
            .iter()
            .all(|r| r == "$1\r\nv\r\n" || r.starts_with("-MISCONF")),
        "{reads:?}"
    );
    assert!(reads.iter().any(|r| r == "$1\r\nv\r\n"), "{reads:?}");
    let reply = c.call(&["GET", "k3"]);
    assert!(reply.starts_with("-MISCONF"), "{reply:?}");
    // Counting every key counts k3 as well.
    let reply = c.call(&["DBSIZE"]);
    assert!(reply.starts_with("-MISCONF"), "{reply:?}");
    // Statistics still answer, for the operator who must find out what happened.
    let info = c.call(&["INFO", "keyspace"]);
    assert!(info.contains("db0:keys="), "{info}");
    let info = c.call(&["INFO", "persistence"]);
    assert!(info.contains("aof_last_write_status:err"), "{info}");
    assert!(
        info.contains("flashdb_log_error:Errors writing to the AOF file: fsync failed"),
        "{info}"
    );
    // Pipelined writes in one batch with a failed record: no +OK for any of them.
    let mut p = s.raw();
    p.send(b"SET x 1\r\nSET y 2\r\n");
    p.expect(b"-MISCONF");
    s.kill9();
    let s = TestServer::start_in(&dir, &[], &[]);
    let mut c = s.raw();
    for i in 0..3 {
        assert_eq!(
            c.call(&["GET", &format!("k{i}")]),
            "$1\r\nv\r\n",
            "acknowledged writes survive"
        );
    }
    assert_eq!(c.call(&["SET", "healthy", "again"]), "+OK\r\n");
    drop(c);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}
