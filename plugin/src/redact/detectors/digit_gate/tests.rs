//! The gate never hides a finding: every example match of every
//! keyword-less detector passes it, and proptests check, on generated
//! matches and on random digit-heavy text, that where the gate leaves a
//! detector out no match of its regex passes the digit boundary check (the
//! first thing `Detector::accepted_end` asks).

use std::sync::LazyLock;

use proptest::prelude::*;
use regex::Regex;

use super::super::tests::CASES;
use super::super::{Detector, DetectorSet};
use super::{DigitGate, KNOWN};
use crate::redact::coverage::DETECTORS;

/// The keyword-less detectors of a set: the ones the gate guards.
fn gated(set: &DetectorSet) -> Vec<(usize, &Detector)> {
    set.digit_owner
        .iter()
        .map(|&i| (i, &set.detectors[i]))
        .collect()
}

/// Whether some match of `regex` in `text` has no ASCII digit next to it
/// (or the detector does not care): a finding is then possible.
fn may_find(regex: &Regex, boundary: bool, text: &str) -> bool {
    let bytes = text.as_bytes();
    regex.find_iter(text).any(|m| {
        !boundary
            || !(m.start() > 0 && bytes[m.start() - 1].is_ascii_digit()
                || bytes.get(m.end()).is_some_and(u8::is_ascii_digit))
    })
}

/// Each keyword-less detector of the built-in set: its regex, whether it
/// checks digit boundaries, its gate alone (bit 1).
static SINGLES: LazyLock<Vec<(Regex, bool, DigitGate)>> = LazyLock::new(|| {
    gated(&DETECTORS)
        .into_iter()
        .map(|(_, d)| {
            let gate = DigitGate::new(&[(1, d.regex.as_str(), d.digit_boundary)]);
            (d.regex.clone(), d.digit_boundary, gate)
        })
        .collect()
});

#[test]
fn the_builtin_set_is_gated() {
    assert!(
        DETECTORS.digit_gate.is_active(),
        "a keyword-less pattern of data/detectors.toml is not in digit_gate::KNOWN: \
         derive its condition and add it"
    );
    assert_eq!(
        gated(&DETECTORS).len(),
        KNOWN.len(),
        "KNOWN holds a stale pattern"
    );
}

#[test]
fn an_unknown_pattern_switches_the_gate_off() {
    let gate = DigitGate::new(&[(1, r"\d{10}", true), (2, r"\d{4}", true)]);
    assert!(!gate.is_active());
    assert_eq!(gate.candidates(b"1234"), None);
    // A condition on runs is only valid with the digit boundary check.
    assert!(!DigitGate::new(&[(1, r"\d{10}", false)]).is_active());
}

#[test]
fn non_ascii_text_is_not_gated() {
    assert_eq!(DETECTORS.digit_gate.candidates("é 123".as_bytes()), None);
}

/// Every detector's own examples (file and case table) pass its gate.
#[test]
fn every_example_match_passes_the_gate() {
    for (index, d) in gated(&DETECTORS) {
        let cases = CASES
            .iter()
            .filter(|(id, _, expected)| *id == d.id && !expected.is_empty())
            .map(|(_, text, _)| *text);
        let texts: Vec<&str> = d
            .examples
            .positive
            .iter()
            .map(String::as_str)
            .chain(cases)
            .collect();
        assert!(!texts.is_empty(), "{}: no positive example", d.id);
        for text in texts {
            let found = DETECTORS.digit_gate.candidates(text.as_bytes());
            assert!(
                found.is_none_or(|set| set & (1 << index) != 0),
                "{}: {text:?}",
                d.id
            );
        }
    }
}

#[test]
fn ids_and_timestamps_select_nothing() {
    for text in [
        "2026-12-03T10:00:00Z",
        "2026-12-03T10:00:00.123456+02:00",
        "7f3c2a1e-9b4d-4e8f-a2c1-5d6e7f8a9b0c",
        "activity_01SIM000000000000000000000",
        "Elastic-Agent/9.1.0 (CEL input)",
        "v1.2.3",
    ] {
        assert_eq!(
            DETECTORS.digit_gate.candidates(text.as_bytes()),
            Some(0),
            "{text:?}"
        );
    }
}

/// Pieces of ASCII digit-heavy text: digits, every separator the patterns
/// allow, and the letters they use.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "0", "1", "4", "9", "12", "415", "555", "0123", "-", " ", ".", "(", ")", "+1", "\t", "\n",
        "\r", "\u{b}", "\u{c}", "\u{1c}", "S", "K", "SK", "GB", "Z", "a", "f", "x", ":", "T", "/",
        "_",
    ])
}

/// `pattern` made ASCII (`\d` as `[0-9]`, `\s` as ASCII space) and without
/// its `\b`s, which `string_regex` cannot generate: a superset of the
/// pattern's ASCII matches.
fn generable(pattern: &str) -> String {
    pattern
        .replace(r"\b", "")
        .replace(r"\d", "[0-9]")
        .replace(r"\s", r"[ \t\n\x0B\x0C\r]")
}

/// A detector (index into [`SINGLES`]) and a text holding a match of it.
fn planted() -> impl Strategy<Value = (usize, String)> {
    (0..SINGLES.len()).prop_flat_map(|which| {
        let pattern = generable(SINGLES[which].0.as_str());
        let matches = proptest::string::string_regex(&pattern).unwrap();
        let around = || prop::collection::vec(piece(), 0..6).prop_map(|p| p.concat());
        (
            Just(which),
            (around(), matches, around()).prop_map(|(b, m, a)| b + &m + &a),
        )
    })
}

/// Where the gate leaves detector `which` out of `text`, it could not have
/// found anything there.
fn check(which: usize, text: &str) -> Result<(), TestCaseError> {
    let (regex, boundary, gate) = &SINGLES[which];
    let selected = gate.candidates(text.as_bytes()).is_none_or(|set| set != 0);
    prop_assert!(
        selected || !may_find(regex, *boundary, text),
        "{}: {text:?}",
        regex.as_str()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    /// Planted matches in random surroundings.
    #[test]
    fn gate_never_hides_a_planted_match((which, text) in planted()) {
        check(which, &text)?;
    }

    /// Random digit-heavy text, every detector.
    #[test]
    fn gate_never_hides_a_match(pieces in prop::collection::vec(piece(), 0..40)) {
        let text = pieces.concat();
        for which in 0..SINGLES.len() {
            check(which, &text)?;
        }
    }
}
