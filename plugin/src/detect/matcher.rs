//! Field access on canonical events and the conditions of a rule's `where`.
//!
//! Paths are dotted (`actor.ip`, `details.enabled`); a path that crosses an
//! array looks into every element (`details.updates.type`), so a condition
//! holds when any reached value satisfies it. Absent and `null` are the same.

use std::borrow::Cow;

use regex::Regex;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::node::Node;
use super::view::{PathId, Paths, View};

/// Every value `path` reaches in `event` (none when absent or null).
pub fn values<'v, 'a>(event: &'v Node<'a>, path: &str) -> Vec<&'v Node<'a>> {
    let mut out = Vec::new();
    each(event, path, &mut |v| out.push(v));
    out
}

/// Call `f` with every value `path` reaches in `event`, as [`values`]
/// lists them, without collecting them.
pub fn each<'v, 'a>(event: &'v Node<'a>, path: &str, f: &mut impl FnMut(&'v Node<'a>)) {
    match split_first(path, b'.') {
        Some((segment, rest)) => descend(event, segment, Some(rest), f),
        None => descend(event, path, None, f),
    }
}

/// Step into `segment` of `node` (into every element of an array), then
/// follow `rest`, or hand over what was reached when the path ends there.
fn descend<'v, 'a>(
    node: &'v Node<'a>,
    segment: &str,
    rest: Option<&str>,
    f: &mut impl FnMut(&'v Node<'a>),
) {
    match node {
        Node::Object(_) => match (node.get(segment), rest) {
            (Some(child), Some(rest)) => each(child, rest, f),
            (Some(child), None) => reached(child, f),
            (None, _) => {}
        },
        Node::Array(items) => items.iter().for_each(|i| descend(i, segment, rest, f)),
        _ => {}
    }
}

/// A list at the end of the path stands for its elements (`data_classes`
/// holds "secret" when one of its items is); absent and null are the same.
fn reached<'v, 'a>(node: &'v Node<'a>, f: &mut impl FnMut(&'v Node<'a>)) {
    match node {
        Node::Array(items) => items.iter().filter(|i| !i.is_null()).for_each(f),
        Node::Null => {}
        other => f(other),
    }
}

/// A reached value as text (strings as they are, numbers and booleans in
/// JSON form); `None` when empty. Borrowed when it is a string.
pub fn text<'v>(value: &'v Node<'_>) -> Option<Cow<'v, str>> {
    let text = match value {
        Node::String(s) => Cow::Borrowed(s.as_ref()),
        Node::Number(n) => Cow::Owned(n.to_string()),
        Node::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        other => Cow::Owned(other.to_value().to_string()),
    };
    (!text.is_empty()).then_some(text)
}

/// `text` split at the first `separator` (an ASCII byte). A byte loop, not
/// `str::split`: paths are a few bytes long and split on every field read
/// of every candidate rule, where the generic searcher was a tenth of the
/// engine's instructions (measured with callgrind).
pub fn split_first(text: &str, separator: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|b| b == separator)?;
    Some((&text[..at], &text[at + 1..]))
}

