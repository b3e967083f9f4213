//! The ledger: every committed log record is a leaf of an RFC 9162 Merkle tree, so that
//! the history of writes can be proven to clients and checked offline.
//!
//! Leaf `i` is the record with sequence number `base + i`, where `base` is the first
//! record kept when the ledger was turned on (1 for a data directory that had it from the
//! start). Its bytes are [`leaf_bytes`]: the sequence number, 8 bytes big-endian, then the
//! record's payload (the engine's encoding of the record's entries). In ledger mode
//! segments that a snapshot covers are moved to `archive/` rather than deleted, so every
//! leaf stays provable. The leaf hashes are kept in `ledger/leaves` (see [`tree`]); the
//! records are the truth, and [`check`] recomputes everything from them.

pub mod merkle;
pub mod tree;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::record::{self, HEADER_LEN};
use crate::segment::{self, SEGMENT_HEADER_LEN};
use crate::StorageError;
use merkle::{Hash, ProofError};
use tree::Tree;

/// The directory, inside the data directory, of segments a snapshot covers.
pub const ARCHIVE_DIR: &str = "archive";
/// The directory, inside the data directory, of the ledger's own files.
pub const LEDGER_DIR: &str = "ledger";

/// The bytes of a record's leaf: its sequence number (big-endian) and its payload.
pub fn leaf_bytes(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + payload.len());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// What a signature over a root covers (`--ledger-key`): a fixed label, the tree size (8
/// bytes, big-endian) and the root, so that a signature says nothing but "the tree of this
/// size has this root".
pub fn signed_root_bytes(size: u64, root: &Hash) -> Vec<u8> {
    let mut m = b"FlashDB ledger root v1\n".to_vec();
    m.extend_from_slice(&size.to_be_bytes());
    m.extend_from_slice(root);
    m
}

/// The leaf hash of a record.
pub fn record_leaf_hash(seq: u64, payload: &[u8]) -> Hash {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(seq.to_be_bytes());
    h.update(payload);
    h.finalize().into()
}

/// Every segment of the log, archived and live, by first sequence number.
pub fn all_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    let archive = dir.join(ARCHIVE_DIR);
    if archive.is_dir() {
        out.extend(segment::list_segments(&archive)?);
    }
    out.extend(segment::list_segments(dir)?);
    out.sort();
    Ok(out)
}

/// A record read from a segment: its sequence number, payload, and where the next starts.
type ReadRecord = (u64, Vec<u8>, u64);

/// Reads the record at `offset` of a segment: `None` at the end of what is written (a
/// zeroed or short tail), an error for damage.
fn read_record(file: &File, path: &Path, offset: u64) -> Result<Option<ReadRecord>, StorageError> {
    let mut header = [0u8; HEADER_LEN];
    match file.read_exact_at(&mut header, offset) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(StorageError::io(path, e)),
    }
    if header.iter().all(|b| *b == 0) {
        return Ok(None);
    }
    let word =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let corrupt = |reason: &str| StorageError::CorruptRecord {
        path: path.to_path_buf(),
        offset,
        reason: reason.to_string(),
    };
    if crc32c::crc32c(&header[0..16]) != word(16) {
        return Err(corrupt("header checksum mismatch"));
    }
    let len = u64::from(word(0));
    if len > record::MAX_PAYLOAD {
        return Err(corrupt("impossible record length"));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&header[8..16]);
    let seq = u64::from_le_bytes(seq);
    let mut payload = vec![0u8; len as usize];
    match file.read_exact_at(&mut payload, offset + HEADER_LEN as u64) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(StorageError::io(path, e)),
    }
    if crc32c::crc32c(&payload) != word(4) {
        return Err(corrupt("payload checksum mismatch"));
    }
    Ok(Some((seq, payload, offset + HEADER_LEN as u64 + len)))
}

/// Reads the records of the log in order from sequence number `from`, across archived and
/// live segments, calling `each(seq, payload)` until it returns false or the records end.
/// A record out of order (a sequence number other than the one expected) is an error.
pub fn read_records(
    dir: &Path,
    from: u64,
    mut each: impl FnMut(u64, &[u8]) -> bool,
) -> Result<(), StorageError> {
    read_located(dir, from, |seq, payload, _| each(seq, payload))
}

