//! A table of positive and negative cases for every detector. Negatives
//! include checksum-invalid look-alikes.

use super::*;

/// `(detector id, text, expected matched substrings)`; empty = must not fire.
pub(super) const CASES: &[(&str, &str, &[&str])] = &[
    // contact and network
    (
        "claude_user_id",
        "by user_01JWNF1SE0JTZG533G06SFWP1F",
        &["user_01JWNF1SE0JTZG533G06SFWP1F"],
    ),
    ("claude_user_id", "user_id and user_actor", &[]),
    (
        "email",
        "contact alice.nguyen@example.com now",
        &["alice.nguyen@example.com"],
    ),
    (
        "email",
        "O'Brien <o'brien@mail.example.org>",
        &["o'brien@mail.example.org"],
    ),
    ("email", "not an email: user@localhost or @handle", &[]),
    ("phone_intl", "call +14155550123 today", &["+14155550123"]),
    ("phone_intl", "+1234567 is too short", &[]),
    (
        "phone_nanp",
        "at (415) 555-0123 or 415.555.0199",
        &["(415) 555-0123", "415.555.0199"],
    ),
    ("phone_intl", "+1 212-555-0100", &["+1 212-555-0100"]),
    ("phone_nanp", "015-555-0123 and 415-155-0123", &[]),
    (
        "ipv4",
        "from 192.0.2.10 via 203.0.113.47",
        &["192.0.2.10", "203.0.113.47"],
    ),
    ("ipv4", "http://198.51.100.7/path", &["198.51.100.7"]),
    ("ipv4", "Chrome/148.0.0.0 Safari/537.36 Edg/148.0.0.0", &[]),
    ("ipv4", "999.1.1.1 and 1.2.3 and 1.2.3.4.5", &[]),
    (
        "ipv6",
        "client 2001:db8:4a1c:2e::17 connected",
        &["2001:db8:4a1c:2e::17"],
    ),
    ("ipv6", "at 12:30:45 on 2026-05-18T12:58:03Z", &[]),
    // financial
    (
        "payment_card",
        "card 4111 1111 1111 1111 exp",
        &["4111 1111 1111 1111"],
    ),
    (
        "payment_card",
        "amex 3782-822463-10005",
        &["3782-822463-10005"],
    ),
    ("payment_card", "card 4111 1111 1111 1112 bad luhn", &[]),
    ("payment_card", "order 4111 1111-1111 1111 mixed", &[]),
    (
        "iban",
        "pay GB82 WEST 1234 5698 7654 32 now",
        &["GB82 WEST 1234 5698 7654 32"],
    ),
    (
        "iban",
        "DE89370400440532013000",
        &["DE89370400440532013000"],
    ),
    ("iban", "GB82 WEST 1234 5698 7654 33 bad check", &[]),
    // government ids
    ("us_ssn", "patient 123-45-6789 chart", &["123-45-6789"]),
    ("us_ssn", "serial with zero 123-45-1023", &["123-45-1023"]),
    ("us_ssn", "SSN: 123456789", &["123456789"]),
    ("us_ssn", "ssn_123-45-6789_W2_2025.pdf", &["123-45-6789"]),
    (
        "us_ssn",
        "two: 123-45-6789 234-56-7890",
        &["123-45-6789", "234-56-7890"],
    ),
    ("us_ssn", "order 9123-45-67890", &[]),
    (
        "us_ssn",
        "000-12-3456 666-12-3456 900-12-3456 999-12-3456",
        &[],
    ),
    (
        "us_ssn",
        "123-00-4567 123-45-0000 123-45 6789 123456789",
        &[],
    ),
    ("us_itin", "ITIN 912-70-1234", &["912-70-1234"]),
    ("us_itin", "912-93-1234", &[]),
    (
        "uk_nhs_number",
        "NHS number 943 476 5919",
        &["943 476 5919"],
    ),
    ("uk_nhs_number", "NHS no 943 476 5918", &[]),
    (
        "uk_nhs_number",
        "order 943 476 5919 without the keyword",
        &[],
    ),
    // health
    ("us_npi", "NPI 1234567893", &["1234567893"]),
    ("us_npi", "NPI 1234567890", &[]),
    (
        "medical_record_number",
        "MRN: 00482913 admitted",
        &["00482913"],
    ),
    (
        "medical_record_number",
        "medical record number A-99812",
        &["A-99812"],
    ),
    ("medical_record_number", "mr smith 00482913", &[]),
    ("medical_record_number", "scan MRN-884422.pdf", &["884422"]),
    ("date_of_birth", "DOB 1961-03-14", &["1961-03-14"]),
    (
        "date_of_birth",
        "date of birth: 03/14/1961",
        &["03/14/1961"],
    ),
    ("date_of_birth", "visit on 2026-05-18", &[]),
    (
        "date_of_birth",
        "Gonzalez_Maria_DOB_1961-04-09_summary.pdf",
        &["1961-04-09"],
    ),
    // secrets
    (
        "anthropic_key",
        "key sk-ant-api03-AbCdEfGh1234567890_-XyZ pasted",
        &["sk-ant-api03-AbCdEfGh1234567890_-XyZ"],
    ),
    (
        "anthropic_key",
        "sk-ant-admin01-Zz9Yy8Xx7Ww6Vv5",
        &["sk-ant-admin01-Zz9Yy8Xx7Ww6Vv5"],
    ),
    (
        "anthropic_key",
        "sk-ant-api01-QQQQQQQQQQQQ",
        &["sk-ant-api01-QQQQQQQQQQQQ"],
    ),
    ("anthropic_key", "the sk-ant- prefix alone", &[]),
    (
        "aws_access_key_id",
        "AKIAIOSFODNN7EXAMPLE",
        &["AKIAIOSFODNN7EXAMPLE"],
    ),
    (
        "aws_access_key_id",
        "id=ASIA0123456789ABCDEF;",
        &["ASIA0123456789ABCDEF"],
    ),
    ("aws_access_key_id", "AKIA123", &[]),
    (
        "github_token",
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        &["ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
    ),
    (
        "github_token",
        "github_pat_11ABCDEFG0123456789_abcdefghij",
        &["github_pat_11ABCDEFG0123456789_abcdefghij"],
    ),
    ("github_token", "ghp_short", &[]),
    (
        "slack_token",
        "xoxb-123456789012-abcdefghij",
        &["xoxb-123456789012-abcdefghij"],
    ),
    (
        "slack_webhook",
        "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
        &["https://hooks.slack.com/services/T000/B000/XXXXXXXX"],
    ),
    (
        "jwt",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        &["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"],
    ),
    ("jwt", "eyJ is how base64 JSON starts", &[]),
    ("slack_webhook", "see https://hooks.slack.com/ docs", &[]),
    ("slack_token", "xoxb- alone", &[]),
    ("google_api_key", "AIza too short", &[]),
    ("bearer_token", "bearer of bad news", &[]),
    ("aws_access_key_id", "AKIAlower-case-not-a-key", &[]),
    (
        "pem_private_key",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        &["-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"],
    ),
    ("pem_private_key", "-----BEGIN PUBLIC KEY-----", &[]),
    (
        "google_api_key",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        &["AIzaSyA1234567890abcdefghijklmnopqrstuv"],
    ),
    (
        "stripe_key",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        &["sk_live_4eC39HqLyjWDarjtT1zdp7dc"],
    ),
    (
        "stripe_key",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        &["sk_test_4eC39HqLyjWDarjtT1zdp7dc"],
    ),
    ("stripe_key", "pk_live_4eC39HqLyjWDarjtT1zdp7dc", &[]),
    (
        "bearer_token",
        "Authorization: Bearer abc.def-123456",
        &["abc.def-123456"],
    ),
    (
        "password_pair",
        "db?user=x&password=hunter22&x=1",
        &["hunter22"],
    ),
    ("generic_secret", "api_key: s3cr3tvalue", &["s3cr3tvalue"]),
    ("password_pair", "password reset requested", &[]),
];

fn matches_of(set: &DetectorSet, id: &str, text: &str) -> Vec<String> {
    let mut findings = Vec::new();
    set.scan(text, &mut findings);
    findings
        .iter()
        .filter(|f| set.detectors()[f.detector].id == id)
        .map(|f| text[f.start..f.end].to_owned())
        .collect()
}

#[test]
fn detector_file_compiles_with_unique_ids() {
    let set = DetectorSet::builtin();
    let mut ids: Vec<&str> = set.detectors().iter().map(|d| d.id.as_str()).collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "duplicate detector id");
}

