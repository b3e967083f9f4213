//! Progress while running, and the results: per command, throughput and latency
//! percentiles from the merged HDR histograms, as a table or as JSON.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;

use crate::conn::{ConnStats, Shared};
use crate::Settings;

/// Prints a progress line on standard error once a second until aborted.
pub async fn progress(shared: Arc<Shared>, started: Instant, quiet: bool) {
    if quiet {
        return;
    }
    let mut last = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let done = shared.done.load(Ordering::Relaxed);
        let errors = shared.errors.load(Ordering::Relaxed);
        let secs = started.elapsed().as_secs_f64();
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r[{secs:6.1}s] {:>12} requests  {:>10} req/s now  {:>10.0} req/s overall  {errors} errors   ",
            done,
            done - last,
            done as f64 / secs.max(1e-9),
        );
        let _ = err.flush();
        last = done;
    }
}

/// Every connection's figures, merged by command.
#[derive(Default)]
pub struct Merged {
    by_command: BTreeMap<&'static str, (Histogram<u64>, u64)>,
}

impl Merged {
    /// Adds one connection's figures.
    pub fn add(&mut self, stats: ConnStats) -> anyhow::Result<()> {
        for (name, s) in stats {
            match self.by_command.get_mut(name) {
                Some((h, e)) => {
                    h.add(&s.latency)?;
                    *e += s.errors;
                }
                None => {
                    self.by_command.insert(name, (s.latency, s.errors));
                }
            }
        }
        Ok(())
    }

    /// Whether no figure was gathered.
    pub fn is_empty(&self) -> bool {
        self.by_command.is_empty()
    }

    /// Whether at least one request got an answer that was not an error.
    pub fn any_success(&self) -> bool {
        self.by_command.values().any(|(h, e)| h.len() > *e)
    }

    /// The results, as a table or JSON.
    pub fn render(&self, s: &Settings, elapsed: Duration, first_error: Option<&str>) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let rows: Vec<(&str, u64, f64, u64, [f64; 4])> = self
            .by_command
            .iter()
            .map(|(name, (h, errors))| {
                let latency = if *name == "messages" {
                    [0.0; 4]
                } else {
                    [
                        ms(h, 0.5),
                        ms(h, 0.99),
                        ms(h, 0.999),
                        h.max() as f64 / 1000.0,
                    ]
                };
                (*name, h.len(), h.len() as f64 / secs, *errors, latency)
            })
            .collect();
        let total: u64 = rows.iter().filter(|r| r.0 != "messages").map(|r| r.1).sum();
        if s.json {
            let commands: serde_json::Map<String, serde_json::Value> = rows
                .iter()
                .map(|(name, count, rate, errors, l)| {
                    let v = if *name == "messages" {
                        json!({"count": count, "per_sec": rate})
                    } else {
                        json!({"count": count, "per_sec": rate, "errors": errors, "p50_ms": l[0], "p99_ms": l[1], "p999_ms": l[2], "max_ms": l[3]})
                    };
                    (name.to_string(), v)
                })
                .collect();
            return json!({
                "workload": format!("{:?}", s.workload).to_lowercase(),
                "threads": s.threads,
                "connections": s.threads * s.connections,
                "pipeline": s.pipeline,
                "data_size": s.data_size,
                "elapsed_s": secs,
                "requests": total,
                "requests_per_sec": total as f64 / secs,
                "commands": commands,
                "first_error": first_error,
            })
            .to_string();
        }
        let mut out = String::new();
        out.push_str(&format!(
            "\n{} connections ({} threads × {}), pipeline {}, {} s, workload {:?}\n\n",
            s.threads * s.connections,
            s.threads,
            s.connections,
            s.pipeline,
            (secs * 100.0).round() / 100.0,
            s.workload
        ));
        out.push_str(&format!(
            "{:<10} {:>12} {:>12} {:>8} {:>9} {:>9} {:>9} {:>9}\n",
            "command", "requests", "per sec", "errors", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
        ));
        for (name, count, rate, errors, l) in &rows {
            if *name == "messages" {
                out.push_str(&format!(
                    "{:<10} {:>12} {:>12.0}   (acknowledged)\n",
                    name, count, rate
                ));
            } else {
                out.push_str(&format!(
                    "{:<10} {:>12} {:>12.0} {:>8} {:>9.3} {:>9.3} {:>9.3} {:>9.3}\n",
                    name, count, rate, errors, l[0], l[1], l[2], l[3]
                ));
            }
        }
        out.push_str(&format!(
            "{:<10} {:>12} {:>12.0}\n",
            "total",
            total,
            total as f64 / secs
        ));
        out
    }
}
