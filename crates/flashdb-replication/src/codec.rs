//! The payloads of the write-ahead log records of a replicated node.
//!
//! On a node of a group, the write-ahead log *is* the Raft log: each record's payload is
//! one of these, little-endian, after a one-byte tag (see `docs/storage.md`):
//!
//! | tag | record | fields |
//! |---|---|---|
//! | 1 | entry | term u64, leader node u64, index u64, kind u8, then by kind: 0 blank; 1 normal (one command): origin node u64, incarnation u64, local seq u64, effects (the rest); 2 membership: JSON (the rest); 3 normal (several commands): origin node u64, incarnation u64, count u32, then for each: local seq u64, length u32, effects |
//! | 2 | truncate | index u64: entries from this index on are gone |
//! | 3 | purge | term u64, leader node u64, index u64: entries up to this log id are gone |
//! | 4 | committed | term u64, leader node u64, index u64: the group's commit point, as last known |
//!
//! Records are appended in order and never rewritten: a truncation or a purge is a record
//! of its own, which recovery applies as it reads. A record's sequence number in the log
//! is therefore not its Raft index.

use openraft::{CommittedLeaderId, EntryPayload};
use thiserror::Error;

use crate::types::{Entry, Item, LogId, Membership, Origin, Proposal};

const TAG_ENTRY: u8 = 1;
const TAG_TRUNCATE: u8 = 2;
const TAG_PURGE: u8 = 3;
const TAG_COMMITTED: u8 = 4;

const KIND_BLANK: u8 = 0;
const KIND_NORMAL: u8 = 1;
const KIND_MEMBERSHIP: u8 = 2;
const KIND_BATCH: u8 = 3;

/// One record of a replicated node's log.
#[derive(Debug, Clone, PartialEq)]
pub enum RaftRecord {
    /// A Raft log entry.
    Entry(Entry),
    /// Entries from this index on were removed (a follower's log conflicted with the
    /// leader's).
    Truncate(u64),
    /// Entries up to this log id were removed (a snapshot covers them).
    Purge(LogId),
    /// The group's commit point, so that a restarted node applies what was committed
    /// without waiting for a leader.
    Committed(LogId),
}

/// A record payload that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    /// Shorter than its fields.
    #[error("a Raft record ends early (needs {needed} bytes at offset {offset})")]
    Short {
        /// Where the field starts.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
    },
    /// An unknown record tag or entry kind.
    #[error("unknown Raft record {what} {value}")]
    Unknown {
        /// `tag` or `entry kind`.
        what: &'static str,
        /// The value found.
        value: u8,
    },
    /// A membership that is not valid JSON of a membership.
    #[error("a membership record cannot be decoded: {0}")]
    Membership(String),
    /// Bytes after the last field.
    #[error("{0} bytes after the end of a Raft record")]
    Trailing(usize),
}

pub(crate) fn put_log_id(out: &mut Vec<u8>, id: &LogId) {
    out.extend_from_slice(&id.leader_id.term.to_le_bytes());
    out.extend_from_slice(&id.leader_id.node_id.to_le_bytes());
    out.extend_from_slice(&id.index.to_le_bytes());
}