#[test]
fn every_detector_has_positive_and_negative_cases() {
    let set = DetectorSet::builtin();
    for d in set.detectors() {
        let cases: Vec<_> = CASES.iter().filter(|c| c.0 == d.id).collect();
        assert!(
            cases.iter().any(|c| !c.2.is_empty()) || !d.examples.positive.is_empty(),
            "{}: no positive case",
            d.id
        );
        assert!(
            cases.iter().any(|c| c.2.is_empty()) || !d.examples.negative.is_empty(),
            "{}: no negative case",
            d.id
        );
    }
}

/// What one detector alone finds in `text`: `(matched text, possible)`.
fn alone(d: &Detector, text: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    d.find(text, 0, &mut |f| {
        found.push((text[f.start..f.end].to_owned(), f.possible));
    });
    found
}

#[test]
fn examples_in_the_detector_file() {
    let set = DetectorSet::builtin();
    let mut failures = Vec::new();
    for d in set.detectors() {
        if d.data_class == DataClass::Secret
            && (d.examples.positive.is_empty() || d.examples.negative.is_empty())
        {
            failures.push(format!("{}: needs positive and negative examples", d.id));
        }
        for text in &d.examples.positive {
            let found = alone(d, text);
            if !found.iter().any(|(_, possible)| !possible) {
                failures.push(format!("{} misses {text:?}: {found:?}", d.id));
            }
        }
        for text in &d.examples.negative {
            let found = alone(d, text);
            if !found.is_empty() {
                failures.push(format!("{} fires on {text:?}: {found:?}", d.id));
            }
        }
        for text in &d.examples.placeholder {
            let found = alone(d, text);
            if found.is_empty() || found.iter().any(|(_, possible)| !possible) {
                failures.push(format!("{} not only possible on {text:?}: {found:?}", d.id));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn case_table() {
    let set = DetectorSet::builtin();
    let mut failures = Vec::new();
    for (id, text, expected) in CASES {
        assert!(
            set.detectors().iter().any(|d| d.id == *id),
            "unknown detector {id}"
        );
        let found = matches_of(&set, id, text);
        if found != *expected {
            failures.push(format!("{id} on {text:?}: {found:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn overlapping_matches_go_to_the_earlier_detector() {
    let set = DetectorSet::builtin();
    let mut findings = Vec::new();
    // An SSN-shaped string inside a secret: only the secret is reported.
    set.scan("password=123-45-6789", &mut findings);
    let ids: Vec<&str> = findings
        .iter()
        .map(|f| set.detectors()[f.detector].id.as_str())
        .collect();
    assert_eq!(ids, ["password_pair"]);
}

#[test]
fn plain_identifiers_trigger_nothing() {
    let set = DetectorSet::builtin();
    for text in [
        "activity_01KRXJMENY0AP324T5EV86A0GC",
        "claude_chat_01KRXKWM00VNEK5VHNJABDJRM8",
        "2026-05-18T12:58:03.838453Z",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36",
        "org_01JWNF1SE0JTZG533G06SFWP1F",
        "6f1c2b9e-0000-4000-8000-000000000001",
    ] {
        let mut findings = Vec::new();
        set.scan(text, &mut findings);
        let hits: Vec<&str> = findings
            .iter()
            .map(|f| set.detectors()[f.detector].id.as_str())
            .collect();
        assert!(findings.is_empty(), "{text}: {hits:?}");
    }
}

#[test]
fn pair_within_finds_close_pairs_only() {
    assert!(has_pair(b"fe80::1", b':', 5));
    assert!(has_pair(b"2001:db8:1", b':', 5));
    assert!(!has_pair(b"a:bcdef:g", b':', 5));
    assert!(!has_pair(b"https://example.org", b':', 5));
    assert!(!has_pair(b"", b':', 5));
}

#[test]
fn context_words_ignore_ascii_case_only() {
    let words = ["phone".to_owned(), "tél".to_owned()];
    let Ok(Some(context)) = context_automaton(&words) else {
        panic!("compiles");
    };
    assert!(context.is_match("My PHONE:"));
    assert!(context.is_match("TéL."));
    assert!(!context.is_match("ph one"));
    assert!(context_automaton(&[]).is_ok_and(|c| c.is_none()));
}

#[test]
fn every_family_can_be_left_out() {
    let full = DetectorSet::builtin();
    for family in super::super::Coverage::families() {
        let Ok(set) = DetectorSet::builtin_without(family) else {
            panic!("{family}");
        };
        assert!(set.detectors().iter().all(|d| d.family != family));
        let is_pseudo = [
            super::super::coverage::ENCODED,
            super::super::coverage::OBJECT_KEYS,
        ]
        .contains(&family);
        assert_eq!(
            set.detectors().len() < full.detectors().len(),
            !is_pseudo,
            "{family}"
        );
    }
}
