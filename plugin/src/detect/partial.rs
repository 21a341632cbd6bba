//! Reading an emitted event for the engine: only the members on the way
//! to the paths the active rules (and the alerts) read are looked into,
//! and only the values at the paths' ends are built, as [`Node`]s that
//! borrow their strings from the line; they go straight into the event's
//! [`View`], by path number. The others (`controls`, `redaction_metadata`,
//! `unmapped`, an actor's `user_agent` when no rule reads it ...) are
//! stepped over, and the read stops as soon as every wanted top-level
//! member is found. The normalizer writes events as text straight into the
//! output, so this is the engine's one read of the event.
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
//!
//! Measured with callgrind on 20 000 simulated records (`detect_cost`,
//! engine = with detections - without): building the top-level members
//! whole and walking paths through them per condition, 529 M instructions;
//! reading into the view by path number, 509 M. The walk of the conditions
//! and group keys shrank by a third (211 M -> 148 M), the read itself did
//! not: most of its cost is stepping over the top-level members ahead of
//! `actor` and `details`. So the normalizer now lists where it wrote each
//! top-level member (`json_writer::Layout`, a comparison per key written,
//! 0.1 % of the run without detections) and the reader jumps to the wanted
//! ones ([`Listed`]), checking that the key it lands on is the one listed
//! (a list that does not match is not used: the line is scanned): 474 M.
//! Events without a list (Claude Code telemetry, content records) are
//! scanned as before. Then: the line checked for UTF-8 once rather than
//! each kept string (a call per string cost twice the whole line's
//! check), small integers and short decimals read without `serde_json`
//! (see `number`), a listed key checked as written rather than scanned,
//! and (in the engine) type lists matched once per event type, group keys
//! built into kept buffers, the canonical timestamp read by hand: 407 M,
//! 18 % of the run's instructions (22 % before). Of what is left, reading
//! is 179 M (the actor's members, its `geo` built whole for `travel`, the
//! strings' scan) and evaluating 127 M. Natively the share falls less
//! (`detect_cost`, interleaved runs on a shared machine, noisy: about
//! 28 % -> 24 % on 20 000 records x 20 rounds, 29 % -> 27 % on 100 000 x
//! 3): most of the evaluation's time there is cache misses on the groups
//! it updates (a boxed group per detection and entity, seen in `perf
//! annotate` as the loads of the group's cell and of its `seen`), which
//! fewer instructions do not remove.

use std::borrow::Cow;

use super::matcher;
use super::node::Node;
use super::view::{PathId, Paths, TOP, View};

/// What to read of an event: the members on the way to the paths the
/// rules read, and the paths' values whole.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// The event object's wanted members.
    root: Want,
}

/// A member on the way to wanted paths (or the end of one).
#[derive(Debug, Clone, Default)]
struct Want {
    /// The member's name.
    name: String,
    /// Which of [`TOP`] it is (top level only).
    top: Option<usize>,
    /// The path that ends here: the member's value is read whole.
    path: Option<PathId>,
    /// The members of its value on the way to longer paths (at most 128
    /// are told apart when a name is repeated; see [`Want::find`]).
    children: Vec<Want>,
}

impl Wanted {
    /// The members [`TOP`] and paths `ids` (numbered in `paths`) read.
    pub fn of(paths: &Paths, ids: impl IntoIterator<Item = PathId>) -> Self {
        let mut root = Want::default();
        for (i, name) in TOP.iter().enumerate() {
            root.child(name).top = Some(i);
        }
        for id in ids {
            let mut at = &mut root;
            for segment in matcher::parts(paths.name(id), b'.') {
                at = at.child(segment);
            }
            at.path = Some(id);
        }
        Self { root }
    }

    /// The value of the first `"event_type"` member in `line`, read
    /// without parsing (the normalizer writes it before `actor` and
    /// `details`); `None` when absent or escaped. The caller checks it
    /// against the view read.
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

