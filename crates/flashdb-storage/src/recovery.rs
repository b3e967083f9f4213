//! Start-up recovery: the newest valid snapshot, then every log record after it.
//!
//! The only damage repaired silently (and logged, with its offset) is a torn tail: the
//! incomplete last record of the last segment that a crash leaves behind. Zeros after the
//! last record are not damage: segments are zero-filled ahead of the records. Damage that
//! can only hold records the loaded snapshot already covers is skipped and reported: those
//! records are stale copies of what the snapshot holds. Anything else (a bad checksum
//! before the tail, a missing segment, a corrupt snapshot with nothing to fall back on)
//! stops recovery with an error that names the file and the offset.

use std::path::{Path, PathBuf};

use crate::error::StorageError;
use crate::record::{self, is_torn_tail};
use crate::segment::{check_header, list_segments, sync_dir, SEGMENT_HEADER_LEN};
use crate::snapshot::{list_snapshots, read_snapshot, ChunkSink};

/// Receives each log record after the snapshot with its sequence number; an `Err` marks
/// the record as damaged.
pub type RecordSink<'a> = &'a mut dyn FnMut(u64, &[u8]) -> Result<(), String>;

/// What recovery found and did.
#[derive(Debug, Default)]
pub struct RecoveryReport {
    /// The snapshot loaded and the sequence number it covers.
    pub snapshot: Option<(PathBuf, u64)>,
    /// The loaded snapshot's meta frame, if it has one (a replicated node's).
    pub snapshot_meta: Option<Vec<u8>>,
    /// Snapshots skipped because they failed verification.
    pub skipped_snapshots: Vec<String>,
    /// The last sequence number recovered.
    pub last_seq: u64,
    /// Log records applied.
    pub records_replayed: u64,
    /// A torn tail cut off: the segment, the offset, and the bytes removed.
    pub torn_tail: Option<(PathBuf, u64, u64)>,
    /// Damage skipped because the snapshot covers every record it can hold, one line
    /// each (file, offset, what).
    pub covered_damage: Vec<String>,
    /// Segments present after recovery, oldest first.
    pub segments: Vec<(u64, PathBuf)>,
    /// Where the last segment's records end: new records are written from there (the
    /// file may be longer, zero-filled ahead).
    pub end_offset: Option<u64>,
}

