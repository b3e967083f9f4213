//! One benchmark connection: sends its workload's commands in pipelined batches and times
//! each batch's round trip.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use flashdb_protocol::{encode_command, parse_frame, Frame};
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::workload::{build, command_names, KeyPicker, Workload};
use crate::Settings;

/// State shared by every connection.
#[derive(Debug, Default)]
pub struct Shared {
    /// Set when the run is over (duration passed, or every producer is done).
    pub stop: AtomicBool,
    /// Requests left to send (with `--requests`), taken a batch at a time.
    pub budget: AtomicI64,
    /// Requests answered so far, for the progress line.
    pub done: AtomicU64,
    /// Error replies so far.
    pub errors: AtomicU64,
    /// The first error reply, to show what went wrong.
    pub first_error: std::sync::OnceLock<String>,
    /// Set when producers must stop adding (duration passed): consumers go on until they
    /// have taken what was produced.
    pub stop_producing: AtomicBool,
    /// Producers still running (queue and stream workloads).
    pub producers: AtomicUsize,
    /// Consumers still running.
    pub consumers: AtomicUsize,
    /// Messages added (successful `QADD`/`XADD` replies).
    pub produced: AtomicU64,
    /// Messages acknowledged.
    pub consumed: AtomicU64,
}

impl Shared {
    /// Whether a consumer is done: every producer has ended and everything they added
    /// was acknowledged, or the run was stopped.
    fn consumers_done(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
            || (self.producers.load(Ordering::Acquire) == 0
                && self.consumed.load(Ordering::Relaxed) >= self.produced.load(Ordering::Relaxed))
    }

    /// Keeps `reply` if it is the first error reply seen.
    fn note_error(&self, reply: &Frame) {
        if let Frame::Error(e) = reply {
            let _ = self
                .first_error
                .set(String::from_utf8_lossy(e).into_owned());
        }
    }
}

/// A command's figures on one connection.
pub struct CommandStats {
    /// Round-trip latencies in microseconds.
    pub latency: Histogram<u64>,
    /// Error replies.
    pub errors: u64,
}

impl CommandStats {
    fn new() -> anyhow::Result<CommandStats> {
        Ok(CommandStats {
            // 1 µs to 1 minute, 3 significant figures.
            latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            errors: 0,
        })
    }
}

/// The figures of one connection, by command name.
pub type ConnStats = HashMap<&'static str, CommandStats>;

/// A RESP connection with a read buffer.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

impl Conn {
    /// Connects, authenticates and selects the database.
    pub async fn open(s: &Settings) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect((s.host.as_str(), s.port))
            .await
            .with_context(|| format!("cannot connect to {}:{}", s.host, s.port))?;
        stream.set_nodelay(true)?;
        let mut c = Conn {
            stream,
            buf: Vec::with_capacity(64 * 1024),
            start: 0,
        };
        if let Some(pass) = &s.password {
            c.expect_ok(&[b"AUTH".as_slice(), pass.as_bytes()]).await?;
        }
        if s.db != 0 {
            c.expect_ok(&[b"SELECT".as_slice(), s.db.to_string().as_bytes()])
                .await?;
        }
        Ok(c)
    }

    async fn expect_ok(&mut self, args: &[&[u8]]) -> anyhow::Result<()> {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        match self.call(&out).await? {
            Frame::Error(e) => bail!(
                "{}: {}",
                String::from_utf8_lossy(args[0]),
                String::from_utf8_lossy(&e)
            ),
            _ => Ok(()),
        }
    }

    /// Reads one reply.
    pub async fn read_reply(&mut self) -> anyhow::Result<Frame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf[self.start..])? {
                self.start += used;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                return Ok(frame);
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                bail!("the server closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends one encoded command and reads its reply.
    pub async fn call(&mut self, out: &[u8]) -> anyhow::Result<Frame> {
        self.stream.write_all(out).await?;
        self.read_reply().await
    }

    /// Sends `out` and reads `n` replies.
    pub async fn round_trip(&mut self, out: &[u8], n: usize) -> anyhow::Result<Vec<Frame>> {
        self.stream.write_all(out).await?;
        let mut replies = Vec::with_capacity(n);
        for _ in 0..n {
            replies.push(self.read_reply().await?);
        }
        Ok(replies)
    }
}

/// Takes up to `want` requests from the budget; 0 when it is spent.
fn take(shared: &Shared, want: usize) -> usize {
    let before = shared.budget.fetch_sub(want as i64, Ordering::Relaxed);
    if before <= 0 {
        0
    } else {
        (before as usize).min(want)
    }
}

/// The figures of `name`, created on first use.
fn entry<'a>(stats: &'a mut ConnStats, name: &'static str) -> anyhow::Result<&'a mut CommandStats> {
    use std::collections::hash_map::Entry;
    Ok(match stats.entry(name) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(v) => v.insert(CommandStats::new()?),
    })
}

