//! `SLOWLOG` and `LATENCY`: the slow log and the latency monitor, as Redis answers them.

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
