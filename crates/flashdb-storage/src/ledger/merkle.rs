//! The Merkle tree of RFC 9162 (Certificate Transparency v2), section 2.1: the tree hash
//! of a list of leaves, inclusion proofs (2.1.3) and consistency proofs (2.1.4), and their
//! verification as the RFC writes it, so that any RFC 9162 or RFC 6962 verifier agrees.
//!
//! Proofs are generated over [`Subtrees`], anything that can give the hash of a complete,
//! aligned subtree (2^k leaves starting at a multiple of 2^k): every range the RFC's
//! recursion visits is a run of such subtrees, so a proof costs O(log n) lookups.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || leaf)`: the hash of a leaf.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of an empty tree, `SHA-256()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The tree hash of leaf hashes held in memory, by RFC 9162's recursive definition
/// (`MTH`): for small runs, and as the reference the faster paths are checked against.
pub fn tree_hash(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&tree_hash(&leaves[..k]), &tree_hash(&leaves[k..]))
        }
    }
}

/// The largest power of two smaller than `n` (`n` >= 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Where the hashes of complete subtrees come from.
pub trait Subtrees {
    /// The hash of the complete subtree of `2^level` leaves that starts at leaf
    /// `index * 2^level`; it lies within the leaves the store holds. An error is the
    /// store's (a file that cannot be read).
    fn subtree(&self, level: u32, index: u64) -> std::io::Result<Hash>;
}

/// The tree hash of leaves `[start, end)`, where `start` is a multiple of the largest
/// power of two not above `end - start` (as every range of the RFC's recursion is).
pub fn range_hash<S: Subtrees + ?Sized>(s: &S, start: u64, end: u64) -> std::io::Result<Hash> {
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() {
        let level = n.trailing_zeros();
        return s.subtree(level, start >> level);
    }
    let k = split(n);
    let left = s.subtree(k.trailing_zeros(), start >> k.trailing_zeros())?;
    Ok(node_hash(&left, &range_hash(s, start + k, end)?))
}

/// The root of the first `size` leaves.
pub fn root<S: Subtrees + ?Sized>(s: &S, size: u64) -> std::io::Result<Hash> {
    range_hash(s, 0, size)
}

