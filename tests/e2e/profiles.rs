//! Output profiles (`--profile ocsf|ecs`) through the real binary: every
//! fixture record, and the fixture mix x700, validates against schemas
//! generated from the pinned OCSF and ECS releases (tests/schemas/), golden
//! files per OCSF class and per ECS category, and the schemas can fail.
//!
//! Bless the golden files after an intended change with
//! `CLAUDE_AUDIT_BLESS=1 cargo test --test e2e profiles` and review the diff.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use jsonschema::Validator;
use serde_json::{Value, json};

use crate::util::*;

const OCSF_SCHEMA: &str = "tests/schemas/ocsf-1.8.0.schema.json";
const ECS_SCHEMA: &str = "tests/schemas/ecs-9.4.0.schema.json";
pub(crate) const GOLDEN_DIR: &str = "tests/e2e/golden/profiles";

/// Recommended OCSF attributes the Activity Feed has no source for; every
/// other recommended attribute of the class must be present (README "OCSF
/// profile" explains each).
const NOT_IN_THE_FEED: &[&str] = &[
    "account_switch_type",
    "account_switch_type_id",
    "auth_protocol",
    "auth_protocol_id",
    "certificate",
    "dst_endpoint",
    "is_mfa",
    "is_remote",
    "logon_type",
    "logon_type_id",
    "observables",
    "session",
    "status_code",
    "status_detail",
    "timezone_offset",
    "user_result",
    "entity_result",
    "comment",
    "subgroup",
    "privileges",
    "resource",
    "resources",
    "web_resources_result",
    "http_response",
    // Only when the actor has no IP address / user agent (Anthropic, system, ...).
    "src_endpoint",
    "http_request",
    // Detection Finding: the rules state no confidence (a match is a match).
    "confidence_id",
];

fn load(path: &str) -> Value {
    serde_json::from_slice(&std::fs::read(repo_file(path)).unwrap()).unwrap()
}

/// One validator per OCSF class, sharing the generated `$defs`.
static OCSF: LazyLock<BTreeMap<u64, (Validator, Vec<String>)>> = LazyLock::new(|| {
    let schema = load(OCSF_SCHEMA);
    let classes = schema["classes"].as_object().unwrap();
    classes
        .iter()
        .map(|(uid, class)| {
            let mut doc = class.clone();
            doc["$schema"] = schema["$schema"].clone();
            doc["$defs"] = schema["$defs"].clone();
            let recommended = class["x-recommended"].as_array().unwrap();
            let recommended = recommended.iter().map(|r| r.as_str().unwrap().to_owned());
            let validator = jsonschema::validator_for(&doc).expect("valid OCSF class schema");
            (uid.parse().unwrap(), (validator, recommended.collect()))
        })
        .collect()
});

static ECS: LazyLock<Validator> = LazyLock::new(|| {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&load(ECS_SCHEMA))
        .expect("valid ECS schema")
});

/// Schema errors of an OCSF event, and recommended attributes missing.
pub(crate) fn ocsf_errors(event: &Value) -> Vec<String> {
    let uid = event["class_uid"].as_u64().expect("class_uid");
    let (validator, recommended) = OCSF.get(&uid).unwrap_or_else(|| panic!("class {uid}"));
    let mut errors: Vec<String> = validator
        .iter_errors(event)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    for r in recommended {
        if event.get(r).is_none() && !NOT_IN_THE_FEED.contains(&r.as_str()) {
            errors.push(format!("recommended attribute {r} missing"));
        }
    }
    errors
}

