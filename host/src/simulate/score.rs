//! Scoring the rule pack on simulated data: recall per injected scenario,
//! precision and false alerts per rule, alerts per million events, the cost
//! of detection in throughput, and the size of the engine's state. Used by
//! `claude-audit bench --detections`; runs the plugin logic natively (the
//! rules and the engine are the same code the sandbox runs).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use claude_audit_plugin::{HmacKey, Transform};
use serde_json::Value;

use super::{Feed, Label, Plan};

/// Per-detection tallies over every seed.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Injected scenarios expecting this detection.
    pub scenarios: u64,
    /// Of those, detected.
    pub detected: u64,
    /// Alerts raised by the detection.
    pub alerts: u64,
    /// Alerts whose triggering events include no injected activity.
    pub false_alerts: u64,
}

/// The whole report.
#[derive(Debug, Default)]
pub struct Report {
    /// By `rule/detection`.
    pub by_detection: BTreeMap<String, Tally>,
    /// Events processed (all seeds).
    pub events: u64,
    /// Of those, injected.
    pub attack_events: u64,
    /// Time with detections.
    pub with: Duration,
    /// Time without detections.
    pub without: Duration,
    /// Largest exported state, bytes.
    pub state_bytes: usize,
}

/// Score `plan` under each seed. The feed is generated, run and scored a
/// day at a time (only the alerts are kept), so the month of a large
/// organization never sits in memory. Warm-up days go through the engine
/// (its learning periods and baselines) but are neither timed nor scored:
/// their events and alerts are not counted.
pub fn score(plan: &Plan, seeds: &[u64], key: &HmacKey) -> Result<Report> {
    let mut report = Report::default();
    // Every active detection is listed, scenario or not.
    for rule in claude_audit_plugin::detect::rule::bundled().map_err(|e| anyhow::anyhow!(e))? {
        for d in rule.detections.iter().filter(|d| !rule.signal && !d.signal) {
            report
                .by_detection
                .insert(format!("{}/{}", rule.id, d.name), Tally::default());
        }
    }
    let geoip = super::geo::database()?;
    for &seed in seeds {
        let mut feed = Feed::new(&Plan {
            seed,
            ..plan.clone()
        });
        let with = transform(key, &geoip, true)?;
        let without = transform(key, &geoip, false)?;
        let mut alerts = Vec::new();
        let mut events = 0u64;
        while let Some(day) = feed.next_day() {
            let batches: Vec<String> = day
                .chunks(1000)
                .map(|chunk| chunk.join("\n") + "\n")
                .collect();
            if feed.last_was_warmup() {
                process(&with, &batches, None)?;
                continue;
            }
            events += day.len() as u64;
            drop(day);
            report.with += process(&with, &batches, Some(&mut alerts))?;
            report.without += process(&without, &batches, None)?;
            // The state at each day's end: the largest is reported.
            let state = with.export_state().map_or(0, |s| s.len());
            report.state_bytes = report.state_bytes.max(state);
        }
        report.events += events;
        tally(&mut report, &feed.into_labels(), &alerts);
    }
    Ok(report)
}

/// A transform enriched from the simulated `geoip` database either way (so
/// that the difference is the engine's cost), with or without detections.
fn transform(key: &HmacKey, geoip: &[u8], detections: bool) -> Result<Transform> {
    let settings = format!(r#"{{"detections":{{"enabled":{detections},"signals":false}}}}"#);
    Transform::with_geoip(&settings, vec![key.clone()], None, vec![geoip.to_vec()])
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("configuring the plugin for the benchmark")
}

/// Run `batches` through `transform`; the time it took. The alerts go to
/// `alerts` when given.
fn process(
    transform: &Transform,
    batches: &[String],
    mut alerts: Option<&mut Vec<Value>>,
) -> Result<Duration> {
    let mut elapsed = Duration::ZERO;
    for batch in batches {
        let started = Instant::now();
        let out = transform.process_batch(batch.as_bytes());
        elapsed += started.elapsed();
        anyhow::ensure!(
            out.counters.dead_lettered == 0,
            "the simulated feed has records the plugin refused: {:?}",
            out.dead_letters.first()
        );
        if let Some(alerts) = alerts.as_deref_mut() {
            for line in out.alerts.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                alerts.push(serde_json::from_slice(line).context("an alert that is not JSON")?);
            }
        }
    }
    Ok(elapsed)
}

/// Match alerts to labels.
fn tally(report: &mut Report, labels: &[Label], alerts: &[Value]) {
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (i, label) in labels.iter().enumerate() {
        for id in &label.event_ids {
            owner.insert(id.as_str(), i);
        }
    }
    report.attack_events += owner.len() as u64;
    let mut detected = vec![false; labels.len()];
    for alert in alerts.iter().filter(|a| a["is_alert"] == true) {
        let name = format!(
            "{}/{}",
            alert["rule"]["id"].as_str().unwrap_or(""),
            alert["rule"]["detection"].as_str().unwrap_or("")
        );
        let related: Vec<usize> = alert["related_events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|id| owner.get(id.as_str().unwrap_or("")).copied())
            .collect();
        let t = report.by_detection.entry(name.clone()).or_default();
        t.alerts += 1;
        if related.is_empty() {
            t.false_alerts += 1;
        }
        for i in related {
            detected[i] |= labels[i].expect == name;
        }
    }
    for (label, hit) in labels.iter().zip(detected) {
        let t = report
            .by_detection
            .entry(label.expect.to_owned())
            .or_default();
        t.scenarios += 1;
        t.detected += u64::from(hit);
    }
}

impl Report {
    /// The report as text.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "detection                              scenarios  recall  alerts  precision  false\n",
        );
        for (name, t) in &self.by_detection {
            let recall = if t.scenarios > 0 {
                format!("{:.2}", t.detected as f64 / t.scenarios as f64)
            } else {
                "-".into()
            };
            let precision = if t.alerts > 0 {
                format!(
                    "{:.2}",
                    (t.alerts - t.false_alerts) as f64 / t.alerts as f64
                )
            } else {
                "-".into()
            };
            out += &format!(
                "{name:<38} {:>9}  {recall:>6}  {:>6}  {precision:>9}  {:>5}\n",
                t.scenarios, t.alerts, t.false_alerts
            );
        }
        let benign = self.events - self.attack_events;
        let alerts: u64 = self.by_detection.values().map(|t| t.alerts).sum();
        let false_alerts: u64 = self.by_detection.values().map(|t| t.false_alerts).sum();
        out += &format!(
            "events {} ({} benign); alerts per million events {:.1}; false alerts per 100,000 benign events {:.2}\n",
            self.events,
            benign,
            alerts as f64 * 1e6 / self.events.max(1) as f64,
            false_alerts as f64 * 1e5 / benign.max(1) as f64
        );
        let rate = |d: Duration| self.events as f64 / d.as_secs_f64().max(1e-9);
        out += &format!(
            "throughput (native, normalize + redact): {:.0} events/s with detections, {:.0} without ({:.1}% cost); largest state {} KiB\n",
            rate(self.with),
            rate(self.without),
            (1.0 - self.without.as_secs_f64() / self.with.as_secs_f64().max(1e-9)) * 100.0,
            self.state_bytes / 1024
        );
        out
    }
}
