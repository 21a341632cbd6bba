//! Reading an emitted event for the engine: only the top-level members the
//! active rules (and the alerts) read are built into a `serde_json::Value`;
//! the others (`controls`, `redaction_metadata`, `unmapped`, `source` ...)
//! are skipped without allocating. The normalizer writes events as text
//! straight into the output, so this is the engine's one read of the event.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

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

    /// Parse `line` (one JSON object) keeping only these members; `None`
    /// when it is not a JSON object.
    pub fn parse(&self, line: &[u8]) -> Option<Value> {
        let mut de = serde_json::Deserializer::from_slice(line);
        let map = de.deserialize_map(Keep(&self.0)).ok()?;
        de.end().ok()?;
        Some(Value::Object(map))
    }
}

/// The visitor of the top-level object.
struct Keep<'k>(&'k [String]);

impl<'de> Visitor<'de> for Keep<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Map::new();
        while let Some(wanted) = map.next_key_seed(Wanted(self.0))? {
            match wanted {
                Some(i) => {
                    out.insert(self.0[i].clone(), map.next_value()?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// A key: the index of the wanted member it names, if any (no allocation).
struct Wanted<'k>(&'k [String]);

impl<'de> DeserializeSeed<'de> for Wanted<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Wanted<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|k| k == key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_wanted_members_only_and_refuses_what_is_not_an_object() {
        let members = Members::of(["actor.ip", "details.scopes", "details.x|actor.id"]);
        let line = br#"{"event_id":"a","timestamp":"t","event_type":"x","actor":{"ip":"i"},
            "controls":[{"id":"c","tags":["a\"b"]}],"unmapped":{"fields":{"k":1}},"details":{"scopes":[]}}"#;
        let event = members.parse(line).unwrap();
        assert_eq!(
            event,
            json!({"event_id":"a","timestamp":"t","event_type":"x","actor":{"ip":"i"},"details":{"scopes":[]}})
        );
        assert!(members.parse(b"[1]").is_none());
        assert_eq!(Members::sniff_type(line), Some("x"));
        assert_eq!(Members::sniff_type(br#"{"event_type":"a\"b"}"#), None);
        assert_eq!(Members::sniff_type(br#"{"event_id":"a"}"#), None);
        assert!(members.parse(br#"{"a":1} x"#).is_none());
        assert!(members.parse(br#"{"a":"#).is_none());
    }
}
