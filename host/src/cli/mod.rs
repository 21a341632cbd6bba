//! The command line: one documented subcommand per file, each an
//! `XxxCommand` with `execute(self)`, sharing the sandbox options below.

mod bench;
mod bench_evidence;
mod bench_otlp;
#[cfg(unix)]
mod bench_redaction;
mod bench_serve;
pub mod evidence;
mod keygen;
mod profile;
mod prove;
mod pull;
mod report;
mod restore;
mod retention;
mod reveal;
mod rules;
mod run;
mod serve;
mod simulate;
pub mod verify;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::config::KeysConfig;
use crate::keys::{self, HmacKey, HmacKeyConfig, KeySource};
use crate::sandbox::SandboxLimits;

/// Turn Claude compliance telemetry into normalized, audit-ready events.
///
/// Records are validated and normalized by a sandboxed WebAssembly plugin
/// (embedded; replace it with --plugin). Records that cannot be processed go
/// to a dead-letter file with their reason; none are dropped silently.
///
/// Exit codes: 0 success; 1 finished, but some records were dead-lettered;
/// 2 an error stopped the command; 3 (pull) the API refused the key or its
/// scope; 4 (pull) the API refused the request.
#[derive(Debug, Parser)]
#[command(name = "claude-audit", version, help_expected = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Transform NDJSON Activity Feed records from files or stdin into
    /// canonical audit events (NDJSON).
    Run(run::RunCommand),
    /// Poll the Compliance API Activity Feed continuously (or `--once`)
    /// and write canonical events, checkpointed so that nothing is lost or
    /// doubled across restarts.
    Pull(pull::PullCommand),
    /// An HTTP hop: agents POST NDJSON to /ingest; events are transformed
    /// and forwarded downstream, with bounded buffering, retries and 503
    /// back-pressure.
    Serve(serve::ServeCommand),
    /// Measure throughput (events/s, MiB/s) of the plugin logic natively and
    /// through the WebAssembly sandbox, on the bundled sample or a file.
    Bench(bench::BenchCommand),
    /// Look pseudonyms up in an encrypted forensic vault (investigators
    /// holding the vault key only).
    Reveal(reveal::RevealCommand),
    /// Generate a synthetic organization's Activity Feed with injected,
    /// labeled attack scenarios (labels in a separate file).
    Simulate(simulate::SimulateCommand),
    /// The bundled detection rule pack: list it, or export it as Sigma.
    Rules(rules::RulesCommand),
    /// Manage evidence signing keys (`keys generate`).
    Keys(keygen::KeysCommand),
    /// Verify an evidence store, or an inclusion proof offline.
    Verify(verify::VerifyCommand),
    /// Print an inclusion proof of one event in an evidence store.
    Prove(prove::ProveCommand),
    /// Write a signed audit report (report.json + report.html) of a period.
    Report(report::ReportCommand),
    /// Apply retention to an evidence store; place and lift legal holds.
    Retention(retention::RetentionCommand),
    /// Rebuild an evidence store from the objects the agents shipped
    /// (`evidence restore`).
    Evidence(restore::EvidenceCommand),
}

/// How a command that finished went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was emitted or filtered by policy.
    Clean,
    /// Finished, but not everything went through: records were
    /// dead-lettered, or pseudonyms were not found.
    Partial,
}

impl Command {
    /// Run the chosen subcommand.
    pub fn execute(self) -> anyhow::Result<Outcome> {
        match self {
            Self::Run(cmd) => cmd.execute(),
            Self::Pull(cmd) => cmd.execute(),
            Self::Serve(cmd) => cmd.execute(),
            Self::Bench(cmd) => cmd.execute(),
            Self::Reveal(cmd) => cmd.execute(),
            Self::Simulate(cmd) => cmd.execute(),
            Self::Rules(cmd) => cmd.execute(),
            Self::Keys(cmd) => cmd.execute(),
            Self::Verify(cmd) => cmd.execute(),
            Self::Prove(cmd) => cmd.execute(),
            Self::Report(cmd) => cmd.execute(),
            Self::Retention(cmd) => cmd.execute(),
            Self::Evidence(cmd) => cmd.execute(),
        }
    }
}

/// Options shared by every command that runs the plugin.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Run this plugin component (.wasm of the `claude-audit:transform`
    /// world) instead of the embedded one.
    #[arg(long, value_name = "FILE.wasm")]
    pub plugin: Option<PathBuf>,

    /// Most memory the plugin may use, in MiB [default: 64, or 256 when
    /// `[plugin.detections]` is enabled or `[geoip]` names databases]. A
    /// batch that needs more is split until the offending record is
    /// isolated and dead-lettered.
    #[arg(long, value_name = "MIB",
          value_parser = clap::value_parser!(u32).range(8..=4096))]
    pub memory_limit_mib: Option<u32>,

    /// Longest time the plugin may spend on one batch, in milliseconds. A
    /// batch that takes longer is split until the offending record is
    /// isolated and dead-lettered.
    #[arg(long, value_name = "MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub batch_timeout_ms: u64,
}

