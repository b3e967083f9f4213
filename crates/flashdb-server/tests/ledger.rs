//! The ledger (`--ledger on`): every record a leaf of an RFC 9162 Merkle tree. Proofs the
//! server gives verify against roots recomputed here from the leaves alone; segments that
//! snapshots cover are archived and stay provable across restarts; history and verified
//! reads follow a key through renames and restarts; and tampering with the files is
//! found: a changed record (with its checksum fixed) by `flashdb check --ledger`,
//! `LEDGER VERIFY` and `flashdb-cli --verify`, a consistently rewritten history by a
//! client holding an older root (`flashdb-cli --verify` refuses with exit code 2), a
//! reordered or dropped record by the check.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{run_flashdb, temp_dir, TestServer};
use flashdb_storage::ledger::merkle::{
    self, leaf_hash, node_hash, parse_hex, verify_consistency, verify_inclusion, Hash,
};
use flashdb_storage::record;
use flashdb_storage::segment::{list_segments, SEGMENT_HEADER_LEN};
use redis::Value;

/// The tree hash by RFC 9162's definition, from the leaves' hashes alone: written again
/// here on purpose, as an oracle independent of the server's code.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => merkle::empty_root(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// A RESP3-or-2 map reply as (field, value) pairs.
fn fields(v: Value) -> Vec<(String, Value)> {
    let items: Vec<Value> = match v {
        Value::Array(items) => items,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        other => panic!("not a map: {other:?}"),
    };
    items
        .chunks(2)
        .map(|p| {
            (
                redis::from_redis_value::<String>(&p[0]).unwrap(),
                p[1].clone(),
            )
        })
        .collect()
}

fn field<T: redis::FromRedisValue>(f: &[(String, Value)], name: &str) -> T {
    let v = &f
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .1;
    redis::from_redis_value(v).unwrap()
}

fn hash(s: &str) -> Hash {
    parse_hex(s).unwrap_or_else(|| panic!("not a hash: {s}"))
}

fn root(c: &mut redis::Connection) -> (u64, Hash) {
    let f = fields(redis::cmd("LEDGER").arg("ROOT").query(c).unwrap());
    (field(&f, "size"), hash(&field::<String>(&f, "root")))
}

fn leaves(c: &mut redis::Connection, size: u64) -> Vec<Hash> {
    (0..size)
        .map(|i| {
            let bytes: Vec<u8> = redis::cmd("LEDGER").arg("LEAF").arg(i).query(c).unwrap();
            leaf_hash(&bytes)
        })
        .collect()
}

fn write(c: &mut redis::Connection, from: usize, to: usize) {
    for i in from..to {
        let _: () = redis::cmd("SET")
            .arg(format!("key:{i}"))
            .arg(format!("value-{i}-{}", "x".repeat(200)))
            .query(c)
            .unwrap();
    }
}

