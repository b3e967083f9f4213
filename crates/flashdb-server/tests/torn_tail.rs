//! Torn tail: the log is cut at every byte offset inside its last record, as a crash in the
//! middle of a write leaves it: the file ends there, or (as in a segment zero-filled ahead
//! of its records) only zeros follow. Recovery must cut the partial record off and keep every
//! earlier one; `flashdb check` must call it a torn tail, not corruption. Once for string
//! writes, once for writes of every collection type.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{run_flashdb, temp_dir, Raw, TestServer};
use flashdb_storage::record;
use flashdb_storage::segment::{list_segments, SEGMENT_HEADER_LEN};

/// Runs `writes` (each must get `reply`), kills the server, and for every cut of the log
/// inside its last record checks that `check` calls it torn and that recovery gives what
/// `earlier` checks (every write but the last, which must not be applied).
fn every_cut_of_the_last_record(
    tag: &str,
    writes: &[(&[&str], &str)],
    earlier: impl Fn(&mut Raw, usize),
) {
    let dir = temp_dir(tag);
    {
        let mut s = TestServer::start_in(&dir, &[], &[]);
        let mut c = s.raw();
        for (args, reply) in writes {
            assert_eq!(c.call(args), *reply, "{args:?}");
        }
        s.kill9();
    }
    let (_, seg) = list_segments(&dir).unwrap().pop().unwrap();
    let bytes = std::fs::read(&seg).unwrap();
    // Find where the last record starts.
    let mut off = SEGMENT_HEADER_LEN;
    let mut last = off;
    while let Ok(Some(r)) = record::read_at(&bytes, off) {
        last = off;
        off += record::HEADER_LEN + r.payload.len();
    }
    assert!(
        record::is_zero_tail(&bytes, off),
        "the log must end with a whole record, then zeros at most"
    );
    for cut in last..off {
        let case = temp_dir("torn-case");
        let seg_copy = case.join(seg.file_name().unwrap());
        // Every other cut is followed by zeros, as a torn write into a segment zero-filled
        // ahead of its records leaves it (the server's own zeros, or at least a page).
        let mut torn = bytes[..cut].to_vec();
        if cut % 2 == 1 {
            torn.resize(bytes.len().max(off + 4096), 0);
        }
        std::fs::write(&seg_copy, &torn).unwrap();
        if cut > last {
            let (code, out, _) = run_flashdb(&["check", "--dir", case.to_str().unwrap()], &[]);
            assert_eq!(code, Some(0), "cut {cut}: {out}");
            assert!(
                out.contains(&format!("torn     {} at offset {last}", seg_copy.display())),
                "cut {cut}: {out}"
            );
        }
        let s = TestServer::start_in(&case, &[], &[]);
        let mut c = s.raw();
        earlier(&mut c, cut);
        // The partial record was cut off the file before new records were appended.
        assert_eq!(c.call(&["SET", "after", "crash"]), "+OK\r\n");
        drop(c);
        drop(s);
        let s = TestServer::start_in(&case, &[], &[]);
        let mut c = s.raw();
        assert_eq!(c.call(&["GET", "after"]), "$5\r\ncrash\r\n", "cut {cut}");
        earlier(&mut c, cut);
        drop(s);
        std::fs::remove_dir_all(&case).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_truncation_of_the_last_record_recovers_every_earlier_record() {
    let keys: Vec<(String, String)> = (0..10)
        .map(|i| (format!("k{i}"), format!("value-{i}")))
        .collect();
    let writes: Vec<[&str; 3]> = keys
        .iter()
        .map(|(k, v)| ["SET", k.as_str(), v.as_str()])
        .collect();
    let writes: Vec<(&[&str], &str)> = writes.iter().map(|w| (&w[..], "+OK\r\n")).collect();
    every_cut_of_the_last_record("torn", &writes, |c, cut| {
        for i in 0..9 {
            assert_eq!(
                c.call(&["GET", &format!("k{i}")]),
                format!("$7\r\nvalue-{i}\r\n"),
                "cut {cut}"
            );
        }
        assert_eq!(
            c.call(&["EXISTS", "k9"]),
            ":0\r\n",
            "cut {cut}: the torn record must not be applied"
        );
    });
}

#[test]
fn collection_writes_survive_every_truncation_of_a_later_record() {
    let writes: &[(&[&str], &str)] = &[
        (&["RPUSH", "l", "a", "b", "c"], ":3\r\n"),
        (&["LPOP", "l"], "$1\r\na\r\n"),
        (&["HSET", "h", "f1", "v1", "f2", "v2"], ":2\r\n"),
        (&["HDEL", "h", "f1"], ":1\r\n"),
        (&["SADD", "s", "x", "y", "z"], ":3\r\n"),
        (&["SREM", "s", "y"], ":1\r\n"),
        (&["ZADD", "z", "1", "a", "2", "b"], ":2\r\n"),
        (&["ZINCRBY", "z", "5", "a"], "$1\r\n6\r\n"),
        (&["SUNIONSTORE", "u", "s"], ":2\r\n"),
        // The last record, cut at every byte: a ZADD that adds two members and moves one.
        (&["ZADD", "z", "3", "c", "4", "d", "0.5", "a"], ":2\r\n"),
    ];
    every_cut_of_the_last_record("torn-coll", writes, |c, cut| {
        assert_eq!(
            c.call(&["LRANGE", "l", "0", "-1"]),
            "*2\r\n$1\r\nb\r\n$1\r\nc\r\n",
            "cut {cut}"
        );
        assert_eq!(
            c.call(&["HGETALL", "h"]),
            "*2\r\n$2\r\nf2\r\n$2\r\nv2\r\n",
            "cut {cut}"
        );
        for set in ["s", "u"] {
            assert_eq!(c.call(&["SCARD", set]), ":2\r\n", "cut {cut}");
            assert_eq!(
                c.call(&["SMISMEMBER", set, "x", "y", "z"]),
                "*3\r\n:1\r\n:0\r\n:1\r\n",
                "cut {cut}"
            );
        }
        assert_eq!(
            c.call(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
            "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n6\r\n",
            "cut {cut}: the torn ZADD must not be applied"
        );
    });
}
