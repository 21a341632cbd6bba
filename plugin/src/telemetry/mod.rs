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

use std::sync::Mutex;

use crate::config::Settings;
use crate::error::RecordError;
use crate::normalize::Disposition;
use crate::redact::{Redactor, VaultEntry};
use record::{Group, Input};

pub use record::recognize;

/// What a Fluent Bit stream's last group-start marker said (resource and
/// scope of the records that follow it). Kept across batches.
#[derive(Debug, Default)]
pub struct Context {
    group: Mutex<Option<Group>>,
}

impl Context {
    fn set(&self, group: Option<Group>) {
        *self
            .group
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = group;
    }

    fn current(&self) -> Option<Group> {
        self.group
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
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
    let built = match record::parse(text)? {
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
