//! Fuzzes the snapshot reader and the snapshot entry decoder with arbitrary file contents.
#![no_main]

use flashdb_core::codec::decode_snapshot_entries;
use flashdb_storage::snapshot::read_snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("flashdb-fuzz-snap-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("snapshot-00000000000000000001.fdb");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let mut sink = |chunk: &[u8], _offset: u64| -> Result<(), String> {
        decode_snapshot_entries(chunk, |_| {}).map(|_| ()).map_err(|e| e.to_string())
    };
    let _ = read_snapshot(&path, Some(&mut sink));
    let _ = decode_snapshot_entries(data, |_| {});
});
