//! Validators: checksum and range checks that a detector match must pass, so
//! that look-alikes are not flagged (a random 16-digit number is not a card;
//! `Chrome/148.0.0.0` is not an IP address).
//!
//! Each function takes the matched text and the text before it (for the few
//! checks that look at context) and answers yes or no. Pure and allocation
//! free where it matters: they run on the hot path.

use std::net::Ipv6Addr;

use super::phone;

/// A validator named in `detectors.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    /// Accept every match.
    None,
    /// Payment card: 12-19 digits, one kind of separator, Luhn checksum.
    Luhn,
    /// IBAN: per-country length and ISO 7064 mod-97.
    Iban,
    /// US SSN: area not 000/666/900-999, group not 00, serial not 0000,
    /// one kind of delimiter (none only when "SSN" precedes it).
    UsSsn,
    /// US ITIN: 9XX-YY-ZZZZ with YY in the IRS ranges.
    UsItin,
    /// UK NHS number: mod-11 check digit.
    UkNhs,
    /// US NPI: Luhn over `80840` + the ten digits.
    UsNpi,
    /// IPv4: octets 0-255 without leading zeros; not a version string.
    Ipv4,
    /// IPv6: parses as an address and is not a bare `::`.
    Ipv6,
    /// E.164 phone: `+` and 8 to 15 digits.
    E164,
    /// North American phone number: valid area code and exchange.
    Nanp,
    /// International phone number (`+CC ...`), by numbering-plan metadata.
    PhoneIntl,
    /// National phone number (keyword-anchored), valid in a known region.
    PhoneNational,
    /// HTTP Basic credentials: base64 of `user:password`.
    BasicAuth,
    /// An opaque token, not a word: has a digit or a symbol, 12+ characters.
    TokenLike,
    /// A generic `*_token = ...` value: random enough (entropy) and not a
    /// placeholder or a reference to a variable.
    GenericSecret,
    /// A password value: anything but a reference to a variable.
    NotReference,
}

impl Validator {
    /// Parse a validator name from `detectors.toml`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "none" => Self::None,
            "luhn" => Self::Luhn,
            "iban" => Self::Iban,
            "us_ssn" => Self::UsSsn,
            "us_itin" => Self::UsItin,
            "uk_nhs" => Self::UkNhs,
            "us_npi" => Self::UsNpi,
            "ipv4" => Self::Ipv4,
            "ipv6" => Self::Ipv6,
            "e164" => Self::E164,
            "nanp" => Self::Nanp,
            "phone_intl" => Self::PhoneIntl,
            "phone_national" => Self::PhoneNational,
            "basic_auth" => Self::BasicAuth,
            "token_like" => Self::TokenLike,
            "generic_secret" => Self::GenericSecret,
            "not_reference" => Self::NotReference,
            _ => return None,
        })
    }

    /// How much of `text` (found between `before` and `after`) is a valid
    /// match: all of it, a prefix (phone numbers that ran into a following
    /// number), or none.
    pub fn accepted_len(self, text: &str, before: &str, after: &str) -> Option<usize> {
        match self {
            Self::PhoneIntl => phone::international(text),
            Self::PhoneNational if is_date(text) => None,
            Self::PhoneNational => phone::national(text),
            _ => self.accepts(text, before, after).then_some(text.len()),
        }
    }

    /// Whether `text` (found between `before` and `after`) passes.
    pub fn accepts(self, text: &str, before: &str, after: &str) -> bool {
        match self {
            Self::PhoneIntl => phone::international(text) == Some(text.len()),
            Self::PhoneNational => phone::national(text) == Some(text.len()) && !is_date(text),
            Self::BasicAuth => basic_auth(text),
            Self::TokenLike => token_like(text),
            Self::GenericSecret => generic_secret(text),
            Self::NotReference => !is_reference(text),
            Self::None => true,
            Self::Luhn => card(text) && !inside_identifier(before, after) && !iban_prefix(before),
            Self::Iban => iban(text),
            Self::UsSsn => ssn(text, before) && !inside_identifier(before, after),
            Self::UsItin => itin(text) && !inside_identifier(before, after),
            Self::UkNhs => nhs(text) && !inside_identifier(before, after),
            Self::UsNpi => npi(text) && !inside_identifier(before, after),
            Self::Ipv4 => ipv4(text, before, after),
            Self::Ipv6 => ipv6(text),
            Self::E164 => (8..=15).contains(&digits(text).len()),
            Self::Nanp => nanp(text, before) && !inside_identifier(before, after),
        }
    }
}

