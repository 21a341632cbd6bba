//! `claude-audit pull`: the Compliance API poller.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::evidence::EvidenceArgs;
use super::profile::ProfileArgs;
use super::{KeyArgs, Outcome, SandboxArgs};
use crate::config::FileConfig;
use crate::dead_letter::DeadLetterWriter;
use crate::evidence::sink::{CheckpointPolicy, EvidenceSink};
use crate::output::{Durable, append_committed};
use crate::pull::checkpoint::{Checkpoint, CommittedFile, StateFile};
use crate::pull::client::FeedClient;
use crate::pull::health::SharedHealth;
use crate::pull::sink::PageSink;
use crate::pull::{Poller, Resume, Source, TrackedFiles};
use crate::runner::{BatchLimits, Runner, Sinks};
use crate::sandbox::{PluginSetup, Sandbox};
use crate::shutdown::Shutdown;
use crate::vault::VaultWriter;

/// Poll the Compliance API Activity Feed and write canonical events.
///
/// Walks the feed in ascending order from the checkpoint in
/// `[pull] state_file`, runs each page through the plugin (normalize and
/// redact per the configuration) and writes NDJSON to standard output (for
/// Vector's `exec` source and Fluent Bit's `exec` input) or to --output.
/// The checkpoint moves only after the page's output is flushed. Health
/// lines (JSON) go to stderr.
///
/// Exit codes: 0 done (--once); 1 done, some activities dead-lettered;
/// 2 error; 3 the API refused the key or its scope (401/403); 4 the API
/// refused the request (400, or a 5xx marked x-should-retry: false).
#[derive(Debug, Args)]
pub struct PullCommand {
    /// Configuration file (TOML) with a `[pull]` table (README: "Polling
    /// the Compliance API").
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,

    /// Stop once the feed is exhausted (`has_more: false`), instead of
    /// polling every `poll_interval_secs`.
    #[arg(long)]
    pub once: bool,

    /// Write activities exactly as the API sent them: no validation, no
    /// normalization, NO REDACTION.
    #[arg(long)]
    pub raw: bool,

