use serde_json::Value;

use super::*;
use crate::filter::DEAD_LETTER_KEY;

/// `json` as Fluent Bit's JSON parser stores it: a msgpack map, keys in order.
fn packed(json: &str) -> Vec<u8> {
    let value: Value = serde_json::from_str(json).unwrap();
    rmp_serde::to_vec(&value).unwrap()
}

/// The JSON text inside an answer, after checking its shape.
fn unwrapped(answer: &[u8]) -> String {
    assert!(!answer.contains(&0), "a zero byte in {answer:?}");
    let value: serde_json::Map<String, Value> = rmp_serde::from_slice(answer).unwrap();
    assert_eq!(value.len(), 1);
    value[JSON_KEY].as_str().unwrap().to_owned()
}

#[test]
fn a_map_becomes_the_compact_json_text_in_key_order() {
    let text =
        r#"{"z":1,"a":[true,null,-5,18446744073709551615,"é\"\n"],"m":{"k":2.5,"e":{}},"s":""}"#;
    let mut json = Vec::new();
    to_json(&packed(text), &mut json).unwrap();
    assert_eq!(String::from_utf8(json).unwrap(), text);
}

#[test]
fn what_is_not_one_msgpack_value_is_refused_without_quoting_it() {
    let map = packed(r#"{"secret":"LEAKCANARY"}"#);
    let mut json = Vec::new();
    let cases: [&[u8]; 5] = [
        b"",
        b"{\"secret\":\"LEAKCANARY\"}",
        &map[..map.len() - 3],
        &[map.as_slice(), &[0xc0]].concat(),
        // A map with a map as its key (an integer key becomes a string,
        // as serde_json writes it).
        &[0x81, 0x80, 0xa1, b'x'],
    ];
    for case in cases {
        let reason = to_json(case, &mut json).unwrap_err();
        assert!(!reason.contains("LEAKCANARY"), "{reason}");
    }
}

#[test]
fn nesting_deeper_than_serde_json_allows_is_refused() {
    let deep = |n: usize| format!("{}{}", r#"{"a":"#.repeat(n), "}".repeat(n)).replace(":}", ":1}");
    let mut json = Vec::new();
    assert!(to_json(&packed(&deep(100)), &mut json).is_ok());
    // serde_json cannot even build the value past 128: pack by hand.
    let mut bytes = Vec::new();
    for _ in 0..200 {
        bytes.extend_from_slice(&[0x81, 0xa1, b'a']);
    }
    bytes.push(0x01);
    assert!(to_json(&bytes, &mut json).is_err());
}

#[test]
fn answers_of_every_size_class_have_no_zero_byte_and_round_trip() {
    let mut lengths: Vec<usize> = (2..=600).collect();
    for k in 1..=255usize {
        lengths.extend([k * 256 - 1, k * 256, k * 256 + 1]);
    }
    lengths.retain(|n| *n <= MAX_ANSWER_BYTES);
    let mut out = Vec::new();
    for n in lengths.into_iter().filter(|n| *n >= 8) {
        // `{"a":"` + padding + `"}`: exactly n bytes.
        let json = format!(r#"{{"a":"{}"}}"#, "x".repeat(n - 8));
        assert_eq!(json.len(), n);
        wrap(json.as_bytes(), &mut out);
        assert_eq!(unwrapped(&out).trim_end(), json, "length {n}");
    }
}

#[test]
fn the_msgpack_answer_is_the_json_answer_wrapped() {
    let dir = crate::filter::tests::configured(crate::filter::tests::KEYS);
    let filter = Filter::load(&[dir.path().to_owned()]);
    let mut buffers = Buffers::default();
    let (mut json_out, mut out) = (Vec::new(), Vec::new());
    let records = [
        crate::filter::tests::VALID,
        r#"{"id":"activity_01ABC","created_at":"not a time","type":"user_logged_out"}"#,
        r#"["LEAKCANARY"]"#,
    ];
    for record in records {
        let json_answer = filter.process(Some(record.as_bytes()), record.len(), &mut json_out);
        let answer = filter.process_msgpack(Some(&packed(record)), 0, &mut buffers, &mut out);
        assert_eq!(answer, json_answer);
        assert_eq!(unwrapped(&out).as_bytes(), json_out.as_slice());
    }
    filter.process_msgpack(None, 12_000, &mut buffers, &mut out);
    let marker: Value = serde_json::from_str(&unwrapped(&out)).unwrap();
    assert_eq!(marker[DEAD_LETTER_KEY]["kind"], "no_record_data");
    assert_eq!(
        filter.process_msgpack(Some(b"{\"a\":1}"), 7, &mut buffers, &mut out),
        Answer::DeadLetter
    );
    let marker: Value = serde_json::from_str(&unwrapped(&out)).unwrap();
    assert_eq!(marker[DEAD_LETTER_KEY]["kind"], KIND_INVALID_MSGPACK);
}

#[test]
fn an_answer_too_long_for_msgpack_mode_is_a_dead_letter_naming_the_record() {
    let dir = crate::filter::tests::configured(crate::filter::tests::KEYS);
    let filter = Filter::load(&[dir.path().to_owned()]);
    let record = crate::filter::tests::VALID.replacen(
        "\"type\":",
        &format!("\"note\":\"{}\",\"type\":", "x".repeat(70_000)),
        1,
    );
    let (mut buffers, mut out) = (Buffers::default(), Vec::new());
    let answer = filter.process_msgpack(Some(&packed(&record)), 0, &mut buffers, &mut out);
    assert_eq!(answer, Answer::DeadLetter);
    let marker: Value = serde_json::from_str(&unwrapped(&out)).unwrap();
    let marker = &marker[DEAD_LETTER_KEY];
    assert_eq!(marker["kind"], KIND_ANSWER_TOO_LONG);
    assert_eq!(marker["activity_id"], "activity_01ABC");
    assert_eq!(
        marker["length"],
        record.len(),
        "the record's length as JSON"
    );
    assert!(
        marker["reason"]
            .as_str()
            .unwrap()
            .contains("event_format: json")
    );
}
