//! Claude Code OpenTelemetry records -> canonical audit events.
//!
//! Owns recognizing the OTLP input forms (`record`), reading attribute
//! values whatever their wire type (`value`), the event and attribute
//! tables (`tables`, data in `plugin/data/claude-code/`), building the event
//! (`event`) and the content policy (`content`). It does not read OTLP
//! requests: the host splits those into records (`host/src/otlp/`), so that
//! `run`, `serve` and the Fluent Bit module all go through this one path.

mod content;
mod event;
mod record;
pub mod signals;
mod tables;
pub mod value;
mod wire;

use std::sync::{Arc, Mutex};

use serde_json::value::RawValue;

use crate::config::Settings;
use crate::error::RecordError;
use crate::normalize::Disposition;
use crate::redact::{Redactor, VaultEntry};
use record::{Group, Input};

pub use record::recognize;

/// What a transform remembers between records: the resource and scope of
/// the records that follow a Fluent Bit group-start marker, and the group of
/// the last `otlp_log` resource and scope text seen (the host writes every
/// record of an export request with the same text, so a request's records
/// share one decoded, once-redacted group). Kept across batches; one per
/// transform, so one redactor.
#[derive(Debug, Default)]
pub struct Context {
    group: Mutex<Option<Arc<Group>>>,
    last: Mutex<Option<LastGroup>>,
}

/// The group of one resource and scope JSON text.
#[derive(Debug)]
struct LastGroup {
    resource: Option<String>,
    scope: Option<String>,
    group: Arc<Group>,
}

impl Context {
    fn set(&self, group: Option<Arc<Group>>) {
        *lock(&self.group) = group;
    }

    fn current(&self) -> Option<Arc<Group>> {
        lock(&self.group).clone()
    }

    /// The group of this resource and scope text: the last one's when the
    /// text is the same, else decoded (and remembered).
    fn group_of(&self, resource: Option<&RawValue>, scope: Option<&RawValue>) -> Arc<Group> {
        fn text(raw: Option<&RawValue>) -> Option<&str> {
            raw.map(RawValue::get)
        }
        let mut last = lock(&self.last);
        if let Some(hit) = last.as_ref().filter(|l| {
            l.resource.as_deref() == text(resource) && l.scope.as_deref() == text(scope)
        }) {
            return Arc::clone(&hit.group);
        }
        let group = record::group_from_text(resource, scope);
        *last = Some(LastGroup {
            resource: text(resource).map(str::to_owned),
            scope: text(scope).map(str::to_owned),
            group: Arc::clone(&group),
        });
        group
    }
}

/// A lock, even after a panic elsewhere poisoned it (the value is replaced
/// whole, so it is never half-written).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Normalize one recognized record (see [`recognize`]), appending the event
/// and a `\n` to `out`. Fluent Bit group markers are not events: they are
/// counted as `filtered` (they hold no activity), so that every line is
/// still accounted for.
pub fn normalize_line(
    line: &[u8],
    context: &Context,
    settings: &Settings,
    redactor: Option<&Redactor>,
    out: &mut Vec<u8>,
    vault: &mut Vec<VaultEntry>,
) -> Result<Disposition, RecordError> {
    let text = std::str::from_utf8(line).map_err(|e| {
        RecordError::record(
            crate::error::RecordErrorKind::InvalidUtf8,
            format!("invalid UTF-8 at byte offset {}", e.valid_up_to()),
        )
    })?;
    let built = match record::parse(text, |r, s| context.group_of(r, s))? {
        Input::GroupStart(group) => {
            context.set(Some(group));
            return Ok(Disposition::Filtered);
        }
        Input::GroupEnd => {
            context.set(None);
            return Ok(Disposition::Filtered);
        }
        Input::Log(mut log) => {
            if log.group.resource.is_empty() && log.group.scope_name.is_none() {
                log.group = context.current().unwrap_or_default();
            }
            event::log_event(&log, settings, redactor)?
        }
        Input::Metric(point) => event::metric_event(&point, settings, redactor)?,
    };
    let Some(built) = built else {
        return Ok(Disposition::Filtered);
    };
    out.extend_from_slice(&built.line);
    out.push(b'\n');
    vault.extend(built.vault.iter().cloned());
    Ok(event::disposition(&built))
}

#[cfg(test)]
mod tests;
