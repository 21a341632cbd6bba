use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{HmacKey, Transform};

const KEY: [u8; 32] = [5; 32];
const PROMPT: &str = "Patient MRN: A1234567 asks about dosage";

fn transform(settings: &str) -> Transform {
    Transform::new(
        settings,
        vec![HmacKey::new("k1", KEY.to_vec()).unwrap()],
        None,
    )
    .unwrap()
}

fn chat() -> &'static str {
    r#"{"id":"claude_chat_1","name":"Dosage question","created_at":"2026-10-01T10:00:00Z","updated_at":"2026-10-01T10:05:00Z","deleted_at":null,"model":"claude-opus-4-5","organization_uuid":"8f3c0000-0000-4000-8000-000000000001","organization_id":"org_1","project_id":null,"user":{"id":"user_1","email_address":"nurse@example.com"}}"#
}

fn message(role: &str, text: &str) -> String {
    let text = serde_json::to_string(text).unwrap();
    format!(
        r#"{{"content_event":"claude_chat_message","chat":{},"message":{{"id":"claude_chat_msg_1","role":"{role}","created_at":"2026-10-01T10:01:00Z","content":[{{"type":"text","text":{text}}}],"files":[{{"id":"claude_file_9"}}],"generated_files":[],"artifacts":[{{"id":"claude_artifact_1","version_id":"claude_artifact_version_1","title":"t","artifact_type":"text/markdown"}}]}}}}"#,
        chat()
    )
}

fn one(t: &Transform, line: &str) -> Value {
    let out = t.process_batch(format!("{line}\n").as_bytes());
    assert_eq!(out.counters.emitted, 1, "{:?}", out.dead_letters);
    serde_json::from_slice(&out.records).unwrap()
}

fn hmac_hex(text: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&KEY).unwrap();
    mac.update(b"content\x1f");
    mac.update(text.as_bytes());
    data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
}

#[test]
fn a_user_message_gets_a_keyed_prompt_hash_lengths_and_phi_tags_but_no_text() {
    let e = one(&transform("{}"), &message("user", PROMPT));
    assert_eq!(e["event_type"], "claude_chat_message");
    assert_eq!(e["event_id"], "claude_chat_msg_1");
    assert_eq!(e["model_id"], "claude-opus-4-5");
    assert_eq!(
        e["prompt_hash"],
        format!("hmac-sha256:k1:{}", hmac_hex(PROMPT))
    );
    assert!(e["response_hash"].is_null());
    let d = &e["details"];
    assert_eq!(d["role"], "user");
    assert_eq!(d["content_chars"], PROMPT.chars().count());
    assert_eq!(d["content_bytes"], PROMPT.len());
    assert_eq!(d["file_ids"][0], "claude_file_9");
    assert_eq!(d["artifact_version_ids"][0], "claude_artifact_version_1");
    assert_eq!(d["content_findings"]["mrn"], 1);
    assert!(d.get("content").is_none() && d.get("content_sha256").is_none());
    assert!(
        e["data_classes"]
            .as_array()
            .unwrap()
            .contains(&"phi".into())
    );
    assert_eq!(e["retention_state"]["class"], "phi");
    let controls = e["controls"].to_string();
    for c in [
        "HIPAA:164.312(b)",
        "HIPAA:164.312(c)(1)",
        "GDPR:Art.5(1)(c)",
        "GDPR:Art.30",
    ] {
        assert!(controls.contains(c), "{c} in {controls}");
    }
    let text = e.to_string();
    assert!(
        !text.contains("A1234567") && !text.contains("nurse@example.com"),
        "{text}"
    );
    assert!(!text.contains("dosage"), "{text}");
}

