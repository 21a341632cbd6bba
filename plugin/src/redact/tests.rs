//! Redactor behaviour on whole events: defaults, rules, fail-closed mode.

use serde_json::json;

use super::*;
use crate::config::Settings;

fn key(id: &str) -> HmacKey {
    HmacKey::new(id, vec![0x5a; 32]).unwrap()
}

fn redactor(settings: &str) -> Redactor {
    let settings = Settings::from_json(settings).unwrap();
    Redactor::new(settings.redaction, key("k1")).unwrap()
}

fn event() -> Value {
    json!({
        "event_id": "activity_1",
        "timestamp": "2026-05-18T12:58:03.838453Z",
        "user_id": "user_01JWNF1SE0JTZG533G06SFWP1F",
        "actor": {
            "type": "user_actor",
            "kind": "user",
            "email": "Alice.Nguyen@example.com",
            "ip": "198.51.100.24",
            "user_agent": "curl/8.7.1 token=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "attributes": {}
        },
        "details": {
            "filename": "John Doe DOB 1961-03-14 SSN 123-45-6789.pdf",
            "api_key_name": "prod sk-ant-api03-AbCdEfGh1234567890_-XyZ",
            "alert_emails": ["ops@example.com", "sec@example.com"],
            "claude_file_id": "claude_file_01KRXM09600GAQ0MN93HM052HY"
        },
        "unmapped": {"fields": {"card": "4111 1111 1111 1111"}}
    })
}

#[test]
fn defaults_pseudonymize_redact_and_mask() {
    let r = redactor("{}");
    let mut e = event();
    let mut report = Report::default();
    r.redact(&mut e, &mut report);
    let text = e.to_string();
    for raw in [
        "Alice.Nguyen",
        "198.51.100.24",
        "ghp_abcdef",
        "1961-03-14",
        "123-45-6789",
        "sk-ant-api03",
        "ops@example.com",
        "user_01JWNF1SE0JTZG533G06SFWP1F",
        "4111 1111 1111 1111",
    ] {
        assert!(!text.contains(raw), "{raw} survived: {text}");
    }
    assert!(
        e["actor"]["email"]
            .as_str()
            .unwrap()
            .starts_with("email:k1:")
    );
    assert_eq!(e["unmapped"]["fields"]["card"], "**** **** **** 1111");
    assert!(
        e["details"]["api_key_name"]
            .as_str()
            .unwrap()
            .contains("[REDACTED:anthropic_key]")
    );
    // Structural fields and plain ids are left alone.
    assert_eq!(e["event_id"], "activity_1");
    assert_eq!(
        e["details"]["claude_file_id"],
        "claude_file_01KRXM09600GAQ0MN93HM052HY"
    );
    for flag in [
        "pii.email",
        "secret.anthropic_key",
        "secret.github_token",
        "phi.dob",
        "pii.us_ssn",
    ] {
        assert!(
            report.flags.contains(flag),
            "{flag} missing: {:?}",
            report.flags
        );
    }
    assert!(report.data_classes.contains("phi") && report.data_classes.contains("secret"));
    assert!(report.paths.contains("details.alert_emails"));
    assert_eq!(report.counts["email"], 3);
}

#[test]
fn same_key_same_pseudonym_other_key_other_pseudonym() {
    let settings = Settings::from_json("{}").unwrap();
    let a = Redactor::new(settings.redaction.clone(), key("k1")).unwrap();
    let b = Redactor::new(settings.redaction, HmacKey::new("k2", vec![1; 32]).unwrap()).unwrap();
    let run = |r: &Redactor| {
        let mut e = event();
        r.redact(&mut e, &mut Report::default());
        e["actor"]["email"].as_str().unwrap().to_owned()
    };
    assert_eq!(run(&a), run(&a));
    assert_ne!(run(&a)["email:k1:".len()..], run(&b)["email:k2:".len()..]);
}

#[test]
fn redaction_is_idempotent() {
    let r = redactor("{}");
    let mut once = event();
    r.redact(&mut once, &mut Report::default());
    let mut twice = once.clone();
    let mut report = Report::default();
    r.redact(&mut twice, &mut report);
    assert_eq!(once, twice);
    assert!(report.paths.is_empty(), "{:?}", report.paths);
}

#[test]
fn field_rules_and_fail_closed_mode() {
    let r = redactor(
        r#"{"redaction":{
            "fields":[{"path":"details.filename","action":"drop"},
                      {"path":"actor.ip","action":"keep"}],
            "fail_closed":true,
            "allow_fields":["details.claude_file_id","details.alert_emails"]}}"#,
    );
    let mut e = event();
    let mut report = Report::default();
    r.redact(&mut e, &mut report);
    assert_eq!(
        e["actor"]["ip"], "198.51.100.24",
        "keep rule wins over the detectors"
    );
    assert!(e["details"].get("filename").is_none());
    assert!(
        e["details"].get("api_key_name").is_none(),
        "not allowed: dropped"
    );
    assert!(e["unmapped"]["fields"].get("card").is_none());
    assert!(e["details"].get("claude_file_id").is_some());
    let dropped: Vec<&str> = report.dropped.iter().map(String::as_str).collect();
    assert_eq!(
        dropped,
        [
            "details.api_key_name",
            "details.filename",
            "unmapped.fields.card"
        ]
    );
}