/// Appends the record payload of entry `e` to `out` (what [`encode`] makes of
/// `RaftRecord::Entry`), without a copy of the entry.
pub fn encode_entry(e: &Entry, out: &mut Vec<u8>) {
    out.push(TAG_ENTRY);
    put_log_id(out, &e.log_id);
    match &e.payload {
        EntryPayload::Blank => out.push(KIND_BLANK),
        EntryPayload::Normal(p) => match p.items.as_slice() {
            [one] => {
                out.reserve(25 + one.effects.len());
                out.push(KIND_NORMAL);
                out.extend_from_slice(&p.origin.node.to_le_bytes());
                out.extend_from_slice(&p.origin.incarnation.to_le_bytes());
                out.extend_from_slice(&one.local_seq.to_le_bytes());
                out.extend_from_slice(&one.effects);
            }
            items => {
                let size: usize = items.iter().map(|i| 12 + i.effects.len()).sum();
                out.reserve(21 + size);
                out.push(KIND_BATCH);
                out.extend_from_slice(&p.origin.node.to_le_bytes());
                out.extend_from_slice(&p.origin.incarnation.to_le_bytes());
                out.extend_from_slice(&(items.len() as u32).to_le_bytes());
                for i in items {
                    out.extend_from_slice(&i.local_seq.to_le_bytes());
                    out.extend_from_slice(&(i.effects.len() as u32).to_le_bytes());
                    out.extend_from_slice(&i.effects);
                }
            }
        },
        EntryPayload::Membership(m) => {
            out.push(KIND_MEMBERSHIP);
            // Serializing plain data structures to a Vec cannot fail.
            if let Ok(json) = serde_json::to_vec(m) {
                out.extend_from_slice(&json);
            }
        }
    }
}

/// Encodes `record` as a log record payload.
pub fn encode(record: &RaftRecord) -> Vec<u8> {
    let mut out = Vec::new();
    match record {
        RaftRecord::Entry(e) => encode_entry(e, &mut out),
        RaftRecord::Truncate(index) => {
            out.push(TAG_TRUNCATE);
            out.extend_from_slice(&index.to_le_bytes());
        }
        RaftRecord::Purge(id) => {
            out.push(TAG_PURGE);
            put_log_id(&mut out, id);
        }
        RaftRecord::Committed(id) => {
            out.push(TAG_COMMITTED);
            put_log_id(&mut out, id);
        }
    }
    out
}

/// Reads the fields of a record (or of a message of [`crate::wire`]) in order.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&[u8], RecordError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(RecordError::Short {
                offset: self.pos,
                needed: n,
            });
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, RecordError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, RecordError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn log_id(&mut self) -> Result<LogId, RecordError> {
        let term = self.u64()?;
        let node = self.u64()?;
        let index = self.u64()?;
        Ok(LogId::new(CommittedLeaderId::new(term, node), index))
    }

    pub(crate) fn rest(&mut self) -> &[u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    pub(crate) fn end(&self) -> Result<(), RecordError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            n => Err(RecordError::Trailing(n)),
        }
    }
}

