//! `claude-audit verify`: check an evidence store, or an inclusion proof,
//! against signed checkpoints.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use clap::Args;
use sha2::{Digest as _, Sha256};

use super::Outcome;
use super::evidence::parse_verifier;
use crate::evidence::consistency::{self, ConsistencyProof};
use crate::evidence::layout;
use crate::evidence::proof::{Proof, verify_proof};
use crate::evidence::tsa;
use crate::evidence::verify::{Failure, verify_store};

/// Verify an evidence store (every record, leaf hash, Merkle root,
/// checkpoint signature and the consistency between successive
/// checkpoints), or an inclusion proof, a consistency proof or a report
/// offline.
///
/// Exit codes: 0 verified; 1 verified up to the newest checkpoint, but
/// events after it are covered by no checkpoint (a crash before the
/// checkpoint, or a removed checkpoint: compare with a checkpoint kept
/// elsewhere), or a report's time-stamp token verified but not anchored
/// (no --tsa-cert); 2 error (arguments, unreadable files); 5 the evidence does
/// not verify (the first bad record or checkpoint is named on stderr).
#[derive(Debug, Args)]
pub struct VerifyCommand {
    /// The evidence store directory.
    #[arg(value_name = "DIR", required_unless_present_any = ["proof", "report", "consistency_proof"])]
    pub dir: Option<PathBuf>,

    /// The verifier key (`name+id+base64`, or a file holding it). Default,
    /// for a store: its own verifier.key, which proves integrity only if
    /// that file is trusted; auditors should pass the key they were given.
    #[arg(long, value_name = "VKEY")]
    pub key: Option<String>,

    /// Verify this inclusion proof (from `claude-audit prove`) with --key
    /// alone, without the store.
    #[arg(long, value_name = "FILE", requires = "key", conflicts_with = "dir")]
    pub proof: Option<PathBuf>,

    /// Verify this consistency proof (from `claude-audit prove
    /// --consistency`) with --key alone, without the store.
    #[arg(long, value_name = "FILE", requires = "key",
          conflicts_with_all = ["dir", "proof", "report"])]
    pub consistency_proof: Option<PathBuf>,

    /// Verify the report in this directory (report.json and
    /// report.json.sig) with --key: its signature, its checkpoint, and the
    /// inclusion proof of every sampled event.
    #[arg(long, value_name = "DIR", requires = "key", conflicts_with_all = ["dir", "proof"])]
    pub report: Option<PathBuf>,

    /// The time-stamping authority's certificate (PEM) that anchors the
    /// report's time-stamp token (report.tsr): the token's signer must be
    /// this certificate or be issued by it. With it, a report without a
    /// token does not verify; without it, a token is checked but not
    /// anchored (exit code 1).
    #[arg(long, value_name = "FILE", requires = "report")]
    pub tsa_cert: Option<PathBuf>,
}

/// Exit code when evidence does not verify.
pub const EXIT_NOT_VERIFIED: u8 = 5;

/// Whether `e` says that evidence does not verify.
pub fn is_not_verified(e: &anyhow::Error) -> bool {
    e.downcast_ref::<NotVerified>().is_some() || e.downcast_ref::<ProofRejected>().is_some()
}

/// Evidence that does not verify (exit code 5).
#[derive(Debug)]
pub struct NotVerified(pub Failure);

impl std::fmt::Display for NotVerified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "evidence does not verify: {}", self.0)
    }
}

impl std::error::Error for NotVerified {}

/// A proof that does not verify (exit code 5).
#[derive(Debug)]
pub struct ProofRejected(pub String);

impl std::fmt::Display for ProofRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "proof does not verify: {}", self.0)
    }
}

impl std::error::Error for ProofRejected {}

impl VerifyCommand {
    /// Run the command.
    pub fn execute(self) -> Result<Outcome> {
        if let Some(path) = &self.proof {
            return self.proof(path);
        }
        if let Some(dir) = &self.report {
            return self.report(dir);
        }
        if let Some(path) = &self.consistency_proof {
            return self.consistency_proof(path);
        }
        let Some(dir) = &self.dir else {
            bail!("give an evidence directory or --proof FILE");
        };
        let key = match &self.key {
            Some(k) => parse_verifier(k)?,
            None => {
                eprintln!(
                    "claude-audit: verify: no --key: checking signatures against the store's own \
                     {} (pass the key you were given for an independent check)",
                    layout::VERIFIER_FILE
                );
                parse_verifier(&dir.join(layout::VERIFIER_FILE).display().to_string())?
            }
        };
        let started = Instant::now();
        let verified = verify_store(dir, &key)?.map_err(NotVerified)?;
        let secs = started.elapsed().as_secs_f64();
        let (size, root) = verified.last.as_ref().map_or((0, String::new()), |c| {
            (
                c.size,
                base64::engine::general_purpose::STANDARD.encode(c.root),
            )
        });
        println!(
            "verified {} events ({} removed by retention) in {} segments ({:.1} MiB, {:.0} MiB/s); \
             {} checkpoints signed by {}; newest: size {size}, root {root}",
            verified.leaves,
            verified.retention_removed,
            verified.segments,
            verified.bytes as f64 / 1048576.0,
            verified.bytes as f64 / 1048576.0 / secs.max(1e-9),
            verified.checkpoints,
            key.label(),
        );
        if verified.uncovered_tail > 0 {
            eprintln!(
                "claude-audit: verify: {} events after the newest checkpoint (size {size}) are \
                 covered by no checkpoint: a crash before the checkpoint (the next run or pull \
                 drops them and writes them again; the next serve keeps them and signs them), or \
                 a removed checkpoint (compare with a \
                 checkpoint kept elsewhere)",
                verified.uncovered_tail
            );
            return Ok(Outcome::Partial);
        }
        if verified.torn_tail {
            eprintln!(
                "claude-audit: verify: the store's last line was cut by a crash while it was \
                 appended, after the newest checkpoint (size {size}) and before it was indexed: \
                 an unacknowledged record, which the next run, pull or serve cuts away"
            );
            return Ok(Outcome::Partial);
        }
        Ok(Outcome::Clean)
    }

