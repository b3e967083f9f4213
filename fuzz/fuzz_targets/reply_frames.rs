//! Fuzzes the reply decoder (what flashdb-cli, flashdb-benchmark and the HTTP API read)
//! with arbitrary bytes: it must never panic, never claim more bytes than it was given,
//! and a prefix of a complete reply must read as incomplete or as the same error.
#![no_main]

use flashdb_protocol::parse_frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_frame(data) {
        Ok(Some((_, used))) => {
            assert!(used > 0 && used <= data.len());
            // Every proper prefix of a complete reply is incomplete.
            for cut in [used / 2, used.saturating_sub(1)] {
                if cut < used {
                    assert!(matches!(parse_frame(&data[..cut]), Ok(None)));
                }
            }
        }
        Ok(None) | Err(_) => {}
    }
});
