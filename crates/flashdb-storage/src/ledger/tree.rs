//! The ledger's tree on disk: the leaf hashes in order in one file (32 bytes each), and in
//! memory the hashes of every complete subtree of 16 leaves or more (about 4 bytes per
//! leaf), so that any root or proof costs O(log n) lookups, and at most 16 leaf hashes
//! read back (from the page cache) per lookup below that.
//!
//! The file is derived data: the records it hashes are the truth, and it is rebuilt from
//! them if it is missing or shorter than the log. It is not fsynced on every append.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::merkle::{self, Hash, ProofError, Subtrees};
use crate::StorageError;

/// Levels below this one are computed from the leaf hashes on demand.
const LOW: u32 = 4;
/// Leaves in a complete subtree of the lowest level kept in memory.
const GROUP: u64 = 1 << LOW;

/// A Merkle tree whose leaf hashes live in a file.
#[derive(Debug)]
pub struct Tree {
    path: PathBuf,
    file: File,
    size: u64,
    /// The leaf hashes of the last, incomplete group of [`GROUP`] leaves.
    tail: Vec<Hash>,
    /// `upper[k]`: the hashes of the complete subtrees of `2^(LOW + k)` leaves, in order.
    upper: Vec<Vec<Hash>>,
    /// The root of the whole tree, once asked for, until the next append.
    root: parking_lot::Mutex<Option<(u64, Hash)>>,
}

fn io(path: &Path, e: std::io::Error) -> StorageError {
    StorageError::io(path, e)
}

impl Tree {
    /// Opens (or creates) the tree of the leaf-hash file at `path`, and rebuilds the
    /// hashes kept in memory: time in proportion to the leaves, run once at start. A
    /// partial hash at the end (a crash in the middle of an append) is cut off.
    pub fn open(path: &Path) -> Result<Tree, StorageError> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| io(path, e))?;
        let len = file.metadata().map_err(|e| io(path, e))?.len();
        let whole = len - len % 32;
        if whole != len {
            file.set_len(whole).map_err(|e| io(path, e))?;
        }
        let mut tree = Tree {
            path: path.to_path_buf(),
            file,
            size: 0,
            tail: Vec::new(),
            upper: Vec::new(),
            root: parking_lot::Mutex::new(None),
        };
        let mut at = 0u64;
        let mut buf = vec![0u8; 32 * 4096];
        while at < whole {
            let n = ((whole - at) as usize).min(buf.len());
            tree.file
                .read_exact_at(&mut buf[..n], at)
                .map_err(|e| io(path, e))?;
            for chunk in buf[..n].chunks_exact(32) {
                let mut h = [0u8; 32];
                h.copy_from_slice(chunk);
                tree.remember(h);
            }
            at += n as u64;
        }
        Ok(tree)
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Counts a new leaf hash in memory (it is already in the file, or is being written).
    fn remember(&mut self, h: Hash) {
        self.size += 1;
        self.tail.push(h);
        if self.tail.len() as u64 == GROUP {
            let group = merkle::tree_hash(&self.tail);
            self.tail.clear();
            self.push_level(0, group);
        }
    }

    fn push_level(&mut self, k: usize, h: Hash) {
        if self.upper.len() == k {
            self.upper.push(Vec::new());
        }
        self.upper[k].push(h);
        let level = &self.upper[k];
        if level.len().is_multiple_of(2) {
            let parent = merkle::node_hash(&level[level.len() - 2], &level[level.len() - 1]);
            self.push_level(k + 1, parent);
        }
    }

    /// Appends leaves by their hashes.
    pub fn append(&mut self, hashes: &[Hash]) -> Result<(), StorageError> {
        let mut bytes = Vec::with_capacity(hashes.len() * 32);
        for h in hashes {
            bytes.extend_from_slice(h);
        }
        self.file.write_all(&bytes).map_err(|e| io(&self.path, e))?;
        for h in hashes {
            self.remember(*h);
        }
        Ok(())
    }

    /// Writes the leaf hashes to the disk (at snapshots and shutdown: the file can be
    /// rebuilt, but rebuilding costs a read of the whole history).
    pub fn sync(&self) -> Result<(), StorageError> {
        self.file.sync_data().map_err(|e| io(&self.path, e))
    }

    /// Keeps only the first `size` leaves (after the log was cut back by a repair).
    pub fn truncate(&mut self, size: u64) -> Result<(), StorageError> {
        if size >= self.size {
            return Ok(());
        }
        self.file
            .set_len(size * 32)
            .map_err(|e| io(&self.path, e))?;
        *self = Tree::open(&self.path)?;
        Ok(())
    }

    /// The hash of leaf `index`.
    pub fn leaf(&self, index: u64) -> std::io::Result<Hash> {
        let group_start = self.size - self.size % GROUP;
        if index >= group_start {
            return self
                .tail
                .get((index - group_start) as usize)
                .copied()
                .ok_or_else(|| std::io::Error::other(format!("no leaf {index}")));
        }
        let mut h = [0u8; 32];
        self.file.read_exact_at(&mut h, index * 32)?;
        Ok(h)
    }

    /// The root of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        if size > self.size {
            return Err(ProofError::TooLarge {
                asked: size,
                have: self.size,
            });
        }
        if let Some((n, r)) = *self.root.lock() {
            if n == size {
                return Ok(r);
            }
        }
        let r = merkle::root(self, size)?;
        if size == self.size {
            *self.root.lock() = Some((size, r));
        }
        Ok(r)
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        if size > self.size {
            return Err(ProofError::TooLarge {
                asked: size,
                have: self.size,
            });
        }
        merkle::inclusion_proof(self, index, size)
    }

    /// The consistency proof from the first `first` leaves to the first `second`.
    pub fn consistency(&self, first: u64, second: u64) -> Result<Vec<Hash>, ProofError> {
        if second > self.size {
            return Err(ProofError::TooLarge {
                asked: second,
                have: self.size,
            });
        }
        merkle::consistency_proof(self, first, second)
    }
}

