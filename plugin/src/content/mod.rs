//! Conversation content from the Compliance API content endpoints (SPEC
//! §10) -> canonical audit events: one per chat message, artifact version,
//! chat file, project document, and chat deletion (soft: `deleted_at`;
//! hard: the chat answered 404 while still listed).
//!
//! What this module owns: turning one content record (`input`, built by
//! `claude-audit pull`) into one event with the keyed content hash
//! (`prompt_hash` for what went to the model, `response_hash` for what came
//! back; `crate::content_hash`), the optional unkeyed SHA-256, lengths,
//! attachment ids, the detectors' findings, and the text itself only as
//! `[content]` allows (`settings`). What it does not own: fetching (the
//! host's `pull::content`), the detectors and actions (`crate::redact`),
//! the control matrix (`data/controls.tsv`).

pub mod input;
pub mod settings;

use std::borrow::Cow;

use serde_json::{Map, Value, json};

pub use settings::{ContentField, ContentPolicy, ContentSettings};

use crate::config::Settings;
use crate::content_hash;
use crate::controls::{EventFacts, controls_for};
use crate::error::{RecordError, RecordErrorKind};
use crate::normalize::{Disposition, SCHEMA_VERSION, Unmapped};
use crate::redact::{Redacted, Redactor, Report, VaultEntry};
use crate::timestamp;
use input::{ContentRecord, UserRef, attachment_id};

/// The `source.name` of content events.
pub const SOURCE_NAME: &str = "anthropic.compliance_api.content";

/// The event types content records produce (the control matrix may name
/// them beside the Activity Feed's types).
pub const EVENT_TYPES: [&str; 6] = [
    "claude_chat_message",
    "claude_chat_soft_deleted",
    "claude_chat_hard_deleted",
    "claude_artifact_version",
    "claude_chat_file",
    "claude_project_document",
];

/// Which side of the conversation a text is on: it decides whether its
/// keyed hash is the `prompt_hash` or the `response_hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Sent to the model (user messages, uploads, project documents).
    Prompt,
    /// Produced by the model (assistant messages, artifacts, generated files).
    Response,
}

/// A content event before redaction and serialization.
struct Draft<'r> {
    event_type: &'r str,
    category: &'static str,
    action: &'static str,
    event_id: String,
    created_at_raw: &'r str,
    organization_id: Option<&'r str>,
    organization_uuid: Option<&'r str>,
    user: Option<&'r UserRef>,
    model_id: Option<&'r str>,
    resource: (&'static str, &'r str),
    details: Map<String, Value>,
    side: Side,
    /// The hashed text and the field policy it falls under.
    text: Option<(ContentField, Cow<'r, str>)>,
    /// A precomputed keyed hash (files: hashed by the host as they streamed).
    keyed_hash: Option<String>,
    /// Further free text written under `details` by policy (chat name).
    extra_text: Vec<(ContentField, &'static str, &'r str)>,
}

/// Normalize one content record, appending the event and `\n` to `out`.
pub(crate) fn normalize(
    text: &str,
    settings: &Settings,
    redactor: Option<&Redactor>,
    out: &mut Vec<u8>,
    vault: &mut Vec<VaultEntry>,
) -> Result<Disposition, RecordError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let record: ContentRecord = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // The path only: serde's message can quote the value.
        RecordError::record(
            RecordErrorKind::InvalidValue,
            format!(
                "content record: field `{}` is missing or has the wrong type",
                e.path()
            ),
        )
    })?;
    if !settings.allows_type(&record.content_event) {
        return Ok(Disposition::Filtered);
    }
    let draft = Draft::from_record(&record)?;
    let created = timestamp::parse(draft.created_at_raw).ok_or_else(|| {
        RecordError::record(
            RecordErrorKind::InvalidValue,
            "content record: the event time is not an RFC 3339 timestamp",
        )
    })?;
    let mut report = Report::default();
    let event = draft.finish(settings, redactor, &mut report, created);
    serde_json::to_writer(&mut *out, &event).map_err(|_| {
        RecordError::record(RecordErrorKind::InvalidValue, "content event not encodable")
    })?;
    out.push(b'\n');
    vault.extend(report.vault);
    Ok(Disposition::Emitted(Unmapped::default()))
}

/// `details.content_status` of artifacts and files: `read`, or
/// `not_found` when it was deleted between the message listing it and
/// the download (no hash then).
fn content_status(r: &ContentRecord) -> &str {
    r.status.as_deref().unwrap_or("read")
}

fn missing(what: &'static str) -> RecordError {
    RecordError::missing(what)
}