    /// The event type of `line` from its member list (see [`Listed`]),
    /// read where the list says it is; `None` when not listed there, or
    /// not a plain string.
    pub fn listed_type<'a>(line: &'a str, listed: Listed<'_>) -> Option<&'a str> {
        let (members, start) = listed;
        let &(_, at) = members.iter().find(|(name, _)| *name == "event_type")?;
        let at = member_value(line.as_bytes(), at.checked_sub(start)?, "event_type")?;
        match string(line, at)? {
            (Cow::Borrowed(text), _) => Some(text),
            (Cow::Owned(_), _) => None,
        }
    }

    /// Read `line` (one JSON object): the wanted members of the first
    /// occurrence of each name, the rest stepped over; `None` when it is
    /// not a JSON object or a wanted value is not valid JSON. With the
    /// list of its top-level members, only the wanted ones are read, where
    /// the list says they are (a list that does not match the line is not
    /// used).
    pub fn read<'a>(&self, line: &'a str, listed: Option<Listed<'_>>) -> Option<View<'a>> {
        listed
            .and_then(|listed| self.read_listed(line, listed))
            .or_else(|| self.scan(line))
    }

    /// [`Self::read`] with the list of members.
    fn read_listed<'a>(&self, line: &'a str, (members, start): Listed<'_>) -> Option<View<'a>> {
        let b = line.as_bytes();
        let mut view = View::empty();
        let mut seen = 0u128;
        for &(name, at) in members {
            let Some(want) = self.root.find(name.as_bytes(), &mut seen) else {
                continue;
            };
            let at = member_value(b, at.checked_sub(start)?, name)?;
            want.read(line, at, 0, &mut view)?;
            if seen.count_ones() as usize == self.root.children.len() {
                break;
            }
        }
        Some(view)
    }

    /// [`Self::read`] without the list: every member up to the last wanted
    /// one stepped over.
    fn scan<'a>(&self, line: &'a str) -> Option<View<'a>> {
        let b = line.as_bytes();
        let mut view = View::empty();
        let mut at = blank(b, 0);
        if b.get(at) != Some(&b'{') {
            return None;
        }
        at = blank(b, at + 1);
        let mut seen = 0u128;
        if b.get(at) == Some(&b'}') {
            return ends(b, at + 1).then_some(view);
        }
        loop {
            let (name, key_end) = key(b, at)?;
            at = blank(b, key_end);
            if b.get(at) != Some(&b':') {
                return None;
            }
            at = blank(b, at + 1);
            let end = match self.root.find(&name, &mut seen) {
                Some(want) => {
                    let end = want.read(line, at, 0, &mut view)?;
                    if seen.count_ones() as usize == self.root.children.len() {
                        return Some(view);
                    }
                    end
                }
                None => value_end(b, at, usize::MAX)?,
            };
            at = blank(b, end);
            match b.get(at) {
                Some(b',') => at = blank(b, at + 1),
                Some(b'}') => return ends(b, at + 1).then_some(view),
                _ => return None,
            }
        }
    }
}

