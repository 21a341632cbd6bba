//! Every event the real binary emits validates against the published JSON
//! Schema (plugin/schema/audit-event.v1.schema.json).

use crate::util::*;

#[test]
fn every_output_record_validates_against_the_json_schema() {
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_file("plugin/schema/audit-event.v1.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema itself is valid");

    let sb = Sandbox::new();
    // The fixture corpus plus the golden inputs (unknown type, actor, fields).
    let out = run(sb
        .run_cmd()
        .arg(fixture("activities.ndjson"))
        .arg(repo_file("tests/e2e/golden/activities.input.ndjson")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = read_ndjson(&out.stdout);
    assert!(events.len() > 312);
    for event in &events {
        let errors: Vec<String> = validator
            .iter_errors(event)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", event["event_id"]);
    }
}

#[test]
fn the_schema_rejects_a_broken_event() {
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_file("plugin/schema/audit-event.v1.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let sb = Sandbox::new();
    let out = run(sb.run_cmd().arg(fixture("activities.ndjson")));
    let mut event = read_ndjson(&out.stdout).remove(0);
    assert!(validator.is_valid(&event));
    event["outcome"] = "maybe".into();
    assert!(
        !validator.is_valid(&event),
        "the schema must be able to fail"
    );
}
