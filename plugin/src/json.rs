//! Zero-copy JSON access for the record hot path.
//!
//! A record is parsed once into its top-level keys and *raw* values
//! (`serde_json::value::RawValue`): syntax is fully validated, but values are
//! neither copied nor turned into trees. Fields the canonical schema needs are
//! then read one by one; type-specific fields are passed through byte for
//! byte. This keeps normalization close to the cost of a plain parse.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::error::{RecordError, RecordErrorKind};

/// A JSON object's members in document order, values kept raw.
#[derive(Debug, Default)]
pub struct RawObject<'a> {
    /// `(key, raw value)` pairs.
    pub members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    /// Parse `text`, which must be one JSON object, rejecting duplicate keys.
    /// `field` names the object in errors (empty for the record itself).
    pub fn parse(text: &'a str, field: &'static str) -> Result<Self, RecordError> {
        let first = text.trim_start().as_bytes().first().copied();
        if first != Some(b'{') {
            return Err(not_an_object(text, field));
        }
        let object: RawObject<'a> = serde_json::from_str(text).map_err(|e| syntax_error(&e))?;
        object.reject_duplicates(field)?;
        Ok(object)
    }

    /// The raw value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    fn reject_duplicates(&self, field: &'static str) -> Result<(), RecordError> {
        // Objects are small (about ten members), so a quadratic scan beats
        // building a set.
        for (i, (key, _)) in self.members.iter().enumerate() {
            if self.members[..i].iter().any(|(k, _)| k == key) {
                let path = if field.is_empty() {
                    key.to_string()
                } else {
                    format!("{field}.{key}")
                };
                let detail = format!("field `{path}` appears more than once");
                return Err(RecordError::field(
                    RecordErrorKind::DuplicateField,
                    path,
                    detail,
                ));
            }
        }
        Ok(())
    }
}

fn not_an_object(text: &str, field: &'static str) -> RecordError {
    // Tell invalid JSON apart from valid JSON of another type.
    if let Err(e) = serde_json::from_str::<de::IgnoredAny>(text) {
        return syntax_error(&e);
    }
    if field.is_empty() {
        RecordError::record(
            RecordErrorKind::NotAnObject,
            "the record is valid JSON but not an object",
        )
    } else {
        RecordError::wrong_type(field, "an object")
    }
}

/// A JSON syntax error. serde_json's syntax messages are fixed texts with a
/// position and never quote the input, so they are safe to pass on; its
/// data-type messages do quote values and are never used.
fn syntax_error(e: &serde_json::Error) -> RecordError {
    RecordError::record(RecordErrorKind::InvalidJson, format!("invalid JSON: {e}"))
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(12));
                while let Some((key, value)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    members.push((key.0, value));
                }
                Ok(RawObject { members })
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// A map key borrowed from the input when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A JSON string from the input: its decoded text for lookups, and its raw
/// JSON form, which is written back verbatim. Copying the already-validated
/// raw bytes skips escaping the text again on output, the largest single
/// cost of normalization before this type existed.
#[derive(Debug, Clone)]
pub struct JsonStr<'a> {
    raw: &'a RawValue,
    text: Cow<'a, str>,
}

impl<'a> JsonStr<'a> {
    /// The decoded text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The string as raw JSON, quotes and escapes included.
    pub fn raw(&self) -> &'a RawValue {
        self.raw
    }
}

impl std::ops::Deref for JsonStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl Serialize for JsonStr<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

/// Whether a raw value is JSON `null`.
pub fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// Read a raw value as an optional string: `Ok(None)` for null, an error
/// naming `field` for any other non-string type.
pub fn optional_str<'a>(
    raw: Option<&'a RawValue>,
    field: &str,
) -> Result<Option<JsonStr<'a>>, RecordError> {
    match raw {
        None => Ok(None),
        Some(raw) => str_or_null(raw)
            .ok_or_else(|| RecordError::wrong_type(field.to_owned(), "a string or null")),
    }
}

/// Read a raw value as a string or null; `None` if it is of another type.
pub fn str_or_null(raw: &RawValue) -> Option<Option<JsonStr<'_>>> {
    if is_null(raw) {
        Some(None)
    } else {
        as_str(raw).map(Some)
    }
}

/// A raw JSON string's content, borrowed when it has no escapes; `None` if
/// the value is not a string.
pub fn as_str(raw: &RawValue) -> Option<JsonStr<'_>> {
    let json = raw.get();
    let inner = json.strip_prefix('"')?.strip_suffix('"')?;
    let text = if memchr::memchr(b'\\', inner.as_bytes()).is_some() {
        Cow::Owned(serde_json::from_str::<String>(json).ok()?)
    } else {
        Cow::Borrowed(inner)
    };
    Some(JsonStr { raw, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_members_in_order_and_borrows_plain_keys() {
        let o = RawObject::parse(r#"{"a":1,"b\n":{"x":[1]},"c":"s"}"#, "").unwrap();
        let keys: Vec<&str> = o.members.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["a", "b\n", "c"]);
        assert!(matches!(o.members[0].0, Cow::Borrowed(_)));
        assert_eq!(o.get("b\n").unwrap().get(), r#"{"x":[1]}"#);
    }

    #[test]
    fn classifies_bad_input_without_quoting_it() {
        let e = RawObject::parse(r#"{"a":"secret-value""#, "").unwrap_err();
        assert_eq!(e.kind, RecordErrorKind::InvalidJson);
        assert!(!e.detail.contains("secret"), "{e}");
        let e = RawObject::parse(r#"["secret-value"]"#, "").unwrap_err();
        assert_eq!(e.kind, RecordErrorKind::NotAnObject);
        let e = RawObject::parse(r#""secret-value""#, "actor").unwrap_err();
        assert_eq!(e.kind, RecordErrorKind::WrongType);
        assert!(!e.detail.contains("secret"), "{e}");
        let e = RawObject::parse(r#"{"a":1,"a":2}"#, "").unwrap_err();
        assert_eq!(e.kind, RecordErrorKind::DuplicateField);
        assert_eq!(e.field, "a");
    }

    #[test]
    fn strings_are_read_with_and_without_escapes() {
        let o = RawObject::parse(r#"{"a":"plain","b":"tab\t","c":3,"d":null}"#, "").unwrap();
        assert_eq!(as_str(o.get("a").unwrap()).unwrap().as_str(), "plain");
        let escaped = as_str(o.get("b").unwrap()).unwrap();
        assert_eq!(escaped.as_str(), "tab\t");
        assert_eq!(serde_json::to_string(&escaped).unwrap(), r#""tab\t""#);
        assert!(as_str(o.get("c").unwrap()).is_none());
        assert!(optional_str(o.get("d"), "d").unwrap().is_none());
        assert!(optional_str(o.get("zz"), "zz").unwrap().is_none());
        let e = optional_str(o.get("c"), "c").unwrap_err();
        assert_eq!(e.kind, RecordErrorKind::WrongType);
    }
}
