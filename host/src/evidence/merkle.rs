//! RFC 6962 / RFC 9162 §2.1 Merkle hash trees: leaf and node hashing, the
//! streaming root (a compact range), inclusion and consistency proofs and
//! their verification.
//!
//! Hand-written rather than taken from a crate: the algorithms are a page
//! of the RFC, the maintained Rust crates for them (`ct-merkle`, `rs_merkle`)
//! either hash differently from RFC 6962 or need the whole tree in memory,
//! and the verifier must stream a store of any size in O(log n) memory. The
//! tests check the RFC 6962 test vectors of the Certificate Transparency
//! reference implementation and an independent recursive definition.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The roots of the perfect subtrees that make up a tree grown leaf by
/// leaf: O(log n) memory, any root on demand.
#[derive(Debug, Clone, Default)]
pub struct CompactRange {
    /// `(height, hash)`, left to right, heights strictly decreasing.
    nodes: Vec<(u32, Hash)>,
    size: u64,
}

impl CompactRange {
    /// Append one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(height, left)) = self.nodes.last() {
            if height != node.0 {
                break;
            }
            self.nodes.pop();
            node = (height + 1, node_hash(&left, &node.1));
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root of the leaves so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(&(_, mut root)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            root = node_hash(left, &root);
        }
        root
    }
}

/// A whole tree over leaf hashes held in memory (every level), for making
/// proofs: O(n) memory, O(log² n) per subtree hash.
pub struct Tree {
    /// `levels[k][i]` is the hash of the perfect subtree of leaves
    /// `[i << k, (i + 1) << k)`.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// The tree over `leaves` (leaf hashes).
    pub fn new(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() >= 2) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let up = below
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            levels.push(up);
        }
        Self { levels }
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The hash of leaf `index`.
    pub fn leaf(&self, index: u64) -> Hash {
        self.levels[0][index as usize]
    }

    /// `MTH(D[start:end])`, for a range the RFC recursion visits.
    fn range_hash(&self, start: u64, end: u64) -> Hash {
        let n = end - start;
        match n {
            0 => empty_root(),
            _ if n.is_power_of_two() && start.is_multiple_of(n) => {
                self.levels[n.trailing_zeros() as usize][(start / n) as usize]
            }
            _ => {
                let k = split_point(n);
                node_hash(
                    &self.range_hash(start, start + k),
                    &self.range_hash(start + k, end),
                )
            }
        }
    }

    /// The root of the first `size` leaves.
    pub fn root(&self, size: u64) -> Hash {
        self.range_hash(0, size)
    }

    /// RFC 9162 §2.1.3.1 `PATH(index, D[0:size])`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Vec<Hash> {
        assert!(
            index < size && size <= self.size(),
            "index or size out of range"
        );
        let mut path = Vec::new();
        self.path(index, 0, size, &mut path);
        path
    }

    fn path(&self, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) {
        let n = end - start;
        if n <= 1 {
            return;
        }
        let k = split_point(n);
        if m < k {
            self.path(m, start, start + k, out);
            out.push(self.range_hash(start + k, end));
        } else {
            self.path(m - k, start + k, end, out);
            out.push(self.range_hash(start, start + k));
        }
    }

    /// RFC 9162 §2.1.4.1 `PROOF(old, D[0:new])`, for `0 < old <= new`.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "verify recomputes every checkpoint root instead; kept, tested, for `prove --consistency`"
        )
    )]
    pub fn consistency_proof(&self, old: u64, new: u64) -> Vec<Hash> {
        assert!(
            0 < old && old <= new && new <= self.size(),
            "sizes out of range"
        );
        let mut proof = Vec::new();
        self.subproof(old, 0, new, true, &mut proof);
        proof
    }

    fn subproof(&self, m: u64, start: u64, end: u64, whole: bool, out: &mut Vec<Hash>) {
        let n = end - start;
        if m == n {
            if !whole {
                out.push(self.range_hash(start, end));
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, start, start + k, whole, out);
            out.push(self.range_hash(start + k, end));
        } else {
            self.subproof(m - k, start + k, end, false, out);
            out.push(self.range_hash(start, start + k));
        }
    }
}