/// The plugin's memory limit when none is given: enough for the
/// normalizer's largest batch (a 1 MiB record, its event and redaction
/// report) with room to spare.
pub const DEFAULT_MEMORY_LIMIT_MIB: u32 = 64;

/// The default when the plugin holds state: the detection engine's state
/// grows with the users, keys and addresses the rules track (10,000 users:
/// about 17 MiB exported, several times that while held and exported), and
/// a plugin that runs out of memory is restarted from the last state it
/// exported, forgetting what it learned since (measured on a simulated
/// 10,000-user organization, README "State bound": 64 MiB ran out seven
/// times, 128 ran through); `[geoip]` databases are copied into the plugin
/// (GeoLite2-City alone is about 60 MiB).
pub const DEFAULT_MEMORY_LIMIT_MIB_STATEFUL: u32 = 256;

impl SandboxArgs {
    /// The limits these options describe; `holds_state` (detections or
    /// GeoIP databases on) picks the default memory limit when
    /// `--memory-limit-mib` is not given.
    pub fn limits(&self, holds_state: bool) -> SandboxLimits {
        let default = if holds_state {
            DEFAULT_MEMORY_LIMIT_MIB_STATEFUL
        } else {
            DEFAULT_MEMORY_LIMIT_MIB
        };
        let mib = self.memory_limit_mib.unwrap_or(default);
        SandboxLimits {
            memory_bytes: (mib as usize) << 20,
            batch_timeout: Duration::from_millis(self.batch_timeout_ms),
        }
    }
}

/// Where the pseudonymization key comes from, on the command line. The
/// config file's `[keys]` section is the alternative; never both.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Read the HMAC pseudonymization key from this file (raw bytes or hex
    /// text, at least 32 bytes; `openssl rand -hex 32` makes one).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["hmac_key_env", "ephemeral_key"])]
    pub hmac_key_file: Option<PathBuf>,

    /// Read the HMAC key from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "ephemeral_key")]
    pub hmac_key_env: Option<String>,

    /// Id recorded with pseudonyms made by the key given above.
    #[arg(long, value_name = "ID", default_value = "k1")]
    pub hmac_key_id: String,

    /// Use a random key for this run only: pseudonyms will not match those
    /// of any other run. For trying the tool out, not for production.
    #[arg(long)]
    pub ephemeral_key: bool,
}

impl KeyArgs {
    /// The HMAC keys and the active key id, from these flags or `[keys]`.
    pub fn resolve(&self, config: &KeysConfig) -> Result<(Vec<HmacKey>, Option<String>)> {
        let source = match (&self.hmac_key_file, &self.hmac_key_env) {
            (Some(file), None) => Some(KeySource {
                file: Some(file.clone()),
                env: None,
            }),
            (None, Some(var)) => Some(KeySource {
                file: None,
                env: Some(var.clone()),
            }),
            (None, None) => None,
            (Some(_), Some(_)) => bail!("give --hmac-key-file or --hmac-key-env, not both"),
        };
        let from_flags = source.is_some() || self.ephemeral_key;
        if from_flags && (!config.hmac.is_empty() || config.active.is_some()) {
            bail!(
                "HMAC keys come either from the command line or from [keys] in the config file, not both"
            );
        }
        if let Some(source) = source {
            let config = HmacKeyConfig {
                id: self.hmac_key_id.clone(),
                source,
            };
            return Ok((vec![keys::load_hmac(&config)?], None));
        }
        if self.ephemeral_key {
            eprintln!(
                "claude-audit: using an ephemeral HMAC key: pseudonyms will not match those of other runs"
            );
            return Ok((vec![keys::ephemeral_hmac_key()?], None));
        }
        let loaded = config
            .hmac
            .iter()
            .map(keys::load_hmac)
            .collect::<Result<Vec<_>>>()?;
        Ok((loaded, config.active.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sandbox_limits_are_range_checked() {
        assert!(Cli::try_parse_from(["claude-audit", "run", "--memory-limit-mib", "1"]).is_err());
        assert!(Cli::try_parse_from(["claude-audit", "run", "--batch-timeout-ms", "0"]).is_err());
        let cli =
            Cli::try_parse_from(["claude-audit", "run", "--batch-timeout-ms", "250"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("expected run")
        };
        let limits = run.sandbox.limits(false);
        assert_eq!(limits.batch_timeout, Duration::from_millis(250));
        assert_eq!(limits.memory_bytes, 64 << 20);
        assert_eq!(run.sandbox.limits(true).memory_bytes, 256 << 20);
        let cli = Cli::try_parse_from(["claude-audit", "run", "--memory-limit-mib", "96"]).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("expected run")
        };
        assert_eq!(run.sandbox.limits(true).memory_bytes, 96 << 20);
    }
}
