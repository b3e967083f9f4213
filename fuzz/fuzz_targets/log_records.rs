//! Fuzzes the log record reader and the entry decoder with arbitrary segment bytes: no
//! panic, no read past the buffer, and every record that verifies decodes or fails cleanly.
#![no_main]

use flashdb_core::codec::decode_entries;
use flashdb_storage::record::{is_torn_tail, read_at, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut offset = 0;
    loop {
        match read_at(data, offset) {
            Ok(None) => break,
            Ok(Some(r)) => {
                assert!(offset + HEADER_LEN + r.payload.len() <= data.len());
                let _ = decode_entries(r.payload);
                offset += HEADER_LEN + r.payload.len();
            }
            Err(damage) => {
                let _ = is_torn_tail(data, offset, &damage);
                break;
            }
        }
    }
    // Payload decoding on its own, for inputs that never get past a checksum.
    let _ = decode_entries(data);
});