    /// Append events to this file (mode 0600) instead of standard output.
    /// Its committed length is kept in the checkpoint: after a crash the
    /// uncommitted tail is cut off and written again, so each activity is
    /// in it exactly once.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Append dead letters (activities that failed validation, raw) to
    /// this file, mode 0600.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "claude-audit.pull.dead-letter.ndjson"
    )]
    pub dead_letter: PathBuf,

    /// On SIGTERM/SIGINT, how long the request in flight may take before its
    /// page is abandoned, in seconds. A page already received is always
    /// written and checkpointed first; a second signal stops at once.
    #[arg(long, value_name = "SECS", default_value_t = 25,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub drain_secs: u64,

    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Keep pseudonym -> original pairs in this encrypted vault (appended,
    /// mode 0600); the key comes from `[keys] vault`.
    #[arg(long, value_name = "FILE")]
    pub vault: Option<PathBuf>,

    /// Pseudonymization key options.
    #[command(flatten)]
    pub keys: KeyArgs,

    /// Output schema.
    #[command(flatten)]
    pub profile: ProfileArgs,

    /// Evidence store options: the store is committed with the cursor, so
    /// exactly-once covers it too.
    #[command(flatten)]
    pub evidence: EvidenceArgs,

    /// Sandbox options.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

impl PullCommand {
    /// Run the command.
    pub fn execute(self) -> Result<Outcome> {
        // First: a signal during start-up (compiling the plugin takes a
        // moment) then stops the poller before its first request.
        let shutdown = Shutdown::new(std::time::Duration::from_secs(self.drain_secs));
        shutdown.on_signals("pull")?;
        let config = FileConfig::load(Some(&self.config))?;
        let Some(pull) = config.pull.clone() else {
            bail!(
                "config file {} has no [pull] table (README: \"Polling the Compliance API\")",
                self.config.display()
            );
        };
        if self.raw && pull.content.is_some() {
            bail!(
                "--raw cannot be used with [pull.content]: conversation content is only written \
                 through the plugin (hashed, text dropped or redacted per [content])"
            );
        }
        if self.raw && self.profile.profile.is_some() {
            bail!("--profile cannot be used with --raw: raw activities are written as received");
        }
        if self.keys.ephemeral_key && !self.raw {
            bail!(
                "--ephemeral-key cannot be used with pull: pseudonyms must stay the same across \
                 restarts; give a key file (--hmac-key-file or [keys] hmac)"
            );
        }
        let api_key = pull.api_key.load_token("API key")?;
        let key_source = pull.api_key.describe();
        let state = StateFile::lock(&pull.state_file)?;
        let checkpoint = state.load()?.unwrap_or_else(Checkpoint::new);
        let health = SharedHealth::default();
        if let Some(addr) = self.metrics_addr {
            let bound = health.serve_metrics(addr)?;
            eprintln!("claude-audit: pull: metrics at http://{bound}/metrics");
        }
        let client = std::sync::Arc::new(FeedClient::new(&pull, api_key));
        // Set up the plugin (and refuse a bad policy) before any file is touched.
        let plugin = if self.raw {
            eprintln!("claude-audit: pull: --raw: activities are written unredacted");
            None
        } else {
            Some(self.plugin_parts(&config)?)
        };
        let store = self.evidence.open(checkpoint.evidence)?;
        let run_summary = store.as_ref().map(|s| s.borrow().start_run("pull"));
        let mut output = self.open_output(&checkpoint)?;
        if let Some(store) = &store {
            output = Box::new(EvidenceSink::new(
                output,
                store.clone(),
                CheckpointPolicy::AfterCommit,
            ));
        }
        let mut files = TrackedFiles {
            output: self.output.clone(),
            evidence: store.clone(),
            ..TrackedFiles::default()
        };
        let sink = match &plugin {
            None => PageSink::Raw { output, emitted: 0 },
            Some((sandbox, setup, vault_key)) => {
                let mut instance = sandbox.instantiate(setup)?;
                // A state saved while detections were on is dropped (with
                // the next checkpoint) once they are switched off.
                let detection_state = checkpoint
                    .detections
                    .as_ref()
                    .filter(|_| config.detections_enabled())
                    .map(|s| s.to_string().into_bytes());
                if let Some(bytes) = &detection_state {
                    instance.import_state(bytes)?;
                }
                let dead_letters = DeadLetterWriter::append(
                    &self.dead_letter,
                    Some(
                        CommittedFile::for_path(checkpoint.dead_letter.as_ref(), &self.dead_letter)
                            .unwrap_or(0),
                    ),
                )?;
                files.dead_letter = Some(self.dead_letter.clone());
                let vault = self.open_vault(&checkpoint, vault_key.as_ref())?;
                files.vault = self.vault.clone().filter(|_| vault.is_some());
                let limits = BatchLimits {
                    max_records: 1000,
                    max_bytes: 1 << 20,
                    max_record_bytes: config.input.max_record_bytes,
                };
                let sinks = Sinks {
                    output,
                    dead_letters,
                    vault,
                    alerts: None,
                };
                PageSink::Plugin(Box::new(
                    Runner::new(sandbox, setup.clone(), instance, limits, sinks)
                        .started_with_state(detection_state)
                        .with_detection_stage()?,
                ))
            }
        };
        let content_key = plugin
            .as_ref()
            .filter(|_| pull.content.is_some())
            .map(|(_, setup, _)| content_key(setup))
            .transpose()?;
        let source = Source {
            config: pull,
            client,
            key_source,
            content_key,
        };
        let resume = Resume { state, checkpoint };
        let poller = Poller::new(source, resume, sink, files, health.clone(), shutdown);
        poller.run(self.once)?;
        if let (Some(store), Some(run)) = (store, run_summary) {
            // The final state is saved: its whole store can be signed.
            store
                .borrow_mut()
                .finish_run(health.lock().run_summary(run))?;
        }
        Ok(if health.lock().dead_lettered > 0 {
            Outcome::Partial
        } else {
            Outcome::Clean
        })
    }

    /// The sandbox, the plugin's configuration and the vault key.
    fn plugin_parts(
        &self,
        config: &FileConfig,
    ) -> Result<(Sandbox, PluginSetup, Option<crate::keys::Secret>)> {
        let vault_key = match (&self.vault, &config.keys.vault) {
            (Some(_), Some(source)) => Some(crate::keys::load_vault_key(source)?),
            (Some(_), None) => bail!("--vault needs a vault key source: [keys] vault"),
            (None, _) => None,
        };
        let plugin = crate::plugin::load(self.sandbox.plugin.as_deref())?;
        let sandbox = Sandbox::new(&plugin, self.sandbox.limits(config.plugin_holds_state()))?;
        let (hmac_keys, active_key_id) = self.keys.resolve(&config.keys)?;
        let setup = PluginSetup {
            settings_json: self
                .profile
                .apply(config.plugin_settings_json(vault_key.is_some())?)?,
            hmac_keys,
            active_key_id,
            geoip_databases: config.geoip_databases()?,
        };
        // Instantiating once checks the policy and keys now, before any output.
        sandbox.instantiate(&setup)?;
        Ok((sandbox, setup, vault_key))
    }

    fn open_output(&self, checkpoint: &Checkpoint) -> Result<Box<dyn Write>> {
        Ok(match &self.output {
            None => Box::new(Durable::new(std::io::stdout())),
            Some(path) => {
                let committed = CommittedFile::for_path(checkpoint.output.as_ref(), path);
                Box::new(Durable::new(append_committed(
                    path,
                    committed,
                    "output file",
                )?))
            }
        })
    }

    fn open_vault(
        &self,
        checkpoint: &Checkpoint,
        key: Option<&crate::keys::Secret>,
    ) -> Result<Option<VaultWriter>> {
        let (Some(path), Some(key)) = (&self.vault, key) else {
            return Ok(None);
        };
        cut_vault(path, checkpoint)?;
        VaultWriter::open(path, key).map(Some)
    }
}

/// Cut the vault back to its committed length: a torn last line would make
/// `reveal` refuse the whole file.
fn cut_vault(path: &Path, checkpoint: &Checkpoint) -> Result<()> {
    if let Some(committed) = CommittedFile::for_path(checkpoint.vault.as_ref(), path) {
        append_committed(path, Some(committed), "vault")
            .with_context(|| format!("preparing vault {}", path.display()))?;
    }
    Ok(())
}

/// The key files are hashed under: the one that pseudonymizes.
fn content_key(setup: &PluginSetup) -> Result<claude_audit_plugin::HmacKey> {
    let key = match &setup.active_key_id {
        Some(id) => setup.hmac_keys.iter().find(|k| &k.id == id),
        None => setup.hmac_keys.first(),
    }
    .context("[pull.content] needs a pseudonymization key ([keys] hmac or --hmac-key-file)")?;
    claude_audit_plugin::HmacKey::new(key.id.clone(), key.secret.bytes().to_vec())
        .context("the pseudonymization key is too short")
}
