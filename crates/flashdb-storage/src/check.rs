//! `flashdb check`: offline verification (and repair) of a data directory.

use std::path::Path;

use crate::error::StorageError;
use crate::record::{self, is_torn_tail};
use crate::segment::{check_header, list_segments, sync_dir, SEGMENT_HEADER_LEN};
use crate::snapshot::{list_snapshots, read_snapshot};

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// One line per finding, for the operator.
    pub lines: Vec<String>,
    /// Whether everything verified (a torn tail counts as fine: recovery cuts it).
    pub ok: bool,
    /// Whether `--repair` changed anything.
    pub repaired: bool,
}

/// Verifies every snapshot and every log record in `dir`. With `repair`, cuts the log at
/// the first bad record: the bytes from there on (and any later segments) are kept beside
/// it as `*.cut-<offset>` files, never deleted.
pub fn check(dir: &Path, repair: bool) -> Result<CheckReport, StorageError> {
    let mut rep = CheckReport {
        ok: true,
        ..CheckReport::default()
    };
    let segments = list_segments(dir)?;
    let first_logged = segments.first().map(|(s, _)| *s);
    // What recovery would load: the newest snapshot that verifies and that the log continues.
    let mut covered: Option<u64> = None;
    for (seq, path) in list_snapshots(dir)? {
        match read_snapshot(&path, None) {
            Ok(info) => {
                if covered.is_none() && first_logged.is_none_or(|f| f <= seq + 1) {
                    covered = Some(seq);
                }
                rep.lines.push(format!(
                    "ok       {} (covers records up to {seq}, {} chunks)",
                    path.display(),
                    info.frames
                ))
            }
            Err(e) => {
                rep.ok = false;
                rep.lines.push(format!("CORRUPT  {e}"));
            }
        }
    }
    let covered = covered.unwrap_or(0);
    let mut expected: Option<u64> = None;
    let count = segments.len();
    for (i, (name_seq, path)) in segments.iter().enumerate() {
        let buf = std::fs::read(path).map_err(|e| StorageError::io(path, e))?;
        let next_first = segments.get(i + 1).map(|(s, _)| *s);
        let header_seq = match check_header(path, &buf) {
            Ok(s) => s,
            Err(e) if next_first.is_some_and(|f| f <= covered + 1) => {
                rep.lines.push(format!("{COVERED}{e}{SKIPPED}"));
                expected = None;
                continue;
            }
            Err(e) => {
                rep.ok = false;
                rep.lines.push(format!("CORRUPT  {e}"));
                if repair {
                    cut(dir, path, 0, &buf, &segments[i + 1..], &mut rep)?;
                }
                return Ok(rep);
            }
        };
        if header_seq != *name_seq {
            rep.ok = false;
            rep.lines.push(format!(
                "CORRUPT  {}: header names first record {header_seq}",
                path.display()
            ));
        }
        if let Some(exp) = expected {
            if header_seq != exp {
                rep.ok = false;
                rep.lines.push(format!(
                    "GAP      {}: starts at record {header_seq}, expected {exp}",
                    path.display()
                ));
            }
        }
        let mut offset = SEGMENT_HEADER_LEN;
        let mut records = 0u64;
        let mut last = header_seq.saturating_sub(1);
        let mut resynced = false;
        loop {
            match record::read_at(&buf, offset) {
                Ok(None) => break,
                Ok(Some(r)) => {
                    if r.seq != last + 1 && !std::mem::take(&mut resynced) {
                        rep.ok = false;
                        rep.lines.push(format!(
                            "GAP      {} at offset {offset}: record {} follows {last}",
                            path.display(),
                            r.seq
                        ));
                    }
                    last = r.seq;
                    records += 1;
                    offset += record::HEADER_LEN + r.payload.len();
                }
                Err(_) if record::is_zero_tail(&buf, offset) => break,
                Err(damage) => {
                    let torn = i + 1 == count && is_torn_tail(&buf, offset, &damage);
                    let resume = if torn {
                        None
                    } else {
                        record::resume_after_covered(&buf, offset, &damage, covered, next_first)
                    };
                    if let Some(next) = resume {
                        rep.lines.push(format!(
                            "{COVERED}{} at offset {offset}: {damage}{SKIPPED}",
                            path.display()
                        ));
                        offset = next;
                        resynced = true;
                        continue;
                    }
                    if torn {
                        rep.lines.push(format!(
                            "torn     {} at offset {offset}: {damage} (the tail of a crash; recovery cuts it)",
                            path.display()
                        ));
                    } else {
                        rep.ok = false;
                        rep.lines.push(format!(
                            "CORRUPT  {} at offset {offset}: {damage}",
                            path.display()
                        ));
                    }
                    if repair {
                        cut(dir, path, offset, &buf, &segments[i + 1..], &mut rep)?;
                        return Ok(rep);
                    }
                    if !torn {
                        return Ok(rep);
                    }
                    break;
                }
            }
        }
        rep.lines.push(format!(
            "ok       {} ({records} records, {}..={last})",
            path.display(),
            header_seq
        ));
        expected = Some(last + 1);
    }
    if rep.ok {
        rep.lines.push("data directory verified".into());
    }
    Ok(rep)
}

/// How a line about damage that the snapshot covers starts and ends: reported, but not a
/// failure, since recovery skips it.
const COVERED: &str = "damaged  ";
const SKIPPED: &str =
    " (only records the newest snapshot covers; recovery skips them, a new snapshot retires them)";

fn cut(
    dir: &Path,
    path: &Path,
    offset: usize,
    buf: &[u8],
    later: &[(u64, std::path::PathBuf)],
    rep: &mut CheckReport,
) -> Result<(), StorageError> {
    let saved = path.with_extension(format!("log.cut-{offset}"));
    // The zeros the segment was filled with ahead of its records are not worth keeping.
    let cut_part = &buf[offset..record::written_end(buf).max(offset)];
    std::fs::write(&saved, cut_part).map_err(|e| StorageError::io(&saved, e))?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io(path, e))?;
    f.set_len(offset as u64)
        .map_err(|e| StorageError::io(path, e))?;
    f.sync_all().map_err(|e| StorageError::io(path, e))?;
    rep.lines.push(format!(
        "repaired {}: cut at offset {offset}; the {} bytes removed are in {}",
        path.display(),
        cut_part.len(),
        saved.display()
    ));
    if offset < SEGMENT_HEADER_LEN {
        std::fs::rename(path, path.with_extension("log.cut-0"))
            .map_err(|e| StorageError::io(path, e))?;
    }
    for (_, p) in later {
        let moved = p.with_extension("log.cut");
        std::fs::rename(p, &moved).map_err(|e| StorageError::io(p, e))?;
        rep.lines.push(format!(
            "repaired {}: moved aside to {} (after the cut)",
            p.display(),
            moved.display()
        ));
    }
    sync_dir(dir)?;
    rep.repaired = true;
    Ok(())
}
