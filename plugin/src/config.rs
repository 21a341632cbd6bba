//! Plugin settings: the JSON document handed to `configure`.
//!
//! Every option is documented here and in the README ("Plugin settings");
//! unknown keys are refused so that a typo cannot silently weaken a policy.
//! This module parses and validates; it does not apply anything.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::error::{ConfigError, ConfigErrorKind};

/// Six years: the Activity Feed's own retention (SPEC section 6), and the
/// HIPAA documentation retention period (45 CFR 164.316(b)(2)).
const DEFAULT_RETENTION_DAYS: u32 = 2192;

/// Longest accepted retention period (100 years): beyond it a date
/// computation could overflow and no audit programme asks for more.
const MAX_RETENTION_DAYS: u32 = 36_525;

/// The plugin settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Settings {
    /// Emit only these activity types (empty or absent: all types). Records
    /// of other types are counted as `filtered`, never silently dropped.
    #[serde(default)]
    pub include_types: Vec<String>,
    /// Never emit these activity types (counted as `filtered`). Applied
    /// after `include_types`. Typical use: the poller's own
    /// `compliance_api_accessed` noise.
    #[serde(default)]
    pub exclude_types: Vec<String>,
    /// How long the evidence must be kept.
    #[serde(default)]
    pub retention: RetentionSettings,
    /// What to redact and how.
    #[serde(default)]
    pub redaction: RedactionSettings,
    /// The schema events are written in: `canonical` (default), `ocsf`,
    /// `ecs`. Applied last, to the finished canonical event.
    #[serde(default)]
    pub profile: crate::profile::Profile,
    /// The detection rule pack (README, "Detections").
    #[serde(default)]
    pub detections: crate::detect::settings::DetectSettings,
    /// Conversation content (the host's top-level `[content]` table;
    /// README, "Conversation content").
    #[serde(default)]
    pub content: crate::content::ContentSettings,
    /// The part of the work this instance does (set by the host, never in
    /// a configuration file: see [`Stage`]). Default: all of it.
    #[serde(default)]
    pub stage: Stage,
    /// The IP enrichment databases (`[geoip]`, handed over as bytes by the
    /// host, never in this JSON); `None` when none is configured.
    #[serde(skip)]
    pub geoip: Option<std::sync::Arc<crate::enrich::GeoIp>>,
    /// `include_types` as a set, for the per-record lookup.
    #[serde(skip)]
    include_set: HashSet<String>,
    /// `exclude_types` as a set.
    #[serde(skip)]
    exclude_set: HashSet<String>,
}

/// The part of the work an instance does.
///
/// The host may run detections on an instance of their own, on a thread of
/// their own: the instances that normalize and redact (one or several, with
/// `--workers`) then run with detections off and the canonical profile, and
/// their events go, in input order, through one instance in the `detect`
/// stage, which runs the rule pack and applies the profile. Detection then
/// overlaps normalization instead of adding to it, and its state stays in
/// one instance whatever the number of workers (README, "Detections").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Stage {
    /// Normalize, redact, detect (when enabled) and apply the profile.
    #[default]
    Whole,
    /// The lines are this plugin's own canonical events, written by an
    /// instance in the `whole` stage with detections off and the canonical
    /// profile: only the rule pack and the profile run. Needs
    /// `detections.enabled`.
    Detect {
        /// Whether the events were enriched from GeoIP databases (the
        /// rules that read the derived fields are active only then).
        enriched: bool,
    },
}

/// Retention written to every event's `retention_state`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RetentionSettings {
    /// Retention class name, e.g. `audit_log`. Default `audit_log`.
    #[serde(default = "default_retention_class")]
    pub class: String,
    /// Days to keep an event after its timestamp. Default 2192 (six years).
    #[serde(default = "default_retention_days")]
    pub days: u32,
    /// Put every event under legal hold (never delete, whatever `days`
    /// says). Default false.
    #[serde(default)]
    pub legal_hold: bool,
    /// Retention periods of further classes, in days. Default
    /// `{ phi = 2192 }` (HIPAA 164.316(b)(2): six years).
    #[serde(default = "default_retention_classes")]
    pub classes: BTreeMap<String, u32>,
    /// Retention class of events carrying a data class, e.g.
    /// `{ phi = "phi" }` (the default). The first of phi, secret, financial,
    /// pii with a rule wins; events without one get `class`.
    #[serde(default = "default_data_class_retention")]
    pub data_classes: BTreeMap<String, String>,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            class: default_retention_class(),
            days: DEFAULT_RETENTION_DAYS,
            legal_hold: false,
            classes: default_retention_classes(),
            data_classes: default_data_class_retention(),
        }
    }
}

fn default_retention_classes() -> BTreeMap<String, u32> {
    BTreeMap::from([("phi".to_owned(), DEFAULT_RETENTION_DAYS)])
}

