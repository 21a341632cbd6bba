//! One Activity Feed record -> one canonical audit event (schema v1).
//!
//! Validation follows SPEC sections 3-4: `id`, `created_at`, `type` and
//! `actor.type` are required; `organization_id`/`organization_uuid` are
//! optional strings. Everything else is passed through: documented
//! type-specific fields under `details`, the rest under `unmapped.fields`.
//! The schema itself is `plugin/schema/audit-event.v1.schema.json`.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::actor::ParsedActor;
use serde_json::Value;

use crate::config::Settings;
use crate::controls::{EventFacts, controls_for};
use crate::error::{RecordError, RecordErrorKind};
use crate::json::{self, JsonStr, RawObject};
use crate::json_writer::{JsonWriter, Layout};
use crate::redact::{Redacted, Redactor, Report, VaultEntry};
use crate::tables::{FieldRole, OutcomeRule, tables};
use crate::timestamp;

/// The version of the canonical audit schema this module writes.
pub const SCHEMA_VERSION: &str = "1.1.0";

/// The `source.name` of Activity Feed events.
const SOURCE_NAME: &str = "anthropic.compliance_api.activity_feed";

/// Fields every activity has; never type-specific.
const COMMON_FIELDS: [&str; 6] = [
    "id",
    "created_at",
    "organization_id",
    "organization_uuid",
    "actor",
    "type",
];

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// What happened to a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// An event was appended to the output.
    Emitted(Unmapped),
    /// The record was dropped by the configured type filter.
    Filtered,
}

/// Which parts of an emitted record the tables did not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unmapped {
    /// The activity type is not in `activity-types.tsv`.
    pub event_type: bool,
    /// The actor variant is not in `actor-variants.tsv`.
    pub actor_type: bool,
    /// At least one field is not documented for its type or variant.
    pub fields: bool,
}

/// Normalize one input line, appending the event and a `\n` to `out`
/// (and, with a vault, the pseudonym pairs to `vault`). On error nothing is
/// appended: every check runs before writing starts.
pub fn normalize_line(
    line: &[u8],
    settings: &Settings,
    redactor: Option<&Redactor>,
    out: &mut Vec<u8>,
    vault: &mut Vec<VaultEntry>,
    layout: Option<&mut Layout>,
) -> Result<Disposition, RecordError> {
    let text = decode_line(line)?;
    let record = RawObject::parse(text, "")?;
    if record.get(crate::content::input::DISCRIMINANT).is_some() {
        return crate::content::normalize(text, settings, redactor, out, vault);
    }
    let activity = Activity::parse(&record)?;
    if !settings.allows_type(&activity.event_type) {
        return Ok(Disposition::Filtered);
    }
    let event = Event::build(&activity)?;
    let mut scrub = Scrubber {
        redactor,
        report: Report::default(),
    };
    event.write(settings, &mut scrub, out, layout);
    vault.extend(scrub.report.vault);
    Ok(Disposition::Emitted(event.unmapped_flags()))
}

/// Applies redaction (when configured) to the values an event writes, and
/// collects what it did. Without a redactor every value passes unchanged.
pub(crate) struct Scrubber<'x> {
    redactor: Option<&'x Redactor>,
    report: Report,
}

impl Scrubber<'_> {
    /// Write an input string field found at `path`.
    pub(crate) fn str_field(
        &mut self,
        w: &mut JsonWriter<'_>,
        key: &'static str,
        path: &[&str],
        value: Option<&JsonStr<'_>>,
    ) {
        let outcome = match (self.redactor, value) {
            (Some(r), Some(v)) => r.redact_str(path, v.as_str(), &mut self.report),
            _ => Redacted::Unchanged,
        };
        match outcome {
            Redacted::Unchanged => w.opt_json_str(key, value),
            Redacted::Replaced(new) => w.key(key).tree(&new),
            // A dropped canonical field stays in the schema, as null.
            Redacted::Dropped => w.null(key),
        };
    }

    /// Write a pass-through object (`details`, `unmapped.fields`,
    /// `actor.attributes`) found at `path`.
    pub(crate) fn members(
        &mut self,
        w: &mut JsonWriter<'_>,
        key: &'static str,
        path: &[&str],
        members: &[(Cow<'_, str>, &RawValue)],
    ) {
        let Some(redactor) = self.redactor else {
            w.raw_members(key, members);
            return;
        };
        w.object(key);
        let names = member_names(redactor, members, path, &mut self.report);
        let mut full: Vec<&str> = path.to_vec();
        for (name, (_, raw)) in names.iter().zip(members) {
            full.push(name);
            if !redactor.member_dropped(&full, &mut self.report) {
                match redactor.redact_raw(&full, raw, &mut self.report) {
                    Redacted::Unchanged => {
                        w.dyn_key(name).raw_value(raw);
                    }
                    Redacted::Replaced(new) => {
                        w.dyn_key(name).tree(&new);
                    }
                    Redacted::Dropped => {}
                }
            }
            full.pop();
        }
        w.end();
    }
}

/// The names a pass-through object's members are written under: each key
/// redacted like a value (recorded in the report), collisions suffixed.
fn member_names<'m>(
    redactor: &Redactor,
    members: &'m [(Cow<'_, str>, &RawValue)],
    path: &[&str],
    report: &mut Report,
) -> Vec<Cow<'m, str>> {
    let mut names: Vec<Cow<'m, str>> = Vec::with_capacity(members.len());
    for (name, _) in members {
        let Some(new) = redactor.redact_key(name, report) else {
            names.push(Cow::Borrowed(name.as_ref()));
            continue;
        };
        let new = crate::redact::unique_key(new, |k| {
            names.iter().any(|n| n == k) || members.iter().any(|(m, _)| m == k)
        });
        let mut full: Vec<&str> = path.to_vec();
        full.push(&new);
        report.paths.insert(full.join("."));
        names.push(Cow::Owned(new));
    }
    names
}

