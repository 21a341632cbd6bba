//! `claude-audit bench --redaction-cost`: what each detector family costs.
//!
//! The same batches go through the plugin logic natively, on this thread:
//! with every detector, without redaction (normalize only), and once with
//! each family of `plugin/data/detectors.toml` (`family`), the decoding of
//! encoded values and the scanning of object keys left out in turn
//! (`Coverage::without`, a benchmark-only switch; no setting can do this).
//! A family's share is the time the run saves without it, over the time of
//! the full run. Time is this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`),
//! so that other processes on a shared machine inflate it less than wall
//! time; the median of `rounds` is kept, the rounds of all configurations
//! interleaved (each round starting at the next one) so that load drifts
//! and the order of measurement hit them alike.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use claude_audit_plugin::Transform;
use claude_audit_plugin::redact::Coverage;

/// Issue 10's bar: a family above this share must say why it is worth it.
const WORTH_SAYING: f64 = 0.05;

/// What to measure.
pub struct RedactionCostBench<'b> {
    /// Input batches (NDJSON).
    pub batches: &'b [Vec<u8>],
    /// Plugin settings with redaction on.
    pub settings_on: String,
    /// Plugin settings with redaction off.
    pub settings_off: String,
    /// The key that pseudonymizes.
    pub key: claude_audit_plugin::HmacKey,
    /// Measurements per configuration; the median is kept.
    pub rounds: u32,
}

/// One configuration: its name, transform and measured times.
struct Config {
    name: String,
    transform: Transform,
    times: Vec<Duration>,
}

impl RedactionCostBench<'_> {
    /// Measure and print the table.
    pub fn run(&self) -> Result<()> {
        let mut configs = vec![
            self.config("all detectors", &self.settings_on, Coverage::full())?,
            self.config("normalize only", &self.settings_off, Coverage::full())?,
        ];
        for family in Coverage::families() {
            let coverage = Coverage::without(family).map_err(|e| anyhow!(e))?;
            configs.push(self.config(family, &self.settings_on, coverage)?);
        }
        let count = configs.len();
        for round in 0..=self.rounds as usize {
            // Each round starts at another configuration: a run measured
            // later in a round was seen to be slower (caches of the other
            // configurations' regexes), and rotating spreads that evenly.
            for offset in 0..count {
                let config = &mut configs[(round + offset) % count];
                let time = self.time(&config.transform)?;
                // Round 0 warms caches and the pseudonym cache up.
                if round > 0 {
                    config.times.push(time);
                }
            }
        }
        self.print(&mut configs);
        Ok(())
    }

    fn config(&self, name: &str, settings: &str, coverage: Coverage) -> Result<Config> {
        let transform = Transform::with_coverage(settings, vec![self.key.clone()], None, coverage)
            .map_err(|e| anyhow!("{e}"))
            .context("plugin settings")?;
        Ok(Config {
            name: name.to_owned(),
            transform,
            times: Vec::new(),
        })
    }

    /// CPU time of this thread for one pass over the batches.
    fn time(&self, transform: &Transform) -> Result<Duration> {
        let started = thread_cpu_time()?;
        for batch in self.batches {
            std::hint::black_box(transform.process_batch(batch));
        }
        Ok(thread_cpu_time()?.saturating_sub(started))
    }

    fn print(&self, configs: &mut [Config]) {
        let events: usize = self
            .batches
            .iter()
            .map(|b| b.split(|c| *c == b'\n').count() - 1)
            .sum();
        let bytes: usize = self.batches.iter().map(Vec::len).sum();
        let medians: Vec<f64> = configs
            .iter_mut()
            .map(|c| {
                c.times.sort();
                c.times[c.times.len() / 2].as_secs_f64()
            })
            .collect();
        let full = medians[0];
        println!(
            "== redaction cost per detector family (native, one thread, CPU time, median of {} rounds, {events} records)",
            self.rounds
        );
        println!(
            "all detectors:  {:>9.0} events/s {:>6.1} MiB/s per core ({full:.3} CPU-s)",
            events as f64 / full,
            bytes as f64 / (1024.0 * 1024.0) / full
        );
        println!(
            "normalize only: {:>9.0} events/s {:>6.1} MiB/s per core; redaction is {:.0}% of the full run",
            events as f64 / medians[1],
            bytes as f64 / (1024.0 * 1024.0) / medians[1],
            100.0 * (full - medians[1]) / full
        );
        println!("{:<16} {:>8} {:>11}", "family left out", "CPU-s", "share");
        let mut rows: Vec<(&str, f64)> = configs[2..]
            .iter()
            .zip(&medians[2..])
            .map(|(c, t)| (c.name.as_str(), *t))
            .collect();
        rows.sort_by(|a, b| a.1.total_cmp(&b.1));
        for (name, time) in rows {
            let share = (full - time) / full;
            let mark = if share > WORTH_SAYING { "  > 5%" } else { "" };
            println!("{name:<16} {time:>8.3} {:>10.1}%{mark}", 100.0 * share);
        }
        println!("(share: time saved without the family over the full run's; below ~2% is noise)");
    }
}

/// CPU time consumed by the calling thread so far.
fn thread_cpu_time() -> Result<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a live, writable timespec; the clock id is a constant
    // every Unix we build for supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("reading the thread's CPU time");
    }
    Ok(Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}
