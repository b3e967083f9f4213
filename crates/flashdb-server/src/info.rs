//! `INFO`: the server's state in Redis's text format, so that tools which parse Redis's
//! `INFO` (redis-cli, exporters, client libraries) work unchanged.

use flashdb_core::keyspace::{Locked, Shards};
use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::server::Server;

/// The Redis version FlashDB is compatible with, reported where clients look for one.
pub const REDIS_VERSION: &str = "7.0.15";

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// Bytes in Redis's human format (`1.50M`).
pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{}B", n as u64)
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    }
}

/// Resident set size of this process, from `/proc/self/statm`.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// Renders the requested sections (`default` when none are named).
///
/// Inside `EXEC`, `held` are the transaction's locks (every shard): the keyspace figures
/// are read through them instead of locking shards again.
pub fn render(server: &Server, args: &[&[u8]], held: Option<&Locked<'_>>) -> String {
    let mut wanted: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if wanted.is_empty() || wanted.iter().any(|w| w == "default") {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    if wanted.iter().any(|w| w == "all" || w == "everything") {
        wanted.extend(ALL_SECTIONS.iter().map(|s| s.to_string()));
    }
    let mut out = String::new();
    for section in ALL_SECTIONS {
        if !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        section_text(server, section, held, &mut out);
    }
    out
}

/// The machine's memory (`MemTotal` of `/proc/meminfo`), 0 if unknown.
fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn line(out: &mut String, k: &str, v: impl std::fmt::Display) {
    let _ = write!(out, "{k}:{v}\r\n");
}

/// `INFO replication` of a group node: Redis's fields, then the group's own.
fn group_replication(server: &Server, g: &flashdb_replication::GroupNode, out: &mut String) {
    let m = g.metrics();
    let applied = m.last_applied.map_or(0, |l| l.index);
    let host_port = |id: u64| server.peer_host_port(id);
    let leading = m.current_leader == Some(g.id);
    if leading {
        line(out, "role", "master");
        let followers = g.followers();
        line(out, "connected_slaves", followers.len());
        for (i, (id, matched)) in followers.iter().enumerate() {
            let (host, port) = host_port(*id);
            line(
                out,
                &format!("slave{i}"),
                format!(
                    "ip={host},port={port},state=online,offset={matched},lag={}",
                    m.last_log_index.unwrap_or(0).saturating_sub(*matched)
                ),
            );
        }
        let failover = match g.handover() {
            None => "no-failover",
            Some((_, flashdb_replication::Stage::WaitingForSync)) => "waiting-for-sync",
            Some((_, flashdb_replication::Stage::InProgress)) => "failover-in-progress",
        };
        line(out, "master_failover_state", failover);
    } else {
        line(out, "role", "slave");
        let (host, port) = m.current_leader.map(host_port).unwrap_or_default();
        line(out, "master_host", host);
        line(out, "master_port", port);
        let up = m.current_leader.is_some();
        line(out, "master_link_status", if up { "up" } else { "down" });
        line(out, "slave_repl_offset", applied);
        line(out, "slave_read_only", 1);
        line(out, "connected_slaves", 0);
    }
    line(out, "master_repl_offset", applied);
    line(out, "raft_node_id", g.id);
    line(out, "raft_state", format!("{:?}", m.state).to_lowercase());
    line(out, "raft_term", m.current_term);
    line(out, "raft_leader_id", m.current_leader.unwrap_or(0));
    line(
        out,
        "raft_commit_index",
        g.log.committed().map_or(0, |l| l.index),
    );
    line(out, "raft_applied_index", applied);
    line(out, "raft_last_log_index", m.last_log_index.unwrap_or(0));
    line(
        out,
        "raft_snapshot_index",
        m.snapshot.map_or(0, |l| l.index),
    );
    if let Some(r) = &m.replication {
        for (id, matched) in r {
            let matched = matched.map_or(0, |l| l.index);
            line(out, &format!("raft_peer_{id}_match_index"), matched);
            line(
                out,
                &format!("raft_peer_{id}_lag"),
                m.last_log_index.unwrap_or(0).saturating_sub(matched),
            );
        }
    }
}

fn section_text(server: &Server, section: &str, held: Option<&Locked<'_>>, out: &mut String) {
    let shards = match held {
        Some(l) => l.shards(),
        None => Shards::Each(&server.ks),
    };
    let uptime = server.started.elapsed().as_secs();
    match section {
        "server" => {
            out.push_str("# Server\r\n");
            line(out, "redis_version", REDIS_VERSION);
            line(out, "flashdb_version", env!("CARGO_PKG_VERSION"));
            line(out, "flashdb_commit", env!("FLASHDB_COMMIT"));
            line(out, "redis_git_sha1", "00000000");
            line(out, "redis_git_dirty", 0);
            line(out, "redis_mode", "standalone");
            line(out, "os", std::env::consts::OS);
            line(out, "arch_bits", usize::BITS);
            line(out, "multiplexing_api", "epoll");
            line(out, "process_id", std::process::id());
            line(out, "run_id", &server.run_id);
            line(out, "tcp_port", server.port.load(Ordering::Relaxed));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            line(out, "server_time_usec", now.as_micros());
            line(out, "uptime_in_seconds", uptime);
            line(out, "uptime_in_days", uptime / 86400);
            line(out, "hz", 10);
            line(out, "configured_hz", 10);
            line(out, "lru_clock", server.ks.lru_clock() & 0x00ff_ffff);
            line(
                out,
                "executable",
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            line(
                out,
                "config_file",
                server
                    .config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
        }
        "clients" => {
            out.push_str("# Clients\r\n");
            line(out, "connected_clients", server.clients.lock().len());
            line(out, "maxclients", server.maxclients.load(Ordering::Relaxed));
            line(out, "blocked_clients", server.ks.blocking.blocked());
            line(out, "tracking_clients", server.tracking.clients());
        }
        "memory" => {
            out.push_str("# Memory\r\n");
            let used = crate::alloc::allocated() as u64;
            let rss = rss_bytes();
            let peak = crate::alloc::peak() as u64;
            line(out, "used_memory", used);
            line(out, "used_memory_human", human_bytes(used));
            line(out, "used_memory_rss", rss);
            line(out, "used_memory_rss_human", human_bytes(rss));
            line(out, "used_memory_peak", peak);
            line(out, "used_memory_peak_human", human_bytes(peak));
            let pct = |a: u64, b: u64| {
                if b > 0 {
                    format!("{:.2}%", a as f64 * 100.0 / b as f64)
                } else {
                    "0.00%".into()
                }
            };
            line(out, "used_memory_peak_perc", pct(used, peak));
            let startup = server.startup_allocated as u64;
            line(out, "used_memory_startup", startup);
            let dataset = used.saturating_sub(startup);
            line(out, "used_memory_dataset", dataset);
            line(out, "used_memory_dataset_perc", pct(dataset, used));
            let a = crate::alloc::allocator_stats();
            line(out, "allocator_allocated", a.allocated);
            line(out, "allocator_active", a.active);
            line(out, "allocator_resident", a.resident);
            let ratio = |x: usize, y: usize| {
                if y > 0 {
                    format!("{:.2}", x as f64 / y as f64)
                } else {
                    "0.00".into()
                }
            };
            line(out, "allocator_frag_ratio", ratio(a.active, a.allocated));
            line(
                out,
                "allocator_frag_bytes",
                a.active.saturating_sub(a.allocated),
            );
            line(out, "allocator_rss_ratio", ratio(a.resident, a.active));
            line(
                out,
                "allocator_rss_bytes",
                a.resident.saturating_sub(a.active),
            );
            line(out, "rss_overhead_ratio", ratio(rss as usize, a.resident));
            line(
                out,
                "rss_overhead_bytes",
                (rss as i64) - (a.resident as i64),
            );
            line(out, "mem_fragmentation_bytes", (rss as i64) - (used as i64));
            let total = total_system_memory();
            line(out, "total_system_memory", total);
            line(out, "total_system_memory_human", human_bytes(total));
            let lua = server.scripting.eval_memory();
            line(out, "used_memory_lua", lua);
            line(out, "used_memory_vm_eval", lua);
            line(out, "used_memory_lua_human", human_bytes(lua));
            line(
                out,
                "number_of_cached_scripts",
                server.scripting.cached_scripts(),
            );
            line(
                out,
                "number_of_functions",
                server.scripting.functions_count(),
            );
            line(
                out,
                "number_of_libraries",
                server.scripting.libraries_count(),
            );
            line(
                out,
                "used_memory_vm_functions",
                server.scripting.functions_memory(),
            );
            let max = server.eviction.maxmemory.load(Ordering::Relaxed);
            line(out, "maxmemory", max);
            line(out, "maxmemory_human", human_bytes(max));
            line(out, "maxmemory_policy", server.eviction.policy().name());
            // Key slots freed by deletions, kept for new keys.
            line(
                out,
                "mem_not_counted_for_evict",
                flashdb_core::db::vacant_bytes(),
            );
            let frag = if used > 0 {
                rss as f64 / used as f64
            } else {
                0.0
            };
            line(out, "mem_fragmentation_ratio", format!("{frag:.2}"));
            line(out, "mem_allocator", "jemalloc-5.3.1");
        }
        "persistence" => {
            out.push_str("# Persistence\r\n");
            line(out, "loading", u8::from(server.ks.loading()));
            line(out, "async_loading", 0);
            match server.persistence.get() {
                None => {
                    line(out, "rdb_changes_since_last_save", 0);
                    line(out, "rdb_bgsave_in_progress", 0);
                    line(out, "rdb_last_save_time", server.started_unix);
                    line(out, "rdb_last_bgsave_status", "ok");
                    line(out, "aof_enabled", 0);
                    line(out, "aof_rewrite_in_progress", 0);
                    line(out, "aof_last_write_status", "ok");
                    line(
                        out,
                        "flashdb_persistence",
                        if server.config.persistence {
                            "loading"
                        } else {
                            "off"
                        },
                    );
                }
                Some(p) => {
                    let wal = &p.wal;
                    let st = wal.stats();
                    let last = wal.last_seq();
                    let snap_seq = p.last_snapshot_seq.load(Ordering::Relaxed);
                    let fsyncs = st.fsyncs.load(Ordering::Relaxed);
                    let fsync_avg = st
                        .fsync_micros
                        .load(Ordering::Relaxed)
                        .checked_div(fsyncs)
                        .unwrap_or(0);
                    let poisoned = wal.poisoned();
                    line(
                        out,
                        "rdb_changes_since_last_save",
                        last.saturating_sub(snap_seq),
                    );
                    line(
                        out,
                        "rdb_bgsave_in_progress",
                        u8::from(p.snapshot_in_progress()),
                    );
                    line(
                        out,
                        "rdb_last_save_time",
                        p.last_save.load(Ordering::Relaxed),
                    );
                    line(
                        out,
                        "rdb_last_bgsave_status",
                        if p.last_ok.load(Ordering::Relaxed) {
                            "ok"
                        } else {
                            "err"
                        },
                    );
                    line(
                        out,
                        "rdb_last_bgsave_time_sec",
                        p.last_duration_ms.load(Ordering::Relaxed) / 1000,
                    );
                    line(out, "aof_enabled", 1);
                    line(out, "aof_rewrite_in_progress", 0);
                    line(
                        out,
                        "aof_last_write_status",
                        if poisoned.is_some() { "err" } else { "ok" },
                    );
                    line(out, "flashdb_persistence", "on");
                    line(out, "flashdb_appendfsync", wal.policy().name());
                    line(out, "flashdb_log_last_seq", last);
                    line(out, "flashdb_log_segments", wal.segment_count());
                    line(
                        out,
                        "flashdb_log_bytes_written",
                        st.bytes_written.load(Ordering::Relaxed),
                    );
                    line(
                        out,
                        "flashdb_log_bytes_since_snapshot",
                        st.bytes_since_snapshot.load(Ordering::Relaxed),
                    );
                    line(out, "flashdb_log_fsyncs", fsyncs);
                    line(out, "flashdb_log_fsync_avg_usec", fsync_avg);
                    line(
                        out,
                        "flashdb_log_last_fsync_usec",
                        st.last_fsync_micros.load(Ordering::Relaxed),
                    );
                    line(out, "flashdb_log_error", poisoned.as_deref().unwrap_or(""));
                    line(out, "flashdb_snapshot_seq", snap_seq);
                    line(
                        out,
                        "flashdb_snapshots",
                        p.snapshots.load(Ordering::Relaxed),
                    );
                    line(out, "flashdb_recovery_ms", p.recovery_ms);
                    // The ledger hashes durable records in the background: how far behind
                    // the log it is, in records.
                    match &p.ledger {
                        None => line(out, "flashdb_ledger", "off"),
                        Some(l) => {
                            line(out, "flashdb_ledger", "on");
                            line(out, "flashdb_ledger_loaded", u8::from(l.is_loaded()));
                            line(out, "flashdb_ledger_size", l.size());
                            line(out, "flashdb_ledger_lag", l.lag(wal.durable_seq()));
                        }
                    }
                }
            }
        }
        "stats" => {
            out.push_str("# Stats\r\n");
            let ks = shards.stats();
            let s = &server.stats;
            line(
                out,
                "total_connections_received",
                s.connections.load(Ordering::Relaxed),
            );
            line(
                out,
                "total_commands_processed",
                s.commands.load(Ordering::Relaxed),
            );
            line(
                out,
                "instantaneous_ops_per_sec",
                server.ops_per_sec.load(Ordering::Relaxed),
            );
            line(
                out,
                "total_net_input_bytes",
                s.net_input.load(Ordering::Relaxed),
            );
            line(
                out,
                "total_net_output_bytes",
                s.net_output.load(Ordering::Relaxed),
            );
            line(
                out,
                "rejected_connections",
                s.rejected_connections.load(Ordering::Relaxed),
            );
            line(out, "expired_keys", ks.expired);
            line(out, "evicted_keys", ks.evicted);
            line(out, "evicted_clients", 0);
            let (total_us, current_us) = server.eviction.exceeded_us();
            line(out, "total_eviction_exceeded_time", total_us / 1000);
            line(out, "current_eviction_exceeded_time", current_us / 1000);
            line(out, "keyspace_hits", ks.hits);
            line(out, "keyspace_misses", ks.misses);
            line(out, "pubsub_channels", 0);
            line(out, "pubsub_patterns", 0);
            let (keys, items, prefixes) = server.tracking.totals();
            line(out, "tracking_total_keys", keys);
            line(out, "tracking_total_items", items);
            line(out, "tracking_total_prefixes", prefixes);
            line(
                out,
                "total_error_replies",
                s.error_replies.load(Ordering::Relaxed),
            );
            // Redis 7.2's names for ACL denials.
            let d = &server.acl.denials;
            line(
                out,
                "acl_access_denied_auth",
                d.auth.load(Ordering::Relaxed),
            );
            line(
                out,
                "acl_access_denied_cmd",
                d.command.load(Ordering::Relaxed),
            );
            line(out, "acl_access_denied_key", d.key.load(Ordering::Relaxed));
            line(
                out,
                "acl_access_denied_channel",
                d.channel.load(Ordering::Relaxed),
            );
            let r = &server.ratelimits;
            line(
                out,
                "ratelimit_rejected_user",
                r.rejected_user.load(Ordering::Relaxed),
            );
            line(
                out,
                "ratelimit_rejected_address",
                r.rejected_address.load(Ordering::Relaxed),
            );
        }
        "replication" => {
            out.push_str("# Replication\r\n");
            match server.group.get() {
                None => {
                    line(out, "role", "master");
                    line(out, "connected_slaves", 0);
                    line(out, "master_failover_state", "no-failover");
                    line(out, "master_repl_offset", 0);
                }
                Some(g) => group_replication(server, g, out),
            }
        }
        "cpu" => {
            out.push_str("# CPU\r\n");
            let (user, sys) = cpu_times();
            line(out, "used_cpu_sys", format!("{sys:.6}"));
            line(out, "used_cpu_user", format!("{user:.6}"));
        }
        "modules" => out.push_str("# Modules\r\n"),
        "errorstats" => {
            out.push_str("# Errorstats\r\n");
            for (code, n) in server.error_stats.lock().iter() {
                let _ = write!(out, "errorstat_{code}:count={n}\r\n");
            }
        }
        "latencystats" => {
            // The 50th, 99th and 99.9th percentiles of each command's durations, as the
            // upper bounds of LATENCY HISTOGRAM's buckets.
            out.push_str("# Latencystats\r\n");
            let specs = flashdb_core::table::all_specs();
            for (spec, st) in specs.iter().zip(server.cmdstats.iter()) {
                let (calls, cdf) = st.histogram.cumulative();
                if calls == 0 {
                    continue;
                }
                let at = |q: f64| {
                    let want = (q * calls as f64).ceil() as u64;
                    cdf.iter()
                        .find(|(_, n)| *n >= want)
                        .map_or(0, |(us, _)| *us)
                };
                let _ = write!(
                    out,
                    "latency_percentiles_usec_{}:p50={:.3},p99={:.3},p99.9={:.3}\r\n",
                    spec.name,
                    at(0.5) as f64,
                    at(0.99) as f64,
                    at(0.999) as f64
                );
            }
        }
        "cluster" => {
            // Redis Cluster is not served (a replication group is not a cluster); tools
            // such as redis-py's test harness read this field.
            out.push_str("# Cluster\r\n");
            line(out, "cluster_enabled", 0);
        }
        "commandstats" => {
            out.push_str("# Commandstats\r\n");
            let specs = flashdb_core::table::all_specs();
            let mut rows: Vec<(&str, &crate::server::CommandStat)> = specs
                .iter()
                .zip(server.cmdstats.iter())
                .filter(|(_, st)| {
                    st.calls.load(Ordering::Relaxed) > 0 || st.rejected.load(Ordering::Relaxed) > 0
                })
                .map(|(spec, st)| (spec.name, st))
                .collect();
            rows.sort_by_key(|(name, _)| *name);
            for (name, st) in rows {
                let calls = st.calls.load(Ordering::Relaxed);
                let usec = st.usec.load(Ordering::Relaxed);
                let per = if calls > 0 {
                    usec as f64 / calls as f64
                } else {
                    0.0
                };
                let _ = write!(
                    out,
                    "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
                    name,
                    calls,
                    usec,
                    per,
                    st.rejected.load(Ordering::Relaxed),
                    st.failed.load(Ordering::Relaxed)
                );
            }
        }
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            for (db, (keys, expires)) in shards
                .db_counts(server.ks.databases())
                .into_iter()
                .enumerate()
            {
                if keys > 0 {
                    let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
                }
            }
        }
        _ => {}
    }
}

/// User and system CPU seconds of this process, from `/proc/self/stat`.
fn cpu_times() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = 100.0;
    let user = fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / ticks;
    let sys = fields
        .get(12)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / ticks;
    (user, sys)
}
