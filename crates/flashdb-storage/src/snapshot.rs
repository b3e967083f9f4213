//! Snapshot files: `snapshot-<seq, 20 digits>.fdb`.
//!
//! A 40-byte header (magic, version, databases, the sequence number covered, creation time,
//! checksum), then frames `kind u8 | len u32 | crc32c u32 | payload`, the last of which is an
//! end frame carrying the number of data frames. A snapshot without its end frame is
//! incomplete. It is written to a temporary file, fsynced, renamed into place, and the
//! directory fsynced, so a crash leaves either the old snapshot or the new one. A node of
//! a replication group also writes one meta frame, opaque here: the last applied Raft log
//! id and membership.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::StorageError;
use crate::segment::sync_dir;

const MAGIC: &[u8; 8] = b"FDBSNAP\0";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 40;
const FRAME_HEADER: usize = 9;
const KIND_DATA: u8 = 1;
const KIND_END: u8 = 2;
const KIND_META: u8 = 3;
/// Largest frame payload accepted when reading.
const MAX_FRAME: u64 = 1 << 31;

/// The file name of the snapshot covering `seq`.
pub fn snapshot_name(seq: u64) -> String {
    format!("snapshot-{seq:020}.fdb")
}

/// The sequence number in a snapshot file name.
pub fn parse_snapshot_name(name: &str) -> Option<u64> {
    name.strip_prefix("snapshot-")?
        .strip_suffix(".fdb")?
        .parse()
        .ok()
}

/// The snapshots in `dir`, newest (highest sequence number) first.
pub fn list_snapshots(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_snapshot_name) {
            out.push((seq, entry.path()));
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.0));
    Ok(out)
}

/// Receives each data chunk of a snapshot with its file offset; an `Err` marks the chunk
/// as damaged.
pub type ChunkSink<'a> = &'a mut dyn FnMut(&[u8], u64) -> Result<(), String>;

/// Writes one snapshot.
pub struct SnapshotWriter {
    out: BufWriter<File>,
    tmp: PathBuf,
    dir: PathBuf,
    seq: u64,
    frames: u64,
    bytes: u64,
}

impl SnapshotWriter {
    /// Starts `snapshot-<seq>.fdb` (as a temporary file) in `dir`.
    pub fn create(
        dir: &Path,
        seq: u64,
        databases: u32,
        created_ms: u64,
    ) -> Result<SnapshotWriter, StorageError> {
        let tmp = dir.join(format!("{}.tmp", snapshot_name(seq)));
        let file = File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&databases.to_le_bytes());
        h[16..24].copy_from_slice(&seq.to_le_bytes());
        h[24..32].copy_from_slice(&created_ms.to_le_bytes());
        let crc = crc32c::crc32c(&h[0..36]);
        h[36..40].copy_from_slice(&crc.to_le_bytes());
        out.write_all(&h).map_err(|e| StorageError::io(&tmp, e))?;
        Ok(SnapshotWriter {
            out,
            tmp,
            dir: dir.to_path_buf(),
            seq,
            frames: 0,
            bytes: HEADER_LEN as u64,
        })
    }

    fn frame(&mut self, kind: u8, payload: &[u8]) -> Result<(), StorageError> {
        let mut h = [0u8; FRAME_HEADER];
        h[0] = kind;
        h[1..5].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&h[0..5]), payload);
        h[5..9].copy_from_slice(&crc.to_le_bytes());
        self.out
            .write_all(&h)
            .map_err(|e| StorageError::io(&self.tmp, e))?;
        self.out
            .write_all(payload)
            .map_err(|e| StorageError::io(&self.tmp, e))?;
        self.bytes += (FRAME_HEADER + payload.len()) as u64;
        Ok(())
    }

    /// Writes a chunk of encoded entries.
    pub fn write_chunk(&mut self, payload: &[u8]) -> Result<(), StorageError> {
        if payload.is_empty() {
            return Ok(());
        }
        self.frame(KIND_DATA, payload)?;
        self.frames += 1;
        Ok(())
    }

    /// Writes the metadata frame (at most one per snapshot; see [`SnapshotInfo::meta`]).
    pub fn write_meta(&mut self, meta: &[u8]) -> Result<(), StorageError> {
        self.frame(KIND_META, meta)
    }

    /// Ends the snapshot and makes it durable: end frame, fsync, rename, directory fsync.
    /// Returns its path and size.
    pub fn finish(mut self) -> Result<(PathBuf, u64), StorageError> {
        let frames = self.frames.to_le_bytes();
        self.frame(KIND_END, &frames)?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| StorageError::io(&self.tmp, e.into_error()))?;
        file.sync_all()
            .map_err(|e| StorageError::io(&self.tmp, e))?;
        drop(file);
        let path = self.dir.join(snapshot_name(self.seq));
        std::fs::rename(&self.tmp, &path).map_err(|e| StorageError::io(&path, e))?;
        sync_dir(&self.dir)?;
        Ok((path, self.bytes))
    }

    /// Abandons the snapshot, removing its temporary file.
    pub fn abort(self) {
        let tmp = self.tmp.clone();
        drop(self.out);
        let _ = std::fs::remove_file(tmp);
    }
}

