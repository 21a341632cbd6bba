//! Options shared by the commands that write an evidence store (`run`,
//! `pull`), and the verifier-key option of the commands that read one.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::evidence::note::{SignerKey, VerifierKey};
use crate::evidence::sink::SharedStore;
use crate::evidence::store::{Store, StoreOptions};
use crate::keys::KeySource;

/// Evidence store options.
#[derive(Debug, Args)]
pub struct EvidenceArgs {
    /// Also append every emitted event to the tamper-evident evidence store
    /// in this directory (created if needed), with signed checkpoints.
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,

    /// The checkpoint signing key (written by `claude-audit keys generate`).
    #[arg(
        long,
        value_name = "FILE",
        requires = "evidence",
        conflicts_with = "evidence_key_env"
    )]
    pub evidence_key_file: Option<PathBuf>,

    /// Read the checkpoint signing key from this environment variable.
    #[arg(long, value_name = "VAR", requires = "evidence")]
    pub evidence_key_env: Option<String>,

    /// Sign a checkpoint once this many events are not covered by one.
    #[arg(long, value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: u64,

    /// Sign a checkpoint once the oldest uncovered event is this many
    /// seconds old.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub checkpoint_secs: u64,

    /// Start a new segment file once the current one holds this many MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub segment_mib: u64,
}

impl EvidenceArgs {
    /// Open the store, when `--evidence` is given, resuming at its last
    /// checkpoint or at `resume_to` events.
    pub fn open(&self, resume_to: Option<u64>) -> Result<Option<SharedStore>> {
        let Some(dir) = &self.evidence else {
            return Ok(None);
        };
        let source = match (&self.evidence_key_file, &self.evidence_key_env) {
            (Some(file), None) => KeySource {
                file: Some(file.clone()),
                env: None,
            },
            (None, Some(var)) => KeySource {
                file: None,
                env: Some(var.clone()),
            },
            _ => bail!("--evidence needs a signing key: --evidence-key-file or --evidence-key-env"),
        };
        let what = "evidence signing key";
        let text = source.load_token(what)?;
        let key = std::str::from_utf8(text.bytes())
            .ok()
            .context("the evidence signing key is not text")
            .and_then(SignerKey::parse)
            .with_context(|| format!("reading the {what} from {}", source.describe()))?;
        let options = StoreOptions {
            checkpoint_every: self.checkpoint_every,
            checkpoint_interval: Duration::from_secs(self.checkpoint_secs),
            segment_bytes: self.segment_mib << 20,
        };
        let store = Store::open(dir, key, options, resume_to)
            .with_context(|| format!("opening evidence store {}", dir.display()))?;
        Ok(Some(Rc::new(RefCell::new(store))))
    }
}

/// A verifier key given on the command line: the key itself
/// (`name+id+base64`) or a file holding it.
pub fn parse_verifier(arg: &str) -> Result<VerifierKey> {
    if let Ok(key) = VerifierKey::parse(arg) {
        return Ok(key);
    }
    let text = std::fs::read_to_string(arg)
        .with_context(|| format!("--key {arg}: neither a verifier key nor a readable file"))?;
    VerifierKey::parse(&text).with_context(|| format!("reading the verifier key in {arg}"))
}