#[test]
fn an_assistant_message_gets_a_response_hash_and_the_unkeyed_hash_on_request() {
    let t = transform(r#"{"content":{"unkeyed_hash":true}}"#);
    let e = one(&t, &message("assistant", "abc"));
    assert!(e["prompt_hash"].is_null());
    assert_eq!(
        e["response_hash"],
        format!("hmac-sha256:k1:{}", hmac_hex("abc"))
    );
    let sha = data_encoding::HEXLOWER.encode(&Sha256::digest(b"abc"));
    assert_eq!(e["details"]["content_sha256"], format!("sha256:{sha}"));
}

#[test]
fn redact_writes_the_text_with_detected_values_replaced_and_keep_verbatim() {
    let e = one(
        &transform(r#"{"content":{"policy":"redact"}}"#),
        &message("user", PROMPT),
    );
    let written = e["details"]["content"].as_str().unwrap();
    assert!(written.contains("asks about dosage") && !written.contains("A1234567"));
    assert_eq!(e["redaction_metadata"]["counts"]["mrn"], 1);
    let keep = r#"{"content":{"fields":{"message":"keep"},"restricted_output":true}}"#;
    let e = one(&transform(keep), &message("user", PROMPT));
    assert_eq!(e["details"]["content"], PROMPT);
    assert!(e["policy_flags"].to_string().contains("phi.mrn"));
}

#[test]
fn soft_deleted_chats_files_artifacts_and_documents_are_events() {
    let t = transform("{}");
    let deleted = chat().replace(
        r#""deleted_at":null"#,
        r#""deleted_at":"2026-10-02T00:00:00Z""#,
    );
    let e = one(
        &t,
        &format!(r#"{{"content_event":"claude_chat_soft_deleted","chat":{deleted}}}"#),
    );
    assert_eq!(
        (e["event_id"].as_str(), e["action"].as_str()),
        (Some("claude_chat_1:deleted"), Some("delete"))
    );
    let file = format!(
        r#"{{"content_event":"claude_chat_file","chat":{},"message":{{"id":"m","created_at":"2026-10-01T10:01:00Z"}},"file":{{"id":"claude_file_9","filename":"x.pdf"}},"direction":"uploaded","digest":{{"hmac":"hmac-sha256:k1:00","sha256":"sha256:11","bytes":3,"content_md5":"verified"}}}}"#,
        chat()
    );
    let e = one(&t, &file);
    assert_eq!(e["prompt_hash"], "hmac-sha256:k1:00");
    assert_eq!(e["details"]["content_md5"], "verified");
    assert!(e["details"].get("file_sha256").is_none());
    let doc = r#"{"content_event":"claude_project_document","project":{"id":"claude_proj_1","organization_id":"org_1","user":null},"document":{"id":"claude_proj_doc_1","filename":"notes.txt","content":"hello","created_at":"2026-10-01T10:00:00Z","user":{"id":"user_2","email":"a@example.com"}}}"#;
    let e = one(&t, doc);
    assert_eq!(
        e["prompt_hash"],
        format!("hmac-sha256:k1:{}", hmac_hex("hello"))
    );
    assert_eq!(e["category"], "project");
}

#[test]
fn a_hard_deleted_chat_and_a_vanished_file_are_events_without_hashes() {
    let t = transform("{}");
    let e = one(
        &t,
        &format!(
            r#"{{"content_event":"claude_chat_hard_deleted","chat":{},"observed_at":"2026-10-03T00:00:00Z"}}"#,
            chat()
        ),
    );
    assert_eq!(e["event_id"], "claude_chat_1:hard_deleted");
    assert_eq!(e["action"], "delete");
    assert_eq!(e["timestamp"], "2026-10-03T00:00:00.000000Z");
    assert_eq!(e["details"]["updated_at"], "2026-10-01T10:05:00Z");
    assert!(e["controls"].to_string().contains("GDPR:Art.17"));
    let file = format!(
        r#"{{"content_event":"claude_chat_file","chat":{},"message":{{"id":"m","created_at":"2026-10-01T10:01:00Z"}},"file":{{"id":"claude_file_9"}},"direction":"uploaded","status":"not_found"}}"#,
        chat()
    );
    let e = one(&t, &file);
    assert_eq!(e["details"]["content_status"], "not_found");
    assert!(e["prompt_hash"].is_null());
}

#[test]
fn a_bad_content_record_is_a_dead_letter_without_its_values() {
    let t = transform("{}");
    let out = t.process_batch(br#"{"content_event":"claude_chat_message","chat":{"id":"c"},"message":{"id":"m","created_at":7}}"#);
    assert_eq!(out.counters.dead_lettered, 1);
    let detail = out.dead_letters[0].error.to_string();
    assert!(
        detail.contains("message.created_at") && !detail.contains('7'),
        "{detail}"
    );
}

#[test]
fn writing_text_needs_redaction() {
    let e = Transform::new(
        r#"{"redaction":{"enabled":false},"content":{"policy":"redact"}}"#,
        Vec::new(),
        None,
    )
    .unwrap_err();
    assert_eq!(e.path, "content");
}

#[test]
fn every_content_event_type_is_known_to_the_record_parser() {
    for t in super::EVENT_TYPES {
        let line = format!(r#"{{"content_event":"{t}"}}"#);
        let out = transform("{}").process_batch(line.as_bytes());
        // Missing parts, not an unknown type.
        let error = out.dead_letters[0].error.to_string();
        assert!(
            !error.contains("unknown content event type"),
            "{t}: {error}"
        );
    }
}
