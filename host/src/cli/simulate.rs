//! `claude-audit simulate`: a synthetic organization's Activity Feed with
//! injected, labeled attacks (the red-team simulator, `crate::simulate`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::Outcome;
use crate::dead_letter::private_file;
use crate::simulate::{Feed, Plan, attacks::SCENARIOS};

/// Generate a realistic Activity Feed and Claude Code telemetry (benign
/// rhythm plus labeled attacks).
///
/// Events go to --output (NDJSON in time order, ready for `claude-audit
/// run`: Activity Feed records and Claude Code `otlp_log` records); the
/// injected scenarios and the ids of their
/// activities go to --labels, a separate file, so that detections can be
/// scored without seeing them. The same arguments give the same bytes.
#[derive(Debug, Args)]
pub struct SimulateCommand {
    /// Days of activity with attacks (the scored days), after the warm-up.
    #[arg(long, value_name = "N", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,

    /// Days of background only before them, from 2026-06-01 (no attack: the
    /// rule pack's learning periods, the longest 35 days, and baselines).
    #[arg(long, value_name = "N", default_value_t = 35,
          value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub warmup_days: u32,

    /// Members of the organization.
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub users: u32,

    /// Seed of the pseudo-random generator.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,

    /// Attack scenarios to inject, comma-separated (`all`, `none`, or names
    /// such as `brute_force,mass_download`).
    #[arg(long, value_name = "LIST", default_value = "all")]
    pub attacks: String,

    /// Activities here (created or truncated, mode 0600). Default: stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Labels of the injected scenarios (NDJSON: scenario, expect, event_ids).
    #[arg(long, value_name = "FILE", default_value = "simulate.labels.ndjson")]
    pub labels: PathBuf,

    /// Also write the synthetic MaxMind-format database that places the
    /// simulated networks (for `[geoip] databases`, so that CL-03, CL-04
    /// and CL-05 run on the simulated feed).
    #[arg(long, value_name = "FILE")]
    pub geoip: Option<PathBuf>,
}

impl SimulateCommand {
    /// Run the command.
    pub fn execute(self) -> Result<Outcome> {
        let plan = Plan {
            days: self.days,
            warmup_days: self.warmup_days,
            users: self.users,
            seed: self.seed,
            attacks: attack_list(&self.attacks)?,
        };
        let mut out: Box<dyn Write> = match &self.output {
            Some(path) => Box::new(std::io::BufWriter::new(
                private_file(path).with_context(|| format!("creating {}", path.display()))?,
            )),
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        };
        // A day at a time: a month of a large organization never sits in
        // memory.
        let mut feed = Feed::new(&plan);
        let mut activities = 0usize;
        while let Some(day) = feed.next_day() {
            activities += day.len();
            for line in &day {
                writeln!(out, "{line}").context("writing activities")?;
            }
        }
        out.flush().context("writing activities")?;
        let scenarios = feed.into_labels();
        let mut labels = std::io::BufWriter::new(
            private_file(&self.labels)
                .with_context(|| format!("creating {}", self.labels.display()))?,
        );
        for label in &scenarios {
            writeln!(labels, "{}", label.to_json()).context("writing labels")?;
        }
        labels.flush().context("writing labels")?;
        if let Some(path) = &self.geoip {
            let bytes = crate::simulate::geo::database()?;
            std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        eprintln!(
            "claude-audit: simulated {} activities ({} scenarios labeled in {})",
            activities,
            scenarios.len(),
            self.labels.display()
        );
        Ok(Outcome::Clean)
    }
}

/// `all`, `none` or a comma-separated list of known scenario names.
pub fn attack_list(text: &str) -> Result<Vec<String>> {
    match text {
        "all" => return Ok(SCENARIOS.iter().map(|s| s.name.to_owned()).collect()),
        "none" | "" => return Ok(Vec::new()),
        _ => {}
    }
    let names: Vec<String> = text.split(',').map(|s| s.trim().to_owned()).collect();
    for name in &names {
        if !SCENARIOS.iter().any(|s| s.name == name) {
            let known: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
            bail!(
                "--attacks: no scenario `{name}` (known: {})",
                known.join(", ")
            );
        }
    }
    Ok(names)
}
