//! `claude-audit run`: NDJSON in (files or stdin), canonical events out.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::evidence::EvidenceArgs;
use super::profile::ProfileArgs;
use super::{KeyArgs, Outcome, SandboxArgs};
use crate::config::FileConfig;
use crate::dead_letter::{DeadLetterWriter, private_file};
use crate::evidence::runs::RunSummary;
use crate::evidence::sink::{CheckpointPolicy, EvidenceSink};
use crate::keys::{self, KeySource, Secret};
use crate::output::{Durable, IO_BUFFER_BYTES};
use crate::runner::{BatchLimits, Runner, Sinks, Summary};
use crate::sandbox::{PluginSetup, Sandbox};
use crate::vault::VaultWriter;

/// Name used for standard input in dead letters and messages.
const STDIN_NAME: &str = "<stdin>";

/// Transform NDJSON Activity Feed records into canonical audit events.
///
/// Reads each FILE in turn (`-` or no FILE: standard input) and writes one
/// event per valid record to --output, in input order. Records that fail
/// validation go to --dead-letter with source, line, reason and the raw
/// line. A one-line summary goes to stderr at the end; a progress bar too
/// when stderr is a terminal.
#[derive(Debug, Args)]
pub struct RunCommand {
    /// Input NDJSON files; `-` is standard input. Default: standard input.
    #[arg(value_name = "FILE")]
    pub inputs: Vec<PathBuf>,

    /// Write events here instead of standard output. The file is created
    /// (or truncated) with mode 0600.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Write dead letters (rejected records, raw) here. The file is created
    /// (or truncated) with mode 0600, even when there are none.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "claude-audit.dead-letter.ndjson"
    )]
    pub dead_letter: PathBuf,

    /// Configuration file (TOML): input limits and plugin settings.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Most records sent to the plugin in one call.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_records: u32,

    /// A batch is sent once it holds this many bytes, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub batch_kib: u32,

    /// Plugin instances to run in parallel, each on a thread of its own,
    /// for one input; the output stays in input order. With the default
    /// (1), reading and writing already overlap the plugin calls on a
    /// second thread. Each instance may use up to --memory-limit-mib.
    /// With detections enabled, they run on one more instance of their
    /// own, which takes the workers' events in input order.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    pub workers: u32,

    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,

    /// Keep every pseudonym -> original pair in this encrypted vault file
    /// (appended, mode 0600), for `claude-audit reveal`. Needs a vault key.
    #[arg(long, value_name = "FILE")]
    pub vault: Option<PathBuf>,

    /// Read the vault key from this file (32 bytes or 64 hex characters).
    #[arg(
        long,
        value_name = "FILE",
        requires = "vault",
        conflicts_with = "vault_key_env"
    )]
    pub vault_key_file: Option<PathBuf>,

    /// Read the vault key from this environment variable.
    #[arg(long, value_name = "VAR", requires = "vault")]
    pub vault_key_env: Option<String>,

    /// Also write alerts (they always follow their events in the output)
    /// to this file, created or truncated with mode 0600. Needs
    /// `[plugin.detections] enabled = true`.
    #[arg(long, value_name = "FILE")]
    pub alerts: Option<PathBuf>,

    /// Detection state: read at start when the file exists, replaced
    /// atomically at the end, so that windows and baselines carry over
    /// from one run to the next. Needs detections enabled.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Pseudonymization key options.
    #[command(flatten)]
    pub keys: KeyArgs,

    /// Output schema.
    #[command(flatten)]
    pub profile: ProfileArgs,

    /// Evidence store options.
    #[command(flatten)]
    pub evidence: EvidenceArgs,

    /// Sandbox options.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

