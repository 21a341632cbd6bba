//! Alerts as canonical events (`event_type` `claude_audit.alert`).
//!
//! An alert holds rule metadata, the group key (pseudonyms: the engine runs
//! after redaction), the window, the ids of the events that triggered it and,
//! for statistical rules, the baseline and the observed value. Its id is a
//! hash of (rule/detection, group key, window start), so the same finding
//! raised again (re-read, replay) carries the same id: a repeat is an update.

use data_encoding::HEXLOWER;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::rule::{Kind, Severity};
use super::window::Hit;
use crate::timestamp;

/// Version of the alert layout (fields below), independent of the event schema.
pub const ALERT_SCHEMA_VERSION: &str = "1.0.0";

/// Most triggering event ids listed in one alert (the count is always exact).
const MAX_RELATED: usize = 100;

/// Who raised the alert.
pub struct Origin<'a> {
    /// Rule id (`CL-01`).
    pub rule_id: &'a str,
    /// Detection name (`brute_force`).
    pub detection: &'a str,
    /// Rule title.
    pub title: &'a str,
    /// Severity.
    pub severity: Severity,
    /// ATT&CK / ATLAS tags.
    pub tags: &'a [String],
    /// Logic kind.
    pub kind: Kind,
    /// A parity signal rather than an alert.
    pub signal: bool,
}

/// What the alert is about.
pub struct Finding<'a> {
    /// Fields forming the group key.
    pub group_by: &'a [String],
    /// The group key (`actor.ip=ip:k1:...`).
    pub group_key: &'a str,
    /// Window start and end (ms), and its configured length (ms, 0 for single events).
    pub window: (i64, i64, i64),
    /// The events that triggered it, oldest first.
    pub hits: &'a [Hit],
    /// The observed value (count, distinct values, new value, hourly value).
    pub observed: Value,
    /// The baseline, for statistical rules.
    pub baseline: Option<Value>,
    /// The organization of the event that completed it.
    pub organization_uuid: Value,
}

/// The deterministic alert id.
pub fn alert_id(rule_id: &str, detection: &str, group_key: &str, window_start: i64) -> String {
    let mut hash = Sha256::new();
    for part in [rule_id, detection, group_key, &window_start.to_string()] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!("alert_{}", &HEXLOWER.encode(&hash.finalize())[..32])
}

/// Build the alert event.
pub fn build(origin: &Origin<'_>, finding: &Finding<'_>) -> Value {
    let (start, end, length) = finding.window;
    let id = alert_id(
        origin.rule_id,
        origin.detection,
        &identity(origin, finding),
        start,
    );
    let related: Vec<&str> = finding
        .hits
        .iter()
        .take(MAX_RELATED)
        .map(|h| h.id.as_str())
        .collect();
    let mut alert = json!({
        "alert_schema_version": ALERT_SCHEMA_VERSION,
        "event_id": id,
        "timestamp": iso(end),
        "event_type": "claude_audit.alert",
        "category": "finding",
        "is_alert": !origin.signal,
        "organization_uuid": finding.organization_uuid,
        "rule": {
            "id": origin.rule_id,
            "detection": origin.detection,
            "title": origin.title,
            "severity": origin.severity.as_str(),
            "severity_id": origin.severity.ocsf_id(),
            "kind": kind_name(origin.kind),
            "tags": origin.tags,
        },
        "group": {"by": finding.group_by, "key": finding.group_key},
        "window": {"start": iso(start), "end": iso(end), "length_secs": length / 1000},
        "observed": finding.observed,
        "related_events": related,
        "related_events_count": finding.hits.len(),
    });
    if let Some(baseline) = &finding.baseline {
        alert["baseline"] = baseline.clone();
    }
    alert
}

/// What makes a finding unique besides rule and window start: the group
/// key, plus, for per-event findings, the event (two events at the same
/// instant are two findings) and, for first-seen findings, the new value.
fn identity(origin: &Origin<'_>, finding: &Finding<'_>) -> String {
    match origin.kind {
        Kind::Single => {
            let event = finding.hits.first().map_or("", |h| h.id.as_str());
            format!("{}\u{0}{event}", finding.group_key)
        }
        Kind::NewValue => format!("{}\u{0}{}", finding.group_key, finding.observed["value"]),
        _ => finding.group_key.to_owned(),
    }
}

/// The kind's name as in rule files.
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Single => "single",
        Kind::EventCount => "event_count",
        Kind::ValueCount => "value_count",
        Kind::TemporalOrdered => "temporal_ordered",
        Kind::NewValue => "new_value",
        Kind::Baseline => "baseline",
        Kind::Travel => "travel",
    }
}

/// Milliseconds since the epoch in the canonical timestamp form.
fn iso(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    timestamp::format(t)
}

/// Milliseconds since the epoch of a canonical timestamp.
pub fn millis(text: &str) -> Option<i64> {
    let t = timestamp::parse(text)?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_depend_on_rule_group_and_window_start_only() {
        let a = alert_id("CL-01", "spray", "actor.ip=ip:k1:X", 1000);
        assert_eq!(a, alert_id("CL-01", "spray", "actor.ip=ip:k1:X", 1000));
        assert_ne!(a, alert_id("CL-01", "spray", "actor.ip=ip:k1:X", 1001));
        assert_ne!(
            a,
            alert_id("CL-01", "brute_force", "actor.ip=ip:k1:X", 1000)
        );
        assert_eq!(a.len(), "alert_".len() + 32);
        assert_eq!(millis("1970-01-01T00:00:01.5Z"), Some(1500));
    }
}
