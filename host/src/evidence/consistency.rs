//! Consistency proofs between two signed checkpoints of a store (RFC 9162
//! §2.1.4, RFC 6962 §2.1.2), and their offline verification with the
//! verifier key alone: they show that the newer tree extends the older one
//! (nothing removed, altered or reordered in between) without the events.
//!
//! Proof JSON (`format` = `claude-audit-consistency-proof/1`): `old_size`,
//! `new_size`; `old_checkpoint`, `new_checkpoint` (the signed checkpoint
//! notes, verbatim); `proof` (base64 hashes, in the order of RFC 9162
//! §2.1.4.1 `PROOF(old_size, D[0:new_size])`; empty when the sizes are
//! equal or the old tree is empty).

use std::path::Path;

use anyhow::{Context, Result, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::layout;
use super::leaves;
use super::merkle::{self, Hash, Tree};
use super::note::VerifierKey;

/// The proof format's name and version.
pub const FORMAT: &str = "claude-audit-consistency-proof/1";

/// A consistency proof between two checkpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// [`FORMAT`].
    pub format: String,
    /// Tree size of the older checkpoint.
    pub old_size: u64,
    /// Tree size of the newer checkpoint.
    pub new_size: u64,
    /// The older signed checkpoint note.
    pub old_checkpoint: String,
    /// The newer signed checkpoint note.
    pub new_checkpoint: String,
    /// Base64 hashes.
    pub proof: Vec<String>,
}

/// Checkpoint `seq` of `dir`: its note and its checked content.
fn read_checkpoint(dir: &Path, seq: u64, key: &VerifierKey) -> Result<(String, Checkpoint)> {
    let path = layout::checkpoint_path(dir, seq);
    let note =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let checkpoint =
        Checkpoint::open(&note, key).with_context(|| format!("checking {}", path.display()))?;
    Ok((note, checkpoint))
}

/// The proof that checkpoint `to` of `dir` extends checkpoint `from`
/// (sequence numbers, `from <= to`), from the store's leaf hashes.
pub fn prove(dir: &Path, key: &VerifierKey, from: u64, to: u64) -> Result<ConsistencyProof> {
    ensure!(from <= to, "--from {from} is after --to {to}");
    let (old_note, old) = read_checkpoint(dir, from, key)?;
    let (new_note, new) = read_checkpoint(dir, to, key)?;
    let tree = leaves::tree(dir, new.size)?;
    let proof = proof_between(&tree, &old, &new)?;
    Ok(ConsistencyProof {
        format: FORMAT.to_owned(),
        old_size: old.size,
        new_size: new.size,
        old_checkpoint: old_note,
        new_checkpoint: new_note,
        proof: proof.iter().map(|h| B64.encode(h)).collect(),
    })
}

/// `PROOF(old.size, D[0:new.size])` from `tree`, checked against both
/// signed roots (an error names the checkpoint it fails).
pub fn proof_between(tree: &Tree, old: &Checkpoint, new: &Checkpoint) -> Result<Vec<Hash>> {
    let proof = match old.size {
        0 => Vec::new(),
        _ => tree.consistency_proof(old.size, new.size)?,
    };
    ensure!(
        merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &proof),
        "the tree of {} events is not consistent with the tree of {} events",
        new.size,
        old.size
    );
    Ok(proof)
}

/// Check `proof` with `key` alone: both signatures, the same origin, the
/// sizes, and the RFC 9162 §2.1.4.2 verification. Returns both checkpoints.
pub fn verify(proof: &ConsistencyProof, key: &VerifierKey) -> Result<(Checkpoint, Checkpoint)> {
    ensure!(
        proof.format == FORMAT,
        "unknown proof format {:?}",
        proof.format
    );
    let old = Checkpoint::open(&proof.old_checkpoint, key).context("the old checkpoint")?;
    let new = Checkpoint::open(&proof.new_checkpoint, key).context("the new checkpoint")?;
    ensure!(
        (old.size, new.size) == (proof.old_size, proof.new_size),
        "the proof's sizes {} and {} are not its checkpoints' ({} and {})",
        proof.old_size,
        proof.new_size,
        old.size,
        new.size
    );
    ensure!(old.origin == new.origin, "the checkpoints are of two logs");
    let hashes = super::proof::decode_hashes(&proof.proof, "a proof entry")?;
    ensure!(
        merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &hashes),
        "the proof does not show that the tree of {} events extends the tree of {}",
        new.size,
        old.size
    );
    Ok((old, new))
}
