//! Load generator for work queues, which `redis-benchmark` cannot drive: producers push
//! messages while consumers take, process (nothing) and acknowledge them, each client on
//! its own connection, one request at a time. Prints messages per second acknowledged.
//!
//! - `flashdb` mode: `QADD jobs payload`, then `QRESERVE jobs BLOCK 1000` and
//!   `QACK jobs id`: FlashDB's queue type.
//! - `redis` mode: `LPUSH jobs payload`, then `BLMOVE jobs processing RIGHT LEFT 1` and
//!   `LREM processing 1 payload`: the reliable-queue pattern people run on Redis.
//!
//! `scripts/bench-queue.sh` runs it against FlashDB and Redis side by side.
//!
//! With `batch` above 1, FlashDB's consumers reserve up to that many messages at once
//! (`QRESERVE ... COUNT batch`) and acknowledge them with one `QACK`; the Redis pattern has
//! no batched form (`BLMOVE` moves one element).
//!
//!   cargo run --release --example bench_queue -- <flashdb|redis> <port> [producers]
//!       [consumers] [messages] [batch]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;

/// A reply, as much of it as the benchmark needs.
#[derive(Debug)]
enum Reply {
    Nil,
    Int(i64),
    Bulk(Vec<u8>),
    Array(Vec<Reply>),
    Simple,
}

struct Conn {
    r: BufReader<OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
    req: Vec<u8>,
    line: Vec<u8>,
}

impl Conn {
    async fn open(port: u16) -> Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok(Conn {
            r: BufReader::new(r),
            w,
            req: Vec::new(),
            line: Vec::new(),
        })
    }

    async fn call(&mut self, args: &[&[u8]]) -> Result<Reply> {
        self.req.clear();
        self.req
            .extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            self.req
                .extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            self.req.extend_from_slice(a);
            self.req.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&self.req).await?;
        self.read().await
    }

    async fn read(&mut self) -> Result<Reply> {
        // Arrays are read iteratively: a stack of (elements, still to read).
        let mut stack: Vec<(Vec<Reply>, usize)> = Vec::new();
        loop {
            self.line.clear();
            if self.r.read_until(b'\n', &mut self.line).await? == 0 {
                bail!("server closed the connection");
            }
            let text = std::str::from_utf8(&self.line[1..self.line.len().saturating_sub(2)])?;
            let one = match self.line.first() {
                Some(b'+') => Reply::Simple,
                Some(b'-') => bail!("error reply: {text}"),
                Some(b':') => Reply::Int(text.parse()?),
                Some(b'_') => Reply::Nil,
                Some(b'$') if text == "-1" => Reply::Nil,
                Some(b'$') => {
                    let n: usize = text.parse()?;
                    let mut b = vec![0u8; n + 2];
                    self.r.read_exact(&mut b).await?;
                    b.truncate(n);
                    Reply::Bulk(b)
                }
                Some(b'*') if text == "-1" => Reply::Nil,
                Some(b'*') => {
                    let n: usize = text.parse()?;
                    if n > 0 {
                        stack.push((Vec::with_capacity(n), n));
                        continue;
                    }
                    Reply::Array(Vec::new())
                }
                _ => bail!(
                    "unexpected reply line {:?}",
                    String::from_utf8_lossy(&self.line)
                ),
            };
            let mut done = one;
            loop {
                match stack.last_mut() {
                    None => return Ok(done),
                    Some((v, left)) => {
                        v.push(done);
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                    }
                }
                let (v, _) = stack.pop().context("reply stack")?;
                done = Reply::Array(v);
            }
        }
    }
}

fn arg(i: usize, default: u64) -> Result<u64> {
    match std::env::args().nth(i) {
        Some(a) => a.parse().with_context(|| format!("argument {i}: {a:?}")),
        None => Ok(default),
    }
}

