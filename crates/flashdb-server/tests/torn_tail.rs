//! Torn tail: the log is cut at every byte offset inside its last record, as a crash in the
//! middle of a write leaves it. Recovery must cut the partial record off and keep every
//! earlier one; `flashdb check` must call it a torn tail, not corruption.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{run_flashdb, temp_dir, TestServer};
use flashdb_storage::record;
use flashdb_storage::segment::{list_segments, SEGMENT_HEADER_LEN};

#[test]
fn every_truncation_of_the_last_record_recovers_every_earlier_record() {
    let dir = temp_dir("torn");
    {
        let mut s = TestServer::start_in(&dir, &[], &[]);
        let mut c = s.raw();
        for i in 0..10 {
            assert_eq!(
                c.call(&["SET", &format!("k{i}"), &format!("value-{i}")]),
                "+OK\r\n"
            );
        }
        s.kill9();
    }
    let (_, seg) = list_segments(&dir).unwrap().pop().unwrap();
    let bytes = std::fs::read(&seg).unwrap();
    // Find where the last record starts.
    let mut off = SEGMENT_HEADER_LEN;
    let mut last = off;
    while let Some(r) = record::read_at(&bytes, off).unwrap() {
        last = off;
        off += record::HEADER_LEN + r.payload.len();
    }
    assert_eq!(off, bytes.len(), "the log must end with a whole record");
    for cut in last..bytes.len() {
        let case = temp_dir("torn-case");
        let seg_copy = case.join(seg.file_name().unwrap());
        std::fs::write(&seg_copy, &bytes[..cut]).unwrap();
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
        // The partial record was cut off the file before new records were appended.
        assert_eq!(c.call(&["SET", "after", "crash"]), "+OK\r\n");
        drop(c);
        drop(s);
        let s = TestServer::start_in(&case, &[], &[]);
        assert_eq!(
            s.raw().call(&["GET", "after"]),
            "$5\r\ncrash\r\n",
            "cut {cut}"
        );
        drop(s);
        std::fs::remove_dir_all(&case).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
