//! `claude-audit reveal`: resolve pseudonyms through the encrypted vault.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use super::Outcome;
use crate::keys::{self, KeySource};
use crate::vault;

/// Resolve pseudonyms to their original values, for an authorized
/// investigator holding the vault key.
///
/// Prints one JSON object per pseudonym found (`pseudonym`, `original`,
/// `entity`) on stdout; names those not found on stderr. Exit code 1 when
/// any pseudonym was not found, 2 on error (e.g. a wrong vault key).
#[derive(Debug, Args)]
pub struct RevealCommand {
    /// The vault file written by `run --vault`.
    #[arg(long, value_name = "FILE")]
    pub vault: PathBuf,

    /// Read the vault key from this file (32 bytes, or 64 hex characters).
    #[arg(long, value_name = "FILE", required_unless_present = "vault_key_env")]
    pub vault_key_file: Option<PathBuf>,

    /// Read the vault key from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "vault_key_file")]
    pub vault_key_env: Option<String>,

    /// Pseudonyms to resolve, e.g. `email:k1:MFRGGZDFMZTWQ2LK`.
    #[arg(value_name = "PSEUDONYM", required = true)]
    pub pseudonyms: Vec<String>,
}

impl RevealCommand {
    /// Run the command.
    pub fn execute(self) -> Result<super::Outcome> {
        let source = KeySource {
            file: self.vault_key_file.clone(),
            env: self.vault_key_env.clone(),
        };
        let key = keys::load_vault_key(&source)?;
        let found = vault::reveal(&self.vault, &key, &self.pseudonyms)?;
        for entry in &found {
            println!("{}", serde_json::to_string(entry)?);
        }
        let missing: Vec<&String> = self
            .pseudonyms
            .iter()
            .filter(|p| !found.iter().any(|e| &e.pseudonym == *p))
            .collect();
        for pseudonym in &missing {
            eprintln!("claude-audit: not in the vault: {pseudonym}");
        }
        if found.is_empty() && missing.is_empty() {
            bail!("nothing to reveal");
        }
        Ok(if missing.is_empty() {
            Outcome::Clean
        } else {
            Outcome::Partial
        })
    }
}
