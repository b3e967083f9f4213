//! Streams: entries with strictly increasing ids, each a list of field-value pairs.
//!
//! Entries are packed in blocks, as Redis packs them in the listpacks of its radix tree:
//! a block holds up to [`NODE_MAX_ENTRIES`] entries in one byte buffer of up to about
//! [`NODE_MAX_BYTES`], and the blocks are kept in a B-tree under their first entry's id.
//! An entry whose fields are the block's first entry's fields stores only its values
//! (Redis's "master entry"), so a million small entries take a few dozen bytes each, not
//! a heap object apiece. A deleted entry is flagged in its block, and a block whose
//! entries are all deleted is dropped. The block boundaries follow Redis's rules, so that
//! approximate trimming (`MAXLEN ~`), which removes whole blocks only, removes what
//! Redis's would for the same history.

use std::collections::{BTreeMap, BTreeSet};

use crate::compact::CompactBytes;

/// Most entries per block (Redis's `stream-node-max-entries`).
pub const NODE_MAX_ENTRIES: usize = 100;
/// Most bytes per block, about (Redis's `stream-node-max-bytes`).
pub const NODE_MAX_BYTES: usize = 4096;

/// A stream entry id: milliseconds and a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest id.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// The id `ms-seq`.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The id right after this one, if any.
    pub fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self.ms.checked_add(1).map(|ms| StreamId { ms, seq: 0 }),
        }
    }

    /// The id right before this one, if any.
    pub fn prev(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self
                .ms
                .checked_sub(1)
                .map(|ms| StreamId { ms, seq: u64::MAX }),
        }
    }

    /// The id as Redis writes it, `ms-seq`.
    pub fn to_bytes(self) -> Vec<u8> {
        format!("{}-{}", self.ms, self.seq).into_bytes()
    }
}

/// Entry flags, one byte before each entry in a block.
const DELETED: u8 = 1;
const SAME_FIELDS: u8 = 2;

/// A run of consecutive entries.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    /// The first entry's field names: entries with exactly these fields store values only.
    master: Vec<CompactBytes>,
    /// Entries back to back: flags, milliseconds after the block's first id (varint),
    /// sequence (varint), then with `SAME_FIELDS` the values, otherwise a field count
    /// (varint) and the field-value pairs, each length-prefixed (varint).
    data: Vec<u8>,
    /// Entries, deleted ones included.
    count: u32,
    /// Entries not deleted.
    live: u32,
}

/// One decoded entry of a block.
struct Decoded {
    id: StreamId,
    /// Offset of its flags byte in the block.
    at: usize,
    deleted: bool,
    /// Field-value pairs, as offsets into the block (a field in `master` by index).
    fields: Vec<(FieldRef, (usize, usize))>,
}

#[derive(Clone, Copy)]
enum FieldRef {
    Master(usize),
    Inline(usize, usize),
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        v |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

fn slice(buf: &[u8], pos: &mut usize) -> (usize, usize) {
    let len = varint(buf, pos) as usize;
    let start = *pos;
    *pos = (start + len).min(buf.len());
    (start, *pos)
}

impl Block {
    fn new(fields: &[(&[u8], &[u8])]) -> Block {
        Block {
            master: fields.iter().map(|(f, _)| CompactBytes::new(f)).collect(),
            data: Vec::new(),
            count: 0,
            live: 0,
        }
    }

    fn same_fields(&self, fields: &[(&[u8], &[u8])]) -> bool {
        self.master.len() == fields.len()
            && self
                .master
                .iter()
                .zip(fields)
                .all(|(m, (f, _))| m.as_slice() == *f)
    }

    /// Bytes an entry would add.
    fn entry_size(&self, fields: &[(&[u8], &[u8])]) -> usize {
        let pairs: usize = fields.iter().map(|(f, v)| f.len() + v.len() + 2).sum();
        12 + pairs
    }

    fn push(&mut self, first: StreamId, id: StreamId, fields: &[(&[u8], &[u8])]) {
        let same = self.same_fields(fields);
        self.data.push(if same { SAME_FIELDS } else { 0 });
        put_varint(&mut self.data, id.ms - first.ms);
        put_varint(&mut self.data, id.seq);
        if same {
            for (_, v) in fields {
                put_varint(&mut self.data, v.len() as u64);
                self.data.extend_from_slice(v);
            }
        } else {
            put_varint(&mut self.data, fields.len() as u64);
            for (f, v) in fields {
                put_varint(&mut self.data, f.len() as u64);
                self.data.extend_from_slice(f);
                put_varint(&mut self.data, v.len() as u64);
                self.data.extend_from_slice(v);
            }
        }
        self.count += 1;
        self.live += 1;
    }

