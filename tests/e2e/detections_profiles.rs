//! Alerts in the OCSF and ECS profiles through the real binary: every alert
//! raised over a simulated organization (every attack scenario) is a valid
//! OCSF 1.8.0 Detection Finding (class 2004) and a valid ECS 9.4.0 alert;
//! the finding's uid is the canonical alert's deterministic id, its related
//! events are events of the same output, statistical and first-seen alerts
//! carry `anomaly_analyses`; golden files for class 2004 and the ECS alert.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use serde_json::Value;

use crate::profiles::{GOLDEN_DIR, ecs_errors, ocsf_errors};
use crate::util::{BIN, Sandbox, read_ndjson, repo_file, run, stderr, summary_counts};

/// A simulated organization with every attack scenario (10 days, 20 users:
/// enough history for the baselines' 7 days, seconds to run).
pub fn simulated(s: &Sandbox) -> PathBuf {
    let out = run(std::process::Command::new(BIN)
        .current_dir(s.dir.path())
        .args(["simulate", "--days", "10", "--users", "20", "--seed", "5"])
        .arg("--output")
        .arg(s.path("feed.ndjson"))
        .arg("--labels")
        .arg(s.path("labels.ndjson")));
    assert!(out.status.success(), "{}", stderr(&out));
    s.path("feed.ndjson")
}

/// `run --profile P` with the whole pack (signals included); the output
/// split into (events, alerts) by `is_alert(event)`, and the alert counter.
fn run_profile(
    s: &Sandbox,
    feed: &PathBuf,
    profile: &str,
    is_alert: fn(&Value) -> bool,
) -> (Vec<Value>, Vec<Value>) {
    let config = s.write("detect.toml", "[plugin.detections]\nenabled = true\n");
    let out = run(s
        .run_cmd()
        .arg("--config")
        .arg(&config)
        .args(["--profile", profile])
        .arg(feed)
        .arg("--alerts")
        .arg(s.path(&format!("alerts-{profile}.ndjson"))));
    assert!(out.status.success(), "{}", stderr(&out));
    let (read, emitted, ..) = summary_counts(&stderr(&out));
    let (alerts, events): (Vec<Value>, Vec<Value>) =
        read_ndjson(&out.stdout).into_iter().partition(is_alert);
    assert_eq!((read, emitted), (events.len() as u64, events.len() as u64));
    let file = read_ndjson(&std::fs::read(s.path(&format!("alerts-{profile}.ndjson"))).unwrap());
    assert_eq!(
        file, alerts,
        "--alerts holds the stream's alerts, in the profile"
    );
    (events, alerts)
}

fn canonical_alert_ids(s: &Sandbox, feed: &PathBuf) -> Vec<String> {
    let (_, alerts) = run_profile(s, feed, "canonical", |e| {
        e["event_type"] == "claude_audit.alert"
    });
    let ids = alerts
        .iter()
        .map(|a| a["event_id"].as_str().unwrap().to_owned());
    ids.collect()
}

#[test]
fn every_alert_is_a_valid_ocsf_detection_finding_and_ecs_alert() {
    let s = Sandbox::new();
    let feed = simulated(&s);
    let ids = canonical_alert_ids(&s, &feed);
    assert!(ids.len() > 20, "{} alerts", ids.len());

    let (events, findings) = run_profile(&s, &feed, "ocsf", |e| e["class_uid"] == 2004);
    let event_uids: HashSet<&str> = events
        .iter()
        .map(|e| e["metadata"]["uid"].as_str().unwrap())
        .collect();
    let mut analytic_types = HashSet::new();
    for f in &findings {
        let errors = ocsf_errors(f);
        assert!(errors.is_empty(), "{f}: {errors:#?}");
        assert_eq!(f["type_uid"], 200401);
        assert_eq!(f["finding_info"]["uid"], f["metadata"]["uid"]);
        let related = f["finding_info"]["related_events"].as_array().unwrap();
        assert!(!related.is_empty());
        for r in related {
            assert!(
                event_uids.contains(r["uid"].as_str().unwrap()),
                "{r} is no event of the output"
            );
        }
        let kind = f["finding_info"]["analytic"]["type_id"].as_u64().unwrap();
        analytic_types.insert(kind);
        // Statistical (3) and behavioural (2) findings carry the baseline.
        assert_eq!(f["anomaly_analyses"].is_array(), kind != 1, "{f}");
        if kind == 3 {
            let a = &f["anomaly_analyses"][0];
            assert!(a["anomalies"][0]["observations"][0]["value"].is_string());
            // Robust z (median/MAD) or EWMA (mean/stddev: CL-24's Claude
            // Code token baselines, which the simulated developers feed).
            let pattern = a["baselines"][0]["observed_pattern"].as_str().unwrap();
            assert!(
                pattern.contains("median=") || pattern.contains("mean="),
                "{pattern}"
            );
        }
    }
    let uids: Vec<String> = findings
        .iter()
        .map(|f| f["finding_info"]["uid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(uids, ids, "the finding uid is the deterministic alert id");
    assert!(
        analytic_types.contains(&3),
        "a statistical alert: {analytic_types:?}"
    );

    let (_, alerts) = run_profile(&s, &feed, "ecs", |e| e["event"]["kind"] == "alert");
    let ecs_ids: Vec<&str> = alerts
        .iter()
        .map(|a| a["event"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ecs_ids, ids);
    for a in &alerts {
        let errors = ecs_errors(a);
        assert!(errors.is_empty(), "{a}: {errors:#?}");
        assert!(a["rule"]["id"].as_str().unwrap().contains('-'));
    }
}

/// The first alert of each analytic kind (OCSF) / rule kind (ECS), compared
/// with `golden/profiles/ocsf-2004.ndjson` and `ecs-alert.ndjson`.
#[test]
fn golden_alerts_in_ocsf_and_ecs() {
    let s = Sandbox::new();
    let feed = simulated(&s);
    let mut golden: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    let (_, findings) = run_profile(&s, &feed, "ocsf", |e| e["class_uid"] == 2004);
    for f in findings {
        let kind = f["finding_info"]["types"][0].to_string();
        golden
            .entry("ocsf-2004")
            .or_default()
            .entry(kind)
            .or_insert(f.to_string());
    }
    let (_, alerts) = run_profile(&s, &feed, "ecs", |e| e["event"]["kind"] == "alert");
    for a in alerts {
        let kind = a["rule"]["category"].to_string();
        golden
            .entry("ecs-alert")
            .or_default()
            .entry(kind)
            .or_insert(a.to_string());
    }
    let bless = std::env::var_os("CLAUDE_AUDIT_BLESS").is_some();
    for (name, by_kind) in golden {
        let path = repo_file(&format!("{GOLDEN_DIR}/{name}.ndjson"));
        let got = by_kind.into_values().collect::<Vec<_>>().join("\n") + "\n";
        if bless {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} missing: bless once", path.display()));
        assert_eq!(got, expected, "golden {name} differs");
    }
}
