//! One Activity Feed record -> one canonical audit event (schema v1).
//!
//! Validation follows SPEC sections 3-4: `id`, `created_at`, `type` and
//! `actor.type` are required; `organization_id`/`organization_uuid` are
//! optional strings. Everything else is passed through: documented
//! type-specific fields under `details`, the rest under `unmapped.fields`.
//! The schema itself is `plugin/schema/audit-event.v1.schema.json`.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::actor::{Actor, ParsedActor};
use crate::config::Settings;
use crate::error::{RecordError, RecordErrorKind};
use crate::json::{self, RawMembers, RawObject};
use crate::tables::{FieldRole, OutcomeRule, tables};
use crate::timestamp;

/// The version of the canonical audit schema this module writes.
pub const SCHEMA_VERSION: &str = "1.0.0";

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

/// Normalize one input line, appending the event and a `\n` to `out`.
/// On error `out` is left as it was.
pub fn normalize_line(
    line: &[u8],
    settings: &Settings,
    out: &mut Vec<u8>,
) -> Result<Disposition, RecordError> {
    let text = decode_line(line)?;
    let record = RawObject::parse(text, "")?;
    let activity = Activity::parse(&record)?;
    if !settings.allows_type(&activity.event_type) {
        return Ok(Disposition::Filtered);
    }
    let event = Event::build(&activity, settings)?;
    let flags = event.unmapped_flags();
    let start = out.len();
    if let Err(e) = serde_json::to_writer(&mut *out, &event.view(settings)) {
        out.truncate(start);
        // Unreachable in practice (all keys are strings); report, don't panic.
        return Err(RecordError::record(
            RecordErrorKind::InvalidValue,
            format!("could not serialize the event: {}", e.classify() as u8),
        ));
    }
    out.push(b'\n');
    Ok(Disposition::Emitted(flags))
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
    id: Cow<'a, str>,
    created_at_raw: Cow<'a, str>,
    created_at: time::OffsetDateTime,
    event_type: Cow<'a, str>,
    organization_id: Option<Cow<'a, str>>,
    organization_uuid: Option<Cow<'a, str>>,
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
) -> Result<Cow<'a, str>, RecordError> {
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
    resource: Option<(usize, (&'static str, Cow<'a, str>))>,
    target_user_id: Option<(usize, Cow<'a, str>)>,
    target_email: Option<(usize, Cow<'a, str>)>,
    request_id: Option<(usize, Cow<'a, str>)>,
    model_id: Option<(usize, Cow<'a, str>)>,
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
        let row = tables().activity_types.get(activity.event_type.as_ref());
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

    fn unmapped_flags(&self) -> Unmapped {
        Unmapped {
            event_type: self.unknown_type,
            actor_type: self.actor.unknown_variant,
            fields: !self.unmapped.is_empty(),
        }
    }

    fn view<'v>(&'v self, settings: &'v Settings) -> EventView<'v, 'a> {
        let a = self.activity;
        let retention = &settings.retention;
        let retain_until = (!retention.legal_hold)
            .then(|| timestamp::add_days(a.created_at, retention.days))
            .flatten()
            .map(timestamp::format);
        let user_id = (self.actor.kind == "user")
            .then(|| self.actor.id.clone())
            .flatten();
        EventView {
            schema_version: SCHEMA_VERSION,
            event_id: a.id.clone(),
            timestamp: timestamp::format(a.created_at),
            source: Source {
                name: SOURCE_NAME,
                created_at: a.created_at_raw.clone(),
            },
            event_type: a.event_type.clone(),
            category: self.category,
            action: self.action,
            outcome: self.outcome,
            organization_id: a.organization_id.clone(),
            organization_uuid: a.organization_uuid.clone(),
            user_id,
            request_id: self.roles.request_id.as_ref().map(|(_, v)| v.clone()),
            model_id: self.roles.model_id.as_ref().map(|(_, v)| v.clone()),
            // The Activity Feed never carries prompts or model output
            // (SPEC section 6); chat-content sources will fill these.
            prompt_hash: None,
            response_hash: None,
            actor: self.actor.view(),
            target: Target {
                user_id: self.roles.target_user_id.as_ref().map(|(_, v)| v.clone()),
                email: self.roles.target_email.as_ref().map(|(_, v)| v.clone()),
            },
            resource: self
                .roles
                .resource
                .as_ref()
                .map(|(_, (kind, id))| Resource {
                    kind,
                    id: id.clone(),
                }),
            details: RawMembers(&self.details),
            policy_flags: &[],
            redaction_metadata: RedactionMetadata::default(),
            retention_state: RetentionState {
                class: &retention.class,
                period_days: retention.days,
                retain_until,
                legal_hold: retention.legal_hold,
            },
            unmapped: UnmappedView {
                event_type: self.unknown_type,
                actor_type: self.actor.unknown_variant,
                fields: RawMembers(&self.unmapped),
            },
        }
    }
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

/// The canonical audit event (schema v1), field order as documented.
#[derive(Serialize)]
struct EventView<'v, 'a> {
    schema_version: &'static str,
    event_id: Cow<'a, str>,
    timestamp: String,
    source: Source<'a>,
    event_type: Cow<'a, str>,
    category: &'static str,
    action: &'static str,
    outcome: &'static str,
    organization_id: Option<Cow<'a, str>>,
    organization_uuid: Option<Cow<'a, str>>,
    user_id: Option<Cow<'a, str>>,
    request_id: Option<Cow<'a, str>>,
    model_id: Option<Cow<'a, str>>,
    prompt_hash: Option<&'static str>,
    response_hash: Option<&'static str>,
    actor: Actor<'v, 'a>,
    target: Target<'a>,
    resource: Option<Resource<'a>>,
    details: RawMembers<'v, 'a>,
    policy_flags: &'static [&'static str],
    redaction_metadata: RedactionMetadata,
    retention_state: RetentionState<'v>,
    unmapped: UnmappedView<'v, 'a>,
}

#[derive(Serialize)]
struct Source<'a> {
    name: &'static str,
    created_at: Cow<'a, str>,
}

#[derive(Serialize)]
struct Target<'a> {
    user_id: Option<Cow<'a, str>>,
    email: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct Resource<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: Cow<'a, str>,
}

/// What redaction did to the event. Redaction is not part of this release:
/// every event says so explicitly rather than omitting the field.
#[derive(Serialize, Default)]
struct RedactionMetadata {
    applied: bool,
    policy_version: Option<&'static str>,
    key_id: Option<&'static str>,
    counts: Empty,
    paths: &'static [&'static str],
}

/// Serializes as `{}`.
#[derive(Serialize, Default)]
struct Empty {}

#[derive(Serialize)]
struct RetentionState<'v> {
    class: &'v str,
    period_days: u32,
    retain_until: Option<String>,
    legal_hold: bool,
}

#[derive(Serialize)]
struct UnmappedView<'v, 'a> {
    event_type: bool,
    actor_type: bool,
    fields: RawMembers<'v, 'a>,
}