impl<'r> Draft<'r> {
    /// The event a record describes, by its `content_event`.
    fn from_record(r: &'r ContentRecord) -> Result<Self, RecordError> {
        match r.content_event.as_str() {
            "claude_chat_message" => Self::message(r),
            "claude_chat_soft_deleted" => Self::deleted(r),
            "claude_chat_hard_deleted" => Self::gone(r),
            "claude_artifact_version" => Self::artifact(r),
            "claude_chat_file" => Self::file(r),
            "claude_project_document" => Self::document(r),
            _ => Err(RecordError::field(
                RecordErrorKind::InvalidValue,
                "content_event",
                "unknown content event type",
            )),
        }
    }

    /// Fields every chat-bound event shares.
    fn chat_bound(r: &'r ContentRecord, event_type: &'r str) -> Result<Self, RecordError> {
        let chat = r.chat.as_ref().ok_or_else(|| missing("chat"))?;
        let mut details = Map::new();
        details.insert("chat_id".into(), chat.id.clone().into());
        details.insert("project_id".into(), json!(chat.project_id));
        let extra_text = chat
            .name
            .as_deref()
            .map(|n| vec![(ContentField::ChatName, "chat_name", n)])
            .unwrap_or_default();
        Ok(Self {
            event_type,
            category: "chat",
            action: "create",
            event_id: String::new(),
            created_at_raw: "",
            organization_id: chat.organization_id.as_deref(),
            organization_uuid: chat.organization_uuid.as_deref(),
            user: chat.user.as_ref(),
            model_id: chat.model.as_deref(),
            resource: ("chat", &chat.id),
            details,
            side: Side::Prompt,
            text: None,
            keyed_hash: None,
            extra_text,
        })
    }

    fn message(r: &'r ContentRecord) -> Result<Self, RecordError> {
        let m = r.message.as_ref().ok_or_else(|| missing("message"))?;
        let mut d = Self::chat_bound(r, &r.content_event)?;
        let role = m.role.as_deref().unwrap_or("unknown");
        d.side = if role == "assistant" {
            Side::Response
        } else {
            Side::Prompt
        };
        d.event_id.clone_from(&m.id);
        d.created_at_raw = &m.created_at;
        let ids = |list: &[Value]| -> Vec<Value> {
            list.iter()
                .filter_map(attachment_id)
                .map(|s| Value::from(s.to_owned()))
                .collect()
        };
        let det = &mut d.details;
        det.insert("message_id".into(), m.id.clone().into());
        det.insert("role".into(), role.into());
        det.insert("file_ids".into(), ids(&m.files).into());
        det.insert("generated_file_ids".into(), ids(&m.generated_files).into());
        let versions: Vec<Value> = m
            .artifacts
            .iter()
            .map(|a| a.version_id.clone().into())
            .collect();
        det.insert("artifact_version_ids".into(), versions.into());
        det.insert("non_text_blocks".into(), m.other_blocks().into());
        d.text = Some((ContentField::Message, Cow::Owned(m.text())));
        Ok(d)
    }

    fn deleted(r: &'r ContentRecord) -> Result<Self, RecordError> {
        let chat = r.chat.as_ref().ok_or_else(|| missing("chat"))?;
        let at = chat.deleted_at.as_deref();
        Self::deletion(r, at.ok_or_else(|| missing("chat.deleted_at"))?, "deleted")
    }

    /// A chat that answered 404 while listed: deleted for good at an
    /// unknown time before `observed_at`, when `pull` saw it gone.
    fn gone(r: &'r ContentRecord) -> Result<Self, RecordError> {
        let at = r.observed_at.as_deref();
        let mut d = Self::deletion(r, at.ok_or_else(|| missing("observed_at"))?, "hard_deleted")?;
        let deleted_at = r.chat.as_ref().and_then(|c| c.deleted_at.as_deref());
        d.details.insert("deleted_at".into(), json!(deleted_at));
        d.details.insert("observed_at".into(), json!(r.observed_at));
        Ok(d)
    }

    /// A chat's deletion at `at`, its event id `<chat id>:<suffix>`.
    fn deletion(r: &'r ContentRecord, at: &'r str, suffix: &str) -> Result<Self, RecordError> {
        let mut d = Self::chat_bound(r, &r.content_event)?;
        let chat = r.chat.as_ref().ok_or_else(|| missing("chat"))?;
        d.created_at_raw = at;
        d.event_id = format!("{}:{suffix}", chat.id);
        d.action = "delete";
        d.details
            .insert("updated_at".into(), json!(chat.updated_at));
        Ok(d)
    }

