//! Log records: `len u32 | payload crc32c u32 | seq u64 | header crc32c u32 | payload`.
//!
//! The header has its own checksum so that a damaged length is never trusted; the payload
//! checksum is computed before the record takes its sequence number, so the global append
//! lock only covers a 20-byte header and a copy.

/// Bytes of a record header.
pub const HEADER_LEN: usize = 20;

/// Largest payload a record may have; anything larger in a file is damage.
pub const MAX_PAYLOAD: u64 = 4 * 1024 * 1024 * 1024 - 1;

/// Appends a record to `out`. `payload_crc` must be `crc32c(payload)`.
pub fn encode(seq: u64, payload: &[u8], payload_crc: u32, out: &mut Vec<u8>) {
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[4..8].copy_from_slice(&payload_crc.to_le_bytes());
    header[8..16].copy_from_slice(&seq.to_le_bytes());
    let hcrc = crc32c::crc32c(&header[0..16]);
    header[16..20].copy_from_slice(&hcrc.to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
}

/// A record read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Payload bytes.
    pub payload: &'a [u8],
    /// Offset of the record's header in its buffer.
    pub offset: usize,
}

/// Why the bytes at an offset are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// Fewer bytes than a whole record remain: what a crash in the middle of a write leaves.
    Truncated,
    /// The header's checksum does not match.
    BadHeader,
    /// The payload's checksum does not match.
    BadPayload,
    /// The header announces an impossible length.
    BadLength,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Damage::Truncated => "record truncated",
            Damage::BadHeader => "header checksum mismatch",
            Damage::BadPayload => "payload checksum mismatch",
            Damage::BadLength => "impossible record length",
        })
    }
}

/// Reads the record at `offset` of `buf`: `Ok(Some)` a record, `Ok(None)` the end.
pub fn read_at(buf: &[u8], offset: usize) -> Result<Option<Record<'_>>, Damage> {
    let rest = &buf[offset.min(buf.len())..];
    if rest.is_empty() {
        return Ok(None);
    }
    if rest.len() < HEADER_LEN {
        return Err(Damage::Truncated);
    }
    let word = |i: usize| u32::from_le_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
    let hcrc = word(16);
    if crc32c::crc32c(&rest[0..16]) != hcrc {
        return Err(Damage::BadHeader);
    }
    let len = u64::from(word(0));
    if len > MAX_PAYLOAD {
        return Err(Damage::BadLength);
    }
    let pcrc = word(4);
    let mut seq_bytes = [0u8; 8];
    seq_bytes.copy_from_slice(&rest[8..16]);
    let seq = u64::from_le_bytes(seq_bytes);
    let end = HEADER_LEN as u64 + len;
    if (rest.len() as u64) < end {
        return Err(Damage::Truncated);
    }
    let payload = &rest[HEADER_LEN..end as usize];
    if crc32c::crc32c(payload) != pcrc {
        return Err(Damage::BadPayload);
    }
    Ok(Some(Record {
        seq,
        payload,
        offset,
    }))
}

/// Whether everything from `offset` on is zeros: the end of the written log. Segments are
/// zero-filled ahead of the records (so that an fsync need not update the file's
/// metadata), and an all-zero header never passes its checksum.
pub fn is_zero_tail(buf: &[u8], offset: usize) -> bool {
    buf[offset.min(buf.len())..].iter().all(|&b| b == 0)
}

/// The end of the bytes ever written: the offset after the last non-zero byte.
pub fn written_end(buf: &[u8]) -> usize {
    buf.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)
}

/// Whether the damage at `offset` is the torn tail of a crash: the last record of the file
/// is incomplete, or failing a checksum with nothing but zeros after it (the write was cut
/// short, or the pages after its first ones never reached the disk).
///
/// Only the last write can be torn: under `appendfsync always` each write is fsynced
/// before the next one starts. A damaged record with anything written after it is
/// corruption, and stops recovery.
pub fn is_torn_tail(buf: &[u8], offset: usize, damage: &Damage) -> bool {
    let rest = &buf[offset.min(buf.len())..];
    match damage {
        Damage::Truncated => true,
        Damage::BadPayload => {
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            is_zero_tail(rest, HEADER_LEN + len)
        }
        Damage::BadHeader | Damage::BadLength => is_zero_tail(rest, HEADER_LEN),
    }
}