/// The ASCII digits of `text`, as values 0-9.
fn digits(text: &str) -> Vec<u8> {
    text.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// The non-digit separators of `text`, which must all be the same.
fn one_separator_kind(text: &str) -> Option<Option<u8>> {
    let mut kind = None;
    for b in text.bytes().filter(|b| !b.is_ascii_digit()) {
        match kind {
            None => kind = Some(b),
            Some(k) if k == b => {}
            Some(_) => return None,
        }
    }
    Some(kind)
}

/// Luhn checksum over digit values.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn card(text: &str) -> bool {
    let d = digits(text);
    (12..=19).contains(&d.len())
        && issuer_range(&d)
        && one_separator_kind(text).is_some()
        // All-same-digit runs (0000 0000 0000 0000) pass Luhn but are filler.
        && d.iter().any(|&x| x != d[0])
        && luhn(&d)
}

/// Whether the leading digits fall in an issued card range (ISO/IEC 7812
/// major industry identifiers 2-6: Mastercard 2221-2720, Amex/Diners/JCB 3,
/// Visa 4, Mastercard/Maestro 5, Discover/UnionPay/Maestro 6). Rejects
/// millisecond timestamps (`17...`) and order numbers that pass Luhn by chance.
fn issuer_range(d: &[u8]) -> bool {
    let prefix4 = d[..4].iter().fold(0u32, |acc, &x| acc * 10 + u32::from(x));
    match d[0] {
        2 => (2221..=2720).contains(&prefix4),
        3..=6 => true,
        _ => false,
    }
}

/// IBAN lengths per country (ISO 13616 registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

