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
    canonical_millis(text).or_else(|| {
        let t = timestamp::parse(text)?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
    })
}

/// [`millis`] of a timestamp in the form the normalizer writes
/// (`2026-06-01T00:00:05.000000Z`, from 1970 on), read by hand: the
/// engine reads one per event, and the `time` crate's RFC 3339 parser was
/// a sixtieth of its instructions. `None` for any other form (then the
/// `time` crate reads it).
fn canonical_millis(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 27 || b[26] != b'Z' {
        return None;
    }
    for (at, separator) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        if b[at] != separator {
            return None;
        }
    }
    let number = |from: usize, to: usize| -> Option<i64> {
        b[from..to].iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    let micros = number(20, 26)?;
    let valid = year >= 1970
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then(|| {
        let seconds =
            days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
        seconds * 1_000 + micros / 1_000
    })
}

/// Days in `month` of `year` (Gregorian).
fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_timestamps_read_as_the_time_crate_reads_them() {
        let slow = |text: &str| {
            let t = timestamp::parse(text)?;
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
        };
        let mut texts = vec![
            "2026-06-01T00:00:05.000000Z".to_owned(),
            "2026-06-01T00:00:05.000000z".to_owned(),
            "2026-06-01t00:00:05.000000Z".to_owned(),
            "2026-06-01T00:00:05.000000+00:00".to_owned(),
            "1969-12-31T23:59:59.999999Z".to_owned(),
            "2026-06-01T00:00:60.000000Z".to_owned(),
            "2026-6-01T00:00:05.0000000Z".to_owned(),
            "2026-06-01T00:00:05.00000aZ".to_owned(),
        ];
        for year in [1970, 1999, 2000, 2024, 2026, 2100, 2400, 9999] {
            for month in 0..=13 {
                for day in [0, 1, 15, 28, 29, 30, 31, 32] {
                    for (h, m, s, f) in [
                        (0, 0, 0, 0),
                        (23, 59, 59, 999_999),
                        (24, 0, 0, 1),
                        (12, 60, 7, 500),
                    ] {
                        texts.push(format!(
                            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{f:06}Z"
                        ));
                    }
                }
            }
        }
        for text in &texts {
            assert_eq!(millis(text), slow(text), "{text}");
        }
        assert!(
            texts
                .iter()
                .filter(|t| canonical_millis(t).is_some())
                .count()
                > 1000
        );
    }

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
