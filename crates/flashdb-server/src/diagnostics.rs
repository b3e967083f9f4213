//! `SLOWLOG`, `LATENCY` and `MEMORY`: the slow log, the latency monitor and the memory
//! reports, as Redis answers them.

use std::sync::Arc;

use flashdb_core::table::{all_specs, command_index};
use flashdb_core::CommandSpec;

use crate::connection::ConnState;
use crate::server::Server;

const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

const LATENCY_HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
];

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

fn help(st: &mut ConnState, lines: &[&str]) {
    st.out.array(lines.len());
    for l in lines {
        st.out.simple(l.as_bytes());
    }
}

/// Runs a `SLOWLOG` or `LATENCY` subcommand (`name` is `slowlog|get`, ...).
pub fn run(server: &Arc<Server>, st: &mut ConnState, name: &str, args: &[&[u8]]) {
    match name {
        "slowlog|get" => slowlog_get(server, st, args),
        "slowlog|len" => st.out.int(server.slowlog.len() as i64),
        "slowlog|reset" => {
            server.slowlog.reset();
            st.out.ok();
        }
        "slowlog|help" => help(st, SLOWLOG_HELP),
        "latency|latest" => {
            let all = server.latency.all();
            st.out.array(all.len());
            for (event, s) in all {
                let (time, ms) = s.samples.last().copied().unwrap_or_default();
                st.out.array(4);
                st.out.bulk(event.as_bytes());
                st.out.int(time as i64);
                st.out.int(ms as i64);
                st.out.int(s.max as i64);
            }
        }
        "latency|history" => {
            let samples = server
                .latency
                .series(args[2])
                .map(|s| s.samples)
                .unwrap_or_default();
            st.out.array(samples.len());
            for (time, ms) in samples {
                st.out.array(2);
                st.out.int(time as i64);
                st.out.int(ms as i64);
            }
        }
        "latency|reset" => {
            let n = server.latency.reset(&args[2..]);
            st.out.int(n as i64);
        }
        "latency|doctor" => st.out.verbatim(server.latency.doctor().as_bytes()),
        "latency|graph" => match server.latency.graph(args[2]) {
            Some(g) => st.out.verbatim(g.as_bytes()),
            None => st.out.error(&format!(
                "ERR No samples available for event '{}'",
                String::from_utf8_lossy(args[2])
            )),
        },
        "latency|histogram" => latency_histogram(server, st, &args[2..]),
        "latency|help" => help(st, LATENCY_HELP),
        "memory|stats" => memory_stats(server, st),
        "memory|doctor" => st.out.verbatim(memory_doctor(server).as_bytes()),
        "memory|malloc-stats" => st.out.verbatim(crate::alloc::malloc_stats().as_bytes()),
        "memory|purge" => {
            if crate::alloc::purge() {
                st.out.ok();
            } else {
                st.out.error("ERR Error purging dirty pages");
            }
        }
        "memory|help" => help(st, MEMORY_HELP),
        _ => st.out.error("ERR unknown subcommand"),
    }
}

fn slowlog_get(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) {
    let count = match args.get(2) {
        None => Some(10),
        Some(a) => match flashdb_core::numeric::parse_int(a) {
            Some(-1) => None,
            Some(n) if n >= 0 => Some(n as usize),
            _ => {
                st.out
                    .error("ERR count should be greater than or equal to -1");
                return;
            }
        },
    };
    let entries = server.slowlog.newest(count);
    st.out.array(entries.len());
    for e in entries {
        st.out.array(6);
        st.out.int(e.id as i64);
        st.out.int(e.time as i64);
        st.out.int(e.micros as i64);
        st.out.array(e.args.len());
        for a in &e.args {
            st.out.bulk(a);
        }
        st.out.bulk(e.addr.as_bytes());
        st.out.bulk(e.name.as_bytes());
    }
}

/// `LATENCY HISTOGRAM [command ...]`: for each command named (every command without
/// names; a container brings its subcommands) that has run since the last `CONFIG
/// RESETSTAT`, its calls and the cumulative distribution of its durations.
fn latency_histogram(server: &Arc<Server>, st: &mut ConnState, names: &[&[u8]]) {
    let has_run =
        |s: &&'static CommandSpec| server.cmdstats[command_index(s)].histogram.cumulative().0 > 0;
    let specs: Vec<&'static CommandSpec> = if names.is_empty() {
        all_specs().iter().copied().filter(has_run).collect()
    } else {
        let mut v = Vec::new();
        for n in names {
            let Some(spec) = flashdb_core::table::lookup(n) else {
                continue;
            };
            v.push(spec);
            v.extend(spec.subcommands.iter());
        }
        v.retain(has_run);
        v
    };
    st.out.map(specs.len());
    for spec in specs {
        let (calls, cdf) = server.cmdstats[command_index(spec)].histogram.cumulative();
        st.out.bulk(spec.name.as_bytes());
        st.out.map(2);
        st.out.bulk(b"calls");
        st.out.int(calls as i64);
        st.out.bulk(b"histogram_usec");
        st.out.map(cdf.len());
        for (label, n) in cdf {
            st.out.int(label as i64);
            st.out.int(n as i64);
        }
    }
}

