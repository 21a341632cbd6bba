//! Every rule file's examples, replayed through the engine; plus properties
//! of the pack as a whole (every detection has a positive example, every
//! rule a negative one, settings are checked against the pack).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::rule::{Example, RuleFile, bundled};
use super::settings::DetectSettings;
use super::*;

/// 2026-06-01T00:00:00Z, the start of every example.
const BASE_MS: i64 = 1_780_272_000_000;

/// Detections on, parity signals off (they would add one finding per event).
fn settings() -> DetectSettings {
    DetectSettings {
        enabled: true,
        signals: false,
        ..DetectSettings::default()
    }
}

/// The example's events, in the order written, with ids and timestamps.
fn expand(example: &Example) -> Vec<Value> {
    let mut events = Vec::new();
    for template in &example.events {
        let every = template.every.map_or(0, |d| d.ms);
        for i in 0..template.repeat {
            let text = template.event.to_string().replace("{i}", &i.to_string());
            let mut event: Value = serde_json::from_str(&text).expect("a JSON object");
            let t = BASE_MS + template.at.ms + every * i as i64;
            let ts =
                time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 1_000_000).unwrap();
            event["timestamp"] = json!(crate::timestamp::format(ts));
            event["event_id"] = json!(format!("activity_ex{}", events.len()));
            events.push(event);
        }
    }
    events
}

/// The detections that alert on the example (every alert checked for the
/// fields an alert must carry).
fn run(rule: &RuleFile, example: &Example) -> BTreeSet<String> {
    let all = DetectSettings {
        enabled: true,
        ..DetectSettings::default()
    };
    let mut detector = Detector::with_rules(vec![rule.clone()], all).expect("valid rule");
    let mut fired = BTreeSet::new();
    for event in expand(example) {
        for alert in detector.process(&event).alerts {
            assert_eq!(alert["event_type"], "claude_audit.alert");
            assert_eq!(alert["rule"]["id"], rule.id.as_str());
            assert!(alert["related_events_count"].as_u64().unwrap() >= 1);
            assert!(alert["event_id"].as_str().unwrap().starts_with("alert_"));
            fired.insert(alert["rule"]["detection"].as_str().unwrap().to_owned());
        }
    }
    fired
}

