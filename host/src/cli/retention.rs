//! `claude-audit retention`: apply the retention policy, place and lift
//! legal holds; every action is a signed record in the store.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use super::Outcome;
use crate::evidence::note::SignerKey;
use crate::evidence::retention::{self, Record};
use crate::keys::KeySource;
use crate::pull::time::{format_rfc3339, now, parse_rfc3339};

/// Retention and legal holds over an evidence store.
#[derive(Debug, Args)]
pub struct RetentionCommand {
    /// What to do.
    #[command(subcommand)]
    pub action: RetentionAction,
}

/// Retention actions.
#[derive(Debug, Subcommand)]
pub enum RetentionAction {
    /// Remove the content of events whose `retention_state.retain_until`
    /// has passed and that no legal hold covers, keeping their leaf hashes;
    /// a signed record lists them.
    Apply(ApplyArgs),
    /// Place a legal hold on events (by id, user or organization).
    Hold(HoldArgs),
    /// Lift a legal hold.
    Release(ReleaseArgs),
}

/// The store and its signing key.
#[derive(Debug, Args)]
pub struct StoreKey {
    /// The evidence store.
    #[arg(long, value_name = "DIR")]
    pub evidence: PathBuf,
    /// The store's signing key, from a file.
    #[arg(long, value_name = "FILE", conflicts_with = "key_env")]
    pub key_file: Option<PathBuf>,
    /// The store's signing key, from an environment variable.
    #[arg(long, value_name = "VAR")]
    pub key_env: Option<String>,
}

impl StoreKey {
    fn key(&self) -> Result<SignerKey> {
        let source = KeySource {
            file: self.key_file.clone(),
            env: self.key_env.clone(),
        };
        let text = source.load_token("signing key")?;
        std::str::from_utf8(text.bytes())
            .ok()
            .context("the signing key is not text")
            .and_then(SignerKey::parse)
            .with_context(|| format!("reading the signing key from {}", source.describe()))
    }
}

/// `retention apply` options.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Store and key.
    #[command(flatten)]
    pub store: StoreKey,
    /// Evaluate retention at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "T")]
    pub now: Option<String>,
}

/// `retention hold` options.
#[derive(Debug, Args)]
pub struct HoldArgs {
    /// Store and key.
    #[command(flatten)]
    pub store: StoreKey,
    /// The hold's id (to lift it later).
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// Hold this event (repeatable).
    #[arg(long = "event-id", value_name = "ID")]
    pub event_ids: Vec<String>,
    /// Hold every event of this user (`user_id` or `actor.id`, as in the
    /// events: pseudonymized).
    #[arg(long, value_name = "ID")]
    pub user_id: Option<String>,
    /// Hold every event of this organization.
    #[arg(long, value_name = "ID")]
    pub organization_id: Option<String>,
    /// Why (matter, ticket).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

/// `retention release` options.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// Store and key.
    #[command(flatten)]
    pub store: StoreKey,
    /// The hold to lift.
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// Why.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

impl RetentionCommand {
    /// Run the command.
    pub fn execute(self) -> Result<Outcome> {
        let at = format_rfc3339(now());
        match self.action {
            RetentionAction::Apply(a) => {
                let key = a.store.key()?;
                let _lock = crate::evidence::store::lock(&a.store.evidence)?;
                let now = match &a.now {
                    Some(t) => parse_rfc3339(t).with_context(|| format!("--now {t:?}"))?,
                    None => now(),
                };
                let done = retention::apply(&a.store.evidence, &key, now)?;
                eprintln!(
                    "claude-audit: retention: removed the content of {} events (leaf hashes \
                     kept); {} past retention kept by legal holds",
                    done.removed, done.kept_by_hold
                );
            }
            RetentionAction::Hold(h) => {
                let key = h.store.key()?;
                let _lock = crate::evidence::store::lock(&h.store.evidence)?;
                let record = Record::LegalHoldPlaced {
                    hold_id: h.id,
                    event_ids: h.event_ids,
                    user_id: h.user_id,
                    organization_id: h.organization_id,
                    reason: h.reason,
                    at,
                };
                retention::hold(&h.store.evidence, &key, record)?;
            }
            RetentionAction::Release(r) => {
                let key = r.store.key()?;
                let _lock = crate::evidence::store::lock(&r.store.evidence)?;
                let record = Record::LegalHoldLifted {
                    hold_id: r.id,
                    reason: r.reason,
                    at,
                };
                retention::hold(&r.store.evidence, &key, record)?;
            }
        }
        Ok(Outcome::Clean)
    }
}
