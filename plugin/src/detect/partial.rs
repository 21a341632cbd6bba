//! Reading an emitted event for the engine: only the top-level members the
//! active rules (and the alerts) read are built, as a [`Node`] that borrows
//! its strings from the line; the others (`controls`, `redaction_metadata`,
//! `unmapped`, `source` ...) are stepped over, and the read stops as soon
//! as every wanted member is found. The normalizer writes events as text
//! straight into the output, so this is the engine's one read of the event.
//!
//! Why not serde alone: a serde visitor must consume the whole object, and
//! the members the engine reads (`event_type`, `actor`, `details`) come
//! before the long tail (`controls`, `redaction_metadata`); stepping over
//! that tail cost more than the rules themselves. The step-over scan below
//! only finds where a value ends (strings, nesting); every value the engine
//! keeps is parsed, and so checked, by `serde_json`. The lines are the
//! normalizer's own output, never raw input.

use std::borrow::Cow;

use super::node::Node;

/// Members every evaluation or alert reads, whatever the rules say.
const ALWAYS: [&str; 4] = ["event_id", "timestamp", "event_type", "organization_uuid"];

/// The top-level members to keep.
#[derive(Debug, Clone, Default)]
pub struct Members(Vec<String>);

impl Members {
    /// The members named by the first segment of `paths` (`actor.ip` ->
    /// `actor`; `a|b` names both), plus those every alert needs.
    pub fn of<'p>(paths: impl IntoIterator<Item = &'p str>) -> Self {
        let mut names: Vec<String> = ALWAYS.iter().map(|s| (*s).to_owned()).collect();
        for path in paths.into_iter().flat_map(|p| p.split('|')) {
            let first = path.split('.').next().unwrap_or_default();
            if !first.is_empty() {
                names.push(first.to_owned());
            }
        }
        names.sort();
        names.dedup();
        Self(names)
    }

    /// The value of the first `"event_type"` member in `line`, read
    /// without parsing (the normalizer writes it before `actor` and
    /// `details`); `None` when absent or escaped. The caller checks it
    /// against the parsed event.
    pub fn sniff_type(line: &[u8]) -> Option<&str> {
        const KEY: &[u8] = b"\"event_type\":\"";
        let start = memchr::memmem::find(line, KEY)? + KEY.len();
        let len = memchr::memchr2(b'"', b'\\', &line[start..])?;
        if line[start + len] != b'"' {
            return None;
        }
        std::str::from_utf8(&line[start..start + len]).ok()
    }

    /// Parse `line` (one JSON object) keeping only these members (the
    /// first of a repeated one); `None` when it is not a JSON object or a
    /// kept member is not valid JSON. What follows the last wanted member
    /// is not read.
    pub fn parse<'a>(&self, line: &'a str) -> Option<Node<'a>> {
        let b = line.as_bytes();
        let mut at = blank(b, 0);
        if b.get(at) != Some(&b'{') {
            return None;
        }
        at = blank(b, at + 1);
        let mut out: Vec<(Cow<'a, str>, Node<'a>)> = Vec::with_capacity(self.0.len());
        if b.get(at) == Some(&b'}') {
            return ends(b, at + 1).then_some(Node::Object(out));
        }
        loop {
            let key_end = string_end(b, at)?;
            let key = key_text(&line[at..key_end])?;
            at = blank(b, key_end);
            if b.get(at) != Some(&b':') {
                return None;
            }
            at = blank(b, at + 1);
            let end = value_end(b, at)?;
            if self.0.iter().any(|k| *k == key) && !out.iter().any(|(k, _)| *k == key) {
                out.push((key, serde_json::from_str(&line[at..end]).ok()?));
                if out.len() == self.0.len() {
                    return Some(Node::Object(out));
                }
            }
            at = blank(b, end);
            match b.get(at) {
                Some(b',') => at = blank(b, at + 1),
                Some(b'}') => return ends(b, at + 1).then_some(Node::Object(out)),
                _ => return None,
            }
        }
    }
}

/// The first position from `at` that is not JSON whitespace.
fn blank(b: &[u8], mut at: usize) -> usize {
    while matches!(b.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// Whether only whitespace follows `at`.
fn ends(b: &[u8], at: usize) -> bool {
    blank(b, at) == b.len()
}

/// The position just past the string that starts (with its quote) at `at`.
fn string_end(b: &[u8], at: usize) -> Option<usize> {
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i] == b'"' {
            return Some(i + 1);
        }
        i += 2; // an escape: the next byte is never the closing quote
    }
}

/// A member name (with its quotes) as text, unescaped when it must be.
fn key_text(quoted: &str) -> Option<Cow<'_, str>> {
    let inner = &quoted[1..quoted.len() - 1];
    if inner.contains('\\') {
        serde_json::from_str::<String>(quoted).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// The position just past the value that starts at `at` (its end only:
/// the value itself is not checked).
fn value_end(b: &[u8], at: usize) -> Option<usize> {
    match b.get(at)? {
        b'"' => string_end(b, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            while let Some(&c) = b.get(i) {
                match c {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let len = b[at..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(b.len() - at);
            (len > 0).then_some(at + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_wanted_members_only_and_refuses_what_is_not_an_object() {
        let members = Members::of(["actor.ip", "details.scopes", "details.x|actor.id"]);
        let line = r#"{"event_id":"a","timestamp":"t","event_type":"x","actor":{"ip":"i"},
            "controls":[{"id":"c","tags":["a\"b]"]}],"unmapped":{"fields":{"k":[1,{}]}},"details":{"scopes":[]}}"#;
        let event = members.parse(line).unwrap();
        assert_eq!(
            event.to_value(),
            json!({"event_id":"a","timestamp":"t","event_type":"x","actor":{"ip":"i"},"details":{"scopes":[]}})
        );
        assert!(members.parse("[1]").is_none());
        assert_eq!(Members::sniff_type(line.as_bytes()), Some("x"));
        assert_eq!(Members::sniff_type(br#"{"event_type":"a\"b"}"#), None);
        assert_eq!(Members::sniff_type(br#"{"event_id":"a"}"#), None);
        assert!(members.parse(r#"{"a":1} x"#).is_none());
        assert!(members.parse(r#"{"a":"#).is_none());
        assert!(members.parse(r#"{"actor":{"ip":}}"#).is_none());
        assert!(members.parse(r#"{"a":[1,2}"#).is_none());
    }

    #[test]
    fn reads_escaped_names_and_stops_after_the_last_wanted_member() {
        let members = Members::of(["actor.ip"]);
        let all = r#"{"event_\u0069d":"a","timestamp":"t","event_type":"x","organization_uuid":null,"actor":{}"#;
        let line = format!("{all}, \"rest\": not json");
        let event = members.parse(&line).unwrap();
        assert_eq!(event.get("event_id").and_then(Node::as_str), Some("a"));
        assert_eq!(event.get("actor"), Some(&Node::Object(Vec::new())));
        assert_eq!(
            Members::of(["details.x"]).parse(r#" { } "#),
            Some(Node::Object(Vec::new()))
        );
    }
}
