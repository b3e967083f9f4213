//! Fuzzes the request parser with arbitrary bytes: it must never panic, and feeding the
//! same bytes in two reads (split at an arbitrary point) must give the same requests and
//! the same error as feeding them at once.
#![no_main]

use flashdb_protocol::{Parsed, ParserLimits, ProtocolError, RequestParser};
use libfuzzer_sys::fuzz_target;

type Outcome = (Vec<Vec<Vec<u8>>>, Option<ProtocolError>);

fn run(chunks: &[&[u8]], limits: &ParserLimits) -> Outcome {
    let mut parser = RequestParser::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut requests = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match parser.parse(&buf, limits) {
                Ok(Parsed::Request { consumed }) => {
                    assert!(consumed <= buf.len());
                    requests.push(parser.args().iter().map(|r| buf[r.clone()].to_vec()).collect());
                    parser.reset();
                    buf.drain(..consumed);
                }
                Ok(Parsed::Empty { consumed }) => {
                    assert!(consumed > 0 && consumed <= buf.len());
                    parser.reset();
                    buf.drain(..consumed);
                }
                Ok(Parsed::Incomplete { .. }) => break,
                Err(e) => return (requests, Some(e)),
            }
        }
    }
    (requests, None)
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = usize::from(data[0]) % data.len();
    let input = &data[1..];
    let split = split.min(input.len());
    let limits = ParserLimits {
        max_bulk_len: 1 << 20,
        authenticated: data[0] & 1 == 0,
    };
    let whole = run(&[input], &limits);
    let parts = run(&[&input[..split], &input[split..]], &limits);
    assert_eq!(whole, parts);
});
