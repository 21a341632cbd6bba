//! The `detections` plugin settings: on/off, per-rule enable/disable,
//! threshold overrides and suppressions. Validated against the rule pack, so
//! a misspelt rule id is a configuration error rather than a silent no-op.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::matcher::Cond;
use super::rule::{Duration, Severity};

/// `[plugin.detections]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectSettings {
    /// Run the rule pack. Default false: alerts are new lines in the event
    /// stream, so turning them on is the operator's decision.
    #[serde(default)]
    pub enabled: bool,
    /// Emit the informational findings: the parity signals (`PS-xx`) and
    /// the detections marked `signal` (e.g. `CL-12/created`). Default true.
    #[serde(default = "yes")]
    pub signals: bool,
    /// Rules (`CL-01`) or detections (`CL-01/spray`) to switch off.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Overrides of a rule's (`CL-19`) or one detection's (`CL-19/views`) defaults.
    #[serde(default)]
    pub overrides: BTreeMap<String, Override>,
    /// Alerts that are dropped (counted as suppressed, never emitted).
    #[serde(default)]
    pub suppress: Vec<Suppression>,
    /// Most group keys kept per detection; beyond it the least recently seen
    /// group is evicted (README: state bounds). Default 100000.
    #[serde(default = "default_max_groups")]
    pub max_groups: usize,
}

impl Default for DetectSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            signals: true,
            disable: Vec::new(),
            overrides: BTreeMap::new(),
            suppress: Vec::new(),
            max_groups: default_max_groups(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_max_groups() -> usize {
    100_000
}

/// New values for a detection's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Alert threshold.
    pub threshold: Option<u64>,
    /// Window length.
    pub window: Option<Duration>,
    /// Severity.
    pub severity: Option<Severity>,
    /// `new_value` learning periods.
    pub learning: Option<Duration>,
    /// `new_value` per-entity learning.
    pub entity_learning: Option<Duration>,
    /// `baseline` robust z.
    pub z: Option<f64>,
    /// `baseline` absolute floor.
    pub floor: Option<f64>,
    /// `baseline` days of history.
    pub min_history_days: Option<u32>,
}

/// An alert to drop: by rule (`CL-12` or `CL-12/created`) and group key, or
/// by a condition on the triggering event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    /// The rule or detection.
    pub rule: String,
    /// Exact group key (`actor.id=user_id:k1:...`): pseudonyms, never raw values.
    #[serde(default)]
    pub group_key: Option<String>,
    /// Conditions on the triggering event, all of which must hold.
    #[serde(default, rename = "where")]
    pub conditions: Vec<Cond>,
    /// Why (kept for the auditor; not used).
    #[serde(default)]
    pub reason: String,
}

impl Suppression {
    /// Whether this suppression names `rule_id` / `name`.
    pub fn names(&self, rule_id: &str, name: &str) -> bool {
        names(&self.rule, rule_id, name)
    }
}

/// Whether `selector` (`CL-01` or `CL-01/spray`) names the detection.
pub fn names(selector: &str, rule_id: &str, name: &str) -> bool {
    match selector.split_once('/') {
        Some((rule, detection)) => rule == rule_id && detection == name,
        None => selector == rule_id,
    }
}
