//! `claude-audit bench`: start-up, throughput of the plugin logic natively
//! and through the WebAssembly sandbox, and whole-process `run` throughput.
//!
//! 1. Start-up: `run` on a one-record file, as a child process: time to the
//!    first event out and peak memory (`process`).
//! 2. In-process, on one thread (so per core): native and sandbox paths
//!    process identical NDJSON batches built by cycling the corpus; the
//!    sandbox path includes everything a real run pays per batch (copying
//!    the batch into the guest, lifting the result back). Reading and
//!    writing files is left out of both, so the ratio isolates the cost of
//!    the sandbox. Normalize-only, then full redaction.
//! 3. Whole process: `run` from a file to a file with full redaction, as a
//!    child process, per CPU-second (per core) and per wall second, with
//!    one worker and, on a machine with more cores, two.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use claude_audit_plugin::Transform;

use super::{Outcome, SandboxArgs};
#[cfg(unix)]
mod detections;
mod process;

use crate::keys::{self, HmacKey};
use crate::sandbox::{CodeOrigin, PluginSetup, Sandbox};

const MIB: f64 = 1024.0 * 1024.0;

/// The bundled sample: the Activity Feed fixture corpus (312 records, every
/// documented type and actor variant).
static SAMPLE: &[u8] = include_bytes!("../../../tests/fixtures/activities.ndjson");

/// Measure events/s and MiB/s, native vs. WebAssembly.
#[derive(Debug, Args)]
pub struct BenchCommand {
    /// NDJSON corpus to cycle through. Default: the bundled sample.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Records processed per measurement.
    #[arg(long, value_name = "N", default_value_t = 200_000,
          value_parser = clap::value_parser!(u64).range(1_000..=100_000_000))]
    pub records: u64,

    /// Records per batch (one sandbox call per batch).
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_records: u32,

    /// Measurements per path; the median is reported.
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: u32,

    /// Plugin settings as JSON (as the `[plugin]` table of a config file).
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub settings: String,

    /// Instead of throughput, measure `serve`'s resident memory under a
    /// burst at its buffer limit (README "Bounds"): starts the hop, a local
    /// downstream and --clients agents on loopback.
    #[arg(long)]
    pub serve_memory: bool,

    /// Instead, send Claude Code telemetry as OTLP/HTTP JSON through `serve`
    /// (on loopback, to a local downstream) at `--rate` records/s for
    /// `--secs`, with `--clients` exporters; fails if a record is lost.
    #[arg(long, conflicts_with = "serve_memory")]
    pub otlp: bool,

    /// `--otlp`: records per second offered (0: as fast as the hop takes them).
    #[arg(long, value_name = "N", default_value_t = 10_000, requires = "otlp")]
    pub rate: u32,

    /// `--otlp`: seconds of sending.
    #[arg(long, value_name = "SECS", default_value_t = 30, requires = "otlp",
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub secs: u32,

    /// `--serve-memory`: the hop's --buffer-kib.
    #[arg(long, value_name = "KIB", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(64..=4_194_304))]
    pub buffer_kib: u32,

    /// `--serve-memory`: the hop's --max-body-kib (and each body's size).
    #[arg(long, value_name = "KIB", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub max_body_kib: u32,

    /// `--serve-memory`: concurrent agents.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub clients: u32,

    /// `--serve-memory`: bodies each agent gets accepted.
    #[arg(long, value_name = "N", default_value_t = 40,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub requests: u32,

    /// Measure the evidence store instead: `run` without and with
    /// `--evidence` on the same batches (--records), `verify` MiB/s against
    /// SHA-256 of every leaf, and `report` over --report-events events
    /// (time and peak RSS).
    #[arg(long)]
    pub evidence: bool,

    /// `--evidence`: events in the store the report is measured on.
    #[arg(long, value_name = "N", default_value_t = 1_000_000, requires = "evidence",
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub report_events: u64,

    /// Score the detection rule pack instead: simulate `--days` of an
    /// organization of `--users` for each of `--seeds`, with every attack
    /// scenario injected, and print recall and precision per detection,
    /// alerts per million events, false alerts per 100,000 benign events,
    /// the throughput cost of detection (in-process, native) and the state
    /// size; then the cost to a whole `run` (sandbox, file to file, wall
    /// and CPU time, with and without detections, `--rounds` interleaved
    /// runs over the first `--records` records of the first seed's feed).
    #[arg(long)]
    pub detections: bool,

    /// `--detections`: scored days simulated per seed (after the warm-up).
    #[arg(long, value_name = "N", default_value_t = 30, requires = "detections")]
    pub days: u32,

    /// `--detections`: days of background before them, run through the
    /// engine (learning periods, baselines) but neither attacked nor scored.
    #[arg(long, value_name = "N", default_value_t = 35, requires = "detections")]
    pub warmup_days: u32,

    /// `--detections`: members of the simulated organization.
    #[arg(long, value_name = "N", default_value_t = 500, requires = "detections")]
    pub users: u32,

    /// `--detections`: seeds, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "1,2,3,4,5,6,7,8,9,10",
        value_delimiter = ',',
        requires = "detections"
    )]
    pub seeds: Vec<u64>,

    /// Instead of measuring speed, run the redaction evaluation on this
    /// labeled corpus (`tests/redaction-eval/corpus.jsonl`) and print recall
    /// and false-positive rate per entity class. Exit 1 if a target is missed
    /// (recall >= 0.98 overall and >= 0.95 per class, FP rate <= 0.02).
    #[arg(long, value_name = "CORPUS")]
    pub redaction_eval: Option<PathBuf>,

    /// Instead, measure what each detector family costs: the corpus natively
    /// with all detectors, with none (normalize only), and with each family
    /// of `plugin/data/detectors.toml` (and the decoding of encoded values,
    /// and object keys) left out in turn; prints each one's share of the time.
    #[cfg(unix)]
    #[arg(long, conflicts_with_all = ["redaction_eval", "evidence", "detections"])]
    pub redaction_cost: bool,

    /// Sandbox options.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// Run the redaction evaluation on the corpus at `path` and print its table.
