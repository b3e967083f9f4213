//! Damage that is not a torn tail: a flipped bit in the middle of a segment or in a
//! snapshot with nothing to fall back on. The server must refuse to start with an error
//! naming the file and offset, without ever claiming to be ready; `flashdb check` must find
//! it and `--repair` cut it out. Damage to records the snapshot already covers is reported
//! (log and `flashdb check`) but does not stop start-up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{run_flashdb, temp_dir, TestServer};
use flashdb_storage::record;
use flashdb_storage::segment::{list_segments, SEGMENT_HEADER_LEN};

fn write_keys(dir: &std::path::Path, n: usize, extra: &[&str]) {
    let mut s = TestServer::start_in(dir, extra, &[]);
    let mut c = s.raw();
    for i in 0..n {
        assert_eq!(
            c.call(&["SET", &format!("k{i}"), &format!("value-{i}")]),
            "+OK\r\n"
        );
    }
    s.kill9();
}

/// Offsets of every record in a segment (zero-filled after its records).
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut off = SEGMENT_HEADER_LEN;
    let mut out = Vec::new();
    while let Ok(Some(r)) = record::read_at(bytes, off) {
        out.push(off);
        off += record::HEADER_LEN + r.payload.len();
    }
    assert!(record::is_zero_tail(bytes, off), "damage at {off}");
    out
}

