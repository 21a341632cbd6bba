//! Claude Code records through the whole transform (native).

use crate::batch::Transform;
use crate::redact::pseudonym::HmacKey;
use serde_json::Value;

const FLUENT_BIT: &str =
    include_str!("../../../tests/fixtures/claude-code/otlp-logs-claude-code.ndjson");

fn transform(settings: &str) -> Transform {
    let key = HmacKey::new("k1", vec![7; 32]).unwrap();
    Transform::new(settings, vec![key], None).unwrap()
}

fn events(out: &[u8]) -> Vec<Value> {
    out.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn fluent_bit_records_become_events_and_markers_are_filtered() {
    let out = transform("{}").process_batch(FLUENT_BIT.as_bytes());
    let c = out.counters;
    assert_eq!(
        (c.records, c.emitted, c.dead_lettered, c.filtered),
        (19, 15, 0, 4),
        "{:?}",
        out.dead_letters
    );
    let text = String::from_utf8(out.records.clone()).unwrap();
    assert!(!text.contains("priya.raman@example.com"));
    assert!(!text.contains("sk-ant-api03-"));
    let events = events(&out.records);
    eprintln!("{}", serde_json::to_string_pretty(&events[1]).unwrap());
    let spike = events
        .iter()
        .find(|e| e["details"]["cache_read_tokens"] == 412_877)
        .expect("the spike request");
    assert_eq!(spike["details"]["cost_usd_micros"], 1_453_276);
    assert_eq!(spike["event_type"], "claude_code.api_request");
    assert_eq!(events[1]["details"]["prompt"], Value::Null);
    assert!(
        events[1]["prompt_hash"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:k1:")
    );
    let flags = events[1]["policy_flags"].as_array().unwrap();
    assert!(
        flags
            .iter()
            .any(|f| f.as_str().unwrap().starts_with("secret.")),
        "{flags:?}"
    );
}

#[test]
fn a_record_lifted_by_the_fluent_bit_lua_step_reads_like_the_others() {
    let line = r#"{"otlp_fluent_bit":{"time":[1787562847,503000000],"body":"claude_code.tool_result","attributes":{"session.id":"s1","tool_name":"Bash","tool_use_id":"toolu_1","success":"false","duration_ms":12.0,"tool_parameters":"{\"full_command\":\"curl -H 'x-api-key: sk-ant-api03-DuQczgCWEbKSlBDndLuDCDlJrBpSGfyJfYDmoTuG'\"}","error":"boom for priya.raman@example.com","new.attr":1},"resource":{"attributes":{"service.name":"claude-code"}},"scope":{"name":"com.anthropic.claude_code.events"}}}"#;
    let out = transform("{}").process_batch(line.as_bytes());
    assert_eq!(out.counters.emitted, 1, "{:?}", out.dead_letters);
    assert_eq!(out.counters.unmapped_fields, 1);
    let text = String::from_utf8(out.records.clone()).unwrap();
    assert!(!text.contains("sk-ant-api03-"), "{text}");
    assert!(!text.contains("priya.raman@example.com"), "{text}");
    let event = &events(&out.records)[0];
    assert_eq!(event["outcome"], "failure");
    assert_eq!(event["details"]["duration_ms"], 12);
    assert_eq!(event["resource"]["id"], "Bash");
    assert_eq!(event["unmapped"]["fields"]["new_attr"], 1);
    assert!(
        event["details"]["tool_parameters"]
            .as_str()
            .unwrap()
            .contains("curl")
    );
    assert_eq!(event["timestamp"], "2026-08-24T09:14:07.503000Z");
}

#[test]
fn records_not_from_claude_code_are_dead_letters_with_a_reason() {
    let line = r#"{"otlp_log":{"resource":{"attributes":[]},"scope":{"name":"x"},"logRecord":{"timeUnixNano":"1","body":{"stringValue":"GET /"}}}}"#;
    let out = transform("{}").process_batch(line.as_bytes());
    assert_eq!(out.counters.dead_lettered, 1);
    assert!(
        out.dead_letters[0]
            .error
            .detail
            .contains("not from Claude Code")
    );
}

#[test]
fn a_resource_redacted_once_is_reported_in_every_event_of_its_request() {
    let line = |n: u32| {
        format!(
            r#"{{"otlp_log":{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"claude-code"}}}},{{"key":"owner","value":{{"stringValue":"priya.raman@example.com"}}}}]}},"scope":{{}},"logRecord":{{"timeUnixNano":"{n}","body":{{"stringValue":"claude_code.auth"}}}}}}}}"#
        )
    };
    let batch = format!("{}\n{}\n", line(1), line(2));
    let shared = transform("{}").process_batch(batch.as_bytes());
    let alone = transform("{}").process_batch(format!("{}\n", line(2)).as_bytes());
    let events = events(&shared.records);
    assert_eq!(events.len(), 2);
    for event in &events {
        let owner = event["details"]["resource"]["owner"].as_str().unwrap();
        assert!(owner.starts_with("email:k1:"), "{owner}");
        assert_eq!(event["policy_flags"], serde_json::json!(["pii.email"]));
        assert_eq!(event["redaction_metadata"]["counts"]["email"], 1);
        assert_eq!(
            event["redaction_metadata"]["paths"],
            serde_json::json!(["details.resource.owner"])
        );
    }
    // The second event, redacted from the group's first, is the one a
    // record alone gives.
    assert_eq!(events[1], self::events(&alone.records)[0]);
    // With the vault on the resource is walked with the event: same pairs.
    let vault = transform(r#"{"redaction":{"vault":true}}"#).process_batch(batch.as_bytes());
    assert_eq!(vault.vault.len(), 2);
    assert_eq!(self::events(&vault.records), events);
}
