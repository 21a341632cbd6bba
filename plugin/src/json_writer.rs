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

/// Where the members of the outermost object a writer wrote start: each
/// top-level key with the position of its opening quote in the writer's
/// buffer. The detection engine reads a few members of every event; with
/// this it jumps to them instead of stepping over the members before them
/// (that scan was a fifth of the engine's instructions, issue 11).
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// `(name, position)`, in writing order.
    members: Vec<(&'static str, usize)>,
    /// Whether every top-level member is listed (one written under a name
    /// from the input is not).
    complete: bool,
}

impl Layout {
    /// Start listing an object's members (forgetting the last one's).
    pub fn start(&mut self) {
        self.members.clear();
        self.complete = true;
    }

    /// List nothing: the next object is written without a layout.
    pub fn forget(&mut self) {
        self.members.clear();
        self.complete = false;
    }

    /// The members, when every top-level member is listed.
    pub fn members(&self) -> Option<&[(&'static str, usize)]> {
        self.complete.then_some(self.members.as_slice())
    }

    /// The first `count` members were written into another buffer, since
    /// appended at `at`: move them there (and after the others).
    pub fn appended(&mut self, count: usize, at: usize) {
        let count = count.min(self.members.len());
        self.members[..count].iter_mut().for_each(|(_, p)| *p += at);
        self.members.rotate_left(count);
    }

    /// How many members are listed.
    pub fn count(&self) -> usize {
        self.members.len()
    }
}

/// Writes one JSON value into a byte buffer.
pub struct JsonWriter<'o> {
    out: &'o mut Vec<u8>,
    /// Whether the next key of the current object needs a leading comma.
    comma: bool,
    /// How many objects are open.
    depth: u32,
    /// The depth whose keys are listed: 1 with a layout, none without
    /// (`u32::MAX`), so that a key costs one comparison either way.
    listed_depth: u32,
    /// Where to list the top-level members, if anywhere.
    layout: Option<&'o mut Layout>,
}

impl<'o> JsonWriter<'o> {
    /// A writer appending to `out`.
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        Self {
            out,
            comma: false,
            depth: 0,
            listed_depth: u32::MAX,
            layout: None,
        }
    }

    /// A writer appending members to an object already open in another
    /// buffer (its first key gets a leading comma).
    pub fn continuing(out: &'o mut Vec<u8>) -> Self {
        Self {
            out,
            comma: true,
            depth: 1,
            listed_depth: u32::MAX,
            layout: None,
        }
    }

    /// The same writer, listing the members of its outermost object in
    /// `layout` (added to what it lists already).
    pub fn with_layout(mut self, layout: Option<&'o mut Layout>) -> Self {
        self.listed_depth = if layout.is_some() { 1 } else { u32::MAX };
        self.layout = layout;
        self
    }

    /// List `key`, about to be written at the top level.
    #[inline(never)]
    fn list(&mut self, key: Option<&'static str>) {
        if let Some(layout) = self.layout.as_deref_mut() {
            match key {
                Some(key) => layout.members.push((key, self.out.len())),
                None => layout.complete = false,
            }
        }
    }

    /// `"name":` for a key from the input (escaped as needed).
    pub fn dyn_key(&mut self, name: &str) -> &mut Self {
        if self.depth == self.listed_depth {
            self.list(None);
        }
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
        self.depth += 1;
        self
    }

    /// `}`
    pub fn end(&mut self) -> &mut Self {
        self.out.push(b'}');
        self.comma = true;
        self.depth = self.depth.saturating_sub(1);
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
        if self.depth == self.listed_depth {
            self.list(Some(key));
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
        if needs_escape(value.as_bytes()) {
            // Writing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *self.out, value);
        } else {
            // What serde_json writes for a string without a byte it escapes,
            // without its byte-by-byte table walk (3x slower in the sandbox
            // than natively, 5 % of a sandboxed run).
            self.out.reserve(value.len() + 2);
            self.out.push(b'"');
            self.out.extend_from_slice(value.as_bytes());
            self.out.push(b'"');
        }
    }
}

/// Whether serde_json escapes any byte of `bytes`: a control character
/// (below 0x20), `"` or `\` (it escapes nothing else). Eight bytes at a time.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    /// Whether some byte of `x` is below `n` (exact for n <= 0x80).
    fn has_below(x: u64, n: u8) -> bool {
        x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH != 0
    }
    fn has_byte(x: u64, b: u8) -> bool {
        has_below(x ^ (ONES * u64::from(b)), 1)
    }
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
        if has_below(x, 0x20) || has_byte(x, b'"') || has_byte(x, b'\\') {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
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

    #[test]
    fn the_layout_lists_the_top_level_members() {
        let mut out = b"x".to_vec();
        let mut tail = Vec::new();
        let mut layout = Layout::default();
        layout.start();
        JsonWriter::continuing(&mut tail)
            .with_layout(Some(&mut layout))
            .object("t")
            .bool("b", true)
            .end();
        let count = layout.count();
        JsonWriter::new(&mut out)
            .with_layout(Some(&mut layout))
            .begin()
            .str("s", "v")
            .object("o")
            .null("n")
            .end()
            .null("z");
        let at = out.len();
        out.extend_from_slice(&tail);
        out.push(b'}');
        layout.appended(count, at);
        let text = std::str::from_utf8(&out).unwrap();
        let listed: Vec<(&str, &str)> = layout
            .members()
            .unwrap()
            .iter()
            .map(|&(name, p)| (name, &text[p..p + name.len() + 2]))
            .collect();
        assert_eq!(
            listed,
            [
                ("s", "\"s\""),
                ("o", "\"o\""),
                ("z", "\"z\""),
                ("t", "\"t\"")
            ]
        );
        JsonWriter::new(&mut out)
            .with_layout(Some(&mut layout))
            .begin()
            .dyn_key("d");
        assert!(layout.members().is_none());
        layout.start();
        assert_eq!(layout.members(), Some(&[][..]));
        layout.forget();
        assert!(layout.members().is_none());
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut texts = vec![String::new(), "é ü 中文 🙂".to_owned()];
        for len in 1..20 {
            for at in 0..len {
                for c in (0u8..=0x7f)
                    .map(char::from)
                    .chain(['é', '\u{7f}', '\u{2028}'])
                {
                    let mut text: String = "a".repeat(len);
                    text.replace_range(at..=at, c.encode_utf8(&mut [0; 4]));
                    texts.push(text);
                }
            }
        }
        for text in texts {
            let mut out = Vec::new();
            JsonWriter::new(&mut out).string(&text);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&text).unwrap(),
                "{text:?}"
            );
        }
    }
}
