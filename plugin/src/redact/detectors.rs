//! The detector set: `data/detectors.toml` compiled once into regexes plus a
//! literal prefilter, and the scan that finds sensitive spans in a string.
//!
//! Cost control: a string is first run through one Aho-Corasick automaton
//! holding every detector's keywords (case-insensitive), and, when it has a
//! digit, through one `RegexSet` of all keyword-less (digit-shaped)
//! detectors, a single pass whatever their number. Only the detectors these
//! two passes select run their own regex to find spans. Most strings (ids,
//! enum values, timestamps) run none.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::{Regex, RegexSet};
use serde::Deserialize;

use super::validate::{self, Validator};
use digit_gate::DigitGate;

mod digit_gate;

const DETECTORS_TOML: &str = include_str!("../../data/detectors.toml");

/// How far back (in bytes) a detector's `context` words are looked for.
const CONTEXT_WINDOW: usize = 40;

/// The broad class of data a detector finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// Personal data.
    Pii,
    /// Protected health information.
    Phi,
    /// Credentials and keys.
    Secret,
    /// Payment and bank data.
    Financial,
}

impl DataClass {
    /// The name written to `data_classes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pii => "pii",
            Self::Phi => "phi",
            Self::Secret => "secret",
            Self::Financial => "financial",
        }
    }
}

/// One `[[detector]]` as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectorSpec {
    id: String,
    family: String,
    entity: String,
    data_class: DataClass,
    flag: String,
    pattern: String,
    keywords: Vec<String>,
    #[serde(default)]
    context: Vec<String>,
    #[serde(default)]
    digit_boundary: bool,
    /// Only run on strings where two of this byte are this close.
    #[serde(default)]
    pair_within: Option<(char, usize)>,
    validator: String,
    /// Secrets: a match below this entropy (bits/char), or shaped like an
    /// example, is only a *possible* secret (`secret_possible`).
    #[serde(default)]
    min_entropy: Option<f64>,
    /// Texts this detector must find (checked by the unit tests).
    #[serde(default)]
    positive: Vec<String>,
    /// Look-alikes it must not find.
    #[serde(default)]
    negative: Vec<String>,
    /// Placeholders it must find only as possible secrets.
    #[serde(default)]
    placeholder: Vec<String>,
}

/// The examples a detector carries in `detectors.toml`.
#[derive(Debug, Default)]
pub struct Examples {
    /// Texts the detector must find.
    pub positive: Vec<String>,
    /// Look-alikes it must not find.
    pub negative: Vec<String>,
    /// Placeholders it must find only as possible secrets.
    pub placeholder: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectorFile {
    detector: Vec<DetectorSpec>,
}

/// A compiled detector.
#[derive(Debug)]
pub struct Detector {
    /// Unique id.
    pub id: String,
    /// Group measured together by `bench --redaction-cost`.
    pub family: String,
    /// Entity class (chooses the action).
    pub entity: String,
    /// Broad data class.
    pub data_class: DataClass,
    /// Policy flag.
    pub flag: String,
    regex: Regex,
    value_group: bool,
    /// The `context` words, case-insensitive, in one automaton: one pass
    /// over the window before a match, whatever the number of words.
    context: Option<AhoCorasick>,
    digit_boundary: bool,
    validator: Validator,
    min_entropy: Option<f64>,
    /// Its examples from the file.
    pub examples: Examples,
}

/// A sensitive span found in a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    /// Index of the detector in the set.
    pub detector: usize,
    /// Byte range in the scanned string.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
    /// A secret-shaped placeholder (`xoxb-1234`, `...EXAMPLE`): reported as
    /// `secret_possible`.
    pub possible: bool,
}

/// All detectors, with their prefilter.
#[derive(Debug)]
pub struct DetectorSet {
    detectors: Vec<Detector>,
    prefilter: AhoCorasick,
    /// Detector index of each prefilter pattern.
    keyword_owner: Vec<usize>,
    /// One pass over all keyword-less detectors' patterns.
    digit_set: RegexSet,
    /// Detector index of each pattern of `digit_set`.
    digit_owner: Vec<usize>,
    /// Necessary conditions of `digit_set`, checked first (`digit_gate`).
    digit_gate: DigitGate,
    /// `(detector bit, byte, distance)`: a detector that only runs where two
    /// of that byte are at most that far apart (`pair_within`).
    pairs: Vec<(u128, u8, usize)>,
}

