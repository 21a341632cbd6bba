//! A Claude Code log record or usage data point -> one canonical event
//! (schema v1, same fields and order as Activity Feed events; README
//! "Canonical fields of Claude Code events").
//!
//! Attributes are placed by `attributes.tsv` and read by meaning through
//! `value`; events are classified by `events.tsv`. Content fields are kept
//! out of the event-wide redaction walk and handled by `content`.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::content;
use super::record::{Group, LogRecord, MetricPoint};
use super::tables::{Dedupe, Kind, Outcome, Place, tables};
use super::value::{boolean, dollars, int, micros};
use crate::config::Settings;
use crate::content::{ContentField as ContentKind, ContentPolicy};
use crate::controls::{EventFacts, controls_for};
use crate::error::{RecordError, RecordErrorKind};
use crate::normalize::{Disposition, SCHEMA_VERSION, Unmapped};
use crate::redact::{Redactor, Report, VaultEntry};
use crate::timestamp;

/// The `source.name` of Claude Code events.
const SOURCE_NAME: &str = "anthropic.claude_code.otel";

/// Scope names Claude Code uses (events, metrics).
const SCOPE_PREFIX: &str = "com.anthropic.claude_code";

/// `service.name` values Claude Code uses.
const SERVICE_NAMES: [&str; 2] = ["claude-code", "claude-code-desktop"];

/// Prefix of every Claude Code event body and metric name.
const EVENT_PREFIX: &str = "claude_code.";

/// An event being assembled.
#[derive(Default)]
struct Draft {
    name: String,
    top: Map<String, Value>,
    actor: Map<String, Value>,
    actor_attributes: Map<String, Value>,
    details: Map<String, Value>,
    unmapped: Map<String, Value>,
    /// Content fields and operational texts (`Kind::Content` … `JsonText`).
    content: Vec<ContentField>,
    cost_from_micros_field: bool,
    /// `details.resource` holds a placeholder for the group's resource,
    /// filled in by `finish` (redacted once per group).
    resource_placeholder: bool,
}

/// A text field handled by `content` rather than the event-wide walk.
struct ContentField {
    /// `details.<key>`.
    key: &'static str,
    /// The text as received.
    text: String,
    /// It holds JSON.
    json: bool,
    /// The `content.policy` applies (else: always redacted and kept).
    policy: bool,
}

/// What the caller needs to write an event.
pub struct Built {
    /// The finished event line (without `\n`).
    pub line: Vec<u8>,
    /// Flags for the run's counters.
    pub unmapped: Unmapped,
    /// Vault pairs.
    pub vault: Vec<VaultEntry>,
}

/// Whether a record belongs to Claude Code (reference §9).
fn is_claude_code(group: &Group, body: Option<&str>) -> bool {
    group
        .scope_name
        .as_deref()
        .is_some_and(|s| s.starts_with(SCOPE_PREFIX))
        || group
            .resource
            .get("service.name")
            .and_then(Value::as_str)
            .is_some_and(|s| SERVICE_NAMES.contains(&s))
        || body.is_some_and(|b| b.starts_with(EVENT_PREFIX))
}

fn not_claude_code() -> RecordError {
    RecordError::record(
        RecordErrorKind::InvalidValue,
        "an OTLP record that is not from Claude Code: neither its scope, its service.name \
         nor its body say so",
    )
}

/// Build the event of a log record; `Ok(None)` when the type filter drops it.
pub fn log_event(
    record: &LogRecord,
    settings: &Settings,
    redactor: Option<&Redactor>,
) -> Result<Option<Built>, RecordError> {
    if !is_claude_code(&record.group, record.body.as_deref()) {
        return Err(not_claude_code());
    }
    let name = record
        .body
        .as_deref()
        .and_then(|b| b.strip_prefix(EVENT_PREFIX))
        .or_else(|| record.attributes.get("event.name").and_then(Value::as_str))
        .map(|n| n.strip_prefix(EVENT_PREFIX).unwrap_or(n))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| RecordError::missing("body"))?;
    if !settings.allows_type(&format!("{EVENT_PREFIX}{name}")) {
        return Ok(None);
    }
    let nanos = record
        .time
        .as_ref()
        .or(record.observed.as_ref())
        .map(|(n, _)| *n)
        .or_else(|| event_timestamp(&record.attributes))
        .ok_or_else(|| RecordError::missing("timeUnixNano"))?;
    let mut draft = Draft {
        name: name.to_owned(),
        ..Draft::default()
    };
    draft.place_all(&record.attributes, &record.group.resource);
    for (key, id) in [("trace_id", &record.trace_id), ("span_id", &record.span_id)] {
        if let Some(id) = id {
            draft
                .details
                .insert(key.to_owned(), Value::from(id.as_str()));
        }
    }
    let created_at = record
        .time
        .as_ref()
        .or(record.observed.as_ref())
        .map_or_else(|| nanos.to_string(), |(_, text)| text.clone());
    let id_parts = log_dedupe(&draft, &record.attributes, nanos);
    Ok(Some(draft.finish(
        nanos,
        &created_at,
        &id_parts,
        &record.group,
        settings,
        redactor,
    )?))
}