async fn producer(flash: bool, port: u16, from: u64, count: u64) -> Result<()> {
    let mut c = Conn::open(port).await?;
    for i in from..from + count {
        let payload = format!("job:{i:012}");
        let cmd: &[u8] = if flash { b"QADD" } else { b"LPUSH" };
        match c.call(&[cmd, b"jobs", payload.as_bytes()]).await? {
            Reply::Bulk(_) | Reply::Int(_) => {}
            r => bail!("push: {r:?}"),
        }
    }
    Ok(())
}

/// Counts one acknowledged message; the last one records the elapsed time (consumers
/// still blocked then must not count).
fn finish_one(done: &AtomicU64, total: u64, start: Instant, end: &AtomicU64) {
    if done.fetch_add(1, Ordering::Relaxed) + 1 == total {
        end.store(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

async fn consumer(
    flash: bool,
    port: u16,
    done: Arc<AtomicU64>,
    total: u64,
    start: Instant,
    end: Arc<AtomicU64>,
    batch: u64,
) -> Result<()> {
    let mut c = Conn::open(port).await?;
    let count = batch.to_string().into_bytes();
    while done.load(Ordering::Relaxed) < total {
        if flash {
            let reserve = [
                b"QRESERVE".as_slice(),
                b"jobs",
                b"COUNT",
                &count,
                b"BLOCK",
                b"1000",
            ];
            let Reply::Array(taken) = c.call(&reserve).await? else {
                bail!("QRESERVE did not answer an array");
            };
            if taken.is_empty() {
                continue;
            }
            let mut ids = Vec::with_capacity(taken.len());
            for t in taken {
                let Reply::Array(mut t) = t else {
                    bail!("QRESERVE entry")
                };
                if t.is_empty() {
                    bail!("QRESERVE entry");
                }
                let Reply::Bulk(id) = t.swap_remove(0) else {
                    bail!("QRESERVE id")
                };
                ids.push(id);
            }
            // One acknowledgement for the whole batch.
            let mut ack: Vec<&[u8]> = vec![b"QACK", b"jobs"];
            ack.extend(ids.iter().map(|i| i.as_slice()));
            match c.call(&ack).await? {
                Reply::Int(n) if n as usize == ids.len() => {
                    for _ in 0..n {
                        finish_one(&done, total, start, &end);
                    }
                }
                r => bail!("QACK: {r:?}"),
            }
        } else {
            match c
                .call(&[b"BLMOVE", b"jobs", b"processing", b"RIGHT", b"LEFT", b"1"])
                .await?
            {
                Reply::Bulk(p) => match c.call(&[b"LREM", b"processing", b"1", &p]).await? {
                    Reply::Int(1) => finish_one(&done, total, start, &end),
                    r => bail!("LREM: {r:?}"),
                },
                Reply::Nil => {}
                r => bail!("BLMOVE: {r:?}"),
            }
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let flash = match mode.as_str() {
        "flashdb" => true,
        "redis" => false,
        _ => bail!("usage: bench_queue <flashdb|redis> <port> [producers] [consumers] [messages]"),
    };
    let port = arg(2, 6379)? as u16;
    let producers = arg(3, 50)?.max(1);
    let consumers = arg(4, 50)?.max(1);
    let total = arg(5, 100_000)? / producers * producers;
    let batch = arg(6, 1)?.max(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let done = Arc::new(AtomicU64::new(0));
    let end = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..consumers {
            let (done, end) = (done.clone(), end.clone());
            tasks.push(tokio::spawn(consumer(
                flash, port, done, total, start, end, batch,
            )));
        }
        let per = total / producers;
        for i in 0..producers {
            tasks.push(tokio::spawn(producer(flash, port, i * per, per)));
        }
        for t in tasks {
            t.await??;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let secs = end.load(Ordering::Relaxed) as f64 / 1e9;
    let n = done.load(Ordering::Relaxed);
    if n != total {
        bail!("{n} of {total} messages acknowledged");
    }
    println!("{:.0}", n as f64 / secs);
    Ok(())
}