#[test]
fn a_bit_flip_mid_segment_stops_startup_and_check_repairs_it() {
    let dir = temp_dir("flip");
    write_keys(&dir, 20, &[]);
    let (_, seg) = list_segments(&dir).unwrap().pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let offsets = record_offsets(&bytes);
    let victim = offsets[10];
    bytes[victim + record::HEADER_LEN + 3] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();

    let d = dir.to_str().unwrap();
    let (code, _, err) = run_flashdb(&["--port", "0", "--http-port", "0", "--dir", d], &[]);
    assert_ne!(code, Some(0));
    let expected = format!("corrupt log record in {} at offset {victim}", seg.display());
    assert!(
        err.contains(&expected),
        "stderr must name file and offset: {err}"
    );
    assert!(
        !err.contains("ready to accept connections"),
        "a server that cannot recover never claims to be ready: {err}"
    );

    let (code, out, _) = run_flashdb(&["check", "--dir", d], &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("CORRUPT  {} at offset {victim}", seg.display())),
        "{out}"
    );

    let (code, out, _) = run_flashdb(&["check", "--dir", d, "--repair"], &[]);
    assert_eq!(code, Some(0), "{out}");
    let saved = seg.with_extension(format!("log.cut-{victim}"));
    assert!(
        saved.exists(),
        "the cut part is kept beside the segment: {out}"
    );
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        bytes[victim..record::written_end(&bytes)].to_vec(),
        "the cut part is kept, without the zeros after it"
    );

    let s = TestServer::start_in(&dir, &[], &[]);
    let mut c = s.raw();
    for i in 0..10 {
        assert_eq!(
            c.call(&["GET", &format!("k{i}")]),
            format!("$7\r\nvalue-{i}\r\n")
        );
    }
    assert_eq!(c.call(&["EXISTS", "k10"]), ":0\r\n");
    drop(c);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupt_snapshot_with_nothing_to_fall_back_on_stops_startup() {
    let dir = temp_dir("snapflip");
    {
        // Small segments, so that the snapshot covers (and deletes) the early ones.
        let s = TestServer::start_in(&dir, &["--wal-segment-size", "64kb"], &[]);
        let mut c = s.raw();
        let big = "x".repeat(1000);
        for i in 0..300 {
            assert_eq!(c.call(&["SET", &format!("k{i}"), &big]), "+OK\r\n");
        }
        assert_eq!(c.call(&["SAVE"]), "+OK\r\n");
        assert_eq!(c.call(&["SET", "after", "snapshot"]), "+OK\r\n");
        let info = c.call(&["INFO", "persistence"]);
        assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
    }
    let segs = list_segments(&dir).unwrap();
    assert!(
        segs[0].0 > 1,
        "the snapshot must have deleted the segments it covers: {segs:?}"
    );
    let snap = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snapshot-")
        })
        .unwrap();
    let mut bytes = std::fs::read(&snap).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&snap, &bytes).unwrap();
    let d = dir.to_str().unwrap();
    let (code, _, err) = run_flashdb(&["--port", "0", "--http-port", "0", "--dir", d], &[]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains(&format!("corrupt snapshot {}", snap.display())) && err.contains("at offset"),
        "{err}"
    );
    let (code, out, _) = run_flashdb(&["check", "--dir", d], &[]);
    assert_eq!(code, Some(1));
    assert!(
        out.contains("CORRUPT") && out.contains("frame checksum mismatch"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupt_newest_snapshot_falls_back_to_the_log_when_it_is_complete() {
    let dir = temp_dir("snapfallback");
    {
        let s = TestServer::start_in(&dir, &[], &[]);
        let mut c = s.raw();
        assert_eq!(c.call(&["SET", "a", "1"]), "+OK\r\n");
        assert_eq!(c.call(&["SAVE"]), "+OK\r\n");
        assert_eq!(c.call(&["SET", "b", "2"]), "+OK\r\n");
    }
    // The log still starts at record 1 (one segment, never deleted), so a damaged snapshot
    // can be skipped without losing anything.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("snapshot-")
        {
            std::fs::write(&p, b"garbage").unwrap();
        }
    }
    let s = TestServer::start_in(&dir, &[], &[]);
    let mut c = s.raw();
    assert_eq!(c.call(&["MGET", "a", "b"]), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    drop(c);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes `before` keys, a snapshot, then `after` more keys, and kills the server: one
/// segment whose first records the snapshot covers.
fn snapshot_then_more(dir: &std::path::Path, before: usize, after: usize) {
    let mut s = TestServer::start_in(dir, &[], &[]);
    let mut c = s.raw();
    for i in 0..before + after {
        if i == before {
            assert_eq!(c.call(&["SAVE"]), "+OK\r\n");
        }
        let v = format!("value-{i}");
        assert_eq!(c.call(&["SET", &format!("k{i}"), &v]), "+OK\r\n");
    }
    s.kill9();
}

#[test]
fn damage_the_snapshot_covers_is_reported_and_skipped() {
    // A bad payload (its header still names the record) and a bad header (the next
    // record is found by scanning), both among the records the snapshot holds.
    for (tag, at_byte) in [("payload", record::HEADER_LEN + 2), ("header", 9)] {
        let dir = temp_dir(&format!("covered-{tag}"));
        snapshot_then_more(&dir, 20, 10);
        let segs = list_segments(&dir).unwrap();
        assert_eq!(segs.len(), 1, "{segs:?}");
        let seg = &segs[0].1;
        let mut bytes = std::fs::read(seg).unwrap();
        let offsets = record_offsets(&bytes);
        assert!(offsets.len() >= 30, "{}", offsets.len());
        let victim = offsets[5];
        bytes[victim + at_byte] ^= 0x08;
        std::fs::write(seg, &bytes).unwrap();

        let d = dir.to_str().unwrap();
        let (code, out, _) = run_flashdb(&["check", "--dir", d], &[]);
        assert_eq!(code, Some(0), "{tag}: {out}");
        assert!(
            out.contains(&format!("damaged  {} at offset {victim}", seg.display()))
                && out.contains("recovery skips them"),
            "{tag}: {out}"
        );

        let s = TestServer::start_in(&dir, &[], &[]);
        let mut c = s.raw();
        for i in 0..30 {
            assert_eq!(
                c.call(&["GET", &format!("k{i}")]),
                format!("${}\r\nvalue-{i}\r\n", format!("value-{i}").len()),
                "{tag}: k{i}"
            );
        }
        // New writes go on after the last good record, and survive another restart.
        assert_eq!(c.call(&["SET", "later", "yes"]), "+OK\r\n");
        let log = s.log_text();
        assert!(
            log.contains("skipping damaged log records that the snapshot already covers")
                && log.contains(&format!("at offset {victim}")),
            "{tag}: {log}"
        );
        drop(c);
        drop(s);
        let s = TestServer::start_in(&dir, &[], &[]);
        assert_eq!(s.raw().call(&["GET", "later"]), "$3\r\nyes\r\n", "{tag}");
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn damage_after_the_snapshot_still_stops_startup() {
    let dir = temp_dir("uncovered");
    snapshot_then_more(&dir, 20, 10);
    let (_, seg) = list_segments(&dir).unwrap().pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let offsets = record_offsets(&bytes);
    let victim = offsets[25];
    bytes[victim + 9] ^= 0x08;
    std::fs::write(&seg, &bytes).unwrap();
    let d = dir.to_str().unwrap();
    let (code, _, err) = run_flashdb(&["--port", "0", "--http-port", "0", "--dir", d], &[]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains(&format!(
            "corrupt log record in {} at offset {victim}",
            seg.display()
        )),
        "{err}"
    );
    assert!(!err.contains("ready to accept connections"), "{err}");
    let (code, out, _) = run_flashdb(&["check", "--dir", d], &[]);
    assert_eq!(code, Some(1), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
