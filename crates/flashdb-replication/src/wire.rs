//! Raft's `AppendEntries` between nodes as binary frames on a long-lived connection.
//!
//! A leader sends a follower an `AppendEntries` for every entry it stores and for every
//! move of the commit point: thousands a second under load. As HTTP requests with JSON
//! bodies each one cost a request's worth of parsing, routing and encoding on both
//! sides, and a hand-off to the HTTP client's connection task; here it is one write and
//! one read on a connection the replication stream owns. The connection is an HTTP/1.1
//! upgrade of a request to `/raft/stream` on `--raft-port`, so it goes through the same
//! listener, TLS and group check as the rest of the nodes' traffic.
//!
//! A frame is a little-endian `u32` length, then that many bytes:
//!
//! | message | fields |
//! |---|---|
//! | request | vote (term u64, node u64, committed u8), previous log id (opt), leader commit (opt), count u32, then for each entry: length u32 and the entry as its log record ([`crate::codec`]) |
//! | response | kind u8: 0 success; 1 partial success, then log id (opt); 2 conflict; 3 higher vote, then vote; 4 error, then openraft's error as JSON |
//!
//! An optional log id (opt) is a byte, 0 for none or 1, then term u64, leader node u64
//! and index u64.

use openraft::error::RaftError;
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse};
use openraft::{LeaderId, Vote};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::codec::{decode, encode_entry, put_log_id, RaftRecord, Reader, RecordError};
use crate::types::{LogId, TypeConfig};

/// The largest frame taken from a peer, which bounds what a peer's message can make
/// this node hold. Requests are far smaller: openraft sends a few entries at a time, and
/// an entry carries the commands that arrived while the last one was being stored. A
/// single entry larger than this (one transaction writing more) cannot be replicated.
pub const MAX_FRAME: usize = 1 << 30;

/// The value of the `Upgrade` header that turns a `/raft/stream` request into a stream.
pub const PROTOCOL: &str = "flashdb-raft/1";

/// A message that cannot be decoded.
#[derive(Debug, Error)]
pub enum WireError {
    /// A field is missing, or has an unknown value.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A frame says it is longer than [`MAX_FRAME`].
    #[error("a frame of {0} bytes is over the limit of {MAX_FRAME}")]
    TooLong(usize),
    /// An entry of the request is another kind of record.
    #[error("an AppendEntries request carries a record that is not an entry")]
    NotAnEntry,
    /// The remote error does not decode.
    #[error("a remote error cannot be decoded: {0}")]
    Error(String),
    /// The connection failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What a follower answers an `AppendEntries` with.
pub type Reply = Result<AppendEntriesResponse<u64>, RaftError<u64>>;

fn put_opt_log_id(out: &mut Vec<u8>, id: &Option<LogId>) {
    match id {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            put_log_id(out, id);
        }
    }
}

fn opt_log_id(r: &mut Reader<'_>) -> Result<Option<LogId>, RecordError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.log_id()?)),
        value => Err(RecordError::Unknown {
            what: "optional log id",
            value,
        }),
    }
}

fn put_vote(out: &mut Vec<u8>, vote: &Vote<u64>) {
    out.extend_from_slice(&vote.leader_id.term.to_le_bytes());
    out.extend_from_slice(&vote.leader_id.node_id.to_le_bytes());
    out.push(u8::from(vote.committed));
}

fn vote(r: &mut Reader<'_>) -> Result<Vote<u64>, RecordError> {
    let term = r.u64()?;
    let node_id = r.u64()?;
    let committed = r.u8()? != 0;
    Ok(Vote {
        leader_id: LeaderId { term, node_id },
        committed,
    })
}

