//! Signed audit reports: one streaming pass over the store gathers the
//! figures of a period (counts, controls of a framework, access to audit
//! data and keys, redaction statistics, completeness, daily counts), a
//! seeded reservoir sample gets inclusion proofs, and `report.json` is
//! signed with a detached signed note over its SHA-256.
//!
//! Memory: counters (bounded by the number of distinct categories, types,
//! controls and days), the proof tree (64 bytes per 1,024 events, see
//! [`super::merkle::Tree::over`]), the sample and one line at a time of
//! the segments; never the events themselves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::checkpoint::Checkpoint;
use super::layout;
use super::merkle::{self, Hash};
use super::note::{SignerKey, VerifierKey};
use super::proof::Prover;
use super::retention;
use super::runs::{self, RunFigures};
use crate::pull::time::{Nanos, format_rfc3339, parse_rfc3339};

/// The report format's name and version.
pub const FORMAT: &str = "claude-audit-report/1";
/// First line of the signed note over a report's digest.
const DIGEST_NOTE_TITLE: &str = "claude-audit-report/1 sha256";
/// The control matrix, for the controls a framework has.
const CONTROLS_TSV: &str = include_str!("../../../plugin/data/controls.tsv");
/// The access section's selectors.
const ACCESS_TSV: &str = include_str!("../../data/report-access.tsv");
/// Nanoseconds in a day.
const DAY: Nanos = 86_400 * 1_000_000_000;

/// What to report on.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// `soc2`, `hipaa`, `gdpr`, `eu-ai-act` or `iso42001`.
    pub framework: String,
    /// Start of the period (inclusive), Unix nanoseconds.
    pub from: Nanos,
    /// End of the period (exclusive).
    pub to: Nanos,
    /// Sample size.
    pub sample: usize,
    /// Sample seed.
    pub seed: u64,
}

/// The control-id prefix of a framework name.
pub fn framework_prefix(name: &str) -> Result<&'static str> {
    Ok(match name {
        "soc2" => "SOC2:",
        "hipaa" => "HIPAA:",
        "gdpr" => "GDPR:",
        "eu-ai-act" => "EU-AI-Act:",
        "iso42001" => "ISO42001:",
        other => bail!("unknown framework {other:?} (soc2, hipaa, gdpr, eu-ai-act, iso42001)"),
    })
}

/// Every control of the framework with `prefix` in the control matrix.
fn framework_controls(prefix: &str) -> BTreeSet<String> {
    CONTROLS_TSV
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .flat_map(|(_, controls)| controls.split_whitespace())
        .filter(|c| c.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// `(label, category or type selector, outcome)` rows of the access table.
fn access_rows() -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    ACCESS_TSV
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (label, selector) = l.split_once('\t')?;
            let mut parts = selector.split_whitespace();
            let main = parts.next()?;
            let outcome = parts.next().and_then(|o| o.strip_prefix("outcome:"));
            Some((label, main, outcome))
        })
        .collect()
}

/// The fields of an event the report reads.
#[derive(Deserialize)]
struct EventView<'a> {
    #[serde(borrow)]
    timestamp: &'a str,
    #[serde(borrow)]
    event_type: &'a str,
    #[serde(borrow)]
    category: &'a str,
    #[serde(borrow)]
    action: &'a str,
    #[serde(borrow)]
    outcome: &'a str,
    #[serde(default, borrow)]
    controls: Vec<&'a str>,
    #[serde(default, borrow)]
    prompt_hash: Option<&'a str>,
    #[serde(default, borrow)]
    response_hash: Option<&'a str>,
    #[serde(default, borrow)]
    redaction_metadata: Option<RedactionView<'a>>,
}

#[derive(Deserialize)]
struct RedactionView<'a> {
    #[serde(default)]
    applied: bool,
    #[serde(default, borrow)]
    policy_version: Option<&'a str>,
    #[serde(default, borrow)]
    key_id: Option<&'a str>,
    #[serde(default, borrow)]
    counts: BTreeMap<&'a str, u64>,
}

/// Counts of events by category, action, outcome and type.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct EventCounts {
    /// Events in the period.
    pub total: u64,
    /// By category.
    pub by_category: BTreeMap<String, u64>,
    /// By action.
    pub by_action: BTreeMap<String, u64>,
    /// By outcome.
    pub by_outcome: BTreeMap<String, u64>,
    /// By activity type.
    pub by_event_type: BTreeMap<String, u64>,
}