fn default_data_class_retention() -> BTreeMap<String, String> {
    BTreeMap::from([("phi".to_owned(), "phi".to_owned())])
}

impl RetentionSettings {
    /// The retention class and period of an event with these data classes.
    pub fn class_for(&self, data_classes: &[&str]) -> (&str, u32) {
        let chosen = ["phi", "secret", "financial", "pii"]
            .iter()
            .filter(|d| data_classes.contains(d))
            .find_map(|d| self.data_classes.get(*d));
        match chosen {
            Some(class) => (class, self.classes.get(class).copied().unwrap_or(self.days)),
            None => (&self.class, self.days),
        }
    }
}

/// What to do with a sensitive value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Replace with a keyed pseudonym `<entity>:<key-id>:<base32>`.
    Hmac,
    /// Keep the last four characters, star the rest.
    Mask,
    /// Replace with `[REDACTED:<entity>]`.
    Redact,
    /// Remove (the field, or the matched text).
    Drop,
    /// Leave as is (still flagged).
    Keep,
}

/// What to do with a field, by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldAction {
    /// Run the detectors over the field's strings (the default).
    Scan,
    /// Pseudonymize the whole value.
    Hmac,
    /// Mask the whole value.
    Mask,
    /// Replace the whole value with a placeholder.
    Redact,
    /// Remove the field.
    Drop,
    /// Leave the field alone, unscanned.
    Keep,
}

/// One field rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// Dotted event path; `*` matches one segment, `**` any number.
    pub path: String,
    /// What to do with matching fields.
    pub action: FieldAction,
    /// Entity name for whole-field actions (pseudonym prefix, counts).
    /// Default: the field's last path segment.
    #[serde(default)]
    pub entity: Option<String>,
}

/// Redaction settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionSettings {
    /// Redact at all. Default true: turning it off must be explicit.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Free-form version of this policy, written to every event.
    #[serde(default = "default_policy_version")]
    pub policy_version: String,
    /// Action per entity class, overriding the defaults (README table).
    /// Secrets accept only `redact` or `drop`.
    #[serde(default)]
    pub entities: BTreeMap<String, Action>,
    /// Field rules; the first matching rule wins, before the built-in ones.
    #[serde(default)]
    pub fields: Vec<FieldRule>,
    /// Fail closed: drop every field under `details`, `unmapped.fields` and
    /// `actor.attributes` that `allow_fields` does not list.
    #[serde(default)]
    pub fail_closed: bool,
    /// Paths kept in fail-closed mode (same wildcards as `fields`).
    #[serde(default)]
    pub allow_fields: Vec<String>,
    /// Report pseudonym -> original pairs for the forensic vault (set by the
    /// host when a vault is configured).
    #[serde(default)]
    pub vault: bool,
    /// Keep placeholder-shaped secrets (`xoxb-1234`, `AKIA...EXAMPLE`),
    /// reported as `secret_possible`. Default false: a missed secret costs
    /// more than a redacted example.
    #[serde(default)]
    pub keep_possible_secrets: bool,
}

impl Default for RedactionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            policy_version: default_policy_version(),
            entities: BTreeMap::new(),
            fields: Vec::new(),
            fail_closed: false,
            allow_fields: Vec::new(),
            vault: false,
            keep_possible_secrets: false,
        }
    }
}

const fn default_true() -> bool {
    true
}

fn default_policy_version() -> String {
    "default-1".to_owned()
}

fn default_retention_class() -> String {
    "audit_log".to_owned()
}

const fn default_retention_days() -> u32 {
    DEFAULT_RETENTION_DAYS
}

