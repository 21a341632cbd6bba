//! Plugin settings: the JSON document handed to `configure`.
//!
//! Every option is documented here and in the README ("Plugin settings");
//! unknown keys are refused so that a typo cannot silently weaken a policy.
//! This module parses and validates; it does not apply anything.

use std::collections::HashSet;

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
    /// `include_types` as a set, for the per-record lookup.
    #[serde(skip)]
    include_set: HashSet<String>,
    /// `exclude_types` as a set.
    #[serde(skip)]
    exclude_set: HashSet<String>,
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
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            class: default_retention_class(),
            days: DEFAULT_RETENTION_DAYS,
            legal_hold: false,
        }
    }
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