fn redaction_eval(path: &std::path::Path) -> Result<Outcome> {
    let corpus = std::fs::read_to_string(path)
        .with_context(|| format!("reading evaluation corpus {}", path.display()))?;
    let evaluation = claude_audit_plugin::redact::eval::evaluate(&corpus)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("evaluating {}", path.display()))?;
    print!("{}", evaluation.table());
    let overall = evaluation.overall();
    let met = overall.recall() >= 0.98
        && overall.fp_rate() <= 0.02
        && evaluation.classes.values().all(|c| c.recall() >= 0.95);
    println!("targets {}", if met { "met" } else { "MISSED" });
    Ok(if met {
        Outcome::Clean
    } else {
        Outcome::Partial
    })
}

/// One measured path.
struct Measurement {
    events: u64,
    bytes: u64,
    elapsed: Duration,
}

impl Measurement {
    fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
    fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64()
    }
}

impl BenchCommand {
    /// Run the benchmark and print its figures.
    pub fn execute(self) -> Result<Outcome> {
        if self.detections {
            return self.detections();
        }
        if let Some(path) = &self.redaction_eval {
            return redaction_eval(path);
        }
        if self.otlp {
            let bench = super::bench_otlp::OtlpBench {
                rate: self.rate,
                secs: self.secs,
                clients: self.clients,
            };
            bench.run()?;
            return Ok(Outcome::Clean);
        }
        let dir = tempfile::tempdir().context("creating a work directory")?;
        // The child processes are measured before this process reads the corpus, loads the
        // plugin and builds its batches: on Linux a child inherits this process's peak resident
        // size in its own `ru_maxrss` at exec, so a large parent would inflate the child's "peak
        // memory" (see `process::Source`).
        #[cfg(unix)]
        let children = if self.redaction_cost || self.evidence || self.serve_memory {
            None
        } else {
            let source = match &self.input {
                Some(path) => process::Source::File(path),
                None => process::Source::Bytes(SAMPLE),
            };
            Some((
                self.start_up(dir.path(), &source)?,
                self.whole_runs(dir.path(), &source)?,
            ))
        };
        let corpus = match &self.input {
            Some(path) => {
                std::fs::read(path).with_context(|| format!("reading corpus {}", path.display()))?
            }
            None => SAMPLE.to_vec(),
        };
        if self.serve_memory {
            let bench = super::bench_serve::ServeMemoryBench {
                buffer_kib: self.buffer_kib,
                max_body_kib: self.max_body_kib,
                clients: self.clients,
                requests: self.requests,
                downstream_delay_ms: 20,
            };
            bench.run(&corpus)?;
            return Ok(Outcome::Clean);
        }
        let lines: Vec<&[u8]> = claude_audit_plugin::lines(&corpus)
            .filter(|l| !l.is_empty())
            .collect();
        ensure!(!lines.is_empty(), "the corpus holds no records");
        let batches = build_batches(&lines, self.records, self.batch_records as usize);
        println!(
            "corpus: {} records, {} bytes (mean {} B/record); {} records per round in batches of {}; median of {} rounds",
            lines.len(),
            corpus.len(),
            corpus.len() / lines.len(),
            self.records,
            self.batch_records,
            self.rounds
        );
        let key = keys::ephemeral_hmac_key()?;
        #[cfg(unix)]
        if self.redaction_cost {
            let bench = super::bench_redaction::RedactionCostBench {
                batches: &batches,
                settings_on: with_redaction(&self.settings, true)?,
                settings_off: with_redaction(&self.settings, false)?,
                key: claude_audit_plugin::HmacKey::new(key.id.clone(), key.secret.bytes().to_vec())
                    .context("the ephemeral key")?,
                rounds: self.rounds,
            };
            bench.run()?;
            return Ok(Outcome::Clean);
        }
        let plugin = crate::plugin::load(self.sandbox.plugin.as_deref())?;
        let loading = Instant::now();
        let detections = serde_json::from_str::<serde_json::Value>(&self.settings)
            .ok()
            .and_then(|s| s.pointer("/detections/enabled").and_then(|e| e.as_bool()))
            .unwrap_or(false);
        let sandbox = Sandbox::new(&plugin, self.sandbox.limits(detections))?;
        let how = match sandbox.origin() {
            CodeOrigin::Precompiled => "loaded (precompiled at build time)",
            CodeOrigin::Compiled => "compiled",
        };
        println!(
            "plugin {how} in-process in {:.1} ms",
            loading.elapsed().as_secs_f64() * 1e3
        );
        if self.evidence {
            let setup = PluginSetup {
                settings_json: with_redaction(&self.settings, true)?,
                hmac_keys: vec![key],
                active_key_id: None,
                geoip_databases: Vec::new(),
            };
            let mut instance = sandbox.instantiate(&setup)?;
            let bench = super::bench_evidence::EvidenceBench {
                instance: &mut instance,
                batches: &batches,
                report_events: self.report_events,
                rounds: self.rounds,
            };
            bench.run()?;
            return Ok(Outcome::Clean);
        }
        #[cfg(unix)]
        if let Some((start_up, _)) = &children {
            print!("{start_up}");
        }
        for (name, settings) in [
            ("normalize only", with_redaction(&self.settings, false)?),
            (
                "normalize + redact (all detectors)",
                with_redaction(&self.settings, true)?,
            ),
        ] {
            println!("== {name}");
            self.compare(&batches, &sandbox, &settings, &key)?;
        }
        #[cfg(unix)]
        if let Some((_, whole)) = &children {
            print!("{whole}");
        }
        Ok(Outcome::Clean)
    }