    fn decode(&self, first: StreamId) -> Vec<Decoded> {
        let mut out = Vec::with_capacity(self.count as usize);
        let buf = &self.data;
        let mut pos = 0;
        while pos < buf.len() {
            let at = pos;
            let flags = buf[pos];
            pos += 1;
            let ms = first.ms + varint(buf, &mut pos);
            let seq = varint(buf, &mut pos);
            let mut fields = Vec::new();
            if flags & SAME_FIELDS != 0 {
                for i in 0..self.master.len() {
                    fields.push((FieldRef::Master(i), slice(buf, &mut pos)));
                }
            } else {
                let n = varint(buf, &mut pos);
                for _ in 0..n {
                    let (fs, fe) = slice(buf, &mut pos);
                    fields.push((FieldRef::Inline(fs, fe), slice(buf, &mut pos)));
                }
            }
            out.push(Decoded {
                id: StreamId { ms, seq },
                at,
                deleted: flags & DELETED != 0,
                fields,
            });
        }
        out
    }

    fn materialize(&self, d: &Decoded) -> Entry {
        let fields = d
            .fields
            .iter()
            .map(|(f, (vs, ve))| {
                let field = match f {
                    FieldRef::Master(i) => self.master[*i].as_slice().to_vec(),
                    FieldRef::Inline(s, e) => self.data[*s..*e].to_vec(),
                };
                (field, self.data[*vs..*ve].to_vec())
            })
            .collect();
        Entry { id: d.id, fields }
    }
}

/// An entry as commands read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its id.
    pub id: StreamId,
    /// Its field-value pairs, in the order they were added.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A delivered entry not acknowledged yet (Redis's `streamNACK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The consumer it was delivered to.
    pub consumer: Vec<u8>,
    /// Unix milliseconds of its last delivery.
    pub delivery_time: u64,
    /// Times it was delivered.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Unix milliseconds of its last read or claim.
    pub seen_time: u64,
    /// The ids pending for it (their details are in the group's list).
    pub pending: BTreeSet<StreamId>,
}

/// A consumer group (`XGROUP CREATE`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// The last id delivered to the group.
    pub last_id: StreamId,
    /// Entries the group has read, when known (Redis's `entries_read`, -1 for unknown).
    pub entries_read: Option<u64>,
    /// Entries delivered and not acknowledged, by id.
    pub pending: BTreeMap<StreamId, Pending>,
    /// Consumers, by name.
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    /// Assigns pending entry `id` to `consumer` with this delivery time and count, taking
    /// it from the consumer that had it; the consumer is created if needed.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], time: u64, count: u64) {
        if let Some(old) = self.pending.get(&id) {
            if let Some(c) = self.consumers.get_mut(&old.consumer) {
                c.pending.remove(&id);
            }
        }
        self.consumers
            .entry(consumer.to_vec())
            .or_default()
            .pending
            .insert(id);
        self.pending.insert(
            id,
            Pending {
                consumer: consumer.to_vec(),
                delivery_time: time,
                delivery_count: count,
            },
        );
    }

    /// Acknowledges `id`; whether it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pending.remove(&id) {
            Some(p) => {
                if let Some(c) = self.consumers.get_mut(&p.consumer) {
                    c.pending.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Removes a consumer and its pending entries; how many it had.
    pub fn remove_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pending {
            self.pending.remove(id);
        }
        Some(c.pending.len())
    }
}

/// A stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stream {
    blocks: BTreeMap<StreamId, Block>,
    len: u64,
    /// The last id added (or set by `XSETID`): a new entry's id must be above it.
    pub last_id: StreamId,
    /// The largest id deleted by `XDEL` (Redis's `max_deleted_entry_id`).
    pub max_deleted: StreamId,
    /// Entries ever added (Redis's `entries_added`).
    pub entries_added: u64,
    /// Consumer groups, by name.
    pub groups: BTreeMap<Vec<u8>, Group>,
}

impl Stream {
    /// An empty stream.
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Entries not deleted.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Blocks, for `XINFO STREAM`'s `radix-tree-keys`.
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Appends an entry; `id` must be above [`last_id`](Self::last_id).
    pub fn append(&mut self, id: StreamId, fields: &[(&[u8], &[u8])]) {
        let new_block = match self.blocks.last_key_value() {
            None => true,
            Some((_, b)) => {
                b.count as usize >= NODE_MAX_ENTRIES
                    || b.data.len() + b.entry_size(fields) > NODE_MAX_BYTES
            }
        };
        if new_block {
            // The block before is full: give back what its buffer grew past (a third of
            // it on average, which was a third of a stream's memory).
            if let Some((_, last)) = self.blocks.iter_mut().next_back() {
                last.data.shrink_to_fit();
            }
            self.blocks.insert(id, Block::new(fields));
        }
        if let Some((&first, block)) = self.blocks.iter_mut().next_back() {
            block.push(first, id, fields);
        }
        self.len += 1;
        self.last_id = id;
        self.entries_added += 1;
    }

