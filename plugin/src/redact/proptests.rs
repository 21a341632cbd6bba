//! Property tests: random JSON documents with a planted sensitive value from
//! every detector, placed as a key, a value, an array item, JSON-escaped,
//! percent-encoded or base64-wrapped, at depth up to 32, run through the
//! whole plugin (`Transform::process_batch`, the code the component and the
//! Fluent Bit module run). No planted value may survive; redaction is
//! idempotent; no input panics (a panic is a trap in WebAssembly).

use std::sync::LazyLock;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::{DETECTORS, Redactor, Report};
use crate::batch::Transform;
use crate::config::Settings;
use crate::redact::pseudonym::HmacKey;

/// Plants for the detectors whose file examples are not enough on their own
/// (no examples in the file): `(text, sensitive span)`.
const EXTRA_PLANTS: &[(&str, &str)] = &[
    ("card 4111 1111 1111 1111 exp", "4111 1111 1111 1111"),
    (
        "IBAN GB82 WEST 1234 5698 7654 32",
        "GB82 WEST 1234 5698 7654 32",
    ),
    ("patient 123-45-6789", "123-45-6789"),
    ("ITIN 912-70-1234", "912-70-1234"),
    ("NHS number 943 476 5919", "943 476 5919"),
    ("NPI 1234567893", "1234567893"),
    ("MRN: 00482913", "00482913"),
    ("DOB 1961-03-14", "1961-03-14"),
    (
        "by user_01JWNF1SE0JTZG533G06SFWP1F",
        "user_01JWNF1SE0JTZG533G06SFWP1F",
    ),
    ("mail alice.nguyen@example.com", "alice.nguyen@example.com"),
    ("from 203.0.113.47", "203.0.113.47"),
    ("client 2001:db8:4a1c:2e::17", "2001:db8:4a1c:2e::17"),
    ("at (415) 555-0123", "(415) 555-0123"),
];

/// Every plant: each detector's file examples (the span it finds) plus
/// [`EXTRA_PLANTS`].
static PLANTS: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    let mut plants: Vec<(String, String)> = EXTRA_PLANTS
        .iter()
        .map(|(t, s)| ((*t).to_owned(), (*s).to_owned()))
        .collect();
    for (index, d) in DETECTORS.detectors().iter().enumerate() {
        for text in &d.examples.positive {
            let mut span = None;
            d.find(text, index, &mut |f| {
                span.get_or_insert_with(|| text[f.start..f.end].to_owned());
            });
            plants.push((text.clone(), span.expect("positive examples are found")));
        }
    }
    plants
});

fn key() -> HmacKey {
    HmacKey::new("k1", vec![0x5a; 32]).unwrap()
}

thread_local! {
    /// One plugin instance per test thread (the redactor's cache is not `Sync`).
    static TRANSFORM: Transform = Transform::new("{}", vec![key()], Some("k1")).unwrap();
}

fn process(input: &[u8]) -> crate::batch::BatchOutput {
    TRANSFORM.with(|t| t.process_batch(input))
}

/// How the planted text is written into the document.
#[derive(Debug, Clone, Copy)]
enum Placement {
    Key,
    Value,
    ArrayItem,
    /// A string holding the text with `\uXXXX` escapes (JSON in a string).
    DoubleEscaped,
    /// Inside a URL's query string, percent-encoded.
    PercentEncoded,
    /// Base64 of the text.
    Base64,
}

fn placed(text: &str, placement: Placement) -> Value {
    match placement {
        Placement::Key => json!({ text: 1 }),
        Placement::Value => json!(text),
        Placement::ArrayItem => json!(["x", text, 3]),
        Placement::DoubleEscaped => {
            let escaped: String = text
                .chars()
                .map(|c| match c {
                    '@' | ':' | '+' | ' ' | '-' => format!("\\u{:04x}", u32::from(c)),
                    c => c.to_string(),
                })
                .collect();
            json!(escaped)
        }
        Placement::PercentEncoded => {
            let encoded = utf8_percent_encode(text, NON_ALPHANUMERIC);
            json!(format!("https://app.example/p?q={encoded}&tab=2"))
        }
        Placement::Base64 => json!(data_encoding::BASE64.encode(text.as_bytes())),
    }
}