#[test]
fn proofs_verify_against_roots_recomputed_from_the_leaves() {
    let server = TestServer::start_with(&["--ledger", "on"]);
    let mut c = server.client();
    write(&mut c, 0, 40);
    let (size, r) = root(&mut c);
    assert_eq!(size, 40, "one leaf per write");
    // LEDGER ROOT hashed everything durable, so INFO shows the tree caught up.
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut c).unwrap();
    for want in [
        "flashdb_ledger:on",
        "flashdb_ledger_loaded:1",
        "flashdb_ledger_size:40",
        "flashdb_ledger_lag:0",
    ] {
        assert!(info.contains(want), "{want} in {info}");
    }
    let all = leaves(&mut c, size);
    assert_eq!(
        mth(&all),
        r,
        "the root is RFC 9162's tree hash of the leaves"
    );
    // Leaf bytes: the sequence number, big-endian, then the record's payload.
    let leaf0: Vec<u8> = redis::cmd("LEDGER")
        .arg("LEAF")
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(&leaf0[..8], &1u64.to_be_bytes());
    assert!(leaf0.windows(5).any(|w| w == b"key:0"));
    for (index, at) in [(0u64, 1u64), (0, 40), (17, 40), (39, 40), (5, 9)] {
        let f = fields(
            redis::cmd("LEDGER")
                .arg("PROVE")
                .arg(index)
                .arg(at)
                .query(&mut c)
                .unwrap(),
        );
        let proof: Vec<String> = field(&f, "proof");
        let proof: Vec<Hash> = proof.iter().map(|h| hash(h)).collect();
        let r_at = hash(&field::<String>(&f, "root"));
        assert_eq!(r_at, mth(&all[..at as usize]));
        assert_eq!(hash(&field::<String>(&f, "leaf-hash")), all[index as usize]);
        assert!(verify_inclusion(
            index,
            at,
            &all[index as usize],
            &proof,
            &r_at
        ));
    }
    for (first, second) in [(1u64, 40u64), (7, 40), (16, 33), (40, 40)] {
        let f = fields(
            redis::cmd("LEDGER")
                .arg("CONSISTENCY")
                .arg(first)
                .arg(second)
                .query(&mut c)
                .unwrap(),
        );
        let proof: Vec<String> = field(&f, "proof");
        let proof: Vec<Hash> = proof.iter().map(|h| hash(h)).collect();
        let (r1, r2) = (mth(&all[..first as usize]), mth(&all[..second as usize]));
        assert_eq!(hash(&field::<String>(&f, "first-root")), r1);
        assert!(verify_consistency(first, second, &r1, &r2, &proof));
    }
    // Bad input: an index past the tree, a size past it, not a number.
    let mut raw = server.raw();
    assert_eq!(
        raw.call(&["LEDGER", "PROVE", "40"]),
        "-ERR leaf index 40 is not below the tree size 40\r\n"
    );
    assert_eq!(
        raw.call(&["LEDGER", "PROVE", "1", "41"]),
        "-ERR the tree has 40 leaves, not 41\r\n"
    );
    assert_eq!(
        raw.call(&["LEDGER", "CONSISTENCY", "0"]),
        "-ERR a consistency proof needs 0 < first <= second, got 0 and 40\r\n"
    );
    assert_eq!(
        raw.call(&["LEDGER", "PROVE", "-1"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(raw.call(&["LEDGER", "LEAF", "99"]), "$-1\r\n");
    let f = fields(redis::cmd("LEDGER").arg("VERIFY").query(&mut c).unwrap());
    assert_eq!(field::<u64>(&f, "size"), 40);
    assert_eq!(hash(&field::<String>(&f, "root")), r);
    assert_eq!(
        f.iter().find(|(k, _)| k == "first-bad").unwrap().1,
        Value::Nil
    );
}

#[test]
fn without_the_ledger_the_commands_say_so_and_it_needs_persistence() {
    let server = TestServer::start();
    let info = server.raw().call(&["INFO", "persistence"]);
    assert!(info.contains("flashdb_ledger:off"), "{info}");
    assert_eq!(
        server.raw().call(&["LEDGER", "ROOT"]),
        "-ERR the ledger is off (start the server with --ledger on)\r\n"
    );
    let stderr = common::refuses_to_start(&["--ledger", "on", "--persistence", "off"]);
    assert!(
        stderr.contains("--ledger on needs --persistence on"),
        "{stderr}"
    );
    let stderr = common::refuses_to_start(&["--ledger", "maybe"]);
    assert!(stderr.contains("--ledger must be on or off"), "{stderr}");
}

/// Every segment, archived and live, in order.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<(u64, PathBuf)> = list_segments(&dir.join("archive")).unwrap_or_default();
    all.extend(list_segments(dir).unwrap());
    all.sort();
    all.into_iter().map(|(_, p)| p).collect()
}

/// The records of a segment: (offset, seq, payload).
fn records(bytes: &[u8]) -> Vec<(usize, u64, Vec<u8>)> {
    let mut off = SEGMENT_HEADER_LEN;
    let mut out = Vec::new();
    while let Ok(Some(r)) = record::read_at(bytes, off) {
        out.push((off, r.seq, r.payload.to_vec()));
        off += record::HEADER_LEN + r.payload.len();
    }
    out
}

/// Rewrites the record at `offset` of `path` with `payload` (same length) and a correct
/// checksum, as an attacker who knows the format would.
fn rewrite(path: &Path, offset: usize, seq: u64, payload: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let mut rec = Vec::new();
    record::encode(seq, payload, crc32c::crc32c(payload), &mut rec);
    bytes[offset..offset + rec.len()].copy_from_slice(&rec);
    std::fs::write(path, bytes).unwrap();
}

/// Runs `flashdb-cli --verify` against `port` with the state file `state`: (exit code,
/// standard output, standard error).
fn verifying_cli(port: u16, state: &Path, args: &[&str]) -> (i32, String, String) {
    let cli = flashdb_testkit::binary_beside(
        Path::new(env!("CARGO_BIN_EXE_flashdb")),
        "flashdb-cli",
        "flashdb-cli",
    );
    let out = std::process::Command::new(cli)
        .args(["-p", &port.to_string(), "--verify", "--verify-state"])
        .arg(state)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_ledger(dir: &Path) -> (Option<i32>, String) {
    let (code, out, err) = run_flashdb(&["check", "--ledger", "--dir", dir.to_str().unwrap()], &[]);
    (code, format!("{out}{err}"))
}

/// Starts a ledger server in `dir` with small segments, writes `n` keys and takes a
/// snapshot (so the first segments are archived), and returns the root it ends with.
fn history(dir: &Path, n: usize) -> (u64, Hash) {
    let mut s = TestServer::start_in(dir, &["--ledger", "on", "--wal-segment-size", "64kb"], &[]);
    let mut c = s.client();
    write(&mut c, 0, n);
    let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
    let head = root(&mut c);
    s.terminate();
    head
}

#[test]
fn archived_history_stays_provable_across_restarts_and_matches_the_offline_check() {
    let dir = temp_dir("ledger-archive");
    let (size, r) = history(&dir, 800);
    let archived = list_segments(&dir.join("archive")).unwrap();
    assert!(
        archived.len() >= 2,
        "segments covered by the snapshot are archived: {archived:?}"
    );
    let (code, out) = check_ledger(&dir);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("ledger: size {size}")), "{out}");
    assert!(
        out.contains(&format!("ledger: root {}", merkle::hex(&r))),
        "{out}"
    );
    // After a restart (and without the leaf-hash file, which is rebuilt from the records),
    // the oldest leaves, in archived segments, are still proven against the same root.
    std::fs::remove_file(dir.join("ledger/leaves")).unwrap();
    let s = TestServer::start_in(&dir, &["--ledger", "on", "--wal-segment-size", "64kb"], &[]);
    let mut c = s.client();
    assert_eq!(root(&mut c), (size, r));
    let leaf0: Vec<u8> = redis::cmd("LEDGER")
        .arg("LEAF")
        .arg(0)
        .query(&mut c)
        .unwrap();
    let f = fields(
        redis::cmd("LEDGER")
            .arg("PROVE")
            .arg(0)
            .query(&mut c)
            .unwrap(),
    );
    let proof: Vec<String> = field(&f, "proof");
    let proof: Vec<Hash> = proof.iter().map(|h| hash(h)).collect();
    assert!(verify_inclusion(0, size, &leaf_hash(&leaf0), &proof, &r));
    // Writes go on from there.
    write(&mut c, 800, 810);
    let (size2, r2) = root(&mut c);
    assert_eq!(size2, size + 10);
    let f = fields(
        redis::cmd("LEDGER")
            .arg("CONSISTENCY")
            .arg(size)
            .query(&mut c)
            .unwrap(),
    );
    let proof: Vec<String> = field(&f, "proof");
    let proof: Vec<Hash> = proof.iter().map(|h| hash(h)).collect();
    assert!(verify_consistency(size, size2, &r, &r2, &proof));
}