    /// The first entry not deleted.
    pub fn first_entry(&self) -> Option<Entry> {
        self.range(StreamId::MIN, StreamId::MAX, 1, false)
            .into_iter()
            .next()
    }

    /// The last entry not deleted.
    pub fn last_entry(&self) -> Option<Entry> {
        self.range(StreamId::MIN, StreamId::MAX, 1, true)
            .into_iter()
            .next()
    }

    /// Entries with ids in `start..=end`, at most `count` (0: all), from the end when
    /// `rev`.
    pub fn range(&self, start: StreamId, end: StreamId, count: usize, rev: bool) -> Vec<Entry> {
        let mut out = Vec::new();
        if start > end {
            return out;
        }
        let full = |out: &Vec<Entry>| count != 0 && out.len() >= count;
        if rev {
            for (&first, block) in self.blocks.range(..=end).rev() {
                for d in block.decode(first).iter().rev() {
                    if d.deleted || d.id > end {
                        continue;
                    }
                    if d.id < start {
                        return out;
                    }
                    out.push(block.materialize(d));
                    if full(&out) {
                        return out;
                    }
                }
            }
        } else {
            let from = self
                .blocks
                .range(..=start)
                .next_back()
                .map_or(start, |(k, _)| *k);
            for (&first, block) in self.blocks.range(from..) {
                if first > end {
                    break;
                }
                for d in block.decode(first) {
                    if d.deleted || d.id < start {
                        continue;
                    }
                    if d.id > end {
                        return out;
                    }
                    out.push(block.materialize(&d));
                    if full(&out) {
                        return out;
                    }
                }
            }
        }
        out
    }

