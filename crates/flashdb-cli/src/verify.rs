//! `--verify`: the client side of FlashDB's ledger. The last ledger root this client
//! trusted, per server, is kept in a state file; on each connection the server must prove
//! (an RFC 9162 consistency proof) that its current tree extends that root, or the client
//! refuses: the server's history was rewritten. A verified `GET` asks for the value with
//! the inclusion proof of the record that wrote it, checks the proof and that the record
//! sets that value, and says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flashdb_core::codec::decode_entries;
use flashdb_core::log_entry::LogEntry;
use flashdb_protocol::Frame;
use flashdb_storage::ledger::merkle::{
    hex, leaf_hash, parse_hex, verify_consistency, verify_inclusion, Hash,
};
use serde_json::{json, Value};

use crate::conn::Conn;

/// Why verification refused the server: its history does not extend what was trusted,
/// or a proof does not check out. The client exits with code 2.
#[derive(Debug)]
pub struct Refused(pub String);

/// The default state file: `$HOME/.flashdb-cli-ledger.json`.
pub fn default_state() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".flashdb-cli-ledger.json")
}

/// A tree head: size and root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Leaves.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
}

/// The fields of a map reply (RESP3 map, or RESP2's flat array).
fn fields(reply: Frame) -> anyhow::Result<BTreeMap<String, Frame>> {
    let items = match reply {
        Frame::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        Frame::Array(items) => items,
        Frame::Error(e) => anyhow::bail!("{}", String::from_utf8_lossy(&e)),
        other => anyhow::bail!("unexpected reply {other:?}"),
    };
    let mut out = BTreeMap::new();
    let mut it = items.into_iter();
    while let (Some(Frame::Bulk(k) | Frame::Simple(k)), Some(v)) = (it.next(), it.next()) {
        out.insert(String::from_utf8_lossy(&k).into_owned(), v);
    }
    Ok(out)
}

fn int(f: &BTreeMap<String, Frame>, name: &str) -> anyhow::Result<u64> {
    match f.get(name) {
        Some(Frame::Integer(n)) if *n >= 0 => Ok(*n as u64),
        other => anyhow::bail!("{name}: expected a count, got {other:?}"),
    }
}

fn bytes<'a>(f: &'a BTreeMap<String, Frame>, name: &str) -> anyhow::Result<&'a [u8]> {
    match f.get(name) {
        Some(Frame::Bulk(b)) => Ok(b),
        other => anyhow::bail!("{name}: expected a string, got {other:?}"),
    }
}

fn hash(f: &BTreeMap<String, Frame>, name: &str) -> anyhow::Result<Hash> {
    let text = String::from_utf8_lossy(bytes(f, name)?).into_owned();
    parse_hex(&text).ok_or_else(|| anyhow::anyhow!("{name}: not a hash: {text:?}"))
}

fn hashes(f: &BTreeMap<String, Frame>, name: &str) -> anyhow::Result<Vec<Hash>> {
    match f.get(name) {
        Some(Frame::Array(items)) => items
            .iter()
            .map(|h| match h {
                Frame::Bulk(b) => parse_hex(&String::from_utf8_lossy(b))
                    .ok_or_else(|| anyhow::anyhow!("{name}: not a hash")),
                other => anyhow::bail!("{name}: expected hashes, got {other:?}"),
            })
            .collect(),
        other => anyhow::bail!("{name}: expected hashes, got {other:?}"),
    }
}

/// The trusted heads of every server, from the state file (none if it does not exist).
fn load(path: &Path) -> anyhow::Result<BTreeMap<String, Head>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => anyhow::bail!("cannot read the ledger state {}: {e}", path.display()),
    };
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("the ledger state {} is not JSON: {e}", path.display()))?;
    let mut out = BTreeMap::new();
    if let Some(servers) = v.as_object() {
        for (server, head) in servers {
            let size = head["size"].as_u64();
            let root = head["root"].as_str().and_then(parse_hex);
            if let (Some(size), Some(root)) = (size, root) {
                out.insert(server.clone(), Head { size, root });
            }
        }
    }
    Ok(out)
}

/// Writes the state file (through a temporary file, so that a crash leaves the old one).
fn save(path: &Path, heads: &BTreeMap<String, Head>) -> anyhow::Result<()> {
    let v: serde_json::Map<String, Value> = heads
        .iter()
        .map(|(s, h)| (s.clone(), json!({"size": h.size, "root": hex(&h.root)})))
        .collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&Value::Object(v))?)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// The server's current head.
