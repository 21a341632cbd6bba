//! The rule file format (`plugin/data/rules/*.toml`): what a rule is made of,
//! parsed with serde, plus the durations and severities its fields use.
//!
//! A rule file holds one rule of the pack (`CL-xx`, or a parity signal
//! `PS-xx`): its metadata, one or more `[[detection]]` blocks (each a kind of
//! logic with its defaults) and `[[example]]` blocks that the tests replay.
//! The format is documented in the README ("Detections", rule files).

use serde::Deserialize;
use serde_json::Value;

use super::matcher::Cond;

/// One rule file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Rule id, e.g. `CL-01`; also the file name.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// What the rule finds and why it matters.
    pub description: String,
    /// Default severity of its alerts.
    pub severity: Severity,
    /// ATT&CK / ATLAS tags, Sigma style (`attack.t1110`, `atlas.aml.t0051`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Input event types (documentation; the detections filter on their own).
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Which vendor ships an equivalent today (documentation).
    #[serde(default)]
    pub vendors: String,
    /// Inputs the rule cannot work without (`geoip`: the IP enrichment
    /// databases). Without them the rule is inactive, and said to be.
    #[serde(default)]
    pub needs: Vec<Need>,
    /// A parity signal (informational, per event, `is_alert = false`).
    #[serde(default)]
    pub signal: bool,
    /// The detections; the rule alerts when any of them does.
    #[serde(rename = "detection")]
    pub detections: Vec<DetectionSpec>,
    /// Positive and negative examples, replayed by the tests.
    #[serde(default, rename = "example")]
    pub examples: Vec<Example>,
}

/// An input a rule needs beyond the events themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// `actor.geo`, from the `[geoip]` databases.
    Geoip,
}

/// Alert severity (Sigma levels; OCSF `severity_id` 1..5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Visibility only.
    Informational,
    /// Worth a look.
    Low,
    /// Investigate.
    Medium,
    /// Investigate now.
    High,
    /// Page someone.
    Critical,
}

impl Severity {
    /// The lower-case name (Sigma `level`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Informational => "informational",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// OCSF `severity_id`.
    pub fn ocsf_id(self) -> u8 {
        self as u8 + 1
    }
}

/// The logic of one detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Every matching event alerts.
    Single,
    /// At least `threshold` matching events per group in any `window`.
    EventCount,
    /// At least `threshold` distinct values of `field` per group in any `window`.
    ValueCount,
    /// `steps` in order, per group (aliases: each step names its own key
    /// field), all within `window`.
    TemporalOrdered,
    /// A value of `field` never seen before for the group, after a learning period.
    NewValue,
    /// A per-entity hourly count or sum far above the entity's own history.
    Baseline,
    /// Consecutive located events of a group implying impossible travel
    /// (`field` names the location object with `lat`/`lon`).
    Travel,
}

/// One detection inside a rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionSpec {
    /// Name, unique within the rule (`brute_force`); alerts carry `CL-01/brute_force`.
    pub name: String,
    /// The logic.
    pub kind: Kind,
    /// Severity when it differs from the rule's.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// A parity signal inside a CL rule: an informational finding
    /// (`is_alert` false) that keeps a routine event visible without paging
    /// anyone; switched off with the other signals (`detections.signals`).
    #[serde(default)]
    pub signal: bool,
    /// Event types it reads (`*` globs allowed); empty: every type.
    #[serde(default)]
    pub types: Vec<String>,
    /// Further conditions, all of which must hold.
    #[serde(default, rename = "where")]
    pub conditions: Vec<Cond>,
    /// Fields forming the group key, AND'ed. `a|b` takes the first present
    /// of `a` and `b`, and the key names the field it took, so identities of
    /// different kinds never share a bucket.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Window length (`10m`, `24h`).
    #[serde(default)]
    pub window: Option<Duration>,
    /// Count (or distinct values) that alerts.
    #[serde(default)]
    pub threshold: Option<u64>,
    /// The counted (`value_count`), first-seen (`new_value`) or summed
    /// (`baseline`) field.
    #[serde(default)]
    pub field: Option<String>,
    /// `temporal_ordered`: the steps, in order.
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
    /// `new_value`: no alert before the detection has seen this much history.
    #[serde(default)]
    pub learning: Option<Duration>,
    /// `new_value`: no alert for an entity first seen less than this ago.
    #[serde(default)]
    pub entity_learning: Option<Duration>,
    /// `new_value`: only events of these types (`*` globs allowed) alert;
    /// the other events that match `types` and `where` only teach values
    /// (a user's IPs are learned from all of their events, the alert is
    /// about a key created from a new one). Empty: every matching event.
    #[serde(default)]
    pub alert_types: Vec<String>,
    /// `new_value` with `alert_types`: a value first seen (after the
    /// learning periods) less than this ago still counts as new on an
    /// alerting event, since an intruder signs in from the new IP before
    /// creating the key. Default: only a never-seen value.
    #[serde(default)]
    pub fresh: Option<Duration>,
    /// `baseline`: robust z-score that alerts (default 3.5).
    #[serde(default)]
    pub z: Option<f64>,
    /// `baseline`: absolute floor the hourly value must also reach.
    #[serde(default)]
    pub floor: Option<f64>,
    /// `baseline`: distinct days of history needed before alerting (default 7).
    #[serde(default)]
    pub min_history_days: Option<u32>,
    /// `baseline`: `robust_z` (default), `ewma` or `ewma_hour_of_week`.
    #[serde(default)]
    pub method: Option<super::baseline::Method>,
    /// `baseline` EWMA methods: weight of the newest hour (default 0.1).
    #[serde(default)]
    pub alpha: Option<f64>,
    /// `travel`: smallest distance that counts, km (default 500).
    #[serde(default)]
    pub min_km: Option<f64>,
    /// `travel`: smallest implied speed that counts, km/h (default 800).
    #[serde(default)]
    pub min_kmh: Option<f64>,
}