/// Where reading can resume after the damage at `offset`, when that damage can only have
/// held records a snapshot already covers (every record up to `covered`): a stale copy of
/// data the snapshot holds, reported but no reason to refuse to start. `None` when the
/// damage may hold a record after `covered`, which would be a lost write.
///
/// A record whose header verifies names its own sequence number. Past a damaged header,
/// the next record is found by scanning for one that verifies and is followed by an
/// unbroken chain to the end of the written bytes (so bytes inside a value that happen to
/// look like a record are not taken for one); the damage covered nothing after `covered`
/// if that record's number is at most `covered + 1`. With no record after the damage,
/// the segment's remaining records end before `next_segment_first`.
pub fn resume_after_covered(
    buf: &[u8],
    offset: usize,
    damage: &Damage,
    covered: u64,
    next_segment_first: Option<u64>,
) -> Option<usize> {
    let rest = &buf[offset.min(buf.len())..];
    if *damage == Damage::BadPayload && rest.len() >= HEADER_LEN {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&rest[8..16]);
        return (u64::from_le_bytes(seq) <= covered).then_some(offset + HEADER_LEN + len);
    }
    let end = written_end(buf);
    for at in offset + 1..end {
        if let Ok(Some(r)) = read_at(buf, at) {
            if unbroken_to_the_end(buf, at) {
                return (r.seq <= covered.saturating_add(1)).then_some(at);
            }
        }
    }
    next_segment_first
        .is_some_and(|first| first <= covered.saturating_add(1))
        .then_some(buf.len())
}

