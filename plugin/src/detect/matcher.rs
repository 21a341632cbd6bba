//! Field access on canonical events and the conditions of a rule's `where`.
//!
//! Paths are dotted (`actor.ip`, `details.enabled`); a path that crosses an
//! array looks into every element (`details.updates.type`), so a condition
//! holds when any reached value satisfies it. Absent and `null` are the same.

use regex::Regex;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Every value `path` reaches in `event` (none when absent or null).
pub fn values<'v>(event: &'v Value, path: &str) -> Vec<&'v Value> {
    let mut current = vec![event];
    for segment in path.split('.') {
        let mut next = Vec::new();
        for value in current {
            collect(value, segment, &mut next);
        }
        current = next;
    }
    // A list at the end of the path stands for its elements
    // (`data_classes` holds "secret" when one of its items is).
    let mut out = Vec::with_capacity(current.len());
    for value in current {
        match value {
            Value::Array(items) => out.extend(items.iter()),
            other => out.push(other),
        }
    }
    out.retain(|v| !v.is_null());
    out
}

fn collect<'v>(value: &'v Value, segment: &str, out: &mut Vec<&'v Value>) {
    match value {
        Value::Object(map) => out.extend(map.get(segment)),
        Value::Array(items) => items.iter().for_each(|item| collect(item, segment, out)),
        _ => {}
    }
}

/// The first value `path` reaches, as text (strings as they are, numbers
/// and booleans in JSON form); `None` when absent, null or empty.
pub fn text(event: &Value, path: &str) -> Option<String> {
    let value = match first_plain(event, path) {
        Some(found) => found?,
        None => *values(event, path).first()?,
    };
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    (!text.is_empty()).then_some(text)
}

/// The value at `path` when the walk crosses no array, without the
/// allocations of [`values`]: `Some(None)` when absent or null, `None` when
/// an array is in the way (then [`values`] decides).
fn first_plain<'v>(event: &'v Value, path: &str) -> Option<Option<&'v Value>> {
    let mut current = event;
    for segment in path.split('.') {
        current = match current {
            Value::Object(map) => match map.get(segment) {
                Some(next) => next,
                None => return Some(None),
            },
            Value::Array(_) => return None,
            _ => return Some(None),
        };
    }
    match current {
        Value::Array(_) => None,
        Value::Null => Some(None),
        other => Some(Some(other)),
    }
}

/// Whether an event type matches a list of names and `*` globs (empty: all).
pub fn type_matches(patterns: &[String], event_type: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| glob(p, event_type))
}

/// `*` matches any run of characters; nothing else is special.
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// One condition. Exactly one field selector (`field` or `fields`, or
/// `any` for a disjunction of conditions) and any number of tests, all of
/// which must hold for some reached value.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cond {
    /// The field tested.
    #[serde(default)]
    pub field: Option<String>,
    /// Several fields, any of which may satisfy the tests (e.g. `enabled`
    /// and `is_enabled`, the vendor defect RULES.md warns about).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Conditions of which at least one must hold (instead of a field).
    #[serde(default)]
    pub any: Vec<Cond>,
    /// The value equals one of these (JSON equality; strings compare
    /// case-insensitively).
    #[serde(default, rename = "in")]
    pub one_of: Vec<Value>,
    /// The value equals none of these; also true when the field is absent.
    #[serde(default)]
    pub not_in: Vec<Value>,
    /// The text contains one of these (case-insensitive).
    #[serde(default)]
    pub contains: Vec<String>,
    /// The text matches this regular expression.
    #[serde(default, deserialize_with = "regex_opt")]
    pub regex: Option<Regex>,
    /// The field is present (true) or absent (false).
    #[serde(default)]
    pub exists: Option<bool>,
    /// The number is at least this.
    #[serde(default)]
    pub gte: Option<f64>,
}

fn regex_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Regex>, D::Error> {
    let text = String::deserialize(d)?;
    Regex::new(&text)
        .map(Some)
        .map_err(|_| serde::de::Error::custom("an invalid regular expression"))
}

impl Cond {
    /// Whether the condition holds for `event`.
    pub fn holds(&self, event: &Value) -> bool {
        if !self.any.is_empty() {
            return self.any.iter().any(|c| c.holds(event));
        }
        let found: Vec<&Value> = self
            .field
            .iter()
            .chain(&self.fields)
            .flat_map(|path| values(event, path))
            .collect();
        if self.exists.is_some_and(|wanted| found.is_empty() == wanted) {
            return false;
        }
        if !self.not_in.is_empty() && found.iter().any(|v| self.not_in.iter().any(|n| same(v, n))) {
            return false;
        }
        if !self.has_value_test() {
            return true;
        }
        found.iter().any(|v| self.value_passes(v))
    }

    fn has_value_test(&self) -> bool {
        !self.one_of.is_empty()
            || !self.contains.is_empty()
            || self.regex.is_some()
            || self.gte.is_some()
    }

    fn value_passes(&self, value: &Value) -> bool {
        let text = match value {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        };
        (self.one_of.is_empty() || self.one_of.iter().any(|w| same(value, w)))
            && (self.contains.is_empty()
                || text.is_some_and(|t| {
                    let lower = t.to_lowercase();
                    self.contains
                        .iter()
                        .any(|c| lower.contains(&c.to_lowercase()))
                }))
            && self
                .regex
                .as_ref()
                .is_none_or(|r| text.is_some_and(|t| r.is_match(t)))
            && self
                .gte
                .is_none_or(|min| number(value).is_some_and(|n| n >= min))
    }
}

/// JSON equality, strings case-insensitive, and `"false"` equal to `false`
/// (the feed is not consistent about booleans in settings payloads).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Value::String(x), Value::Bool(y)) | (Value::Bool(y), Value::String(x)) => {
            x.eq_ignore_ascii_case(if *y { "true" } else { "false" })
        }
        _ => a == b,
    }
}

/// A number, or a string holding one.
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs() {
        assert!(glob("*_login_succeeded", "sso_login_succeeded"));
        assert!(!glob("*_login_succeeded", "sso_login_failed"));
        assert!(glob("claude_*_deleted", "claude_chat_deleted"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
        assert!(glob("a*a", "aa"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn paths_reach_into_arrays_and_conditions_read_both_spellings() {
        let e =
            json!({"details": {"updates": [{"type": "a"}, {"type": "b"}], "is_enabled": false}});
        assert_eq!(values(&e, "details.updates.type").len(), 2);
        let c: Cond = serde_json::from_value(
            json!({"fields": ["details.enabled", "details.is_enabled"], "in": [false]}),
        )
        .unwrap();
        assert!(c.holds(&e));
        let c: Cond =
            serde_json::from_value(json!({"field": "details.updates.type", "in": ["B"]})).unwrap();
        assert!(c.holds(&e));
        let c: Cond =
            serde_json::from_value(json!({"field": "details.missing", "not_in": ["x"]})).unwrap();
        assert!(c.holds(&e));
        let c: Cond =
            serde_json::from_value(json!({"field": "details.missing", "exists": true})).unwrap();
        assert!(!c.holds(&e));
    }
}