/// Control coverage of the chosen framework.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Controls {
    /// Events evidencing each control.
    pub evidenced: BTreeMap<String, u64>,
    /// Controls of the framework (control matrix) with no event.
    pub without_evidence: Vec<String>,
}

/// Redaction statistics.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Redaction {
    /// Events with redaction applied.
    pub events_redacted: u64,
    /// Values redacted, per entity class.
    pub by_entity: BTreeMap<String, u64>,
    /// Redaction policy versions seen.
    pub policy_versions: BTreeSet<String>,
    /// Pseudonymization key ids seen.
    pub key_ids: BTreeSet<String>,
}

/// Completeness of the record.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Completeness {
    /// Timestamp of the first event in the period.
    pub first_event: Option<String>,
    /// Timestamp of the last event in the period.
    pub last_event: Option<String>,
    /// Whole UTC days of the period without any event: `[first, last]`.
    pub days_without_events: Vec<[String; 2]>,
    /// Leaves whose content retention removed (hash kept).
    pub retention_removed: u64,
    /// Events in the store after the checkpoint (not covered; not counted).
    pub events_after_checkpoint: u64,
    /// Events with an unreadable timestamp (counted, not dated).
    pub undated_events: u64,
    /// From the signed run summaries of the runs that appended the
    /// reported events: dead letters, filtered records, poller retries,
    /// rate limiting and time-to-ingest ([`super::runs`]).
    #[serde(default)]
    pub runs: RunFigures,
}

/// One sampled event with its inclusion proof.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampledEvent {
    /// Event id.
    pub event_id: String,
    /// Leaf index.
    pub leaf_index: u64,
    /// The event's `prompt_hash`, when present.
    pub prompt_hash: Option<String>,
    /// The event's `response_hash`, when present.
    pub response_hash: Option<String>,
    /// For a conversation-content event: its hashes and counts of
    /// detected and redacted values (never its text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<super::content::ContentSummary>,
    /// The NDJSON line.
    pub event: String,
    /// Base64 audit path to the report's checkpoint.
    pub audit_path: Vec<String>,
}

/// The sample.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Sample {
    /// SplitMix64 seed of the reservoir sampling (algorithm R).
    pub seed: u64,
    /// Events eligible (in the period, covered by the checkpoint).
    pub population: u64,
    /// The sampled events, by leaf index.
    pub events: Vec<SampledEvent>,
}

/// The signed checkpoint a report covers.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CoveredCheckpoint {
    /// Origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Base64 root hash.
    pub root: String,
    /// The signed note.
    pub note: String,
}

/// `report.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// [`FORMAT`].
    pub format: String,
    /// When it was made (RFC 3339).
    pub generated_at: String,
    /// The framework asked for.
    pub framework: String,
    /// `{"from", "to"}`, RFC 3339, `to` exclusive.
    pub period: BTreeMap<String, String>,
    /// The checkpoint covered.
    pub checkpoint: CoveredCheckpoint,
    /// Event counts.
    pub events: EventCounts,
    /// Control coverage.
    pub controls: Controls,
    /// Access to audit data and keys: label -> event type -> count.
    pub access: BTreeMap<String, BTreeMap<String, u64>>,
    /// Redaction statistics.
    pub redaction: Redaction,
    /// Completeness.
    pub completeness: Completeness,
    /// Daily counts: `YYYY-MM-DD` -> category -> count.
    pub daily: BTreeMap<String, BTreeMap<String, u64>>,
    /// The sample.
    pub sample: Sample,
}

/// SplitMix64: tiny, documented and easy to re-implement, so that an
/// auditor can reproduce the sample from the seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The report's state during the pass.
struct Gather {
    request: ReportRequest,
    prefix: &'static str,
    access: Vec<(&'static str, &'static str, Option<&'static str>)>,
    report: Report,
    days_with_events: BTreeSet<i128>,
    rng: SplitMix64,
    reservoir: Vec<(u64, Vec<u8>)>,
    /// Earliest and latest event in the period: `(time, as written)`.
    first: Option<(Nanos, String)>,
    last: Option<(Nanos, String)>,
    /// Smallest and largest leaf of a reported event.
    leaves: Option<(u64, u64)>,
}

impl Gather {
    fn event(&mut self, leaf: u64, line: &[u8], covered: bool) -> Result<()> {
        if retention::tombstone_hash(line).is_some() {
            self.report.completeness.retention_removed += 1;
            return Ok(());
        }
        let e: EventView = serde_json::from_slice(line)
            .with_context(|| format!("leaf {leaf} is not a canonical event"))?;
        let Ok(t) = parse_rfc3339(e.timestamp) else {
            self.report.completeness.undated_events += 1;
            return Ok(());
        };
        if t < self.request.from || t >= self.request.to {
            return Ok(());
        }
        if !covered {
            self.report.completeness.events_after_checkpoint += 1;
            return Ok(());
        }
        self.count(&e, t);
        self.sample(leaf, line);
        let (lo, hi) = self.leaves.unwrap_or((leaf, leaf));
        self.leaves = Some((lo.min(leaf), hi.max(leaf)));
        Ok(())
    }

