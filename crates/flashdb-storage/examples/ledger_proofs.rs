//! Proof sizes and times of the ledger's tree for 10^3 to 10^7 leaves (docs/performance.md):
//! builds each tree in a temporary file, then times inclusion and consistency proofs for
//! random leaves and sizes, and their verification.
//!
//!   cargo run --release -p flashdb-storage --example ledger_proofs [MAX_EXPONENT]

use std::time::Instant;

use flashdb_storage::ledger::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use flashdb_storage::ledger::tree::Tree;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let max: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(7);
    let dir = std::env::temp_dir().join(format!("flashdb-ledger-proofs-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!("| leaves | build s | inclusion proof: hashes, µs | consistency proof: hashes, µs | verify µs |");
    println!("|---|---|---|---|---|");
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    for exp in 3..=max {
        let n = 10u64.pow(exp);
        let path = dir.join(format!("leaves-{exp}"));
        let _ = std::fs::remove_file(&path);
        let started = Instant::now();
        let mut tree = Tree::open(&path)?;
        let mut batch = Vec::with_capacity(4096);
        for i in 0..n {
            batch.push(leaf_hash(&i.to_le_bytes()));
            if batch.len() == 4096 {
                tree.append(&batch)?;
                batch.clear();
            }
        }
        tree.append(&batch)?;
        let build = started.elapsed().as_secs_f64();
        let root = tree.root_at(n)?;
        let rounds = 2000u64;
        let (mut inc_len, mut con_len) = (0usize, 0usize);
        let t = Instant::now();
        let mut proofs = Vec::new();
        for _ in 0..rounds {
            let i = next(n);
            let p = tree.inclusion(i, n)?;
            inc_len = inc_len.max(p.len());
            proofs.push((i, p));
        }
        let inc_us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        let t = Instant::now();
        for (i, p) in &proofs {
            assert!(verify_inclusion(
                *i,
                n,
                &leaf_hash(&i.to_le_bytes()),
                p,
                &root
            ));
        }
        let verify_us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        let t = Instant::now();
        for _ in 0..rounds {
            let m = 1 + next(n);
            let p = tree.consistency(m, n)?;
            con_len = con_len.max(p.len());
            if m < n {
                let old = tree.root_at(m)?;
                assert!(verify_consistency(m, n, &old, &root, &p));
            }
        }
        let con_us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        println!("| 10^{exp} | {build:.2} | {inc_len}, {inc_us:.1} | {con_len}, {con_us:.1} (with the old root and a check) | {verify_us:.1} |");
        drop(tree);
        let _ = std::fs::remove_file(&path);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