/// Line-level checks: BOM, UTF-8, blank.
fn decode_line(line: &[u8]) -> Result<&str, RecordError> {
    if line.starts_with(UTF8_BOM) {
        return Err(RecordError::record(
            RecordErrorKind::ByteOrderMark,
            "the line starts with a UTF-8 byte order mark; NDJSON records must not",
        ));
    }
    let text = std::str::from_utf8(line).map_err(|e| {
        RecordError::record(
            RecordErrorKind::InvalidUtf8,
            format!("invalid UTF-8 at byte offset {}", e.valid_up_to()),
        )
    })?;
    if text.trim().is_empty() {
        return Err(RecordError::record(
            RecordErrorKind::BlankLine,
            "the line is empty or white space only",
        ));
    }
    Ok(text)
}

/// The validated common fields of an activity.
struct Activity<'r, 'a> {
    id: JsonStr<'a>,
    created_at_raw: JsonStr<'a>,
    created_at: time::OffsetDateTime,
    event_type: JsonStr<'a>,
    organization_id: Option<JsonStr<'a>>,
    organization_uuid: Option<JsonStr<'a>>,
    actor: &'a RawValue,
    record: &'r RawObject<'a>,
}

impl<'r, 'a> Activity<'r, 'a> {
    fn parse(record: &'r RawObject<'a>) -> Result<Self, RecordError> {
        let id = required_str(record, "id")?;
        let created_at_raw = required_str(record, "created_at")?;
        let created_at = timestamp::parse(&created_at_raw).ok_or_else(|| {
            RecordError::field(
                RecordErrorKind::InvalidValue,
                "created_at",
                "field `created_at` must be an RFC 3339 timestamp with time and zone",
            )
        })?;
        let event_type = required_str(record, "type")?;
        let actor = record
            .get("actor")
            .filter(|raw| !json::is_null(raw))
            .ok_or_else(|| RecordError::missing("actor"))?;
        Ok(Activity {
            id,
            created_at_raw,
            created_at,
            event_type,
            organization_id: json::optional_str(record.get("organization_id"), "organization_id")?,
            organization_uuid: json::optional_str(
                record.get("organization_uuid"),
                "organization_uuid",
            )?,
            actor,
            record,
        })
    }
}

/// A required, non-empty string field.
fn required_str<'a>(
    record: &RawObject<'a>,
    field: &'static str,
) -> Result<JsonStr<'a>, RecordError> {
    match json::optional_str(record.get(field), field)? {
        None => Err(RecordError::missing(field)),
        Some(value) if value.is_empty() => Err(RecordError::field(
            RecordErrorKind::InvalidValue,
            field,
            format!("field `{field}` must not be empty"),
        )),
        Some(value) => Ok(value),
    }
}

/// An event, assembled but not yet serialized.
struct Event<'r, 'a> {
    activity: &'r Activity<'r, 'a>,
    actor: ParsedActor<'a>,
    category: &'static str,
    action: &'static str,
    outcome: &'static str,
    unknown_type: bool,
    details: Vec<(Cow<'a, str>, &'a RawValue)>,
    unmapped: Vec<(Cow<'a, str>, &'a RawValue)>,
    roles: Roles<'a>,
}

