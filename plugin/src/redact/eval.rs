//! The redaction evaluation: recall and false-positive rate per entity class
//! over a labeled corpus (`tests/redaction-eval/corpus.jsonl`).
//!
//! Each case is one text, redacted as a free-text field of an event with the
//! default policy. A positive is *recalled* when its sensitive value no
//! longer appears in the output; a negative (a look-alike) is a *false
//! positive* when the output differs from the input in any way.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use super::pseudonym::HmacKey;
use super::{Redacted, Redactor, Report};
use crate::config::RedactionSettings;

/// One labeled case of the corpus.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    class: String,
    label: Label,
    country: String,
    text: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Label {
    Positive,
    Negative,
}

/// Counts for one entity class.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClassScore {
    /// Positive cases.
    pub positives: u64,
    /// Positives whose value was removed.
    pub recalled: u64,
    /// Negative (look-alike) cases.
    pub negatives: u64,
    /// Negatives that were altered.
    pub false_positives: u64,
}

impl ClassScore {
    /// Recalled / positives (1 when there are none).
    pub fn recall(&self) -> f64 {
        ratio(self.recalled, self.positives, 1.0)
    }

    /// False positives / negatives (0 when there are none).
    pub fn fp_rate(&self) -> f64 {
        ratio(self.false_positives, self.negatives, 0.0)
    }

    fn add(&mut self, other: &Self) {
        self.positives += other.positives;
        self.recalled += other.recalled;
        self.negatives += other.negatives;
        self.false_positives += other.false_positives;
    }
}

fn ratio(part: u64, whole: u64, empty: f64) -> f64 {
    if whole == 0 {
        return empty;
    }
    // Case counts are far below 2^52: exact as f64.
    #[expect(clippy::cast_precision_loss, reason = "counts are small")]
    let r = part as f64 / whole as f64;
    r
}

/// The result of an evaluation.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Scores per entity class.
    pub classes: BTreeMap<String, ClassScore>,
    /// Countries the corpus covers.
    pub countries: Vec<String>,
    /// The cases that failed: `(class, label, text)`, for diagnosis only
    /// (the corpus is synthetic, so printing it leaks nothing).
    pub failures: Vec<(String, &'static str, String)>,
}

impl Evaluation {
    /// All classes together.
    pub fn overall(&self) -> ClassScore {
        let mut total = ClassScore::default();
        for score in self.classes.values() {
            total.add(score);
        }
        total
    }

    /// The per-class table, as printed by `claude-audit bench --redaction-eval`.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<12} {:>9} {:>8} {:>9} {:>8}",
            "class", "positives", "recall", "negatives", "fp rate"
        );
        let row = |out: &mut String, name: &str, s: &ClassScore| {
            let _ = writeln!(
                out,
                "{name:<12} {:>9} {:>8.3} {:>9} {:>8.3}",
                s.positives,
                s.recall(),
                s.negatives,
                s.fp_rate()
            );
        };
        for (name, score) in &self.classes {
            row(&mut out, name, score);
        }
        row(&mut out, "overall", &self.overall());
        let _ = writeln!(out, "countries: {}", self.countries.join(" "));
        out
    }
}

/// Evaluate the default policy on `corpus` (JSON lines).
pub fn evaluate(corpus: &str) -> Result<Evaluation, String> {
    let key = HmacKey::new("eval", vec![0x42; 32]).ok_or("evaluation key")?;
    let redactor = Redactor::new(RedactionSettings::default(), key).map_err(|e| e.message)?;
    let mut evaluation = Evaluation::default();
    for (line, text) in corpus.lines().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        let case: Case =
            serde_json::from_str(text).map_err(|e| format!("corpus line {}: {e}", line + 1))?;
        score(&redactor, case, &mut evaluation)
            .map_err(|e| format!("corpus line {}: {e}", line + 1))?;
    }
    evaluation.countries.sort();
    evaluation.countries.dedup();
    evaluation.countries.retain(|c| c != "-");
    Ok(evaluation)
}

fn score(redactor: &Redactor, case: Case, evaluation: &mut Evaluation) -> Result<(), String> {
    let mut report = Report::default();
    let output = match redactor.redact_str(&["details", "text"], &case.text, &mut report) {
        Redacted::Unchanged => case.text.clone(),
        Redacted::Replaced(value) => value.as_str().unwrap_or_default().to_owned(),
        Redacted::Dropped => String::new(),
    };
    evaluation.countries.push(case.country);
    let entry = evaluation.classes.entry(case.class.clone()).or_default();
    let failed = match case.label {
        Label::Positive => {
            let value = case.value.as_deref().ok_or("a positive needs a value")?;
            entry.positives += 1;
            let recalled = !output.contains(value);
            entry.recalled += u64::from(recalled);
            !recalled
        }
        Label::Negative => {
            entry.negatives += 1;
            let altered = output != case.text;
            entry.false_positives += u64::from(altered);
            altered
        }
    };
    if failed {
        let label = if case.label == Label::Positive {
            "missed"
        } else {
            "altered"
        };
        evaluation.failures.push((case.class, label, case.text));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The corpus run as part of the test suite, against the targets.
    #[test]
    fn corpus_meets_the_targets() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/redaction-eval/corpus.jsonl"
        );
        let corpus = std::fs::read_to_string(path).unwrap();
        let evaluation = evaluate(&corpus).unwrap();
        println!("{}", evaluation.table());
        for (class, label, text) in &evaluation.failures {
            println!("{class} {label}: {text}");
        }
        let overall = evaluation.overall();
        assert!(overall.positives + overall.negatives >= 1500);
        assert!(evaluation.countries.len() >= 15);
        assert!(
            overall.recall() >= 0.98,
            "overall recall {}",
            overall.recall()
        );
        assert!(
            overall.fp_rate() <= 0.02,
            "overall fp rate {}",
            overall.fp_rate()
        );
        for (class, s) in &evaluation.classes {
            assert!(s.recall() >= 0.95, "{class}: recall {}", s.recall());
            assert!(s.negatives > 0, "{class}: no look-alikes");
        }
    }
}