#[test]
fn a_changed_record_is_found_by_the_offline_check_and_by_verify() {
    let dir = temp_dir("ledger-tamper");
    let (size, _) = history(&dir, 600);
    // Change one byte of the value of an old record, in an archived segment, and fix
    // its checksum: the log still reads as sound.
    let first = segments(&dir).remove(0);
    let bytes = std::fs::read(&first).unwrap();
    let (offset, seq, mut payload) = records(&bytes).remove(5);
    let at = payload.windows(6).position(|w| w == b"value-").unwrap();
    payload[at] = b'V';
    rewrite(&first, offset, seq, &payload);
    let (code, out) = check_ledger(&dir);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("data directory verified"),
        "the log itself reads as sound: {out}"
    );
    assert!(
        out.contains(&format!("ledger: leaf {} (record {seq})", seq - 1)),
        "{out}"
    );
    let s = TestServer::start_in(&dir, &["--ledger", "on"], &[]);
    let mut c = s.client();
    let f = fields(redis::cmd("LEDGER").arg("VERIFY").query(&mut c).unwrap());
    assert_eq!(field::<u64>(&f, "first-bad"), seq - 1);
    assert_eq!(field::<u64>(&f, "size"), size);
    // A verifying client reading the key that record set finds that its leaf is not the
    // one the tree holds.
    let key = format!("key:{}", seq - 1);
    let state = dir.with_extension("cli-state");
    let (code, _, err) = verifying_cli(s.port, &state, &["GET", &key]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("inclusion proof of leaf"), "{err}");
    // Another key's value is proven.
    let (code, out, err) = verifying_cli(s.port, &state, &["GET", "key:599"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("value-599-"), "{out}");
    assert!(
        err.contains("ledger: verified, the value is in leaf 599"),
        "{err}"
    );
}