/// [`read_records`], also giving each record's offset in its segment.
fn read_located(
    dir: &Path,
    from: u64,
    mut each: impl FnMut(u64, &[u8], u64) -> bool,
) -> Result<(), StorageError> {
    let segments = all_segments(dir)?;
    // The segment holding `from`: the last that starts at or before it.
    let start = segments
        .partition_point(|(s, _)| *s <= from)
        .saturating_sub(1);
    // From 0: from whatever the oldest segment holds.
    let mut expected = match (from, segments.first()) {
        (0, Some((first, _))) => *first,
        _ => from,
    };
    for (first, path) in segments.iter().skip(start) {
        let file = File::open(path).map_err(|e| StorageError::io(path, e))?;
        let mut head = [0u8; SEGMENT_HEADER_LEN];
        file.read_exact_at(&mut head, 0)
            .map_err(|e| StorageError::io(path, e))?;
        segment::check_header(path, &head)?;
        if *first > expected {
            return Err(StorageError::Gap {
                path: path.clone(),
                expected,
                found: *first,
            });
        }
        let mut offset = SEGMENT_HEADER_LEN as u64;
        while let Some((seq, payload, next)) = read_record(&file, path, offset)? {
            let at = offset;
            offset = next;
            if seq < expected {
                continue;
            }
            if seq != expected {
                return Err(StorageError::CorruptRecord {
                    path: path.clone(),
                    offset: at,
                    reason: format!("sequence number {seq} where {expected} was expected"),
                });
            }
            if !each(seq, &payload, at) {
                return Ok(());
            }
            expected += 1;
        }
    }
    Ok(())
}

/// The sequence number of the oldest record kept (archived or live), if any.
fn oldest_record(dir: &Path) -> Result<Option<u64>, StorageError> {
    let mut found = None;
    read_records(dir, 0, |seq, _| {
        found = Some(seq);
        false
    })?;
    Ok(found)
}

/// What [`Ledger::verify`] and [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Leaves checked.
    pub size: u64,
    /// The root over them.
    pub root: Hash,
    /// The first leaf whose stored hash differs from its record's, if any.
    pub first_bad: Option<u64>,
    /// The sequence number of leaf 0.
    pub base: u64,
    /// Stored leaf hashes compared with the records.
    pub compared: u64,
}

/// A data directory's ledger.
#[derive(Debug)]
pub struct Ledger {
    dir: PathBuf,
    base: u64,
    tree: RwLock<Tree>,
    /// Serializes catching up (one reader of the log at a time), and holds where it
    /// stopped, so that the next catch-up reads on from there.
    ingest: Mutex<Option<Cursor>>,
    /// The log's segments, open (a handle stays valid when its segment is archived).
    segments: RwLock<Vec<OpenSegment>>,
    /// Each leaf's record's offset in its segment, for reading a record back at once:
    /// filled by [`Ledger::load_history`] for the leaves there were at start, then as
    /// records are hashed.
    offsets: RwLock<Vec<u64>>,
    /// Whether [`Ledger::load_history`] has run.
    loaded: std::sync::atomic::AtomicBool,
    /// When each leaf was hashed (Unix ms; 0: unknown), in memory and in `ledger/times`.
    times: RwLock<Vec<u64>>,
    times_file: Mutex<File>,
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Opens `ledger/times` and reads it, cut or padded (with "unknown") to `size` leaves.
fn open_times(path: &Path, size: u64) -> Result<(File, Vec<u64>), StorageError> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| StorageError::io(path, e))?;
    let bytes = std::fs::read(path).map_err(|e| StorageError::io(path, e))?;
    let mut times: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    if times.len() as u64 > size || bytes.len() % 8 != 0 {
        times.truncate(size as usize);
        file.set_len(times.len() as u64 * 8)
            .map_err(|e| StorageError::io(path, e))?;
    }
    if (times.len() as u64) < size {
        let missing = (size - times.len() as u64) as usize;
        file.write_all(&vec![0u8; missing * 8])
            .map_err(|e| StorageError::io(path, e))?;
        times.resize(size as usize, 0);
    }
    Ok((file, times))
}

/// A segment of the log, open for reading.
#[derive(Debug, Clone)]
struct OpenSegment {
    first: u64,
    path: PathBuf,
    file: Arc<File>,
}

