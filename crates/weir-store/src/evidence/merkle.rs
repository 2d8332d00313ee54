//! RFC 9162 Merkle tree hashing (§2.1): leaf hash, node hash, the tree head
//! over the first n leaves, audit paths (plain, and from a cache of subtree
//! roots so a proof in a long log costs O(log² n) hashes, not O(n)),
//! inclusion-proof verification, and a frontier that keeps the root of a
//! growing log in O(log n) memory.

use sha2::{Digest, Sha256};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// SHA-256(0x00 || data): the hash of one leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// SHA-256(0x01 || left || right): the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// MTH of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Largest power of two strictly smaller than `n` (n >= 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH(D[n]) over already-hashed leaves (RFC 9162 §2.1.1).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]): the audit path of leaf `m` in the tree over `leaves`
/// (RFC 9162 §2.1.3.1). Empty when `m` is out of range or the tree has one leaf.
pub fn audit_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let mut path = Vec::new();
    if m < leaves.len() {
        path_into(m, leaves, &mut path);
    }
    path
}

fn path_into(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path_into(m, &leaves[..k], out);
        out.push(root(&leaves[k..]));
    } else {
        path_into(m - k, &leaves[k..], out);
        out.push(root(&leaves[..k]));
    }
}

/// Leaves per block at the cache's lowest level: roots of smaller subtrees
/// are hashed again when asked for (at most 2^6 - 1 hashes each).
const BLOCK_BITS: u32 = 6;

/// Roots of the aligned perfect subtrees of 64, 128, 256... leaves of a
/// growing log, kept alongside its leaves (about 1/32 of their memory).
/// Every left subtree of the RFC 9162 split is such a subtree, so an audit
/// path reads O(log n) roots and hashes O(log² n) nodes.
#[derive(Debug, Clone, Default)]
pub struct SubtreeRoots {
    /// levels[h][i]: root of leaves [i << (BLOCK_BITS + h), (i + 1) << (BLOCK_BITS + h)).
    levels: Vec<Vec<Hash>>,
}

impl SubtreeRoots {
    /// Adds the roots of the blocks `leaves` completed since the last call
    /// (`leaves`: every leaf of the log, in order).
    pub fn extend(&mut self, leaves: &[Hash]) {
        let mut h = 0;
        loop {
            let want = leaves.len() >> (BLOCK_BITS + h as u32);
            if want == 0 {
                break;
            }
            if self.levels.len() == h {
                self.levels.push(Vec::new());
            }
            while self.levels[h].len() < want {
                let i = self.levels[h].len();
                let node = if h == 0 {
                    root(&leaves[i << BLOCK_BITS..(i + 1) << BLOCK_BITS])
                } else {
                    node_hash(&self.levels[h - 1][2 * i], &self.levels[h - 1][2 * i + 1])
                };
                self.levels[h].push(node);
            }
            h += 1;
        }
    }

    /// MTH of `leaves[start..start + len]`, from the cache where it holds it.
    fn root_of(&self, leaves: &[Hash], start: usize, len: usize) -> Hash {
        if len.is_power_of_two() && len >= 1 << BLOCK_BITS && start.is_multiple_of(len) {
            let h = (len.trailing_zeros() - BLOCK_BITS) as usize;
            if let Some(node) = self.levels.get(h).and_then(|l| l.get(start / len)) {
                return *node;
            }
        }
        match len {
            0 => empty_root(),
            1 => leaves[start],
            n => {
                let k = split(n);
                node_hash(&self.root_of(leaves, start, k), &self.root_of(leaves, start + k, n - k))
            }
        }
    }

