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
//! only finds where a value ends (strings, nesting). The values the engine
//! keeps are read by [`value`], a small reader of the same JSON that
//! borrows every string without an escape and hands escaped strings and
//! numbers to `serde_json` (so they read exactly as `serde_json` reads
//! them): building the nodes through serde's visitors was a third of the
//! engine's time (issue 11's cost target). The lines are the normalizer's
//! own output, never raw input, and anything the reader does not expect
//! makes it give up (the event is then not evaluated), never panic.

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
        // Built once: `memmem::find` builds its searcher on every call,
        // which cost more than the search (issue 11's cost target).
        static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new(KEY));
        let start = FINDER.find(line)? + KEY.len();
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
            let (key, key_end) = string(line, at)?;
            at = blank(b, key_end);
            if b.get(at) != Some(&b':') {
                return None;
            }
            at = blank(b, at + 1);
            let end = if self.0.iter().any(|k| *k == key) && !out.iter().any(|(k, _)| *k == key) {
                let (node, end) = value(line, at, 0)?;
                out.push((key, node));
                if out.len() == self.0.len() {
                    return Some(Node::Object(out));
                }
                end
            } else {
                value_end(b, at)?
            };
            at = blank(b, end);
            match b.get(at) {
                Some(b',') => at = blank(b, at + 1),
                Some(b'}') => return ends(b, at + 1).then_some(Node::Object(out)),
                _ => return None,
            }
        }
    }
}

/// Nesting deeper than this is refused (as `serde_json` refuses it).
const MAX_DEPTH: usize = 128;

/// The JSON value that starts at byte `at` of `line`, and where it ends.
/// `None` for anything that is not well-formed JSON (the caller then does
/// not evaluate the event).
fn value<'a>(line: &'a str, at: usize, depth: usize) -> Option<(Node<'a>, usize)> {
    let b = line.as_bytes();
    match *b.get(at)? {
        b'"' => {
            let (text, end) = string(line, at)?;
            Some((Node::String(text), end))
        }
        b'{' if depth < MAX_DEPTH => object(line, at, depth + 1),
        b'[' if depth < MAX_DEPTH => array(line, at, depth + 1),
        b't' => literal(b, at, "true", Node::Bool(true)),
        b'f' => literal(b, at, "false", Node::Bool(false)),
        b'n' => literal(b, at, "null", Node::Null),
        b'-' | b'0'..=b'9' => {
            let end = value_end(b, at)?;
            let number: serde_json::Number = line[at..end].parse().ok()?;
            Some((Node::Number(number), end))
        }
        _ => None,
    }
}

/// The object that starts at `at` (its `{`).
fn object<'a>(line: &'a str, at: usize, depth: usize) -> Option<(Node<'a>, usize)> {
    let b = line.as_bytes();
    // Most objects of an event have at most this many members: one
    // allocation, no regrowth.
    let mut members = Vec::with_capacity(8);
    let mut at = blank(b, at + 1);
    if b.get(at) == Some(&b'}') {
        return Some((Node::Object(members), at + 1));
    }
    loop {
        let (key, key_end) = string(line, at)?;
        at = blank(b, key_end);
        if b.get(at) != Some(&b':') {
            return None;
        }
        let (node, end) = value(line, blank(b, at + 1), depth)?;
        members.push((key, node));
        at = blank(b, end);
        match b.get(at) {
            Some(b',') => at = blank(b, at + 1),
            Some(b'}') => return Some((Node::Object(members), at + 1)),
            _ => return None,
        }
    }
}

/// The array that starts at `at` (its `[`).
fn array<'a>(line: &'a str, at: usize, depth: usize) -> Option<(Node<'a>, usize)> {
    let b = line.as_bytes();
    let mut items = Vec::new();
    let mut at = blank(b, at + 1);
    if b.get(at) == Some(&b']') {
        return Some((Node::Array(items), at + 1));
    }
    loop {
        let (node, end) = value(line, at, depth)?;
        items.push(node);
        at = blank(b, end);
        match b.get(at) {
            Some(b',') => at = blank(b, at + 1),
            Some(b']') => return Some((Node::Array(items), at + 1)),
            _ => return None,
        }
    }
}

/// `true`, `false` or `null` at `at`.
fn literal<'a>(b: &[u8], at: usize, word: &str, node: Node<'a>) -> Option<(Node<'a>, usize)> {
    let end = at + word.len();
    (b.get(at..end)? == word.as_bytes()).then_some((node, end))
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
    scan_string(b, at).map(|(end, _)| end)
}

