//! `claude-audit prove`: an inclusion proof of one event.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::Outcome;
use super::evidence::parse_verifier;
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
    #[arg(long, value_name = "ID")]
    pub event_id: String,

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
        let prover = Prover::open(&self.evidence, &key)?;
        let (index, line) = find_event(&self.evidence, &self.event_id)?;
        let proof = prover.prove(index, &line)?;
        println!(
            "{}",
            serde_json::to_string_pretty(&proof).context("writing the proof")?
        );
        Ok(Outcome::Clean)
    }
}