impl DetectorSet {
    /// The built-in set from `data/detectors.toml`.
    ///
    /// # Panics
    /// If the embedded file is malformed: a build defect that the unit tests
    /// of this module catch, never a runtime condition.
    pub fn builtin() -> Self {
        Self::from_toml(DETECTORS_TOML).expect("data/detectors.toml is valid (unit-tested)")
    }

    /// The built-in set without the detectors of `family` (for measuring
    /// what they cost; see `coverage`).
    pub fn builtin_without(family: &str) -> Result<Self, String> {
        let mut file: DetectorFile = toml::from_str(DETECTORS_TOML).map_err(|e| e.to_string())?;
        file.detector.retain(|d| d.family != family);
        Self::compile(file)
    }

    /// Compile a detector file.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        Self::compile(toml::from_str(text).map_err(|e| e.to_string())?)
    }

    fn compile(file: DetectorFile) -> Result<Self, String> {
        if file.detector.len() > 128 {
            return Err("at most 128 detectors (the candidate set is a u128)".to_owned());
        }
        let mut detectors = Vec::new();
        let mut keywords = Vec::new();
        let mut keyword_owner = Vec::new();
        let mut digit_patterns = Vec::new();
        let mut digit_owner = Vec::new();
        let mut pairs = Vec::new();
        for (index, spec) in file.detector.into_iter().enumerate() {
            if let Some((c, within)) = spec.pair_within {
                let byte = u8::try_from(c)
                    .ok()
                    .filter(u8::is_ascii)
                    .ok_or_else(|| format!("{}: pair_within needs an ASCII character", spec.id))?;
                pairs.push((1u128 << index, byte, within));
            }
            let regex = Regex::new(&spec.pattern).map_err(|e| format!("{}: {e}", spec.id))?;
            let validator = Validator::from_name(&spec.validator)
                .ok_or_else(|| format!("{}: unknown validator {}", spec.id, spec.validator))?;
            if spec.keywords.is_empty() {
                digit_patterns.push(spec.pattern.clone());
                digit_owner.push(index);
            }
            for keyword in spec.keywords {
                keywords.push(keyword);
                keyword_owner.push(index);
            }
            let context = context_automaton(&spec.context)
                .map_err(|e| format!("{}: context: {e}", spec.id))?;
            detectors.push(Detector {
                value_group: regex.capture_names().any(|n| n == Some("value")),
                id: spec.id,
                family: spec.family,
                entity: spec.entity,
                data_class: spec.data_class,
                flag: spec.flag,
                regex,
                context,
                digit_boundary: spec.digit_boundary,
                validator,
                min_entropy: spec.min_entropy,
                examples: Examples {
                    positive: spec.positive,
                    negative: spec.negative,
                    placeholder: spec.placeholder,
                },
            });
        }
        // A full DFA: every string of every event goes through it, and the
        // automatic choice (a contiguous NFA for this many keywords) is
        // slower per byte; the DFA's size is a few hundred KiB, once.
        let prefilter = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&keywords)
            .map_err(|e| e.to_string())?;
        let digit_set = RegexSet::new(&digit_patterns).map_err(|e| e.to_string())?;
        let digit_gated: Vec<(u128, &str, bool)> = digit_owner
            .iter()
            .zip(&digit_patterns)
            .map(|(&index, pattern)| {
                let boundary = detectors[index].digit_boundary;
                (1u128 << index, pattern.as_str(), boundary)
            })
            .collect();
        let digit_gate = DigitGate::new(&digit_gated);
        Ok(Self {
            detectors,
            prefilter,
            keyword_owner,
            digit_set,
            digit_owner,
            digit_gate,
            pairs,
        })
    }

    /// The detectors, in priority order.
    pub fn detectors(&self) -> &[Detector] {
        &self.detectors
    }

    /// Find sensitive spans in `text`, appending them to `findings` sorted by
    /// position and never overlapping (an earlier detector wins).
    pub fn scan(&self, text: &str, findings: &mut Vec<Finding>) {
        let start = findings.len();
        let mut candidates = self.scan_candidates(text);
        if candidates == 0 {
            return;
        }
        // The set bits, lowest (highest priority) first. Not a test of
        // `1 << index` per detector: wasm has no 128-bit shift, and that
        // loop was a `__lshrti3` call per detector (1.4 % of a sandboxed run).
        while candidates != 0 {
            let index = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let detector = &self.detectors[index];
            detector.find(text, index, &mut |f| {
                let taken = findings[start..]
                    .iter()
                    .any(|o| f.start < o.end && o.start < f.end);
                if !taken {
                    findings.push(f);
                }
            });
        }
        findings[start..].sort_by_key(|f| f.start);
    }

    /// Whether no detector could match anywhere in `text`.
    pub fn is_quiet(&self, text: &str) -> bool {
        self.candidates(text) == 0
    }

    /// Bit set of the detectors that may match in `text` (the set's
    /// answer: [`Self::is_quiet`] depends on it).
    fn candidates(&self, text: &str) -> u128 {
        let mut set = 0u128;
        if text.bytes().any(|b| b.is_ascii_digit()) {
            for pattern in self.digit_set.matches(text).iter() {
                set |= 1 << self.digit_owner[pattern];
            }
        }
        self.with_keywords(text, set)
    }

    /// Bit set of the detectors worth running on `text`: as
    /// [`Self::candidates`], but the keyword-less ones chosen by the digit
    /// gate where it can tell, which leaves out more of those that could
    /// only find matches with a digit next to them.
    fn scan_candidates(&self, text: &str) -> u128 {
        match self.digit_gate.candidates(text.as_bytes()) {
            Some(digits) => self.with_keywords(text, digits),
            None => self.candidates(text),
        }
    }

    /// `set` (keyword-less candidates) plus the keyword detectors found by
    /// the prefilter, less those whose `pair_within` fails.
    fn with_keywords(&self, text: &str, mut set: u128) -> u128 {
        for m in self.prefilter.find_overlapping_iter(text) {
            set |= 1 << self.keyword_owner[m.pattern().as_usize()];
        }
        for &(bit, byte, within) in &self.pairs {
            if set & bit != 0 && !has_pair(text.as_bytes(), byte, within) {
                set &= !bit;
            }
        }
        set
    }
}