/// RFC 9162 §2.1.3.2: does `path` prove leaf `index` (hash `leaf`) in the
/// tree of `size` leaves with root `root`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show that the tree of `old` leaves
/// (root `old_root`) is a prefix of the tree of `new` leaves (`new_root`)?
#[cfg_attr(
    not(test),
    expect(
        dead_code,
        reason = "the offline check of `prove --consistency` proofs (not yet a command)"
    )
)]
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        // Every tree extends the empty tree; nothing to prove.
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *old_root && sr == *new_root && sn == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of the RFC 6962 test vectors (CT reference implementation,
    /// `merkle_tree_test.cc`).
    const LEAVES: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];

    /// Roots of the first 1..=8 leaves, from the same test vectors.
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

    /// MTH straight from RFC 6962 §2.1, recursively over the leaf data.
    fn reference_root(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
    }

    #[test]
    fn rfc6962_test_vectors() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut range = CompactRange::default();
        let hashes: Vec<Hash> = LEAVES.iter().map(|l| leaf_hash(l)).collect();
        let tree = Tree::new(hashes.clone());
        for (i, h) in hashes.iter().enumerate() {
            range.push(*h);
            assert_eq!(hex::encode(range.root()), ROOTS[i], "size {}", i + 1);
            assert_eq!(hex::encode(tree.root(i as u64 + 1)), ROOTS[i]);
        }
    }

    #[test]
    fn streaming_and_tree_roots_match_the_recursive_definition() {
        let data = leaves(70);
        let hashes: Vec<Hash> = data.iter().map(|l| leaf_hash(l)).collect();
        let tree = Tree::new(hashes.clone());
        let mut range = CompactRange::default();
        for n in 1..=data.len() {
            range.push(hashes[n - 1]);
            let expected = reference_root(&data[..n]);
            assert_eq!(range.root(), expected, "streaming, size {n}");
            assert_eq!(tree.root(n as u64), expected, "tree, size {n}");
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_a_wrong_one_does_not() {
        let data = leaves(37);
        let tree = Tree::new(data.iter().map(|l| leaf_hash(l)).collect());
        for size in 1..=37u64 {
            let root = tree.root(size);
            for index in 0..size {
                let path = tree.inclusion_proof(index, size);
                let leaf = tree.leaf(index);
                assert!(verify_inclusion(index, size, &leaf, &path, &root));
                let other = tree.leaf((index + 1) % size);
                if size > 1 {
                    assert!(!verify_inclusion(index, size, &other, &path, &root));
                    let wrong = (index + 1) % size;
                    assert!(!verify_inclusion(wrong, size, &leaf, &path, &root));
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_wrong_one_does_not() {
        let data = leaves(33);
        let tree = Tree::new(data.iter().map(|l| leaf_hash(l)).collect());
        for new in 1..=33u64 {
            for old in 1..=new {
                let proof = tree.consistency_proof(old, new);
                let (a, b) = (tree.root(old), tree.root(new));
                assert!(verify_consistency(old, new, &a, &b, &proof), "{old}->{new}");
                if old < new {
                    assert!(!verify_consistency(old, new, &b, &b, &proof));
                    let mut bad = proof.clone();
                    bad[0][0] ^= 1;
                    assert!(!verify_consistency(old, new, &a, &b, &bad));
                }
            }
        }
    }

    /// The consistency proof from 2 to 5 leaves of the vector tree (same
    /// source).
    #[test]
    fn rfc6962_consistency_vector() {
        let tree = Tree::new(LEAVES.iter().map(|l| leaf_hash(l)).collect());
        let proof: Vec<String> = tree
            .consistency_proof(2, 5)
            .iter()
            .map(hex::encode)
            .collect();
        assert_eq!(
            proof,
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        );
    }

    /// The inclusion proof of leaf 0 in the 8-leaf vector tree (RFC 6962
    /// test vectors, `merkle_tree_test.cc`).
    #[test]
    fn rfc6962_inclusion_vector() {
        let tree = Tree::new(LEAVES.iter().map(|l| leaf_hash(l)).collect());
        let path: Vec<String> = tree.inclusion_proof(0, 8).iter().map(hex::encode).collect();
        assert_eq!(
            path,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
    }
}
