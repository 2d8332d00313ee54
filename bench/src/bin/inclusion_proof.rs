//! Inclusion proofs in a long evidence log: the plain RFC 9162 audit path
//! (hashes every leaf outside the proved one's smallest subtrees, O(n))
//! against the path read from cached subtree roots (O(log² n)), in the same
//! run, over the same leaves. Prints medians per proof and the ratio.
//!
//! Run: cargo run --release -p weir-bench --bin inclusion_proof [-- LEAVES]

use std::time::Instant;

use weir_store::evidence::merkle::{audit_path, leaf_hash, Hash, SubtreeRoots};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let leaves: Vec<Hash> = (0..n as u64).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    let started = Instant::now();
    let mut cache = SubtreeRoots::default();
    cache.extend(&leaves);
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    let (mut plain, mut cached) = (Vec::new(), Vec::new());
    for i in 0..15 {
        let m = (i * 7919 * 104_729) % n;
        let t = Instant::now();
        let a = audit_path(m, &leaves);
        plain.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        let b = cache.audit_path(m, &leaves);
        cached.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(a, b, "paths differ for leaf {m}");
    }
    let (p, c) = (median(plain), median(cached));
    println!("inclusion proof in a log of {n} leaves (median of 15 leaves):");
    println!("  plain audit path   {p:>12.1} µs");
    println!("  cached subtrees    {c:>12.1} µs   ({:.0}x faster)", p / c);
    println!("  cache built once in {build_ms:.1} ms (then kept up to date on append)");
}
