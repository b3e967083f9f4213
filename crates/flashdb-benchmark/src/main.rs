//! `flashdb-benchmark`: a load generator for FlashDB and any RESP server, in the spirit of
//! memtier_benchmark. Threads × connections send a workload in pipelined batches for a
//! duration or a number of requests; it reports throughput and latency percentiles per
//! command (from HDR histograms), as a table or as JSON.

mod conn;
mod report;
mod workload;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;

use conn::Shared;
use workload::{KeyDistribution, Workload};

/// How long consumers may take, once producers stop, to consume what is left.
const DRAIN: Duration = Duration::from_secs(30);

/// Command-line settings.
#[derive(Debug, Parser)]
#[command(
    name = "flashdb-benchmark",
    version,
    about = "Load generator for FlashDB and any RESP server: throughput and latency percentiles per command",
    long_about = "Load generator for FlashDB and any RESP server: throughput and latency percentiles per command.\n\nShort flags follow redis-benchmark's where it has them: -h host, -p port, -a password, -c clients, -n requests, -d data size, -P pipeline, -r key space.",
    disable_help_flag = true
)]
pub struct Settings {
    /// Server host.
    #[arg(short = 'h', long = "host", default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(short, long, default_value_t = 6379)]
    pub port: u16,
    /// Password (AUTH).
    #[arg(short = 'a', long)]
    pub password: Option<String>,
    /// Database number (SELECT).
    #[arg(long = "dbnum", default_value_t = 0)]
    pub db: u32,
    /// Load-generator threads.
    #[arg(short, long, default_value_t = 1)]
    pub threads: usize,
    /// Connections per thread.
    #[arg(short, long, default_value_t = 50)]
    pub connections: usize,
    /// Requests sent together per connection (pipeline depth); for the queue workload,
    /// the batch a consumer reserves.
    #[arg(short = 'P', long, default_value_t = 1)]
    pub pipeline: usize,
    /// Stop after this many requests in all (messages, for the queue workload).
    #[arg(short = 'n', long, conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Stop after this many seconds [default: 10 when --requests is not given].
    #[arg(short = 'D', long)]
    pub duration: Option<f64>,
    /// What to send.
    #[arg(short, long, value_enum, default_value_t = Workload::String)]
    pub workload: Workload,
    /// Writes to reads, as W:R (SET:GET for the string workload).
    #[arg(long, default_value = "1:10", value_parser = parse_ratio)]
    pub ratio: (u64, u64),
    /// Number of distinct keys (the key space).
    #[arg(short = 'r', long, default_value_t = 100_000)]
    pub keys: u64,
    /// How keys are picked.
    #[arg(long, value_enum, default_value_t = KeyDistribution::Uniform)]
    pub distribution: KeyDistribution,
    /// Exponent of the Zipf distribution (above 0).
    #[arg(long, default_value_t = 0.99)]
    pub zipf_exponent: f64,
    /// Size of written values, in bytes.
    #[arg(short = 'd', long = "data-size", default_value_t = 3)]
    pub data_size: usize,
    /// Prefix of every key the benchmark touches; every key under it is removed when the
    /// run ends, unless --keep is given.
    #[arg(long, default_value = "bench:")]
    pub key_prefix: String,
    /// Leave the keys the run wrote in place (to inspect them, or for a read-only run
    /// after a loading one).
    #[arg(long)]
    pub keep: bool,
    /// Random seed (runs with the same seed send the same keys).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the results as JSON on standard output.
    #[arg(long)]
    pub json: bool,
    /// No progress line.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

fn parse_ratio(s: &str) -> Result<(u64, u64), String> {
    let (w, r) = s.split_once(':').ok_or("expected W:R, such as 1:10")?;
    let w: u64 = w
        .trim()
        .parse()
        .map_err(|_| format!("invalid write share {w:?}"))?;
    let r: u64 = r
        .trim()
        .parse()
        .map_err(|_| format!("invalid read share {r:?}"))?;
    if w + r == 0 {
        return Err("W:R cannot be 0:0".into());
    }
    Ok((w, r))
}

fn validate(s: &Settings) -> anyhow::Result<()> {
    if s.threads == 0 || s.threads > 256 {
        bail!("--threads must be between 1 and 256");
    }
    if s.connections == 0 || s.threads * s.connections > 100_000 {
        bail!("--connections must be at least 1, and threads × connections at most 100000");
    }
    if s.pipeline == 0 || s.pipeline > 10_000 {
        bail!("--pipeline must be between 1 and 10000");
    }
    if s.data_size > 512 << 20 {
        bail!("--data-size must be at most 512mb");
    }
    if s.keys == 0 {
        bail!("--keys must be at least 1");
    }
    if let Some(d) = s.duration {
        if d.is_nan() || d <= 0.0 || d > 86_400.0 {
            bail!("--duration must be between 0 and 86400 seconds");
        }
    }
    if s.requests == Some(0) {
        bail!("--requests must be at least 1");
    }
    if s.distribution == KeyDistribution::Zipf
        && (s.zipf_exponent.is_nan() || s.zipf_exponent <= 0.0)
    {
        bail!("--zipf-exponent must be above 0");
    }
    if s.key_prefix.is_empty() && !s.keep {
        bail!("--key-prefix cannot be empty unless --keep is given: every key under the prefix is removed when the run ends");
    }
    if s.workload.producers_and_consumers() && s.threads * s.connections < 2 {
        bail!(
            "the queue and stream workloads need at least 2 connections (producers and consumers)"
        );
    }
    Ok(())
}

fn main() {
    let settings = Settings::parse();
    match run(settings) {
        Ok(ok) => std::process::exit(if ok { 0 } else { 1 }),
        Err(e) => {
            eprintln!("flashdb-benchmark: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Runs the benchmark; returns false when every request failed.
fn run(settings: Settings) -> anyhow::Result<bool> {
    validate(&settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.threads)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let s = Arc::new(settings);
    runtime.block_on(async move {
        let shared = Arc::new(Shared::default());
        shared.budget.store(
            s.requests
                .map_or(i64::MAX, |r| i64::try_from(r).unwrap_or(i64::MAX)),
            Ordering::Relaxed,
        );
        let total = s.threads * s.connections;
        if s.workload.producers_and_consumers() {
            // Even connections produce, odd ones consume (see `conn::run`).
            shared.producers.store(total.div_ceil(2), Ordering::Relaxed);
            shared.consumers.store(total / 2, Ordering::Relaxed);
        }
        if s.workload == Workload::Stream {
            conn::create_stream_group(&s).await?;
        }
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(total);
        for i in 0..total as u64 {
            tasks.push(tokio::spawn(conn::run(s.clone(), shared.clone(), i)));
        }
        let duration = match (s.duration, s.requests) {
            (Some(d), _) => Some(Duration::from_secs_f64(d)),
            (None, None) => Some(Duration::from_secs(10)),
            (None, Some(_)) => None,
        };
        let progress = tokio::spawn(report::progress(shared.clone(), started, s.quiet || s.json));
        let stopper = {
            let shared = shared.clone();
            let s = s.clone();
            tokio::spawn(async move {
                match duration {
                    Some(d) => tokio::time::sleep(d).await,
                    None => {
                        // With --requests, the run ends when the budget is spent.
                        while shared.budget.load(Ordering::Relaxed) > 0
                            && !shared.stop.load(Ordering::Relaxed)
                        {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
                if s.workload.producers_and_consumers() {
                    // Producers stop; consumers take what is left, then stop by
                    // themselves (or at the drain deadline, if they cannot keep up).
                    shared.stop_producing.store(true, Ordering::Relaxed);
                    let deadline = Instant::now() + DRAIN;
                    while shared.consumers.load(Ordering::Acquire) > 0 && Instant::now() < deadline
                    {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                shared.stop.store(true, Ordering::Relaxed);
            })
        };
        let mut merged = report::Merged::default();
        let mut failure = None;
        for t in tasks {
            match t.await {
                Ok(Ok(stats)) => merged.add(stats)?,
                Ok(Err(e)) => {
                    shared.stop.store(true, Ordering::Relaxed);
                    failure.get_or_insert(e);
                }
                Err(e) => {
                    shared.stop.store(true, Ordering::Relaxed);
                    failure.get_or_insert(anyhow::anyhow!("a connection task failed: {e}"));
                }
            }
        }
        let elapsed = started.elapsed();
        shared.stop.store(true, Ordering::Relaxed);
        stopper.abort();
        progress.abort();
        if let Some(e) = failure {
            if merged.is_empty() {
                return Err(e);
            }
            eprintln!("flashdb-benchmark: a connection failed: {e:#}");
        }
        let out = merged.render(&s, elapsed, shared.first_error.get().map(String::as_str));
        println!("{out}");
        if s.workload.producers_and_consumers() {
            let left = shared
                .produced
                .load(Ordering::Relaxed)
                .saturating_sub(shared.consumed.load(Ordering::Relaxed));
            if left > 0 {
                eprintln!(
                    "flashdb-benchmark: {left} messages were produced but not consumed within {} s",
                    DRAIN.as_secs()
                );
            }
        }
        if !s.keep {
            let removed = conn::remove_keys(&s)
                .await
                .context("cannot remove the benchmark's keys (--keep leaves them)")?;
            if !s.quiet && !s.json {
                eprintln!(
                    "removed {removed} keys under {:?} (--keep leaves them)",
                    s.key_prefix
                );
            }
        }
        Ok(merged.any_success())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own consistency checks (unique short flags, valid defaults).
    #[test]
    fn flags_are_consistent() {
        use clap::CommandFactory;
        Settings::command().debug_assert();
    }

    #[test]
    fn ratios_parse() {
        assert_eq!(parse_ratio("1:10"), Ok((1, 10)));
        assert_eq!(parse_ratio(" 0 : 1 "), Ok((0, 1)));
        assert!(parse_ratio("0:0").is_err());
        assert!(parse_ratio("3").is_err());
        assert!(parse_ratio("a:1").is_err());
    }
}
