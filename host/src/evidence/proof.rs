//! Inclusion proofs of single events against a signed checkpoint, and
//! their offline verification (the proof file and the verifier key only).
//!
//! Proof JSON (`format` = `claude-audit-inclusion-proof/1`):
//! `event_id`; `leaf_index` (0-based); `tree_size`; `event` (the NDJSON
//! line exactly as emitted, as a JSON string); `leaf_hash` (base64 of
//! SHA-256(0x00 ‖ event)); `audit_path` (base64 hashes, RFC 9162
//! §2.1.3.1 order, leaf to root); `checkpoint` (the signed checkpoint note).

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use super::layout;
use super::leaves;
use super::merkle::{self, Hash, Tree};
use super::note::VerifierKey;
use super::verify::event_id;

/// The proof format's name and version.
pub const FORMAT: &str = "claude-audit-inclusion-proof/1";

/// An inclusion proof.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    /// [`FORMAT`].
    pub format: String,
    /// The event's id.
    pub event_id: String,
    /// Its leaf index.
    pub leaf_index: u64,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The event's NDJSON line.
    pub event: String,
    /// Base64 leaf hash.
    pub leaf_hash: String,
    /// Base64 audit path.
    pub audit_path: Vec<String>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

/// The tree of a store at its newest checkpoint, for making proofs.
pub struct Prover {
    tree: Tree,
    note: String,
    checkpoint: Checkpoint,
}

impl Prover {
    /// Load the leaf hashes of `dir` up to its newest checkpoint (signed by
    /// `key`) and check them against it.
    pub fn open(dir: &Path, key: &VerifierKey) -> Result<Self> {
        let seq = *layout::checkpoints(dir)?
            .last()
            .context("the evidence store has no checkpoint yet")?;
        let path = layout::checkpoint_path(dir, seq);
        let note = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let checkpoint =
            Checkpoint::open(&note, key).with_context(|| format!("checking {}", path.display()))?;
        let tree = leaves::tree(dir, checkpoint.size)?;
        ensure!(
            tree.root(checkpoint.size)? == checkpoint.root,
            "the store's leaf hashes do not match its checkpoint: run `claude-audit verify`"
        );
        Ok(Self {
            tree,
            note,
            checkpoint,
        })
    }

    /// The checkpoint the proofs are against.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signed checkpoint note.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// The proof for `line` at `index`.
    pub fn prove(&self, index: u64, line: &[u8]) -> Result<Proof> {
        ensure!(
            index < self.checkpoint.size,
            "leaf {index} is not covered by the newest checkpoint (size {}) yet",
            self.checkpoint.size
        );
        let leaf = merkle::leaf_hash(line);
        ensure!(
            leaf == self.tree.leaf(index)?,
            "the record at leaf {index} does not match its leaf hash: run `claude-audit verify`"
        );
        let event = String::from_utf8(line.to_vec()).context("the record is not UTF-8")?;
        Ok(Proof {
            format: FORMAT.to_owned(),
            event_id: event_id(line).unwrap_or_default(),
            leaf_index: index,
            tree_size: self.checkpoint.size,
            event,
            leaf_hash: B64.encode(leaf),
            audit_path: self
                .tree
                .inclusion_proof(index, self.checkpoint.size)?
                .iter()
                .map(|h| B64.encode(h))
                .collect(),
            checkpoint: self.note.clone(),
        })
    }
}

/// Find the event `id` in `dir`: `(leaf index, line)`.
pub fn find_event(dir: &Path, id: &str) -> Result<(u64, Vec<u8>)> {
    let needle = serde_json::to_string(id)?;
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let mut found = None;
    for segment in layout::segments(dir)? {
        segment.for_each_line(|leaf, line| {
            if found.is_none()
                && finder.find(line).is_some()
                && event_id(line).as_deref() == Some(id)
            {
                found = Some((leaf, line.to_vec()));
            }
            Ok(())
        })?;
        if let Some(hit) = found {
            return Ok(hit);
        }
    }
    bail!("no event with event_id {id:?} in the evidence store")
}

/// Check `proof` with `key` alone: the checkpoint's signature, the leaf
/// hash of the event, and the audit path to the checkpoint's root.
pub fn verify_proof(proof: &Proof, key: &VerifierKey) -> Result<Checkpoint> {
    ensure!(
        proof.format == FORMAT,
        "unknown proof format {:?}",
        proof.format
    );
    let checkpoint = Checkpoint::open(&proof.checkpoint, key).context("the proof's checkpoint")?;
    ensure!(
        checkpoint.size == proof.tree_size,
        "the proof is for tree size {}, its checkpoint has size {}",
        proof.tree_size,
        checkpoint.size
    );
    let leaf = merkle::leaf_hash(proof.event.as_bytes());
    ensure!(
        B64.encode(leaf) == proof.leaf_hash,
        "leaf_hash is not the hash of the event"
    );
    ensure!(
        event_id(proof.event.as_bytes()).as_deref() == Some(proof.event_id.as_str()),
        "event_id {:?} is not the event's",
        proof.event_id
    );
    let path = decode_hashes(&proof.audit_path, "an audit path entry")?;
    ensure!(
        merkle::verify_inclusion(
            proof.leaf_index,
            proof.tree_size,
            &leaf,
            &path,
            &checkpoint.root
        ),
        "the audit path does not lead from leaf {} to the checkpoint's root",
        proof.leaf_index
    );
    Ok(checkpoint)
}

/// Base64 hashes of a proof, decoded; `what` names an entry in errors.
pub fn decode_hashes(list: &[String], what: &str) -> Result<Vec<Hash>> {
    list.iter()
        .map(|h| {
            B64.decode(h)
                .ok()
                .and_then(|b| Hash::try_from(b).ok())
                .with_context(|| format!("{what} is not the base64 of 32 bytes"))
        })
        .collect()
}
