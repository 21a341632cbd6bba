//! Unit tests of the profiles on hand-made canonical events. The schema
//! validation of every fixture record is an e2e test (`tests/e2e/profiles.rs`).

use serde_json::{Value, json};

use super::{Profile, apply};

fn canonical(ip: &str, email: &str) -> Value {
    json!({
        "schema_version": "1.1.0", "event_id": "activity_1",
        "timestamp": "2026-05-18T12:58:03.838453Z",
        "source": {"name": "anthropic.compliance_api.activity_feed", "created_at": "2026-05-18T12:58:03.838453Z"},
        "event_type": "sso_login_failed", "category": "authentication", "action": "login", "outcome": "failure",
        "organization_id": null, "organization_uuid": null, "user_id": null, "request_id": null, "model_id": null,
        "prompt_hash": null, "response_hash": null,
        "actor": {"type": "unauthenticated_user_actor", "kind": "unauthenticated_user", "id": null,
                  "email": email, "ip": ip, "user_agent": "curl/8.7.1", "attributes": {}},
        "target": {"user_id": null, "email": null}, "resource": null, "details": {},
        "policy_flags": ["pii.email"], "data_classes": ["pii"], "controls": ["SOC2:CC6.1"],
        "redaction_metadata": {"applied": true, "policy_version": "default-1", "key_id": "k1", "counts": {}, "paths": [], "dropped": []},
        "retention_state": {"class": "audit_log", "period_days": 2192, "retain_until": "2032-05-18T12:58:03.838453Z", "legal_hold": false},
        "unmapped": {"event_type": false, "actor_type": false, "fields": {}}
    })
}

fn run(profile: Profile, event: &Value) -> Value {
    let mut out = b"previous\n".to_vec();
    out.extend(serde_json::to_vec(event).unwrap());
    out.push(b'\n');
    apply(profile, &mut out, 9).unwrap();
    assert!(out.starts_with(b"previous\n") && out.ends_with(b"\n"));
    serde_json::from_slice(&out[9..]).unwrap()
}

#[test]
fn canonical_is_left_byte_for_byte() {
    let mut out = b"{\"a\": 1}\n".to_vec();
    apply(Profile::Canonical, &mut out, 0).unwrap();
    assert_eq!(out, b"{\"a\": 1}\n");
}

#[test]
fn ocsf_pseudonyms_never_reach_typed_fields() {
    let o = run(
        Profile::Ocsf,
        &canonical("ip:k1:HU4T3UICM5AA77DT", "email:k1:FAFABSZLYCACS2K5"),
    );
    assert_eq!(
        (o["class_uid"].as_u64(), o["type_uid"].as_u64()),
        (Some(3002), Some(300201))
    );
    assert_eq!(
        (o["status_id"].as_u64(), o["time"].as_i64()),
        (Some(2), Some(1_779_109_083_838))
    );
    assert_eq!(o["src_endpoint"], json!({"uid": "ip:k1:HU4T3UICM5AA77DT"}));
    assert_eq!(o["user"]["uid"], "email:k1:FAFABSZLYCACS2K5");
    assert!(o["user"].get("email_addr").is_none());
    assert_eq!(o["metadata"]["version"], "1.8.0");
    assert_eq!(o["metadata"]["uid"], "activity_1");
    assert_eq!(o["enrichments"][0]["value"], "SOC2:CC6.1");
}

#[test]
fn real_addresses_go_to_typed_fields() {
    let event = canonical("192.0.2.7", "ana@example.com");
    let o = run(Profile::Ocsf, &event);
    assert_eq!(o["src_endpoint"], json!({"ip": "192.0.2.7"}));
    assert_eq!(o["user"]["email_addr"], "ana@example.com");
    let e = run(Profile::Ecs, &event);
    assert_eq!(e["source"]["ip"], "192.0.2.7");
    assert_eq!(e["related"]["ip"], json!(["192.0.2.7"]));
    assert_eq!(e["user"]["email"], "ana@example.com");
}

#[test]
fn ecs_keeps_pseudonyms_in_text_fields() {
    let e = run(
        Profile::Ecs,
        &canonical("ip:k1:HU4T3UICM5AA77DT", "email:k1:FAFABSZLYCACS2K5"),
    );
    assert_eq!(e["event"]["category"], json!(["authentication"]));
    assert_eq!(e["event"]["outcome"], "failure");
    assert_eq!(e["source"], json!({"address": "ip:k1:HU4T3UICM5AA77DT"}));
    assert!(e.get("related").and_then(|r| r.get("ip")).is_none());
    assert_eq!(e["user"]["hash"], "email:k1:FAFABSZLYCACS2K5");
    assert_eq!(e["claude_audit"]["controls"], json!(["SOC2:CC6.1"]));
}

#[test]
fn an_unknown_type_falls_back_to_api_activity() {
    let mut event = canonical("192.0.2.7", "ana@example.com");
    event["event_type"] = json!("brand_new_type");
    let o = run(Profile::Ocsf, &event);
    assert_eq!(
        (o["class_uid"].as_u64(), o["activity_id"].as_u64()),
        (Some(6003), Some(99))
    );
    let e = run(Profile::Ecs, &event);
    assert_eq!(e["event"]["category"], json!(["api"]));
}

#[test]
fn a_broken_event_is_an_error_and_leaves_nothing() {
    let mut out = b"ok\n{not json\n".to_vec();
    assert!(apply(Profile::Ocsf, &mut out, 3).is_err());
    assert_eq!(out, b"ok\n");
}
