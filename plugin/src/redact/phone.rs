//! Phone numbers of every country, validated by libphonenumber's numbering
//! plan metadata (the `phonenumber` crate) rather than by one regex.
//!
//! The detectors in `data/detectors.toml` only find phone-shaped candidates
//! (digits with spaces, dots, dashes, slashes and parentheses); this module
//! decides. A candidate often runs into a neighbouring number ("call +44 20
//! 7946 0958 2 times"), so when the whole candidate is not a valid number its
//! trailing digit groups are dropped one by one and the longest valid prefix
//! is the match.

use phonenumber::country::Id;

/// Regions a national-format number (no `+CC`) is tried in when a keyword
/// such as "phone" anchors it: the countries of most Claude organizations
/// and every country whose formats the evaluation corpus holds.
const NATIONAL_REGIONS: &[Id] = &[
    Id::US,
    Id::GB,
    Id::DE,
    Id::FR,
    Id::IT,
    Id::ES,
    Id::NL,
    Id::BR,
    Id::JP,
    Id::CN,
    Id::IN,
    Id::IL,
    Id::GR,
    Id::AU,
    Id::MX,
    Id::KR,
    Id::SE,
    Id::CH,
    Id::PL,
    Id::IE,
    Id::SG,
    Id::ZA,
];

/// Fewest digits of a phone number we accept (shorter: extensions, codes).
const MIN_DIGITS: usize = 7;

/// Length of the longest prefix of `text` (an international candidate
/// starting with `+`) that is a valid number.
pub fn international(text: &str) -> Option<usize> {
    longest_valid_prefix(text, &mut |candidate| valid_in(None, candidate))
}

/// Length of the longest prefix of `text` (a national candidate) that is a
/// valid number in one of [`NATIONAL_REGIONS`].
pub fn national(text: &str) -> Option<usize> {
    longest_valid_prefix(text, &mut |candidate| {
        NATIONAL_REGIONS
            .iter()
            .any(|&region| valid_in(Some(region), candidate))
    })
}

/// Try `text`, then `text` without its last digit group, and so on.
fn longest_valid_prefix(text: &str, valid: &mut dyn FnMut(&str) -> bool) -> Option<usize> {
    let mut end = text.len();
    loop {
        let candidate = text[..end].trim_end_matches(|c: char| !c.is_ascii_digit());
        if digit_count(candidate) < MIN_DIGITS {
            return None;
        }
        if valid(candidate) {
            return Some(candidate.len());
        }
        // Drop the last group: back to the previous separator.
        end = candidate.rfind(|c: char| !c.is_ascii_digit())?;
    }
}

fn digit_count(text: &str) -> usize {
    text.bytes().filter(u8::is_ascii_digit).count()
}

/// Whether `candidate` parses as a valid number (in `region` when national).
/// The trunk prefix written `(0)` in international numbers (`+44 (0)20 ...`)
/// is dropped first, as a dialler would.
fn valid_in(region: Option<Id>, candidate: &str) -> bool {
    let cleaned;
    let text = if candidate.contains("(0)") {
        cleaned = candidate.replacen("(0)", "", 1);
        cleaned.as_str()
    } else {
        candidate
    };
    phonenumber::parse(region, text).is_ok_and(|n| phonenumber::is_valid(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn international_numbers_of_many_countries() {
        for number in [
            "+44 20 7946 0958",
            "+44 (0)20 7946 0958",
            "+55 11 91234-5678",
            "+81 3-1234-5678",
            "+86 138 0013 8000",
            "+972-3-123-4567",
            "+49 30 901820",
            "+33 1 42 68 53 00",
            "+39 06 6982 0000",
            "+30 21 0370 0000",
            "+1 (415) 555-0123",
            "+91 98765 43210",
        ] {
            assert_eq!(international(number), Some(number.len()), "{number}");
        }
    }

    #[test]
    fn trailing_numbers_are_cut_off() {
        let text = "+44 20 7946 0958 2";
        assert_eq!(international(text), Some("+44 20 7946 0958".len()));
    }

    #[test]
    fn invalid_numbers_are_rejected() {
        for text in ["+44 20", "+999 1234 5678", "+1 015 555 0123", "+20240518"] {
            assert_eq!(international(text), None, "{text}");
        }
    }

    #[test]
    fn national_numbers_in_known_regions() {
        assert!(national("020 7946 0958").is_some());
        assert!(national("030 901820").is_some());
        assert!(national("(11) 91234-5678").is_some());
        assert!(national("1234").is_none());
    }
}