/// Where catching up goes on: the segment, and the offset and sequence number of the next
/// record.
#[derive(Debug)]
struct Cursor {
    seg: OpenSegment,
    offset: u64,
    next: u64,
    /// Bytes of the segment read ahead, from `buf_start`: records are parsed from here,
    /// not read one system call at a time.
    buf: Vec<u8>,
    buf_start: u64,
}

/// Bytes read ahead at a time when catching up.
const READ_AHEAD: usize = 64 << 10;

impl Cursor {
    fn at(seg: OpenSegment, offset: u64, next: u64) -> Cursor {
        Cursor {
            seg,
            offset,
            next,
            buf: Vec::new(),
            buf_start: offset,
        }
    }

    /// Reads the segment from the cursor on, at least `want` bytes if the file has them.
    fn refill(&mut self, want: usize) -> Result<(), StorageError> {
        let len = want.max(READ_AHEAD);
        self.buf.resize(len, 0);
        let mut got = 0;
        while got < len {
            match self
                .seg
                .file
                .read_at(&mut self.buf[got..], self.offset + got as u64)
            {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StorageError::io(&self.seg.path, e)),
            }
        }
        self.buf.truncate(got);
        self.buf_start = self.offset;
        Ok(())
    }
}

/// A callback that sees each record as the ledger reads it: sequence number, payload.
pub type OnRecord<'a> = &'a mut dyn FnMut(u64, &[u8]);

impl Ledger {
    /// Opens the ledger of data directory `dir`, creating it if needed: its first leaf is
    /// the oldest record kept then (or the next one written, `next_seq`, if none is). A
    /// leaf-hash file longer than the log (the log was cut back by a repair) is cut to it.
    pub fn open(dir: &Path, next_seq: u64) -> Result<Ledger, StorageError> {
        let ldir = dir.join(LEDGER_DIR);
        std::fs::create_dir_all(&ldir).map_err(|e| StorageError::io(&ldir, e))?;
        let base_path = ldir.join("base");
        let base = match std::fs::read_to_string(&base_path) {
            Ok(s) => s
                .trim()
                .parse::<u64>()
                .map_err(|_| StorageError::BadHeader {
                    path: base_path.clone(),
                    reason: format!("not a sequence number: {s:?}"),
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let base = oldest_record(dir)?.unwrap_or(next_seq).max(1);
                let tmp = ldir.join("base.tmp");
                std::fs::write(&tmp, format!("{base}\n")).map_err(|e| StorageError::io(&tmp, e))?;
                std::fs::rename(&tmp, &base_path).map_err(|e| StorageError::io(&base_path, e))?;
                segment::sync_dir(&ldir)?;
                base
            }
            Err(e) => return Err(StorageError::io(&base_path, e)),
        };
        let mut tree = Tree::open(&ldir.join("leaves"))?;
        let records = next_seq.saturating_sub(base);
        if tree.size() > records {
            tree.truncate(records)?;
        }
        let (times_file, times) = open_times(&ldir.join("times"), tree.size())?;
        Ok(Ledger {
            dir: dir.to_path_buf(),
            base,
            tree: RwLock::new(tree),
            ingest: Mutex::new(None),
            segments: RwLock::new(Vec::new()),
            offsets: RwLock::new(Vec::new()),
            loaded: std::sync::atomic::AtomicBool::new(false),
            times: RwLock::new(times),
            times_file: Mutex::new(times_file),
        })
    }

    /// The sequence number of leaf 0.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.tree.read().size()
    }

    /// How many records up to `durable` (a sequence number, inclusive) are not hashed yet.
    pub fn lag(&self, durable: u64) -> u64 {
        (durable + 1).saturating_sub(self.base + self.size())
    }