    fn artifact(r: &'r ContentRecord) -> Result<Self, RecordError> {
        let m = r.message.as_ref().ok_or_else(|| missing("message"))?;
        let a = r.artifact.as_ref().ok_or_else(|| missing("artifact"))?;
        let mut d = Self::chat_bound(r, &r.content_event)?;
        d.category = "artifact";
        d.side = Side::Response;
        d.event_id.clone_from(&a.version_id);
        d.created_at_raw = &m.created_at;
        d.resource = ("artifact", &a.id);
        let det = &mut d.details;
        det.insert("message_id".into(), m.id.clone().into());
        det.insert("artifact_id".into(), a.id.clone().into());
        det.insert("version_id".into(), a.version_id.clone().into());
        det.insert("artifact_type".into(), json!(a.artifact_type));
        det.insert("title".into(), json!(a.title));
        det.insert("content_status".into(), content_status(r).into());
        d.text = r
            .text
            .as_deref()
            .map(|t| (ContentField::Artifact, Cow::Borrowed(t)));
        Ok(d)
    }

    fn file(r: &'r ContentRecord) -> Result<Self, RecordError> {
        let m = r.message.as_ref().ok_or_else(|| missing("message"))?;
        let file = r.file.as_ref().ok_or_else(|| missing("file"))?;
        let id = attachment_id(file).ok_or_else(|| missing("file.id"))?;
        let mut d = Self::chat_bound(r, &r.content_event)?;
        d.category = "file";
        let generated = r.direction.as_deref() == Some("generated");
        d.side = if generated {
            Side::Response
        } else {
            Side::Prompt
        };
        d.event_id = id.to_owned();
        d.created_at_raw = &m.created_at;
        d.resource = ("file", id);
        let det = &mut d.details;
        det.insert("message_id".into(), m.id.clone().into());
        det.insert("file_id".into(), id.into());
        det.insert(
            "direction".into(),
            if generated { "generated" } else { "uploaded" }.into(),
        );
        for key in ["filename", "mime_type", "size_bytes"] {
            det.insert(key.into(), file.get(key).cloned().unwrap_or(Value::Null));
        }
        det.insert("content_status".into(), content_status(r).into());
        if let Some(digest) = &r.digest {
            det.insert("content_bytes".into(), digest.bytes.into());
            det.insert("content_md5".into(), digest.content_md5.clone().into());
            d.keyed_hash.clone_from(&digest.hmac);
            det.insert("file_sha256".into(), digest.sha256.clone().into());
        }
        Ok(d)
    }

    fn document(r: &'r ContentRecord) -> Result<Self, RecordError> {
        let doc = r.document.as_ref().ok_or_else(|| missing("document"))?;
        let project = r.project.as_ref().ok_or_else(|| missing("project"))?;
        let mut details = Map::new();
        details.insert("project_id".into(), project.id.clone().into());
        details.insert("document_id".into(), doc.id.clone().into());
        details.insert("filename".into(), json!(doc.filename));
        Ok(Self {
            event_type: &r.content_event,
            category: "project",
            action: "create",
            event_id: doc.id.clone(),
            created_at_raw: &doc.created_at,
            organization_id: project.organization_id.as_deref(),
            organization_uuid: None,
            user: doc.user.as_ref().or(project.user.as_ref()),
            model_id: None,
            resource: ("project_document", &doc.id),
            details,
            side: Side::Prompt,
            text: doc
                .content
                .as_deref()
                .map(|t| (ContentField::Document, Cow::Borrowed(t))),
            keyed_hash: None,
            extra_text: Vec::new(),
        })
    }

    /// Redact, hash, tag, and lay the event out in schema order.
    fn finish(
        mut self,
        settings: &Settings,
        redactor: Option<&Redactor>,
        report: &mut Report,
        created: time::OffsetDateTime,
    ) -> Value {
        if let Some((_, text)) = &self.text {
            self.details
                .insert("content_chars".into(), text.chars().count().into());
            self.details
                .insert("content_bytes".into(), text.len().into());
        }
        let user_id = self.user.and_then(|u| u.id.as_deref());
        let email = self.user.and_then(|u| u.email_address.as_deref());
        let mut event = json!({
            "schema_version": SCHEMA_VERSION,
            "event_id": self.event_id,
            "timestamp": timestamp::format(created),
            "source": {"name": SOURCE_NAME, "created_at": self.created_at_raw},
            "event_type": self.event_type,
            "category": self.category,
            "action": self.action,
            "outcome": "success",
            "organization_id": self.organization_id,
            "organization_uuid": self.organization_uuid,
            "user_id": user_id,
            "request_id": null,
            "model_id": self.model_id,
            "prompt_hash": null,
            "response_hash": null,
            "actor": {
                "type": "user_actor", "kind": "user", "id": user_id, "email": email,
                "ip": null, "user_agent": null, "attributes": {},
            },
            "target": {"user_id": null, "email": null},
            "resource": {"type": self.resource.0, "id": self.resource.1},
            "details": Value::Object(std::mem::take(&mut self.details)),
        });
        if let Some(r) = redactor {
            r.redact(&mut event, report);
        }
        self.apply_texts(&mut event, settings, redactor, report);
        self.write_hashes(&mut event, settings, redactor);
        write_policy(&mut event, &self, settings, redactor, report, created);
        event
    }

