//! Conversation content in Claude Code events (`prompt`, `response`,
//! `tool_parameters`, `tool_input`, error texts, API bodies): the
//! `content.policy` switch and the keyed content hashes.
//!
//! Whatever the policy, the text is scanned, so the event's `policy_flags`
//! and `data_classes` say that a secret or an e-mail address was in the
//! prompt even when the prompt itself is not kept (rules such as CL-27 read
//! them). Claude Code's own placeholder `<REDACTED>` is not content: it is
//! written as sent, never hashed.

use serde_json::Value;
use serde_json::value::RawValue;

use crate::content::ContentPolicy;
use crate::redact::{Redacted, Redactor, Report};

/// What Claude Code sends instead of content it was told not to log.
pub const SOURCE_PLACEHOLDER: &str = "<REDACTED>";

/// Whether `text` is real content (present and not Claude Code's
/// placeholder), i.e. worth hashing.
pub fn is_content(text: &str) -> bool {
    text != SOURCE_PLACEHOLDER
}

/// The value written for one content field at `path` (`["details",
/// "prompt"]`), applying `policy`. `json` says the text holds JSON
/// (`tool_parameters`, `tool_input`, API bodies): it is then also parsed,
/// so a secret inside a nested, escaped value is found too.
pub fn apply(
    text: &str,
    json: bool,
    path: &[&str],
    policy: ContentPolicy,
    redactor: Option<&Redactor>,
    report: &mut Report,
) -> Value {
    if !is_content(text) {
        return Value::String(text.to_owned());
    }
    let Some(redactor) = redactor else {
        // Redaction off (explicitly): only the policy applies.
        return match policy {
            ContentPolicy::Drop => Value::Null,
            ContentPolicy::Redact | ContentPolicy::Keep => Value::String(text.to_owned()),
        };
    };
    let redacted = scrub(text, json, path, redactor, report);
    let dotted = path.join(".");
    match policy {
        ContentPolicy::Redact => Value::String(redacted),
        ContentPolicy::Drop => {
            report.paths.remove(&dotted);
            report.dropped.insert(dotted);
            Value::Null
        }
        ContentPolicy::Keep => {
            report.paths.remove(&dotted);
            Value::String(text.to_owned())
        }
    }
}

/// The text with every detected value redacted: as JSON first (when it
/// parses), then as text (escapes and fragments the parse cannot see).
fn scrub(
    text: &str,
    json: bool,
    path: &[&str],
    redactor: &Redactor,
    report: &mut Report,
) -> String {
    let mut current = text.to_owned();
    if json
        && let Ok(raw) = RawValue::from_string(text.to_owned())
        && let Redacted::Replaced(value) = redactor.redact_raw(path, &raw, report)
    {
        current = value.to_string();
    }
    match redactor.redact_str(path, &current, report) {
        Redacted::Replaced(Value::String(new)) => new,
        Redacted::Replaced(other) => other.to_string(),
        Redacted::Unchanged => current,
        Redacted::Dropped => String::new(),
    }
}

/// The keyed hash of a content text (`None` for the placeholder, or when
/// redaction, and so the key, is off).
pub fn hash(text: Option<&str>, redactor: Option<&Redactor>) -> Option<String> {
    let text = text.filter(|t| is_content(t))?;
    Some(redactor?.content_hash(text))
}