/// Recovers `dir`: snapshot chunks go to `on_chunk`, records after the snapshot to
/// `on_record` (with their sequence number). A callback's error stops recovery as damage
/// at that place.
pub fn recover(
    dir: &Path,
    on_chunk: ChunkSink<'_>,
    on_record: RecordSink<'_>,
) -> Result<RecoveryReport, StorageError> {
    crate::failpoint::pause("recovery-pause");
    remove_stale_temporaries(dir)?;
    let mut report = RecoveryReport::default();
    let mut segments = list_segments(dir)?;
    let first_logged = segments.first().map(|(s, _)| *s);
    let snapshots = list_snapshots(dir)?;
    let mut chosen: Option<(PathBuf, u64)> = None;
    let mut first_error: Option<StorageError> = None;
    for (seq, path) in &snapshots {
        match read_snapshot(path, None) {
            Ok(_) => {
                if first_logged.is_none_or(|f| f <= seq + 1) {
                    chosen = Some((path.clone(), *seq));
                    break;
                }
                report.skipped_snapshots.push(format!(
                    "{}: log segments after it are missing",
                    path.display()
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "snapshot failed verification");
                report.skipped_snapshots.push(e.to_string());
                first_error.get_or_insert(e);
            }
        }
    }
    if chosen.is_none() && !snapshots.is_empty() && first_logged.is_some_and(|f| f > 1) {
        // Snapshots exist but none can be used, and the log alone does not go back to the
        // beginning: starting would silently lose data.
        return Err(first_error.unwrap_or_else(|| StorageError::Gap {
            path: segments[0].1.clone(),
            expected: 1,
            found: segments[0].0,
        }));
    }
    let mut expected = 1;
    let covered = chosen.as_ref().map_or(0, |(_, seq)| *seq);
    let firsts: Vec<u64> = segments.iter().map(|(s, _)| *s).collect();
    if let Some((path, seq)) = &chosen {
        report.snapshot_meta = read_snapshot(path, Some(on_chunk))?.meta;
        expected = seq + 1;
        report.snapshot = Some((path.clone(), *seq));
    }
    let count = segments.len();
    let mut keep = Vec::with_capacity(count);
    for (i, (name_seq, path)) in segments.drain(..).enumerate() {
        let last_segment = i + 1 == count;
        let buf = std::fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
        if last_segment && buf.len() < SEGMENT_HEADER_LEN {
            // A crash while the segment was being created: nothing in it was acknowledged.
            tracing::warn!(segment = %path.display(), "removing a segment whose header was never completed");
            std::fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            sync_dir(dir)?;
            continue;
        }
        let next_first = firsts.get(i + 1).copied();
        let header_seq = match check_header(&path, &buf) {
            Ok(seq) => seq,
            Err(e) if next_first.is_some_and(|f| f <= covered + 1) => {
                report_covered(&mut report, &e.to_string());
                keep.push((name_seq, path));
                continue;
            }
            Err(e) => return Err(e),
        };
        if header_seq != name_seq {
            return Err(StorageError::BadHeader {
                path,
                reason: format!("header says first record {header_seq}, file name says {name_seq}"),
            });
        }
        if header_seq > expected {
            return Err(StorageError::Gap {
                path,
                expected,
                found: header_seq,
            });
        }
        let mut offset = SEGMENT_HEADER_LEN;
        loop {
            match record::read_at(&buf, offset) {
                Ok(None) => break,
                Ok(Some(r)) => {
                    if r.seq >= expected {
                        if r.seq != expected {
                            return Err(StorageError::Gap {
                                path,
                                expected,
                                found: r.seq,
                            });
                        }
                        on_record(r.seq, r.payload).map_err(|reason| {
                            StorageError::CorruptRecord {
                                path: path.clone(),
                                offset: offset as u64,
                                reason,
                            }
                        })?;
                        report.records_replayed += 1;
                        expected += 1;
                    }
                    offset += record::HEADER_LEN + r.payload.len();
                }
                Err(_) if record::is_zero_tail(&buf, offset) => break,
                Err(damage) => {
                    if last_segment && is_torn_tail(&buf, offset, &damage) {
                        let cut = record::written_end(&buf).saturating_sub(offset) as u64;
                        tracing::warn!(
                            segment = %path.display(),
                            offset,
                            bytes = cut,
                            "cutting off the torn tail of the log (an incomplete last record left by a crash)"
                        );
                        truncate(&path, offset as u64)?;
                        report.torn_tail = Some((path.clone(), offset as u64, cut));
                        break;
                    }
                    if let Some(next) =
                        record::resume_after_covered(&buf, offset, &damage, covered, next_first)
                    {
                        let what = format!("{} at offset {offset}: {damage}", path.display());
                        report_covered(&mut report, &what);
                        offset = next;
                        continue;
                    }
                    return Err(StorageError::CorruptRecord {
                        path,
                        offset: offset as u64,
                        reason: damage.to_string(),
                    });
                }
            }
        }
        report.end_offset = Some(offset as u64);
        keep.push((name_seq, path));
    }
    report.last_seq = expected - 1;
    report.segments = keep;
    Ok(report)
}

fn report_covered(report: &mut RecoveryReport, what: &str) {
    tracing::warn!(
        damage = what,
        "skipping damaged log records that the snapshot already covers"
    );
    report.covered_damage.push(what.to_string());
}

fn truncate(path: &Path, len: u64) -> Result<(), StorageError> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io(path, e))?;
    f.set_len(len).map_err(|e| StorageError::io(path, e))?;
    f.sync_all().map_err(|e| StorageError::io(path, e))
}

/// Removes snapshot temporaries left by a crash in the middle of a snapshot.
fn remove_stale_temporaries(dir: &Path) -> Result<(), StorageError> {
    for entry in std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snapshot-") && name.ends_with(".fdb.tmp") {
            tracing::info!(file = %entry.path().display(), "removing an unfinished snapshot");
            std::fs::remove_file(entry.path()).map_err(|e| StorageError::io(entry.path(), e))?;
        }
    }
    Ok(())
}