    /// Reads the records of the leaves the tree had at start, once, giving each to
    /// `on_record` (to build indexes over the history) and noting where it lies. Time in
    /// proportion to the history; run in the background at start. Until it has run,
    /// [`catch_up`](Self::catch_up) hashes nothing.
    pub fn load_history(&self, on_record: OnRecord<'_>) -> Result<(), StorageError> {
        let _one = self.ingest.lock();
        if self.is_loaded() {
            return Ok(());
        }
        let size = self.size();
        let mut offsets = Vec::with_capacity(size as usize);
        if size > 0 {
            read_located(&self.dir, self.base, |seq, payload, at| {
                on_record(seq, payload);
                offsets.push(at);
                (offsets.len() as u64) < size
            })?;
        }
        *self.offsets.write() = offsets;
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Whether [`load_history`](Self::load_history) has run.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The segment that holds record `seq`, as far as the list of open segments knows
    /// (the last that starts at or before it); with `refresh`, the directory is listed
    /// again first (new segments, archived ones keep their open handle).
    fn segment_for(&self, seq: u64, refresh: bool) -> Result<Option<OpenSegment>, StorageError> {
        if refresh || self.segments.read().is_empty() {
            let listed = all_segments(&self.dir)?;
            let mut open = Vec::with_capacity(listed.len());
            {
                let known = self.segments.read();
                for (first, path) in listed {
                    if let Some(k) = known.iter().find(|k| k.first == first) {
                        open.push(k.clone());
                        continue;
                    }
                    let file = File::open(&path).map_err(|e| StorageError::io(&path, e))?;
                    let mut head = [0u8; SEGMENT_HEADER_LEN];
                    file.read_exact_at(&mut head, 0)
                        .map_err(|e| StorageError::io(&path, e))?;
                    segment::check_header(&path, &head)?;
                    open.push(OpenSegment {
                        first,
                        path,
                        file: Arc::new(file),
                    });
                }
            }
            *self.segments.write() = open;
        }
        let segs = self.segments.read();
        let i = segs.partition_point(|s| s.first <= seq);
        Ok(i.checked_sub(1).and_then(|i| segs.get(i)).cloned())
    }

    /// A cursor at record `seq`: found by reading its segment from the start (once, when
    /// catching up starts anew).
    fn locate(&self, seq: u64) -> Result<Option<Cursor>, StorageError> {
        let Some(seg) = self.segment_for(seq, true)? else {
            return Ok(None);
        };
        let mut offset = SEGMENT_HEADER_LEN as u64;
        while let Some((s, _, next)) = read_record(&seg.file, &seg.path, offset)? {
            if s == seq {
                return Ok(Some(Cursor::at(seg, offset, seq)));
            }
            offset = next;
        }
        // Not written yet: the cursor waits at the end of what is.
        Ok(Some(Cursor::at(seg, offset, seq)))
    }

    /// Hashes the records not in the tree yet, up to sequence number `upto` (which must be
    /// durable: the records are read back from the segment files), giving each to
    /// `on_record`. Reads on from where the last call stopped. Returns the size.
    pub fn catch_up(&self, upto: u64, on_record: OnRecord<'_>) -> Result<u64, StorageError> {
        if !self.is_loaded() {
            return Ok(self.size());
        }
        let mut guard = self.ingest.lock();
        let next = self.base + self.size();
        if upto < next {
            return Ok(self.size());
        }
        let cursor = match guard.take() {
            Some(c) if c.next == next => Some(c),
            _ => self.locate(next)?,
        };
        let Some(mut cur) = cursor else {
            return Ok(self.size());
        };
        let mut batch = Vec::new();
        let mut at = Vec::new();
        let flush = |batch: &mut Vec<Hash>, at: &mut Vec<u64>| -> Result<(), StorageError> {
            use std::io::Write;
            let now = unix_ms();
            let stamps = now.to_le_bytes().repeat(batch.len());
            // The time first: a leaf without one would shift the later leaves' times.
            self.times_file
                .lock()
                .write_all(&stamps)
                .map_err(|e| StorageError::io(self.dir.join(LEDGER_DIR).join("times"), e))?;
            {
                let mut times = self.times.write();
                let n = times.len();
                times.resize(n + batch.len(), now);
            }
            self.tree.write().append(batch)?;
            self.offsets.write().append(at);
            batch.clear();
            Ok(())
        };
        // Whether the bytes at the cursor were just read from the file (so that what
        // the buffer lacks is really not written yet).
        let mut fresh = false;
        while cur.next <= upto {
            let rel = (cur.offset - cur.buf_start) as usize;
            let parsed = match record::read_at(&cur.buf, rel) {
                Ok(Some(r)) => Some((
                    r.seq,
                    r.payload,
                    (record::HEADER_LEN + r.payload.len()) as u64,
                )),
                Ok(None) | Err(record::Damage::Truncated) => None,
                // Bytes read ahead before the writer finished them: read again.
                Err(_) if !fresh => None,
                Err(_) if record::is_zero_tail(&cur.buf[rel.min(cur.buf.len())..], 0) => None,
                Err(d) => {
                    return Err(StorageError::CorruptRecord {
                        path: cur.seg.path.clone(),
                        offset: cur.offset,
                        reason: d.to_string(),
                    })
                }
            };
            match parsed {
                Some((seq, payload, len)) => {
                    if seq != cur.next {
                        return Err(StorageError::CorruptRecord {
                            path: cur.seg.path.clone(),
                            offset: cur.offset,
                            reason: format!(
                                "sequence number {seq} where {} was expected",
                                cur.next
                            ),
                        });
                    }
                    batch.push(record_leaf_hash(seq, payload));
                    at.push(cur.offset);
                    on_record(seq, payload);
                    cur.offset += len;
                    cur.next += 1;
                    fresh = false;
                    if batch.len() >= 4096 {
                        flush(&mut batch, &mut at)?;
                    }
                }
                None if !fresh => {
                    // Read on from the cursor: a record larger than the read-ahead gets
                    // all of its bytes.
                    let want = cur
                        .buf
                        .get(rel..rel + 4)
                        .map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize)
                        + record::HEADER_LEN;
                    cur.refill(want)?;
                    fresh = true;
                }
                None => {
                    // The end of this segment's records: the next one starts where it
                    // stopped (or is not there yet).
                    match self.segment_for(cur.next, true)? {
                        Some(seg) if seg.first == cur.next => {
                            cur = Cursor::at(seg, SEGMENT_HEADER_LEN as u64, cur.next);
                            fresh = false;
                        }
                        _ => break,
                    }
                }
            }
        }
        if !batch.is_empty() {
            flush(&mut batch, &mut at)?;
        }
        *guard = Some(cur);
        Ok(self.size())
    }