impl RunCommand {
    /// Run the command.
    pub fn execute(self) -> Result<Outcome> {
        let started = Instant::now();
        let config = FileConfig::load(self.config.as_deref())?;
        let inputs = self.input_names();
        self.check_paths(&inputs)?;
        if (self.alerts.is_some() || self.state.is_some()) && !config.detections_enabled() {
            bail!(
                "--alerts and --state need detections: set `enabled = true` in [plugin.detections]"
            );
        }
        let plugin = crate::plugin::load(self.sandbox.plugin.as_deref())?;
        let sandbox = Sandbox::new(&plugin, self.sandbox.limits(config.plugin_holds_state()))?;
        let limits = BatchLimits {
            max_records: self.batch_records as usize,
            max_bytes: (self.batch_kib as usize) << 10,
            max_record_bytes: config.input.max_record_bytes,
        };
        let vault_key = self.vault_key(&config)?;
        let (hmac_keys, active_key_id) = self.keys.resolve(&config.keys)?;
        let setup = PluginSetup {
            settings_json: self
                .profile
                .apply(config.plugin_settings_json(vault_key.is_some())?)?,
            hmac_keys,
            active_key_id,
            geoip_databases: config.geoip_databases()?,
        };
        let mut instance = sandbox.instantiate(&setup)?;
        // `load` gives None for a state file that does not exist yet.
        let state = self
            .state
            .as_deref()
            .map(crate::state_file::load)
            .transpose()?
            .flatten();
        if let Some(bytes) = &state {
            instance.import_state(bytes)?;
        }
        let vault = match (&self.vault, &vault_key) {
            (Some(path), Some(key)) => Some(VaultWriter::open(path, key)?),
            _ => None,
        };
        let store = self.evidence.open(None)?;
        let run_summary = store.as_ref().map(|s| s.borrow().start_run("run"));
        let mut output = self.open_output()?;
        if let Some(store) = &store {
            output = Box::new(EvidenceSink::new(
                output,
                store.clone(),
                CheckpointPolicy::Immediate,
            ));
        }
        let sinks = Sinks {
            output,
            dead_letters: DeadLetterWriter::create(&self.dead_letter)?,
            vault,
            alerts: self.open_alerts()?,
        };
        let mut runner = Runner::new(&sandbox, setup, instance, limits, sinks)
            .started_with_state(state)
            .with_detection_stage()?;
        runner.set_workers(self.workers as usize)?;
        let progress = self.progress_bar(&inputs);
        let mut done_before = 0;
        for input in &inputs {
            let (name, reader) = open_input(input)?;
            let mut on_batch = |bytes: u64| progress.set_position(done_before + bytes);
            runner.run_source(&name, reader, &mut on_batch)?;
            done_before = progress.position();
        }
        progress.finish_and_clear();
        let state = match &self.state {
            Some(_) => Some(runner.export_state()?),
            None => None,
        };
        let summary = runner.finish()?;
        if let (Some(path), Some(bytes)) = (&self.state, state) {
            crate::state_file::save(path, &bytes)?;
        }
        if let (Some(store), Some(run)) = (store, run_summary) {
            // The end-of-run checkpoint, once the output is durable, and
            // the run's signed figures.
            store.borrow_mut().finish_run(RunSummary {
                read: summary.read,
                emitted: summary.emitted,
                dead_lettered: summary.dead_lettered,
                filtered: summary.filtered,
                ..run
            })?;
        }
        eprintln!("{}", summary_line(&summary, started, &self.dead_letter));
        Ok(if summary.dead_lettered > 0 {
            Outcome::Partial
        } else {
            Outcome::Clean
        })
    }

    /// The vault key, when `--vault` is given: from the flags or `[keys]`.
    fn vault_key(&self, config: &FileConfig) -> Result<Option<Secret>> {
        if self.vault.is_none() {
            return Ok(None);
        }
        let source = match (
            &self.vault_key_file,
            &self.vault_key_env,
            &config.keys.vault,
        ) {
            (Some(file), None, None) => KeySource {
                file: Some(file.clone()),
                env: None,
            },
            (None, Some(var), None) => KeySource {
                file: None,
                env: Some(var.clone()),
            },
            (None, None, Some(source)) => source.clone(),
            (None, None, None) => bail!(
                "--vault needs a vault key: --vault-key-file, --vault-key-env or [keys] vault"
            ),
            _ => bail!("give the vault key once: on the command line or in [keys], not both"),
        };
        keys::load_vault_key(&source).map(Some)
    }

    fn input_names(&self) -> Vec<PathBuf> {
        if self.inputs.is_empty() {
            vec![PathBuf::from("-")]
        } else {
            self.inputs.clone()
        }
    }