/// Encodes `req` as a frame (its length first).
pub fn encode_request(req: &AppendEntriesRequest<TypeConfig>) -> Vec<u8> {
    let mut out = vec![0; 4];
    put_vote(&mut out, &req.vote);
    put_opt_log_id(&mut out, &req.prev_log_id);
    put_opt_log_id(&mut out, &req.leader_commit);
    out.extend_from_slice(&(req.entries.len() as u32).to_le_bytes());
    for e in &req.entries {
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        encode_entry(e, &mut out);
        let len = (out.len() - at - 4) as u32;
        out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
    seal(out)
}

/// Decodes a request frame's body.
pub fn decode_request(body: &[u8]) -> Result<AppendEntriesRequest<TypeConfig>, WireError> {
    let mut r = Reader::new(body);
    let vote = vote(&mut r)?;
    let prev_log_id = opt_log_id(&mut r)?;
    let leader_commit = opt_log_id(&mut r)?;
    let count = r.u32()? as usize;
    // Bounded by the frame: every entry takes at least 4 bytes.
    let mut entries = Vec::with_capacity(count.min(body.len() / 4));
    for _ in 0..count {
        let len = r.u32()? as usize;
        match decode(r.take(len)?)? {
            RaftRecord::Entry(e) => entries.push(e),
            _ => return Err(WireError::NotAnEntry),
        }
    }
    r.end()?;
    Ok(AppendEntriesRequest {
        vote,
        prev_log_id,
        entries,
        leader_commit,
    })
}

/// Encodes `reply` as a frame (its length first).
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let mut out = vec![0; 4];
    match reply {
        Ok(AppendEntriesResponse::Success) => out.push(0),
        Ok(AppendEntriesResponse::PartialSuccess(id)) => {
            out.push(1);
            put_opt_log_id(&mut out, id);
        }
        Ok(AppendEntriesResponse::Conflict) => out.push(2),
        Ok(AppendEntriesResponse::HigherVote(v)) => {
            out.push(3);
            put_vote(&mut out, v);
        }
        Err(e) => {
            out.push(4);
            // Serializing plain data structures to a Vec cannot fail; an empty error
            // would fail to decode on the other side, which reports it.
            out.extend_from_slice(&serde_json::to_vec(e).unwrap_or_default());
        }
    }
    seal(out)
}

/// Decodes a reply frame's body.
pub fn decode_reply(body: &[u8]) -> Result<Reply, WireError> {
    let mut r = Reader::new(body);
    let reply = match r.u8()? {
        0 => Ok(AppendEntriesResponse::Success),
        1 => Ok(AppendEntriesResponse::PartialSuccess(opt_log_id(&mut r)?)),
        2 => Ok(AppendEntriesResponse::Conflict),
        3 => Ok(AppendEntriesResponse::HigherVote(vote(&mut r)?)),
        4 => Err(serde_json::from_slice(r.rest()).map_err(|e| WireError::Error(e.to_string()))?),
        value => {
            return Err(WireError::Record(RecordError::Unknown {
                what: "reply kind",
                value,
            }))
        }
    };
    r.end()?;
    Ok(reply)
}

/// Writes the body's length into the frame's first four bytes.
fn seal(mut frame: Vec<u8>) -> Vec<u8> {
    let len = (frame.len() - 4) as u32;
    frame[..4].copy_from_slice(&len.to_le_bytes());
    frame
}

/// Writes an encoded frame and flushes it.
pub async fn write_frame<W: AsyncWrite + Unpin>(io: &mut W, frame: &[u8]) -> std::io::Result<()> {
    io.write_all(frame).await?;
    io.flush().await
}