/// The string that starts at `at` as text (borrowed, unless it holds an
/// escape), and the position just past it.
fn string(line: &str, at: usize) -> Option<(Cow<'_, str>, usize)> {
    let (end, escaped) = scan_string(line.as_bytes(), at)?;
    let text = if escaped {
        Cow::Owned(serde_json::from_str::<String>(&line[at..end]).ok()?)
    } else {
        Cow::Borrowed(&line[at + 1..end - 1])
    };
    Some((text, end))
}

/// Where the string that starts at `at` ends, and whether it holds an
/// escape. Eight bytes at a time while none of them is a quote or a
/// backslash (then the first such byte is found from the word's mask), a
/// byte at a time only in the line's last few bytes: with strings of a few
/// dozen bytes (ids, timestamps, pseudonyms) this took half the
/// instructions of a byte loop, measured with callgrind (`memchr2` did
/// worse: its set-up cost is paid per string).
fn scan_string(b: &[u8], at: usize) -> Option<(usize, bool)> {
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let (mut i, mut escaped) = (at + 1, false);
    loop {
        while let Some(word) = b.get(i..i + 8) {
            let word = u64::from_le_bytes(word.try_into().ok()?);
            let special = zero_bytes(word ^ QUOTES) | zero_bytes(word ^ BACKSLASHES);
            if special == 0 {
                i += 8;
                continue;
            }
            i += (special.trailing_zeros() / 8) as usize;
            break;
        }
        match *b.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                i += 2; // the escaped byte is never the closing quote
            }
            _ => i += 1,
        }
    }
}

/// `"` in every byte of a word.
const QUOTES: u64 = 0x2222_2222_2222_2222;
/// `\` in every byte of a word.
const BACKSLASHES: u64 = 0x5c5c_5c5c_5c5c_5c5c;

/// The high bit of each byte of the result is set for a zero byte of `x`:
/// exactly for the lowest one (a borrow may mark bytes above it, never
/// below), which is all [`scan_string`] reads.
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080
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

    #[test]
    fn the_reader_reads_what_serde_json_reads() {
        let texts = [
            r#"{"a":"x","b\u0040":"y\"z\u00e9\ud83d\ude00","c":[]}"#,
            r#"[1,-2,3.5,-0,0.1e-3,1E+5,18446744073709551615,-9223372036854775808,12345678901234567890123]"#,
            r#" { "n" : null , "t" :true,"f": false , "o":{"k":{"l":[[],[{}]]}} } "#,
            r#""\\""#,
        ];
        let fixture = include_str!("../../../tests/fixtures/activities.ndjson");
        for text in texts.into_iter().chain(fixture.lines()) {
            let expected: Node<'_> = serde_json::from_str(text).unwrap();
            let at = blank(text.as_bytes(), 0);
            let (node, end) = value(text, at, 0).unwrap();
            assert_eq!(node, expected, "{text}");
            assert!(ends(text.as_bytes(), end), "{text}");
        }
    }

    #[test]
    fn strings_end_at_their_closing_quote_at_any_offset() {
        for len in 0usize..40 {
            for at in [0, len / 2, len.saturating_sub(1)] {
                let mut text = "x".repeat(len);
                if len > 0 {
                    text.replace_range(at..at + 1, "\\\"");
                }
                let quoted = format!("\"{text}\"tail\"");
                let expected: String =
                    serde_json::from_str(&quoted[..len + 2 + usize::from(len > 0)]).unwrap();
                let (read, end) = string(&quoted, 0).unwrap();
                assert_eq!(read, expected, "{quoted}");
                assert_eq!(&quoted[end..], "tail\"", "{quoted}");
            }
        }
    }

    #[test]
    fn the_reader_gives_up_on_what_is_not_json() {
        let broken = [
            "",
            "{",
            "[1,",
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            "[1 2]",
            "tru",
            "nul",
            "-",
            "+1",
            r#""abc"#,
            r#"{"a":"\"}"#,
            "1.",
            "01x",
            r#"{1:2}"#,
            "]",
        ];
        for text in broken {
            let read = value(text, 0, 0);
            assert!(
                read.as_ref().is_none_or(|(_, end)| *end != text.len()),
                "{text} read as {read:?}"
            );
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(value(&deep, 0, 0).is_none());
    }
}