/// Below this much allocated memory, `MEMORY DOCTOR` has nothing to say (as Redis).
const DOCTOR_MIN_BYTES: usize = 5 * 1024 * 1024;

/// `MEMORY DOCTOR`: Redis's report, from the allocator's figures.
fn memory_doctor(server: &Server) -> String {
    let a = crate::alloc::allocator_stats();
    let used = crate::alloc::allocated();
    if used < DOCTOR_MIN_BYTES {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
    }
    let mut issues = Vec::new();
    let peak = crate::alloc::peak();
    if peak > used.saturating_mul(3) / 2 {
        issues.push(format!(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance. (peak {peak} bytes, now {used})\n\n"));
    }
    if a.resident > used.saturating_mul(14) / 10 && a.resident - used > 10 * 1024 * 1024 {
        issues.push(format!(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.4 ({} resident bytes for {used} allocated). Run MEMORY PURGE to return the allocator's unused pages to the system.\n\n", a.resident));
    }
    let clients = server.clients.lock().len();
    if clients > 1000 {
        issues.push(format!(
            " * Many clients: {clients} clients are connected; each costs buffers.\n\n"
        ));
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
    }
    format!(
        "Sam, I detected a few issues in this Redis instance memory implants:\n\n{}I'm here to keep you safe, Sam. I want to help you.\n",
        issues.concat()
    )
}

/// `MEMORY STATS`: Redis's fields that mean something here.
fn memory_stats(server: &Server, st: &mut ConnState) {
    let a = crate::alloc::allocator_stats();
    let used = crate::alloc::allocated() as i64;
    let peak = crate::alloc::peak() as i64;
    let counts = server.ks.db_counts();
    let keys: i64 = counts.iter().map(|(n, _)| *n as i64).sum();
    let overhead = (keys as usize * std::mem::size_of::<flashdb_core::db::Entry>()) as i64;
    let dataset = (used - overhead).max(0);
    let pct = |a: i64, b: i64| {
        if b > 0 {
            a as f64 * 100.0 / b as f64
        } else {
            0.0
        }
    };
    let dbs: Vec<(usize, usize, usize)> = counts
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| *n > 0)
        .map(|(i, (n, e))| (i, *n, *e))
        .collect();
    let ints: [(&str, i64); 8] = [
        ("peak.allocated", peak),
        ("total.allocated", used),
        ("startup.allocated", server.startup_allocated as i64),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
    ];
    st.out.map(ints.len() + 13 + dbs.len());
    for (k, v) in ints {
        st.out.bulk(k.as_bytes());
        st.out.int(v);
    }
    st.out.bulk(b"functions.caches");
    st.out.int(0);
    for (i, n, e) in &dbs {
        st.out.bulk(format!("db.{i}").as_bytes());
        st.out.map(2);
        st.out.bulk(b"overhead.hashtable.main");
        st.out
            .int((n * std::mem::size_of::<flashdb_core::db::Entry>()) as i64);
        st.out.bulk(b"overhead.hashtable.expires");
        st.out.int((e * 16) as i64);
    }
    st.out.bulk(b"overhead.total");
    st.out.int(overhead + server.startup_allocated as i64);
    st.out.bulk(b"keys.count");
    st.out.int(keys);
    st.out.bulk(b"keys.bytes-per-key");
    st.out.int(if keys > 0 {
        (used - server.startup_allocated as i64).max(0) / keys
    } else {
        0
    });
    st.out.bulk(b"dataset.bytes");
    st.out.int(dataset);
    st.out.bulk(b"dataset.percentage");
    st.out.double(pct(dataset, used));
    st.out.bulk(b"peak.percentage");
    st.out.double(pct(used, peak));
    st.out.bulk(b"allocator.allocated");
    st.out.int(a.allocated as i64);
    st.out.bulk(b"allocator.active");
    st.out.int(a.active as i64);
    st.out.bulk(b"allocator.resident");
    st.out.int(a.resident as i64);
    st.out.bulk(b"allocator-fragmentation.ratio");
    st.out.double(if a.allocated > 0 {
        a.active as f64 / a.allocated as f64
    } else {
        0.0
    });
    st.out.bulk(b"allocator.retained");
    st.out.int(a.retained as i64);
    st.out.bulk(b"allocator.metadata");
    st.out.int(a.metadata as i64);
}
