//! Redaction and pseudonymization of a canonical event.
//!
//! Decides nothing about *what* is sensitive on its own: the detectors
//! (`data/detectors.toml`) find values, the settings choose the action per
//! entity class and per field path. This module walks the event, applies
//! those decisions, and reports what it did (flags, data classes, counts,
//! paths) for the event's `redaction_metadata`.
//!
//! Secure defaults: every string is scanned except the structural fields
//! the schema controls (ids of the event itself, enums, timestamps);
//! secrets are always redacted; e-mails, user ids, IPs and phone numbers are
//! pseudonymized with the keyed HMAC; cards and IBANs are masked;
//! government and health identifiers are redacted.

pub mod detectors;
pub mod pseudonym;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::LazyLock;

use serde_json::Value;

use crate::config::{Action, FieldAction, RedactionSettings};
use crate::error::{ConfigError, ConfigErrorKind};
use detectors::{DataClass, DetectorSet, Finding};
use pseudonym::HmacKey;

static DETECTORS: LazyLock<DetectorSet> = LazyLock::new(DetectorSet::builtin);

/// Paths never scanned unless a user rule says otherwise: the schema's own
/// structural fields, which hold no user data.
const STRUCTURAL_PATHS: &[&str] = &[
    "schema_version",
    "event_id",
    "timestamp",
    "source.**",
    "event_type",
    "category",
    "action",
    "outcome",
    "organization_id",
    "organization_uuid",
    "request_id",
    "prompt_hash",
    "response_hash",
    "actor.type",
    "actor.kind",
    "resource.type",
    "policy_flags",
    "data_classes",
    "controls",
    "redaction_metadata.**",
    "retention_state.**",
    "unmapped.event_type",
    "unmapped.actor_type",
];

/// Containers whose members come from the source as-is: the only places
/// fail-closed mode drops fields.
const PASS_THROUGH_CONTAINERS: &[&str] = &["details", "unmapped.fields", "actor.attributes"];

/// The default action of an entity class.
fn default_action(entity: &str, data_class: DataClass) -> Action {
    match (entity, data_class) {
        (_, DataClass::Secret) => Action::Redact,
        ("email" | "user_id" | "ip" | "phone", _) => Action::Hmac,
        ("card" | "iban", _) => Action::Mask,
        _ => Action::Redact,
    }
}

/// A compiled path pattern: dotted segments, `*` one segment, `**` any.
#[derive(Debug, Clone)]
struct PathPattern(Vec<String>);

impl PathPattern {
    fn new(text: &str) -> Self {
        Self(text.split('.').map(str::to_owned).collect())
    }

    fn matches(&self, path: &[&str]) -> bool {
        fn go(pattern: &[String], path: &[&str]) -> bool {
            match pattern.split_first() {
                None => path.is_empty(),
                Some((seg, rest)) if seg == "**" => {
                    (0..=path.len()).any(|skip| go(rest, &path[skip..]))
                }
                Some((seg, rest)) => path
                    .split_first()
                    .is_some_and(|(p, tail)| (seg == "*" || seg == p) && go(rest, tail)),
            }
        }
        go(&self.0, path)
    }
}

/// One pseudonym -> original pair for the forensic vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultEntry {
    /// The pseudonym written to the event.
    pub pseudonym: String,
    /// The value it replaced.
    pub original: String,
    /// Its entity class.
    pub entity: String,
}

/// What redaction did to one event.
#[derive(Debug, Default)]
pub struct Report {
    /// Policy flags (`pii.email`, ...).
    pub flags: BTreeSet<String>,
    /// Data classes found.
    pub data_classes: BTreeSet<&'static str>,
    /// Values changed per entity class.
    pub counts: BTreeMap<String, u64>,
    /// Paths changed.
    pub paths: BTreeSet<String>,
    /// Paths dropped by fail-closed mode or `drop` rules.
    pub dropped: BTreeSet<String>,
    /// Pseudonym pairs for the vault (only when the vault is on).
    pub vault: Vec<VaultEntry>,
}

