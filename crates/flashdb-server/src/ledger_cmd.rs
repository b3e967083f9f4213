//! `LEDGER`: the ledger's tree over the log (`--ledger on`): its size and root, inclusion
//! and consistency proofs (RFC 9162), the bytes of a leaf, and a full verification. Also
//! the task that hashes records into the tree as they become durable.

use std::sync::Arc;

use flashdb_protocol::parse_i64;
use flashdb_storage::ledger::merkle::{hex, Hash, ProofError};
use flashdb_storage::ledger::Ledger;
use flashdb_storage::StorageError;

use crate::connection::{ConnState, Flow};
use crate::server::Server;

const HELP: &[&str] = &[
    "LEDGER <subcommand> [<arg> ...]. Subcommands are:",
    "ROOT",
    "    Return the tree's size, root hash (hex) and the sequence number of leaf 0.",
    "PROVE <index> [<size>]",
    "    Return the inclusion proof of leaf <index> in the tree of <size> leaves (default: the current size).",
    "CONSISTENCY <first> [<second>]",
    "    Return the consistency proof from the tree of <first> leaves to that of <second> (default: the current size).",
    "LEAF <index>",
    "    Return the bytes of leaf <index>: its record's sequence number (8 bytes, big-endian) and payload.",
    "VERIFY",
    "    Recompute every leaf from its record; return the size, the root and the first bad index (or nil).",
    "HISTORY <key> [LIMIT <count>]",
    "    Return the changes of <key> in this database, newest first (default 10, at most 1000): index, time, seq, kind, value.",
    "GET <key>",
    "    Return the value <key> was last SET to, the index of that record, its leaf and its inclusion proof.",
    "GETAT <key> <index>",
    "    Return the type and value <key> had right after leaf <index> (time travel), or nil.",
    "HELP",
    "    Print this help.",
];

const OFF: &str = "ERR the ledger is off (start the server with --ledger on)";

/// Reads `--ledger-key`: an Ed25519 private key in PKCS#8 PEM.
pub fn load_key(path: &std::path::Path) -> anyhow::Result<ed25519_dalek::SigningKey> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let pem = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read --ledger-key {}: {e}", path.display()))?;
    ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        anyhow::anyhow!(
            "--ledger-key {}: not an Ed25519 private key in PKCS#8 PEM ({e}); make one with `openssl genpkey -algorithm ed25519 -out {}`",
            path.display(),
            path.display()
        )
    })
}

/// The ledger of the server, when it has one.
fn ledger(server: &Server) -> Option<Arc<Ledger>> {
    server.persistence.get().and_then(|p| p.ledger.clone())
}

/// Hashes what is durable and not in the tree yet, so that a reply covers every write
/// this client (or any other) was told about.
fn caught_up(server: &Server, l: &Ledger) -> Result<u64, String> {
    let durable = server.persistence.get().map_or(0, |p| p.wal.durable_seq());
    hash_upto(server, l, durable).map_err(|e| format!("ERR ledger: {e}"))
}

/// Hashes the records up to `durable` into the tree, noting their keys in the index.
fn hash_upto(server: &Server, l: &Ledger, durable: u64) -> Result<u64, StorageError> {
    l.catch_up(durable, &mut |seq, payload| {
        server.ledger_index.add(seq, payload)
    })
}

/// Most versions `LEDGER HISTORY` returns.
const MAX_HISTORY: u64 = 1000;

/// A change of a key found in the ledger: its leaf, what it did, and its record's payload.
type Found = (u64, crate::ledger_index::Version, Arc<Vec<u8>>);