/// Values picked out of type-specific fields by `field-roles.tsv`.
#[derive(Default)]
struct Roles<'a> {
    resource: Option<(usize, (&'static str, JsonStr<'a>))>,
    target_user_id: Option<(usize, JsonStr<'a>)>,
    target_email: Option<(usize, JsonStr<'a>)>,
    request_id: Option<(usize, JsonStr<'a>)>,
    model_id: Option<(usize, JsonStr<'a>)>,
}

impl<'a> Roles<'a> {
    /// Offer a field; it wins its role if no higher-priority field did.
    fn offer(&mut self, name: &str, value: &'a RawValue) {
        let Some(&(priority, role)) = tables().field_roles.get(name) else {
            return;
        };
        let Some(text) = json::as_str(value) else {
            return;
        };
        fn better<T>(slot: &Option<(usize, T)>, priority: usize) -> bool {
            slot.as_ref().is_none_or(|(p, _)| priority < *p)
        }
        match role {
            FieldRole::Resource(kind) if better(&self.resource, priority) => {
                self.resource = Some((priority, (kind, text)));
            }
            FieldRole::TargetUserId if better(&self.target_user_id, priority) => {
                self.target_user_id = Some((priority, text));
            }
            FieldRole::TargetEmail if better(&self.target_email, priority) => {
                self.target_email = Some((priority, text));
            }
            FieldRole::RequestId if better(&self.request_id, priority) => {
                self.request_id = Some((priority, text));
            }
            FieldRole::ModelId if better(&self.model_id, priority) => {
                self.model_id = Some((priority, text));
            }
            _ => {}
        }
    }
}

impl<'r, 'a> Event<'r, 'a> {
    fn build(activity: &'r Activity<'r, 'a>) -> Result<Self, RecordError> {
        let actor = ParsedActor::parse(activity.actor)?;
        let row = tables().activity_types.get(activity.event_type.as_str());
        let mut details = Vec::new();
        let mut unmapped = Vec::new();
        let mut roles = Roles::default();
        for (key, value) in &activity.record.members {
            if COMMON_FIELDS.contains(&key.as_ref()) {
                continue;
            }
            roles.offer(key, value);
            if row.is_some_and(|r| r.fields.contains(key)) {
                details.push((key.clone(), *value));
            } else {
                unmapped.push((key.clone(), *value));
            }
        }
        unmapped.extend(actor.unmapped.iter().cloned());
        let (category, action, outcome) = match row {
            Some(r) => (r.category, r.action, outcome(r.outcome, activity.record)),
            None => ("unknown", "unknown", "unknown"),
        };
        Ok(Event {
            activity,
            actor,
            category,
            action,
            outcome,
            unknown_type: row.is_none(),
            details,
            unmapped,
            roles,
        })
    }

    /// What the control matrix looks at.
    fn facts<'e>(&'e self, data_classes: &'e [&'e str]) -> EventFacts<'e> {
        EventFacts {
            category: self.category,
            event_type: self.activity.event_type.as_str(),
            outcome: self.outcome,
            actor_kind: self.actor.kind,
            data_classes,
        }
    }

    fn unmapped_flags(&self) -> Unmapped {
        Unmapped {
            event_type: self.unknown_type,
            actor_type: self.actor.unknown_variant,
            fields: !self.unmapped.is_empty(),
        }
    }

    /// Append the event as one JSON object, fields in schema order. The
    /// `unmapped` object is written first into its own buffer: its fields are
    /// redacted too, and what redaction found must be known before the
    /// metadata fields that precede it in the schema are written.
    /// With a `layout`, lists the event's top-level members there (for the
    /// detection engine).
    fn write(
        &self,
        settings: &Settings,
        scrub: &mut Scrubber<'_>,
        out: &mut Vec<u8>,
        mut layout: Option<&mut Layout>,
    ) {
        let a = self.activity;
        let mut tail = Vec::new();
        if let Some(layout) = layout.as_deref_mut() {
            layout.start();
        }
        {
            let mut w = JsonWriter::continuing(&mut tail).with_layout(layout.as_deref_mut());
            w.object("unmapped")
                .bool("event_type", self.unknown_type)
                .bool("actor_type", self.actor.unknown_variant);
            scrub.members(&mut w, "fields", &["unmapped", "fields"], &self.unmapped);
            w.end();
        }
        let user_id = (self.actor.kind == "user")
            .then_some(self.actor.id.as_ref())
            .flatten();
        let in_tail = layout.as_deref().map_or(0, Layout::count);
        let mut w = JsonWriter::new(out).with_layout(layout.as_deref_mut());
        w.begin()
            .str("schema_version", SCHEMA_VERSION)
            .json_str("event_id", &a.id)
            .str("timestamp", &timestamp::format(a.created_at))
            .object("source")
            .str("name", SOURCE_NAME)
            .json_str("created_at", &a.created_at_raw)
            .end()
            .json_str("event_type", &a.event_type)
            .str("category", self.category)
            .str("action", self.action)
            .str("outcome", self.outcome);
        let org_id = a.organization_id.as_ref();
        let org_uuid = a.organization_uuid.as_ref();
        scrub.str_field(&mut w, "organization_id", &["organization_id"], org_id);
        scrub.str_field(
            &mut w,
            "organization_uuid",
            &["organization_uuid"],
            org_uuid,
        );
        scrub.str_field(&mut w, "user_id", &["user_id"], user_id);
        let request_id = role(&self.roles.request_id);
        scrub.str_field(&mut w, "request_id", &["request_id"], request_id);
        scrub.str_field(
            &mut w,
            "model_id",
            &["model_id"],
            role(&self.roles.model_id),
        );
        // The Activity Feed never carries prompts or model output
        // (SPEC section 6); chat-content sources will fill these.
        w.null("prompt_hash").null("response_hash");
        self.actor.write(&mut w, scrub, settings.geoip.as_deref());
        w.object("target");
        let target_user = role(&self.roles.target_user_id);
        scrub.str_field(&mut w, "user_id", &["target", "user_id"], target_user);
        let target_email = role(&self.roles.target_email);
        scrub.str_field(&mut w, "email", &["target", "email"], target_email);
        w.end();
        match &self.roles.resource {
            Some((_, (kind, id))) => {
                w.object("resource").str("type", kind);
                scrub.str_field(&mut w, "id", &["resource", "id"], Some(id));
                w.end();
            }
            None => {
                w.null("resource");
            }
        }
        scrub.members(&mut w, "details", &["details"], &self.details);
        self.write_policy(&mut w, settings, scrub);

        if let Some(layout) = layout {
            layout.appended(in_tail, out.len());
        }
        out.extend_from_slice(&tail);
        out.extend_from_slice(b"}\n");
    }

    /// `policy_flags` to `retention_state`, from what redaction found.
    fn write_policy(&self, w: &mut JsonWriter<'_>, settings: &Settings, scrub: &Scrubber<'_>) {
        let report = &scrub.report;
        let data_classes: Vec<&str> = report.data_classes.iter().copied().collect();
        let retention = &settings.retention;
        let (retention_class, retention_days) = retention.class_for(&data_classes);
        let retain_until = (!retention.legal_hold)
            .then(|| timestamp::add_days(self.activity.created_at, retention_days))
            .flatten()
            .map(timestamp::format);
        w.str_array("policy_flags", report.flags.iter().copied())
            .str_array("data_classes", data_classes.iter().copied())
            .str_array(
                "controls",
                controls_for(&self.facts(&data_classes)).iter().copied(),
            )
            .object("redaction_metadata")
            .bool("applied", scrub.redactor.is_some())
            .opt_str(
                "policy_version",
                scrub.redactor.map(Redactor::policy_version),
            )
            .opt_str("key_id", scrub.redactor.map(Redactor::key_id))
            .object("counts");
        for (entity, count) in &report.counts {
            w.dyn_key(entity).tree(&Value::from(*count));
        }
        w.end()
            .str_array("paths", report.paths.iter().map(String::as_str))
            .str_array("dropped", report.dropped.iter().map(String::as_str))
            .end()
            .object("retention_state")
            .str("class", retention_class)
            .u64("period_days", u64::from(retention_days))
            .opt_str("retain_until", retain_until.as_deref())
            .bool("legal_hold", retention.legal_hold)
            .end();
    }
}

/// The value that won a field role, if any.
fn role<'s, 'a>(slot: &'s Option<(usize, JsonStr<'a>)>) -> Option<&'s JsonStr<'a>> {
    slot.as_ref().map(|(_, v)| v)
}

/// `status_code` outcome: 2xx/3xx success, 4xx failure, anything else unknown
/// (a 5xx says nothing about whether the caller was allowed; SPEC section 11).
fn outcome(rule: OutcomeRule, record: &RawObject<'_>) -> &'static str {
    match rule {
        OutcomeRule::Success => "success",
        OutcomeRule::Failure => "failure",
        OutcomeRule::Unknown => "unknown",
        OutcomeRule::StatusCode => {
            let code = record
                .get("status_code")
                .and_then(|raw| raw.get().parse::<u16>().ok());
            match code {
                Some(200..=399) => "success",
                Some(400..=499) => "failure",
                _ => "unknown",
            }
        }
    }
}