fn iban(text: &str) -> bool {
    let compact: Vec<u8> = text.bytes().filter(|b| *b != b' ').collect();
    let Some(country) = std::str::from_utf8(compact.get(..2).unwrap_or_default()).ok() else {
        return false;
    };
    let expected = IBAN_LENGTHS.iter().find(|(c, _)| *c == country);
    if expected.is_none_or(|(_, len)| *len != compact.len()) {
        return false;
    }
    // Move the first four characters to the end, letters become 10..35,
    // and the whole number must be 1 mod 97 (computed piecewise).
    let rotated = compact[4..].iter().chain(&compact[..4]);
    let mut remainder: u32 = 0;
    for &b in rotated {
        let value = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// Whether `before` ends with a mention of a social security number.
fn mentions_ssn(before: &str) -> bool {
    let tail = before.to_ascii_lowercase();
    tail.contains("ssn") || tail.contains("social security")
}

fn ssn(text: &str, before: &str) -> bool {
    let d = digits(text);
    let Some(separator) = one_separator_kind(text) else {
        return false; // mixed delimiters
    };
    if d.len() != 9 || (separator.is_some() && text.len() != 11) {
        return false;
    }
    if matches!(separator, None | Some(b'.')) && !mentions_ssn(before) {
        return false;
    }
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = d[3] * 10 + d[4];
    let serial = &d[5..];
    area != 0 && area != 666 && area < 900 && group != 0 && serial.iter().any(|&x| x != 0)
}

fn itin(text: &str) -> bool {
    let d = digits(text);
    let Some(separator) = one_separator_kind(text) else {
        return false;
    };
    if d.len() != 9 || d[0] != 9 || (separator.is_some() && text.len() != 11) {
        return false;
    }
    let group = d[3] * 10 + d[4];
    matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

fn nhs(text: &str) -> bool {
    let d = digits(text);
    if d.len() != 10 || one_separator_kind(text).is_none() {
        return false;
    }
    let sum: u32 = d[..9]
        .iter()
        .zip((2..=10).rev())
        .map(|(&x, w)| u32::from(x) * w)
        .sum();
    let check = match 11 - sum % 11 {
        11 => 0,
        10 => return false,
        c => c,
    };
    check == u32::from(d[9])
}

fn npi(text: &str) -> bool {
    let d = digits(text);
    if d.len() != 10 || !matches!(d[0], 1 | 2) {
        return false;
    }
    let mut prefixed = vec![8, 0, 8, 4, 0];
    prefixed.extend_from_slice(&d);
    luhn(&prefixed)
}

/// Whether a digit run sits inside a longer identifier: a letter right
/// before or after it (hashes, ULIDs, `sha256:...`), or a hex group joined
/// by a dash (UUIDs: `...-a456-426614174000`).
fn inside_identifier(before: &str, after: &str) -> bool {
    let prev = before.as_bytes().last().copied();
    let next = after.as_bytes().first().copied();
    if prev.is_some_and(|b| b.is_ascii_alphabetic())
        || next.is_some_and(|b| b.is_ascii_alphabetic())
    {
        return true;
    }
    let hex_group_before = before.strip_suffix('-').is_some_and(|b| {
        b.len() >= 4
            && b.as_bytes()[b.len() - 4..]
                .iter()
                .all(u8::is_ascii_hexdigit)
    });
    let hex_group_after = after
        .strip_prefix('-')
        .is_some_and(|a| a.len() >= 4 && a.as_bytes()[..4].iter().all(u8::is_ascii_hexdigit));
    hex_group_before || hex_group_after
}

/// Whether a digit run follows an IBAN's country code and check digits
/// (`DE89 3704 ...`): an IBAN whose checksum failed is not a card.
fn iban_prefix(before: &str) -> bool {
    let tail = before.trim_end().as_bytes();
    let n = tail.len();
    n >= 4
        && tail[n - 4..n - 2].iter().all(u8::is_ascii_uppercase)
        && tail[n - 2..].iter().all(u8::is_ascii_digit)
        && (n == 4 || !tail[n - 5].is_ascii_alphanumeric())
}

/// Dates (`2024-05-18`, `18.05.2024`, `05/18/2024`) are not phone numbers.
fn is_date(text: &str) -> bool {
    let groups: Vec<&str> = text.split(['-', '.', '/']).collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()))
        && matches!(lens.as_slice(), [4, 2, 2] | [2, 2, 4] | [1 | 2, 1 | 2, 4])
}

/// Words after which a dotted quad is a version, not an address.
const VERSION_WORDS: &[&str] = &["version", "ver", "build", "release", "firmware", "v"];

fn ipv4(text: &str, before: &str, after: &str) -> bool {
    let trimmed = before.trim_end_matches([' ', ':', '=']);
    let word = trimmed
        .rsplit(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if trimmed.len() < before.len() && VERSION_WORDS.contains(&word.as_str()) {
        return false;
    }
    // `Chrome/148.0.0.0`, `v1.2.3.4`, `1.2.3.4.5`: versions, not addresses.
    // `http://192.0.2.1/` stays an address.
    let prev = before.as_bytes().last().copied();
    let is_url_host = before.ends_with("//") || before.ends_with('@');
    if !is_url_host && matches!(prev, Some(b'/' | b'.' | b'v' | b'V')) {
        return false;
    }
    let next = after.as_bytes();
    if next.first() == Some(&b'.') && next.get(1).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    text.split('.')
        .all(|octet| !(octet.len() > 1 && octet.starts_with('0')) && octet.parse::<u8>().is_ok())
}

fn ipv6(text: &str) -> bool {
    let address = text.split('%').next().unwrap_or(text);
    address.bytes().any(|b| b.is_ascii_hexdigit())
        && address.bytes().filter(|b| *b == b':').count() >= 2
        && address.parse::<Ipv6Addr>().is_ok()
}

/// Words that name another kind of number: a NANP-shaped number after them
/// is not a phone number (`NHS number 202 359 5178`).
const NOT_PHONE_WORDS: &[&str] = &[
    "nhs",
    "ssn",
    "social security",
    "npi",
    "mrn",
    "order",
    "invoice",
];

fn nanp(text: &str, before: &str) -> bool {
    let lower = before.to_ascii_lowercase();
    if NOT_PHONE_WORDS.iter().any(|w| lower.contains(w)) {
        return false;
    }
    let mut d = digits(text);
    if d.len() == 11 && d[0] == 1 {
        d.remove(0);
    }
    d.len() == 10 && d[0] >= 2 && d[3] >= 2
}

/// Shannon entropy of `text` in bits per character.
pub fn entropy(text: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut total = 0u32;
    for b in text.bytes() {
        counts[usize::from(b)] += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    let total = f64::from(total);
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / total;
            -p * p.log2()
        })
        .sum()
}

/// Entropy below which a generic assignment's value is taken for a
/// placeholder (`changeme-token`, `xxxxxxxx`); random base62 of 16+
/// characters scores above 3.5.
const GENERIC_MIN_ENTROPY: f64 = 3.0;

/// Words that mark a value as an example rather than a credential.
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "placeholder",
    "your_",
    "your-",
    "yourtoken",
    "changeme",
    "dummy",
    "sample",
    "redacted",
    "xxxx",
    "****",
    "<",
    "todo",
    "fixme",
    "insert",
];