/// Why a proof cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The store of hashes could not be read.
    #[error("cannot read the ledger's tree: {0}")]
    Io(#[from] std::io::Error),
    /// The leaf is not in the tree (index at or past its size).
    #[error("leaf index {index} is not below the tree size {size}")]
    NoSuchLeaf {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The first size is larger than the second, or zero.
    #[error("a consistency proof needs 0 < first <= second, got {first} and {second}")]
    BadSizes {
        /// The older tree's size.
        first: u64,
        /// The newer tree's size.
        second: u64,
    },
    /// A size past the leaves held.
    #[error("the tree has {have} leaves, not {asked}")]
    TooLarge {
        /// The size asked for.
        asked: u64,
        /// The leaves held.
        have: u64,
    },
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves (RFC 9162
/// 2.1.3.1, `PATH`): sibling hashes from the leaf up.
pub fn inclusion_proof<S: Subtrees + ?Sized>(
    s: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::NoSuchLeaf { index, size });
    }
    // Walk down from the root, noting each sibling; the proof lists them bottom first.
    let mut path = Vec::new();
    let (mut start, mut end, mut m) = (0u64, size, index);
    while end - start > 1 {
        let k = split(end - start);
        if m < k {
            path.push(range_hash(s, start + k, end)?);
            end = start + k;
        } else {
            path.push(range_hash(s, start, start + k)?);
            start += k;
            m -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof between the trees of the first `first` and `second` leaves
/// (RFC 9162 2.1.4.1, `PROOF`); empty when they are the same size.
pub fn consistency_proof<S: Subtrees + ?Sized>(
    s: &S,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, ProofError> {
    if first == 0 || first > second {
        return Err(ProofError::BadSizes { first, second });
    }
    let mut proof = Vec::new();
    let (mut start, mut end, mut m, mut whole) = (0u64, second, first, true);
    loop {
        let n = end - start;
        if m == n {
            if !whole {
                proof.push(range_hash(s, start, end)?);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            proof.push(range_hash(s, start + k, end)?);
            end = start + k;
        } else {
            proof.push(range_hash(s, start, start + k)?);
            start += k;
            m -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Checks an inclusion proof (RFC 9162 2.1.3.2): that the leaf with hash `leaf` is leaf
/// `index` of the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// Checks a consistency proof (RFC 9162 2.1.4.2): that the tree of `first` leaves with
/// root `first_root` is a prefix of the tree of `second` leaves with root `second_root`.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        // Every tree extends the empty one; there is nothing to prove.
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((first_hash, rest)) = path.split_first() else {
        return false;
    };
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first_hash, *first_hash);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && fr == *first_root && sr == *second_root
}

/// Lowercase hex of bytes (hashes, signatures, keys).
pub fn hex_bytes(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // Bytes, then one check, rather than a char at a time: proofs are hex on every
    // verified read, and pushing chars was a twentieth of `LEDGER GET`'s time.
    let mut out = vec![0u8; bytes.len() * 2];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Lowercase hex of a hash.
pub fn hex(h: &Hash) -> String {
    hex_bytes(h)
}

/// Exactly `N` bytes from `2N` hex digits.
pub fn parse_hex_bytes<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A hash from 64 hex digits.
pub fn parse_hex(s: &str) -> Option<Hash> {
    parse_hex_bytes(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Leaves in memory, subtrees computed the slow way: the RFC's definition, to check
    /// the fast paths against.
    struct Plain(Vec<Hash>);

    impl Subtrees for Plain {
        fn subtree(&self, level: u32, index: u64) -> std::io::Result<Hash> {
            let start = (index << level) as usize;
            Ok(tree_hash(&self.0[start..start + (1usize << level)]))
        }
    }

    fn leaves(n: usize) -> Plain {
        Plain(
            (0..n)
                .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
                .collect(),
        )
    }

    #[test]
    fn roots_follow_the_definition() {
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for n in 0..70 {
            let t = leaves(n);
            assert_eq!(root(&t, n as u64).unwrap(), tree_hash(&t.0), "size {n}");
        }
    }

    /// RFC 6962's reference tree (the certificate-transparency test data): eight leaves
    /// "", 0x00, 0x10, 0x2021, 0x3031, 0x40414243, 0x5051525354555657,
    /// 0x606162636465666768696a6b6c6d6e6f, and its published roots.
    #[test]
    fn roots_match_the_published_test_vectors() {
        let data: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let t = Plain(data.iter().map(|d| leaf_hash(d)).collect());
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (i, want) in roots.iter().enumerate() {
            assert_eq!(
                hex(&root(&t, i as u64 + 1).unwrap()),
                *want,
                "size {}",
                i + 1
            );
        }
        // And the published proofs: leaf 5 in the tree of 8, and from 3 leaves to 8.
        let hexes = |p: Vec<Hash>| p.iter().map(hex).collect::<Vec<_>>();
        assert_eq!(
            hexes(inclusion_proof(&t, 5, 8).unwrap()),
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(
            hexes(consistency_proof(&t, 3, 8).unwrap()),
            [
                "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
                "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
    }

    /// A small deterministic generator, so that failures repeat.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn inclusion_proofs_verify_and_fail_when_anything_changes() {
        let t = leaves(300);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for size in 1..=300u64 {
            let r = root(&t, size).unwrap();
            for _ in 0..4 {
                let index = rng.below(size);
                let proof = inclusion_proof(&t, index, size).unwrap();
                assert!(proof.len() <= 64 - size.leading_zeros() as usize);
                let leaf = t.0[index as usize];
                assert!(
                    verify_inclusion(index, size, &leaf, &proof, &r),
                    "{index} of {size}"
                );
                // Another leaf, another index, another root, or any altered byte fails.
                let other = t.0[((index + 1) % 300) as usize];
                assert!(!verify_inclusion(index, size, &other, &proof, &r));
                if size > 1 {
                    let j = (index + 1 + rng.below(size - 1)) % size;
                    assert!(
                        !verify_inclusion(j, size, &leaf, &proof, &r),
                        "{j} for {index}"
                    );
                }
                for (p, _) in proof.iter().enumerate() {
                    let mut bad = proof.clone();
                    bad[p][rng.below(32) as usize] ^= 1 << rng.below(8);
                    assert!(!verify_inclusion(index, size, &leaf, &bad, &r));
                }
                let mut bad_root = r;
                bad_root[rng.below(32) as usize] ^= 1;
                assert!(!verify_inclusion(index, size, &leaf, &proof, &bad_root));
                assert!(
                    !verify_inclusion(
                        index,
                        size,
                        &leaf,
                        &proof[..proof.len().saturating_sub(1)],
                        &r
                    ) || proof.is_empty()
                );
            }
        }
        assert!(matches!(
            inclusion_proof(&t, 5, 5),
            Err(ProofError::NoSuchLeaf { index: 5, size: 5 })
        ));
    }

    #[test]
    fn consistency_proofs_verify_and_fail_when_anything_changes() {
        let t = leaves(100);
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for second in 1..=100u64 {
            let r2 = root(&t, second).unwrap();
            for first in 1..=second {
                let r1 = root(&t, first).unwrap();
                let proof = consistency_proof(&t, first, second).unwrap();
                assert!(
                    verify_consistency(first, second, &r1, &r2, &proof),
                    "{first} -> {second}"
                );
                if first == second {
                    assert!(proof.is_empty());
                    continue;
                }
                // A different old root (a rewritten history) fails, as does any change.
                let mut bad1 = r1;
                bad1[rng.below(32) as usize] ^= 1;
                assert!(!verify_consistency(first, second, &bad1, &r2, &proof));
                let mut bad2 = r2;
                bad2[rng.below(32) as usize] ^= 1;
                assert!(!verify_consistency(first, second, &r1, &bad2, &proof));
                for p in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[p][rng.below(32) as usize] ^= 1 << rng.below(8);
                    assert!(!verify_consistency(first, second, &r1, &r2, &bad));
                }
                if first > 1 {
                    assert!(!verify_consistency(first - 1, second, &r1, &r2, &proof));
                }
            }
        }
        // A tree whose old part was rewritten is not consistent with the old root.
        let mut rewritten = leaves(50);
        rewritten.0[3] = leaf_hash(b"rewritten");
        let old = root(&t, 10).unwrap();
        let new = root(&rewritten, 50).unwrap();
        let proof = consistency_proof(&rewritten, 10, 50).unwrap();
        assert!(!verify_consistency(10, 50, &old, &new, &proof));
        assert!(matches!(
            consistency_proof(&t, 0, 3),
            Err(ProofError::BadSizes {
                first: 0,
                second: 3
            })
        ));
    }

    #[test]
    fn hex_round_trips() {
        let h = leaf_hash(b"x");
        assert_eq!(parse_hex(&hex(&h)), Some(h));
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex(&"g".repeat(64)), None);
    }
}
