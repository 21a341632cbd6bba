//! `claude-audit rules`: the bundled detection rule pack (list, export).

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand, ValueEnum};

use super::Outcome;

/// Work with the bundled detection rule pack.
#[derive(Debug, Args)]
pub struct RulesCommand {
    /// What to do.
    #[command(subcommand)]
    pub action: RulesAction,
}

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub enum RulesAction {
    /// Print each rule's id, detections, kind and severity.
    List,
    /// Write the pack in another format into DIR (one file per rule).
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Sigma)]
        format: Format,
        /// Directory to write into (created if needed).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Sigma rules plus Sigma correlation rules (custom log source
    /// `product: anthropic`).
    Sigma,
}

impl RulesCommand {
    /// Run the command.
    pub fn execute(self) -> Result<Outcome> {
        let rules = claude_audit_plugin::detect::rule::bundled().map_err(|e| anyhow!(e))?;
        match self.action {
            RulesAction::List => {
                for rule in &rules {
                    for d in &rule.detections {
                        let severity = d.severity.unwrap_or(rule.severity);
                        println!(
                            "{}/{}\t{:?}\t{}\t{}",
                            rule.id,
                            d.name,
                            d.kind,
                            severity.as_str(),
                            rule.title
                        );
                    }
                }
            }
            RulesAction::Export {
                format: Format::Sigma,
                dir,
            } => {
                let files = crate::sigma::export(&rules, &dir)?;
                eprintln!(
                    "claude-audit: wrote {} Sigma files to {}",
                    files.len(),
                    dir.display()
                );
            }
        }
        Ok(Outcome::Clean)
    }
}
