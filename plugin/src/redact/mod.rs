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

pub mod coverage;
pub mod detectors;
pub mod encoded;
pub mod eval;
pub mod phone;
pub mod pseudonym;
pub mod validate;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::Value;
use serde_json::value::RawValue;

use crate::config::{Action, FieldAction, RedactionSettings};
use crate::error::{ConfigError, ConfigErrorKind};
pub use coverage::Coverage;
#[cfg(test)]
use coverage::DETECTORS;
use detectors::{DataClass, Finding};
use pseudonym::{HmacKey, HmacState};

/// Top-level fields never scanned unless a user rule says otherwise: the
/// schema's own structural fields, which hold no user data.
const STRUCTURAL_TOP_LEVEL: &[&str] = &[
    "schema_version",
    "event_id",
    "timestamp",
    "source",
    "event_type",
    "category",
    "action",
    "outcome",
    "organization_id",
    "organization_uuid",
    "request_id",
    "prompt_hash",
    "response_hash",
    "policy_flags",
    "data_classes",
    "controls",
    "redaction_metadata",
    "retention_state",
];

/// Whether `path` is structural (see [`STRUCTURAL_TOP_LEVEL`]); also the
/// enum-valued `actor.type`, `actor.kind`, `resource.type` and the
/// `unmapped` flags. A plain match: this runs for every node of every event.
fn is_structural(path: &[&str]) -> bool {
    match path {
        [top, ..] if STRUCTURAL_TOP_LEVEL.contains(top) => true,
        ["actor", "type" | "kind"] | ["resource", "type"] => true,
        ["unmapped", "event_type" | "actor_type"] => true,
        _ => false,
    }
}

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

/// What redaction made of one value.
#[derive(Debug, Clone, PartialEq)]
pub enum Redacted {
    /// Nothing to change: write the original.
    Unchanged,
    /// Write this instead.
    Replaced(Value),
    /// Leave the field out.
    Dropped,
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
    /// Policy flags (`pii.email`, ...), borrowed from the static detector set.
    pub flags: BTreeSet<&'static str>,
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

impl Report {
    /// Add what redaction found in one part of an event, redacted apart
    /// (`Redactor::redact_at`), to the event's report. Sets and counts do
    /// not depend on the order of the walk; vault pairs do, so a part with
    /// vault pairs must not be redacted apart (see `Redactor::vault`).
    pub fn absorb(&mut self, part: &Report) {
        // Called for every scanned string (a cache hit replays its part),
        // and most found nothing: then even the empty `extend`s of six
        // collections cost more than the rest of a cache hit.
        if part.is_empty() {
            return;
        }
        // Allocate only for what is new to this event. Plain loops, not
        // `extend`: its generic fold cost more than the inserts it made.
        for &flag in &part.flags {
            self.flags.insert(flag);
        }
        for &class in &part.data_classes {
            self.data_classes.insert(class);
        }
        for (entity, count) in &part.counts {
            match self.counts.get_mut(entity) {
                Some(n) => *n += count,
                None => {
                    self.counts.insert(entity.clone(), *count);
                }
            }
        }
        for (mine, theirs) in [
            (&mut self.paths, &part.paths),
            (&mut self.dropped, &part.dropped),
        ] {
            for path in theirs {
                if !mine.contains(path) {
                    mine.insert(path.clone());
                }
            }
        }
        if !part.vault.is_empty() {
            self.vault.extend(part.vault.iter().cloned());
        }
    }

    /// Whether redaction found and did nothing.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
            && self.data_classes.is_empty()
            && self.counts.is_empty()
            && self.paths.is_empty()
            && self.dropped.is_empty()
            && self.vault.is_empty()
    }

    /// Count one changed value of `entity`; allocates only for the first
    /// value of an entity in the event.
    fn count(&mut self, entity: &str) {
        match self.counts.get_mut(entity) {
            Some(n) => *n += 1,
            None => {
                self.counts.insert(entity.to_owned(), 1);
            }
        }
    }

    /// The event's `redaction_metadata` object (canonical schema): what was
    /// applied, under which policy and key, and what changed where.
    pub fn metadata(&self, redactor: Option<&Redactor>) -> serde_json::Value {
        serde_json::json!({
            "applied": redactor.is_some(),
            "policy_version": redactor.map(Redactor::policy_version),
            "key_id": redactor.map(Redactor::key_id),
            "counts": self.counts,
            "paths": self.paths,
            "dropped": self.dropped,
        })
    }
}