/// A configured redactor.
#[derive(Debug)]
pub struct Redactor {
    settings: RedactionSettings,
    key: HmacKey,
    /// `(pattern, action, entity)`: user rules, then structural `keep` rules.
    rules: Vec<(PathPattern, FieldAction, Option<String>)>,
    allow: Vec<PathPattern>,
    containers: Vec<PathPattern>,
    /// Action per detector, resolved once.
    actions: Vec<Action>,
}

impl Redactor {
    /// Build a redactor; refuses insecure entity actions.
    pub fn new(settings: RedactionSettings, key: HmacKey) -> Result<Self, ConfigError> {
        let detectors = DETECTORS.detectors();
        let known: HashSet<&str> = detectors.iter().map(|d| d.entity.as_str()).collect();
        for (entity, action) in &settings.entities {
            let path = format!("redaction.entities.{entity}");
            let invalid = |message: String| ConfigError {
                kind: ConfigErrorKind::InvalidValue,
                path: path.clone(),
                message,
            };
            if !known.contains(entity.as_str()) {
                let mut names: Vec<&str> = known.iter().copied().collect();
                names.sort_unstable();
                return Err(invalid(format!(
                    "unknown entity class; known: {}",
                    names.join(", ")
                )));
            }
            let secret = detectors
                .iter()
                .any(|d| d.entity == *entity && d.data_class == DataClass::Secret);
            if secret && !matches!(action, Action::Redact | Action::Drop) {
                return Err(invalid(
                    "secrets can only be redacted or dropped".to_owned(),
                ));
            }
        }
        let actions = detectors
            .iter()
            .map(|d| {
                settings
                    .entities
                    .get(&d.entity)
                    .copied()
                    .unwrap_or_else(|| default_action(&d.entity, d.data_class))
            })
            .collect();
        let rules = settings
            .fields
            .iter()
            .map(|r| (PathPattern::new(&r.path), r.action, r.entity.clone()))
            .chain(
                STRUCTURAL_PATHS
                    .iter()
                    .map(|p| (PathPattern::new(p), FieldAction::Keep, None)),
            )
            .collect();
        Ok(Self {
            allow: settings
                .allow_fields
                .iter()
                .map(|p| PathPattern::new(p))
                .collect(),
            containers: PASS_THROUGH_CONTAINERS
                .iter()
                .map(|p| PathPattern::new(&format!("{p}.*")))
                .collect(),
            settings,
            key,
            rules,
            actions,
        })
    }

    /// The id of the key that pseudonymizes.
    pub fn key_id(&self) -> &str {
        &self.key.id
    }

    /// The policy version written to events.
    pub fn policy_version(&self) -> &str {
        &self.settings.policy_version
    }

    /// Redact `event` in place.
    pub fn redact(&self, event: &mut Value, report: &mut Report) {
        let mut path = Vec::new();
        self.walk(event, &mut path, report);
    }

    fn rule_for(&self, path: &[&str]) -> Option<(FieldAction, Option<&str>)> {
        self.rules
            .iter()
            .find(|(pattern, _, _)| pattern.matches(path))
            .map(|(_, action, entity)| (*action, entity.as_deref()))
    }

    fn walk(&self, value: &mut Value, path: &mut Vec<String>, report: &mut Report) {
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        let rule = self.rule_for(&segments);
        match rule {
            Some((FieldAction::Keep, _)) => return,
            Some((FieldAction::Scan, _)) | None => {}
            Some((action, entity)) => {
                let entity = entity.or(segments.last().copied()).unwrap_or("field");
                self.whole_field(value, action, entity, &segments.join("."), report);
                return;
            }
        }
        match value {
            Value::String(text) => {
                if let Some(new) = self.scan(text, report) {
                    *text = new;
                    report.paths.insert(segments.join("."));
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.walk(item, path, report);
                }
            }
            Value::Object(members) => {
                let mut drop = Vec::new();
                for (key, member) in members.iter_mut() {
                    path.push(key.clone());
                    if self.dropped_by_policy(path) {
                        drop.push(key.clone());
                    } else {
                        self.walk(member, path, report);
                    }
                    path.pop();
                }
                for key in drop {
                    members.shift_remove(&key);
                    let mut full = path.clone();
                    full.push(key);
                    report.dropped.insert(full.join("."));
                }
            }
            _ => {}
        }
    }