    /// Writes the leaf hashes to the disk.
    pub fn sync(&self) -> Result<(), StorageError> {
        self.tree.read().sync()
    }

    /// The root of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        self.tree.read().root_at(size)
    }

    /// The hash of leaf `index`, as the tree holds it.
    pub fn leaf_hash(&self, index: u64) -> std::io::Result<Hash> {
        self.tree.read().leaf(index)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.tree.read().inclusion(index, size)
    }

    /// The consistency proof between the trees of `first` and `second` leaves.
    pub fn consistency(&self, first: u64, second: u64) -> Result<Vec<Hash>, ProofError> {
        self.tree.read().consistency(first, second)
    }

    /// When leaf `index` was hashed, within milliseconds of its commit (Unix ms), if
    /// known: not for leaves hashed before this was kept, or rebuilt from the records.
    pub fn time_of(&self, index: u64) -> Option<u64> {
        self.times
            .read()
            .get(index as usize)
            .copied()
            .filter(|t| *t > 0)
    }

    /// The sequence number and payload of leaf `index`'s record.
    pub fn record(&self, index: u64) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        if index >= self.size() {
            return Ok(None);
        }
        let seq = self.base + index;
        let offset = self.offsets.read().get(index as usize).copied();
        let Some(offset) = offset else {
            // Not located yet (the history is loading): find it by reading.
            let mut out = None;
            read_records(&self.dir, seq, |s, payload| {
                out = (s == seq).then(|| (s, payload.to_vec()));
                false
            })?;
            return Ok(out);
        };
        // The list of open segments may predate the one holding the record: list again
        // once if the record is not where it should be.
        for refresh in [false, true] {
            let Some(seg) = self.segment_for(seq, refresh)? else {
                continue;
            };
            if let Some((s, payload, _)) = read_record(&seg.file, &seg.path, offset)? {
                if s == seq {
                    return Ok(Some((s, payload)));
                }
            }
        }
        Err(StorageError::CorruptRecord {
            path: self.dir.clone(),
            offset,
            reason: format!("record {seq} is no longer where the ledger found it"),
        })
    }

    /// The bytes of leaf `index` (read from its record), if the tree has it.
    pub fn leaf(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .record(index)?
            .map(|(seq, payload)| leaf_bytes(seq, &payload)))
    }

    /// Recomputes every leaf from its record and compares it with the tree: the first
    /// leaf that differs (a record changed after it was hashed), if any. Runs over the
    /// whole history; the tree stays readable meanwhile.
    pub fn verify(&self) -> Result<Verification, StorageError> {
        let size = self.size();
        let mut first_bad = None;
        let mut index = 0u64;
        let mut compact = Compact::default();
        let mut failed = Ok(());
        if size > 0 {
            read_records(&self.dir, self.base, |seq, payload| {
                let h = record_leaf_hash(seq, payload);
                match self.tree.read().leaf(index) {
                    Ok(stored) if stored == h => {}
                    Ok(_) => {
                        if first_bad.is_none() {
                            first_bad = Some(index);
                        }
                    }
                    Err(e) => {
                        failed = Err(StorageError::io(&self.dir, e));
                        return false;
                    }
                }
                compact.push(h);
                index += 1;
                index < size
            })?;
        }
        failed?;
        if index < size && first_bad.is_none() {
            // Records the tree had hashed are gone.
            first_bad = Some(index);
        }
        Ok(Verification {
            size: index,
            root: compact.root(),
            first_bad,
            base: self.base,
            compared: index,
        })
    }
}

