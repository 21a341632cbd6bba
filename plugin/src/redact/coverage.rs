//! What a redactor scans with: which detectors, and whether it decodes
//! encoded values and scans object keys.
//!
//! Always everything in a real run: this is not a setting, and a policy
//! cannot switch a detector off (secrets are always redacted). It exists so
//! that `claude-audit bench --redaction-cost` can measure what each detector
//! family (`family` in `data/detectors.toml`) costs in throughput, by running
//! the same records with that family left out, without a code edit.

use std::sync::LazyLock;

use super::detectors::DetectorSet;

/// The built-in detector set, compiled once per process.
pub(crate) static DETECTORS: LazyLock<DetectorSet> = LazyLock::new(DetectorSet::builtin);

/// Pseudo-family: decoding percent-encoded, `\u`-escaped and base64 text.
pub const ENCODED: &str = "encoded";

/// Pseudo-family: scanning object keys.
pub const OBJECT_KEYS: &str = "object_keys";

/// The detectors and stages a redactor runs.
#[derive(Debug, Clone, Copy)]
pub struct Coverage {
    pub(crate) detectors: &'static DetectorSet,
    pub(crate) decode: bool,
    pub(crate) keys: bool,
}

impl Default for Coverage {
    fn default() -> Self {
        Self::full()
    }
}

impl Coverage {
    /// Every detector, decoding and object keys: what every run uses.
    pub fn full() -> Self {
        Self {
            detectors: &DETECTORS,
            decode: true,
            keys: true,
        }
    }

    /// The families that [`Coverage::without`] can leave out: the detector
    /// families in file order, then [`ENCODED`] and [`OBJECT_KEYS`].
    pub fn families() -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for detector in DETECTORS.detectors() {
            if !names.contains(&detector.family.as_str()) {
                names.push(detector.family.as_str());
            }
        }
        names.extend([ENCODED, OBJECT_KEYS]);
        names
    }

    /// Everything but `family` (for the benchmark only).
    ///
    /// Leaving out a detector family compiles a new set and leaks it: the
    /// redactor's report borrows flag names for the process's lifetime, and
    /// the benchmark makes one such set per family, once.
    pub fn without(family: &str) -> Result<Self, String> {
        let full = Self::full();
        match family {
            ENCODED => Ok(Self {
                decode: false,
                ..full
            }),
            OBJECT_KEYS => Ok(Self {
                keys: false,
                ..full
            }),
            _ if !Self::families().contains(&family) => Err(format!(
                "unknown detector family {family}; known: {}",
                Self::families().join(", ")
            )),
            _ => {
                let set = DetectorSet::builtin_without(family)?;
                Ok(Self {
                    detectors: Box::leak(Box::new(set)),
                    ..full
                })
            }
        }
    }
}
