//! Segment files of the write-ahead log: `wal-<first seq, 20 digits>.log`, each starting
//! with a 32-byte header that names the format and version.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::StorageError;

/// Bytes of a segment header.
pub const SEGMENT_HEADER_LEN: usize = 32;
/// Segment magic bytes.
pub const SEGMENT_MAGIC: &[u8; 8] = b"FDBWAL\0\0";
/// The format version this build writes and reads.
pub const SEGMENT_VERSION: u32 = 1;

/// The file name of the segment whose first record is `first_seq`.
pub fn segment_name(first_seq: u64) -> String {
    format!("wal-{first_seq:020}.log")
}

/// The first sequence number encoded in a segment file name.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("wal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// The header of a segment starting at `first_seq`.
pub fn header(first_seq: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a segment header; returns the first sequence number it names.
pub fn check_header(path: &Path, buf: &[u8]) -> Result<u64, StorageError> {
    let bad = |reason: &str| StorageError::BadHeader {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if buf.len() < SEGMENT_HEADER_LEN {
        return Err(bad("segment shorter than its header"));
    }
    if &buf[0..8] != SEGMENT_MAGIC {
        return Err(bad("not a FlashDB log segment (bad magic)"));
    }
    let crc = u32::from_le_bytes([buf[24], buf[25], buf[26], buf[27]]);
    if crc32c::crc32c(&buf[0..24]) != crc {
        return Err(bad("segment header checksum mismatch"));
    }
    let version = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
    if version != SEGMENT_VERSION {
        return Err(bad(&format!(
            "log format version {version}, this build reads version {SEGMENT_VERSION}"
        )));
    }
    let mut s = [0u8; 8];
    s.copy_from_slice(&buf[16..24]);
    Ok(u64::from_le_bytes(s))
}

/// The segments in `dir`, sorted by first sequence number.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        let name = entry.file_name();
        if let Some(seq) = name.to_str().and_then(parse_segment_name) {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Creates a new segment file with its header, durably (file and directory fsynced).
pub fn create_segment(dir: &Path, first_seq: u64) -> Result<(File, PathBuf), StorageError> {
    let path = dir.join(segment_name(first_seq));
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)
        .map_err(|e| StorageError::io(&path, e))?;
    f.write_all(&header(first_seq))
        .map_err(|e| StorageError::io(&path, e))?;
    f.sync_all().map_err(|e| StorageError::io(&path, e))?;
    sync_dir(dir)?;
    Ok((f, path))
}

/// Fsyncs a directory, so that files created, renamed or removed in it stay so.
pub fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(dir, e))
}