fn current(conn: &mut Conn) -> anyhow::Result<Head> {
    let f = fields(conn.call(&["LEDGER", "ROOT"])?)?;
    Ok(Head {
        size: int(&f, "size")?,
        root: hash(&f, "root")?,
    })
}

/// Checks that `now` extends `trusted`, with the server's consistency proof.
fn extends(conn: &mut Conn, trusted: Head, now: Head) -> anyhow::Result<Result<(), Refused>> {
    if now.size < trusted.size {
        return Ok(Err(Refused(format!(
            "the server's ledger has {} leaves, fewer than the {} of the root trusted before ({}): its history was rewritten",
            now.size,
            trusted.size,
            hex(&trusted.root)
        ))));
    }
    if trusted.size == 0 {
        return Ok(Ok(()));
    }
    let f = fields(conn.call(&[
        "LEDGER",
        "CONSISTENCY",
        &trusted.size.to_string(),
        &now.size.to_string(),
    ])?)?;
    let proof = hashes(&f, "proof")?;
    if !verify_consistency(trusted.size, now.size, &trusted.root, &now.root, &proof) {
        return Ok(Err(Refused(format!(
            "the server's ledger (size {}, root {}) is not consistent with the root trusted before (size {}, root {}): its history was rewritten",
            now.size,
            hex(&now.root),
            trusted.size,
            hex(&trusted.root)
        ))));
    }
    Ok(Ok(()))
}

/// A value proven by the ledger: in leaf `index` of the tree `head`.
pub struct Proven {
    /// The value.
    pub value: Vec<u8>,
    /// The leaf of the record that set it.
    pub index: u64,
    /// The tree it was proven in.
    pub head: Head,
}

/// The client's verification state for one server.
pub struct Verifier {
    path: PathBuf,
    server: String,
    heads: BTreeMap<String, Head>,
}

impl Verifier {
    /// Checks the server's current root against the one trusted before (if any) and
    /// trusts the current one from then on.
    pub fn connect(
        conn: &mut Conn,
        path: &Path,
        server: &str,
    ) -> anyhow::Result<Result<(Verifier, Head), Refused>> {
        let heads = load(path)?;
        let mut v = Verifier {
            path: path.to_path_buf(),
            server: server.to_string(),
            heads,
        };
        let now = current(conn)?;
        if let Some(trusted) = v.heads.get(server).copied() {
            if let Err(r) = extends(conn, trusted, now)? {
                return Ok(Err(r));
            }
        }
        v.trust(now)?;
        Ok(Ok((v, now)))
    }

    fn trust(&mut self, head: Head) -> anyhow::Result<()> {
        self.heads.insert(self.server.clone(), head);
        save(&self.path, &self.heads)
    }

    /// A verified `GET key` (in database `db`): the value, proven by the inclusion of the
    /// record that set it in a tree that extends the trusted root. `Ok(None)` when the
    /// ledger has no value for the key.
    pub fn get(
        &mut self,
        conn: &mut Conn,
        db: u32,
        key: &[u8],
    ) -> anyhow::Result<Result<Option<Proven>, Refused>> {
        let reply = conn.call(&[b"LEDGER".as_slice(), b"GET", key])?;
        if reply == Frame::Null {
            return Ok(Ok(None));
        }
        let f = fields(reply)?;
        let value = bytes(&f, "value")?.to_vec();
        let index = int(&f, "index")?;
        let head = Head {
            size: int(&f, "size")?,
            root: hash(&f, "root")?,
        };
        let leaf = bytes(&f, "leaf")?.to_vec();
        let proof = hashes(&f, "proof")?;
        if !verify_inclusion(index, head.size, &leaf_hash(&leaf), &proof, &head.root) {
            return Ok(Err(Refused(format!(
                "the inclusion proof of leaf {index} does not check out against root {}",
                hex(&head.root)
            ))));
        }
        // The leaf is the record: 8 bytes of sequence number, then its entries.
        let sets_value = leaf.get(8..).and_then(|p| decode_entries(p).ok()).is_some_and(|entries| {
            entries.iter().any(|e| {
                matches!(e, LogEntry::Set { db: d, key: k, value: v, .. } if *d == db && *k == key && *v == value.as_slice())
            })
        });
        if !sets_value {
            return Ok(Err(Refused(format!(
                "leaf {index} does not set this key to the value the server returned"
            ))));
        }
        let trusted = self.heads.get(&self.server).copied().unwrap_or(Head {
            size: 0,
            root: flashdb_storage::ledger::merkle::empty_root(),
        });
        if let Err(r) = extends(conn, trusted, head)? {
            return Ok(Err(r));
        }
        self.trust(head)?;
        Ok(Ok(Some(Proven { value, index, head })))
    }
}