/// Wrap `node` in `depth` levels of objects and arrays.
fn nest(mut node: Value, depth: usize, filler: &str) -> Value {
    for level in 0..depth {
        node = if level % 2 == 0 {
            json!({ format!("k{level}"): node, "f": filler })
        } else {
            json!([filler, node])
        };
    }
    node
}

fn record(details: &Value) -> String {
    json!({
        "id": "activity_01KRXJMENY0AP324T5EV86A0GC",
        "created_at": "2026-05-18T12:58:03.838453Z",
        "organization_id": null,
        "organization_uuid": null,
        "actor": {"type": "api_actor", "api_key_id": "apikey_01ABCDEFGHJKMNPQRSTVWXYZ01"},
        "type": "claude_chat_created",
        "claude_chat_id": "claude_chat_01KRXKWM00VNEK5VHNJABDJRM8",
        "payload": details,
    })
    .to_string()
}

/// The forms of `span` that must not appear in the output.
fn forms(span: &str) -> Vec<String> {
    let escaped = serde_json::to_string(span).unwrap();
    vec![
        span.to_owned(),
        escaped[1..escaped.len() - 1].to_owned(),
        utf8_percent_encode(span, NON_ALPHANUMERIC).to_string(),
    ]
}

fn placement() -> impl Strategy<Value = Placement> {
    prop_oneof![
        Just(Placement::Key),
        Just(Placement::Value),
        Just(Placement::ArrayItem),
        Just(Placement::DoubleEscaped),
        Just(Placement::PercentEncoded),
        Just(Placement::Base64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_planted_value_survives(
        plant in 0..PLANTS.len(),
        placement in placement(),
        depth in 0usize..=32,
        filler in "[a-z ._-]{0,12}",
    ) {
        let (text, span) = &PLANTS[plant];
        // Base64 hides too little below 15 bytes to be decoded (see encoded.rs).
        prop_assume!(!matches!(placement, Placement::Base64) || text.len() >= 15);
        let details = nest(placed(text, placement), depth, &filler);
        let out = process(record(&details).as_bytes());
        prop_assert_eq!(out.counters.emitted, 1, "dead letters: {:?}", out.dead_letters);
        let events = String::from_utf8(out.records).unwrap();
        for form in forms(span) {
            prop_assert!(!events.contains(&form), "{:?} survived as {:?}: {}", span, form, events);
        }
        if matches!(placement, Placement::Base64) {
            let blob = data_encoding::BASE64.encode(text.as_bytes());
            prop_assert!(!events.contains(&blob));
        }
    }

    #[test]
    fn redaction_is_idempotent(
        plant in 0..PLANTS.len(),
        placement in placement(),
        depth in 0usize..=8,
    ) {
        let settings = Settings::from_json("{}").unwrap();
        let redactor = Redactor::new(settings.redaction, key()).unwrap();
        let mut once = nest(placed(&PLANTS[plant].0, placement), depth, "f");
        redactor.redact(&mut once, &mut Report::default());
        let mut twice = once.clone();
        redactor.redact(&mut twice, &mut Report::default());
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn no_input_panics(text in "\\PC{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let details = json!({ text.clone(): [text.clone(), {"k": text.clone()}] });
        let out = process(record(&details).as_bytes());
        prop_assert_eq!(out.counters.emitted, 1);
        // Arbitrary bytes: every line is accounted for, nothing panics.
        let out = process(&bytes);
        let c = out.counters;
        prop_assert_eq!(c.records, c.emitted + c.dead_lettered + c.filtered);
    }
}
