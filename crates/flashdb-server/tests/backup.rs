//! Online backup and restore: `flashdb backup` against a server under write load, `flashdb
//! check` on the backup, `flashdb restore` into a new data directory, and a server started
//! there holding exactly the data as of the backup's cut (every write acknowledged before
//! the backup began, none sent after it ended, each writer's writes a prefix). Also
//! `POST /api/v1/backup` and the targets a backup refuses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{dump, run_flashdb, temp_dir, Raw, TestServer};

const WRITERS: usize = 4;

/// Data of every type that stays unchanged during the backup, to compare whole.
fn load_static_data(c: &mut Raw) {
    for i in 0..2000 {
        let k = format!("static:s{i}");
        assert_eq!(c.call(&["SET", &k, &format!("v{i}")]), "+OK\r\n");
    }
    for i in 0..50 {
        let h = format!("static:h{i}");
        c.call(&["HSET", &h, "a", "1", "b", &i.to_string()]);
        c.call(&["RPUSH", &format!("static:l{i}"), "x", "y", &i.to_string()]);
        c.call(&[
            "ZADD",
            &format!("static:z{i}"),
            "1.5",
            "m",
            &i.to_string(),
            "n",
        ]);
        c.call(&["SADD", &format!("static:set{i}"), "p", "q"]);
        c.call(&["XADD", &format!("static:x{i}"), "*", "f", &i.to_string()]);
    }
    assert_eq!(c.call(&["SELECT", "3"]), "+OK\r\n");
    assert_eq!(c.call(&["SET", "static:in-db3", "yes"]), "+OK\r\n");
    assert_eq!(c.call(&["SELECT", "0"]), "+OK\r\n");
}

/// The static part of a dump (the writers' counters change).
fn static_part(port: u16) -> Vec<String> {
    dump(port, 16)
        .into_iter()
        .filter(|l| l.contains("static:"))
        .collect()
}

#[test]
fn a_backup_under_load_restores_exactly_its_cut() {
    let dir = temp_dir("backup-src");
    let backup = temp_dir("backup-out").join("b1");
    let restored = temp_dir("backup-restored").join("data");
    let server = TestServer::start_in(&dir, &[], &[]);
    load_static_data(&mut server.raw());
    let before_static = static_part(server.port);
    // From here on the only writes are the counters' INCRs, one log record each: the
    // state at sequence number S has exactly S - start increments in all.
    let start_seq = last_seq(&mut server.raw());

    // Each writer INCRs its own counter: `sent` before a request leaves, `acked` once its
    // reply is in.
    let stop = Arc::new(AtomicBool::new(false));
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (stop, sent, acked) = (stop.clone(), sent.clone(), acked.clone());
            let port = server.port;
            std::thread::spawn(move || {
                let mut c = Raw::connect(port);
                let key = format!("w{i}");
                while !stop.load(Ordering::Relaxed) {
                    sent[i].fetch_add(1, Ordering::SeqCst);
                    let reply = c.call(&["INCR", &key]);
                    let n: u64 = reply[1..].trim().parse().unwrap();
                    acked[i].store(n, Ordering::SeqCst);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let floor: Vec<u64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    let port = server.port.to_string();
    let (code, out, err) = run_flashdb(
        &["backup", "--to", backup.to_str().unwrap(), "--port", &port],
        &[],
    );
    let ceiling: Vec<u64> = sent.iter().map(|s| s.load(Ordering::SeqCst)).collect();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("backup written: dir="), "{out}");
    let seq: u64 = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("seq="))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    // Writes go on after the backup; none of them may be in it.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let finals: Vec<u64> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    assert!(
        finals.iter().zip(&ceiling).all(|(f, c)| f > c),
        "writers kept writing after the backup: {finals:?} {ceiling:?}"
    );

    let b = backup.to_str().unwrap();
    let (code, out, _) = run_flashdb(&["check", "--dir", b], &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("data directory verified"), "{out}");
    let r = restored.to_str().unwrap();
    let (code, out, err) = restore(b, r);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(&format!("as of log record {seq}")), "{out}");

    let copy = TestServer::start_in(&restored, &[], &[]);
    let mut c = copy.raw();
    for i in 0..WRITERS {
        let reply = c.call(&["GET", &format!("w{i}")]);
        let v: u64 = reply.lines().nth(1).unwrap().parse().unwrap();
        assert!(
            floor[i] <= v && v <= ceiling[i],
            "writer {i}: restored {v}, acknowledged before the backup {}, sent before it ended {}",
            floor[i],
            ceiling[i]
        );
    }
    assert_eq!(static_part(copy.port), before_static);
    let restored_sum: u64 = (0..WRITERS)
        .map(|i| {
            let reply = c.call(&["GET", &format!("w{i}")]);
            reply.lines().nth(1).unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(
        restored_sum,
        seq - start_seq,
        "the data is the state at record {seq}"
    );
    // The restored server continues the log after the backup's cut.
    assert_eq!(last_seq(&mut c), seq);
    assert_eq!(c.call(&["SET", "after-restore", "1"]), "+OK\r\n");
    drop(c);
    drop(copy);
    let copy = TestServer::start_in(&restored, &[], &[]);
    assert_eq!(copy.raw().call(&["GET", "after-restore"]), "$1\r\n1\r\n");
    drop(copy);
    drop(server);
    for d in [&dir, &backup, &restored] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// The server's last log sequence number (`INFO persistence`).
fn last_seq(c: &mut Raw) -> u64 {
    let info = c.call(&["INFO", "persistence"]);
    info.lines()
        .find_map(|l| l.strip_prefix("flashdb_log_last_seq:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{info}"))
}

/// `flashdb restore --from FROM --dir TO`: exit code, stdout, stderr.
fn restore(from: &str, to: &str) -> (Option<i32>, String, String) {
    run_flashdb(&["restore", "--from", from, "--dir", to], &[])
}

/// `POST /api/v1/backup` with `dir`: the status and the JSON body.
fn post_backup(server: &TestServer, dir: &str) -> (u16, serde_json::Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/backup", server.http()))
            .json(&serde_json::json!({ "dir": dir }))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    })
}