/// Build the usage event of a metric data point.
pub fn metric_event(
    point: &MetricPoint,
    settings: &Settings,
    redactor: Option<&Redactor>,
) -> Result<Option<Built>, RecordError> {
    if !is_claude_code(&point.group, Some(&point.name)) {
        return Err(not_claude_code());
    }
    if !point.has_point {
        return Err(RecordError::field(
            RecordErrorKind::InvalidValue,
            "metric",
            "only Sum and Gauge number data points are read (a histogram or summary \
             metric is not a Claude Code usage counter)",
        ));
    }
    let bare = point.name.strip_prefix(EVENT_PREFIX).unwrap_or(&point.name);
    let name = match bare {
        "token.usage" => "token_usage".to_owned(),
        "cost.usage" => "cost_usage".to_owned(),
        other => other.replace('.', "_"),
    };
    if !settings.allows_type(&format!("{EVENT_PREFIX}{name}")) {
        return Ok(None);
    }
    let (nanos, created_at) = point
        .time
        .clone()
        .ok_or_else(|| RecordError::missing("dataPoint.timeUnixNano"))?;
    let mut draft = Draft {
        name,
        ..Draft::default()
    };
    draft.place_all(&point.attributes, &point.group.resource);
    draft.usage_value(point)?;
    let mut sorted: Vec<(&String, &Value)> = point.attributes.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let attributes = serde_json::to_string(&sorted).unwrap_or_default();
    let start = point.start.as_ref().map_or("", |(_, t)| t.as_str());
    let id_parts = vec![
        point.name.clone(),
        attributes,
        start.to_owned(),
        created_at.clone(),
    ];
    Ok(Some(draft.finish(
        nanos,
        &created_at,
        &id_parts,
        &point.group,
        settings,
        redactor,
    )?))
}

/// `event.timestamp` (RFC 3339) in nanoseconds, the last time fallback.
fn event_timestamp(attributes: &Map<String, Value>) -> Option<u64> {
    let text = attributes.get("event.timestamp")?.as_str()?;
    u64::try_from(timestamp::parse(text)?.unix_timestamp_nanos()).ok()
}

/// The §9 dedupe key of a log record, as parts to hash.
fn log_dedupe(draft: &Draft, attributes: &Map<String, Value>, nanos: u64) -> Vec<String> {
    let text = |key: &str| {
        attributes
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let row = tables().events.get(draft.name.as_str());
    let chosen = match row.map(|r| r.dedupe) {
        Some(Dedupe::Request) => text("client_request_id")
            .map(|v| ("client_request_id", v))
            .or_else(|| text("request_id").map(|v| ("request_id", v))),
        Some(Dedupe::Tool) => text("tool_use_id").map(|v| ("tool_use_id", v)),
        Some(Dedupe::Message) => text("message.uuid").map(|v| ("message.uuid", v)),
        _ => None,
    };
    match chosen {
        Some((key, value)) => vec![draft.name.clone(), key.to_owned(), value],
        None => vec![
            draft.name.clone(),
            text("session.id").unwrap_or_default(),
            nanos.to_string(),
            attributes
                .get("event.sequence")
                .and_then(int)
                .map(|s| s.to_string())
                .unwrap_or_default(),
        ],
    }
}

/// `cc_` + the first 128 bits of SHA-256 over the parts, `0x1f`-separated.
fn event_id(parts: &[String]) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([0x1f]);
        }
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    format!("cc_{}", data_encoding::HEXLOWER.encode(&digest[..16]))
}

