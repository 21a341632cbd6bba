use super::*;

const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

pub(crate) const VALID: &str = r#"{"id":"activity_01ABC","created_at":"2026-05-18T12:58:03.838453Z","organization_id":null,"organization_uuid":null,"actor":{"type":"user_actor","email_address":"LEAKCANARY@example.com","user_id":"user_1","ip_address":"192.0.2.1","user_agent":"ua"},"type":"user_logged_out"}"#;

/// A directory holding `claude-audit.toml` with `config` and a hex key file.
pub(crate) fn configured(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k1.key"), format!("{KEY_HEX}\n")).unwrap();
    std::fs::write(dir.path().join(CONFIG_FILE_NAME), config).unwrap();
    dir
}

pub(crate) const KEYS: &str = "[keys]\nhmac = [{ id = \"k1\", file = \"k1.key\" }]\n";

fn answer(filter: &Filter, record: &[u8]) -> (Answer, serde_json::Value) {
    let mut out = Vec::new();
    let answer = filter.process(Some(record), record.len(), &mut out);
    assert!(!out.contains(&0), "no NUL in a result");
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("LEAKCANARY"), "raw value in {text}");
    (answer, serde_json::from_str(&text).unwrap())
}

#[test]
fn a_configured_filter_gives_what_process_batch_gives() {
    let dir = configured(KEYS);
    let filter = Filter::load(&[dir.path().to_owned()]);
    assert!(filter.is_ready(), "{}", filter.status_message());
    assert!(filter.status_message().contains("key `k1`"));
    let key = HmacKey::new("k1", decode_key(KEY_HEX.as_bytes())).unwrap();
    let reference = Transform::new("{}", vec![key], None).unwrap();
    let expected = reference.process_batch(VALID.as_bytes()).records;
    let mut out = Vec::new();
    assert_eq!(
        filter.process(Some(VALID.as_bytes()), VALID.len(), &mut out),
        Answer::Event
    );
    assert_eq!(out, expected.strip_suffix(b"\n").unwrap());
}

#[test]
fn invalid_records_become_dead_letter_markers_without_raw_values() {
    let filter = Filter::load(&[configured(KEYS).path().to_owned()]);
    let missing_actor = VALID.replace(
        r#""actor":{"type":"user_actor","#,
        r#""actor":{"kind":"LEAKCANARY","#,
    );
    let (a, v) = answer(&filter, missing_actor.as_bytes());
    assert_eq!(a, Answer::DeadLetter);
    let d = &v[DEAD_LETTER_KEY];
    assert_eq!(d["kind"], "missing_field");
    assert_eq!(d["field"], "actor.type");
    assert_eq!(d["length"], missing_actor.len());
    assert_eq!(d["activity_id"], "activity_01ABC");
    assert_eq!(v.as_object().unwrap().len(), 1, "nothing else: {v}");

    let (_, v) = answer(&filter, b"{not json LEAKCANARY");
    assert_eq!(v[DEAD_LETTER_KEY]["kind"], "invalid_json");
    assert!(v[DEAD_LETTER_KEY].get("activity_id").is_none());
    let (_, v) = answer(&filter, b"");
    assert_eq!(v[DEAD_LETTER_KEY]["kind"], "blank_line");
}