/// One step of a `temporal_ordered` detection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Event types of this step (`*` globs allowed).
    pub types: Vec<String>,
    /// Further conditions.
    #[serde(default, rename = "where")]
    pub conditions: Vec<Cond>,
    /// The field that carries the group key in this step's events (the
    /// alias: a grant's `details.target_id` is a later event's `actor.id`).
    /// Empty: the whole organization is one group.
    #[serde(default)]
    pub key: String,
    /// Events of this step needed (default 1).
    #[serde(default = "one")]
    pub min_count: u64,
}

fn one() -> u64 {
    1
}

/// An example: events (canonical form, abbreviated) and the detections that
/// must alert on them (none for a negative example).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// What it shows.
    pub name: String,
    /// Names of the detections that must alert, in any order; every other
    /// detection of the rule must stay silent.
    #[serde(default)]
    pub alerts: Vec<String>,
    /// The events, expanded by `repeat`.
    #[serde(rename = "events")]
    pub events: Vec<ExampleEvent>,
}

/// An example event template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleEvent {
    /// Offset from the example's start (`0s`, `9m59s` is not supported: use `599s`).
    pub at: Duration,
    /// How many copies (default 1); `{i}` in string values becomes the copy's index.
    #[serde(default = "one")]
    pub repeat: u64,
    /// Time between copies.
    #[serde(default)]
    pub every: Option<Duration>,
    /// The event's fields (`event_type`, `actor`, `details` ...).
    pub event: Value,
}

/// A duration written `<number><s|m|h|d>` (Sigma's `timespan` syntax).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration {
    /// Milliseconds.
    pub ms: i64,
}

impl Duration {
    /// Parse `<number><s|m|h|d>`.
    pub fn parse(text: &str) -> Option<Self> {
        let unit = text.chars().last()?;
        let number: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
        let factor = match unit {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            'd' => 86_400_000,
            _ => return None,
        };
        (number >= 0).then(|| Self {
            ms: number.saturating_mul(factor),
        })
    }

    /// Back to `<number><unit>`, in the largest unit that divides it.
    pub fn to_sigma(self) -> String {
        for (unit, factor) in [('d', 86_400_000), ('h', 3_600_000), ('m', 60_000)] {
            if self.ms % factor == 0 && self.ms > 0 {
                return format!("{}{unit}", self.ms / factor);
            }
        }
        format!("{}s", self.ms / 1000)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom("a duration is <number><s|m|h|d>, e.g. `10m` or `24h`")
        })
    }
}

/// The bundled rule files, `(file name, TOML text)`, generated by build.rs
/// from `plugin/data/rules/`.
pub const BUNDLED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/rules.rs"));

/// Parse the bundled rules. They are part of the build, so a broken file is
/// a bug the tests catch; the error names the file.
pub fn bundled() -> Result<Vec<RuleFile>, String> {
    BUNDLED
        .iter()
        .map(|(name, text)| {
            let rule: RuleFile = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
            if format!("{}.toml", rule.id) != *name {
                return Err(format!("{name}: the file name must be the rule id"));
            }
            Ok(rule)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(Duration::parse("10m").unwrap().ms, 600_000);
        assert_eq!(Duration::parse("24h").unwrap().to_sigma(), "1d");
        assert_eq!(Duration::parse("90m").unwrap().to_sigma(), "90m");
        assert!(Duration::parse("10").is_none());
        assert!(Duration::parse("m").is_none());
        assert!(Duration::parse("-1s").is_none());
    }
}
