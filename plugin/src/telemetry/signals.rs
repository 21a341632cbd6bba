//! Prompt signals (`plugin/data/prompt-signals.toml`): the names of the
//! detector-relevant features of a prompt (injection signatures, attempts
//! to elicit secrets), computed from the text while it is present and kept
//! as `details.prompt_signals`, so that CL-26 and CL-27 work under the
//! default `[content] policy = "drop"` without keeping any text.

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

const SIGNALS_TOML: &str = include_str!("../../data/prompt-signals.toml");

/// One signal of the data file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    /// The name written into `details.prompt_signals`.
    pub name: String,
    /// What raises it.
    #[serde(deserialize_with = "regex")]
    pub regex: Regex,
    /// Texts that must raise it (unit tests).
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the unit tests"))]
    pub positive: Vec<String>,
    /// Texts that must not (unit tests).
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the unit tests"))]
    pub negative: Vec<String>,
}

#[derive(Deserialize)]
struct File {
    signal: Vec<Signal>,
}

fn regex<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Regex, D::Error> {
    let text = String::deserialize(d)?;
    Regex::new(&text).map_err(serde::de::Error::custom)
}

/// The signals, parsed once. The file is part of the build, so a broken one
/// is a defect the unit tests catch; it panics rather than run without.
pub static SIGNALS: LazyLock<Vec<Signal>> = LazyLock::new(|| {
    toml::from_str::<File>(SIGNALS_TOML)
        .expect("plugin/data/prompt-signals.toml parses")
        .signal
});

/// The names of the signals `text` raises, in file order.
pub fn of(text: &str) -> Vec<&'static str> {
    SIGNALS
        .iter()
        .filter(|s| s.regex.is_match(text))
        .map(|s| s.name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_meets_its_examples() {
        assert!(SIGNALS.len() >= 5);
        for s in SIGNALS.iter() {
            for text in &s.positive {
                assert!(of(text).contains(&s.name.as_str()), "{}: {text:?}", s.name);
            }
            for text in &s.negative {
                assert!(!of(text).contains(&s.name.as_str()), "{}: {text:?}", s.name);
            }
        }
    }
}