#[test]
fn every_rule_example_raises_exactly_its_alerts() {
    let rules = bundled().expect("the bundled rules parse");
    let mut failures = Vec::new();
    for rule in &rules {
        for example in &rule.examples {
            let fired = run(rule, example);
            let wanted: BTreeSet<String> = example.alerts.iter().cloned().collect();
            if fired != wanted {
                failures.push(format!(
                    "{} `{}`: wanted {wanted:?}, got {fired:?}",
                    rule.id, example.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_detection_has_a_positive_example_and_every_rule_a_negative_one() {
    for rule in bundled().unwrap() {
        for d in &rule.detections {
            assert!(
                rule.examples.iter().any(|e| e.alerts.contains(&d.name)),
                "{}/{} has no positive example",
                rule.id,
                d.name
            );
        }
        assert!(
            rule.examples.iter().any(|e| e.alerts.is_empty()),
            "{} has no negative example",
            rule.id
        );
        assert!(!rule.description.is_empty() && !rule.title.is_empty());
    }
}

#[test]
fn the_pack_is_complete() {
    let ids: BTreeSet<String> = bundled().unwrap().into_iter().map(|r| r.id).collect();
    for n in 1..=27 {
        let id = format!("CL-{n:02}");
        assert!(ids.contains(&id), "{id} missing");
    }
    for n in 1..=8 {
        assert!(ids.contains(&format!("PS-{n:02}")));
    }
}

#[test]
fn settings_naming_unknown_rules_are_refused_and_overrides_apply() {
    let bad: DetectSettings =
        serde_json::from_value(json!({"enabled": true, "disable": ["CL-99"]})).unwrap();
    let err = Detector::new(bad, true).unwrap_err();
    assert_eq!(err.path, "detections.disable");
    let s: DetectSettings = serde_json::from_value(json!({
        "enabled": true, "disable": ["CL-01/spray"], "overrides": {"CL-01/brute_force": {"threshold": 3}}
    }))
    .unwrap();
    let d = Detector::new(s, true).unwrap();
    assert!(!d.detections().iter().any(|d| d.key() == "CL-01/spray"));
    let bf = d
        .detections()
        .iter()
        .find(|d| d.key() == "CL-01/brute_force")
        .unwrap();
    assert_eq!(bf.spec.threshold, Some(3));
}

fn failures(n: usize, ip: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let ts = time::OffsetDateTime::from_unix_timestamp(BASE_MS / 1000 + i as i64).unwrap();
            json!({"event_id": format!("a{i}{ip}"), "timestamp": crate::timestamp::format(ts),
                   "event_type": "sso_login_failed", "actor": {"ip": ip, "email": "email:k1:V"}})
        })
        .collect()
}

#[test]
fn suppressions_drop_alerts_by_group_key() {
    let s: DetectSettings = serde_json::from_value(json!({
        "enabled": true, "signals": false, "suppress": [{"rule": "CL-01", "group_key": "actor.ip=ip:k1:SCANNER", "reason": "pen test"}]
    }))
    .unwrap();
    let mut d = Detector::new(s, true).unwrap();
    let (mut alerts, mut suppressed) = (0, 0);
    for e in failures(10, "ip:k1:SCANNER")
        .iter()
        .chain(&failures(10, "ip:k1:OTHER"))
    {
        let r = d.process(e);
        alerts += r.alerts.len();
        suppressed += r.suppressed;
    }
    assert_eq!((alerts, suppressed), (1, 1));
}

#[test]
fn state_round_trips_and_a_reread_raises_nothing_twice() {
    let mut d = Detector::new(settings(), true).unwrap();
    let events = failures(12, "ip:k1:A");
    let first: usize = events[..6].iter().map(|e| d.process(e).alerts.len()).sum();
    let state = d.export_state();
    let mut resumed = Detector::new(settings(), true).unwrap();
    resumed.import_state(&state).unwrap();
    // The re-read overlap: everything again, then the rest.
    let second: usize = events.iter().map(|e| resumed.process(e).alerts.len()).sum();
    assert_eq!((first, second), (0, 1));
    let again: usize = events.iter().map(|e| resumed.process(e).alerts.len()).sum();
    assert_eq!(again, 0, "a full replay raises no duplicate");
    let mut wrong = String::from_utf8(state).unwrap();
    wrong = wrong.replacen("\"version\":1", "\"version\":99", 1);
    assert!(matches!(
        resumed.import_state(wrong.as_bytes()),
        Err(StateError::UnsupportedVersion { found: 99, .. })
    ));
}

#[test]
fn simultaneous_per_event_findings_keep_distinct_ids() {
    let mut d = Detector::new(
        DetectSettings {
            enabled: true,
            ..DetectSettings::default()
        },
        true,
    )
    .unwrap();
    let signals: usize = failures(3, "ip:k1:A")
        .iter()
        .chain(&failures(3, "ip:k1:B"))
        .map(|e| {
            d.process(e)
                .alerts
                .iter()
                .filter(|a| a["rule"]["id"] == "PS-06")
                .count()
        })
        .sum();
    assert_eq!(signals, 6);
}

#[test]
fn groups_are_bounded() {
    let s: DetectSettings =
        serde_json::from_value(json!({"enabled": true, "signals": false, "max_groups": 100}))
            .unwrap();
    let mut d = Detector::new(s, true).unwrap();
    for i in 0..9000 {
        let ts = time::OffsetDateTime::from_unix_timestamp(BASE_MS / 1000 + i).unwrap();
        d.process(&json!({"event_id": format!("e{i}"), "timestamp": crate::timestamp::format(ts),
            "event_type": "sso_login_failed", "actor": {"ip": format!("ip:k1:{i}"), "email": "email:k1:V"}}));
    }
    let index = d
        .detections()
        .iter()
        .position(|x| x.key() == "CL-01/brute_force")
        .unwrap();
    let groups = d.state.group_count(index);
    assert!(groups <= 100 + 8192, "{groups}");
    assert!(groups < 9000);
}

#[test]
fn rules_needing_geoip_are_inactive_without_it() {
    let s = || -> DetectSettings {
        serde_json::from_value(json!({"enabled": true, "disable": ["CL-05"]})).unwrap()
    };
    let without = Detector::new(s(), false).unwrap();
    assert_eq!(without.inactive(), ["CL-03", "CL-04", "CL-05"]);
    assert!(
        !without
            .detections()
            .iter()
            .any(|d| ["CL-03", "CL-04", "CL-05"].contains(&d.rule_id.as_str()))
    );
    let with = Detector::new(s(), true).unwrap();
    assert!(with.inactive().is_empty());
    assert!(with.detections().iter().any(|d| d.rule_id == "CL-03"));
    assert!(!with.detections().iter().any(|d| d.rule_id == "CL-05"));
}

#[test]
fn made_up_event_types_do_not_grow_the_per_type_caches_without_end() {
    let mut detector = Detector::new(settings(), false).expect("the built-in pack compiles");
    let line = |n: usize| {
        format!(
            r#"{{"event_id":"e{n}","timestamp":"2026-06-01T00:00:00.000000Z","event_type":"claude_code.made_up_{n}","actor":{{"id":"a"}}}}"#
        )
    };
    let mut out = Vec::new();
    for n in 0..3 * super::MAX_REMEMBERED_TYPES {
        detector.process_line(
            line(n).as_bytes(),
            None,
            crate::profile::Profile::Canonical,
            &mut out,
        );
        assert!(detector.candidates.len() <= super::MAX_REMEMBERED_TYPES);
        assert!(detector.wanted_by_type.len() <= super::MAX_REMEMBERED_TYPES);
    }
}