/// What a snapshot's header says.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    /// The sequence number it covers.
    pub seq: u64,
    /// Databases when it was written.
    pub databases: u32,
    /// Unix milliseconds when it was started.
    pub created_ms: u64,
    /// Data frames.
    pub frames: u64,
    /// The metadata frame's payload, if the snapshot has one (a replicated node's).
    pub meta: Option<Vec<u8>>,
}

/// Reads and verifies a snapshot, handing every data frame's payload to `on_chunk`
/// (`None`: verify only). Callers that must not apply a damaged snapshot verify first.
pub fn read_snapshot(
    path: &Path,
    mut on_chunk: Option<ChunkSink<'_>>,
) -> Result<SnapshotInfo, StorageError> {
    let buf = std::fs::read(path).map_err(|e| StorageError::io(path, e))?;
    let corrupt = |offset: usize, reason: &str| StorageError::CorruptSnapshot {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason: reason.to_string(),
    };
    if buf.len() < HEADER_LEN || &buf[0..8] != MAGIC {
        return Err(corrupt(0, "not a FlashDB snapshot (bad magic)"));
    }
    let word = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    let dword = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&buf[i..i + 8]);
        u64::from_le_bytes(a)
    };
    if crc32c::crc32c(&buf[0..36]) != word(36) {
        return Err(corrupt(0, "header checksum mismatch"));
    }
    if word(8) != VERSION {
        return Err(corrupt(
            8,
            &format!(
                "snapshot format version {}, this build reads {VERSION}",
                word(8)
            ),
        ));
    }
    let info_base = (word(12), dword(16), dword(24));
    let mut pos = HEADER_LEN;
    let mut frames = 0u64;
    let mut meta = None;
    loop {
        if buf.len() - pos < FRAME_HEADER {
            return Err(corrupt(
                pos,
                "snapshot ends without its end frame (incomplete)",
            ));
        }
        let kind = buf[pos];
        let len = u64::from(word(pos + 1));
        if len > MAX_FRAME || ((buf.len() - pos - FRAME_HEADER) as u64) < len {
            return Err(corrupt(pos, "frame length beyond the end of the file"));
        }
        let payload = &buf[pos + FRAME_HEADER..pos + FRAME_HEADER + len as usize];
        let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[pos..pos + 5]), payload);
        if crc != word(pos + 5) {
            return Err(corrupt(pos, "frame checksum mismatch"));
        }
        match kind {
            KIND_DATA => {
                if let Some(f) = on_chunk.as_mut() {
                    f(payload, pos as u64).map_err(|e| corrupt(pos, &e))?;
                }
                frames += 1;
            }
            KIND_END => {
                if payload.len() != 8
                    || u64::from_le_bytes([
                        payload[0], payload[1], payload[2], payload[3], payload[4], payload[5],
                        payload[6], payload[7],
                    ]) != frames
                {
                    return Err(corrupt(pos, "end frame does not match the frames read"));
                }
                if pos + FRAME_HEADER + 8 != buf.len() {
                    return Err(corrupt(pos + FRAME_HEADER + 8, "bytes after the end frame"));
                }
                return Ok(SnapshotInfo {
                    databases: info_base.0,
                    seq: info_base.1,
                    created_ms: info_base.2,
                    frames,
                    meta,
                });
            }
            KIND_META if meta.is_none() => meta = Some(payload.to_vec()),
            KIND_META => return Err(corrupt(pos, "a second meta frame")),
            other => return Err(corrupt(pos, &format!("unknown frame kind {other}"))),
        }
        pos += FRAME_HEADER + len as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fdb-snap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn write_read_and_every_bit_flip_is_detected() {
        let dir = tmpdir("flip");
        let mut w = SnapshotWriter::create(&dir, 42, 16, 1000).unwrap();
        w.write_meta(b"raft meta").unwrap();
        w.write_chunk(b"chunk one").unwrap();
        w.write_chunk(b"chunk two").unwrap();
        let (path, _) = w.finish().unwrap();
        let mut chunks = Vec::new();
        let info = read_snapshot(
            &path,
            Some(&mut |c: &[u8], _| {
                chunks.push(c.to_vec());
                Ok(())
            }),
        )
        .unwrap();
        assert_eq!((info.seq, info.frames, info.databases), (42, 2, 16));
        assert_eq!(info.meta.as_deref(), Some(&b"raft meta"[..]));
        assert_eq!(chunks, vec![b"chunk one".to_vec(), b"chunk two".to_vec()]);
        let good = std::fs::read(&path).unwrap();
        for bit in 0..good.len() * 8 {
            let mut b = good.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&path, &b).unwrap();
            assert!(
                read_snapshot(&path, None).is_err(),
                "flip of bit {bit} not detected"
            );
        }
        for cut in 0..good.len() {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert!(
                read_snapshot(&path, None).is_err(),
                "truncation at {cut} not detected"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