    /// PATH(m, D[n]) over `leaves` (the first n leaves of the log whose
    /// blocks were given to `extend`): the same result as `audit_path`.
    pub fn audit_path(&self, m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let mut path = Vec::new();
        let (mut start, mut n, mut m) = (0, leaves.len(), m);
        if m >= n {
            return path;
        }
        while n > 1 {
            let k = split(n);
            if m < k {
                path.push(self.root_of(leaves, start + k, n - k));
                n = k;
            } else {
                path.push(self.root_of(leaves, start, k));
                start += k;
                m -= k;
                n -= k;
            }
        }
        path.reverse();
        path
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2): that `leaf` is leaf number
/// `index` of the tree of `tree_size` leaves whose root is `root`.
pub fn verify_inclusion(index: u64, tree_size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= tree_size {
        return false;
    }
    let (mut fnode, mut snode) = (index, tree_size - 1);
    let mut r = *leaf;
    for p in path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// The roots of the perfect subtrees covering a growing log, largest first:
/// enough to compute the tree head after every append without the leaves.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    /// (number of leaves, subtree root), sizes strictly decreasing powers of two.
    stack: Vec<(u64, Hash)>,
    size: u64,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        self.stack.push((1, leaf));
        self.size += 1;
        while self.stack.len() >= 2 {
            let (right_size, right) = self.stack[self.stack.len() - 1];
            let (left_size, left) = self.stack[self.stack.len() - 2];
            if left_size != right_size {
                break;
            }
            self.stack.truncate(self.stack.len() - 2);
            self.stack.push((left_size * 2, node_hash(&left, &right)));
        }
    }

    /// MTH over every leaf pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some((_, last)) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, (_, left)| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The cached audit path is the plain one, for any log size, leaf
        /// and cache built in any number of steps.
        #[test]
        fn cached_audit_path_is_the_plain_one(n in 1usize..700, m in 0usize..700, step in 1usize..300) {
            let leaves: Vec<Hash> = (0..n as u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
            let mut cache = SubtreeRoots::default();
            let mut upto = 0;
            while upto < n {
                upto = (upto + step).min(n);
                cache.extend(&leaves[..upto]);
            }
            let m = m % n;
            for size in [n, (n / 2).max(m + 1), m + 1] {
                proptest::prop_assert_eq!(
                    cache.audit_path(m, &leaves[..size]),
                    audit_path(m, &leaves[..size]),
                    "n {} size {} m {}", n, size, m
                );
            }
        }
    }

    /// The leaves and tree heads of the RFC 6962 / certificate-transparency test vectors.
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn hashes(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&(i as u64).to_be_bytes())).collect()
    }

    #[test]
    fn matches_the_published_test_vectors() {
        let leaves: Vec<Hash> = LEAVES.iter().map(|l| leaf_hash(&hex::decode(l).unwrap())).collect();
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut frontier = Frontier::new();
        for n in 1..=8 {
            frontier.push(leaves[n - 1]);
            assert_eq!(hex::encode(root(&leaves[..n])), ROOTS[n - 1], "tree of {n}");
            assert_eq!(hex::encode(frontier.root()), ROOTS[n - 1], "frontier of {n}");
        }
    }

    #[test]
    fn frontier_equals_recursive_root() {
        let leaves = hashes(70);
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), root(&[]));
        for n in 1..=leaves.len() {
            frontier.push(leaves[n - 1]);
            assert_eq!(frontier.root(), root(&leaves[..n]), "n = {n}");
            assert_eq!(frontier.size(), n as u64);
        }
    }

    #[test]
    fn every_audit_path_verifies_and_a_wrong_one_does_not() {
        for n in 1..=33usize {
            let leaves = hashes(n);
            let head = root(&leaves);
            for m in 0..n {
                let path = audit_path(m, &leaves);
                assert!(
                    verify_inclusion(m as u64, n as u64, &leaves[m], &path, &head),
                    "m={m} n={n}"
                );
                let other = leaf_hash(b"not in the tree");
                assert!(!verify_inclusion(m as u64, n as u64, &other, &path, &head));
                if n > 1 {
                    let wrong_index = (m as u64 + 1) % n as u64;
                    assert!(!verify_inclusion(wrong_index, n as u64, &leaves[m], &path, &head));
                    let mut bent = path.clone();
                    bent[0][0] ^= 1;
                    assert!(!verify_inclusion(m as u64, n as u64, &leaves[m], &bent, &head));
                }
                assert!(!verify_inclusion(m as u64, m as u64, &leaves[m], &path, &head));
            }
        }
    }
}