/// Schema errors of an ECS document.
pub(crate) fn ecs_errors(event: &Value) -> Vec<String> {
    ECS.iter_errors(event)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// `run --profile P` over the fixtures and the golden inputs.
fn profile_events(sb: &Sandbox, profile: &str) -> Vec<Value> {
    let out = run(sb
        .run_cmd()
        .args(["--profile", profile])
        .arg(fixture("activities.ndjson"))
        .arg(repo_file("tests/e2e/golden/activities.input.ndjson")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    read_ndjson(&out.stdout)
}

#[test]
fn every_fixture_record_validates_as_ocsf() {
    let sb = Sandbox::new();
    let events = profile_events(&sb, "ocsf");
    assert!(events.len() > 312);
    for event in &events {
        let errors = ocsf_errors(event);
        assert!(
            errors.is_empty(),
            "{}: {errors:#?}",
            event["metadata"]["uid"]
        );
        assert_eq!(event["metadata"]["version"], "1.8.0");
    }
}

#[test]
fn every_fixture_record_validates_as_ecs() {
    let sb = Sandbox::new();
    let events = profile_events(&sb, "ecs");
    assert!(events.len() > 312);
    for event in &events {
        let errors = ecs_errors(event);
        assert!(errors.is_empty(), "{}: {errors:#?}", event["event"]["id"]);
        assert_eq!(event["ecs"]["version"], "9.4.0");
    }
}

/// Every row of profiles.tsv, as a minimal record of its type: each mapping
/// (not only the fixtures' types) gives a valid event in both profiles.
#[test]
fn every_mapped_activity_type_validates_in_both_profiles() {
    let table = std::fs::read_to_string(repo_file("plugin/data/profiles.tsv")).unwrap();
    let types: Vec<&str> = table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert!(types.len() >= 514);
    let input: String = types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let record = json!({"id": format!("activity_{i}"), "created_at": "2026-05-18T12:58:03Z",
                "organization_id": "org_1", "organization_uuid": null, "type": t,
                "actor": {"type": "user_actor", "email_address": "ana@example.com", "user_id": "user_1",
                          "ip_address": "192.0.2.7", "user_agent": "curl/8.7.1"}});
            record.to_string() + "\n"
        })
        .collect();
    let sb = Sandbox::new();
    let path = sb.write("types.ndjson", input);
    for profile in ["ocsf", "ecs"] {
        let out = run(sb.run_cmd().args(["--profile", profile]).arg(&path));
        assert!(
            matches!(out.status.code(), Some(0 | EXIT_DEAD_LETTERS)),
            "{}",
            stderr(&out)
        );
        let (read, emitted, dead, filtered) = summary_counts(&stderr(&out));
        assert_eq!(
            (read, emitted + dead + filtered),
            (types.len() as u64, types.len() as u64)
        );
        for event in read_ndjson(&out.stdout) {
            let errors = if profile == "ocsf" {
                ocsf_errors(&event)
            } else {
                ecs_errors(&event)
            };
            assert!(errors.is_empty(), "{profile} {event}: {errors:#?}");
        }
    }
}

/// The acceptance run: the fixture mix x700 (218,400 records) in
/// all three profiles, every record accounted for; each distinct event
/// validated once (the mix repeats the same records, so distinct events
/// cover every output). About 90 s on the 2-core reference machine.
#[test]
fn the_fixture_mix_times_700_converts_in_every_profile() {
    fixture_mix_converts(700);
}

fn fixture_mix_converts(times: usize) {
    let sb = Sandbox::new();
    let one = std::fs::read(fixture("activities.ndjson")).unwrap();
    let path = sb.write("mix.ndjson", one.repeat(times));
    for profile in ["canonical", "ocsf", "ecs"] {
        let out = run(sb.run_cmd().args(["--profile", profile]).arg(&path));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let n = 312 * times as u64;
        assert_eq!(summary_counts(&stderr(&out)), (n, n, 0, 0));
        let distinct: HashSet<&[u8]> = out
            .stdout
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(
            distinct.len(),
            312,
            "{profile}: the same record must give the same event"
        );
        for line in distinct {
            let event: Value = serde_json::from_slice(line).unwrap();
            let errors = match profile {
                "ocsf" => ocsf_errors(&event),
                "ecs" => ecs_errors(&event),
                _ => Vec::new(),
            };
            assert!(errors.is_empty(), "{profile}: {errors:#?}");
        }
    }
}

/// The first three events of each OCSF class / ECS category, compared with
/// `golden/profiles/<profile>-<group>.ndjson`.
#[test]
fn golden_events_per_ocsf_class_and_ecs_category() {
    let sb = Sandbox::new();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (profile, key) in [("ocsf", "/class_uid"), ("ecs", "/event/category/0")] {
        for event in profile_events(&sb, profile) {
            let group = format!(
                "{profile}-{}",
                event.pointer(key).unwrap().to_string().trim_matches('"')
            );
            let entry = groups.entry(group).or_default();
            if entry.len() < 3 {
                entry.push(event.to_string());
            }
        }
    }
    let ocsf: Vec<&String> = groups.keys().filter(|g| g.starts_with("ocsf-")).collect();
    assert_eq!(
        ocsf.len(),
        8,
        "every class but Detection Finding is exercised: {ocsf:?}"
    );
    let bless = std::env::var_os("CLAUDE_AUDIT_BLESS").is_some();
    for (group, events) in &groups {
        let path = repo_file(&format!("{GOLDEN_DIR}/{group}.ndjson"));
        let got = events.join("\n") + "\n";
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} missing: bless once", path.display()));
        assert_eq!(got, expected, "golden {group} differs");
    }
}