    /// Deletes the entry `id` (`XDEL`); whether it was there.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&first, block)) = self.blocks.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(d) = block
            .decode(first)
            .into_iter()
            .find(|d| d.id == id && !d.deleted)
        else {
            return false;
        };
        block.data[d.at] |= DELETED;
        block.live -= 1;
        if block.live == 0 {
            self.blocks.remove(&first);
        }
        self.len -= 1;
        if id > self.max_deleted {
            self.max_deleted = id;
        }
        true
    }

    /// Trims as Redis's `streamTrim`: down to `maxlen` entries, or below `minid`, whole
    /// blocks only when `approx`, and at most `limit` entries (0: no limit). Returns how
    /// many entries were removed.
    pub fn trim(
        &mut self,
        maxlen: Option<u64>,
        minid: Option<StreamId>,
        approx: bool,
        limit: u64,
    ) -> u64 {
        let mut deleted = 0;
        while let Some((&first, block)) = self.blocks.iter_mut().next() {
            if maxlen.is_some_and(|m| self.len <= m) {
                break;
            }
            let live = u64::from(block.live);
            if limit != 0 && deleted + live > limit {
                break;
            }
            let decoded = block.decode(first);
            let whole = match (maxlen, minid) {
                (Some(m), _) => self.len - live >= m,
                (None, Some(min)) => decoded.last().is_some_and(|d| d.id < min),
                (None, None) => false,
            };
            if whole {
                self.blocks.remove(&first);
                self.len -= live;
                deleted += live;
                continue;
            }
            if approx {
                break;
            }
            for d in decoded {
                let stop = match (maxlen, minid) {
                    (Some(m), _) => self.len <= m,
                    (None, Some(min)) => d.id >= min,
                    (None, None) => true,
                };
                if stop {
                    break;
                }
                if !d.deleted {
                    block.data[d.at] |= DELETED;
                    block.live -= 1;
                    self.len -= 1;
                    deleted += 1;
                }
            }
            if block.live == 0 {
                self.blocks.remove(&first);
            }
            break;
        }
        deleted
    }

    /// Removes every entry with an id below `before` (a trim, as logged and replayed:
    /// exact whatever the blocks). Returns how many were removed.
    pub fn remove_before(&mut self, before: StreamId) -> u64 {
        self.trim(None, Some(before), false, 0)
    }

    /// Every entry, in order (snapshots, `DUMP`, digests).
    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        self.blocks.iter().flat_map(|(&first, block)| {
            block
                .decode(first)
                .into_iter()
                .filter(|d| !d.deleted)
                .map(move |d| block.materialize(&d))
        })
    }

    /// Whether entry `id` exists (not deleted).
    pub fn contains(&self, id: StreamId) -> bool {
        !self.range(id, id, 1, false).is_empty()
    }

    /// The first entry's id, or `0-0` (Redis's `first_id`).
    pub fn first_id(&self) -> StreamId {
        self.first_entry().map_or(StreamId::MIN, |e| e.id)
    }

    /// Whether a deleted entry may lie in `start..=end` (Redis's
    /// `streamRangeHasTombstones`).
    pub fn has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.len == 0 || self.max_deleted == StreamId::MIN {
            return false;
        }
        if self.first_id() > self.max_deleted {
            return false;
        }
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// How many entries come up to `id` since the first ever added, when it can be told
    /// (Redis's `streamEstimateDistanceFromFirstEverEntry`).
    pub fn distance_from_first(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.len == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        let first = self.first_id();
        if self.max_deleted == StreamId::MIN || self.max_deleted < first {
            match id.cmp(&first) {
                std::cmp::Ordering::Less => return Some(self.entries_added - self.len),
                std::cmp::Ordering::Equal => return Some(self.entries_added - self.len + 1),
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// A group's lag: entries added that it has not read, when it can be told (Redis's
    /// `streamReplyWithCGLag`).
    pub fn lag(&self, g: &Group) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if let Some(read) = g.entries_read {
            if !self.has_tombstones(g.last_id, StreamId::MAX) {
                return Some(self.entries_added.saturating_sub(read));
            }
        }
        self.distance_from_first(g.last_id)
            .map(|read| self.entries_added.saturating_sub(read))
    }

    /// Bytes held by the entries' blocks (for `MEMORY USAGE`).
    pub fn block_bytes(&self) -> usize {
        self.blocks
            .values()
            .map(|b| b.data.capacity() + b.master.iter().map(|m| m.len() + 16).sum::<usize>() + 64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(s: &mut Stream, ms: u64, seq: u64, fields: &[(&str, &str)]) {
        let f: Vec<(&[u8], &[u8])> = fields
            .iter()
            .map(|(a, b)| (a.as_bytes(), b.as_bytes()))
            .collect();
        s.append(StreamId::new(ms, seq), &f);
    }

    fn ids(v: &[Entry]) -> Vec<u64> {
        v.iter().map(|e| e.id.ms).collect()
    }

    #[test]
    fn entries_round_trip_across_blocks_with_shared_and_own_fields() {
        let mut s = Stream::new();
        for i in 0..250 {
            if i % 7 == 0 {
                add(&mut s, i, 0, &[("other", "x"), ("n", &i.to_string())]);
            } else {
                add(&mut s, i, 0, &[("a", "1"), ("n", &i.to_string())]);
            }
        }
        assert_eq!(s.len(), 250);
        assert_eq!(s.blocks(), 3);
        let all: Vec<Entry> = s.entries().collect();
        assert_eq!(all.len(), 250);
        assert_eq!(all[7].fields[0].0, b"other");
        assert_eq!(
            all[8].fields,
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"n".to_vec(), b"8".to_vec())
            ]
        );
        assert_eq!(
            ids(&s.range(StreamId::new(98, 0), StreamId::new(102, 0), 0, false)),
            vec![98, 99, 100, 101, 102]
        );
        assert_eq!(
            ids(&s.range(StreamId::MIN, StreamId::MAX, 3, true)),
            vec![249, 248, 247]
        );
        assert_eq!(
            ids(&s.range(StreamId::new(5, 1), StreamId::new(7, 0), 0, false)),
            vec![6, 7]
        );
    }

    #[test]
    fn delete_flags_entries_and_drops_empty_blocks() {
        let mut s = Stream::new();
        for i in 1..=150 {
            add(&mut s, i, 0, &[("f", "v")]);
        }
        assert!(s.delete(StreamId::new(2, 0)));
        assert!(!s.delete(StreamId::new(2, 0)));
        assert!(!s.delete(StreamId::new(999, 0)));
        assert_eq!(s.len(), 149);
        assert_eq!(s.max_deleted, StreamId::new(2, 0));
        for i in 101..=150 {
            s.delete(StreamId::new(i, 0));
        }
        assert_eq!(s.blocks(), 1);
        assert_eq!(s.last_entry().map(|e| e.id.ms), Some(100));
        assert_eq!(s.first_entry().map(|e| e.id.ms), Some(1));
    }

    #[test]
    fn trim_removes_whole_blocks_when_approximate() {
        let mut s = Stream::new();
        for i in 1..=250 {
            add(&mut s, i, 0, &[("f", "v")]);
        }
        // Blocks of 100, 100 and 50: keeping 120 approximately removes one block.
        assert_eq!(s.trim(Some(120), None, true, 0), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.trim(Some(120), None, false, 0), 30);
        assert_eq!(s.first_entry().map(|e| e.id.ms), Some(131));
        assert_eq!(s.remove_before(StreamId::new(200, 0)), 69);
        assert_eq!(s.first_entry().map(|e| e.id.ms), Some(200));
        // Left: 200 alone in its block, then a block of 50. A limit of 10 takes the
        // first block whole and stops before the second.
        assert_eq!(s.trim(Some(0), None, false, 10), 1);
        assert_eq!(s.len(), 50);
    }
}