/// The automaton of a detector's `context` words (ASCII case ignored, as
/// keywords); `None` when it has none.
fn context_automaton(words: &[String]) -> Result<Option<AhoCorasick>, String> {
    if words.is_empty() {
        return Ok(None);
    }
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .build(words)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Whether two `byte`s in `text` are at most `within` bytes apart: a cheap
/// necessary condition of some patterns (an IPv6 address has two colons at
/// most 5 apart), checked before their regex scans the whole string.
fn has_pair(text: &[u8], byte: u8, within: usize) -> bool {
    let mut last: Option<usize> = None;
    for at in memchr::memchr_iter(byte, text) {
        if last.is_some_and(|l| at - l <= within) {
            return true;
        }
        last = Some(at);
    }
    false
}

impl Detector {
    /// Every validated match of this detector in `text`.
    pub fn find(&self, text: &str, index: usize, accept: &mut dyn FnMut(Finding)) {
        let mut check = |start: usize, end: usize| {
            if let Some(end) = self.accepted_end(text, start, end) {
                let possible = self
                    .min_entropy
                    .is_some_and(|min| validate::is_placeholder(&text[start..end], min));
                accept(Finding {
                    detector: index,
                    start,
                    end,
                    possible,
                });
            }
        };
        if self.value_group {
            for caps in self.regex.captures_iter(text) {
                if let Some(m) = caps.name("value") {
                    check(m.start(), m.end());
                }
            }
        } else {
            for m in self.regex.find_iter(text) {
                check(m.start(), m.end());
            }
        }
    }

    /// Where the valid match starting at `start` ends, if there is one.
    fn accepted_end(&self, text: &str, start: usize, end: usize) -> Option<usize> {
        let bytes = text.as_bytes();
        if self.digit_boundary
            && (start > 0 && bytes[start - 1].is_ascii_digit()
                || bytes.get(end).is_some_and(u8::is_ascii_digit))
        {
            return None;
        }
        let before = &text[text.floor_char_boundary(start.saturating_sub(CONTEXT_WINDOW))..start];
        if let Some(context) = &self.context
            && !context.is_match(before)
        {
            return None;
        }
        let len = self
            .validator
            .accepted_len(&text[start..end], before, &text[end..])?;
        Some(start + len)
    }
}

#[cfg(test)]
mod tests;
