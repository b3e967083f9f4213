//! `DEBUG`, for tools and test suites: `SLEEP`, `OBJECT`, `DIGEST`, `DIGEST-VALUE`,
//! `RELOAD`, `SET-ACTIVE-EXPIRE`, `LOG` and `ERROR`. As in Redis 7, it is refused unless the
//! server was started with `--enable-debug-command yes` (or `local`, for loopback
//! clients only).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use flashdb_core::db::Entry;
use flashdb_core::keyspace::Locked;
use flashdb_core::value::Value;
use sha1::{Digest, Sha1};

use crate::connection::ConnState;
use crate::server::Server;

const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

const HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low level info about the <key> and associated value.",
    "RELOAD [MERGE] [NOFLUSH]",
    "    Write every key in the snapshot format and load it back, as a restart would.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "HELP",
    "    Prints this help.",
];

/// Whether this client may run `DEBUG`.
fn allowed(server: &Server, st: &ConnState) -> bool {
    match server.config.enable_debug_command.as_str() {
        "yes" => true,
        "local" => {
            let ip = st.handle.addr.rsplit_once(':').map_or("", |(ip, _)| ip);
            ip.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

/// Runs `DEBUG`; `held` are the locks of the `EXEC` it runs in (every shard), if any.
pub fn run(
    server: &Arc<Server>,
    st: &mut ConnState,
    args: &[&[u8]],
    held: Option<&mut Locked<'_>>,
) {
    if !allowed(server, st) {
        st.out.error(NOT_ALLOWED);
        return;
    }
    let sub = String::from_utf8_lossy(args[1]).to_ascii_lowercase();
    match (sub.as_str(), args.len()) {
        ("help", 2) => {
            st.out.array(HELP.len());
            for l in HELP {
                st.out.simple(l.as_bytes());
            }
        }
        ("set-active-expire", 3) => {
            let on = flashdb_core::numeric::parse_int(args[2]).unwrap_or(0) != 0;
            server.active_expire.store(on, Ordering::Relaxed);
            st.out.ok();
        }
        ("log", 3) => {
            tracing::warn!(message = %String::from_utf8_lossy(args[2]), "DEBUG LOG");
            st.out.ok();
        }
        ("error", 3) => st.out.error(&String::from_utf8_lossy(args[2])),
        // The others work under all the shards' locks: the data seen (or the pause of
        // SLEEP) is of one moment, as in Redis.
        (name, argc) => match held {
            Some(l) => run_locked(server, st, args, name, argc, l),
            None => run_locked(server, st, args, name, argc, &mut server.ks.lock_all()),
        },
    }
}

fn run_locked(
    server: &Arc<Server>,
    st: &mut ConnState,
    args: &[&[u8]],
    sub: &str,
    argc: usize,
    l: &mut Locked<'_>,
) {
    match (sub, argc) {
        ("reload", _) => reload(st, args, l),
        ("sleep", 3) => {
            let secs = flashdb_core::numeric::parse_float(args[2]).unwrap_or(0.0);
            let dur = std::time::Duration::from_secs_f64(secs.clamp(0.0, 86_400.0));
            // As Redis, the whole server stops: every shard is held meanwhile.
            std::thread::sleep(dur);
            st.out.ok();
        }
        ("object", 3) => object(l, st, args[2]),
        ("digest", 2) => {
            let d = dataset_digest(server, l);
            st.out.simple(hex(&d).as_bytes());
        }
        ("digest-value", _) => {
            st.out.array(args.len() - 2);
            for key in &args[2..] {
                let d = match l.find(st.db, key) {
                    Some(s) => value_digest(l.entry(s)),
                    None => [0u8; 20],
                };
                st.out.simple(hex(&d).as_bytes());
            }
        }
        _ => st.out.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(args[1])
        )),
    }
}

/// `DEBUG OBJECT key`: Redis's line of low-level facts.
fn object(l: &mut Locked<'_>, st: &mut ConnState, key: &[u8]) {
    let Some(s) = l.find(st.db, key) else {
        st.out.error("ERR no such key");
        return;
    };
    let e = l.entry(s);
    let encoding = flashdb_core::cmd::keys::encoding_of(e);
    let mut serialized = Vec::new();
    flashdb_core::codec::encode_value(&e.value, &mut serialized);
    let idle = l.clock().saturating_sub(e.lru);
    let line = format!(
        "Value at:{:p} refcount:1 encoding:{encoding} serializedlength:{} lru:{} lru_seconds_idle:{idle}",
        e as *const Entry,
        serialized.len(),
        e.lru & 0x00ff_ffff,
    );
    st.out.simple(line.as_bytes());
}

fn hex(d: &[u8; 20]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Redis's `xorDigest`: xors the SHA-1 of `data` into `digest`.
fn xor_digest(digest: &mut [u8; 20], data: &[u8]) {
    let h = Sha1::digest(data);
    for (d, x) in digest.iter_mut().zip(h.iter()) {
        *d ^= x;
    }
}

/// Redis's `mixDigest`: xors in the SHA-1 of `data`, then hashes the result, so the
/// order of what is mixed matters.
fn mix_digest(digest: &mut [u8; 20], data: &[u8]) {
    xor_digest(digest, data);
    let h = Sha1::digest(&digest[..]);
    digest.copy_from_slice(&h);
}

/// Redis's `xorObjectDigest`: adds one key's type, value (in order for strings and
/// lists, order-free for sets, sorted sets and hashes) and whether it has a TTL to the
/// running `digest`.
fn object_digest(d: &mut [u8; 20], e: &Entry) {
    // Redis's type numbers (string 0 ... hash 4); the queue, FlashDB's own, takes 100.
    let type_id: u32 = match &e.value {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
        Value::Queue(_) => 100,
    };
    mix_digest(d, &type_id.to_be_bytes());
    match &e.value {
        Value::Str(s) => mix_digest(d, s.as_slice()),
        Value::List(l) => l.iter().for_each(|x| mix_digest(d, x)),
        Value::Set(s) => s.iter().for_each(|m| xor_digest(d, &m)),
        Value::ZSet(z) => {
            for (m, score) in z.iter() {
                let mut ele = [0u8; 20];
                mix_digest(&mut ele, m);
                mix_digest(&mut ele, flashdb_protocol::format_double(score).as_bytes());
                xor_digest(d, &ele);
            }
        }
        Value::Hash(h) => {
            for (f, v) in h.iter() {
                let mut ele = [0u8; 20];
                mix_digest(&mut ele, f);
                mix_digest(&mut ele, v);
                xor_digest(d, &ele);
            }
        }
        Value::Stream(s) => {
            // Straight into the key's digest, in order, as Redis's.
            for entry in s.entries() {
                mix_digest(d, format!("{}.{}", entry.id.ms, entry.id.seq).as_bytes());
                for (f, v) in &entry.fields {
                    mix_digest(d, f);
                    mix_digest(d, v);
                }
            }
        }
        Value::Queue(q) => {
            for (seq, m) in q.messages() {
                let mut ele = [0u8; 20];
                mix_digest(&mut ele, &seq.to_be_bytes());
                mix_digest(&mut ele, m.payload.as_slice());
                xor_digest(d, &ele);
            }
        }
    }
    if e.expire_at != 0 {
        xor_digest(d, b"!!expire!!");
    }
}

/// `DIGEST-VALUE`'s digest of one key: its value alone.
fn value_digest(e: &Entry) -> [u8; 20] {
    let mut d = [0u8; 20];
    object_digest(&mut d, e);
    d
}

/// Redis's `computeDatasetDigest`: each non-empty database's number mixed in, then every
/// key's digest (its name mixed with its value) xored in, so equal data sets have equal
/// digests whatever their order. Every shard is held, so the digest is of one moment.
fn dataset_digest(server: &Server, all: &Locked<'_>) -> [u8; 20] {
    let mut total = [0u8; 20];
    for db in 0..server.ks.databases() {
        let mut mixed_db = false;
        let mut cursor = 0;
        loop {
            let (next, _) = all.shards().scan(db, cursor, 1024, |e| {
                if !mixed_db {
                    mix_digest(&mut total, &(db as u32).to_be_bytes());
                    mixed_db = true;
                }
                let mut d = [0u8; 20];
                mix_digest(&mut d, e.key.as_slice());
                object_digest(&mut d, e);
                xor_digest(&mut total, &d);
                false
            });
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    total
}

/// `DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]`: every key goes through the snapshot format
/// and back, as in a restart (Redis saves its RDB file and loads it). `MERGE` and
/// `NOFLUSH` change nothing here, since the data reloaded is the data held; `NOSAVE`,
/// which in Redis loads an older file instead, is refused.
fn reload(st: &mut ConnState, args: &[&[u8]], l: &mut Locked<'_>) {
    for a in &args[2..] {
        if a.eq_ignore_ascii_case(b"nosave") {
            return st.out.error(
                "ERR DEBUG RELOAD NOSAVE is not supported: FlashDB has no older data file to load in place of the data it holds",
            );
        }
        if !a.eq_ignore_ascii_case(b"merge") && !a.eq_ignore_ascii_case(b"noflush") {
            return st
                .out
                .error("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
        }
    }
    match l.reload_through_snapshot() {
        Ok(n) => {
            tracing::info!(keys = n, "DB reloaded by DEBUG RELOAD");
            st.out.ok();
        }
        Err(e) => st
            .out
            .error(&format!("ERR Error trying to load the RDB dump: {e}")),
    }
}