/// The newest `limit` changes of `key` in database `db`, with their leaf indexes.
fn versions(
    server: &Server,
    l: &Ledger,
    db: u32,
    key: &[u8],
    limit: u64,
) -> Result<Vec<Found>, String> {
    if !l.is_loaded() {
        return Err("LOADING the ledger is still reading its history".into());
    }
    // Most candidates are the key's own changes: ask for a few more than wanted, and for
    // more only when some were other keys' (another database, or a name of equal hash).
    let mut most = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_add(2);
    loop {
        let candidates = server.ledger_index.candidates(key, most);
        let mut out = Vec::new();
        for &seq in &candidates {
            if seq < l.base() {
                continue;
            }
            let index = seq - l.base();
            let Some((_, payload)) = l.record(index).map_err(|e| format!("ERR ledger: {e}"))?
            else {
                continue;
            };
            let mut changes = crate::ledger_index::changes(&payload, db, key);
            let payload = Arc::new(payload);
            // Within one record, the last change is the newest.
            while let Some(mut v) = changes.pop() {
                v.seq = seq;
                out.push((index, v, payload.clone()));
                if out.len() as u64 >= limit {
                    return Ok(out);
                }
            }
        }
        if candidates.len() < most {
            return Ok(out);
        }
        most = most.saturating_mul(8);
    }
}

fn index_arg(raw: &[u8]) -> Result<u64, String> {
    match parse_i64(raw) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err("ERR value is not an integer or out of range".into()),
    }
}

/// The optional tree size after a subcommand's first argument (`LEDGER PROVE i [size]`,
/// `LEDGER CONSISTENCY first [second]`): `current` when absent.
fn optional_size(args: &[&[u8]], current: u64) -> Result<u64, String> {
    if args.len() > 4 {
        return Err("ERR syntax error".into());
    }
    args.get(3).map_or(Ok(current), |a| index_arg(a))
}

fn proof_error(e: &ProofError) -> String {
    format!("ERR {e}")
}

fn hashes(st: &mut ConnState, hs: &[Hash]) {
    st.out.array(hs.len());
    for h in hs {
        st.out.bulk(hex(h).as_bytes());
    }
}

/// Runs `LEDGER <sub>` (`name` is `ledger|<sub>`).
pub fn run(server: &Server, st: &mut ConnState, name: &str, args: &[&[u8]]) -> Flow {
    if name == "ledger|help" {
        st.out.array(HELP.len());
        for l in HELP {
            st.out.simple(l.as_bytes());
        }
        return Flow::Continue;
    }
    let Some(l) = ledger(server) else {
        st.out.error(OFF);
        return Flow::Continue;
    };
    if let Err(e) = answer(server, st, &l, name, args) {
        st.out.error(&e);
    }
    Flow::Continue
}