    /// Scan every text; write it (redacted or kept) or leave it out, per
    /// `[content]`. Findings are counted whatever the policy.
    fn apply_texts(
        &self,
        event: &mut Value,
        settings: &Settings,
        redactor: Option<&Redactor>,
        report: &mut Report,
    ) {
        let texts = self
            .text
            .iter()
            .map(|(f, t)| (*f, "content", t.as_ref()))
            .chain(self.extra_text.iter().copied());
        let mut findings: std::collections::BTreeMap<String, u64> = Default::default();
        for (field, key, text) in texts {
            let path = ["details", key];
            let policy = settings.content.policy_for(field);
            let mut scan = Report::default();
            let outcome = redactor.map_or(Redacted::Unchanged, |r| {
                r.redact_str(&path, text, &mut scan)
            });
            report.flags.extend(scan.flags.iter().copied());
            report
                .data_classes
                .extend(scan.data_classes.iter().copied());
            for (entity, n) in &scan.counts {
                *findings.entry(entity.clone()).or_default() += n;
            }
            let written = match (policy, outcome) {
                (ContentPolicy::Drop, _) => {
                    report.dropped.insert(path.join("."));
                    None
                }
                (ContentPolicy::Keep, _) | (ContentPolicy::Redact, Redacted::Unchanged) => {
                    Some(Value::from(text))
                }
                (ContentPolicy::Redact, Redacted::Replaced(v)) => {
                    merge_counts(report, &scan);
                    report.paths.extend(scan.paths);
                    report.vault.extend(scan.vault);
                    Some(v)
                }
                (ContentPolicy::Redact, Redacted::Dropped) => {
                    report.dropped.insert(path.join("."));
                    None
                }
            };
            if let (Some(v), Some(details)) = (written, event["details"].as_object_mut()) {
                details.insert(key.into(), v);
            }
        }
        if let Some(details) = event["details"].as_object_mut() {
            details.insert("content_findings".into(), json!(findings));
        }
    }

    /// `prompt_hash` / `response_hash` (keyed) and, when asked for,
    /// `details.content_sha256` (unkeyed).
    fn write_hashes(&self, event: &mut Value, settings: &Settings, redactor: Option<&Redactor>) {
        let keyed = match (&self.keyed_hash, &self.text, redactor) {
            (Some(h), _, _) => Some(h.clone()),
            (None, Some((_, text)), Some(r)) => Some(r.content_hash(text)),
            _ => None,
        };
        let slot = match self.side {
            Side::Prompt => "prompt_hash",
            Side::Response => "response_hash",
        };
        event[slot] = json!(keyed);
        let Some(details) = event["details"].as_object_mut() else {
            return;
        };
        if settings.content.unkeyed_hash {
            if let Some((_, text)) = &self.text {
                details.insert("content_sha256".into(), content_hash::unkeyed(text).into());
            }
        } else {
            // The file's unkeyed digest is published only on request too.
            details.remove("file_sha256");
        }
    }
}

fn merge_counts(report: &mut Report, scan: &Report) {
    for (entity, n) in &scan.counts {
        *report.counts.entry(entity.clone()).or_default() += n;
    }
}

/// `policy_flags` to `retention_state` and `unmapped`, from what redaction
/// found (the same rules as Activity Feed events).
fn write_policy(
    event: &mut Value,
    draft: &Draft<'_>,
    settings: &Settings,
    redactor: Option<&Redactor>,
    report: &Report,
    created: time::OffsetDateTime,
) {
    let data_classes: Vec<&str> = report.data_classes.iter().copied().collect();
    let facts = EventFacts {
        category: draft.category,
        event_type: draft.event_type,
        outcome: "success",
        actor_kind: "user",
        data_classes: &data_classes,
    };
    let retention = &settings.retention;
    let (class, days) = retention.class_for(&data_classes);
    let retain_until = (!retention.legal_hold)
        .then(|| timestamp::add_days(created, days))
        .flatten()
        .map(timestamp::format);
    let Some(map) = event.as_object_mut() else {
        return;
    };
    map.insert("policy_flags".into(), json!(report.flags));
    map.insert("data_classes".into(), json!(data_classes));
    map.insert("controls".into(), json!(controls_for(&facts).to_vec()));
    map.insert("redaction_metadata".into(), report.metadata(redactor));
    map.insert(
        "retention_state".into(),
        json!({"class": class, "period_days": days, "retain_until": retain_until,
               "legal_hold": retention.legal_hold}),
    );
    map.insert(
        "unmapped".into(),
        json!({"event_type": false, "actor_type": false, "fields": {}}),
    );
}

#[cfg(test)]
mod tests;