    /// Whether fail-closed mode or a `drop` rule removes the field at `path`.
    fn dropped_by_policy(&self, path: &[String]) -> bool {
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        if matches!(self.rule_for(&segments), Some((FieldAction::Drop, _))) {
            return true;
        }
        self.settings.fail_closed
            && self.containers.iter().any(|c| c.matches(&segments))
            && !self.allow.iter().any(|a| a.matches(&segments))
    }

    /// Apply a whole-field action (not `drop`, handled by the parent).
    fn whole_field(
        &self,
        value: &mut Value,
        action: FieldAction,
        entity: &str,
        path: &str,
        report: &mut Report,
    ) {
        if value.is_null() {
            return;
        }
        let text = match &mut *value {
            Value::String(s) => std::mem::take(s),
            other => other.to_string(),
        };
        let replaced = match action {
            FieldAction::Hmac => self.pseudonymize(entity, &text, report),
            FieldAction::Mask => mask(&text),
            FieldAction::Redact | FieldAction::Drop => placeholder(entity),
            FieldAction::Scan | FieldAction::Keep => return,
        };
        *value = Value::String(replaced);
        *report.counts.entry(entity.to_owned()).or_default() += 1;
        report.paths.insert(path.to_owned());
    }

    /// Scan one string; `Some(new text)` if anything was replaced.
    fn scan(&self, text: &str, report: &mut Report) -> Option<String> {
        let mut findings: Vec<Finding> = Vec::new();
        DETECTORS.scan(text, &mut findings);
        if findings.is_empty() {
            return None;
        }
        let detectors = DETECTORS.detectors();
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut changed = false;
        for f in &findings {
            let detector = &detectors[f.detector];
            report.flags.insert(detector.flag.clone());
            report.data_classes.insert(detector.data_class.as_str());
            let original = &text[f.start..f.end];
            let replacement = match self.actions[f.detector] {
                Action::Keep => continue,
                Action::Hmac => self.pseudonymize(&detector.entity, original, report),
                Action::Mask => mask(original),
                Action::Redact => placeholder(&detector.entity),
                Action::Drop => String::new(),
            };
            out.push_str(&text[last..f.start]);
            out.push_str(&replacement);
            last = f.end;
            changed = true;
            *report.counts.entry(detector.entity.clone()).or_default() += 1;
        }
        changed.then(|| {
            out.push_str(&text[last..]);
            out
        })
    }

    fn pseudonymize(&self, entity: &str, original: &str, report: &mut Report) -> String {
        let pseudonym = self.key.pseudonym(entity, original);
        if self.settings.vault && !report.vault.iter().any(|v| v.pseudonym == pseudonym) {
            report.vault.push(VaultEntry {
                pseudonym: pseudonym.clone(),
                original: original.to_owned(),
                entity: entity.to_owned(),
            });
        }
        pseudonym
    }
}

/// The typed placeholder of a redacted value.
fn placeholder(entity: &str) -> String {
    format!("[REDACTED:{entity}]")
}

/// Star every letter and digit but the last four; keep separators.
fn mask(text: &str) -> String {
    let alnum = text.chars().filter(|c| c.is_alphanumeric()).count();
    let mut seen = 0;
    text.chars()
        .map(|c| {
            if !c.is_alphanumeric() {
                return c;
            }
            seen += 1;
            if seen + 4 > alnum { c } else { '*' }
        })
        .collect()
}

#[cfg(test)]
mod tests;