fn answer(
    server: &Server,
    st: &mut ConnState,
    l: &Ledger,
    name: &str,
    args: &[&[u8]],
) -> Result<(), String> {
    let size = caught_up(server, l)?;
    match name {
        "ledger|root" => {
            let root = l.root_at(size).map_err(|e| proof_error(&e))?;
            let key = server.ledger_key.get();
            st.out.map(if key.is_some() { 5 } else { 3 });
            st.out.bulk(b"size");
            st.out.int(size as i64);
            st.out.bulk(b"root");
            st.out.bulk(hex(&root).as_bytes());
            st.out.bulk(b"base-seq");
            st.out.int(l.base() as i64);
            if let Some(k) = key {
                use ed25519_dalek::Signer;
                let sig = k
                    .sign(&flashdb_storage::ledger::signed_root_bytes(size, &root))
                    .to_bytes();
                st.out.bulk(b"signature");
                st.out
                    .bulk(flashdb_storage::ledger::merkle::hex_bytes(&sig).as_bytes());
                st.out.bulk(b"public-key");
                st.out.bulk(
                    flashdb_storage::ledger::merkle::hex_bytes(k.verifying_key().as_bytes())
                        .as_bytes(),
                );
            }
        }
        "ledger|prove" => {
            let index = index_arg(args[2])?;
            let at = optional_size(args, size)?;
            let proof = l.inclusion(index, at).map_err(|e| proof_error(&e))?;
            let root = l.root_at(at).map_err(|e| proof_error(&e))?;
            let leaf_hash = l.leaf_hash(index).map_err(|e| format!("ERR ledger: {e}"))?;
            st.out.map(5);
            st.out.bulk(b"index");
            st.out.int(index as i64);
            st.out.bulk(b"size");
            st.out.int(at as i64);
            st.out.bulk(b"root");
            st.out.bulk(hex(&root).as_bytes());
            st.out.bulk(b"leaf-hash");
            st.out.bulk(hex(&leaf_hash).as_bytes());
            st.out.bulk(b"proof");
            hashes(st, &proof);
        }
        "ledger|consistency" => {
            let first = index_arg(args[2])?;
            let second = optional_size(args, size)?;
            let proof = l.consistency(first, second).map_err(|e| proof_error(&e))?;
            let first_root = l.root_at(first).map_err(|e| proof_error(&e))?;
            let second_root = l.root_at(second).map_err(|e| proof_error(&e))?;
            st.out.map(5);
            st.out.bulk(b"first");
            st.out.int(first as i64);
            st.out.bulk(b"second");
            st.out.int(second as i64);
            st.out.bulk(b"first-root");
            st.out.bulk(hex(&first_root).as_bytes());
            st.out.bulk(b"second-root");
            st.out.bulk(hex(&second_root).as_bytes());
            st.out.bulk(b"proof");
            hashes(st, &proof);
        }
        "ledger|leaf" => {
            let index = index_arg(args[2])?;
            match l.leaf(index).map_err(|e| format!("ERR ledger: {e}"))? {
                Some(bytes) => st.out.bulk(&bytes),
                None => st.out.null(),
            }
        }
        "ledger|verify" => {
            let v = l.verify().map_err(|e| format!("ERR ledger: {e}"))?;
            st.out.map(3);
            st.out.bulk(b"size");
            st.out.int(v.size as i64);
            st.out.bulk(b"root");
            st.out.bulk(hex(&v.root).as_bytes());
            st.out.bulk(b"first-bad");
            match v.first_bad {
                Some(i) => st.out.int(i as i64),
                None => st.out.null(),
            }
        }
        "ledger|history" => {
            let limit = match args.get(3..) {
                Some([]) | None => 10,
                Some([word, n]) if word.eq_ignore_ascii_case(b"limit") => match parse_i64(n) {
                    Some(n) if n > 0 && n as u64 <= MAX_HISTORY => n as u64,
                    _ => return Err(format!("ERR LIMIT must be between 1 and {MAX_HISTORY}")),
                },
                _ => return Err("ERR syntax error".into()),
            };
            let found = versions(server, l, st.db as u32, args[2], limit)?;
            st.out.array(found.len());
            for (index, v, _) in found {
                st.out.map(5);
                st.out.bulk(b"index");
                st.out.int(index as i64);
                st.out.bulk(b"time");
                match l.time_of(index) {
                    Some(ms) => st.out.int(ms as i64),
                    None => st.out.null(),
                }
                st.out.bulk(b"seq");
                st.out.int(v.seq as i64);
                st.out.bulk(b"kind");
                st.out.bulk(v.kind.as_bytes());
                st.out.bulk(b"value");
                match &v.value {
                    Some(val) => st.out.bulk(val),
                    None => st.out.null(),
                }
            }
        }
        "ledger|get" => {
            let found = versions(server, l, st.db as u32, args[2], 1)?;
            let Some((index, v, payload)) = found.into_iter().next() else {
                st.out.null();
                return Ok(());
            };
            let Some(value) = v.value else {
                return Err(format!(
                    "ERR the last change of this key is a {} (leaf {index}), not a SET: LEDGER GET proves values that SET wrote; see LEDGER HISTORY",
                    v.kind
                ));
            };
            let proof = l.inclusion(index, size).map_err(|e| proof_error(&e))?;
            let root = l.root_at(size).map_err(|e| proof_error(&e))?;
            let leaf = flashdb_storage::ledger::leaf_bytes(v.seq, &payload);
            st.out.map(6);
            st.out.bulk(b"value");
            st.out.bulk(&value);
            st.out.bulk(b"index");
            st.out.int(index as i64);
            st.out.bulk(b"size");
            st.out.int(size as i64);
            st.out.bulk(b"root");
            st.out.bulk(hex(&root).as_bytes());
            st.out.bulk(b"leaf");
            st.out.bulk(&leaf);
            st.out.bulk(b"proof");
            hashes(st, &proof);
        }
        "ledger|getat" => {
            let index = index_arg(args[3])?;
            if index >= size {
                return Err(format!(
                    "ERR leaf index {index} is not below the tree size {size}"
                ));
            }
            if !l.is_loaded() {
                return Err("LOADING the ledger is still reading its history".into());
            }
            match crate::ledger_travel::value_at(server, l, st.db as u32, args[2], index)? {
                Some(v) => crate::ledger_travel::write_value(st, &v),
                None => st.out.null(),
            }
        }
        _ => return Err(format!("ERR unknown subcommand '{name}'")),
    }
    Ok(())
}