#[test]
fn backup_over_http_and_the_targets_it_refuses() {
    let dir = temp_dir("backup-http");
    let out = temp_dir("backup-http-out");
    let server = TestServer::start_in(&dir, &[], &[]);
    let mut c = server.raw();
    load_static_data(&mut c);
    let target = out.join("via-http");
    let (status, body) = post_backup(&server, target.to_str().unwrap());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert!(body["seq"].as_u64().unwrap() > 2000, "{body}");
    assert!(target.join("backup.json").exists());

    // Not empty, relative, inside the data directory: refused, nothing written.
    let nested = dir.join("inside");
    for (bad, why) in [
        (target.to_str().unwrap(), "is not empty"),
        ("relative/path", "must be an absolute path"),
        (nested.to_str().unwrap(), "is inside the data directory"),
    ] {
        let reply = c.call(&["BACKUP", bad]);
        assert!(
            reply.starts_with("-ERR ") && reply.contains(why),
            "{bad}: {reply}"
        );
        let (status, body) = post_backup(&server, bad);
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "INVALID_REQUEST", "{body}");
    }
    assert!(!nested.exists());
    assert_eq!(
        c.call(&["BACKUP"]),
        "-ERR wrong number of arguments for 'backup' command\r\n"
    );

    // The HTTP backup restores to the same data.
    let restored = out.join("restored");
    let (code, _, err) = restore(target.to_str().unwrap(), restored.to_str().unwrap());
    assert_eq!(code, Some(0), "{err}");
    // Restoring twice into the same directory, or from something that is no backup, fails.
    let (code, _, err) = restore(target.to_str().unwrap(), restored.to_str().unwrap());
    assert_eq!(code, Some(1));
    assert!(err.contains("is not empty"), "{err}");
    let (code, _, err) = restore(dir.to_str().unwrap(), out.join("x").to_str().unwrap());
    assert_eq!(code, Some(1));
    assert!(err.contains("is not a FlashDB backup"), "{err}");
    let copy = TestServer::start_in(&restored, &[], &[]);
    assert_eq!(dump(copy.port, 16), dump(server.port, 16));
    drop(copy);
    drop(c);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_damaged_backup_is_not_restored() {
    let dir = temp_dir("backup-damaged");
    let out = temp_dir("backup-damaged-out");
    let server = TestServer::start_in(&dir, &[], &[]);
    load_static_data(&mut server.raw());
    let target = out.join("b");
    let reply = server.raw().call(&["BACKUP", target.to_str().unwrap()]);
    assert!(reply.starts_with("*8\r\n$3\r\ndir\r\n"), "{reply}");
    drop(server);
    let snap = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "fdb"))
        .unwrap();
    let mut bytes = std::fs::read(&snap).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&snap, &bytes).unwrap();
    let restored = out.join("restored");
    let (code, _, err) = restore(target.to_str().unwrap(), restored.to_str().unwrap());
    assert_eq!(code, Some(1));
    assert!(
        err.contains("CORRUPT") && err.contains("does not verify"),
        "{err}"
    );
    assert!(!restored.exists(), "nothing restored");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&out);
}