    fn report(&self, dir: &Path) -> Result<Outcome> {
        let key = parse_verifier(self.key.as_deref().unwrap_or_default())?;
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
        };
        let json = read("report.json")?;
        let sig = String::from_utf8(read("report.json.sig")?)
            .map_err(|_| ProofRejected("report.json.sig is not text".into()))?;
        let report = crate::evidence::report::verify(&json, &sig, &key)
            .map_err(|e| ProofRejected(format!("report {}: {e:#}", dir.display())))?;
        println!(
            "report verified: {} {} to {}, {} events, checkpoint size {} signed by {}; {} sampled \
             inclusion proofs verified",
            report.framework,
            report
                .period
                .get("from")
                .map(String::as_str)
                .unwrap_or_default(),
            report
                .period
                .get("to")
                .map(String::as_str)
                .unwrap_or_default(),
            report.events.total,
            report.checkpoint.size,
            key.label(),
            report.sample.events.len()
        );
        self.time_stamp(dir, &json)
    }

    /// Check the report's time-stamp token, if any (see `--tsa-cert`).
    fn time_stamp(&self, dir: &Path, json: &[u8]) -> Result<Outcome> {
        let path = dir.join(tsa::TOKEN_FILE);
        let Some(der) = read_if_present(&path)? else {
            if self.tsa_cert.is_some() {
                let why = format!(
                    "--tsa-cert is given but the report has no time-stamp token ({})",
                    path.display()
                );
                return Err(ProofRejected(why).into());
            }
            println!("no time-stamp token ({} absent)", tsa::TOKEN_FILE);
            return Ok(Outcome::Clean);
        };
        let anchor = self
            .tsa_cert
            .as_deref()
            .map(tsa::trust::load_anchor)
            .transpose()?;
        let digest = Sha256::digest(json);
        let token = tsa::token::verify(&der, &digest)
            .map_err(|e| ProofRejected(format!("time-stamp token {}: {e:#}", path.display())))?;
        println!(
            "time-stamp token verified: SHA-256 of report.json time-stamped at {} by {} (serial \
             {}, policy {})",
            token.gen_time,
            token.subject(),
            token.serial,
            token.policy
        );
        let Some(anchor) = anchor else {
            eprintln!(
                "claude-audit: verify: the time-stamp token's signer is NOT trust-anchored: its \
                 signature is valid, but anyone can make such a token; pass --tsa-cert FILE (the \
                 TSA's certificate or its issuer) to check who signed it"
            );
            return Ok(Outcome::Partial);
        };
        let how = tsa::trust::check(&token.signer, &anchor)
            .map_err(|e| ProofRejected(format!("time-stamp token {}: {e:#}", path.display())))?;
        let how = match how {
            tsa::trust::Anchored::Itself => "is the --tsa-cert",
            tsa::trust::Anchored::IssuedBy => "is issued by the --tsa-cert",
        };
        println!(
            "time-stamp token anchored: signer {} {how} {}",
            token.subject(),
            anchor.tbs_certificate.subject
        );
        Ok(Outcome::Clean)
    }

    fn consistency_proof(&self, path: &Path) -> Result<Outcome> {
        let key = parse_verifier(self.key.as_deref().unwrap_or_default())?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading proof {}", path.display()))?;
        let proof: ConsistencyProof = serde_json::from_str(&text)
            .map_err(|e| ProofRejected(format!("{} is not a proof: {e}", path.display())))?;
        let (old, new) =
            consistency::verify(&proof, &key).map_err(|e| ProofRejected(format!("{e:#}")))?;
        println!(
            "consistency proof verified: the tree of {} events extends the tree of {} events \
             (log {}, both checkpoints signed by {})",
            new.size,
            old.size,
            new.origin,
            key.label()
        );
        Ok(Outcome::Clean)
    }

    fn proof(&self, path: &Path) -> Result<Outcome> {
        let key = parse_verifier(self.key.as_deref().unwrap_or_default())?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading proof {}", path.display()))?;
        let proof: Proof = serde_json::from_str(&text)
            .map_err(|e| ProofRejected(format!("{} is not a proof: {e}", path.display())))?;
        let checkpoint = verify_proof(&proof, &key).map_err(|e| ProofRejected(format!("{e:#}")))?;
        println!(
            "proof verified: event {} is leaf {} of the {} events of checkpoint {} signed by {}",
            proof.event_id,
            proof.leaf_index,
            checkpoint.size,
            checkpoint.origin,
            key.label()
        );
        Ok(Outcome::Clean)
    }
}

/// The bytes of `path`, or `None` when there is no such file.
fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
