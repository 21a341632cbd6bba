//! `claude-audit prove`: an inclusion proof of one event, or a consistency
//! proof between two checkpoints.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Outcome;
use super::evidence::parse_verifier;
use crate::evidence::consistency;
use crate::evidence::layout;
use crate::evidence::proof::{Prover, find_event};

/// Print an inclusion proof (JSON) of one event against the store's newest
/// checkpoint: leaf index, tree size, audit path, the event and the signed
/// checkpoint. `claude-audit verify --proof FILE --key VKEY` checks it
/// without the store.
#[derive(Debug, Args)]
pub struct ProveCommand {
    /// The evidence store.
    #[arg(long, value_name = "DIR")]
    pub evidence: PathBuf,

    /// The event to prove.
    #[arg(long, value_name = "ID", required_unless_present = "consistency")]
    pub event_id: Option<String>,

    /// Instead, print a consistency proof (JSON, RFC 9162 §2.1.4) that
    /// checkpoint --to extends checkpoint --from. `claude-audit verify
    /// --consistency-proof FILE --key VKEY` checks it without the store.
    #[arg(long, requires = "from", conflicts_with = "event_id")]
    pub consistency: bool,

    /// The older checkpoint's sequence number (`checkpoints/N.checkpoint`).
    #[arg(long, value_name = "N", requires = "consistency",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub from: Option<u64>,

    /// The newer checkpoint's sequence number. Default: the newest.
    #[arg(long, value_name = "M", requires = "consistency",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub to: Option<u64>,

    /// Verifier key (or a file holding it) to check the checkpoint with.
    /// Default: the store's own verifier.key.
    #[arg(long, value_name = "VKEY")]
    pub key: Option<String>,
}

impl ProveCommand {
    /// Run the command.
    pub fn execute(self) -> Result<Outcome> {
        let key = match &self.key {
            Some(k) => parse_verifier(k)?,
            None => parse_verifier(
                &self
                    .evidence
                    .join(layout::VERIFIER_FILE)
                    .display()
                    .to_string(),
            )?,
        };
        let json = match (&self.event_id, self.from) {
            (None, Some(from)) if self.consistency => {
                let newest = layout::checkpoints(&self.evidence)?.last().copied();
                let to = self
                    .to
                    .or(newest)
                    .context("the evidence store has no checkpoint yet")?;
                let proof = consistency::prove(&self.evidence, &key, from, to)?;
                serde_json::to_string_pretty(&proof)
            }
            (Some(id), None) => {
                let prover = Prover::open(&self.evidence, &key)?;
                let (index, line) = find_event(&self.evidence, id)?;
                serde_json::to_string_pretty(&prover.prove(index, &line)?)
            }
            _ => bail!("give --event-id ID, or --consistency --from N [--to M]"),
        };
        println!("{}", json.context("writing the proof")?);
        Ok(Outcome::Clean)
    }
}