/// How many records the follower lets gather, for at most [`FOLLOW_PAUSE`], before it
/// hashes them: each round costs a wake-up and a few system calls, and queries catch up
/// by themselves, so the ledger may lag a moment.
const FOLLOW_BATCH: u64 = 4096;
/// How long the follower lets records gather.
const FOLLOW_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);
/// The follower's nice value, the lowest: hashing is not on the path of any reply, so
/// it takes the time that serving clients, writing the log and syncing it leave.
const FOLLOW_NICE: libc::c_int = 19;
/// How far the follower may fall behind when the server's cores stay busy: past it,
/// records are hashed at normal priority, so that a query never has more than about
/// this many records to catch up on by itself.
const FOLLOW_MAX_LAG: u64 = 1 << 18;
/// How often the lag is looked at.
const FOLLOW_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// Hashes records into the tree as they become durable, off the write path, on a thread
/// of its own at the lowest priority: it waits for records to be durable, then reads back
/// everything durable from the segment files (the page cache, usually) and hashes it. A
/// task at normal priority takes over when it falls [`FOLLOW_MAX_LAG`] behind. Ends with
/// the server.
pub fn follow(server: Arc<Server>) {
    let (Some(p), Some(l)) = (
        server.persistence.get().cloned(),
        server.persistence.get().and_then(|p| p.ledger.clone()),
    ) else {
        return;
    };
    let runtime = tokio::runtime::Handle::current();
    let (rescuer, rescued, wal) = (server.clone(), l.clone(), p.wal.clone());
    let spawned = std::thread::Builder::new()
        .name("flashdb-ledger".into())
        .spawn(move || {
            // At normal priority: LEDGER commands answer LOADING until it is done.
            match l.load_history(&mut |seq, payload| server.ledger_index.add(seq, payload)) {
                Ok(()) => tracing::info!(leaves = l.size(), "the ledger has read its history"),
                Err(e) => {
                    tracing::error!(error = %e, "the ledger cannot read its history; it stops");
                    return;
                }
            }
            lower_priority();
            let mut stop = Box::pin(server.shutdown_signal());
            loop {
                let next = l.base() + l.size();
                let durable = runtime.block_on(async {
                    tokio::select! {
                        r = p.wal.wait_durable(next) => r.is_ok(),
                        _ = &mut stop => false,
                    }
                });
                if !durable {
                    return;
                }
                if l.lag(p.wal.durable_seq()) < FOLLOW_BATCH {
                    std::thread::sleep(FOLLOW_PAUSE);
                }
                if let Err(e) = hash_upto(&server, &l, p.wal.durable_seq()) {
                    tracing::error!(error = %e, "the ledger cannot read the log; it stops following it");
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the ledger's thread; LEDGER commands catch up by themselves");
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FOLLOW_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop = std::pin::pin!(rescuer.shutdown_signal());
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stop => return,
            }
            let durable = wal.durable_seq();
            if !rescued.is_loaded() || rescued.lag(durable) < FOLLOW_MAX_LAG {
                continue;
            }
            let (srv, l) = (rescuer.clone(), rescued.clone());
            let done = tokio::task::spawn_blocking(move || hash_upto(&srv, &l, durable)).await;
            if let Ok(Err(e)) = done {
                tracing::error!(error = %e, "the ledger cannot read the log");
                return;
            }
        }
    });
}

/// Gives the calling thread the nice value [`FOLLOW_NICE`]. Best effort: at the same
/// priority the ledger still works, it only competes with clients for the core.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn lower_priority() {
    // SAFETY: gettid and setpriority take and return plain integers and touch no memory
    // of ours; on Linux, PRIO_PROCESS with a thread id sets that thread's nice value.
    let rc = unsafe {
        libc::setpriority(
            libc::PRIO_PROCESS,
            libc::gettid() as libc::id_t,
            FOLLOW_NICE,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower the ledger thread's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}