impl Draft {
    /// Place every attribute; those repeating a resource attribute (Claude
    /// Code copies `OTEL_RESOURCE_ATTRIBUTES` onto records) are left to
    /// `details.resource`, whose place is kept here and value written by
    /// `finish`.
    fn place_all(&mut self, attributes: &Map<String, Value>, resource: &Map<String, Value>) {
        for (key, value) in attributes {
            if resource.get(key) == Some(value) {
                continue;
            }
            self.place(key, value);
        }
        if !resource.is_empty() {
            self.details.insert("resource".to_owned(), Value::Null);
            self.resource_placeholder = true;
        }
    }

    fn place(&mut self, key: &str, value: &Value) {
        let Some(row) = tables().attributes.get(key) else {
            self.unmapped.insert(key.replace('.', "_"), value.clone());
            return;
        };
        let read = match row.kind {
            Kind::Str => match value {
                Value::String(_) => Some(value.clone()),
                Value::Number(_) | Value::Bool(_) => Some(Value::from(value.to_string())),
                _ => None,
            },
            Kind::Int => int(value).map(Value::from),
            Kind::Bool => boolean(value).map(Value::from),
            Kind::Micros => {
                if self.cost_from_micros_field {
                    return;
                }
                micros(value).map(Value::from)
            }
            Kind::Strs => value.is_array().then(|| value.clone()),
            Kind::Content | Kind::Json | Kind::Text | Kind::JsonText => {
                if let (Place::Details(name), Some(text)) = (row.place, value.as_str()) {
                    self.content.push(ContentField {
                        key: name,
                        text: text.to_owned(),
                        json: matches!(row.kind, Kind::Json | Kind::JsonText),
                        policy: matches!(row.kind, Kind::Content | Kind::Json),
                    });
                    self.details.insert(name.to_owned(), Value::Null);
                    return;
                }
                None
            }
        };
        let Some(read) = read else {
            // A value of an unexpected shape is kept, not guessed at.
            self.unmapped.insert(key.replace('.', "_"), value.clone());
            return;
        };
        if key == "cost_usd_micros" {
            self.cost_from_micros_field = true;
        }
        match row.place {
            Place::None => {}
            Place::Top(name) => {
                self.top.insert(name.to_owned(), read);
            }
            Place::Actor(name) => {
                self.actor.insert(name.to_owned(), read);
            }
            Place::ActorAttribute(name) => {
                self.actor_attributes.insert(name.to_owned(), read);
            }
            Place::Details(name) => {
                self.details.insert(name.to_owned(), read);
            }
        }
    }