/// An event's top-level members as its writer listed them: each name with
/// the position of its key's opening quote in the writer's buffer, and
/// where the event starts in that buffer.
pub type Listed<'l> = (&'l [(&'static str, usize)], usize);

/// Where the value of the member `name` whose key starts at `at` starts;
/// `None` when no such key starts there.
fn member_value(b: &[u8], at: usize, name: &str) -> Option<usize> {
    // As the writer writes it (`"name":`, no blank), checked without
    // scanning the key as a string: half the cost of a listed read.
    let n = name.len();
    if b.get(at) == Some(&b'"')
        && b.get(at + 1..at + 1 + n) == Some(name.as_bytes())
        && b.get(at + 1 + n..at + 3 + n) == Some(b"\":")
    {
        return Some(at + 3 + n);
    }
    let (key, end) = key(b, at)?;
    if *key != *name.as_bytes() {
        return None;
    }
    let at = blank(b, end);
    (b.get(at) == Some(&b':')).then(|| blank(b, at + 1))
}

impl Want {
    /// The child named `name`, added when new.
    fn child(&mut self, name: &str) -> &mut Want {
        let at = match self.children.iter().position(|c| c.name == name) {
            Some(at) => at,
            None => {
                self.children.push(Want {
                    name: name.to_owned(),
                    ..Want::default()
                });
                self.children.len() - 1
            }
        };
        &mut self.children[at]
    }

    /// The child named `name` unless `seen` has it already (the first of
    /// a repeated member is the one read, as `Node::get` finds it); marks
    /// it seen.
    fn find(&self, name: &[u8], seen: &mut u128) -> Option<&Want> {
        let at = self
            .children
            .iter()
            .position(|c| c.name.as_bytes() == name)?;
        let bit = 1u128.checked_shl(at as u32).unwrap_or(0);
        if *seen & bit != 0 {
            return None;
        }
        *seen |= bit;
        Some(&self.children[at])
    }

    /// Read the member's value at `at` (nested `depth` deep); where it
    /// ends.
    fn read<'a>(
        &self,
        line: &'a str,
        at: usize,
        depth: usize,
        view: &mut View<'a>,
    ) -> Option<usize> {
        let b = line.as_bytes();
        if self.top.is_some() || self.path.is_some() {
            let (node, end) = value(line, at, depth)?;
            self.take(node, view);
            return Some(end);
        }
        match *b.get(at)? {
            b'{' if depth < MAX_DEPTH => self.members(line, at, depth + 1, view),
            b'[' if depth < MAX_DEPTH => self.items(line, at, depth + 1, view),
            b'{' | b'[' => None,
            // A path does not go on through a scalar.
            _ => value_end(b, at, 0),
        }
    }

    /// The object at `at`: its members on the way read, the others stepped
    /// over.
    fn members<'a>(
        &self,
        line: &'a str,
        at: usize,
        depth: usize,
        view: &mut View<'a>,
    ) -> Option<usize> {
        let b = line.as_bytes();
        let mut seen = 0u128;
        let mut at = blank(b, at + 1);
        if b.get(at) == Some(&b'}') {
            return Some(at + 1);
        }
        loop {
            let (name, key_end) = key(b, at)?;
            at = blank(b, key_end);
            if b.get(at) != Some(&b':') {
                return None;
            }
            at = blank(b, at + 1);
            let end = match self.find(&name, &mut seen) {
                Some(child) => child.read(line, at, depth, view)?,
                None => value_end(b, at, MAX_DEPTH - depth)?,
            };
            at = blank(b, end);
            match b.get(at) {
                Some(b',') => at = blank(b, at + 1),
                Some(b'}') => return Some(at + 1),
                _ => return None,
            }
        }
    }

    /// The array at `at`: a path crossing an array goes on in every item.
    fn items<'a>(
        &self,
        line: &'a str,
        at: usize,
        depth: usize,
        view: &mut View<'a>,
    ) -> Option<usize> {
        let b = line.as_bytes();
        let mut at = blank(b, at + 1);
        if b.get(at) == Some(&b']') {
            return Some(at + 1);
        }
        loop {
            let end = match *b.get(at)? {
                b'{' if depth < MAX_DEPTH => self.members(line, at, depth + 1, view)?,
                b'[' if depth < MAX_DEPTH => self.items(line, at, depth + 1, view)?,
                b'{' | b'[' => return None,
                _ => value_end(b, at, 0)?,
            };
            at = blank(b, end);
            match b.get(at) {
                Some(b',') => at = blank(b, at + 1),
                Some(b']') => return Some(at + 1),
                _ => return None,
            }
        }
    }

    /// The member's value, read whole: what its path reaches (as
    /// `matcher::each` hands it over) and what the longer paths reach.
    fn take<'a>(&self, node: Node<'a>, view: &mut View<'a>) {
        if !self.children.is_empty() {
            self.within(&node, view);
        }
        let node = match (self.top, self.path) {
            (Some(index), Some(_)) => {
                view.set_top(index, node.clone());
                node
            }
            (Some(index), None) => return view.set_top(index, node),
            (None, _) => node,
        };
        let Some(id) = self.path else { return };
        match node {
            Node::Array(items) => items
                .into_iter()
                .filter(|i| !i.is_null())
                .for_each(|i| view.push(id, i)),
            Node::Null => {}
            other => view.push(id, other),
        }
    }

    /// The longer paths through `node`, this member's value.
    fn within<'a>(&self, node: &Node<'a>, view: &mut View<'a>) {
        match node {
            Node::Object(_) => {
                for child in &self.children {
                    if let Some(value) = node.get(&child.name) {
                        child.take(value.clone(), view);
                    }
                }
            }
            Node::Array(items) => items.iter().for_each(|i| self.within(i, view)),
            _ => {}
        }
    }
}