    /// Refuse to truncate an input, or to write two outputs to one file.
    fn check_paths(&self, inputs: &[PathBuf]) -> Result<()> {
        let mut outputs: Vec<(&str, &Path)> = vec![("--dead-letter", &self.dead_letter)];
        if let Some(output) = &self.output {
            outputs.push(("--output", output));
        }
        if let Some(vault) = &self.vault {
            outputs.push(("--vault", vault));
        }
        if let Some(alerts) = &self.alerts {
            outputs.push(("--alerts", alerts));
        }
        if let Some(state) = &self.state {
            outputs.push(("--state", state));
        }
        let same = |a: &Path, b: &Path| {
            a == b || same_file_key(a).is_some_and(|k| Some(k) == same_file_key(b))
        };
        for (i, (flag, path)) in outputs.iter().enumerate() {
            if let Some((other, _)) = outputs[..i].iter().find(|(_, p)| same(p, path)) {
                bail!("{other} and {flag} must be different files");
            }
            if let Some(input) = inputs
                .iter()
                .find(|i| *i != Path::new("-") && same(i, path))
            {
                bail!("{flag} {} is also an input", input.display());
            }
        }
        Ok(())
    }

    fn open_output(&self) -> Result<Box<dyn Write>> {
        Ok(match &self.output {
            None => Box::new(BufWriter::with_capacity(
                IO_BUFFER_BYTES,
                io::stdout().lock(),
            )),
            Some(path) => {
                let file = private_file(path)
                    .with_context(|| format!("creating output file {}", path.display()))?;
                Box::new(Durable::new(file))
            }
        })
    }

    fn open_alerts(&self) -> Result<Option<Box<dyn Write>>> {
        let Some(path) = &self.alerts else {
            return Ok(None);
        };
        let file = private_file(path)
            .with_context(|| format!("creating alerts file {}", path.display()))?;
        Ok(Some(Box::new(Durable::new(file))))
    }

    fn progress_bar(&self, inputs: &[PathBuf]) -> ProgressBar {
        if self.no_progress || !io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let total: Option<u64> = inputs
            .iter()
            .map(|p| {
                (p != Path::new("-"))
                    .then(|| p.metadata().ok().map(|m| m.len()))
                    .flatten()
            })
            .sum();
        let bar = match total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::no_length(),
        };
        let style = ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} eta {eta}",
        )
        .map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar
    }
}

/// `(device, inode)` of an existing file, to compare paths for identity.
fn same_file_key(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        path.metadata().ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn open_input(path: &Path) -> Result<(String, Box<dyn io::BufRead>)> {
    let (name, mut reader): (String, Box<dyn io::BufRead>) = if path == Path::new("-") {
        let stdin = BufReader::with_capacity(IO_BUFFER_BYTES, io::stdin());
        (STDIN_NAME.to_owned(), Box::new(stdin))
    } else {
        let file = File::open(path).with_context(|| format!("opening input {}", path.display()))?;
        (
            path.display().to_string(),
            Box::new(BufReader::with_capacity(IO_BUFFER_BYTES, file)),
        )
    };
    // OTLP JSON export requests (Claude Code telemetry saved by a collector)
    // are split into one line per record; `line` in dead letters is then the
    // record's position in the file.
    let head = reader
        .fill_buf()
        .with_context(|| format!("reading {name}"))?;
    if crate::otlp::looks_like_document(head) {
        let lines = crate::otlp::DocumentLines::new(reader);
        return Ok((
            name,
            Box::new(BufReader::with_capacity(IO_BUFFER_BYTES, lines)),
        ));
    }
    Ok((name, reader))
}

fn summary_line(s: &Summary, started: Instant, dead_letter: &Path) -> String {
    let mut line = format!(
        "claude-audit: read {}, emitted {}, dead-lettered {}, filtered {} in {:.2}s",
        s.read,
        s.emitted,
        s.dead_lettered,
        s.filtered,
        started.elapsed().as_secs_f64()
    );
    if s.unmapped_event_types + s.unmapped_actor_types + s.unmapped_fields > 0 {
        line += &format!(
            "; unmapped: {} event types, {} actor types, {} with unknown fields",
            s.unmapped_event_types, s.unmapped_actor_types, s.unmapped_fields
        );
    }
    if s.alerts + s.alerts_suppressed > 0 {
        line += &format!("; alerts {}", s.alerts);
        if s.alerts_suppressed > 0 {
            line += &format!(" ({} suppressed)", s.alerts_suppressed);
        }
    }
    if s.plugin_restarts > 0 {
        line += &format!("; plugin restarted {} times", s.plugin_restarts);
    }
    if s.dead_lettered > 0 {
        line += &format!("; dead letters in {}", dead_letter.display());
    }
    line
}