    /// The value of a usage data point: tokens as an integer, cost as
    /// micro-dollars.
    fn usage_value(&mut self, point: &MetricPoint) -> Result<(), RecordError> {
        let value = point
            .value
            .as_ref()
            .ok_or_else(|| RecordError::missing("dataPoint.asDouble"))?;
        let invalid = |what: &'static str| {
            RecordError::field(RecordErrorKind::InvalidValue, "dataPoint.asDouble", what)
        };
        if self.name == "cost_usage" {
            let m = micros(value).ok_or_else(|| invalid("the cost is not a number"))?;
            self.details
                .insert("cost_usd_micros".to_owned(), Value::from(m));
        } else if self.name == "token_usage" {
            let n = int(value).ok_or_else(|| invalid("the token count is not an integer"))?;
            self.details.insert("tokens".to_owned(), Value::from(n));
        } else {
            self.details.insert("value".to_owned(), value.clone());
        }
        let interval = |t: &Option<(u64, String)>| t.as_ref().map(|(n, _)| format_nanos(*n));
        self.details
            .insert("interval_start".to_owned(), json!(interval(&point.start)));
        self.details
            .insert("interval_end".to_owned(), json!(interval(&point.time)));
        let temporality = match point.temporality {
            1 => "delta",
            2 => "cumulative",
            _ => "unspecified",
        };
        self.details
            .insert("temporality".to_owned(), json!(temporality));
        Ok(())
    }

    fn outcome(&self, rule: Outcome) -> &'static str {
        let detail = |k: &str| self.details.get(k);
        match rule {
            Outcome::Fixed(outcome) => outcome,
            Outcome::SuccessAttr => match detail("success").and_then(Value::as_bool) {
                Some(true) => "success",
                Some(false) => "failure",
                None => "unknown",
            },
            Outcome::Decision => match detail("decision").and_then(Value::as_str) {
                Some("accept") => "success",
                Some("reject") => "failure",
                _ => "unknown",
            },
            Outcome::Status => match detail("status").and_then(Value::as_str) {
                Some("failed") => "failure",
                Some("connected" | "disconnected") => "success",
                _ => "unknown",
            },
        }
    }

    fn resource(&self) -> Value {
        let text = |k: &str| self.details.get(k).and_then(Value::as_str);
        if self.name.starts_with("tool_")
            && let Some(tool) = text("tool_name")
        {
            return json!({"type": "tool", "id": tool});
        }
        if self.name == "mcp_server_connection"
            && let Some(server) = text("mcp_server_name")
        {
            return json!({"type": "mcp_server", "id": server});
        }
        Value::Null
    }

    fn actor(&mut self) -> Value {
        let account_id = self.top.get("user_id").cloned();
        let account_uuid = self.actor_attributes.get("account_uuid").cloned();
        let install_id = self.actor_attributes.get("install_id").cloned();
        let (id, source) = match (account_id, account_uuid, install_id) {
            (Some(id), _, _) => (id, "account_id"),
            (None, Some(id), _) => (id, "account_uuid"),
            (None, None, Some(id)) => (id, "install_id"),
            _ => (Value::Null, "none"),
        };
        self.actor_attributes
            .insert("id_source".to_owned(), Value::from(source));
        json!({
            "type": "claude_code_user",
            "kind": "user",
            "id": id,
            "email": self.actor.get("email").cloned().unwrap_or(Value::Null),
            "ip": null,
            "user_agent": null,
            "attributes": Value::Object(std::mem::take(&mut self.actor_attributes)),
        })
    }

    /// Assemble, redact and serialize the event.
    fn finish(
        mut self,
        nanos: u64,
        created_at: &str,
        id_parts: &[String],
        group: &Group,
        settings: &Settings,
        redactor: Option<&Redactor>,
    ) -> Result<Built, RecordError> {
        // The resource is redacted once per group and its findings added to
        // each event's report; with the vault on, pairs must keep the walk's
        // order, so it is redacted in place like the rest.
        let shared = redactor.filter(|r| !r.vault() && self.resource_placeholder);
        if self.resource_placeholder && shared.is_none() {
            self.details
                .insert("resource".to_owned(), Value::Object(group.resource.clone()));
        }
        let row = tables().events.get(self.name.as_str()).copied();
        if let Some(m) = self.details.get("cost_usd_micros").and_then(Value::as_i64) {
            self.details.insert("cost_usd".to_owned(), dollars(m));
        }
        let (category, action, outcome) = match row {
            Some(r) => (r.category, r.action, self.outcome(r.outcome)),
            None => ("claude_code", "unknown", "unknown"),
        };
        let event_type = format!("{EVENT_PREFIX}{}", self.name);
        let text =
            |c: &[ContentField], key: &str| c.iter().find(|f| f.key == key).map(|f| f.text.clone());
        let prompt_hash = content::hash(text(&self.content, "prompt").as_deref(), redactor);
        let response_hash = content::hash(text(&self.content, "response").as_deref(), redactor);
        let top = |d: &Draft, k: &str| d.top.get(k).cloned().unwrap_or(Value::Null);
        let mut event = json!({
            "schema_version": SCHEMA_VERSION,
            "event_id": event_id(id_parts),
            "timestamp": format_nanos(nanos),
            "source": {"name": SOURCE_NAME, "created_at": created_at},
            "event_type": event_type,
            "category": category,
            "action": action,
            "outcome": outcome,
            "organization_id": null,
            "organization_uuid": top(&self, "organization_uuid"),
            "user_id": top(&self, "user_id"),
            "request_id": top(&self, "request_id"),
            "model_id": top(&self, "model_id"),
            "prompt_hash": prompt_hash,
            "response_hash": response_hash,
            "actor": self.actor(),
            "target": {"user_id": null, "email": null},
            "resource": self.resource(),
            "details": Value::Object(std::mem::take(&mut self.details)),
            "unmapped": {
                "event_type": row.is_none(),
                "actor_type": false,
                "fields": Value::Object(std::mem::take(&mut self.unmapped)),
            },
        });
        let mut report = Report::default();
        if let Some(redactor) = redactor {
            redactor.redact(&mut event, &mut report);
        }
        if let Some(redactor) = shared {
            shared_resource(&mut event, group, redactor, &mut report);
        }
        // Before the policy drops the prompt: what the rules need of it.
        let signals = text(&self.content, "prompt")
            .filter(|t| content::is_content(t))
            .map(|t| super::signals::of(&t));
        if let (Some(signals), Some(details)) = (
            signals,
            event.get_mut("details").and_then(Value::as_object_mut),
        ) {
            details.insert("prompt_signals".to_owned(), json!(signals));
        }
        for field in &self.content {
            let path = ["details", field.key];
            let policy = if field.policy {
                settings.content.policy_for(ContentKind::Prompt)
            } else {
                ContentPolicy::Redact
            };
            let value = content::apply(
                &field.text,
                field.json,
                &path,
                policy,
                redactor,
                &mut report,
            );
            if let Some(details) = event.get_mut("details").and_then(Value::as_object_mut) {
                details.insert(field.key.to_owned(), value);
            }
        }
        let facts = (category, event_type.as_str(), outcome);
        let unmapped_fields = event
            .pointer("/unmapped/fields")
            .and_then(Value::as_object)
            .is_some_and(|f| !f.is_empty());
        let line = write_with_policy(event, &report, facts, nanos, settings, redactor)?;
        Ok(Built {
            line,
            unmapped: Unmapped {
                event_type: row.is_none(),
                actor_type: false,
                fields: unmapped_fields,
            },
            vault: report.vault,
        })
    }
}