impl Settings {
    /// Parse and validate a settings document.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(json);
        let settings: Settings =
            serde_path_to_error::deserialize(&mut de).map_err(|e| parse_error(&e))?;
        de.end().map_err(|e| ConfigError {
            kind: ConfigErrorKind::InvalidSyntax,
            path: String::new(),
            message: e.to_string(),
        })?;
        settings.validate()?;
        let mut settings = settings;
        settings.include_set = settings.include_types.iter().cloned().collect();
        settings.exclude_set = settings.exclude_types.iter().cloned().collect();
        Ok(settings)
    }

    /// Whether the type filter lets `event_type` through.
    pub fn allows_type(&self, event_type: &str) -> bool {
        (self.include_set.is_empty() || self.include_set.contains(event_type))
            && !self.exclude_set.contains(event_type)
    }

    /// Cross-field checks that serde cannot express.
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |path: &str, message: String| ConfigError {
            kind: ConfigErrorKind::InvalidValue,
            path: path.to_owned(),
            message,
        };
        if self.retention.days == 0 || self.retention.days > MAX_RETENTION_DAYS {
            return Err(invalid(
                "retention.days",
                format!("must be between 1 and {MAX_RETENTION_DAYS}"),
            ));
        }
        if let Some((class, _)) = self
            .retention
            .classes
            .iter()
            .find(|(_, d)| **d == 0 || **d > MAX_RETENTION_DAYS)
        {
            return Err(invalid(
                &format!("retention.classes.{class}"),
                format!("must be between 1 and {MAX_RETENTION_DAYS}"),
            ));
        }
        self.content.validate()?;
        if matches!(self.stage, Stage::Detect { .. }) && !self.detections.enabled {
            return Err(invalid(
                "stage",
                "the detect stage runs the rule pack: it needs detections.enabled".to_owned(),
            ));
        }
        if self.content.writes_text() && !self.redaction.enabled {
            return Err(invalid(
                "content",
                "writing conversation text needs redaction on (its detectors decide what is \
                 replaced and flagged); use content.policy = \"drop\" or enable redaction"
                    .to_owned(),
            ));
        }
        if self.retention.class.is_empty() {
            return Err(invalid("retention.class", "must not be empty".to_owned()));
        }
        let included: HashSet<&str> = self.include_types.iter().map(String::as_str).collect();
        if let Some(both) = self
            .exclude_types
            .iter()
            .find(|t| included.contains(t.as_str()))
        {
            return Err(invalid(
                "exclude_types",
                format!("type `{both}` is both included and excluded"),
            ));
        }
        Ok(())
    }
}

fn parse_error(e: &serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    let inner = e.inner();
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let message = inner.to_string();
    let kind = if inner.is_syntax() || inner.is_eof() {
        ConfigErrorKind::InvalidSyntax
    } else if message.starts_with("unknown field") {
        ConfigErrorKind::UnknownField
    } else {
        ConfigErrorKind::InvalidValue
    };
    ConfigError {
        kind,
        path,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_document_gives_defaults() {
        let s = Settings::from_json("{}").unwrap();
        assert_eq!(s.retention.days, DEFAULT_RETENTION_DAYS);
        assert_eq!(s.retention.class, "audit_log");
        assert!(s.include_types.is_empty());
    }

    #[test]
    fn unknown_key_is_refused_with_its_path() {
        let e = Settings::from_json(r#"{"retention":{"dayz":3}}"#).unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::UnknownField);
        assert_eq!(e.path, "retention.dayz");
        assert!(e.message.contains("dayz"), "{e}");
    }

    #[test]
    fn bad_syntax_and_bad_values_are_typed() {
        let e = Settings::from_json("{").unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::InvalidSyntax);
        let e = Settings::from_json(r#"{"retention":{"days":0}}"#).unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::InvalidValue);
        assert_eq!(e.path, "retention.days");
        let e = Settings::from_json(r#"{"include_types":"x"}"#).unwrap_err();
        assert_eq!(e.kind, ConfigErrorKind::InvalidValue);
        assert_eq!(e.path, "include_types");
        let e =
            Settings::from_json(r#"{"include_types":["a"],"exclude_types":["a"]}"#).unwrap_err();
        assert_eq!(e.path, "exclude_types");
    }

    #[test]
    fn type_filter_includes_then_excludes() {
        let s = Settings::from_json(r#"{"exclude_types":["noise"]}"#).unwrap();
        assert!(s.allows_type("x") && !s.allows_type("noise"));
        let s = Settings::from_json(r#"{"include_types":["a","b"]}"#).unwrap();
        assert!(s.allows_type("a") && !s.allows_type("c"));
        assert!(Settings::default().allows_type("anything"));
    }
}

/// Default of `[input] max_record_bytes`: 1 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;
/// Upper bound of `[input] max_record_bytes` (64 MiB): above it a single
/// record could break the memory bound of the host and of the filter.
pub const MAX_MAX_RECORD_BYTES: usize = 64 << 20;

/// `[input]` of a configuration file: how records are read. Shared by the
/// host's `--config` and the Fluent Bit module's `claude-audit.toml`, so
/// both accept the same table with the same default and bound.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Longest accepted record, in bytes (default 1 MiB, at most 64 MiB).
    /// Longer records are dead-lettered as `too_long`.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
}

impl Default for InputConfig {
    fn default() -> Self {
        Self {
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

const fn default_max_record_bytes() -> usize {
    DEFAULT_MAX_RECORD_BYTES
}

impl InputConfig {
    /// Check the bound; the message names the option.
    pub fn check(&self) -> Result<(), String> {
        let max = self.max_record_bytes;
        if (1..=MAX_MAX_RECORD_BYTES).contains(&max) {
            Ok(())
        } else {
            Err(format!(
                "input.max_record_bytes must be between 1 and {MAX_MAX_RECORD_BYTES}, not {max}"
            ))
        }
    }
}
