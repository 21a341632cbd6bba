//! Output profiles: the finished canonical event (schema v1) rewritten into
//! another schema a SIEM already understands.
//!
//! - `canonical` (default): the event as normalized, redacted and tagged.
//! - `ocsf`: OCSF 1.8.0 ([`ocsf`]), for Amazon Security Lake, Google SecOps,
//!   Splunk's OCSF add-on and other OCSF consumers.
//! - `ecs`: Elastic Common Schema 9.4.0 ([`ecs`]), for Elasticsearch and
//!   OpenSearch.
//!
//! A profile is applied last, to the finished canonical event, so it sees
//! exactly what the canonical output would carry (pseudonyms, never raw
//! values) and nothing upstream needs to know profiles exist. The mapping is
//! data: `plugin/data/profiles.tsv` (one row per activity type),
//! `ocsf-classes.tsv`, `profile-actors.tsv` ([`table`]).
//!
//! Alerts of the detection stage (`event_type` `claude_audit.alert`) go
//! through the same profiles: OCSF Detection Finding 2004 ([`finding`]) and
//! ECS `event.kind: alert` ([`ecs_alert`]).

pub mod ecs;
pub mod ecs_alert;
pub mod finding;
pub mod ocsf;
pub mod table;
pub mod typed;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{RecordError, RecordErrorKind};

/// Which schema events are written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The canonical audit schema v1.
    #[default]
    Canonical,
    /// OCSF 1.8.0.
    Ocsf,
    /// Elastic Common Schema 9.4.0.
    Ecs,
}

/// Rewrite the canonical event in `out[start..]` (one JSON object and its
/// `\n`) into `profile`, in place. `canonical` leaves it untouched.
///
/// # Errors
/// When the bytes are not the one JSON object the canonical writer produces
/// (a defect): nothing of the event is left in `out`, so the caller
/// dead-letters the record rather than emit a half-converted event.
pub fn apply(profile: Profile, out: &mut Vec<u8>, start: usize) -> Result<(), RecordError> {
    if profile == Profile::Canonical {
        return Ok(());
    }
    let end = out.len() - usize::from(out.last() == Some(&b'\n'));
    let event: Result<Value, _> = serde_json::from_slice(&out[start..end]);
    out.truncate(start);
    let event = event.map_err(|_| defect("the canonical event is not JSON"))?;
    let converted = convert(profile, &event)
        .ok_or_else(|| defect("the canonical event lacks a required field"))?;
    serde_json::to_writer(&mut *out, &converted)
        .map_err(|_| defect("the profile event could not be written"))?;
    out.push(b'\n');
    Ok(())
}

/// The canonical `event` (an activity or an alert) in `profile`; `None` when
/// it lacks a field the canonical writer always sets.
pub fn convert(profile: Profile, event: &Value) -> Option<Value> {
    match profile {
        Profile::Canonical => Some(event.clone()),
        Profile::Ocsf => ocsf::convert(event),
        Profile::Ecs => ecs::convert(event),
    }
}

fn defect(detail: &'static str) -> RecordError {
    RecordError::record(RecordErrorKind::InvalidValue, detail)
}

/// Read access to a canonical event by JSON pointer.
#[derive(Debug, Clone, Copy)]
pub struct Canonical<'a>(pub &'a Value);

impl<'a> Canonical<'a> {
    /// The value at `pointer`, unless absent or null.
    pub fn get(&self, pointer: &str) -> Option<&'a Value> {
        self.0.pointer(pointer).filter(|v| !v.is_null())
    }

    /// The string at `pointer`, unless absent, null or not a string.
    pub fn str(&self, pointer: &str) -> Option<&'a str> {
        self.get(pointer).and_then(Value::as_str)
    }

    /// The value at `pointer`, or JSON null.
    pub fn or_null(&self, pointer: &str) -> Value {
        self.get(pointer).cloned().unwrap_or(Value::Null)
    }
}

/// Insert `value` under `key` unless it is null (OCSF and ECS both leave
/// unknown attributes out rather than write nulls).
pub(crate) fn put(map: &mut serde_json::Map<String, Value>, key: &str, value: impl Into<Value>) {
    let value = value.into();
    let empty = match &value {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if !empty {
        map.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests;
