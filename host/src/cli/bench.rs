//! `claude-audit bench`: throughput of the plugin logic, natively and
//! through the WebAssembly sandbox, on the same batches.
//!
//! Both paths process identical NDJSON batches built by cycling the corpus;
//! the sandbox path includes everything a real run pays per batch (copying
//! the batch into the guest, lifting the result back). Reading and writing
//! files is left out of both, so the ratio isolates the cost of the sandbox.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use claude_audit_plugin::Transform;

use super::{Outcome, SandboxArgs};
use crate::sandbox::Sandbox;

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

    /// Sandbox options.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
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
        let corpus = match &self.input {
            Some(path) => {
                std::fs::read(path).with_context(|| format!("reading corpus {}", path.display()))?
            }
            None => SAMPLE.to_vec(),
        };
        let lines: Vec<&[u8]> = claude_audit_plugin::lines(&corpus)
            .filter(|l| !l.is_empty())
            .collect();
        ensure!(!lines.is_empty(), "the corpus holds no records");
        let batches = build_batches(&lines, self.records, self.batch_records as usize);
        let input_bytes: u64 = batches.iter().map(|b| b.len() as u64).sum();
        println!(
            "corpus: {} records, {} bytes (mean {} B/record); {} records per round in batches of {}; median of {} rounds",
            lines.len(),
            corpus.len(),
            corpus.len() / lines.len(),
            self.records,
            self.batch_records,
            self.rounds
        );

        let native = Transform::new(&self.settings)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("plugin settings")?;
        let native = self.median(|| {
            measure(&batches, input_bytes, |batch| {
                Ok(native.process_batch(batch).counters.emitted)
            })
        })?;
        report("native", &native);

        let wasm = crate::plugin::load(self.sandbox.plugin.as_deref())?;
        let sandbox = Sandbox::new(&wasm, self.sandbox.limits())?;
        let mut instance = sandbox.instantiate(&self.settings)?;
        let schema = instance
            .schema_version()
            .map_err(|f| anyhow::anyhow!("{f}"))?;
        println!("plugin emits audit schema {schema}");
        let wasm = self.median(|| {
            measure(&batches, input_bytes, |batch| {
                match instance.process_batch(batch) {
                    Ok(Ok(out)) => Ok(out.counters.emitted),
                    Ok(Err(e)) => bail!("the plugin refused the batch: {e:?}"),
                    Err(failure) => bail!("{failure}"),
                }
            })
        })?;
        report("wasm", &wasm);
        println!(
            "ratio wasm/native: {:.2}",
            wasm.events_per_sec() / native.events_per_sec()
        );
        Ok(Outcome::Clean)
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
