//! Redaction through the real binary: no planted secret or PII survives in
//! any field kind; pseudonyms are deterministic per key; missing or bad keys
//! and bad policies stop the run before anything is written; the vault and
//! `reveal` work end to end.

use serde_json::Value;

use crate::util::*;

/// Raw values planted in the canary records; none may appear in events,
/// dead-letter reasons or stderr.
const CANARIES: &[&str] = &[
    "canary.person@example.com",
    "CANARY.UPPER@Example.org",
    "sk-ant-api03-CanaryCanaryCanary123456",
    "sk-ant-admin01-CanaryAdminKey999999",
    "AKIACANARY7EXAMPLE00",
    "ghp_canarycanarycanarycanarycanary012345",
    "123-45-6789",
    "4111 1111 1111 1111",
    "GB82 WEST 1234 5698 7654 32",
    "198.51.100.77",
    "2001:db8:cafe::77",
    "user_01CANARYCANARYCANARY0000AA",
    "1961-03-14",
    "MRN-884422",
    "1234567893",
    "+14155550123",
    "hunter2canary",
    "xoxb-123456789012-canarycanary",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlY2FuYXJ5",
];

fn canary_records() -> String {
    let records = [
        // Actor fields, a user agent with an embedded token, a filename.
        r#"{"id":"activity_canary_1","created_at":"2026-10-05T09:00:00Z","organization_id":"org_1","organization_uuid":null,"actor":{"type":"user_actor","email_address":"canary.person@example.com","user_id":"user_01CANARYCANARYCANARY0000AA","ip_address":"198.51.100.77","user_agent":"curl/8 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlY2FuYXJ5"},"type":"claude_file_uploaded","claude_file_id":"claude_file_01X","filename":"John DOB 1961-03-14 SSN 123-45-6789 MRN-884422.pdf","claude_chat_id":"claude_chat_01X","claude_project_id":null}"#,
        // A URL with secrets in its query, an API key name with a pasted key.
        r#"{"id":"activity_canary_2","created_at":"2026-10-05T09:00:01Z","organization_id":null,"organization_uuid":null,"actor":{"type":"api_actor","api_key_id":"apikey_01X","ip_address":"2001:db8:cafe::77","user_agent":"sdk"},"type":"compliance_api_accessed","request_id":"req_01X","url":"https://api.anthropic.com/v1/compliance/activities?user_ids[]=user_01CANARYCANARYCANARY0000AA&password=hunter2canary","request_method":"GET","request_body":null,"status_code":200,"api_key_id":"apikey_01X"}"#,
        // Arrays, nested objects, unknown fields, an unknown actor variant.
        r#"{"id":"activity_canary_3","created_at":"2026-10-05T09:00:02Z","organization_id":"org_1","organization_uuid":null,"actor":{"type":"mystery_actor","email_address":"CANARY.UPPER@Example.org","token":"xoxb-123456789012-canarycanary"},"type":"org_alert_settings_updated","alert_emails":["canary.person@example.com","CANARY.UPPER@Example.org"],"extra":{"nested":{"deeper":["card 4111 1111 1111 1111","iban GB82 WEST 1234 5698 7654 32"]},"npi":"NPI 1234567893","phone":"+14155550123"}}"#,
        // Secrets in a key name; an AWS key and a GitHub token.
        r#"{"id":"activity_canary_4","created_at":"2026-10-05T09:00:03Z","organization_id":"org_1","organization_uuid":null,"actor":{"type":"admin_api_key_actor","admin_api_key_id":"admin_api_key_01X","ip_address":"198.51.100.77","user_agent":"x"},"type":"platform_api_key_created","api_key_id":"apikey_01Y","api_key_name":"prod sk-ant-api03-CanaryCanaryCanary123456 / sk-ant-admin01-CanaryAdminKey999999 AKIACANARY7EXAMPLE00 ghp_canarycanarycanarycanarycanary012345"}"#,
        // A malformed record holding a canary: its reason must not quote it.
        r#"{"id":"activity_canary_5","created_at":"canary.person@example.com","actor":{"type":"user_actor"},"type":"x"}"#,
    ];
    records.join("\n") + "\n"
}

#[test]
fn no_planted_value_leaks_into_events_reasons_or_stderr() {
    let sb = Sandbox::new();
    let input = sb.write("canary.ndjson", canary_records());
    let out = run(sb.run_cmd().arg(&input));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(EXIT_DEAD_LETTERS), "{err}");
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let events = read_ndjson(&out.stdout);
    assert_eq!(events.len(), 4);
    let dead = sb.dead_letters();
    assert_eq!(dead.len(), 1);
    let reasons: String = dead.iter().map(|d| d["reason"].to_string()).collect();
    for canary in CANARIES {
        assert!(
            !stdout.contains(canary),
            "{canary} leaked into events:\n{stdout}"
        );
        assert!(
            !stdout.to_lowercase().contains(&canary.to_lowercase()),
            "{canary} (any case)"
        );
        assert!(!err.contains(canary), "{canary} leaked into stderr");
        assert!(!reasons.contains(canary), "{canary} leaked into a reason");
    }
    // Useful, not just empty: flags, classes, controls and metadata say what happened.
    let first = &events[0];
    assert!(
        first["actor"]["email"]
            .as_str()
            .unwrap()
            .starts_with("email:k1:")
    );
    let flags: Vec<&str> = first["policy_flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for flag in [
        "pii.email",
        "pii.us_ssn",
        "phi.dob",
        "phi.mrn",
        "secret.jwt",
    ] {
        assert!(flags.contains(&flag), "{flag} not in {flags:?}");
    }
    assert_eq!(
        first["retention_state"]["class"], "phi",
        "PHI selects the PHI retention class"
    );
    assert!(
        first["controls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "HIPAA:164.312(b)")
    );
    assert_eq!(first["redaction_metadata"]["applied"], true);
    assert_eq!(first["redaction_metadata"]["key_id"], "k1");
}