    /// Start-up of `run` on one record: median time to the first event,
    /// largest peak memory. Returns the report's lines.
    #[cfg(unix)]
    fn start_up(&self, dir: &Path, source: &process::Source<'_>) -> Result<String> {
        let input = process::corpus_file(dir, "one-record.ndjson", source, 1)?;
        let spec = process::RunSpec {
            dir,
            plugin: self.sandbox.plugin.as_deref(),
            workers: 1,
            config: None,
        };
        let mut runs = (0..self.rounds.max(3))
            .map(|_| process::start_up(&spec, &input))
            .collect::<Result<Vec<_>>>()?;
        let max_rss = runs.iter().map(|r| r.usage.max_rss).max().unwrap_or(0);
        runs.sort_by_key(|r| r.first_event);
        let median = &runs[runs.len() / 2];
        let mut out = format!("== start-up: `run` on one record, {} runs\n", runs.len());
        writeln!(
            out,
            "first event out after {:.1} ms (process exit {:.1} ms, CPU {:.1} ms); peak memory {:.1} MiB",
            median.first_event.as_secs_f64() * 1e3,
            median.usage.wall.as_secs_f64() * 1e3,
            median.usage.cpu.as_secs_f64() * 1e3,
            max_rss as f64 / MIB
        )?;
        Ok(out)
    }

