//! `bench --detections`, whole process: what the rule pack costs a real
//! `run`, sandbox, threads and I/O included, measured from the outside as
//! `run` file to file on the simulated feed, with and without detections
//! (both enriched from the simulated GeoIP database, so that the difference
//! is the engine's), in interleaved rounds.
//!
//! Two figures, because they answer two questions: wall time is the
//! throughput a user sees (the engine runs on an instance of its own and
//! overlaps normalization when a second core is free, see
//! `runner::detect_stage`); CPU time is what the engine costs in all (what
//! a machine with one free core would see).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use super::process::{self, ChildUsage, RunSpec};
use crate::simulate::{Feed, Plan};

/// Where and how much to measure.
pub struct WholeRuns<'a> {
    /// Work directory (corpus, configurations, outputs).
    pub dir: &'a Path,
    /// `--plugin`, when the benchmark runs another plugin.
    pub plugin: Option<&'a Path>,
    /// Records of the simulated feed per run (fewer if the feed is shorter).
    pub records: u64,
    /// Runs of each configuration; the medians are reported.
    pub rounds: u32,
}

impl WholeRuns<'_> {
    /// Run both configurations `rounds` times, interleaved; the report's
    /// lines.
    pub fn measure(&self, plan: &Plan) -> Result<String> {
        let (input, records) = self.corpus(plan)?;
        let database = self.dir.join("simulated.mmdb");
        std::fs::write(&database, crate::simulate::geo::database()?)
            .context("writing the simulated GeoIP database")?;
        let with = self.config("detections.toml", &database, true)?;
        let without = self.config("no-detections.toml", &database, false)?;
        let (mut on, mut off) = (Vec::new(), Vec::new());
        for _ in 0..self.rounds.max(1) {
            on.push(process::whole_run(&self.spec(&with), &input)?);
            off.push(process::whole_run(&self.spec(&without), &input)?);
        }
        let (on_wall, off_wall) = (median(&on, |u| u.wall), median(&off, |u| u.wall));
        let (on_cpu, off_cpu) = (median(&on, |u| u.cpu), median(&off, |u| u.cpu));
        let rate = |d: Duration| records as f64 / d.as_secs_f64();
        let cost = |with: Duration, without: Duration| {
            100.0 * (1.0 - without.as_secs_f64() / with.as_secs_f64())
        };
        let mut out = format!(
            "== whole process: `run` file to file on {records} simulated records, \
             with and without detections (median of {} interleaved rounds)\n",
            on.len()
        );
        writeln!(
            out,
            "wall: {:.0} events/s with detections, {:.0} without ({:.1}% cost in throughput)",
            rate(on_wall),
            rate(off_wall),
            cost(on_wall, off_wall)
        )?;
        writeln!(
            out,
            "CPU:  {:.0} events/s per CPU-second with detections, {:.0} without ({:.1}% more CPU time)",
            rate(on_cpu),
            rate(off_cpu),
            100.0 * (on_cpu.as_secs_f64() / off_cpu.as_secs_f64() - 1.0)
        )?;
        Ok(out)
    }

    fn spec<'s>(&'s self, config: &'s Path) -> RunSpec<'s> {
        RunSpec {
            dir: self.dir,
            plugin: self.plugin,
            workers: 1,
            config: Some(config),
        }
    }

    /// The first `records` activities of the simulated feed of `plan`
    /// (warm-up days included: they are part of what a run reads), as a
    /// file; the path and how many it holds.
    fn corpus(&self, plan: &Plan) -> Result<(PathBuf, u64)> {
        let path = self.dir.join("simulated.ndjson");
        let file = std::fs::File::create(&path).context("creating the simulated corpus")?;
        let mut out = std::io::BufWriter::new(file);
        let mut feed = Feed::new(plan);
        let mut written = 0;
        while written < self.records {
            let Some(day) = feed.next_day() else { break };
            for line in day.iter().take((self.records - written) as usize) {
                writeln!(out, "{line}").context("writing the simulated corpus")?;
                written += 1;
            }
        }
        out.flush().context("writing the simulated corpus")?;
        Ok((path, written))
    }

    /// A configuration file enriched from `database`, detections on or off.
    fn config(&self, name: &str, database: &Path, detections: bool) -> Result<PathBuf> {
        let path = self.dir.join(name);
        let database = toml::Value::String(database.display().to_string());
        let text = format!(
            "[plugin.detections]\nenabled = {detections}\nsignals = false\n\n\
             [geoip]\ndatabases = [{database}]\n"
        );
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// The median of `field` over `runs`.
fn median(runs: &[ChildUsage], field: impl Fn(&ChildUsage) -> Duration) -> Duration {
    let mut values: Vec<Duration> = runs.iter().map(field).collect();
    values.sort();
    values[values.len() / 2]
}
