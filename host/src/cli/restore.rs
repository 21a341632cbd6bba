//! `claude-audit evidence restore`: rebuild a store from what the agents
//! shipped to S3 Object Lock (see [`crate::evidence::restore`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use super::Outcome;
use crate::evidence::restore;

/// Evidence store operations that are not `verify`, `prove` or `report`.
#[derive(Debug, Args)]
pub struct EvidenceCommand {
    /// What to do.
    #[command(subcommand)]
    pub action: EvidenceAction,
}

/// Evidence actions.
#[derive(Debug, Subcommand)]
pub enum EvidenceAction {
    /// Rebuild an evidence store byte for byte from the objects the agent
    /// pipelines (`pipelines/*/evidence-s3.yaml`) shipped: NDJSON records
    /// `{file, offset, line}`, gzip or not, in any order, duplicates
    /// allowed. A missing or conflicting line is an error naming the file
    /// and offset. Then check the result with `claude-audit verify`.
    Restore(RestoreArgs),
}

/// `evidence restore` options.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The directory holding the downloaded objects (searched recursively),
    /// e.g. `aws s3 cp --recursive s3://BUCKET/claude-audit/evidence/ DIR`.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,

    /// The store to write (a new directory; it must not exist).
    #[arg(long, value_name = "STORE")]
    pub out: PathBuf,
}

impl EvidenceCommand {
    /// Run the command.
    pub fn execute(self) -> Result<Outcome> {
        let EvidenceAction::Restore(args) = self.action;
        let done = restore::restore(&args.from, &args.out).with_context(|| {
            format!(
                "restoring {} from {}",
                args.out.display(),
                args.from.display()
            )
        })?;
        eprintln!(
            "claude-audit: restored {} files ({} lines from {} objects, {} duplicate lines \
             dropped) and {} segment indexes into {}; check it with: claude-audit verify {} \
             --key VKEY",
            done.files,
            done.lines,
            done.objects,
            done.duplicates,
            done.indexes,
            args.out.display(),
            args.out.display()
        );
        Ok(Outcome::Clean)
    }
}