/// A configured redactor.
#[derive(Debug)]
pub struct Redactor {
    settings: RedactionSettings,
    key: HmacKey,
    /// `(pattern, action, entity)`: the user's field rules, in order.
    rules: Vec<(PathPattern, FieldAction, Option<String>)>,
    /// HMAC state with the key already absorbed, cloned per pseudonym.
    mac: HmacState,
    /// Recent pseudonyms: the same users and addresses recur in every batch.
    cache: RefCell<PseudonymCache>,
    /// Recent scans of short strings: the same user agents, addresses, user
    /// ids and object keys recur in most events of a stream.
    scans: RefCell<ScanCache>,
    allow: Vec<PathPattern>,
    containers: Vec<PathPattern>,
    /// Action per detector, resolved once.
    actions: Vec<Action>,
    /// What it scans with (always everything but in the benchmark).
    coverage: Coverage,
}

impl Redactor {
    /// Build a redactor; refuses insecure entity actions.
    pub fn new(settings: RedactionSettings, key: HmacKey) -> Result<Self, ConfigError> {
        Self::with_coverage(settings, key, Coverage::full())
    }

    /// A redactor that scans with `coverage` (the benchmark's switch).
    pub fn with_coverage(
        settings: RedactionSettings,
        key: HmacKey,
        coverage: Coverage,
    ) -> Result<Self, ConfigError> {
        // Entity names are checked against the full set: a setting valid in
        // a run stays valid when the benchmark leaves a family out.
        let known: HashSet<&str> = coverage::DETECTORS
            .detectors()
            .iter()
            .map(|d| d.entity.as_str())
            .collect();
        let detectors = coverage.detectors.detectors();
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
            mac: key.mac_state(),
            key,
            rules,
            actions,
            cache: RefCell::new(PseudonymCache::default()),
            scans: RefCell::new(ScanCache::default()),
            coverage,
        })
    }

    /// The id of the key that pseudonymizes.
    pub fn key_id(&self) -> &str {
        &self.key.id
    }

    /// The keyed content hash of `text` under this redactor's key
    /// (`crate::content_hash::keyed`).
    pub fn content_hash(&self, text: &str) -> String {
        crate::content_hash::keyed(&self.key, text)
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

    /// Redact `value` as the walk of a whole event redacts it at `path`
    /// (rules, keys, strings), so that a part shared by many events can be
    /// redacted once and its report absorbed into each ([`Report::absorb`]).
    pub fn redact_at(&self, path: &[&str], value: &mut Value, report: &mut Report) {
        let mut path = path.to_vec();
        self.walk(value, &mut path, report);
    }

    /// Whether pseudonym pairs are reported for the vault: their order
    /// follows the walk, so then nothing may be redacted apart.
    pub fn vault(&self) -> bool {
        self.settings.vault
    }

    /// Redact one string field of an event at `path`.
    pub fn redact_str(&self, path: &[&str], text: &str, report: &mut Report) -> Redacted {
        match self.rule_for(path) {
            Some((FieldAction::Keep, _)) => Redacted::Unchanged,
            Some((FieldAction::Drop, _)) => {
                report.dropped.insert(path.join("."));
                Redacted::Dropped
            }
            Some((FieldAction::Scan, _)) | None => match self.scan(text, report) {
                Some(new) => {
                    report.paths.insert(path.join("."));
                    Redacted::Replaced(Value::String(new))
                }
                None => Redacted::Unchanged,
            },
            Some((action, entity)) => {
                let mut value = Value::String(text.to_owned());
                let entity = entity.or(path.last().copied()).unwrap_or("field");
                self.whole_field(&mut value, action, entity, &path.join("."), report);
                Redacted::Replaced(value)
            }
        }
    }

    /// Redact one raw JSON value of an event at `path` (a pass-through
    /// member). Objects and arrays are only parsed when the prefilter sees
    /// something in their raw text, or when rules could apply inside.
    pub fn redact_raw(&self, path: &[&str], raw: &RawValue, report: &mut Report) -> Redacted {
        if let Some(text) = crate::json::as_str(raw) {
            return self.redact_str(path, text.as_str(), report);
        }
        let json = raw.get();
        let nested = json.starts_with('{') || json.starts_with('[');
        let quiet = !json.contains('\\')
            && self.coverage.detectors.is_quiet(json)
            && !(self.coverage.decode && encoded::may_hide(json));
        if !nested || (quiet && self.rules.is_empty() && !self.settings.fail_closed) {
            // A number, bool or null holds nothing to scan; a quiet
            // container holds no candidate for any detector. Whole-field
            // rules still apply.
            return match self.rule_for(path) {
                Some((FieldAction::Keep | FieldAction::Scan, _)) | None => Redacted::Unchanged,
                Some(_) => self.redact_parsed(path, json, report),
            };
        }
        self.redact_parsed(path, json, report)
    }

    fn redact_parsed(&self, path: &[&str], json: &str, report: &mut Report) -> Redacted {
        let Ok(mut value) = serde_json::from_str::<Value>(json) else {
            return Redacted::Unchanged; // unreachable: the record parsed already
        };
        if let Some((FieldAction::Drop, _)) = self.rule_for(path) {
            report.dropped.insert(path.join("."));
            return Redacted::Dropped;
        }
        let mut owned: Vec<&str> = path.to_vec();
        self.walk(&mut value, &mut owned, report);
        Redacted::Replaced(value)
    }

    /// Whether the member at `path` of a pass-through container is removed
    /// by a `drop` rule or fail-closed mode (recorded in the report).
    pub fn member_dropped(&self, path: &[&str], report: &mut Report) -> bool {
        if self.rules.is_empty() && !self.settings.fail_closed {
            return false;
        }
        let dropped = self.dropped_by_policy(path);
        if dropped {
            report.dropped.insert(path.join("."));
        }
        dropped
    }

    /// The user's rule for `path`, else `keep` for structural fields.
    fn rule_for(&self, path: &[&str]) -> Option<(FieldAction, Option<&str>)> {
        let user = self
            .rules
            .iter()
            .find(|(pattern, _, _)| pattern.matches(path))
            .map(|(_, action, entity)| (*action, entity.as_deref()));
        user.or_else(|| is_structural(path).then_some((FieldAction::Keep, None)))
    }

    fn walk<'v>(&self, value: &'v mut Value, path: &mut Vec<&'v str>, report: &mut Report) {
        match self.rule_for(path) {
            Some((FieldAction::Keep, _)) => return,
            Some((FieldAction::Scan, _)) | None => {}
            Some((action, entity)) => {
                let entity = entity.or(path.last().copied()).unwrap_or("field");
                self.whole_field(value, action, entity, &path.join("."), report);
                return;
            }
        }
        match value {
            Value::String(text) => {
                if let Some(new) = self.scan(text, report) {
                    *text = new;
                    report.paths.insert(path.join("."));
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.walk(item, path, report);
                }
            }
            Value::Object(members) => {
                self.redact_keys(members, path, report);
                if !self.rules.is_empty() || self.settings.fail_closed {
                    self.drop_members(members, path, report);
                }
                for (key, member) in members.iter_mut() {
                    path.push(key.as_str());
                    self.walk(member, path, report);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    /// Remove the members of an object that `drop` rules or fail-closed
    /// mode exclude, recording their paths.
    fn drop_members(
        &self,
        members: &mut serde_json::Map<String, Value>,
        path: &[&str],
        report: &mut Report,
    ) {
        let doomed: Vec<String> = members
            .keys()
            .filter(|key| {
                let mut full: Vec<&str> = path.to_vec();
                full.push(key.as_str());
                self.dropped_by_policy(&full)
            })
            .cloned()
            .collect();
        for key in doomed {
            members.shift_remove(&key);
            let mut full: Vec<&str> = path.to_vec();
            full.push(&key);
            report.dropped.insert(full.join("."));
        }
    }

    /// Whether fail-closed mode or a `drop` rule removes the field at `path`.
    fn dropped_by_policy(&self, path: &[&str]) -> bool {
        if matches!(self.rule_for(path), Some((FieldAction::Drop, _))) {
            return true;
        }
        self.settings.fail_closed
            && self.containers.iter().any(|c| c.matches(path))
            && !self.allow.iter().any(|a| a.matches(path))
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
        report.count(entity);
        report.paths.insert(path.to_owned());
    }

    /// The redacted form of an object key (`None`: keep it). A key holding
    /// an e-mail address or a token is as sensitive as a value.
    pub fn redact_key(&self, key: &str, report: &mut Report) -> Option<String> {
        if !self.coverage.keys {
            return None;
        }
        self.scan(key, report)
    }

    /// Redact the keys of `members` in place (keeping their order); keys
    /// that collide once redacted are all kept, with a suffix.
    fn redact_keys(
        &self,
        members: &mut serde_json::Map<String, Value>,
        path: &[&str],
        report: &mut Report,
    ) {
        let renamed: Vec<Option<String>> = members
            .keys()
            .map(|key| self.redact_key(key, report))
            .collect();
        if renamed.iter().all(Option::is_none) {
            return;
        }
        let old = std::mem::take(members);
        for ((key, value), new) in old.into_iter().zip(renamed) {
            let changed = new.is_some();
            let name = unique_key(new.unwrap_or(key), |k| members.contains_key(k));
            if changed {
                let mut full: Vec<&str> = path.to_vec();
                full.push(&name);
                report.paths.insert(full.join("."));
            }
            members.insert(name, value);
        }
    }

    /// Scan one string, plain and decoded; `Some(new text)` if anything was
    /// replaced. A short string seen lately is answered from the cache, with
    /// the same effect on `report` as its first scan had.
    fn scan(&self, text: &str, report: &mut Report) -> Option<String> {
        // With the vault on, the pairs reported depend on what the event
        // reported before; the cache only holds what does not.
        if self.settings.vault || text.len() > SCAN_CACHE_MAX_LEN {
            return self.scan_uncached(text, report);
        }
        if let Some((new, effects)) = self.scans.borrow().get(text) {
            report.absorb(effects);
            return new.map(str::to_owned);
        }
        let mut effects = Report::default();
        let new = self.scan_uncached(text, &mut effects);
        report.absorb(&effects);
        self.scans
            .borrow_mut()
            .insert(text, new.as_deref(), effects);
        new
    }

    /// [`Redactor::scan`] without the cache.
    fn scan_uncached(&self, text: &str, report: &mut Report) -> Option<String> {
        let plain = self.scan_plain(text, report);
        let current = plain.as_deref().unwrap_or(text);
        if !self.coverage.decode || !encoded::may_hide(current) {
            return plain;
        }
        encoded::rewrite(current, &mut |inner| self.scan_plain(inner, report)).or(plain)
    }

    /// Scan one string as it is written.
    fn scan_plain(&self, text: &str, report: &mut Report) -> Option<String> {
        let mut findings: Vec<Finding> = Vec::new();
        self.coverage.detectors.scan(text, &mut findings);
        if findings.is_empty() {
            return None;
        }
        let detectors: &'static [detectors::Detector] = self.coverage.detectors.detectors();
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut changed = false;
        for f in &findings {
            let detector = &detectors[f.detector];
            let original = &text[f.start..f.end];
            let replacement = if f.possible {
                report.flags.insert(POSSIBLE_SECRET);
                report.data_classes.insert(DataClass::Secret.as_str());
                if self.settings.keep_possible_secrets {
                    continue;
                }
                report.count(POSSIBLE_SECRET);
                placeholder(&detector.entity)
            } else {
                report.flags.insert(detector.flag.as_str());
                report.data_classes.insert(detector.data_class.as_str());
                let replacement = match self.actions[f.detector] {
                    Action::Keep => continue,
                    Action::Hmac => self.pseudonymize(&detector.entity, original, report),
                    Action::Mask => mask(original),
                    Action::Redact => placeholder(&detector.entity),
                    Action::Drop => String::new(),
                };
                report.count(&detector.entity);
                replacement
            };
            out.push_str(&text[last..f.start]);
            out.push_str(&replacement);
            last = f.end;
            changed = true;
        }
        changed.then(|| {
            out.push_str(&text[last..]);
            out
        })
    }

    fn pseudonymize(&self, entity: &str, original: &str, report: &mut Report) -> String {
        let pseudonym = self.cached_pseudonym(entity, original);
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

impl Redactor {
    /// The pseudonym of `original`, from the cache when it was seen lately.
    fn cached_pseudonym(&self, entity: &str, original: &str) -> String {
        if let Some(hit) = self.cache.borrow().get(entity, original) {
            return hit.to_owned();
        }
        let pseudonym = self.key.pseudonym_with(&self.mac, entity, original);
        self.cache
            .borrow_mut()
            .insert(entity, original, pseudonym.clone());
        pseudonym
    }
}

/// Recent pseudonyms per entity class, looked up without building a key
/// (one map per entity: a lookup borrows the entity and the value as they
/// are): building that key was an allocation per pseudonymized value.
#[derive(Debug, Default)]
struct PseudonymCache {
    /// `(entity, original -> pseudonym)`; a handful of entity classes.
    entities: Vec<(Box<str>, PseudonymMap)>,
    /// Entries over all entities.
    len: usize,
}

type PseudonymMap = HashMap<Box<str>, String, CacheHasher>;

/// The hasher of the two caches: foldhash, randomly seeded per map. SipHash
/// (std's default) was 2-3 % of a sandboxed run (64-bit rotations and
/// multiplies are slow in wasm32); both caches are bounded (cleared when
/// full), so a crafted collision can only slow lookups down, within bounds.
type CacheHasher = foldhash::fast::RandomState;

impl PseudonymCache {
    fn get(&self, entity: &str, original: &str) -> Option<&str> {
        let (_, map) = self.entities.iter().find(|(e, _)| &**e == entity)?;
        map.get(original).map(String::as_str)
    }

    fn insert(&mut self, entity: &str, original: &str, pseudonym: String) {
        if self.len >= PSEUDONYM_CACHE_ENTRIES {
            // Crude but bounded: start over rather than track recency.
            self.entities.clear();
            self.len = 0;
        }
        let at = match self.entities.iter().position(|(e, _)| &**e == entity) {
            Some(at) => at,
            None => {
                self.entities.push((entity.into(), PseudonymMap::default()));
                self.entities.len() - 1
            }
        };
        if self.entities[at]
            .1
            .insert(original.into(), pseudonym)
            .is_none()
        {
            self.len += 1;
        }
    }
}

/// What scanning a string made of it: the replacement, if any, and what the
/// scan added to the report (flags, data classes and counts only: no vault).
#[derive(Debug)]
struct ScannedString {
    new: Option<Box<str>>,
    effects: Report,
}

/// Recent scans of strings up to [`SCAN_CACHE_MAX_LEN`] bytes.
#[derive(Debug, Default)]
struct ScanCache {
    entries: HashMap<Box<str>, ScannedString, CacheHasher>,
}

impl ScanCache {
    fn get(&self, text: &str) -> Option<(Option<&str>, &Report)> {
        let hit = self.entries.get(text)?;
        Some((hit.new.as_deref(), &hit.effects))
    }

    fn insert(&mut self, text: &str, new: Option<&str>, effects: Report) {
        if self.entries.len() >= SCAN_CACHE_ENTRIES {
            // Crude but bounded, as the pseudonym cache: strings seen once
            // (event ids) fill it; those that recur come back at once.
            self.entries.clear();
        }
        let scanned = ScannedString {
            new: new.map(Box::from),
            effects,
        };
        self.entries.insert(text.into(), scanned);
    }
}

/// Strings up to this length are cached: user agents (about 130 bytes) fit;
/// longer ones are mostly free text that seldom recurs.
const SCAN_CACHE_MAX_LEN: usize = 256;

/// Scans kept in the per-instance cache (at most about 3 MiB).
const SCAN_CACHE_ENTRIES: usize = 4096;

/// Flag (and count) of placeholder-shaped secrets, reported apart from real
/// ones so that a reviewer can tell them apart.
const POSSIBLE_SECRET: &str = "secret_possible";

/// Pseudonyms kept in the per-instance cache.
const PSEUDONYM_CACHE_ENTRIES: usize = 16_384;

/// `key`, or `key~2`, `key~3`, ... : the first that `taken` does not hold.
/// Two keys that redact to the same pseudonym both stay in the output.
pub fn unique_key(key: String, taken: impl Fn(&str) -> bool) -> String {
    if !taken(&key) {
        return key;
    }
    (2..)
        .map(|n| format!("{key}~{n}"))
        .find(|k| !taken(k))
        .unwrap_or(key)
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

#[cfg(test)]
mod proptests;
