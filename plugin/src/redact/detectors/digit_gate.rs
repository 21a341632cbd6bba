//! Which keyword-less (digit-shaped) detectors can find anything in an ASCII
//! string, from one byte pass: a cheaper stand-in, in [`DetectorSet::scan`],
//! for the overlapping search of their `RegexSet`.
//!
//! The set asks "does the pattern match somewhere", and on ids full of
//! digits (`activity_01SIM000000000000000000000`, `req_sim1780272005`) it
//! answers yes, and the detector's own search runs, only for the digit
//! boundary check to throw every match away. The gate asks the sharper,
//! still necessary question "is there a match with no digit on either side"
//! (what `digit_boundary` accepts), which such ids fail, in a pass over the
//! maximal runs of digits: an accepted match is a whole number of complete
//! runs, so each condition is a rule on run lengths and on the single bytes
//! between runs.
//!
//! Conservative by construction: each condition was derived by hand from
//! one exact pattern string ([`KNOWN`]), and a set holding any pattern the
//! table does not know (or a boundary-based one without `digit_boundary`)
//! is never gated, so editing `data/detectors.toml` can only switch the gate
//! off (a unit test says so). Strings with a non-ASCII byte are not gated
//! either (`\d` and `\s` are Unicode classes; the boundary check is ASCII):
//! the caller runs the set on them as before.
//!
//! [`DetectorSet::scan`]: super::DetectorSet::scan

/// A necessary condition of an accepted match of one pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Digit groups of these lengths, each pair of groups either adjacent
    /// or one byte of `seps` apart (so the complete runs are groups merged).
    Groups(&'static [u32], &'static [u8]),
    /// Complete runs joined by single bytes of `seps`, `min..=max` digits
    /// in all (a card number).
    Total(u32, u32, &'static [u8]),
    /// A complete run of three, one of `-. `, a complete run of four (the
    /// end of a NANP number; what comes before varies).
    NanpTail,
    /// Four complete runs of one to three digits joined by single dots.
    DottedQuad,
    /// A word boundary, two uppercase letters and two digits (an IBAN's
    /// country code and check digits).
    IbanStart,
    /// A word boundary, `SK` and 32 hex digits then a word boundary.
    TwilioKey,
}

impl Need {
    /// Whether the condition relies on the digit boundary check (so only
    /// holds for a detector with `digit_boundary`).
    fn needs_boundary(self) -> bool {
        !matches!(self, Self::IbanStart | Self::TwilioKey)
    }
}

/// The patterns the gate knows, each with the condition derived from it.
const KNOWN: &[(&str, Need)] = &[
    (r"\bSK[0-9a-fA-F]{32}\b", Need::TwilioKey),
    (r"\d{10}", Need::Groups(&[10], b"")),
    // The leading `9` is not checked: conservative, and rare anyway.
    (
        r"9\d{2}[- ]?\d{2}[- ]?\d{4}",
        Need::Groups(&[3, 2, 4], b"- "),
    ),
    (
        r"\d{3}[- .]?\d{2}[- .]?\d{4}",
        Need::Groups(&[3, 2, 4], b"- ."),
    ),
    (
        r"\d{3}[- ]?\d{3}[- ]?\d{4}",
        Need::Groups(&[3, 3, 4], b"- "),
    ),
    (r"\d(?:[ -]?\d){11,18}", Need::Total(12, 19, b" -")),
    (r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", Need::IbanStart),
    // Before `\d{3}[-. ]\d{4}` comes `\)\s?` or `[-. ]`: never a digit, so
    // the three digits are a complete run.
    (
        r"(?:\+1[-. ]?)?(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}",
        Need::NanpTail,
    ),
    (r"(?:\d{1,3}\.){3}\d{1,3}", Need::DottedQuad),
];

/// The longest chain of runs [`Need::Total`] looks back over (each run has
/// at least one digit, and no condition wants more than this many).
const CHAIN: usize = 20;

/// The gate of the keyword-less detectors of one set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitGate {
    /// `(detector bit, condition)`; `None`: some pattern is unknown, so the
    /// caller runs the set.
    needs: Option<Vec<(u128, Need)>>,
}

impl DigitGate {
    /// The gate of `(detector bit, pattern, digit_boundary)` for each
    /// keyword-less detector.
    pub fn new(detectors: &[(u128, &str, bool)]) -> Self {
        let needs = detectors
            .iter()
            .map(|&(bit, pattern, boundary)| {
                let (_, need) = KNOWN.iter().find(|(p, _)| *p == pattern)?;
                (boundary || !need.needs_boundary()).then_some((bit, *need))
            })
            .collect();
        Self { needs }
    }

    /// Whether the gate can answer (every pattern of the set is known).
    #[cfg(test)]
    pub fn is_active(&self) -> bool {
        self.needs.is_some()
    }

    /// The bits of the detectors that may find something in `text`; `None`
    /// when the gate cannot tell (inactive, or `text` is not ASCII). Like
    /// the set's own guard, nothing when `text` has no ASCII digit.
    pub fn candidates(&self, text: &[u8]) -> Option<u128> {
        let needs = self.needs.as_deref()?;
        let runs = Runs::of(text)?;
        if runs.runs.is_empty() {
            return Some(0);
        }
        let mut set = 0;
        for &(bit, need) in needs {
            if runs.holds(need, text) {
                set |= bit;
            }
        }
        Some(set)
    }
}