/// Whether a secret-shaped `value` is a placeholder: an example word, one
/// repeated character, or too little entropy (`min_entropy` bits/char).
pub fn is_placeholder(value: &str, min_entropy: f64) -> bool {
    let lower = value.to_ascii_lowercase();
    if PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w))
        || matches!(
            lower.as_str(),
            "password" | "passwd" | "secret" | "pass" | "token"
        )
    {
        return true;
    }
    let mut distinct: Vec<u8> = value.bytes().filter(u8::is_ascii_alphanumeric).collect();
    distinct.sort_unstable();
    distinct.dedup();
    distinct.len() <= 3 || entropy(value) < min_entropy
}

/// A reference to a secret kept elsewhere, not a secret: `${VAR}`, `$VAR`,
/// `%VAR%`, `{{ var }}`, `env(...)`, `process.env.X`, `null`/`none`; or our
/// own placeholder (so that redacting twice changes nothing).
fn is_reference(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    value.starts_with('$')
        || value.starts_with("[REDACTED:")
        || value.starts_with('%') && value.ends_with('%')
        || value.starts_with("{{")
        || ["process.env", "os.environ", "env(", "getenv", "secrets."]
            .iter()
            .any(|p| lower.starts_with(p))
        || matches!(
            lower.as_str(),
            "null" | "none" | "nil" | "true" | "false" | "undefined"
        )
}

fn generic_secret(value: &str) -> bool {
    !is_reference(value) && !is_placeholder(value, GENERIC_MIN_ENTROPY)
}

fn token_like(value: &str) -> bool {
    value.len() >= 12
        && value
            .bytes()
            .any(|b| b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'~' | b'+' | b'/' | b'-'))
}

