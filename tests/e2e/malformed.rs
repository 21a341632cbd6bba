//! Every kind of malformed input goes to the dead-letter file with its
//! reason, line and raw bytes; valid neighbours are still emitted; counts add
//! up; no raw value leaks into stderr or the reason text.

use serde_json::Value;

use crate::util::*;

/// A valid record with a recognizable marker value.
pub fn valid(n: u32) -> String {
    format!(
        r#"{{"id":"activity_valid_{n}","created_at":"2026-05-18T12:58:03.838453Z","organization_id":null,"organization_uuid":null,"actor":{{"type":"user_actor","email_address":"valid{n}@example.com","user_id":"user_{n}","ip_address":"192.0.2.1","user_agent":"ua"}},"type":"user_logged_out"}}"#
    )
}

/// `(raw line, expected kind, expected field)`. Values carry the marker
/// `LEAKCANARY` so the test can prove they never reach stderr or reasons.
pub fn cases() -> Vec<(Vec<u8>, &'static str, &'static str)> {
    let actor = r#""actor":{"type":"user_actor","email_address":"LEAKCANARY@example.com"}"#;
    vec![
        (b"{not json LEAKCANARY".to_vec(), "invalid_json", ""),
        (b"\xff\xfeLEAKCANARY\x80".to_vec(), "invalid_utf8", ""),
        (b"".to_vec(), "blank_line", ""),
        (b"   \t ".to_vec(), "blank_line", ""),
        (
            format!("\u{feff}{}", valid(99)).into_bytes(),
            "byte_order_mark",
            "",
        ),
        (br#"["LEAKCANARY"]"#.to_vec(), "not_an_object", ""),
        (
            format!(r#"{{"created_at":"2026-05-18T12:58:03Z",{actor},"type":"x"}}"#).into_bytes(),
            "missing_field",
            "id",
        ),
        (
            format!(r#"{{"id":"a1",{actor},"type":"x"}}"#).into_bytes(),
            "missing_field",
            "created_at",
        ),
        (
            br#"{"id":"a1","created_at":"2026-05-18T12:58:03Z","type":"x"}"#.to_vec(),
            "missing_field",
            "actor",
        ),
        (
            br#"{"id":"a1","created_at":"2026-05-18T12:58:03Z","actor":{"email_address":"LEAKCANARY"},"type":"x"}"#.to_vec(),
            "missing_field",
            "actor.type",
        ),
        (
            format!(r#"{{"id":12345,"created_at":"2026-05-18T12:58:03Z",{actor},"type":"x"}}"#).into_bytes(),
            "wrong_type",
            "id",
        ),
        (
            format!(r#"{{"id":"a1","created_at":"2026-05-18T12:58:03Z",{actor},"type":["LEAKCANARY"]}}"#).into_bytes(),
            "wrong_type",
            "type",
        ),
        (
            br#"{"id":"a1","created_at":"2026-05-18T12:58:03Z","actor":"LEAKCANARY","type":"x"}"#.to_vec(),
            "wrong_type",
            "actor",
        ),
        (
            br#"{"id":"a1","created_at":"2026-05-18T12:58:03Z","actor":{"type":"user_actor","email_address":{"x":"LEAKCANARY"}},"type":"x"}"#.to_vec(),
            "wrong_type",
            "actor.email_address",
        ),
        (
            format!(r#"{{"id":"a1","created_at":"2026-05-18T12:58:03Z","organization_id":7,{actor},"type":"x"}}"#).into_bytes(),
            "wrong_type",
            "organization_id",
        ),
        (
            format!(r#"{{"id":"a1","created_at":"LEAKCANARY",{actor},"type":"x"}}"#).into_bytes(),
            "invalid_value",
            "created_at",
        ),
        (
            format!(r#"{{"id":"a1","created_at":"2026-05-18",{actor},"type":"x"}}"#).into_bytes(),
            "invalid_value",
            "created_at",
        ),
        (
            format!(r#"{{"id":"a1","id":"a2","created_at":"2026-05-18T12:58:03Z",{actor},"type":"x"}}"#).into_bytes(),
            "duplicate_field",
            "id",
        ),
        (
            format!(r#"{{"id":"a1","created_at":"2026-05-18T12:58:03Z",{actor},"type":"x","pad":"{}LEAKCANARY"}}"#, "x".repeat(3000)).into_bytes(),
            "too_long",
            "",
        ),
    ]
}

#[test]
fn each_malformed_case_is_dead_lettered_with_reason_and_position() {
    let sb = Sandbox::new();
    let mut input = Vec::new();
    let mut expected = Vec::new();
    let mut line = 0u64;
    for (i, (raw, kind, field)) in cases().into_iter().enumerate() {
        input.extend_from_slice(valid(i as u32).as_bytes());
        input.push(b'\n');
        line += 1;
        input.extend_from_slice(&raw);
        input.push(b'\n');
        line += 1;
        expected.push((line, raw, kind, field));
    }
    let path = sb.write("bad.ndjson", &input);
    // 2 KiB limit so the padded record is over-long while the others are not.
    let config = sb.write("config.toml", "[input]\nmax_record_bytes = 2048\n");
    let out = run(sb.run_cmd().arg("--config").arg(&config).arg(&path));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(EXIT_DEAD_LETTERS), "{err}");

    let events = read_ndjson(&out.stdout);
    assert_eq!(
        events.len(),
        expected.len(),
        "every valid neighbour is emitted"
    );
    let dead = sb.dead_letters();
    assert_eq!(dead.len(), expected.len());
    assert_eq!(
        summary_counts(&err),
        (line, events.len() as u64, dead.len() as u64, 0)
    );

    for (record, (line, raw, kind, field)) in dead.iter().zip(&expected) {
        let ctx = format!("{record}");
        assert_eq!(record["kind"], *kind, "{ctx}");
        assert_eq!(record["field"], *field, "{ctx}");
        assert_eq!(record["line"], *line, "{ctx}");
        assert_eq!(record["source"], path.display().to_string(), "{ctx}");
        assert!(!record["reason"].as_str().unwrap().is_empty(), "{ctx}");
        assert!(
            !record["reason"].as_str().unwrap().contains("LEAKCANARY"),
            "{ctx}"
        );
        assert_eq!(record["length"], raw.len() as u64, "{ctx}");
        let kept = raw_bytes(record);
        if *kind == "too_long" {
            assert_eq!(record["raw_truncated"], true);
            assert_eq!(kept, raw[..2048], "{ctx}");
        } else {
            assert_eq!(&kept, raw, "{ctx}: raw input is kept whole");
        }
    }
    assert!(
        !err.contains("LEAKCANARY"),
        "raw data leaked to stderr: {err}"
    );
}

fn raw_bytes(record: &Value) -> Vec<u8> {
    use base64::Engine as _;
    match (&record["raw"], &record["raw_base64"]) {
        (Value::String(text), Value::Null) => text.as_bytes().to_vec(),
        (Value::Null, Value::String(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
        other => panic!("raw or raw_base64 expected: {other:?}"),
    }
}

#[test]
fn crlf_input_is_accepted_and_missing_final_newline_still_counts() {
    let sb = Sandbox::new();
    let input = format!("{}\r\n{}", valid(1), valid(2));
    let path = sb.write("crlf.ndjson", input);
    let out = run(sb.run_cmd().arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(read_ndjson(&out.stdout).len(), 2);
}

#[test]
fn a_single_huge_line_without_newline_is_bounded_and_dead_lettered() {
    let sb = Sandbox::new();
    // 8 MiB, no newline at all; the default limit is 1 MiB.
    let path = sb.write("huge.ndjson", vec![b'a'; 8 << 20]);
    let out = run(sb.run_cmd().arg(&path));
    assert_eq!(
        out.status.code(),
        Some(EXIT_DEAD_LETTERS),
        "{}",
        stderr(&out)
    );
    let dead = sb.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["kind"], "too_long");
    assert_eq!(dead[0]["length"], 8u64 << 20);
    assert_eq!(dead[0]["raw"].as_str().unwrap().len(), 1 << 20);
}