/// Records a reply of command `name` that took `micros`: its latency, and whether it is
/// an error (counted here and in `shared`, and kept if it is the first). Returns whether
/// it was an error.
fn record(
    stats: &mut ConnStats,
    shared: &Shared,
    name: &'static str,
    micros: u64,
    reply: &Frame,
) -> anyhow::Result<bool> {
    let error = matches!(reply, Frame::Error(_));
    if error {
        shared.note_error(reply);
        shared.errors.fetch_add(1, Ordering::Relaxed);
    }
    let s = entry(stats, name)?;
    s.latency.saturating_record(micros.max(1));
    s.errors += u64::from(error);
    Ok(error)
}

/// Runs a read/write workload until the budget is spent or the run stops.
pub async fn run_mixed(
    s: Arc<Settings>,
    shared: Arc<Shared>,
    index: u64,
) -> anyhow::Result<ConnStats> {
    let mut conn = Conn::open(&s).await?;
    let mut stats = ConnStats::new();
    let mut rng = SmallRng::seed_from_u64(s.seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut keys = KeyPicker::new(s.keys, s.distribution, s.zipf_exponent, index * 7919)?;
    let value = vec![b'x'; s.data_size];
    let (write_name, read_name) = command_names(s.workload);
    let write_share = s.ratio.0 as f64 / (s.ratio.0 + s.ratio.1).max(1) as f64;
    let mut out = Vec::with_capacity(s.pipeline * (64 + s.data_size));
    let mut kinds = Vec::with_capacity(s.pipeline);
    while !shared.stop.load(Ordering::Relaxed) {
        let n = take(&shared, s.pipeline);
        if n == 0 {
            break;
        }
        out.clear();
        kinds.clear();
        for _ in 0..n {
            let write = rng.gen::<f64>() < write_share;
            build(
                s.workload,
                write,
                keys.pick(&mut rng),
                &value,
                &s.key_prefix,
                &mut out,
            );
            kinds.push(if write { write_name } else { read_name });
        }
        let started = Instant::now();
        let replies = conn.round_trip(&out, n).await?;
        let micros = started.elapsed().as_micros() as u64;
        for (name, reply) in kinds.iter().zip(&replies) {
            record(&mut stats, &shared, name, micros, reply)?;
        }
        shared.done.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(stats)
}

/// A producer: sends the command `args` (`QADD queue payload`, `XADD stream * ...`) in
/// pipelined batches, each taking one request of the budget.
async fn run_adder(
    s: Arc<Settings>,
    shared: Arc<Shared>,
    name: &'static str,
    args: &[&[u8]],
) -> anyhow::Result<ConnStats> {
    let _running = Running::new(&shared.producers);
    let mut conn = Conn::open(&s).await?;
    let mut stats = ConnStats::new();
    let mut out = Vec::new();
    while !shared.stop.load(Ordering::Relaxed) && !shared.stop_producing.load(Ordering::Relaxed) {
        let n = take(&shared, s.pipeline);
        if n == 0 {
            break;
        }
        out.clear();
        for _ in 0..n {
            encode_command(&mut out, args);
        }
        let started = Instant::now();
        let replies = conn.round_trip(&out, n).await?;
        let micros = started.elapsed().as_micros() as u64;
        let mut added = 0;
        for reply in &replies {
            added += u64::from(!record(&mut stats, &shared, name, micros, reply)?);
        }
        shared.produced.fetch_add(added, Ordering::Relaxed);
        shared.done.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(stats)
}

/// Counts a producer or consumer out of its running count (set before any starts, so that
/// no consumer sees zero producers before they begin) when dropped, however its loop ends.
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn new(count: &'a AtomicUsize) -> Running<'a> {
        Running(count)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A queue producer: `QADD`s.
pub async fn run_producer(s: Arc<Settings>, shared: Arc<Shared>) -> anyhow::Result<ConnStats> {
    let value = vec![b'x'; s.data_size];
    let queue = format!("{}queue", s.key_prefix);
    run_adder(
        s,
        shared,
        "QADD",
        &[b"QADD".as_slice(), queue.as_bytes(), &value],
    )
    .await
}

/// A queue consumer: reserves up to `--pipeline` messages (waiting up to 100 ms), then
/// acknowledges them all with one `QACK`, until the run stops.
pub async fn run_consumer(s: Arc<Settings>, shared: Arc<Shared>) -> anyhow::Result<ConnStats> {
    let _running = Running::new(&shared.consumers);
    let mut conn = Conn::open(&s).await?;
    let mut stats = ConnStats::new();
    let queue = format!("{}queue", s.key_prefix);
    let count = s.pipeline.to_string();
    let mut out = Vec::new();
    while !shared.consumers_done() {
        out.clear();
        encode_command(
            &mut out,
            &[
                b"QRESERVE".as_slice(),
                queue.as_bytes(),
                b"COUNT",
                count.as_bytes(),
                b"LEASE",
                b"30000",
                b"BLOCK",
                b"100",
            ],
        );
        let started = Instant::now();
        let reply = conn.call(&out).await?;
        let micros = started.elapsed().as_micros() as u64;
        if record(&mut stats, &shared, "QRESERVE", micros, &reply)? {
            // Not a FlashDB server (or not a queue): nothing to consume.
            break;
        }
        let ids: Vec<Vec<u8>> = match reply {
            Frame::Array(msgs) => msgs
                .into_iter()
                .filter_map(|m| match m {
                    Frame::Array(mut parts) if !parts.is_empty() => match parts.swap_remove(0) {
                        Frame::Bulk(id) => Some(id),
                        _ => None,
                    },
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        if ids.is_empty() {
            continue;
        }
        out.clear();
        let mut args: Vec<&[u8]> = vec![b"QACK", queue.as_bytes()];
        args.extend(ids.iter().map(Vec::as_slice));
        encode_command(&mut out, &args);
        let started = Instant::now();
        let reply = conn.call(&out).await?;
        let micros = started.elapsed().as_micros() as u64;
        record(&mut stats, &shared, "QACK", micros, &reply)?;
        shared.done.fetch_add(2, Ordering::Relaxed);
        if let Frame::Integer(n) = reply {
            // Messages acknowledged: the queue workload's throughput.
            shared
                .consumed
                .fetch_add(n.max(0) as u64, Ordering::Relaxed);
            record_many(&mut stats, "messages", n.max(0) as u64)?;
        }
    }
    Ok(stats)
}

/// Counts `n` events under `name` without a latency of their own.
fn record_many(stats: &mut ConnStats, name: &'static str, n: u64) -> anyhow::Result<()> {
    entry(stats, name)?.latency.record_n(1, n)?;
    Ok(())
}

/// The stream workload's key and group.
fn stream_names(s: &Settings) -> (String, &'static [u8]) {
    (format!("{}stream", s.key_prefix), b"workers")
}

/// Creates the stream workload's group (and stream) where new entries start; one left
/// by an earlier run is kept.
pub async fn create_stream_group(s: &Settings) -> anyhow::Result<()> {
    let mut conn = Conn::open(s).await?;
    let (key, group) = stream_names(s);
    let mut out = Vec::new();
    encode_command(
        &mut out,
        &[
            b"XGROUP".as_slice(),
            b"CREATE",
            key.as_bytes(),
            group,
            b"$",
            b"MKSTREAM",
        ],
    );
    match conn.call(&out).await? {
        Frame::Error(e) if !e.starts_with(b"BUSYGROUP") => {
            anyhow::bail!("XGROUP CREATE: {}", String::from_utf8_lossy(&e))
        }
        _ => Ok(()),
    }
}

/// A stream producer: `XADD`s.
pub async fn run_stream_producer(
    s: Arc<Settings>,
    shared: Arc<Shared>,
) -> anyhow::Result<ConnStats> {
    let value = vec![b'x'; s.data_size];
    let (key, _) = stream_names(&s);
    let args: [&[u8]; 5] = [b"XADD", key.as_bytes(), b"*", b"payload", &value];
    run_adder(s.clone(), shared, "XADD", &args).await
}

/// A stream consumer of the group: reads up to `--pipeline` new entries (waiting up to
/// 100 ms), then acknowledges them all with one `XACK`, until the run stops.
pub async fn run_stream_consumer(
    s: Arc<Settings>,
    shared: Arc<Shared>,
    index: u64,
) -> anyhow::Result<ConnStats> {
    let _running = Running::new(&shared.consumers);
    let mut conn = Conn::open(&s).await?;
    let mut stats = ConnStats::new();
    let (key, group) = stream_names(&s);
    let consumer = format!("c{index}");
    let count = s.pipeline.to_string();
    let mut out = Vec::new();
    while !shared.consumers_done() {
        out.clear();
        encode_command(
            &mut out,
            &[
                b"XREADGROUP".as_slice(),
                b"GROUP",
                group,
                consumer.as_bytes(),
                b"COUNT",
                count.as_bytes(),
                b"BLOCK",
                b"100",
                b"STREAMS",
                key.as_bytes(),
                b">",
            ],
        );
        let started = Instant::now();
        let reply = conn.call(&out).await?;
        let micros = started.elapsed().as_micros() as u64;
        if record(&mut stats, &shared, "XREADGROUP", micros, &reply)? {
            break;
        }
        // [[key, [[id, fields], ...]]], or a null when nothing came.
        let ids: Vec<Vec<u8>> = match reply {
            Frame::Array(streams) => streams
                .into_iter()
                .filter_map(|st| match st {
                    Frame::Array(mut kv) if kv.len() == 2 => kv.pop(),
                    _ => None,
                })
                .flat_map(|entries| match entries {
                    Frame::Array(es) => es,
                    _ => Vec::new(),
                })
                .filter_map(|e| match e {
                    Frame::Array(mut parts) if !parts.is_empty() => match parts.swap_remove(0) {
                        Frame::Bulk(id) => Some(id),
                        _ => None,
                    },
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        if ids.is_empty() {
            continue;
        }
        out.clear();
        let mut args: Vec<&[u8]> = vec![b"XACK", key.as_bytes(), group];
        args.extend(ids.iter().map(Vec::as_slice));
        encode_command(&mut out, &args);
        let started = Instant::now();
        let reply = conn.call(&out).await?;
        let micros = started.elapsed().as_micros() as u64;
        record(&mut stats, &shared, "XACK", micros, &reply)?;
        shared.done.fetch_add(2, Ordering::Relaxed);
        if let Frame::Integer(n) = reply {
            shared
                .consumed
                .fetch_add(n.max(0) as u64, Ordering::Relaxed);
            record_many(&mut stats, "messages", n.max(0) as u64)?;
        }
    }
    Ok(stats)
}

/// Removes every key under `--key-prefix` (SCAN, then UNLINK in batches); returns how
/// many went.
pub async fn remove_keys(s: &Settings) -> anyhow::Result<u64> {
    let mut conn = Conn::open(s).await?;
    let mut pattern = Vec::with_capacity(s.key_prefix.len() + 1);
    for b in s.key_prefix.bytes() {
        // The prefix is literal: glob characters in it are escaped.
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            pattern.push(b'\\');
        }
        pattern.push(b);
    }
    pattern.push(b'*');
    let mut cursor = b"0".to_vec();
    let mut removed = 0;
    let mut out = Vec::new();
    loop {
        out.clear();
        encode_command(
            &mut out,
            &[
                b"SCAN".as_slice(),
                &cursor,
                b"MATCH",
                &pattern,
                b"COUNT",
                b"1000",
            ],
        );
        let (next, keys) = match conn.call(&out).await? {
            Frame::Array(mut parts) if parts.len() == 2 => match (parts.remove(0), parts.remove(0))
            {
                (Frame::Bulk(next), Frame::Array(keys)) => (next, keys),
                other => bail!("SCAN: unexpected reply {other:?}"),
            },
            Frame::Error(e) => bail!("SCAN: {}", String::from_utf8_lossy(&e)),
            other => bail!("SCAN: unexpected reply {other:?}"),
        };
        let keys: Vec<Vec<u8>> = keys
            .into_iter()
            .filter_map(|k| match k {
                Frame::Bulk(k) => Some(k),
                _ => None,
            })
            .collect();
        if !keys.is_empty() {
            out.clear();
            let mut args: Vec<&[u8]> = vec![b"UNLINK"];
            args.extend(keys.iter().map(Vec::as_slice));
            encode_command(&mut out, &args);
            match conn.call(&out).await? {
                Frame::Integer(n) => removed += n.max(0) as u64,
                Frame::Error(e) => bail!("UNLINK: {}", String::from_utf8_lossy(&e)),
                _ => {}
            }
        }
        if next == b"0" {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// Which loop a connection runs.
pub async fn run(s: Arc<Settings>, shared: Arc<Shared>, index: u64) -> anyhow::Result<ConnStats> {
    match s.workload {
        Workload::Queue if index.is_multiple_of(2) => run_producer(s, shared).await,
        Workload::Queue => run_consumer(s, shared).await,
        Workload::Stream if index.is_multiple_of(2) => run_stream_producer(s, shared).await,
        Workload::Stream => run_stream_consumer(s, shared, index).await,
        _ => run_mixed(s, shared, index).await,
    }
}