#[test]
fn only_well_formed_activity_ids_are_copied() {
    assert_eq!(
        activity_id(br#"{"id":"activity_01X"}"#).as_deref(),
        Some("activity_01X")
    );
    for record in [
        &br#"{"id":"alice@example.com"}"#[..],
        br#"{"id":"activity_"}"#,
        br#"{"id":"activity_a b"}"#,
        br#"{"id":7}"#,
        br#"{"id":"activity_1","id":"activity_2"}"#,
    ] {
        assert_eq!(
            activity_id(record),
            None,
            "{}",
            String::from_utf8_lossy(record)
        );
    }
    let long = format!(r#"{{"id":"activity_{}"}}"#, "a".repeat(200));
    assert_eq!(activity_id(long.as_bytes()), None);
}

#[test]
fn no_record_bytes_too_long_and_filtered_records_are_marked() {
    let config = format!(
        "[input]\nmax_record_bytes = 100\n[plugin]\nexclude_types = [\"user_logged_out\"]\n{KEYS}"
    );
    let filter = Filter::load(&[configured(&config).path().to_owned()]);
    let mut out = Vec::new();
    assert_eq!(filter.process(None, 12, &mut out), Answer::DeadLetter);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v[DEAD_LETTER_KEY]["kind"], KIND_NO_RECORD_DATA);
    assert_eq!(v[DEAD_LETTER_KEY]["length"], 12);

    let (a, v) = answer(&filter, VALID.as_bytes());
    assert_eq!(a, Answer::DeadLetter);
    assert_eq!(v[DEAD_LETTER_KEY]["kind"], "too_long");

    let filter = Filter::load(&[configured(&config.replace("100", "4096")).path().to_owned()]);
    let (a, v) = answer(&filter, VALID.as_bytes());
    assert_eq!(a, Answer::Filtered);
    assert_eq!(v, serde_json::json!({FILTERED_KEY: "type_filter"}));
}

#[test]
fn missing_or_invalid_configuration_fails_closed() {
    let empty = tempfile::tempdir().unwrap();
    let cases: Vec<(Filter, &str)> = vec![
        (Filter::load(&[]), "accessible_paths (none)"),
        (
            Filter::load(&[empty.path().to_owned()]),
            "no claude-audit.toml",
        ),
        (
            Filter::load(&[
                configured(KEYS).path().to_owned(),
                configured(KEYS).path().to_owned(),
            ]),
            "several",
        ),
        (
            Filter::load(&[configured("").path().to_owned()]),
            "redaction needs an HMAC key",
        ),
        (
            Filter::load(&[
                configured("[keys]\nhmac = [{ id = \"k1\", env = \"K\" }]\n")
                    .path()
                    .to_owned(),
            ]),
            "no environment variables",
        ),
        (
            Filter::load(&[configured(
                "[keys]\nhmac = [{ id = \"k1\", file = \"absent.key\" }]\n",
            )
            .path()
            .to_owned()]),
            "absent.key",
        ),
        (
            Filter::load(&[
                configured(&format!("{KEYS}vault = {{ file = \"v.key\" }}\n"))
                    .path()
                    .to_owned(),
            ]),
            "vault",
        ),
        (
            Filter::load(&[
                configured(&format!("[plugin]\nretention = {{ days = 0 }}\n{KEYS}"))
                    .path()
                    .to_owned(),
            ]),
            "plugin.retention.days",
        ),
        (
            Filter::load(&[configured("[plugin\nhmac = \"SECRETVALUE\"\n")
                .path()
                .to_owned()]),
            "line 1",
        ),
        (
            Filter::load(&[configured("[keys]\nhmac_secret = \"SECRETVALUE\"\n")
                .path()
                .to_owned()]),
            "unknown field `hmac_secret`",
        ),
        (
            Filter::load(&[configured("[keys]\nhmac = \"SECRETVALUE\"\n")
                .path()
                .to_owned()]),
            "invalid type, expected a sequence",
        ),
        (
            Filter::load(&[configured(&format!(
                "[plugin]\nretention = {{ class = [\"SECRETVALUE\"] }}\n{KEYS}"
            ))
            .path()
            .to_owned()]),
            "plugin.retention.class: invalid type, expected a string",
        ),
    ];
    for (filter, expected) in cases {
        let status = filter.status_message();
        assert!(!filter.is_ready());
        assert!(status.contains(expected), "{expected}: {status}");
        assert!(!status.contains("SECRETVALUE"), "{status}");
        let (a, v) = answer(&filter, VALID.as_bytes());
        assert_eq!(a, Answer::DeadLetter);
        assert_eq!(v[DEAD_LETTER_KEY]["kind"], KIND_CONFIG_ERROR);
        assert!(
            v[DEAD_LETTER_KEY]["reason"]
                .as_str()
                .unwrap()
                .contains(expected)
        );
    }
}

#[test]
fn short_keys_are_refused_and_key_text_is_decoded_like_the_host() {
    let dir = configured(KEYS);
    std::fs::write(dir.path().join("k1.key"), "too short").unwrap();
    let filter = Filter::load(&[dir.path().to_owned()]);
    assert!(
        filter.status_message().contains("this one has 9"),
        "{}",
        filter.status_message()
    );
    assert!(!filter.status_message().contains("too short"));
    assert_eq!(
        decode_key(format!(" {} \n", "AB".repeat(32)).as_bytes()),
        vec![0xab; 32]
    );
    assert_eq!(decode_key(b"  raw key bytes \n"), b"raw key bytes".to_vec());
}