    /// Whole-process `run`, file to file, full redaction. Returns the
    /// report's lines.
    #[cfg(unix)]
    fn whole_runs(&self, dir: &Path, source: &process::Source<'_>) -> Result<String> {
        let input = process::corpus_file(dir, "corpus.ndjson", source, self.records)?;
        let bytes = input.metadata().context("sizing the corpus file")?.len();
        let mut out = format!(
            "== whole process: `run` file to file, full redaction, {} records ({:.1} MiB)\n",
            self.records,
            bytes as f64 / MIB
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        for workers in [1, 2].into_iter().filter(|w| *w <= cores) {
            let spec = process::RunSpec {
                dir,
                plugin: self.sandbox.plugin.as_deref(),
                workers,
                config: None,
            };
            let usage = process::whole_run(&spec, &input)?;
            let cpu = usage.cpu.as_secs_f64();
            let wall = usage.wall.as_secs_f64();
            writeln!(
                out,
                "--workers {workers}: {:>9.0} records/s {:>6.1} MiB/s per core (CPU {cpu:.2}s); \
                 {:>9.0} records/s wall ({wall:.2}s); peak memory {:.1} MiB",
                self.records as f64 / cpu,
                bytes as f64 / MIB / cpu,
                self.records as f64 / wall,
                usage.max_rss as f64 / MIB
            )?;
        }
        Ok(out)
    }

    /// `--detections`: score the rule pack on simulated data.
    fn detections(&self) -> Result<Outcome> {
        let key = keys::ephemeral_hmac_key()?;
        let key = claude_audit_plugin::HmacKey::new(key.id.clone(), key.secret.bytes().to_vec())
            .context("the ephemeral key")?;
        let plan = crate::simulate::Plan {
            days: self.days,
            warmup_days: self.warmup_days,
            users: self.users,
            seed: 0,
            attacks: super::simulate::attack_list("all")?,
        };
        println!(
            "detections: {} scored days after {} warm-up days, {} users, seeds {:?}, every scenario injected once per seed",
            self.days, self.warmup_days, self.users, self.seeds
        );
        let report = crate::simulate::score::score(&plan, &self.seeds, &key)?;
        print!("{}", report.render());
        #[cfg(unix)]
        {
            let dir = tempfile::tempdir().context("creating a work directory")?;
            let plan = crate::simulate::Plan {
                seed: self.seeds.first().copied().unwrap_or(1),
                ..plan
            };
            let runs = detections::WholeRuns {
                dir: dir.path(),
                plugin: self.sandbox.plugin.as_deref(),
                records: self.records,
                rounds: self.rounds,
            };
            print!("{}", runs.measure(&plan)?);
        }
        Ok(Outcome::Clean)
    }

    /// Measure one configuration natively and in the sandbox.
    fn compare(
        &self,
        batches: &[Vec<u8>],
        sandbox: &Sandbox,
        settings: &str,
        key: &HmacKey,
    ) -> Result<()> {
        let input_bytes: u64 = batches.iter().map(|b| b.len() as u64).sum();
        let plugin_key =
            claude_audit_plugin::HmacKey::new(key.id.clone(), key.secret.bytes().to_vec())
                .context("the ephemeral key")?;
        let native = Transform::new(settings, vec![plugin_key], None)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("plugin settings")?;
        let native = self.median(|| {
            measure(batches, input_bytes, |batch| {
                Ok(native.process_batch(batch).counters.emitted)
            })
        })?;
        report("native", &native);

        let setup = PluginSetup {
            settings_json: settings.to_owned(),
            hmac_keys: vec![key.clone()],
            active_key_id: None,
            geoip_databases: Vec::new(),
        };
        let mut instance = sandbox.instantiate(&setup)?;
        let schema = instance
            .schema_version()
            .map_err(|f| anyhow::anyhow!("{f}"))?;
        let wasm = self.median(|| {
            measure(batches, input_bytes, |batch| {
                match instance.process_batch(batch) {
                    Ok(Ok(out)) => Ok(out.counters.emitted),
                    Ok(Err(e)) => bail!("the plugin refused the batch: {e:?}"),
                    Err(failure) => bail!("{failure}"),
                }
            })
        })?;
        report("wasm", &wasm);
        println!(
            "ratio wasm/native: {:.2} (one thread: figures are per core; plugin emits audit schema {schema})",
            wasm.events_per_sec() / native.events_per_sec()
        );
        Ok(())
    }

    /// Warm up once, then measure `rounds` times and keep the median.
    fn median(&self, mut run: impl FnMut() -> Result<Measurement>) -> Result<Measurement> {
        run()?;
        let mut rounds = (0..self.rounds)
            .map(|_| run())
            .collect::<Result<Vec<_>>>()?;
        rounds.sort_by_key(|m| m.elapsed);
        Ok(rounds.swap_remove(rounds.len() / 2))
    }
}

/// `settings` with `redaction.enabled` forced on or off.
fn with_redaction(settings: &str, enabled: bool) -> Result<String> {
    let mut value: serde_json::Value =
        serde_json::from_str(settings).context("--settings must be a JSON object")?;
    let object = value
        .as_object_mut()
        .context("--settings must be a JSON object")?;
    let redaction = object
        .entry("redaction")
        .or_insert_with(|| serde_json::json!({}));
    redaction
        .as_object_mut()
        .context("redaction must be an object")?
        .insert("enabled".into(), enabled.into());
    Ok(value.to_string())
}

/// NDJSON batches holding `total` records cycled from `lines`.
fn build_batches(lines: &[&[u8]], total: u64, per_batch: usize) -> Vec<Vec<u8>> {
    let mut batches = Vec::new();
    let mut cycle = lines.iter().cycle();
    let mut left = total as usize;
    while left > 0 {
        let n = left.min(per_batch);
        let mut batch = Vec::new();
        for line in cycle.by_ref().take(n) {
            batch.extend_from_slice(line);
            batch.push(b'\n');
        }
        batches.push(batch);
        left -= n;
    }
    batches
}

fn measure(
    batches: &[Vec<u8>],
    bytes: u64,
    mut process: impl FnMut(&[u8]) -> Result<u32>,
) -> Result<Measurement> {
    let started = Instant::now();
    let mut events = 0u64;
    for batch in batches {
        events += u64::from(process(batch)?);
    }
    Ok(Measurement {
        events,
        bytes,
        elapsed: started.elapsed(),
    })
}

fn report(name: &str, m: &Measurement) {
    println!(
        "{name:<7} {:>12.0} events/s {:>9.1} MiB/s  ({} events in {:.3}s)",
        m.events_per_sec(),
        m.mib_per_sec(),
        m.events,
        m.elapsed.as_secs_f64()
    );
}
