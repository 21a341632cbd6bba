//! `claude-audit report`: a signed audit report over an evidence store.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use sha2::{Digest as _, Sha256};

use super::Outcome;
use crate::evidence::layout;
use crate::evidence::note::SignerKey;
use crate::evidence::report::{self, ReportRequest};
use crate::evidence::report_html;
use crate::evidence::tsa;
use crate::keys::KeySource;
use crate::pull::time::parse_rfc3339;

/// Write a signed audit report of a period: `report.json` (signed by
/// `report.json.sig`, a signed note over its SHA-256) and `report.html`
/// (self-contained), and with `--tsa URL` an RFC 3161 time-stamp token
/// `report.tsr`. `claude-audit verify --report DIR --key VKEY` checks it,
/// with every sampled event's inclusion proof.
#[derive(Debug, Args)]
pub struct ReportCommand {
    /// The evidence store.
    #[arg(long, value_name = "DIR")]
    pub evidence: PathBuf,

    /// Control framework: soc2, hipaa, gdpr, eu-ai-act or iso42001.
    #[arg(long, value_name = "NAME")]
    pub framework: String,

    /// Start of the period (RFC 3339, inclusive).
    #[arg(long, value_name = "T1")]
    pub from: String,

    /// End of the period (RFC 3339, exclusive).
    #[arg(long, value_name = "T2")]
    pub to: String,

    /// Directory to write the report into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Events to sample, each with its inclusion proof.
    #[arg(long, value_name = "N", default_value_t = 25)]
    pub sample: usize,

    /// Seed of the sample (default: random; always recorded in the report).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// The signing key (the store's key), from a file.
    #[arg(long, value_name = "FILE", conflicts_with = "key_env")]
    pub key_file: Option<PathBuf>,

    /// The signing key, from an environment variable.
    #[arg(long, value_name = "VAR")]
    pub key_env: Option<String>,

    /// Time-stamp the report at this RFC 3161 time-stamping authority
    /// (HTTP POST of a TimeStampReq over SHA-256 of report.json); the
    /// checked token is written to report.tsr.
    #[arg(long, value_name = "URL")]
    pub tsa: Option<String>,
}

impl ReportCommand {
    /// Run the command.
    pub fn execute(self) -> Result<Outcome> {
        let source = KeySource {
            file: self.key_file.clone(),
            env: self.key_env.clone(),
        };
        let text = source.load_token("report signing key")?;
        let key = std::str::from_utf8(text.bytes())
            .ok()
            .context("the signing key is not text")
            .and_then(SignerKey::parse)
            .with_context(|| format!("reading the signing key from {}", source.describe()))?;
        let time = |flag: &str, v: &str| {
            parse_rfc3339(v).with_context(|| format!("{flag} {v:?} is not an RFC 3339 time"))
        };
        let seed = match self.seed {
            Some(s) => s,
            None => {
                let mut b = [0u8; 8];
                getrandom::fill(&mut b)
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .context("drawing a sample seed")?;
                u64::from_le_bytes(b)
            }
        };
        let request = ReportRequest {
            framework: self.framework.clone(),
            from: time("--from", &self.from)?,
            to: time("--to", &self.to)?,
            sample: self.sample,
            seed,
        };
        let report = report::build(&self.evidence, &key.verifier(), request)?;
        let mut json = serde_json::to_vec_pretty(&report).context("encoding report.json")?;
        json.push(b'\n');
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("creating {}", self.out.display()))?;
        let sig = report::sign_digest(&json, &key)?;
        remove_stale_token(&self.out)?;
        layout::write_atomic(&self.out.join("report.json"), &json)?;
        layout::write_atomic(&self.out.join("report.json.sig"), sig.as_bytes())?;
        let html = report_html::render(&report);
        layout::write_atomic(&self.out.join("report.html"), html.as_bytes())?;
        eprintln!(
            "claude-audit: report: {} events, {} controls evidenced, {} without evidence, {} \
             sampled; written to {}",
            report.events.total,
            report.controls.evidenced.len(),
            report.controls.without_evidence.len(),
            report.sample.events.len(),
            self.out.display()
        );
        if let Some(url) = &self.tsa {
            time_stamp(url, &json, &self.out)?;
        }
        Ok(Outcome::Clean)
    }
}

/// A token of an earlier report in the same directory would not match the
/// new report.json: remove it before writing the report.
fn remove_stale_token(out: &Path) -> Result<()> {
    let path = out.join(tsa::TOKEN_FILE);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing the old {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Time-stamp report.json at the TSA `url` and write the token. On error
/// the report stays written and signed, without report.tsr.
fn time_stamp(url: &str, json: &[u8], out: &Path) -> Result<()> {
    let digest: [u8; 32] = Sha256::digest(json).into();
    let stamp = tsa::client::stamp(url, &digest).with_context(|| {
        format!(
            "time-stamping the report at {url} (report.json, its signature and report.html are \
             written and signed in {}; {} is not)",
            out.display(),
            tsa::TOKEN_FILE
        )
    })?;
    layout::write_atomic(&out.join(tsa::TOKEN_FILE), &stamp.der)?;
    eprintln!(
        "claude-audit: report: time-stamped by {} at {} (serial {}, policy {}); token in {}",
        stamp.token.subject(),
        stamp.token.gen_time,
        stamp.token.serial,
        stamp.token.policy,
        tsa::TOKEN_FILE
    );
    Ok(())
}