fn basic_auth(value: &str) -> bool {
    let decoded = data_encoding::BASE64
        .decode(value.as_bytes())
        .or_else(|_| data_encoding::BASE64_NOPAD.decode(value.as_bytes()));
    decoded.is_ok_and(|d| d.contains(&b':') && std::str::from_utf8(&d).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yes(v: Validator, text: &str) {
        assert!(v.accepts(text, "", ""), "{v:?} should accept {text}");
    }

    fn no(v: Validator, text: &str) {
        assert!(!v.accepts(text, "", ""), "{v:?} should reject {text}");
    }

    #[test]
    fn cards_need_luhn_and_one_separator_kind() {
        yes(Validator::Luhn, "4111 1111 1111 1111");
        yes(Validator::Luhn, "4111-1111-1111-1111");
        yes(Validator::Luhn, "378282246310005"); // Amex, 15
        yes(Validator::Luhn, "6011000990139424");
        no(Validator::Luhn, "4111 1111 1111 1112"); // bad check digit
        no(Validator::Luhn, "4111 1111-1111 1111"); // mixed separators
        no(Validator::Luhn, "0000 0000 0000 0000"); // filler
        no(Validator::Luhn, "41111111111"); // 11 digits
    }

    #[test]
    fn iban_checks_length_and_mod_97() {
        yes(Validator::Iban, "GB82 WEST 1234 5698 7654 32");
        yes(Validator::Iban, "DE89370400440532013000");
        no(Validator::Iban, "GB82 WEST 1234 5698 7654 33"); // check digits
        no(Validator::Iban, "GB82WEST123456987654"); // length for GB
        no(Validator::Iban, "ZZ82WEST12345698765432"); // no such country
    }

    #[test]
    fn ssn_rejects_invalid_areas_groups_serials_and_mixed_delimiters() {
        yes(Validator::UsSsn, "123-45-6789");
        yes(Validator::UsSsn, "123 45 6789");
        yes(Validator::UsSsn, "123-45-1023"); // a zero inside the serial
        no(Validator::UsSsn, "000-45-6789");
        no(Validator::UsSsn, "666-45-6789");
        no(Validator::UsSsn, "900-45-6789");
        no(Validator::UsSsn, "999-45-6789");
        no(Validator::UsSsn, "123-00-6789");
        no(Validator::UsSsn, "123-45-0000");
        no(Validator::UsSsn, "123-45 6789");
        no(Validator::UsSsn, "123456789"); // bare digits without an SSN mention
        assert!(Validator::UsSsn.accepts("123456789", "patient SSN: ", ""));
    }

    #[test]
    fn itin_uses_the_irs_group_ranges() {
        yes(Validator::UsItin, "912-70-1234");
        yes(Validator::UsItin, "900-50-1234");
        no(Validator::UsItin, "912-93-1234");
        no(Validator::UsItin, "912-49-1234");
        no(Validator::UsItin, "812-70-1234");
    }

    #[test]
    fn nhs_numbers_use_mod_11() {
        yes(Validator::UkNhs, "943 476 5919");
        yes(Validator::UkNhs, "9434765919");
        no(Validator::UkNhs, "943 476 5918");
        no(Validator::UkNhs, "943-476 5919");
    }

    #[test]
    fn npi_uses_luhn_with_the_80840_prefix() {
        yes(Validator::UsNpi, "1234567893");
        no(Validator::UsNpi, "1234567890");
        no(Validator::UsNpi, "3234567893"); // must start with 1 or 2
    }

    #[test]
    fn ip_addresses_and_their_look_alikes() {
        yes(Validator::Ipv4, "192.0.2.10");
        no(Validator::Ipv4, "256.1.1.1");
        no(Validator::Ipv4, "01.2.3.4");
        assert!(!Validator::Ipv4.accepts("148.0.0.0", "Chrome/", ""));
        assert!(Validator::Ipv4.accepts("192.0.2.1", "http://", "/x"));
        assert!(!Validator::Ipv4.accepts("1.2.3.4", "", ".5"));
        yes(Validator::Ipv6, "2001:db8:4a1c:2e::17");
        yes(Validator::Ipv6, "fe80::1%eth0");
        no(Validator::Ipv6, "12:30:45");
        no(Validator::Ipv6, "::");
    }

    #[test]
    fn look_alikes_inside_identifiers_versions_and_ibans() {
        // A UUID's last group, a hash, an IBAN with a bad checksum.
        assert!(!Validator::Luhn.accepts("426614174000", "123e4567-e89b-12d3-a456-", ""));
        assert!(!Validator::Luhn.accepts("4111111111111111", "sha:ab", "cd"));
        assert!(!Validator::Luhn.accepts("3704 0044 0532 0130 00", "DE88 ", ""));
        assert!(!Validator::Ipv4.accepts("1.2.3.4", "version ", ""));
        assert!(Validator::Ipv4.accepts("10.0.0.1", "dev ", ""));
        assert!(!Validator::PhoneNational.accepts("2024-05-18", "phone ", ""));
    }

    #[test]
    fn phone_numbers() {
        yes(Validator::E164, "+14155550123");
        no(Validator::E164, "+1234567");
        yes(Validator::Nanp, "(415) 555-0123");
        yes(Validator::Nanp, "+1 415-555-0123");
        no(Validator::Nanp, "015-555-0123");
        no(Validator::Nanp, "415-155-0123");
    }
}