#[test]
fn a_consistently_rewritten_history_fails_the_consistency_proof_from_an_older_root() {
    let dir = temp_dir("ledger-rewrite");
    // A client saw the root of the first 300 writes (and a verifying CLI trusted it).
    let (old_size, old_root) = history(&dir, 300);
    let state = dir.with_extension("cli-state");
    {
        let mut s =
            TestServer::start_in(&dir, &["--ledger", "on", "--wal-segment-size", "64kb"], &[]);
        let (code, _, err) = verifying_cli(s.port, &state, &["PING"]);
        assert_eq!(code, 0, "{err}");
        assert!(
            err.contains(&format!("size {old_size} root {}", merkle::hex(&old_root))),
            "{err}"
        );
        s.terminate();
    }
    {
        let s = TestServer::start_in(&dir, &["--ledger", "on", "--wal-segment-size", "64kb"], &[]);
        let mut c = s.client();
        write(&mut c, 300, 320);
        drop(c);
        let mut s = s;
        s.terminate();
    }
    // The history is rewritten from record 250 on, every record with a valid checksum, and
    // the tree rebuilt from the rewritten records (the leaf-hash file removed).
    for path in segments(&dir) {
        let bytes = std::fs::read(&path).unwrap();
        for (offset, seq, mut payload) in records(&bytes) {
            if seq < 250 {
                continue;
            }
            if let Some(at) = payload.windows(6).position(|w| w == b"value-") {
                payload[at] = b'W';
                rewrite(&path, offset, seq, &payload);
            }
        }
    }
    std::fs::remove_file(dir.join("ledger/leaves")).unwrap();
    let (code, out) = check_ledger(&dir);
    assert_eq!(
        code,
        Some(0),
        "a consistent rewrite fools the check alone: {out}"
    );
    let s = TestServer::start_in(&dir, &["--ledger", "on"], &[]);
    let mut c = s.client();
    let (size, new_root) = root(&mut c);
    assert_eq!(size, 320);
    let f = fields(
        redis::cmd("LEDGER")
            .arg("CONSISTENCY")
            .arg(old_size)
            .query(&mut c)
            .unwrap(),
    );
    let proof: Vec<String> = field(&f, "proof");
    let proof: Vec<Hash> = proof.iter().map(|h| hash(h)).collect();
    // The server's own proof checks out against its own (new) old root...
    let claimed_old = hash(&field::<String>(&f, "first-root"));
    assert!(verify_consistency(
        old_size,
        size,
        &claimed_old,
        &new_root,
        &proof
    ));
    // ...but not against the root the client kept.
    assert_ne!(claimed_old, old_root);
    assert!(!verify_consistency(
        old_size, size, &old_root, &new_root, &proof
    ));
    // The verifying client refuses the server, with exit code 2. (It keeps roots by
    // host:port, and the test's server came back on another port.)
    let text = std::fs::read_to_string(&state).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let trusted = v.as_object().unwrap().values().next().unwrap().clone();
    let moved = serde_json::json!({ format!("127.0.0.1:{}", s.port): trusted });
    std::fs::write(&state, moved.to_string()).unwrap();
    let (code, _, err) = verifying_cli(s.port, &state, &["PING"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("its history was rewritten"), "{err}");
}

#[test]
fn history_and_verified_reads_follow_a_key() {
    let dir = temp_dir("ledger-history");
    let mut s = TestServer::start_in(&dir, &["--ledger", "on"], &[]);
    let mut raw = s.raw();
    for cmd in [
        vec!["SET", "a", "1"],
        vec!["SET", "a", "2"],
        vec!["EXPIRE", "a", "100"],
        vec!["RENAME", "a", "b"],
        vec!["SET", "b", "3"],
        vec!["HSET", "h", "f", "v"],
        vec!["DEL", "b"],
    ] {
        raw.call(&cmd);
    }
    // Newest first: index, sequence number, kind, value.
    let b = raw.call(&["LEDGER", "HISTORY", "b"]);
    assert!(b.starts_with("*3\r\n"), "{b}");
    let (del, set, rename) = (
        b.find("$3\r\ndel\r\n").unwrap(),
        b.find("$3\r\nset\r\n").unwrap(),
        b.find("$6\r\nrename\r\n").unwrap(),
    );
    assert!(del < set && set < rename, "{b}");
    assert!(b.contains("$1\r\n3\r\n"), "the SET's value: {b}");
    // Each change carries the time the ledger hashed it (Unix ms, now-ish).
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let time_at = b.find("$4\r\ntime\r\n:").unwrap() + "$4\r\ntime\r\n:".len();
    let t: i64 = b[time_at..].split("\r\n").next().unwrap().parse().unwrap();
    assert!((now_ms - t).abs() < 60_000, "{t} vs {now_ms}");
    let a = raw.call(&["LEDGER", "HISTORY", "a", "LIMIT", "2"]);
    assert!(
        a.starts_with("*2\r\n") && a.contains("rename") && a.contains("expire"),
        "{a}"
    );
    assert_eq!(
        raw.call(&["LEDGER", "HISTORY", "a", "LIMIT", "0"]),
        "-ERR LIMIT must be between 1 and 1000\r\n"
    );
    assert_eq!(raw.call(&["LEDGER", "HISTORY", "never"]), "*0\r\n");
    // Time travel: b as of each leaf, through the rename from a (leaves 0 to 6).
    let at = |raw: &mut common::Raw, key: &str, i: u64| {
        raw.call(&["LEDGER", "GETAT", key, &i.to_string()])
    };
    assert_eq!(
        at(&mut raw, "a", 0),
        "*4\r\n$4\r\ntype\r\n$6\r\nstring\r\n$5\r\nvalue\r\n$1\r\n1\r\n"
    );
    assert_eq!(
        at(&mut raw, "b", 2),
        "$-1\r\n",
        "b does not exist before the rename"
    );
    assert_eq!(
        at(&mut raw, "b", 3),
        "*4\r\n$4\r\ntype\r\n$6\r\nstring\r\n$5\r\nvalue\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        at(&mut raw, "a", 3),
        "$-1\r\n",
        "a is gone after the rename"
    );
    assert_eq!(
        at(&mut raw, "b", 4),
        "*4\r\n$4\r\ntype\r\n$6\r\nstring\r\n$5\r\nvalue\r\n$1\r\n3\r\n"
    );
    assert_eq!(
        at(&mut raw, "h", 5),
        "*4\r\n$4\r\ntype\r\n$4\r\nhash\r\n$5\r\nvalue\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
    assert_eq!(at(&mut raw, "b", 6), "$-1\r\n", "deleted");
    assert_eq!(
        at(&mut raw, "b", 7),
        "-ERR leaf index 7 is not below the tree size 7\r\n"
    );
    // A verified read: b's last change is a DEL, h's an HSET: neither is a value SET wrote.
    assert!(raw
        .call(&["LEDGER", "GET", "b"])
        .starts_with("-ERR the last change of this key is a del"));
    assert!(raw
        .call(&["LEDGER", "GET", "h"])
        .starts_with("-ERR the last change of this key is a hset"));
    raw.call(&["SET", "c", "proven"]);
    // After a restart the history is read back from the log.
    s.terminate();
    let s = TestServer::start_in(&dir, &["--ledger", "on"], &[]);
    let mut c = s.client();
    let mut got = None;
    for _ in 0..200 {
        match redis::cmd("LEDGER")
            .arg("GET")
            .arg("c")
            .query::<Value>(&mut c)
        {
            Ok(v) => {
                got = Some(v);
                break;
            }
            // The history is read in the background at start. (The client names a
            // `-LOADING` reply by its kind, not by the word, in its text.)
            Err(e) if e.kind() == redis::ErrorKind::BusyLoadingError => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
    }
    let f = fields(got.unwrap());
    assert_eq!(field::<String>(&f, "value"), "proven");
    let index: u64 = field(&f, "index");
    let size: u64 = field(&f, "size");
    assert_eq!((index, size), (7, 8));
    let leaf: Vec<u8> = field(&f, "leaf");
    let proof: Vec<String> = field(&f, "proof");
    let proof: Vec<Hash> = proof.iter().map(|h| hash(h)).collect();
    let r = hash(&field::<String>(&f, "root"));
    assert!(verify_inclusion(index, size, &leaf_hash(&leaf), &proof, &r));
    let (code, out, err) = verifying_cli(s.port, &dir.with_extension("state"), &["GET", "c"]);
    assert_eq!((code, out.trim()), (0, "proven"), "{err}");
}

#[test]
fn reordered_or_dropped_records_are_found_by_the_offline_check() {
    for damage in ["reorder", "drop"] {
        let dir = temp_dir(&format!("ledger-{damage}"));
        history(&dir, 300);
        let first = segments(&dir).remove(0);
        let mut bytes = std::fs::read(&first).unwrap();
        let recs = records(&bytes);
        let (a, b) = (&recs[3], &recs[4]);
        let (len_a, len_b) = (
            record::HEADER_LEN + a.2.len(),
            record::HEADER_LEN + b.2.len(),
        );
        let mut swapped = Vec::new();
        match damage {
            // Records 4 and 5 swap places (each keeps its own, valid, header).
            "reorder" => {
                swapped.extend_from_slice(&bytes[b.0..b.0 + len_b]);
                swapped.extend_from_slice(&bytes[a.0..a.0 + len_a]);
            }
            // Record 4 disappears; the rest moves up.
            _ => swapped.extend_from_slice(&bytes[b.0..b.0 + len_b]),
        }
        bytes.splice(a.0..b.0 + len_b, swapped);
        std::fs::write(&first, &bytes).unwrap();
        let (code, out) = check_ledger(&dir);
        assert_eq!(code, Some(1), "{damage}: {out}");
        assert!(
            out.contains("sequence number") || out.contains("expected"),
            "{damage}: {out}"
        );
    }
}

async fn get(base: &str, path: &str) -> (u16, serde_json::Value) {
    let res = reqwest::get(format!("{base}{path}")).await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ledger_answers_over_http() {
    let server = TestServer::start_with(&["--ledger", "on"]);
    let mut c = server.client();
    write(&mut c, 0, 5);
    let base = server.http();
    let get = |path: &'static str| get(&base, path);
    let (status, head) = get("/api/v1/ledger/root").await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(head["size"], 5);
    let r = hash(head["root"].as_str().unwrap());
    let (_, p) = get("/api/v1/ledger/proof?index=2").await;
    let proof: Vec<Hash> = p["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hash(h.as_str().unwrap()))
        .collect();
    let (_, leaf) = get("/api/v1/ledger/leaf?index=2").await;
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(leaf["leaf"].as_str().unwrap())
        .unwrap();
    assert!(verify_inclusion(2, 5, &leaf_hash(&bytes), &proof, &r));
    let (status, v) = get("/api/v1/ledger/key/key:3").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["index"], 3);
    assert!(v["value"].as_str().unwrap().starts_with("value-3-"));
    let (_, h) = get("/api/v1/ledger/history/key:3?limit=5").await;
    assert_eq!(h["versions"][0]["kind"], "set", "{h}");
    let (status, e) = get("/api/v1/ledger/key/never-written").await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("KEY_NOT_FOUND"))
    );
    let (status, e) = get("/api/v1/ledger/proof?index=9").await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("COMMAND_ERROR")),
        "{e}"
    );
    let (_, c2) = get("/api/v1/ledger/consistency?first=2").await;
    let proof: Vec<Hash> = c2["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hash(h.as_str().unwrap()))
        .collect();
    let old = hash(c2["first_root"].as_str().unwrap());
    assert!(verify_consistency(2, 5, &old, &r, &proof));
}

#[test]
fn signed_roots_are_checked_and_a_changed_key_is_refused() {
    let dir = temp_dir("ledger-signed");
    std::fs::create_dir_all(&dir).unwrap();
    // Keys as `openssl genpkey -algorithm ed25519` writes them (PKCS#8 PEM).
    let key = |name: &str, seed: u8| {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let path = dir.with_extension(name);
        let pem = ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        std::fs::write(&path, pem.as_bytes()).unwrap();
        path.to_str().unwrap().to_string()
    };
    let (k1, k2) = (key("k1.pem", 1), key("k2.pem", 2));
    let data = dir.join("data");
    let state = dir.with_extension("state");
    let mut s = TestServer::start_in(&data, &["--ledger", "on", "--ledger-key", &k1], &[]);
    let mut c = s.client();
    write(&mut c, 0, 3);
    let f = fields(redis::cmd("LEDGER").arg("ROOT").query(&mut c).unwrap());
    let size: u64 = field(&f, "size");
    let r = hash(&field::<String>(&f, "root"));
    let public: String = field(&f, "public-key");
    let signature: String = field(&f, "signature");
    let unhex = |s: &str| -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    };
    use ed25519_dalek::Verifier;
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&unhex(&public).try_into().unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&unhex(&signature).try_into().unwrap());
    let mut signed = b"FlashDB ledger root v1\n".to_vec();
    signed.extend_from_slice(&size.to_be_bytes());
    signed.extend_from_slice(&r);
    vk.verify(&signed, &sig)
        .expect("the root's signature is the key's");
    // The verifying client pins the key and keeps the signed head as evidence.
    let (code, _, err) = verifying_cli(s.port, &state, &["PING"]);
    assert_eq!(code, 0, "{err}");
    let kept = std::fs::read_to_string(&state).unwrap();
    assert!(
        kept.contains(&public) && kept.contains(&signature),
        "{kept}"
    );
    s.terminate();
    // Another key for the same history: refused, with the state moved to the new port.
    let s = TestServer::start_in(&data, &["--ledger", "on", "--ledger-key", &k2], &[]);
    let v: serde_json::Value = serde_json::from_str(&kept).unwrap();
    let entry = v.as_object().unwrap().values().next().unwrap().clone();
    std::fs::write(
        &state,
        serde_json::json!({ format!("127.0.0.1:{}", s.port): entry }).to_string(),
    )
    .unwrap();
    let (code, _, err) = verifying_cli(s.port, &state, &["PING"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the server's ledger key changed"), "{err}");
    // Bad keys stop the start.
    let stderr =
        common::refuses_to_start(&["--ledger", "on", "--ledger-key", "/nonexistent/key.pem"]);
    assert!(stderr.contains("cannot read --ledger-key"), "{stderr}");
    let stderr = common::refuses_to_start(&["--ledger-key", &k1]);
    assert!(
        stderr.contains("--ledger-key needs --ledger on"),
        "{stderr}"
    );
}
