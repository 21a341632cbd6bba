//! Planted values through the real binary: the cases the issue reported
//! (an e-mail as an object key, a UK phone number with spaces, a
//! percent-encoded e-mail in a query string) and every positive of the
//! evaluation corpus, placed as a key, a value, an array item, JSON-escaped,
//! percent-encoded or base64-wrapped, at depths up to 32. The Fluent Bit
//! module runs the same records in `fluentbit_abi.rs`.

use serde_json::{Value, json};

use crate::util::*;

/// How a planted text is written into a record.
const PLACEMENTS: usize = 6;

/// A record whose `payload` (a type-specific field, passed through to
/// `details`) holds `text` in placement `placement` at `depth`.
fn record(index: usize, text: &str, placement: usize, depth: usize) -> String {
    let mut node = match placement {
        0 => json!({ text: 250 }),
        1 => json!(text),
        2 => json!(["x", text, 3]),
        3 => json!(text.replace('@', "\\u0040").replace(' ', "\\u0020")),
        4 => {
            let encoded: String = text
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => char::from(b).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect();
            json!(format!("https://app.example/p?q={encoded}&tab=2"))
        }
        _ => json!(base64(text.as_bytes())),
    };
    for level in 0..depth {
        node = if level % 2 == 0 {
            json!({ format!("k{level}"): node })
        } else {
            json!([node])
        };
    }
    json!({
        "id": format!("activity_planted_{index}"),
        "created_at": "2026-10-05T09:00:00Z",
        "organization_id": "org_1",
        "organization_uuid": null,
        "actor": {"type": "api_actor", "api_key_id": "apikey_01X", "ip_address": null, "user_agent": "sdk"},
        "type": "claude_chat_created",
        "claude_chat_id": "claude_chat_01X",
        "payload": node,
    })
    .to_string()
}

/// Standard base64 (padded), written here to keep the test crate's
/// dependencies unchanged.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Records planting every 3rd positive of the evaluation corpus, cycling
/// placements and depths 0-32: `(record, value that must not survive)`.
pub fn planted_records() -> Vec<(String, String)> {
    let corpus = std::fs::read_to_string(repo_file("tests/redaction-eval/corpus.jsonl")).unwrap();
    corpus
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|case| case["label"] == "positive")
        .step_by(3)
        .enumerate()
        .filter_map(|(i, case)| {
            let text = case["text"].as_str().unwrap();
            let value = case["value"].as_str().unwrap();
            let placement = i % PLACEMENTS;
            // Base64 of fewer than 15 bytes is too short to be decoded (README).
            (placement != 5 || text.len() >= 15)
                .then(|| (record(i, text, placement, i % 33), value.to_owned()))
        })
        .collect()
}

/// The forms of `value` that must not appear in output.
pub fn leaked(output: &str, value: &str) -> bool {
    let escaped = serde_json::to_string(value).unwrap();
    output.contains(value) || output.contains(&escaped[1..escaped.len() - 1])
}

#[test]
fn planted_values_do_not_survive_run() {
    let sb = Sandbox::new();
    let planted = planted_records();
    assert!(planted.len() > 500, "{}", planted.len());
    let input: String = planted.iter().map(|(r, _)| format!("{r}\n")).collect();
    let path = sb.write("planted.ndjson", input);
    let out = run(sb.run_cmd().arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = read_ndjson(&out.stdout);
    assert_eq!(events.len(), planted.len());
    for ((_, value), event) in planted.iter().zip(&events) {
        let text = event.to_string();
        assert!(!leaked(&text, value), "{value} survived: {text}");
    }
}

#[test]
fn the_issue_reports_do_not_leak() {
    let sb = Sandbox::new();
    let records = [
        r#"{"id":"activity_i1","created_at":"2026-10-05T09:00:00Z","organization_id":"org_1","organization_uuid":null,"actor":{"type":"api_actor","api_key_id":"apikey_01X","ip_address":null,"user_agent":"sdk"},"type":"org_discoverability_settings_updated","per_user_limits":{"dana.reyes@example.com":250,"DANA.REYES@example.com":100,"team":5}}"#,
        r#"{"id":"activity_i2","created_at":"2026-10-05T09:00:01Z","organization_id":"org_1","organization_uuid":null,"actor":{"type":"api_actor","api_key_id":"apikey_01X","ip_address":null,"user_agent":"sdk"},"type":"claude_chat_created","claude_chat_id":"claude_chat_01X","chat_title":"Call Priya on +44 20 7946 0958 re: renewal","old_value":"+44 20 7946 0123"}"#,
        r#"{"id":"activity_i3","created_at":"2026-10-05T09:00:02Z","organization_id":"org_1","organization_uuid":null,"actor":{"type":"api_actor","api_key_id":"apikey_01X","ip_address":null,"user_agent":"sdk"},"type":"compliance_api_accessed","url":"https://api.anthropic.com/v1/compliance/activities?actor_email=name%40example.org&limit=10"}"#,
    ];
    let path = sb.write("issue.ndjson", records.join("\n") + "\n");
    let out = run(sb.run_cmd().arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    for raw in [
        "dana.reyes",
        "DANA.REYES",
        "7946 0958",
        "7946 0123",
        "name%40example.org",
        "name@",
    ] {
        assert!(!text.contains(raw), "{raw} survived:\n{text}");
    }
    let events = read_ndjson(&out.stdout);
    // The activity type documents no `per_user_limits`, so it is kept
    // under `unmapped.fields`, scanned like every other field.
    let limits = events[0]["unmapped"]["fields"]["per_user_limits"]
        .as_object()
        .unwrap();
    // Both colliding keys stay (the pseudonyms differ only if the case
    // differs, so a suffix may be needed), and so does the plain one.
    assert_eq!(limits.len(), 3, "{limits:?}");
    assert_eq!(limits["team"], 5);
    let meta = &events[0]["redaction_metadata"];
    assert_eq!(meta["counts"]["email"], 2, "{meta}");
    assert!(
        events[2]["details"]["url"]
            .as_str()
            .unwrap()
            .ends_with("&limit=10")
    );
}