/// Decodes a log record payload.
pub fn decode(payload: &[u8]) -> Result<RaftRecord, RecordError> {
    let mut r = Reader::new(payload);
    let record = match r.u8()? {
        TAG_ENTRY => {
            let log_id = r.log_id()?;
            let payload = match r.u8()? {
                KIND_BLANK => EntryPayload::Blank,
                KIND_NORMAL => {
                    let node = r.u64()?;
                    let incarnation = r.u64()?;
                    let local_seq = r.u64()?;
                    EntryPayload::Normal(Proposal {
                        origin: Origin { node, incarnation },
                        items: vec![Item {
                            local_seq,
                            effects: bytes::Bytes::copy_from_slice(r.rest()),
                        }],
                    })
                }
                KIND_BATCH => {
                    let node = r.u64()?;
                    let incarnation = r.u64()?;
                    let count = r.u32()? as usize;
                    // Bounded by the record: every item takes at least 12 bytes.
                    let mut items = Vec::with_capacity(count.min(payload.len() / 12));
                    for _ in 0..count {
                        let local_seq = r.u64()?;
                        let len = r.u32()? as usize;
                        items.push(Item {
                            local_seq,
                            effects: bytes::Bytes::copy_from_slice(r.take(len)?),
                        });
                    }
                    EntryPayload::Normal(Proposal {
                        origin: Origin { node, incarnation },
                        items,
                    })
                }
                KIND_MEMBERSHIP => {
                    let m: Membership = serde_json::from_slice(r.rest())
                        .map_err(|e| RecordError::Membership(e.to_string()))?;
                    EntryPayload::Membership(m)
                }
                value => {
                    return Err(RecordError::Unknown {
                        what: "entry kind",
                        value,
                    })
                }
            };
            RaftRecord::Entry(Entry { log_id, payload })
        }
        TAG_TRUNCATE => RaftRecord::Truncate(r.u64()?),
        TAG_PURGE => RaftRecord::Purge(r.log_id()?),
        TAG_COMMITTED => RaftRecord::Committed(r.log_id()?),
        value => return Err(RecordError::Unknown { what: "tag", value }),
    };
    r.end()?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PeerNode;
    use std::collections::{BTreeMap, BTreeSet};

    fn id(term: u64, node: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, node), index)
    }

    fn samples() -> Vec<RaftRecord> {
        let nodes: BTreeMap<u64, PeerNode> = (1..=3)
            .map(|i| {
                (
                    i,
                    PeerNode {
                        raft_addr: format!("127.0.0.1:1700{i}"),
                        resp_addr: format!("127.0.0.1:700{i}"),
                    },
                )
            })
            .collect();
        let voters: BTreeSet<u64> = nodes.keys().copied().collect();
        vec![
            RaftRecord::Entry(Entry {
                log_id: id(1, 1, 1),
                payload: EntryPayload::Blank,
            }),
            RaftRecord::Entry(Entry {
                log_id: id(2, 3, 7),
                payload: EntryPayload::Normal(Proposal {
                    origin: Origin {
                        node: 3,
                        incarnation: 99,
                    },
                    items: vec![Item {
                        local_seq: 12,
                        effects: b"\x01\x00k\x01v".to_vec().into(),
                    }],
                }),
            }),
            RaftRecord::Entry(Entry {
                log_id: id(2, 3, 8),
                payload: EntryPayload::Normal(Proposal {
                    origin: Origin {
                        node: 3,
                        incarnation: 99,
                    },
                    items: vec![
                        Item {
                            local_seq: 13,
                            effects: b"\x01\x00a\x01b".to_vec().into(),
                        },
                        Item {
                            local_seq: 14,
                            effects: Vec::new().into(),
                        },
                    ],
                }),
            }),
            RaftRecord::Entry(Entry {
                log_id: id(2, 3, 8),
                payload: EntryPayload::Membership(Membership::new(vec![voters], nodes)),
            }),
            RaftRecord::Truncate(9),
            RaftRecord::Purge(id(2, 3, 5)),
            RaftRecord::Committed(id(2, 3, 8)),
        ]
    }

    #[test]
    fn every_record_decodes_to_itself() {
        for r in samples() {
            assert_eq!(decode(&encode(&r)), Ok(r.clone()), "{r:?}");
        }
    }

    #[test]
    fn damaged_payloads_are_errors_not_panics() {
        for r in samples() {
            let good = encode(&r);
            for cut in 0..good.len() {
                // A one-command entry's effects run to the end, so a cut there is still
                // valid.
                if let Ok(RaftRecord::Entry(Entry {
                    payload: EntryPayload::Normal(p),
                    ..
                })) = decode(&good[..cut])
                {
                    if p.items.len() == 1 {
                        continue;
                    }
                }
                assert!(decode(&good[..cut]).is_err(), "{r:?} cut at {cut}");
            }
            let mut long = good.clone();
            long.push(0);
            let runs_to_end = match &r {
                RaftRecord::Entry(Entry {
                    payload: EntryPayload::Normal(p),
                    ..
                }) => p.items.len() == 1,
                RaftRecord::Entry(Entry {
                    payload: EntryPayload::Membership(_),
                    ..
                }) => true,
                _ => false,
            };
            if !runs_to_end {
                assert_eq!(decode(&long), Err(RecordError::Trailing(1)), "{r:?}");
            }
        }
        assert_eq!(
            decode(&[9]),
            Err(RecordError::Unknown {
                what: "tag",
                value: 9
            })
        );
        assert!(decode(&[]).is_err());
    }
}
