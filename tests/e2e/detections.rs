//! Detections through the real binary: alerts in the event stream and in
//! `--alerts`, their own counter, `--state` carrying windows across runs
//! without duplicate alerts, `pull` saving the state with its cursor, and no
//! raw PII in alerts or state (canary values).

use std::path::PathBuf;
use std::process::Output;

use serde_json::{Value, json};

use crate::util::{EXIT_ERROR, Sandbox, read_ndjson, run, stderr, summary_counts};

/// Raw values that must never appear in alerts or state.
pub(crate) const CANARY_EMAIL: &str = "canary.victim@example.com";
pub(crate) const CANARY_IP: &str = "203.0.113.199";

/// `n` failed SSO sign-ins from the canary IP, one per `step` seconds,
/// starting `start` seconds after 2026-06-01T00:00:00Z.
pub(crate) fn failures(start: u64, n: u64, step: u64) -> String {
    let mut out = String::new();
    for i in 0..n {
        let s = start + i * step;
        let record = json!({
            "id": format!("activity_fail{s:06}"),
            "created_at": format!("2026-06-01T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60),
            "organization_id": null, "organization_uuid": null,
            "actor": {"type": "unauthenticated_user_actor", "ip_address": CANARY_IP,
                      "user_agent": "curl/8.7.1", "unauthenticated_email_address": CANARY_EMAIL},
            "type": "sso_login_failed",
        });
        out.push_str(&record.to_string());
        out.push('\n');
    }
    out
}

fn config(sandbox: &Sandbox, extra: &str) -> PathBuf {
    sandbox.write(
        "detect.toml",
        format!("[plugin.detections]\nenabled = true\nsignals = false\n{extra}"),
    )
}

fn alerts_of(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["event_type"] == "claude_audit.alert")
        .collect()
}

fn alert_count(out: &Output) -> u64 {
    let err = stderr(out);
    err.split("; alerts ").nth(1).map_or(0, |rest| {
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    })
}

fn assert_no_canary(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(
        !text.contains(CANARY_EMAIL) && !text.contains(CANARY_IP),
        "raw PII in {what}"
    );
}

#[test]
fn alerts_follow_their_events_with_their_own_count_and_no_raw_pii() {
    let s = Sandbox::new();
    let input = s.write("in.ndjson", failures(0, 12, 30));
    let out = run(s
        .run_cmd()
        .arg("--config")
        .arg(config(&s, ""))
        .arg(&input)
        .arg("--alerts")
        .arg(s.path("alerts.ndjson"))
        .arg("--state")
        .arg(s.path("state.json")));
    assert!(out.status.success(), "{}", stderr(&out));
    let (read, emitted, dead, filtered) = summary_counts(&stderr(&out));
    assert_eq!(
        (read, emitted, dead, filtered),
        (12, 12, 0, 0),
        "alerts are not records"
    );
    let events = read_ndjson(&out.stdout);
    let alerts = alerts_of(&events);
    assert_eq!(alerts.len() as u64, alert_count(&out));
    assert_eq!(events.len(), 12 + alerts.len());
    let brute: Vec<_> = alerts
        .iter()
        .filter(|a| a["rule"]["detection"] == "brute_force")
        .collect();
    assert_eq!(brute.len(), 1, "one alert per window, not one per event");
    assert_eq!(brute[0]["related_events_count"], 10);
    assert!(
        brute[0]["group"]["key"]
            .as_str()
            .unwrap()
            .starts_with("actor.ip=ip:k1:")
    );
    // The batch's alerts follow its events; the 10th failure completed the window.
    let first_alert = events
        .iter()
        .position(|e| e["event_type"] == "claude_audit.alert")
        .unwrap();
    assert!(
        events[..first_alert]
            .iter()
            .all(|e| e["event_type"] == "sso_login_failed")
    );
    assert_eq!(brute[0]["related_events"][9], "activity_fail000270");
    let file = std::fs::read(s.path("alerts.ndjson")).unwrap();
    assert_eq!(read_ndjson(&file).len(), alerts.len());
    let state = std::fs::read(s.path("state.json")).unwrap();
    assert!(state.starts_with(b"{"));
    for (what, bytes) in [
        ("stdout", &out.stdout),
        ("alerts file", &file),
        ("state", &state),
        ("stderr", &out.stderr),
    ] {
        assert_no_canary(what, bytes);
    }
}

