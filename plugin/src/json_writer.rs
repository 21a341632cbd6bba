//! A minimal JSON object writer for the event hot path.
//!
//! serde's derive writes every key through serde_json's string escaper; an
//! event has about fifty keys, and in the sandbox that escaping cost as much
//! as the values. Keys here are `&'static str` known to need no escaping
//! (checked in debug builds), and input strings are copied as raw,
//! already-validated JSON. Everything else still goes through serde_json.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::json::JsonStr;

/// Writes one JSON value into a byte buffer.
pub struct JsonWriter<'o> {
    out: &'o mut Vec<u8>,
    /// Whether the next key of the current object needs a leading comma.
    comma: bool,
}

impl<'o> JsonWriter<'o> {
    /// A writer appending to `out`.
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        Self { out, comma: false }
    }

    /// A writer appending members to an object already open in another
    /// buffer (its first key gets a leading comma).
    pub fn continuing(out: &'o mut Vec<u8>) -> Self {
        Self { out, comma: true }
    }

    /// `"name":` for a key from the input (escaped as needed).
    pub fn dyn_key(&mut self, name: &str) -> &mut Self {
        if self.comma {
            self.out.push(b',');
        }
        self.string(name);
        self.out.push(b':');
        self.comma = true;
        self
    }

    /// A raw JSON value, verbatim (after a key).
    pub fn raw_value(&mut self, value: &RawValue) -> &mut Self {
        self.out.extend_from_slice(value.get().as_bytes());
        self
    }

    /// A JSON value tree (after a key).
    pub fn tree(&mut self, value: &serde_json::Value) -> &mut Self {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, value);
        self
    }

    /// `{`
    pub fn begin(&mut self) -> &mut Self {
        self.out.push(b'{');
        self.comma = false;
        self
    }

    /// `}`
    pub fn end(&mut self) -> &mut Self {
        self.out.push(b'}');
        self.comma = true;
        self
    }

    /// `"key":` (with a comma when needed). `key` must need no escaping.
    pub fn key(&mut self, key: &'static str) -> &mut Self {
        debug_assert!(
            key.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'),
            "key {key:?} would need escaping"
        );
        if self.comma {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.comma = true;
        self
    }

    /// A string value from an input record, copied as raw JSON.
    pub fn json_str(&mut self, key: &'static str, value: &JsonStr<'_>) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(value.raw().get().as_bytes());
        self
    }

    /// An optional input string; `null` when absent.
    pub fn opt_json_str(&mut self, key: &'static str, value: Option<&JsonStr<'_>>) -> &mut Self {
        match value {
            Some(v) => self.json_str(key, v),
            None => self.null(key),
        }
    }

    /// Any string value, escaped as needed.
    pub fn str(&mut self, key: &'static str, value: &str) -> &mut Self {
        self.key(key);
        self.string(value);
        self
    }

    /// An optional string value; `null` when absent.
    pub fn opt_str(&mut self, key: &'static str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    /// `null`
    pub fn null(&mut self, key: &'static str) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(b"null");
        self
    }

    /// `true` / `false`
    pub fn bool(&mut self, key: &'static str, value: bool) -> &mut Self {
        self.key(key);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// An unsigned integer.
    pub fn u64(&mut self, key: &'static str, value: u64) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(value.to_string().as_bytes());
        self
    }

    /// An array of strings.
    pub fn str_array<'s>(
        &mut self,
        key: &'static str,
        values: impl IntoIterator<Item = &'s str>,
    ) -> &mut Self {
        self.key(key);
        self.out.push(b'[');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.string(value);
        }
        self.out.push(b']');
        self
    }

    /// An object of `(key, raw value)` members, values verbatim.
    pub fn raw_members(
        &mut self,
        key: &'static str,
        members: &[(Cow<'_, str>, &RawValue)],
    ) -> &mut Self {
        self.key(key);
        self.out.push(b'{');
        for (i, (name, value)) in members.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.string(name);
            self.out.push(b':');
            self.out.extend_from_slice(value.get().as_bytes());
        }
        self.out.push(b'}');
        self
    }

    /// Open a nested object under `key`.
    pub fn object(&mut self, key: &'static str) -> &mut Self {
        self.key(key);
        self.begin()
    }

    fn string(&mut self, value: &str) {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json_with_nested_objects() {
        let mut out = Vec::new();
        let raw: Box<RawValue> = RawValue::from_string("[1,{\"a\":null}]".into()).unwrap();
        let members = [(Cow::Borrowed("k\"ey"), raw.as_ref())];
        JsonWriter::new(&mut out)
            .begin()
            .str("s", "quote\" and \\")
            .null("n")
            .object("o")
            .bool("b", true)
            .u64("u", 42)
            .end()
            .str_array("list", ["x", "y"])
            .raw_members("m", &members)
            .end();
        let text = String::from_utf8(out).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["s"], "quote\" and \\");
        assert_eq!(value["o"]["u"], 42);
        assert_eq!(value["m"]["k\"ey"][1]["a"], serde_json::Value::Null);
        assert_eq!(value["list"][1], "y");
    }
}
