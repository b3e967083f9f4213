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
    hex, hex_bytes, leaf_hash, parse_hex, parse_hex_bytes, verify_consistency, verify_inclusion,
    Hash,
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

/// A server's signature over a head (`--ledger-key` on the server), and the public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The Ed25519 public key, 32 bytes.
    pub key: [u8; 32],
    /// The signature, 64 bytes.
    pub signature: [u8; 64],
}

/// Checks a signed head: the signature must be the key's, over this head.
fn signature_holds(head: Head, s: &Signed) -> bool {
    use ed25519_dalek::Verifier as _;
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&s.key) else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(&s.signature);
    key.verify(
        &flashdb_storage::ledger::signed_root_bytes(head.size, &head.root),
        &sig,
    )
    .is_ok()
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

/// What the client keeps about one server: the head it trusts, and (for a server that
/// signs its roots) the key it pinned and the server's signature over that head.
#[derive(Debug, Clone)]
struct Trusted {
    head: Head,
    signed: Option<Signed>,
}

/// The trusted heads of every server, from the state file (none if it does not exist).
fn load(path: &Path) -> anyhow::Result<BTreeMap<String, Trusted>> {
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
            let key = head["public_key"].as_str().and_then(parse_hex_bytes::<32>);
            let signature = head["signature"].as_str().and_then(parse_hex_bytes::<64>);
            if let (Some(size), Some(root)) = (size, root) {
                out.insert(
                    server.clone(),
                    Trusted {
                        head: Head { size, root },
                        signed: key
                            .zip(signature)
                            .map(|(key, signature)| Signed { key, signature }),
                    },
                );
            }
        }
    }
    Ok(out)
}

/// Writes the state file (through a temporary file, so that a crash leaves the old one).
fn save(path: &Path, heads: &BTreeMap<String, Trusted>) -> anyhow::Result<()> {
    let v: serde_json::Map<String, Value> = heads
        .iter()
        .map(|(s, t)| {
            let mut entry = json!({"size": t.head.size, "root": hex(&t.head.root)});
            if let Some(sig) = &t.signed {
                entry["public_key"] = Value::String(hex_bytes(&sig.key));
                entry["signature"] = Value::String(hex_bytes(&sig.signature));
            }
            (s.clone(), entry)
        })
        .collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&Value::Object(v))?)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// The server's current head, and its signature if it signs its roots.
fn current(conn: &mut Conn) -> anyhow::Result<(Head, Option<Signed>)> {
    let f = fields(conn.call(&["LEDGER", "ROOT"])?)?;
    let head = Head {
        size: int(&f, "size")?,
        root: hash(&f, "root")?,
    };
    let signed = match (f.get("public-key"), f.get("signature")) {
        (Some(Frame::Bulk(k)), Some(Frame::Bulk(s))) => Some(Signed {
            key: parse_hex_bytes(&String::from_utf8_lossy(k))
                .ok_or_else(|| anyhow::anyhow!("public-key: not 32 bytes of hex"))?,
            signature: parse_hex_bytes(&String::from_utf8_lossy(s))
                .ok_or_else(|| anyhow::anyhow!("signature: not 64 bytes of hex"))?,
        }),
        _ => None,
    };
    Ok((head, signed))
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
    heads: BTreeMap<String, Trusted>,
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
        let (now, signed) = current(conn)?;
        if let Some(s) = &signed {
            if !signature_holds(now, s) {
                return Ok(Err(Refused(format!(
                    "the signature over the server's root (size {}, root {}) does not check out",
                    now.size,
                    hex(&now.root)
                ))));
            }
        }
        if let Some(trusted) = v.heads.get(server).cloned() {
            // A pinned key is kept: a server that stops signing, or signs with another
            // key, is refused (as SSH refuses a changed host key).
            if let Some(pinned) = &trusted.signed {
                if signed.as_ref().map(|s| s.key) != Some(pinned.key) {
                    return Ok(Err(Refused(format!(
                        "the server's ledger key changed (pinned {}, now {}): refusing, as for a rewritten history",
                        hex_bytes(&pinned.key),
                        signed.as_ref().map_or("none".to_string(), |s| hex_bytes(&s.key))
                    ))));
                }
            }
            if let Err(r) = extends(conn, trusted.head, now)? {
                return Ok(Err(r));
            }
        }
        v.trust(now, signed)?;
        Ok(Ok((v, now)))
    }

    fn trust(&mut self, head: Head, signed: Option<Signed>) -> anyhow::Result<()> {
        self.heads
            .insert(self.server.clone(), Trusted { head, signed });
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
        let trusted = self.heads.get(&self.server).cloned();
        let old = trusted.as_ref().map_or(
            Head {
                size: 0,
                root: flashdb_storage::ledger::merkle::empty_root(),
            },
            |t| t.head,
        );
        if let Err(r) = extends(conn, old, head)? {
            return Ok(Err(r));
        }
        // The signature kept stays that of the head it signed: a read's head is not
        // signed, so the trusted head moves only when it is (at connection).
        if trusted.as_ref().is_none_or(|t| t.signed.is_none()) {
            self.trust(head, None)?;
        }
        Ok(Ok(Some(Proven { value, index, head })))
    }
}