/// The root of a stream of leaf hashes in O(log n) memory: the hashes of the complete
/// subtrees so far, largest first (RFC 9162's tree, built left to right).
#[derive(Debug, Default)]
pub struct Compact {
    stack: Vec<(u64, Hash)>,
    size: u64,
}

impl Compact {
    /// Adds the next leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (1u64, leaf);
        while let Some((n, h)) = self.stack.last().copied() {
            if n != node.0 {
                break;
            }
            self.stack.pop();
            node = (n * 2, merkle::node_hash(&h, &node.1));
        }
        self.stack.push(node);
        self.size += 1;
    }

    /// Leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some((_, last)) = iter.next() else {
            return merkle::empty_root();
        };
        let mut acc = *last;
        for (_, h) in iter {
            acc = merkle::node_hash(h, &acc);
        }
        acc
    }
}

/// Recomputes the ledger of data directory `dir` offline from its records (archived and
/// live), and compares it with the stored leaf hashes: `flashdb check --ledger`.
pub fn check(dir: &Path) -> Result<Verification, StorageError> {
    let ldir = dir.join(LEDGER_DIR);
    let base_path = ldir.join("base");
    let base = std::fs::read_to_string(&base_path)
        .map_err(|e| StorageError::io(&base_path, e))?
        .trim()
        .parse::<u64>()
        .map_err(|_| StorageError::BadHeader {
            path: base_path.clone(),
            reason: "not a sequence number".into(),
        })?;
    let leaves_path = ldir.join("leaves");
    // Missing leaf hashes (derived data) leave nothing to compare with, not an error.
    let stored = match std::fs::read(&leaves_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(StorageError::io(&leaves_path, e)),
    };
    let mut compact = Compact::default();
    let mut first_bad = None;
    let mut index = 0usize;
    read_records(dir, base, |seq, payload| {
        let h = record_leaf_hash(seq, payload);
        let at = index * 32;
        if first_bad.is_none() && stored.get(at..at + 32).is_some_and(|s| s != h) {
            first_bad = Some(index as u64);
        }
        compact.push(h);
        index += 1;
        true
    })?;
    if first_bad.is_none() && stored.len() / 32 > index {
        // The stored tree has leaves whose records are gone.
        first_bad = Some(index as u64);
    }
    Ok(Verification {
        size: compact.size(),
        root: compact.root(),
        first_bad,
        base,
        compared: (stored.len() as u64 / 32).min(compact.size()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compact_root_is_the_tree_root() {
        let leaves: Vec<Hash> = (0..300u32)
            .map(|i| merkle::leaf_hash(&i.to_le_bytes()))
            .collect();
        let d = std::env::temp_dir().join(format!("flashdb-compact-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let mut t = Tree::open(&d.join("leaves")).unwrap();
        let mut c = Compact::default();
        assert_eq!(c.root(), merkle::empty_root());
        for (i, h) in leaves.iter().enumerate() {
            t.append(&[*h]).unwrap();
            c.push(*h);
            assert_eq!(c.root(), t.root_at(i as u64 + 1).unwrap(), "size {}", i + 1);
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}