#[test]
fn the_schemas_can_fail() {
    let sb = Sandbox::new();
    let ocsf = profile_events(&sb, "ocsf");
    let mut event = ocsf
        .iter()
        .find(|e| e["src_endpoint"]["uid"].is_string())
        .unwrap()
        .clone();
    assert!(ocsf_errors(&event).is_empty());
    event["src_endpoint"] = json!({"ip": event["src_endpoint"]["uid"]});
    assert!(
        !ocsf_errors(&event).is_empty(),
        "a pseudonym is not an ip_t"
    );
    let mut event = ocsf[0].clone();
    event.as_object_mut().unwrap().remove("metadata");
    assert!(!ocsf_errors(&event).is_empty(), "metadata is required");

    let mut event = profile_events(&sb, "ecs").remove(0);
    assert!(ecs_errors(&event).is_empty());
    event["event"]["category"] = json!(["web"]);
    event["event"]["type"] = json!(["creation"]);
    assert!(
        !ecs_errors(&event).is_empty(),
        "web/creation is not an ECS pair"
    );
    event["event"]["type"] = json!(["access"]);
    event["source"] = json!({"ip": "ip:k1:HU4T3UICM5AA77DT"});
    assert!(!ecs_errors(&event).is_empty(), "a pseudonym is not an ip");
}

/// ocsf-classes.tsv is a copy of the pinned release: each row's class and
/// activity exist in the generated schema.
#[test]
fn ocsf_class_table_matches_the_pinned_release() {
    let schema = load(OCSF_SCHEMA);
    let table = std::fs::read_to_string(repo_file("plugin/data/ocsf-classes.tsv")).unwrap();
    for row in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let c: Vec<&str> = row.split('\t').collect();
        let class = &schema["classes"][c[0]];
        assert!(class.is_object(), "{row}");
        let activities = class["properties"]["activity_id"]["enum"]
            .as_array()
            .unwrap();
        assert!(
            activities.contains(&json!(c[4].parse::<u64>().unwrap())),
            "{row}"
        );
        assert!(class["title"].as_str().unwrap().contains(c[1]), "{row}");
    }
}

#[test]
fn a_bad_profile_is_refused_before_any_output() {
    let sb = Sandbox::new();
    let out = run(sb
        .run_cmd()
        .args(["--profile", "cef"])
        .arg(fixture("activities.ndjson")));
    assert_eq!(out.status.code(), Some(EXIT_ERROR));
    let config = sb.write("c.toml", "[plugin]\nprofile = \"cef\"\n");
    let out = run(sb
        .run_cmd()
        .arg("--config")
        .arg(&config)
        .arg(fixture("activities.ndjson")));
    assert_eq!(out.status.code(), Some(EXIT_ERROR));
    assert!(stderr(&out).contains("profile"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn the_config_file_sets_the_profile_and_the_flag_overrides_it() {
    let sb = Sandbox::new();
    let config = sb.write("c.toml", "[plugin]\nprofile = \"ecs\"\n");
    let out = run(sb
        .run_cmd()
        .arg("--config")
        .arg(&config)
        .arg(fixture("activities.ndjson")));
    assert!(read_ndjson(&out.stdout)[0]["ecs"]["version"].is_string());
    let out = run(sb
        .run_cmd()
        .arg("--config")
        .arg(&config)
        .args(["--profile", "ocsf"])
        .arg(fixture("activities.ndjson")));
    assert_eq!(read_ndjson(&out.stdout)[0]["metadata"]["version"], "1.8.0");
}