/// Reads a frame's body; `None` when the peer closed the connection between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(io: &mut R) -> Result<Option<Vec<u8>>, WireError> {
    let mut len = [0u8; 4];
    match io.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(WireError::TooLong(len));
    }
    // Grown as the bytes arrive, not sized by the header: a bad length costs no more
    // memory than the bytes actually sent.
    let mut body = Vec::with_capacity(len.min(1 << 16));
    let got = io.take(len as u64).read_to_end(&mut body).await?;
    if got < len {
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Entry, Item, Origin, Proposal};
    use openraft::error::Fatal;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn id(term: u64, node: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, node), index)
    }

    fn request(entries: Vec<Entry>) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(3, 2),
            prev_log_id: Some(id(3, 2, 10)),
            entries,
            leader_commit: Some(id(2, 1, 9)),
        }
    }

    fn body(frame: &[u8]) -> &[u8] {
        let len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(len, frame.len() - 4);
        &frame[4..]
    }

    #[test]
    fn requests_round_trip() {
        let entries = vec![
            Entry {
                log_id: id(3, 2, 11),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: id(3, 2, 12),
                payload: EntryPayload::Normal(Proposal {
                    origin: Origin {
                        node: 2,
                        incarnation: 7,
                    },
                    items: vec![
                        Item {
                            local_seq: 40,
                            effects: b"one".to_vec().into(),
                        },
                        Item {
                            local_seq: 41,
                            effects: vec![0; 300].into(),
                        },
                    ],
                }),
            },
        ];
        for req in [request(Vec::new()), request(entries)] {
            let back = decode_request(body(&encode_request(&req))).unwrap();
            assert_eq!(back.vote, req.vote);
            assert_eq!(back.prev_log_id, req.prev_log_id);
            assert_eq!(back.leader_commit, req.leader_commit);
            assert_eq!(back.entries, req.entries);
        }
        let first = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new(1, 1),
            prev_log_id: None,
            entries: Vec::new(),
            leader_commit: None,
        };
        let back = decode_request(body(&encode_request(&first))).unwrap();
        assert_eq!((back.vote, back.prev_log_id), (first.vote, None));
    }

    #[test]
    fn replies_round_trip() {
        let replies: Vec<Reply> = vec![
            Ok(AppendEntriesResponse::Success),
            Ok(AppendEntriesResponse::PartialSuccess(None)),
            Ok(AppendEntriesResponse::PartialSuccess(Some(id(4, 1, 99)))),
            Ok(AppendEntriesResponse::Conflict),
            Ok(AppendEntriesResponse::HigherVote(Vote::new(9, 3))),
            Err(RaftError::Fatal(Fatal::Panicked)),
        ];
        for reply in replies {
            let back = decode_reply(body(&encode_reply(&reply))).unwrap();
            assert_eq!(format!("{back:?}"), format!("{reply:?}"));
        }
    }

    #[test]
    fn damaged_messages_are_errors() {
        let frame = encode_request(&request(vec![Entry {
            log_id: id(3, 2, 11),
            payload: EntryPayload::Blank,
        }]));
        let whole = body(&frame);
        for cut in 0..whole.len() {
            assert!(decode_request(&whole[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = whole.to_vec();
        longer.push(0);
        assert!(decode_request(&longer).is_err());
        assert!(decode_reply(&[9]).is_err());
        assert!(decode_reply(&[4, b'{']).is_err());
    }

    #[tokio::test]
    async fn frames_are_bounded_and_end_cleanly() {
        let frame = encode_reply(&Ok(AppendEntriesResponse::Conflict));
        let mut two = frame.clone();
        two.extend_from_slice(&frame);
        let mut io = two.as_slice();
        assert_eq!(read_frame(&mut io).await.unwrap(), Some(vec![2]));
        assert_eq!(read_frame(&mut io).await.unwrap(), Some(vec![2]));
        assert_eq!(read_frame(&mut io).await.unwrap(), None);

        let huge = ((MAX_FRAME + 1) as u32).to_le_bytes();
        assert!(matches!(
            read_frame(&mut huge.as_slice()).await,
            Err(WireError::TooLong(_))
        ));
        let mut short = 10u32.to_le_bytes().to_vec();
        short.extend_from_slice(b"abc");
        assert!(matches!(
            read_frame(&mut short.as_slice()).await,
            Err(WireError::Io(_))
        ));
    }
}
