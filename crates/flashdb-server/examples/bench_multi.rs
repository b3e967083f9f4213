//! Load generator for transactions, which `redis-benchmark` cannot send: each client
//! sends `MULTI`, `INCR` of `--incrs` random keys and `EXEC` in one write, waits for the
//! replies, and repeats. Prints transactions per second. Until `flashdb-benchmark`
//! exists, `scripts/bench-transactions.sh` runs it against FlashDB and Redis side by side.
//!
//!   cargo run --release --example bench_multi -- <port> [clients] [transactions] [incrs]

use std::time::Instant;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn arg(i: usize, default: u64) -> Result<u64> {
    match std::env::args().nth(i) {
        Some(a) => a.parse().with_context(|| format!("argument {i}: {a:?}")),
        None => Ok(default),
    }
}

fn resp(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// One client: `count` transactions; returns when all replies are in.
async fn client(port: u16, count: u64, incrs: u64, seed: u64) -> Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.set_nodelay(true)?;
    let mut x = seed | 1;
    let mut req = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    // +OK, one +QUEUED per INCR, then *n and n integers: one CRLF each.
    let lines_per_tx = 1 + incrs + 1 + incrs;
    for _ in 0..count {
        req.clear();
        resp(&[b"MULTI"], &mut req);
        for _ in 0..incrs {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = format!("counter:{}", x % 100_000);
            resp(&[b"INCR", key.as_bytes()], &mut req);
        }
        resp(&[b"EXEC"], &mut req);
        s.write_all(&req).await?;
        let mut lines = 0;
        while lines < lines_per_tx {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                bail!("server closed the connection");
            }
            // An error reply starts a line with '-' (integers have ':' first).
            if buf[0] == b'-' || buf[..n].windows(2).any(|w| w == b"\n-") {
                bail!("error reply: {}", String::from_utf8_lossy(&buf[..n]));
            }
            lines += buf[..n].windows(2).filter(|w| w == b"\r\n").count() as u64;
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let port = arg(1, 6379)? as u16;
    let clients = arg(2, 50)?.max(1);
    let total = arg(3, 100_000)?;
    let incrs = arg(4, 10)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let start = Instant::now();
    rt.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|i| tokio::spawn(client(port, total / clients, incrs, 0x9E37_79B9 + i)))
            .collect();
        for t in tasks {
            t.await??;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let secs = start.elapsed().as_secs_f64();
    println!("{:.0}", (total / clients * clients) as f64 / secs);
    Ok(())
}
