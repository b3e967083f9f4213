//! Fuzzes `RESTORE`'s payload reader with arbitrary bytes: no panic and no unbounded
//! allocation; a payload whose checksum holds decodes or is refused cleanly, and a value
//! that decodes dumps back to the same payload.
#![no_main]

use flashdb_core::codec::{dump_payload, restore_payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = restore_payload(data) {
        assert_eq!(restore_payload(&dump_payload(&v)).ok(), Some(v));
    }
    // Inputs with a valid trailer reach the value decoder too.
    let mut sealed = data.to_vec();
    sealed.extend_from_slice(&flashdb_core::codec::DUMP_VERSION.to_le_bytes());
    let crc = crc32c::crc32c(&sealed);
    sealed.extend_from_slice(&crc.to_le_bytes());
    let _ = restore_payload(&sealed);
});

