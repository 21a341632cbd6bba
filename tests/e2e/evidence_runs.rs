//! Run summaries in the store, and the report's completeness figures from
//! them: `run` with a dead letter, `pull` through rate limiting and a 5xx.

use std::path::Path;

use serde_json::Value;

use crate::evidence::{generate_key, report_all, run_into_store};
use crate::fake_api::Fault;
use crate::pull::Pull;
use crate::util::{Sandbox, fixture, run, stderr};

/// `report` over all time, signed with `key`; `report.json`'s completeness.
fn completeness(sandbox: &Sandbox, store: &Path, key: &Path) -> Value {
    let out = sandbox.path("report");
    let made = report_all(store, &out, key);
    assert!(made.status.success(), "{}", stderr(&made));
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    report["completeness"]["runs"].clone()
}

#[test]
fn run_summaries_give_the_report_dead_letters() {
    let sandbox = Sandbox::new();
    generate_key(&sandbox, "signing.key", "audit.example.com/claude");
    let mut input = std::fs::read(fixture("activities.ndjson")).unwrap();
    input.extend_from_slice(b"{\"not\": \"an activity\"}\nnot json\n");
    let input = sandbox.write("input.ndjson", input);
    let store = sandbox.path("store");
    let ran = run_into_store(&sandbox, &input, &store, &[]);
    assert_eq!(
        ran.status.code(),
        Some(crate::util::EXIT_DEAD_LETTERS),
        "{}",
        stderr(&ran)
    );
    let runs = completeness(&sandbox, &store, &sandbox.path("signing.key"));
    assert_eq!(runs["runs"], serde_json::json!({"run": 1}), "{runs}");
    assert_eq!(runs["read"], 314, "{runs}");
    assert_eq!(runs["emitted"], 312, "{runs}");
    assert_eq!(runs["dead_lettered"], 2, "{runs}");
    assert_eq!(runs["leaves_without_summary"], 0, "{runs}");
    assert!(runs["poller"].is_null(), "{runs}");
}

#[test]
fn pull_summaries_give_the_report_retries_rate_limits_and_time_to_ingest() {
    let p = Pull::new();
    let key = p.sandbox.path("signing.key");
    generate_key(&p.sandbox, "signing.key", "audit.example.com/claude");
    p.fake
        .push_faults([Fault::RateLimited(Some(1)), Fault::ServerError(503, None)]);
    let store = p.sandbox.path("store");
    let out = run(p
        .cmd("")
        .args(["--once", "--output"])
        .arg(p.output_path())
        .arg("--evidence")
        .arg(&store)
        .arg("--evidence-key-file")
        .arg(&key));
    assert!(out.status.success(), "{}", stderr(&out));
    let runs = completeness(&p.sandbox, &store, &key);
    assert_eq!(runs["runs"], serde_json::json!({"pull": 1}), "{runs}");
    assert_eq!(runs["emitted"], 312, "{runs}");
    assert_eq!(runs["dead_lettered"], 0, "{runs}");
    assert_eq!(runs["leaves_without_summary"], 0, "{runs}");
    let poller = &runs["poller"];
    assert_eq!(poller["retries"], 2, "{runs}");
    assert_eq!(poller["rate_limited"], 1, "{runs}");
    assert!(
        poller["retry_wait_seconds"].as_f64().unwrap() >= 1.0,
        "{runs}"
    );
    let lag = &poller["time_to_ingest_seconds"];
    assert_eq!(lag["count"], 312, "{runs}");
    let (p50, max) = (lag["p50"].as_f64().unwrap(), lag["max"].as_f64().unwrap());
    assert!(0.0 < p50 && p50 <= max, "{runs}");
}