fn run_with(sb: &Sandbox, key: &std::path::Path, extra: &[&str]) -> Vec<Value> {
    let out = run(sb
        .run_cmd_without_key()
        .arg("--hmac-key-file")
        .arg(key)
        .args(extra)
        .arg(fixture("activities.ndjson")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    read_ndjson(&out.stdout)
}

#[test]
fn pseudonyms_are_deterministic_per_key_across_batches_and_runs() {
    let sb = Sandbox::new();
    let key = fixture("test-hmac.key");
    let a = run_with(&sb, &key, &[]);
    let b = run_with(&sb, &key, &["--batch-records", "7"]);
    assert_eq!(a, b, "same key, other batching: same output");
    let other = sb.write(
        "other.key",
        "another test key, also at least thirty-two bytes long",
    );
    let c = run_with(&sb, &other, &[]);
    let email = |events: &[Value]| events[1]["actor"]["email"].as_str().unwrap().to_owned();
    assert!(email(&a).starts_with("email:k1:"));
    assert_ne!(email(&a), email(&c), "another key gives another pseudonym");
    // Joinable: the same user gets the same pseudonym in every event.
    let user = |e: &Value| e["user_id"].as_str().map(str::to_owned);
    let ids: std::collections::HashSet<_> = a.iter().filter_map(user).collect();
    assert!(
        ids.iter().all(|id| id.starts_with("user_id:k1:")),
        "{ids:?}"
    );
    assert!(
        ids.len() > 1 && ids.len() < 40,
        "a handful of users: {}",
        ids.len()
    );
}

#[test]
fn missing_or_bad_keys_and_policies_stop_before_writing() {
    let sb = Sandbox::new();
    let input = fixture("activities.ndjson");
    let short = sb.write("short.key", "too short");
    let bad_policy = sb.write(
        "bad.toml",
        "[plugin.redaction.entities]\nanthropic_key = \"keep\"\n",
    );
    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        (vec![], "--ephemeral-key"),
        (
            vec!["--hmac-key-file".into(), sb.path("absent.key").into()],
            "absent.key",
        ),
        (
            vec!["--hmac-key-file".into(), short.clone().into()],
            "at least 32",
        ),
        (
            vec![
                "--hmac-key-env".into(),
                "CLAUDE_AUDIT_TEST_UNSET_VAR".into(),
            ],
            "CLAUDE_AUDIT_TEST_UNSET_VAR",
        ),
        (
            vec![
                "--ephemeral-key".into(),
                "--config".into(),
                bad_policy.into(),
            ],
            "secrets can only be redacted or dropped",
        ),
    ];
    for (args, expected) in cases {
        let out = run(sb
            .run_cmd_without_key()
            .args(&args)
            .arg("--output")
            .arg(sb.path("events.ndjson"))
            .arg(&input));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(EXIT_ERROR), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(
            !err.contains("too short"),
            "key material in an error: {err}"
        );
        assert!(
            !sb.path("events.ndjson").exists(),
            "{args:?}: output was written"
        );
    }
}

#[test]
fn redaction_can_be_disabled_only_explicitly() {
    let sb = Sandbox::new();
    let config = sb.write("off.toml", "[plugin.redaction]\nenabled = false\n");
    let out = run(sb
        .run_cmd_without_key()
        .arg("--config")
        .arg(&config)
        .arg(fixture("activities.ndjson")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = read_ndjson(&out.stdout);
    assert_eq!(events[0]["redaction_metadata"]["applied"], false);
    assert_eq!(events[0]["actor"]["email"], "alice.nguyen@example.com");
}

#[test]
fn vault_and_reveal_round_trip() {
    let sb = Sandbox::new();
    let vault = sb.path("vault.bin");
    let vault_key = fixture("test-vault.key");
    let out = run(sb
        .run_cmd()
        .arg("--vault")
        .arg(&vault)
        .arg("--vault-key-file")
        .arg(&vault_key)
        .arg(fixture("activities.ndjson")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = read_ndjson(&out.stdout);
    let pseudonym = events[1]["actor"]["email"].as_str().unwrap().to_owned();
    let vault_text = std::fs::read_to_string(&vault).unwrap();
    assert!(
        !vault_text.contains("example.com"),
        "the vault is encrypted"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&vault).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let reveal = |key: &std::path::Path, pseudonyms: &[&str]| {
        run(std::process::Command::new(BIN)
            .arg("reveal")
            .arg("--vault")
            .arg(&vault)
            .arg("--vault-key-file")
            .arg(key)
            .args(pseudonyms))
    };
    let out = reveal(&vault_key, &[&pseudonym]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let found = read_ndjson(&out.stdout);
    assert_eq!(found[0]["original"], "alice.nguyen@example.com");
    assert_eq!(found[0]["entity"], "email");

    let out = reveal(&vault_key, &["email:k1:AAAAAAAAAAAAAAAA"]);
    assert_eq!(out.status.code(), Some(EXIT_DEAD_LETTERS));
    assert!(stderr(&out).contains("not in the vault"));

    let wrong = sb.write("wrong.key", "ff".repeat(32));
    let out = reveal(&wrong, &[&pseudonym]);
    assert_eq!(out.status.code(), Some(EXIT_ERROR));
    assert!(
        stderr(&out).contains("wrong key or tampered"),
        "{}",
        stderr(&out)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("example.com"));
}