    fn count(&mut self, e: &EventView, t: Nanos) {
        let r = &mut self.report;
        let c = &mut r.events;
        c.total += 1;
        *c.by_category.entry(e.category.to_owned()).or_default() += 1;
        *c.by_action.entry(e.action.to_owned()).or_default() += 1;
        *c.by_outcome.entry(e.outcome.to_owned()).or_default() += 1;
        *c.by_event_type.entry(e.event_type.to_owned()).or_default() += 1;
        for control in e.controls.iter().filter(|c| c.starts_with(self.prefix)) {
            *r.controls
                .evidenced
                .entry((*control).to_owned())
                .or_default() += 1;
        }
        for (label, selector, outcome) in &self.access {
            let hit = match selector.split_once(':') {
                Some(("category", v)) => e.category == v,
                Some(("event_type", v)) => e.event_type == v,
                _ => false,
            } && outcome.is_none_or(|o| o == e.outcome);
            if hit {
                let row = r.access.entry((*label).to_owned()).or_default();
                *row.entry(e.event_type.to_owned()).or_default() += 1;
            }
        }
        if let Some(m) = &e.redaction_metadata
            && m.applied
        {
            let red = &mut r.redaction;
            red.events_redacted += 1;
            for (entity, n) in &m.counts {
                *red.by_entity.entry((*entity).to_owned()).or_default() += n;
            }
            red.policy_versions
                .extend(m.policy_version.map(str::to_owned));
            red.key_ids.extend(m.key_id.map(str::to_owned));
        }
        let day = t.div_euclid(DAY);
        self.days_with_events.insert(day);
        let date = format_rfc3339(day * DAY)[..10].to_owned();
        *r.daily
            .entry(date)
            .or_default()
            .entry(e.category.to_owned())
            .or_default() += 1;
        // Compared as times, kept as the events wrote them.
        if self.first.as_ref().is_none_or(|(f, _)| t < *f) {
            self.first = Some((t, e.timestamp.to_owned()));
        }
        if self.last.as_ref().is_none_or(|(l, _)| t >= *l) {
            self.last = Some((t, e.timestamp.to_owned()));
        }
    }

    /// Reservoir sampling, algorithm R.
    fn sample(&mut self, leaf: u64, line: &[u8]) {
        let seen = self.report.sample.population;
        self.report.sample.population += 1;
        let k = self.request.sample;
        if (seen as usize) < k {
            self.reservoir.push((leaf, line.to_vec()));
        } else {
            let j = self.rng.next() % (seen + 1);
            if (j as usize) < k {
                self.reservoir[j as usize] = (leaf, line.to_vec());
            }
        }
    }