/// The parts of `text` between `separator`s, in order (`str::split` with
/// [`split_first`]'s byte loop).
pub fn parts(text: &str, separator: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match split_first(current, separator) {
            Some((first, tail)) => {
                rest = Some(tail);
                Some(first)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Whether an event type matches a list of names and `*` globs (empty: all).
pub fn type_matches(patterns: &[String], event_type: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| glob(p, event_type))
}

/// `*` matches any run of characters; nothing else is special.
pub fn glob(pattern: &str, text: &str) -> bool {
    // Most patterns are plain names, matched per event (a first-seen
    // detection's alerting types, a sequence's steps): no split, no list.
    if !pattern.contains('*') {
        return pattern == text;
    }
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
    /// The numbers of `field` and `fields` in the engine's paths, given
    /// when the rules load ([`Cond::bind`]).
    #[serde(skip)]
    ids: Vec<PathId>,
}

fn regex_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Regex>, D::Error> {
    let text = String::deserialize(d)?;
    Regex::new(&text)
        .map(Some)
        .map_err(|_| serde::de::Error::custom("an invalid regular expression"))
}

impl Cond {
    /// Number the fields this condition (and its `any`) reads in `paths`.
    pub fn bind(&mut self, paths: &mut Paths) {
        self.ids = self
            .field
            .iter()
            .chain(&self.fields)
            .map(|p| paths.id(p))
            .collect();
        self.any.iter_mut().for_each(|c| c.bind(paths));
    }

    /// The numbers of the fields it reads, nested `any` included.
    pub fn ids(&self, out: &mut Vec<PathId>) {
        out.extend(&self.ids);
        self.any.iter().for_each(|c| c.ids(out));
    }

    /// Whether the condition holds for the event seen as `view` (with the
    /// paths it was bound to).
    pub fn holds(&self, view: &View<'_>) -> bool {
        if !self.any.is_empty() {
            return self.any.iter().any(|c| c.holds(view));
        }
        let (mut found, mut excluded, mut passes) = (false, false, false);
        let value_test = self.has_value_test();
        for v in self.ids.iter().flat_map(|&id| view.values(id)) {
            found = true;
            excluded |= self.not_in.iter().any(|n| same(v, n));
            passes |= value_test && !passes && self.value_passes(v);
        }
        if self.exists.is_some_and(|wanted| found != wanted) || excluded {
            return false;
        }
        !value_test || passes
    }

    fn has_value_test(&self) -> bool {
        !self.one_of.is_empty()
            || !self.contains.is_empty()
            || self.regex.is_some()
            || self.gte.is_some()
    }

    fn value_passes(&self, value: &Node<'_>) -> bool {
        let text = value.as_str();
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
fn same(a: &Node<'_>, b: &Value) -> bool {
    match (a, b) {
        (Node::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Node::String(x), Value::Bool(y)) => {
            x.eq_ignore_ascii_case(if *y { "true" } else { "false" })
        }
        (Node::Bool(x), Value::String(y)) => {
            y.eq_ignore_ascii_case(if *x { "true" } else { "false" })
        }
        (Node::Bool(x), Value::Bool(y)) => x == y,
        (Node::Number(x), Value::Number(y)) => x == y,
        (Node::Null, Value::Null) => true,
        (Node::Array(_) | Node::Object(_), Value::Array(_) | Value::Object(_)) => {
            a.to_value() == *b
        }
        _ => false,
    }
}

/// A number, or a string holding one.
pub fn number(value: &Node<'_>) -> Option<f64> {
    match value {
        Node::Number(n) => n.as_f64(),
        Node::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parts_split_as_str_split_does() {
        for text in ["", "a", "a.b", ".a.", "actor.geo.asn", "..", "é.ü"] {
            let ours: Vec<&str> = parts(text, b'.').collect();
            let std: Vec<&str> = text.split('.').collect();
            assert_eq!(ours, std, "{text}");
        }
        assert_eq!(split_first("a|b|c", b'|'), Some(("a", "b|c")));
        assert_eq!(split_first("abc", b'|'), None);
    }

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
        let e = Node::from_value(&e);
        assert_eq!(values(&e, "details.updates.type").len(), 2);
        let holds = |c: Value| {
            let mut c: Cond = serde_json::from_value(c).unwrap();
            let mut paths = Paths::default();
            c.bind(&mut paths);
            c.holds(&View::of(&e, &paths))
        };
        assert!(holds(
            json!({"fields": ["details.enabled", "details.is_enabled"], "in": [false]})
        ));
        assert!(holds(json!({"field": "details.updates.type", "in": ["B"]})));
        assert!(holds(json!({"field": "details.missing", "not_in": ["x"]})));
        assert!(!holds(json!({"field": "details.missing", "exists": true})));
    }
}