/// Whether the records from `offset` follow each other in sequence up to the end of the
/// written bytes (a torn last record allowed).
fn unbroken_to_the_end(buf: &[u8], mut offset: usize) -> bool {
    let mut last: Option<u64> = None;
    loop {
        match read_at(buf, offset) {
            Ok(None) => return true,
            Ok(Some(r)) => {
                if last.is_some_and(|l| r.seq != l + 1) {
                    return false;
                }
                last = Some(r.seq);
                offset += HEADER_LEN + r.payload.len();
            }
            Err(d) => return is_zero_tail(buf, offset) || is_torn_tail(buf, offset, &d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(records: &[(u64, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (seq, p) in records {
            encode(*seq, p, crc32c::crc32c(p), &mut out);
        }
        out
    }

    #[test]
    fn round_trip() {
        let buf = build(&[(1, b"hello"), (2, b""), (3, &[0xff; 1000])]);
        let mut off = 0;
        let mut seqs = Vec::new();
        while let Some(r) = read_at(&buf, off).unwrap() {
            seqs.push(r.seq);
            off += HEADER_LEN + r.payload.len();
        }
        assert_eq!(seqs, vec![1, 2, 3]);
    }

    #[test]
    fn every_truncation_of_the_last_record_is_a_torn_tail() {
        let buf = build(&[(1, b"first"), (2, b"second record")]);
        let second = HEADER_LEN + 5;
        for cut in second + 1..buf.len() {
            let b = &buf[..cut];
            assert!(read_at(b, 0).unwrap().is_some());
            let d = read_at(b, second).unwrap_err();
            assert!(is_torn_tail(b, second, &d), "cut {cut}: {d:?}");
        }
    }

    #[test]
    fn a_zero_header_never_passes_its_checksum() {
        let zeros = [0u8; 64];
        assert_eq!(read_at(&zeros, 0), Err(Damage::BadHeader));
        assert!(is_zero_tail(&zeros, 0));
        assert_eq!(written_end(&zeros), 0);
    }

    #[test]
    fn every_torn_write_into_zeroed_space_is_a_torn_tail() {
        // A pre-zeroed segment: the last record written into zeros, of which only a
        // prefix reached the disk, or only its header, or its header only in part.
        let buf = build(&[(1, b"first"), (2, b"second record")]);
        let second = HEADER_LEN + 5;
        for cut in second + 1..buf.len() {
            let mut b = buf[..cut].to_vec();
            b.resize(buf.len() + 4096, 0);
            let d = read_at(&b, second).unwrap_err();
            assert!(is_torn_tail(&b, second, &d), "cut {cut}: {d:?}");
            assert!(!is_zero_tail(&b, second));
        }
        let mut full = buf.clone();
        full.resize(buf.len() + 4096, 0);
        assert!(is_zero_tail(&full, buf.len()));
        assert_eq!(written_end(&full), buf.len());
    }

    #[test]
    fn a_damaged_record_with_data_after_it_in_zeroed_space_is_corruption() {
        let mut buf = build(&[(1, b"first"), (2, b"second"), (3, b"third")]);
        buf.resize(buf.len() + 4096, 0);
        for bit in 0..(HEADER_LEN + 5) * 8 {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            let d = read_at(&b, 0).unwrap_err();
            assert!(!is_torn_tail(&b, 0, &d), "bit {bit}: {d:?}");
        }
    }

    #[test]
    fn a_bit_flip_before_the_tail_is_corruption() {
        let buf = build(&[(1, b"first"), (2, b"second"), (3, b"third")]);
        for bit in 0..(HEADER_LEN + 5) * 8 {
            let mut b = buf.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            let d = read_at(&b, 0).unwrap_err();
            assert!(
                !is_torn_tail(&b, 0, &d),
                "bit {bit}: {d:?} taken for a torn tail"
            );
        }
    }

    #[test]
    fn damage_before_the_snapshot_is_skipped_and_damage_after_it_is_not() {
        let payloads: Vec<Vec<u8>> = (1..=6u8).map(|i| vec![i; 10 + i as usize]).collect();
        let recs: Vec<(u64, &[u8])> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u64 + 1, p.as_slice()))
            .collect();
        let mut buf = build(&recs);
        buf.resize(buf.len() + 256, 0);
        let mut offsets = vec![0];
        for p in &payloads {
            offsets.push(offsets.last().unwrap() + HEADER_LEN + p.len());
        }
        // Record 3 (index 2): a bad payload names its sequence number.
        let mut b = buf.clone();
        b[offsets[2] + HEADER_LEN + 1] ^= 4;
        let d = read_at(&b, offsets[2]).unwrap_err();
        assert_eq!(d, Damage::BadPayload);
        assert_eq!(
            resume_after_covered(&b, offsets[2], &d, 3, None),
            Some(offsets[3])
        );
        assert_eq!(resume_after_covered(&b, offsets[2], &d, 2, None), None);
        // A bad header: the next record that verifies is found by scanning.
        let mut b = buf.clone();
        b[offsets[2] + 9] ^= 1;
        let d = read_at(&b, offsets[2]).unwrap_err();
        assert_eq!(d, Damage::BadHeader);
        assert_eq!(
            resume_after_covered(&b, offsets[2], &d, 3, None),
            Some(offsets[3])
        );
        assert_eq!(resume_after_covered(&b, offsets[2], &d, 2, None), None);
        // Damage to the end of the written bytes: only the next segment can tell.
        let mut b = buf.clone();
        for x in &mut b[offsets[4]..offsets[6]] {
            *x ^= 0x55;
        }
        let d = read_at(&b, offsets[4]).unwrap_err();
        assert_eq!(resume_after_covered(&b, offsets[4], &d, 9, None), None);
        assert_eq!(
            resume_after_covered(&b, offsets[4], &d, 9, Some(7)),
            Some(b.len())
        );
        assert_eq!(resume_after_covered(&b, offsets[4], &d, 5, Some(7)), None);
    }

    #[test]
    fn a_record_inside_a_value_is_not_taken_for_the_next_one() {
        // A value that holds a whole valid record (seq 2), then more bytes: the scan
        // must not resume inside it, as no unbroken chain follows it.
        let mut inner = Vec::new();
        encode(2, b"fake", crc32c::crc32c(b"fake"), &mut inner);
        inner.extend_from_slice(b"trailing bytes of the value");
        let mut buf = build(&[(1, &inner), (2, b"real")]);
        buf.resize(buf.len() + 64, 0);
        buf[9] ^= 1;
        let d = read_at(&buf, 0).unwrap_err();
        let real = HEADER_LEN + inner.len();
        assert_eq!(resume_after_covered(&buf, 0, &d, 1, None), Some(real));
    }
}