#[test]
fn state_carries_a_window_across_runs_and_a_reread_raises_nothing_twice() {
    let s = Sandbox::new();
    let cfg = config(&s, "");
    let go = |input: &str, name: &str| {
        let path = s.write(name, input);
        let out = run(s
            .run_cmd()
            .arg("--config")
            .arg(&cfg)
            .arg(path)
            .arg("--state")
            .arg(s.path("state.json")));
        assert!(out.status.success(), "{}", stderr(&out));
        alerts_of(&read_ndjson(&out.stdout))
            .iter()
            .map(|a| a["event_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    // Six failures, then (next run) an overlap re-read of all six plus four
    // more: one window of ten, one alert, raised in the second run.
    assert!(go(&failures(0, 6, 30), "a.ndjson").is_empty());
    let second = go(&failures(0, 10, 30), "b.ndjson");
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(
        go(&failures(0, 10, 30), "c.ndjson").is_empty(),
        "a full replay raises nothing"
    );
    // Without the state, the second half alone is not enough.
    let fresh = Sandbox::new();
    let path = fresh.write("d.ndjson", failures(180, 4, 30));
    let out = run(fresh
        .run_cmd()
        .arg("--config")
        .arg(config(&fresh, ""))
        .arg(path));
    assert!(alerts_of(&read_ndjson(&out.stdout)).is_empty());
}

#[test]
fn detection_settings_are_checked_and_flags_need_detections() {
    let s = Sandbox::new();
    let input = s.write("in.ndjson", failures(0, 1, 1));
    let out = run(s
        .run_cmd()
        .arg(&input)
        .arg("--alerts")
        .arg(s.path("a.ndjson")));
    assert_eq!(out.status.code(), Some(EXIT_ERROR));
    assert!(
        stderr(&out).contains("[plugin.detections]"),
        "{}",
        stderr(&out)
    );
    let bad = config(&s, "disable = [\"CL-99\"]\n");
    let out = run(s.run_cmd().arg("--config").arg(bad).arg(&input));
    assert_eq!(out.status.code(), Some(EXIT_ERROR));
    assert!(stderr(&out).contains("CL-99"), "{}", stderr(&out));
    let damaged = s.write(
        "state.json",
        "{\"version\":7,\"detections\":{},\"alerted\":[]}",
    );
    let out = run(s
        .run_cmd()
        .arg("--config")
        .arg(config(&s, ""))
        .arg(&input)
        .arg("--state")
        .arg(damaged));
    assert_eq!(out.status.code(), Some(EXIT_ERROR));
    assert!(stderr(&out).contains("version 7"), "{}", stderr(&out));
}

#[test]
fn suppressions_and_overrides_from_the_config_file() {
    let s = Sandbox::new();
    let input = s.write("in.ndjson", failures(0, 6, 300));
    let overrides = "[plugin.detections.overrides]\n\"CL-01/brute_force\" = { threshold = 3 }\n";
    let out = run(s
        .run_cmd()
        .arg("--config")
        .arg(config(&s, overrides))
        .arg(&input));
    assert!(out.status.success(), "{}", stderr(&out));
    let events = read_ndjson(&out.stdout);
    let brute: Vec<_> = alerts_of(&events)
        .into_iter()
        .filter(|a| a["rule"]["detection"] == "brute_force")
        .collect();
    // Failures at 0, 300, ..., 1500 s: windows [0, 600] and [600, 1200].
    assert_eq!(brute.len(), 2, "{brute:?}");
    assert_eq!(brute[0]["observed"]["threshold"], 3);
    let suppress = format!(
        "{overrides}[[plugin.detections.suppress]]\nrule = \"CL-01/brute_force\"\n\
         where = [{{ field = \"actor.user_agent\", contains = [\"curl\"] }}]\nreason = \"scanner\"\n"
    );
    let out = run(s
        .run_cmd()
        .arg("--config")
        .arg(config(&s, &suppress))
        .arg(&input));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(alerts_of(&read_ndjson(&out.stdout)).is_empty());
    assert!(
        stderr(&out).contains("alerts 0 (2 suppressed)"),
        "{}",
        stderr(&out)
    );
}

/// Parses every exported file with pySigma and prints `rules correlations`.
const PYSIGMA_CHECK: &str = r#"
import pathlib, sys
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
rules = correlations = 0
errors = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.yml")):
    collection = SigmaCollection.from_yaml(path.read_text(), collect_errors=True)
    collection.resolve_rule_references()
    for rule in collection.rules:
        errors += [f"{path.name}: {e}" for e in rule.errors]
        if isinstance(rule, SigmaCorrelationRule):
            correlations += 1
        else:
            rules += 1
if errors:
    sys.exit("\n".join(map(str, errors)))
print(rules, correlations)
"#;

#[test]
fn sigma_export_is_valid_for_pysigma() {
    let s = Sandbox::new();
    let dir = s.path("sigma");
    let out = run(std::process::Command::new(crate::util::BIN)
        .args(["rules", "export", "--format", "sigma"])
        .arg(&dir));
    assert!(out.status.success(), "{}", stderr(&out));
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert!(files >= 30, "{files} files");
    let probe = std::process::Command::new("python3")
        .args(["-c", "import sigma"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "SKIPPED: pySigma is not installed (pip install pysigma); the export was written but not validated"
        );
        return;
    }
    let check = std::process::Command::new("python3")
        .args(["-c", PYSIGMA_CHECK])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "pySigma refused the export:\n{}",
        stderr(&check)
    );
    let counts = String::from_utf8_lossy(&check.stdout);
    let mut numbers = counts.split_whitespace().map(|n| n.parse::<u32>().unwrap());
    let (rules, correlations) = (numbers.next().unwrap(), numbers.next().unwrap());
    assert!(
        rules >= 60 && correlations >= 20,
        "{rules} rules, {correlations} correlations"
    );
}

#[test]
fn simulate_writes_a_feed_and_separate_labels_that_run_through_the_pack() {
    let s = Sandbox::new();
    let out = run(std::process::Command::new(crate::util::BIN)
        .current_dir(s.dir.path())
        .args([
            "simulate",
            "--days",
            "10",
            "--users",
            "20",
            "--seed",
            "5",
            "--attacks",
            "brute_force,mass_delete",
        ])
        .arg("--output")
        .arg(s.path("feed.ndjson"))
        .arg("--labels")
        .arg(s.path("labels.ndjson")));
    assert!(out.status.success(), "{}", stderr(&out));
    let labels = read_ndjson(&std::fs::read(s.path("labels.ndjson")).unwrap());
    assert_eq!(labels.len(), 2);
    let out = run(s
        .run_cmd()
        .arg("--config")
        .arg(config(&s, ""))
        .arg(s.path("feed.ndjson")));
    assert!(out.status.success(), "{}", stderr(&out));
    let events = read_ndjson(&out.stdout);
    for label in &labels {
        let (rule, detection) = label["expect"].as_str().unwrap().split_once('/').unwrap();
        let ids: Vec<&Value> = label["event_ids"].as_array().unwrap().iter().collect();
        let caught = alerts_of(&events).iter().any(|a| {
            a["rule"]["id"] == rule
                && a["rule"]["detection"] == detection
                && a["related_events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|id| ids.contains(&id))
        });
        assert!(caught, "{label} not detected");
    }
}

const PULL_KEY: &str = "sk-ant-api01-TEST-detections-0123456789abcdef";

/// `pull --once` against `fake` with detections on, output into `sandbox`.
fn pull_cmd(sandbox: &Sandbox, fake: &crate::fake_api::FakeApi) -> std::process::Command {
    let config = sandbox.write(
        "pull.toml",
        format!(
            "[pull]\nbase_url = \"{}\"\napi_key = {{ env = \"DETECT_TEST_KEY\" }}\nstate_file = \"{}\"\n\
             requests_per_minute = 60000\ninitial_backoff_ms = 50\nmax_backoff_secs = 1\npage_size = 5\n\
             overlap_secs = 3600\n[plugin.detections]\nenabled = true\nsignals = false\n",
            fake.base_url,
            sandbox.path("state.json").display()
        ),
    );
    let mut cmd = std::process::Command::new(crate::util::BIN);
    cmd.current_dir(sandbox.dir.path())
        .env("DETECT_TEST_KEY", PULL_KEY)
        .args(["pull", "--once", "--config"])
        .arg(config)
        .arg("--output")
        .arg(sandbox.path("events.ndjson"))
        .arg("--dead-letter")
        .arg(sandbox.path("dead.ndjson"))
        .arg("--hmac-key-file")
        .arg(crate::util::fixture("test-hmac.key"));
    cmd
}

fn fake_with_attack() -> crate::fake_api::FakeApi {
    let fake = crate::fake_api::FakeApi::start(PULL_KEY);
    for line in failures(0, 40, 30).lines() {
        fake.add_activity(line);
    }
    fake
}

fn alert_ids(sandbox: &Sandbox) -> Vec<String> {
    let events = read_ndjson(&std::fs::read(sandbox.path("events.ndjson")).unwrap());
    alerts_of(&events)
        .iter()
        .map(|a| a["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn pull_killed_mid_window_raises_each_alert_exactly_once() {
    let clean = Sandbox::new();
    let out = run(&mut pull_cmd(&clean, &fake_with_attack()));
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = alert_ids(&clean);
    let brute = read_ndjson(&std::fs::read(clean.path("events.ndjson")).unwrap())
        .into_iter()
        .filter(|e| e["rule"]["detection"] == "brute_force")
        .count();
    assert_eq!(brute, 2, "40 failures 30 s apart: two 10-minute episodes");
    let state: Value =
        serde_json::from_slice(&std::fs::read(clean.path("state.json")).unwrap()).unwrap();
    assert!(
        state["detections"]["version"] == 1,
        "the state is saved with the cursor"
    );
    assert_no_canary(
        "pull state file",
        &std::fs::read(clean.path("state.json")).unwrap(),
    );

    let s = Sandbox::new();
    let fake = fake_with_attack();
    fake.state().delay = std::time::Duration::from_millis(15);
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill -9 detections test seed {seed}");
    let mut kills = 0;
    for _ in 0..6 {
        let mut child = pull_cmd(&s, &fake)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(std::time::Duration::from_millis(300 + seed % 1500));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let _ = child.kill();
        let _ = child.wait();
        kills += 1;
    }
    let out = run(&mut pull_cmd(&s, &fake));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        kills > 0,
        "the first run finished before any kill: the test proved nothing"
    );
    let got = alert_ids(&s);
    let unique: std::collections::BTreeSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "an alert was written twice");
    assert_eq!(
        unique,
        expected.iter().collect(),
        "the same alerts as an uninterrupted pull"
    );
}