    fn finish(mut self, prover: &Prover) -> Result<Report> {
        let r = &mut self.report;
        r.completeness.first_event = self.first.take().map(|(_, ts)| ts);
        r.completeness.last_event = self.last.take().map(|(_, ts)| ts);
        let all = framework_controls(self.prefix);
        r.controls.without_evidence = all
            .into_iter()
            .filter(|c| !r.controls.evidenced.contains_key(c))
            .collect();
        r.completeness.days_without_events =
            empty_days(self.request.from, self.request.to, &self.days_with_events);
        self.reservoir.sort_by_key(|(leaf, _)| *leaf);
        for (leaf, line) in &self.reservoir {
            let proof = prover.prove(*leaf, line)?;
            let view: EventView = serde_json::from_slice(line)?;
            r.sample.events.push(SampledEvent {
                event_id: proof.event_id,
                leaf_index: *leaf,
                prompt_hash: view.prompt_hash.map(str::to_owned),
                response_hash: view.response_hash.map(str::to_owned),
                content: super::content::summary(line),
                event: proof.event,
                audit_path: proof.audit_path,
            });
        }
        Ok(self.report)
    }
}

/// Runs of whole days in `[from, to)` without events, as date pairs.
fn empty_days(from: Nanos, to: Nanos, with: &BTreeSet<i128>) -> Vec<[String; 2]> {
    let date = |d: i128| format_rfc3339(d * DAY)[..10].to_owned();
    let (first, last) = (from.div_euclid(DAY), (to - 1).div_euclid(DAY));
    let mut out = Vec::new();
    let mut run: Option<i128> = None;
    for d in first..=last {
        match (with.contains(&d), run) {
            (false, None) => run = Some(d),
            (true, Some(start)) => {
                out.push([date(start), date(d - 1)]);
                run = None;
            }
            _ => {}
        }
    }
    if let Some(start) = run {
        out.push([date(start), date(last)]);
    }
    out
}

/// Build the report of `dir` for `request`, against its newest checkpoint
/// (checked with the signing key's verifier).
pub fn build(dir: &Path, key: &VerifierKey, request: ReportRequest) -> Result<Report> {
    ensure!(request.from < request.to, "--from must be before --to");
    ensure!(
        (request.to - request.from) / DAY <= 20 * 366,
        "the period is longer than 20 years"
    );
    let prefix = framework_prefix(&request.framework)?;
    let seed = request.seed;
    let prover = Prover::open(dir, key)?;
    let covered = prover.checkpoint().size;
    let mut g = Gather {
        prefix,
        access: access_rows(),
        rng: SplitMix64(request.seed),
        reservoir: Vec::with_capacity(request.sample),
        days_with_events: BTreeSet::new(),
        first: None,
        last: None,
        leaves: None,
        report: Report::default(),
        request,
    };
    for segment in layout::segments(dir)? {
        segment.for_each_line(|leaf, line| g.event(leaf, line, leaf < covered))?;
    }
    let c = prover.checkpoint();
    let checkpoint = CoveredCheckpoint {
        origin: c.origin.clone(),
        size: c.size,
        root: B64.encode(c.root),
        note: prover.note().to_owned(),
    };
    let period = [
        ("from".to_owned(), format_rfc3339(g.request.from)),
        ("to".to_owned(), format_rfc3339(g.request.to)),
    ];
    let leaves = g.leaves;
    let mut report = g.finish(&prover)?;
    let records = retention::load_records(dir, key).context("reading the store's records")?;
    report.completeness.runs = runs::figures(&records, leaves);
    report.format = FORMAT.to_owned();
    report.generated_at = format_rfc3339(crate::pull::time::now());
    report.framework = report_framework(prefix);
    report.period = period.into_iter().collect();
    report.checkpoint = checkpoint;
    report.sample.seed = seed;
    Ok(report)
}

fn report_framework(prefix: &str) -> String {
    prefix.trim_end_matches(':').to_owned()
}

/// The signed note over `report_json`'s SHA-256.
pub fn sign_digest(report_json: &[u8], key: &SignerKey) -> Result<String> {
    let digest = hex::encode(Sha256::digest(report_json));
    key.sign(&format!("{DIGEST_NOTE_TITLE}\n{digest}\n"))
}

/// Check a report: the digest note's signature and digest, the checkpoint's
/// signature, and every sampled proof against it. Returns the report.
pub fn verify(report_json: &[u8], digest_note: &str, key: &VerifierKey) -> Result<Report> {
    let text = key.open(digest_note).context("report.json.sig")?;
    let want = text
        .strip_prefix(DIGEST_NOTE_TITLE)
        .and_then(|t| t.strip_prefix('\n'))
        .and_then(|t| t.strip_suffix('\n'))
        .context("report.json.sig is not a report digest note")?;
    ensure!(
        hex::encode(Sha256::digest(report_json)) == want,
        "report.json does not match its signed digest (altered after signing)"
    );
    let report: Report = serde_json::from_slice(report_json).context("parsing report.json")?;
    ensure!(
        report.format == FORMAT,
        "unknown report format {:?}",
        report.format
    );
    let checkpoint =
        Checkpoint::open(&report.checkpoint.note, key).context("the report's checkpoint")?;
    for s in &report.sample.events {
        let leaf = merkle::leaf_hash(s.event.as_bytes());
        let path = s
            .audit_path
            .iter()
            .map(|h| B64.decode(h).ok().and_then(|b| Hash::try_from(b).ok()))
            .collect::<Option<Vec<_>>>()
            .context("a sampled audit path is not base64 hashes")?;
        ensure!(
            merkle::verify_inclusion(
                s.leaf_index,
                checkpoint.size,
                &leaf,
                &path,
                &checkpoint.root
            ),
            "sampled event {} (leaf {}) is not proven in the checkpoint",
            s.event_id,
            s.leaf_index
        );
    }
    Ok(report)
}