impl Subtrees for Tree {
    fn subtree(&self, level: u32, index: u64) -> std::io::Result<Hash> {
        if level >= LOW {
            return self
                .upper
                .get((level - LOW) as usize)
                .and_then(|l| l.get(index as usize))
                .copied()
                .ok_or_else(|| std::io::Error::other(format!("no subtree {level}/{index}")));
        }
        let start = index << level;
        let count = 1u64 << level;
        let group_start = self.size - self.size % GROUP;
        if start >= group_start {
            let from = (start - group_start) as usize;
            let run = self
                .tail
                .get(from..from + count as usize)
                .ok_or_else(|| std::io::Error::other(format!("no subtree {level}/{index}")))?;
            return Ok(merkle::tree_hash(run));
        }
        let mut buf = [0u8; 32 * GROUP as usize];
        let bytes = &mut buf[..(count * 32) as usize];
        self.file.read_exact_at(bytes, start * 32)?;
        let hashes: Vec<Hash> = bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect();
        Ok(merkle::tree_hash(&hashes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::merkle::{leaf_hash, verify_consistency, verify_inclusion};

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("flashdb-tree-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// The definition, over all leaves in memory.
    fn reference(leaves: &[Hash]) -> Hash {
        merkle::tree_hash(leaves)
    }

    #[test]
    fn roots_and_proofs_agree_with_the_definition_across_reopening() {
        let d = dir("agree");
        let path = d.join("leaves");
        let all: Vec<Hash> = (0..700u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut t = Tree::open(&path).unwrap();
        // Appended in uneven batches, and reopened half-way.
        let mut at = 0;
        for (i, n) in [1usize, 2, 13, 16, 17, 100, 51].iter().cycle().enumerate() {
            if at >= all.len() {
                break;
            }
            let end = (at + n).min(all.len());
            t.append(&all[at..end]).unwrap();
            at = end;
            if i == 5 {
                drop(t);
                t = Tree::open(&path).unwrap();
            }
            assert_eq!(t.size(), at as u64);
            assert_eq!(t.root_at(at as u64).unwrap(), reference(&all[..at]));
        }
        for size in [1u64, 2, 15, 16, 17, 31, 32, 33, 255, 256, 257, 699, 700] {
            let root = t.root_at(size).unwrap();
            assert_eq!(root, reference(&all[..size as usize]), "size {size}");
            for index in [0, size / 2, size - 1] {
                let proof = t.inclusion(index, size).unwrap();
                assert!(verify_inclusion(
                    index,
                    size,
                    &all[index as usize],
                    &proof,
                    &root
                ));
                assert_eq!(t.leaf(index).unwrap(), all[index as usize]);
            }
            for first in [1, size / 3 + 1, size] {
                let first = first.min(size);
                let proof = t.consistency(first, size).unwrap();
                let old = t.root_at(first).unwrap();
                assert!(verify_consistency(first, size, &old, &root, &proof));
            }
        }
        assert!(matches!(t.root_at(701), Err(ProofError::TooLarge { .. })));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_torn_hash_is_cut_and_truncate_goes_back() {
        let d = dir("torn");
        let path = d.join("leaves");
        let all: Vec<Hash> = (0..40u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut t = Tree::open(&path).unwrap();
        t.append(&all).unwrap();
        drop(t);
        let f = OpenOptions::new().append(true).open(&path).unwrap();
        (&f).write_all(&[7u8; 11]).unwrap();
        let mut t = Tree::open(&path).unwrap();
        assert_eq!(t.size(), 40);
        assert_eq!(t.root_at(40).unwrap(), reference(&all));
        t.truncate(21).unwrap();
        assert_eq!(t.size(), 21);
        assert_eq!(t.root_at(21).unwrap(), reference(&all[..21]));
        t.append(&all[21..]).unwrap();
        assert_eq!(t.root_at(40).unwrap(), reference(&all));
        let _ = std::fs::remove_dir_all(&d);
    }
}
