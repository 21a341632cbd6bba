//! `claude-audit keys generate`: a new checkpoint signing key.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use super::Outcome;
use crate::evidence::note::SignerKey;

/// Manage evidence signing keys.
#[derive(Debug, Args)]
pub struct KeysCommand {
    /// What to do.
    #[command(subcommand)]
    pub action: KeysAction,
}

/// Key actions.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Write a new Ed25519 signing key (mode 0600; an existing file is never
    /// overwritten) and print its verifier key
    /// (`<name>+<hex key id>+<base64 key>`) on standard output.
    Generate(GenerateArgs),
}

/// `keys generate` options.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The key name, which is also the log's origin in every checkpoint: a
    /// schema-less URL without spaces or '+', e.g. `audit.example.com/claude`.
    #[arg(long, value_name = "NAME")]
    pub name: String,

    /// Where to write the signing key (secret).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

impl KeysCommand {
    /// Run the command.
    pub fn execute(self) -> Result<Outcome> {
        let KeysAction::Generate(args) = self.action;
        let key = SignerKey::generate(&args.name)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let context = || format!("writing signing key {}", args.out.display());
        let mut file = options.open(&args.out).with_context(context)?;
        writeln!(file, "{}", key.to_text()).with_context(context)?;
        file.sync_all().with_context(context)?;
        println!("{}", key.verifier().to_text());
        Ok(Outcome::Clean)
    }
}