/// Nesting deeper than this is refused (as `serde_json` refuses it).
const MAX_DEPTH: usize = 128;

/// The JSON value that starts at byte `at` of `b`, and where it ends.
/// `None` for anything that is not well-formed JSON (the caller then does
/// not evaluate the event).
fn value(line: &str, at: usize, depth: usize) -> Option<(Node<'_>, usize)> {
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
            let end = value_end(b, at, 0)?;
            Some((Node::Number(number(line.get(at..end)?)?), end))
        }
        _ => None,
    }
}

/// The number `text`, as `serde_json` reads it. Small non-negative
/// integers (an ASN, a status code, a count) and short decimals (a
/// latitude) are read here: `serde_json`'s reader cost several times as
/// much, for the same `u64` or correctly rounded `f64`.
fn number(text: &str) -> Option<serde_json::Number> {
    let digits = text.as_bytes();
    let integer = matches!(digits.len(), 1..=18)
        && digits.iter().all(u8::is_ascii_digit)
        && (digits[0] != b'0' || digits.len() == 1);
    if integer {
        return text.parse::<u64>().ok().map(Into::into);
    }
    match short_decimal(digits) {
        Some(x) => serde_json::Number::from_f64(x),
        None => text.parse().ok(),
    }
}

/// Powers of ten exact in an `f64`, up to the fifteen digits
/// [`short_decimal`] reads.
const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// `-?D+.D+` of fifteen digits at most, no exponent, as an `f64`: its
/// digits as an integer and the power of ten are both exact in an `f64`,
/// so the one division rounds correctly, as `serde_json` reads it
/// (`float_roundtrip`). `None` for any other form.
fn short_decimal(text: &[u8]) -> Option<f64> {
    let (negative, digits) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, text),
    };
    let dot = digits.iter().position(|&c| c == b'.')?;
    let (whole, fraction) = (&digits[..dot], &digits[dot + 1..]);
    let shape = !whole.is_empty()
        && !fraction.is_empty()
        && whole.len() + fraction.len() <= 15
        && (whole[0] != b'0' || whole.len() == 1);
    if !shape {
        return None;
    }
    let mut n = 0u64;
    for &c in whole.iter().chain(fraction) {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    let x = n as f64 / POWERS_OF_TEN[fraction.len()];
    Some(if negative { -x } else { x })
}

/// The object that starts at `at` (its `{`).
fn object(line: &str, at: usize, depth: usize) -> Option<(Node<'_>, usize)> {
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
fn array(line: &str, at: usize, depth: usize) -> Option<(Node<'_>, usize)> {
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
        Cow::Owned(serde_json::from_str::<String>(line.get(at..end)?).ok()?)
    } else {
        Cow::Borrowed(line.get(at + 1..end - 1)?)
    };
    Some((text, end))
}