#[test]
fn entity_overrides_are_checked() {
    let settings =
        Settings::from_json(r#"{"redaction":{"entities":{"anthropic_key":"keep"}}}"#).unwrap();
    let e = Redactor::new(settings.redaction, key("k1")).unwrap_err();
    assert_eq!(e.path, "redaction.entities.anthropic_key");
    let settings = Settings::from_json(r#"{"redaction":{"entities":{"emial":"keep"}}}"#).unwrap();
    assert!(Redactor::new(settings.redaction, key("k1")).is_err());
    let r = redactor(r#"{"redaction":{"entities":{"email":"redact","card":"redact"}}}"#);
    let mut e = event();
    r.redact(&mut e, &mut Report::default());
    assert_eq!(e["actor"]["email"], "[REDACTED:email]");
}

#[test]
fn vault_pairs_are_reported_once_when_enabled() {
    let r = redactor(r#"{"redaction":{"vault":true}}"#);
    let mut e = event();
    let mut report = Report::default();
    r.redact(&mut e, &mut report);
    let entry = report
        .vault
        .iter()
        .find(|v| v.original == "Alice.Nguyen@example.com")
        .unwrap();
    assert_eq!(e["actor"]["email"], entry.pseudonym.as_str());
    let r = redactor("{}");
    let mut report = Report::default();
    r.redact(&mut event(), &mut report);
    assert!(report.vault.is_empty());
}

#[test]
fn path_patterns() {
    let p = PathPattern::new("details.*");
    assert!(p.matches(&["details", "x"]));
    assert!(!p.matches(&["details", "x", "y"]));
    let p = PathPattern::new("redaction_metadata.**");
    assert!(p.matches(&["redaction_metadata"]));
    assert!(p.matches(&["redaction_metadata", "counts", "email"]));
    assert!(!PathPattern::new("actor.ip").matches(&["actor"]));
}

#[test]
fn mask_keeps_the_last_four() {
    assert_eq!(mask("4111-1111-1111-1111"), "****-****-****-1111");
    assert_eq!(mask("abc"), "abc");
}

#[test]
fn keys_holding_pii_are_pseudonymized_and_collisions_kept() {
    let r = redactor("{}");
    let mut e = json!({"details": {"per_user_limits": {
        "alice@example.com": 250,
        "ALICE@example.com": 100,
        "bob@example.org": 10,
        "plain": 1
    }}});
    let mut report = Report::default();
    r.redact(&mut e, &mut report);
    let text = e.to_string();
    assert!(
        !text.contains("example.com") && !text.contains("bob@"),
        "{text}"
    );
    let limits = e["details"]["per_user_limits"].as_object().unwrap();
    assert_eq!(limits.len(), 4, "{text}");
    assert_eq!(limits["plain"], 1);
    assert!(limits.keys().any(|k| k.starts_with("email:k1:")));
    assert!(
        report.paths.iter().all(|p| !p.contains('@')),
        "{:?}",
        report.paths
    );
    assert_eq!(report.counts["email"], 3);
}

#[test]
fn collisions_get_a_suffix() {
    assert_eq!(unique_key("k".into(), |k| k == "k"), "k~2");
    assert_eq!(unique_key("k".into(), |k| k == "k" || k == "k~2"), "k~3");
    assert_eq!(unique_key("k".into(), |_| false), "k");
}

#[test]
fn encoded_values_are_found() {
    let r = redactor("{}");
    let basic = data_encoding::BASE64.encode(b"{\"email\":\"carol@example.net\"}");
    let mut e = json!({"details": {
        "url": "https://app.example/settings?actor_email=name%40example.org&tab=2",
        "mailto": "mailto:dave%40example.com?subject=hi",
        "escaped": "{\\u0022to\\u0022: \\u0022erin\\u0040example.com\\u0022}",
        "blob": basic,
        "phone": "tel:+44-20-7946-0958",
        "title": "Call me on +44 20 7946 0958 tomorrow",
    }});
    let mut report = Report::default();
    r.redact(&mut e, &mut report);
    let text = e.to_string();
    for raw in ["name%40example.org", "dave%40", "erin", "7946"] {
        assert!(!text.contains(raw), "{raw} survived: {text}");
    }
    let blob = e["details"]["blob"].as_str().unwrap();
    let decoded = data_encoding::BASE64.decode(blob.as_bytes()).unwrap();
    assert!(!String::from_utf8(decoded).unwrap().contains("carol"));
    assert!(e["details"]["url"].as_str().unwrap().ends_with("&tab=2"));
}

#[test]
fn placeholder_secrets_are_possible_and_kept_only_by_policy() {
    let text = "key AKIAIOSFODNN7EXAMPLE here";
    let mut report = Report::default();
    let out = redactor("{}").scan(text, &mut report).unwrap();
    assert_eq!(out, "key [REDACTED:aws_access_key] here");
    assert!(report.flags.contains("secret_possible"));
    assert!(!report.flags.contains("secret.aws_access_key"));
    let keep = redactor(r#"{"redaction":{"keep_possible_secrets":true}}"#);
    let mut report = Report::default();
    assert_eq!(keep.scan(text, &mut report), None);
    assert!(report.flags.contains("secret_possible"));
}

/// A string answered from the scan cache reports what its first scan did.
#[test]
fn cached_scans_report_as_the_first_scan() {
    let r = redactor("{}");
    let text = "mail alice@example.com from 198.51.100.24";
    let mut first = Report::default();
    let new = r.scan(text, &mut first);
    let mut second = Report::default();
    assert_eq!(r.scan(text, &mut second), new);
    assert!(new.is_some());
    assert_eq!(second.flags, first.flags);
    assert_eq!(second.data_classes, first.data_classes);
    assert_eq!(second.counts, first.counts);
    let mut both = Report::default();
    r.scan(text, &mut both);
    r.scan(text, &mut both);
    assert_eq!(both.counts.get("email"), Some(&2));
}
