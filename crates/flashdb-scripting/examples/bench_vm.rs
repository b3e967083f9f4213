//! How long the Lua side of a script run takes, without the network or the keyspace: a
//! host that answers every command with `:1` runs the rate-limiter script and a 10-key
//! script many times.
//!
//!   cargo run --release -p flashdb-scripting --example bench_vm

use std::time::Instant;

use flashdb_protocol::{ProtocolVersion, ReplyBuf};
use flashdb_scripting::{Host, Kind, Vm};

struct One;

impl Host for One {
    fn call(&mut self, _args: &[&[u8]], _resp3: bool) -> &[u8] {
        b":1\r\n"
    }
    fn log(&mut self, _level: u8, _message: &str) {}
    fn acl_check(&mut self, _args: &[&[u8]]) -> Result<bool, String> {
        Ok(true)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let vm = Vm::new(Kind::Eval)?;
    let limiter = vm.compile(
        b"local n = redis.call('INCR', KEYS[1])\n\
          if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n\
          if n > tonumber(ARGV[1]) then return 0 end\n\
          return 1",
    )?;
    let empty = vm.compile(b"return 1")?;
    let ten = vm.compile(b"for i = 1, #KEYS do redis.call('INCR', KEYS[i]) end return #KEYS")?;
    let keys10: Vec<Vec<u8>> = (0..10)
        .map(|i| format!("k{i}:123456").into_bytes())
        .collect();
    let keys10: Vec<&[u8]> = keys10.iter().map(|k| k.as_slice()).collect();
    let mut out = ReplyBuf::new(ProtocolVersion::Resp2);
    for (name, code, keys, args) in [
        ("return 1", &empty, vec![], vec![]),
        (
            "rate limiter",
            &limiter,
            vec![b"rl:1".as_slice()],
            vec![b"100".as_slice(), b"60000".as_slice()],
        ),
        ("10 keys", &ten, keys10.clone(), vec![]),
    ] {
        let n = 200_000;
        let start = Instant::now();
        for _ in 0..n {
            out.clear();
            vm.run(code, "sha", &keys, &args, &mut One, &mut out);
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        println!("{name:14} {ns:8.0} ns per run");
    }
    Ok(())
}