/// The member name that starts at `at` as bytes (unescaped when it holds
/// an escape: compared with the wanted names, never kept), and the
/// position just past it.
fn key(b: &[u8], at: usize) -> Option<(Cow<'_, [u8]>, usize)> {
    let (end, escaped) = scan_string(b, at)?;
    let name = if escaped {
        Cow::Owned(
            serde_json::from_slice::<String>(&b[at..end])
                .ok()?
                .into_bytes(),
        )
    } else {
        Cow::Borrowed(&b[at + 1..end - 1])
    };
    Some((name, end))
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
/// the value itself is not checked); `None` when arrays and objects nest
/// more than `nesting` deep in it (where [`value`] would refuse it).
fn value_end(b: &[u8], at: usize, nesting: usize) -> Option<usize> {
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
                    b'{' | b'[' => {
                        depth += 1;
                        if depth > nesting {
                            return None;
                        }
                    }
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
    use crate::detect::view::{EVENT_ID, TOP};
    use serde_json::Value;

    /// The view of `line` read for `paths`, and the same paths walked in
    /// the whole event, as JSON per path (top-level members first).
    fn both(paths: &[&str], line: &str) -> (Option<Vec<Value>>, Vec<Value>) {
        let mut numbered = Paths::default();
        let ids: Vec<PathId> = paths.iter().map(|p| numbered.id(p)).collect();
        let flat = |view: &View<'_>| {
            let top =
                (0..TOP.len()).map(|i| view.top(i).map_or(Value::Bool(false), Node::to_value));
            let reached = ids
                .iter()
                .map(|&id| Value::Array(view.values(id).map(Node::to_value).collect()));
            top.chain(reached).collect::<Vec<_>>()
        };
        let read = Wanted::of(&numbered, ids.iter().copied()).read(line, None);
        let whole: Value = serde_json::from_str(line).unwrap();
        let walked = View::of(&Node::from_value(&whole), &numbered);
        (read.as_ref().map(flat), flat(&walked))
    }

    #[test]
    fn reads_what_the_walk_of_the_whole_event_reaches() {
        let line = r#"{"event_id":"a","timestamp":"t","event_type":"x","actor":{"ip":"i","geo":{"asn":1,"lat":2.5},"id":"u"},
            "controls":[{"id":"c","tags":["a\"b]"]}],"unmapped":{"fields":{"k":[1,{}]}},
            "details":{"scopes":[],"updates":[{"type":"a"},null,[{"type":"b"}],{"type":["c",null,["d"]]},{"type":null}],"n":null,"s":"x"},
            "data_classes":["pii",null,"secret"],"organization_uuid":null}"#;
        let paths = [
            "actor.ip",
            "actor.geo",
            "actor.geo.asn",
            "actor.id",
            "details.scopes",
            "details.updates.type",
            "details.updates",
            "details.n",
            "details.s.x",
            "details.none",
            "data_classes",
            "event_type",
            "unmapped.fields.k",
            "controls.tags",
            "",
        ];
        let (read, walked) = both(&paths, line);
        assert_eq!(read.unwrap(), walked);
        // The first of a repeated member is read (as `Node::get` finds it).
        let repeated =
            r#"{"event_type":"x","actor":{"id":"u","id":"v"},"event_type":"y","actor":{}}"#;
        let mut numbered = Paths::default();
        let id = numbered.id("actor.id");
        let view = Wanted::of(&numbered, [id]).read(repeated, None).unwrap();
        assert_eq!(view.top_str(crate::detect::view::EVENT_TYPE), Some("x"));
        assert_eq!(view.first(id).and_then(Node::as_str), Some("u"));
        assert_eq!(Wanted::sniff_type(line.as_bytes()), Some("x"));
        assert_eq!(Wanted::sniff_type(br#"{"event_type":"a\"b"}"#), None);
        assert_eq!(Wanted::sniff_type(br#"{"event_id":"a"}"#), None);
    }

    #[test]
    fn reads_listed_members_where_the_list_says_and_ignores_a_wrong_list() {
        let line = r#"xx{"event_id":"a","event_type":"t","actor":{"id":"u"},"details":{}}"#;
        let mut numbered = Paths::default();
        let id = numbered.id("actor.id");
        let wanted = Wanted::of(&numbered, [id]);
        let members = [
            ("event_id", 3),
            ("event_type", 18),
            ("actor", 35),
            ("details", 54),
        ];
        let listed = (&members[..], 2);
        let view = wanted.read(&line[2..], Some(listed)).unwrap();
        assert_eq!(view.first(id).and_then(Node::as_str), Some("u"));
        assert_eq!(view.top_str(EVENT_ID), Some("a"));
        assert_eq!(Wanted::listed_type(&line[2..], listed), Some("t"));
        let wrong = [("event_id", 3), ("actor", 18)];
        let view = wanted.read(&line[2..], Some((&wrong[..], 2))).unwrap();
        assert_eq!(view.first(id).and_then(Node::as_str), Some("u"));
        assert_eq!(Wanted::listed_type(&line[2..], (&wrong[..], 2)), None);
        assert_eq!(Wanted::listed_type(&line[2..], (&members[..], 40)), None);
    }

    #[test]
    fn refuses_what_is_not_an_object_and_stops_after_the_last_wanted_member() {
        let wanted = |paths: &[&str]| {
            let mut numbered = Paths::default();
            let ids: Vec<PathId> = paths.iter().map(|p| numbered.id(p)).collect();
            Wanted::of(&numbered, ids)
        };
        let actor = wanted(&["actor.ip"]);
        assert!(actor.read("[1]", None).is_none());
        assert!(actor.read(r#"{"a":1} x"#, None).is_none());
        assert!(actor.read(r#"{"a":"#, None).is_none());
        assert!(actor.read(r#"{"actor":{"ip":}}"#, None).is_none());
        assert!(actor.read(r#"{"a":[1,2}"#, None).is_none());
        let all = r#"{"event_\u0069d":"a","timestamp":"t","event_type":"x","organization_uuid":null,"actor":{}"#;
        let line = format!("{all}, \"rest\": not json");
        let view = actor.read(&line, None).unwrap();
        assert_eq!(view.top_str(EVENT_ID), Some("a"));
        assert!(wanted(&["details.x"]).read(r#" { } "#, None).is_some());
        let deep = format!(
            r#"{{"details":{{"a":{}{}}}}}"#,
            "[".repeat(128),
            "]".repeat(128)
        );
        assert!(wanted(&["details.b"]).read(&deep, None).is_none());
        assert!(wanted(&["details.a"]).read(&deep, None).is_none());
        let fits = format!(
            r#"{{"details":{{"a":{}{}}}}}"#,
            "[".repeat(127),
            "]".repeat(127)
        );
        assert!(wanted(&["details.b"]).read(&fits, None).is_some());
        assert!(wanted(&["details.a"]).read(&fits, None).is_some());
    }

    #[test]
    fn the_reader_reads_what_serde_json_reads() {
        let texts = [
            r#"{"a":"x","b\u0040":"y\"z\u00e9\ud83d\ude00","c":[]}"#,
            r#"[1,-2,3.5,-0,0,0.1e-3,1E+5,18446744073709551615,-9223372036854775808,12345678901234567890123]"#,
            r#"[123456789012345678,1234567890123456789,99999999999999999999,7,10,-0.0,1e2]"#,
            r#"[39.0,-77.5,51.5074,-0.1278,0.1,0.2,0.3,-0.0,0.0,1.5,123456789012.345,999999999999999.9,0.000000000000001,1.0000000000000001,9007199254740993.0,-12.25,1.5e3]"#,
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
    fn short_numbers_read_as_serde_json_reads_them() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let (whole, fraction) = (next() % 1_000_000_000, next() % 1_000_000_000);
            let digits = (next() % 10) as usize;
            let sign = if next() % 2 == 0 { "-" } else { "" };
            for text in [
                format!(
                    "{sign}{whole}.{:0digits$}",
                    fraction % 10u64.pow(digits as u32)
                ),
                format!("{}", next() >> (next() % 64)),
            ] {
                let expected: Option<serde_json::Number> = text.parse().ok();
                assert_eq!(number(&text), expected, "{text}");
                if let Some(n) = number(&text) {
                    assert_eq!(n.to_string(), expected.unwrap().to_string(), "{text}");
                }
            }
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
            "00",
            "012",
            "1.",
            ".5",
            "01.5",
            "-01.5",
            "-.5",
            "1.5.5",
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