/// Fill the `details.resource` placeholder the walk went over (unless a
/// rule dropped it) with the group's resource as redaction at that path
/// leaves it, redacted on the group's first event, and add what redaction
/// found there to `report`.
fn shared_resource(event: &mut Value, group: &Group, redactor: &Redactor, report: &mut Report) {
    let Some(slot) = event.pointer_mut("/details/resource") else {
        return;
    };
    let (redacted, found) = group.redacted.get_or_init(|| {
        let mut value = Value::Object(group.resource.clone());
        let mut found = Report::default();
        redactor.redact_at(&["details", "resource"], &mut value, &mut found);
        (value, found)
    });
    *slot = redacted.clone();
    report.absorb(found);
}

/// Insert the policy fields (schema order: before `unmapped`) and serialize.
fn write_with_policy(
    mut event: Value,
    report: &Report,
    (category, event_type, outcome): (&str, &str, &str),
    nanos: u64,
    settings: &Settings,
    redactor: Option<&Redactor>,
) -> Result<Vec<u8>, RecordError> {
    let map = event.as_object_mut().expect("built as an object");
    let unmapped = map.shift_remove("unmapped").unwrap_or(Value::Null);
    let data_classes: Vec<&str> = report.data_classes.iter().copied().collect();
    let controls = controls_for(&EventFacts {
        category,
        event_type,
        outcome,
        actor_kind: "user",
        data_classes: &data_classes,
    });
    let retention = &settings.retention;
    let (class, days) = retention.class_for(&data_classes);
    let retain_until = (!retention.legal_hold)
        .then(|| timestamp::add_days(nanos_time(nanos)?, days))
        .flatten()
        .map(timestamp::format);
    map.insert("policy_flags".to_owned(), json!(report.flags));
    map.insert("data_classes".to_owned(), json!(data_classes));
    map.insert("controls".to_owned(), json!(&*controls));
    map.insert("redaction_metadata".to_owned(), report.metadata(redactor));
    map.insert(
        "retention_state".to_owned(),
        json!({
            "class": class,
            "period_days": days,
            "retain_until": retain_until,
            "legal_hold": retention.legal_hold,
        }),
    );
    map.insert("unmapped".to_owned(), unmapped);
    serde_json::to_vec(&event).map_err(|e| {
        RecordError::record(
            RecordErrorKind::InvalidValue,
            format!("cannot serialize: {e}"),
        )
    })
}

fn nanos_time(nanos: u64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).ok()
}

/// Nanoseconds since the epoch in the canonical timestamp form.
fn format_nanos(nanos: u64) -> String {
    nanos_time(nanos).map_or_else(|| nanos.to_string(), timestamp::format)
}

/// Re-export for the module root.
pub(super) fn disposition(built: &Built) -> Disposition {
    Disposition::Emitted(built.unmapped)
}