/// A maximal run of ASCII digits.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: usize,
    len: u32,
    /// The one byte between the previous run and this one, if exactly one
    /// byte lies between them; else 0.
    joint: u8,
}

/// The runs of digits of an ASCII string.
#[derive(Debug)]
struct Runs {
    runs: Vec<Run>,
}

impl Runs {
    /// The runs of `text`; `None` if it has a non-ASCII byte.
    fn of(text: &[u8]) -> Option<Self> {
        // Not `Vec::new()`: ids hold a few runs, and growing one by one
        // reallocated per run.
        let mut runs: Vec<Run> = Vec::with_capacity(8);
        let mut at = 0;
        while at < text.len() {
            let byte = text[at];
            if !byte.is_ascii() {
                return None;
            }
            if !byte.is_ascii_digit() {
                at += 1;
                continue;
            }
            let start = at;
            while at < text.len() && text[at].is_ascii_digit() {
                at += 1;
            }
            let joint = match runs.last() {
                Some(prev) if prev.start + prev.len as usize + 1 == start => text[start - 1],
                _ => 0,
            };
            runs.push(Run {
                start,
                len: (at - start) as u32,
                joint,
            });
        }
        Some(Self { runs })
    }

    fn holds(&self, need: Need, text: &[u8]) -> bool {
        match need {
            Need::Groups(groups, seps) => self.any_groups(groups, seps),
            Need::Total(min, max, seps) => self.any_total(min, max, seps),
            Need::NanpTail => self
                .runs
                .windows(2)
                .any(|w| w[0].len == 3 && w[1].len == 4 && b"-. ".contains(&w[1].joint)),
            Need::DottedQuad => self.runs.windows(4).any(|w| {
                w.iter().all(|r| (1..=3).contains(&r.len)) && w[1..].iter().all(|r| r.joint == b'.')
            }),
            Need::IbanStart => self.runs.iter().any(|r| iban_start(text, r)),
            Need::TwilioKey => twilio_key(text),
        }
    }

    /// Whether some consecutive runs, joined by single `seps` bytes, are
    /// `groups` with some of the separators between groups left out.
    fn any_groups(&self, groups: &[u32], seps: &[u8]) -> bool {
        let digits: u32 = groups.iter().sum();
        (0..self.runs.len()).any(|first| {
            let tail = &self.runs[first..];
            (1..=groups.len().min(tail.len())).any(|n| {
                let chosen = &tail[..n];
                // The digit count first: most runs fail it, at no cost.
                chosen.iter().map(|r| r.len).sum::<u32>() == digits
                    && chosen[1..]
                        .iter()
                        .all(|r| seps.contains(&r.joint) && r.joint != 0)
                    && merges_of(groups, chosen)
            })
        })
    }

    /// Whether some consecutive runs, joined by single `seps` bytes, hold
    /// `min..=max` digits in all.
    fn any_total(&self, min: u32, max: u32, seps: &[u8]) -> bool {
        (0..self.runs.len()).any(|first| {
            let mut total = 0;
            for (i, run) in self.runs[first..].iter().enumerate().take(CHAIN) {
                if i > 0 && !(run.joint != 0 && seps.contains(&run.joint)) {
                    return false;
                }
                total += run.len;
                if total > max {
                    return false;
                }
                if total >= min {
                    return true;
                }
            }
            false
        })
    }
}

/// Whether `runs` are `groups` merged: each run the sum of the next few
/// groups, in order, all groups used.
fn merges_of(groups: &[u32], runs: &[Run]) -> bool {
    let Some((run, rest)) = runs.split_first() else {
        return groups.is_empty();
    };
    let mut sum = 0;
    for (taken, g) in groups.iter().enumerate() {
        sum += g;
        if sum == run.len && merges_of(&groups[taken + 1..], rest) {
            return true;
        }
    }
    false
}

/// `\b[A-Z]{2}\d{2}` with `run` holding the digits.
fn iban_start(text: &[u8], run: &Run) -> bool {
    let at = run.start;
    run.len >= 2
        && at >= 2
        && text[at - 1].is_ascii_uppercase()
        && text[at - 2].is_ascii_uppercase()
        && (at == 2 || !is_word(text[at - 3]))
}

/// `\bSK[0-9a-fA-F]{32}\b` somewhere in `text`.
fn twilio_key(text: &[u8]) -> bool {
    // `memchr` on `K`, not `memmem` on `SK`: that builds a searcher per call.
    memchr::memchr_iter(b'K', text).any(|k| {
        let Some(s) = k.checked_sub(1) else {
            return false;
        };
        let hex = &text[k + 1..];
        text[s] == b'S'
            && (s == 0 || !is_word(text[s - 1]))
            && hex.len() >= 32
            && hex[..32].iter().all(u8::is_ascii_hexdigit)
            && hex.get(32).is_none_or(|&b| !is_word(b))
    })
}

/// An ASCII word byte (`\w` on ASCII text).
fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

#[cfg(test)]
mod tests;
