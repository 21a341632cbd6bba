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
use serde_json::{Value, json};

use crate::config::Settings;
use crate::controls::{EventFacts, controls_for};
use crate::error::{RecordError, RecordErrorKind};
use crate::json::{self, JsonStr, RawObject};
use crate::json_writer::JsonWriter;
use crate::redact::{Redactor, Report, VaultEntry};
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
) -> Result<Disposition, RecordError> {
    let text = decode_line(line)?;
    let record = RawObject::parse(text, "")?;
    let activity = Activity::parse(&record)?;
    if !settings.allows_type(&activity.event_type) {
        return Ok(Disposition::Filtered);
    }
    let event = Event::build(&activity, settings)?;
    let start = out.len();
    event.write(settings, out);
    if let Some(redactor) = redactor {
        redact_written(redactor, &event, settings, out, start, vault)?;
    }
    Ok(Disposition::Emitted(event.unmapped_flags()))
}

/// Redact the event just written at `out[start..]`, rewriting it with its
/// redaction metadata, data classes, controls and retention.
fn redact_written(
    redactor: &Redactor,
    event: &Event<'_, '_>,
    settings: &Settings,
    out: &mut Vec<u8>,
    start: usize,
    vault: &mut Vec<VaultEntry>,
) -> Result<(), RecordError> {
    let internal = |what: &str| out_of_contract(format!("internal error while redacting: {what}"));
    let mut value: Value = serde_json::from_slice(&out[start..])
        .map_err(|_| internal("the event could not be re-read"))?;
    out.truncate(start);
    let mut report = Report::default();
    redactor.redact(&mut value, &mut report);
    let data_classes: Vec<&str> = report.data_classes.iter().copied().collect();
    let facts = event.facts(&data_classes);
    let object = value
        .as_object_mut()
        .ok_or_else(|| internal("the event is not an object"))?;
    object.insert("policy_flags".into(), json!(report.flags));
    object.insert("data_classes".into(), json!(data_classes));
    object.insert("controls".into(), json!(controls_for(&facts)));
    object.insert(
        "redaction_metadata".into(),
        json!({
            "applied": true,
            "policy_version": redactor.policy_version(),
            "key_id": redactor.key_id(),
            "counts": report.counts,
            "paths": report.paths,
            "dropped": report.dropped,
        }),
    );
    object.insert(
        "retention_state".into(),
        retention_json(settings, event.activity.created_at, &data_classes),
    );
    serde_json::to_writer(&mut *out, &value)
        .map_err(|_| internal("the event could not be written"))?;
    out.push(b'\n');
    vault.extend(report.vault);
    Ok(())
}

fn out_of_contract(detail: String) -> RecordError {
    RecordError::record(RecordErrorKind::InvalidValue, detail)
}

/// The `retention_state` object of an event.
fn retention_json(
    settings: &Settings,
    created_at: time::OffsetDateTime,
    data_classes: &[&str],
) -> Value {
    let retention = &settings.retention;
    let (class, days) = retention.class_for(data_classes);
    let retain_until = (!retention.legal_hold)
        .then(|| timestamp::add_days(created_at, days))
        .flatten()
        .map(timestamp::format);
    json!({
        "class": class,
        "period_days": days,
        "retain_until": retain_until,
        "legal_hold": retention.legal_hold,
    })
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
    fn build(activity: &'r Activity<'r, 'a>, _settings: &Settings) -> Result<Self, RecordError> {
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

    /// Append the event as one JSON object, fields in schema order.
    fn write(&self, settings: &Settings, out: &mut Vec<u8>) {
        let a = self.activity;
        let retention = &settings.retention;
        let (retention_class, retention_days) = retention.class_for(&[]);
        let retain_until = (!retention.legal_hold)
            .then(|| timestamp::add_days(a.created_at, retention_days))
            .flatten()
            .map(timestamp::format);
        let user_id = (self.actor.kind == "user")
            .then_some(self.actor.id.as_ref())
            .flatten();
        let mut w = JsonWriter::new(out);
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
            .str("outcome", self.outcome)
            .opt_json_str("organization_id", a.organization_id.as_ref())
            .opt_json_str("organization_uuid", a.organization_uuid.as_ref())
            .opt_json_str("user_id", user_id)
            .opt_json_str("request_id", role(&self.roles.request_id))
            .opt_json_str("model_id", role(&self.roles.model_id))
            // The Activity Feed never carries prompts or model output
            // (SPEC section 6); chat-content sources will fill these.
            .null("prompt_hash")
            .null("response_hash");
        self.actor.write(&mut w);
        w.object("target")
            .opt_json_str("user_id", role(&self.roles.target_user_id))
            .opt_json_str("email", role(&self.roles.target_email))
            .end();
        match &self.roles.resource {
            Some((_, (kind, id))) => w
                .object("resource")
                .str("type", kind)
                .json_str("id", id)
                .end(),
            None => w.null("resource"),
        };
        w.raw_members("details", &self.details)
            .str_array("policy_flags", [])
            .str_array("data_classes", [])
            .str_array("controls", controls_for(&self.facts(&[])))
            // Without redaction (disabled by policy) every event says so
            // explicitly rather than omitting the field; with it,
            // `redact_written` replaces this object.
            .object("redaction_metadata")
            .bool("applied", false)
            .null("policy_version")
            .null("key_id")
            .object("counts")
            .end()
            .str_array("paths", [])
            .str_array("dropped", [])
            .end()
            .object("retention_state")
            .str("class", retention_class)
            .u64("period_days", u64::from(retention_days))
            .opt_str("retain_until", retain_until.as_deref())
            .bool("legal_hold", retention.legal_hold)
            .end()
            .object("unmapped")
            .bool("event_type", self.unknown_type)
            .bool("actor_type", self.actor.unknown_variant)
            .raw_members("fields", &self.unmapped)
            .end()
            .end();
        out.push(b'\n');
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
