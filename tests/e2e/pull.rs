//! `claude-audit pull` against the fake Compliance API: full syncs over
//! many pages, kill -9 and restart, fault storms, late arrivals, refused
//! keys and requests, health and metrics.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fake_api::{FakeApi, Fault};
use crate::util::{BIN, EXIT_DEAD_LETTERS, Sandbox, fixture, read_ndjson, stderr};

/// The API key the tests use; it must never appear in any output.
const KEY: &str = "sk-ant-api01-TEST-e2e-0123456789abcdefSECRET";
/// The environment variable the configuration names for it.
const KEY_ENV: &str = "TEST_COMPLIANCE_KEY";
/// Exit codes of `pull` (README): key/scope refused, request refused.
const EXIT_KEY_REFUSED: i32 = 3;
const EXIT_REQUEST_REFUSED: i32 = 4;

/// A scratch directory, a fake API and a `[pull]` configuration.
struct Pull {
    sandbox: Sandbox,
    fake: FakeApi,
}

impl Pull {
    fn new() -> Self {
        Self {
            sandbox: Sandbox::new(),
            fake: FakeApi::start(KEY),
        }
    }

    /// Write the configuration: fast retries and pacing for tests, small
    /// pages so that the fixture spans many of them.
    fn config(&self, extra: &str) -> PathBuf {
        let text = format!(
            "[pull]\n\
             base_url = \"{}\"\n\
             api_key = {{ env = \"{KEY_ENV}\" }}\n\
             state_file = \"{}\"\n\
             requests_per_minute = 60000\n\
             initial_backoff_ms = 50\n\
             max_backoff_secs = 1\n\
             {}\
             poll_interval_secs = 1\n\
             health_interval_secs = 1\n\
             {extra}\n{}",
            self.fake.base_url,
            self.sandbox.path("state.json").display(),
            if extra.contains("request_timeout_secs") {
                ""
            } else {
                "request_timeout_secs = 1\n"
            },
            if extra.contains("page_size") {
                ""
            } else {
                "page_size = 7\n"
            }
        );
        self.sandbox.write("pull.toml", text)
    }

    /// `claude-audit pull` with the test key in the environment and the
    /// test HMAC key.
    fn cmd(&self, extra_config: &str) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.sandbox.dir.path())
            .env(KEY_ENV, KEY)
            .arg("pull")
            .arg("--config")
            .arg(self.config(extra_config))
            .arg("--dead-letter")
            .arg(self.sandbox.path("dead.ndjson"))
            .arg("--hmac-key-file")
            .arg(fixture("test-hmac.key"));
        cmd
    }

    fn output_path(&self) -> PathBuf {
        self.sandbox.path("events.ndjson")
    }

    /// `pull --once --output events.ndjson`, to completion.
    fn once(&self, extra_config: &str) -> Output {
        let out = self
            .cmd(extra_config)
            .arg("--once")
            .arg("--output")
            .arg(self.output_path())
            .output()
            .expect("spawn pull");
        assert_no_key(&out);
        out
    }

    /// `pull --once` with another API key, which must appear in no output.
    fn once_with_key(&self, key: &str) -> (Output, String) {
        let out = self
            .cmd("")
            .env(KEY_ENV, key)
            .args(["--once", "--output"])
            .arg(self.output_path())
            .output()
            .expect("spawn pull");
        let err = stderr(&out);
        assert!(!err.contains(key) && !String::from_utf8_lossy(&out.stdout).contains(key));
        (out, err)
    }

    /// `pull` polling forever into the output file, stderr to a file.
    fn daemon(&self, args: &[&str]) -> (Child, PathBuf) {
        let err_path = self.sandbox.path("stderr.txt");
        let child = self
            .cmd("")
            .args(args)
            .arg("--output")
            .arg(self.output_path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        (child, err_path)
    }

    fn events(&self) -> Vec<Value> {
        read_ndjson(&std::fs::read(self.output_path()).unwrap_or_default())
    }
}

fn fixture_ids() -> Vec<String> {
    let text = std::fs::read_to_string(fixture("activities.ndjson")).unwrap();
    read_ndjson(text.as_bytes())
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect()
}

fn event_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event_id"].as_str().expect("event_id").to_owned())
        .collect()
}

/// Every fixture id exactly once.
fn assert_exactly_once(ids: &[String], expected: &[String]) {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "some ids were emitted twice");
    let wanted: HashSet<&String> = expected.iter().collect();
    assert_eq!(unique, wanted, "emitted ids differ from the feed");
}

fn assert_no_key(out: &Output) {
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !String::from_utf8_lossy(bytes).contains(KEY),
            "the API key leaked into {name}"
        );
    }
}

/// The last health line's counters.
fn last_health(stderr: &str) -> Value {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("{\"claude_audit_pull\""))
        .unwrap_or_else(|| panic!("no health line in:\n{stderr}"));
    serde_json::from_str::<Value>(line).unwrap()["claude_audit_pull"].clone()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn full_sync_emits_every_activity_once_across_many_pages() {
    let p = Pull::new();
    let out = p.once("");
    assert!(out.status.success(), "{}", stderr(&out));
    let events = p.events();
    assert_eq!(events.len(), 312);
    assert_exactly_once(&event_ids(&events), &fixture_ids());
    // Ascending walk, in feed order.
    assert_eq!(event_ids(&events), fixture_ids());
    let requests = p.fake.state().requests.clone();
    assert!(requests.len() >= 312 / 7, "{} requests", requests.len());
    assert!(
        requests
            .iter()
            .all(|q| q.contains("order=asc") && q.contains("limit=7"))
    );
    let health = last_health(&stderr(&out));
    assert_eq!(health["emitted"], 312);
    assert_eq!(health["caught_up"], true);
    assert!(health["ingest_lag_seconds_max"].as_f64().unwrap() > 0.0);

    // A second run finds nothing new, and re-reads the overlap window.
    let before = p.fake.request_count();
    let out = p.once("");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(p.events().len(), 312, "nothing may be emitted twice");
    let requests = p.fake.state().requests[before..].to_vec();
    assert!(requests.iter().any(|q| q.contains("after_id=cur_")));
    assert!(requests.iter().any(|q| q.contains("created_at.gte=")));
    let health = last_health(&stderr(&out));
    assert!(health["duplicates_dropped"].as_u64().unwrap() > 0);
    // Every activity received is accounted for.
    let n = |k: &str| health[k].as_u64().unwrap();
    assert_eq!(
        n("activities"),
        n("emitted") + n("dead_lettered") + n("filtered") + n("duplicates_dropped"),
        "{health}"
    );
}

#[test]
fn raw_sync_writes_the_feed_unchanged() {
    let p = Pull::new();
    let out = p.cmd("").args(["--once", "--raw"]).output().unwrap();
    assert_no_key(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    let feed = std::fs::read_to_string(fixture("activities.ndjson")).unwrap();
    assert_eq!(read_ndjson(&out.stdout), read_ndjson(feed.as_bytes()));
}

#[test]
fn kill_9_at_random_moments_loses_and_doubles_nothing() {
    let p = Pull::new();
    // Slow enough that the kills land mid-walk: ~63 pages of 5. Budget
    // pauses are another test's subject.
    p.fake.state().delay = Duration::from_millis(15);
    p.fake.state().budget = 1_000_000;
    let config = "page_size = 5";
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill -9 test seed {seed}");
    let mut kills = 0;
    // Events in the output after each kill (after the restart's cut-back,
    // the output may be shorter than seen here).
    let mut progress = Vec::new();
    for _ in 0..10 {
        let child = p
            .cmd(config)
            .args(["--once", "--output"])
            .arg(p.output_path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // xorshift: a different moment each round, reproducible from the seed.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(300 + seed % 1700));
        let mut child = child;
        if child.try_wait().unwrap().is_some() {
            break;
        }
        kill(child);
        kills += 1;
        // Complete lines only: the kill may have cut the last one.
        let bytes = std::fs::read(p.output_path()).unwrap_or_default();
        progress.push(bytes.iter().filter(|b| **b == b'\n').count());
    }
    let out = p.once(config);
    assert!(out.status.success(), "{}", stderr(&out));
    eprintln!("killed {kills} times");
    assert!(
        kills > 0,
        "the first run finished before any kill: the test proved nothing"
    );
    assert_exactly_once(&event_ids(&p.events()), &fixture_ids());
    assert_eq!(event_ids(&p.events()), fixture_ids(), "feed order is kept");
    let dead = std::fs::read(p.sandbox.path("dead.ndjson")).unwrap_or_default();
    assert!(dead.is_empty(), "no dead letters expected");
}

#[test]
fn fault_storms_end_with_the_same_output() {
    let clean = Pull::new();
    let out = clean.once("");
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = std::fs::read(clean.output_path()).unwrap();

    let p = Pull::new();
    p.fake.push_faults([
        Fault::RateLimited(Some(1)),
        Fault::ServerError(500, None),
        Fault::ServerError(503, None),
        Fault::ServerError(529, None),
        Fault::Slow(Duration::from_secs(3)),
        Fault::ServerError(503, Some(true)),
        Fault::RateLimited(None),
        Fault::ServerError(502, None),
    ]);
    let out = p.once("");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(p.output_path()).unwrap(), expected);
    let health = last_health(&stderr(&out));
    assert_eq!(health["retries"], 8, "{health}");
    assert_eq!(health["rate_limited"], 2, "{health}");
    // The retried requests were the same request: cursors never moved on a failure.
    let state = p.fake.state();
    let failed: Vec<usize> = (0..state.statuses.len())
        .filter(|&i| state.statuses[i] != 200)
        .collect();
    for i in failed {
        assert_eq!(
            state.requests[i],
            state.requests[i + 1],
            "request {i} was not retried as is"
        );
    }
}

#[test]
fn a_low_remaining_budget_pauses_until_the_reset() {
    let p = Pull::new();
    p.fake.state().budget = 10;
    p.fake.state().window = Duration::from_secs(2);
    // ~47 requests: five windows of 10, with 2 kept in reserve.
    let out = p.once("rate_limit_reserve = 2\npage_size = 7");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_exactly_once(&event_ids(&p.events()), &fixture_ids());
    let statuses = p.fake.state().statuses.clone();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "the poller ran into the limit instead of pausing: {statuses:?}"
    );
}

#[test]
fn a_late_activity_behind_the_cursor_is_picked_up() {
    let p = Pull::new();
    let (child, err_path) = p.daemon(&[]);
    wait_until("the first sync", Duration::from_secs(60), || {
        p.events().len() == 312
    });
    // Indexed late: created two minutes before the newest activity.
    let feed = std::fs::read_to_string(fixture("activities.ndjson")).unwrap();
    let mut late: Value = serde_json::from_str(feed.lines().last().unwrap()).unwrap();
    let newest = late["created_at"].as_str().unwrap().to_owned();
    let t = time::OffsetDateTime::parse(&newest, &time::format_description::well_known::Rfc3339)
        .unwrap()
        - time::Duration::minutes(2);
    late["created_at"] = t
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .into();
    late["id"] = "activity_01LATEARRIVAL00000000000000".into();
    p.fake.add_activity(&late.to_string());
    wait_until("the late activity", Duration::from_secs(30), || {
        p.events().len() == 313
    });
    std::thread::sleep(Duration::from_millis(1500));
    kill(child);
    let ids = event_ids(&p.events());
    let mut expected = fixture_ids();
    expected.push("activity_01LATEARRIVAL00000000000000".into());
    assert_exactly_once(&ids, &expected);
    let err = std::fs::read_to_string(&err_path).unwrap();
    assert!(!err.contains(KEY));
    assert_eq!(last_health(&err)["late_arrivals"], 1, "{err}");
}

#[test]
fn refused_keys_and_requests_exit_with_clear_messages() {
    // Unknown key: 401, exit 3, the message names where the key came from.
    let p = Pull::new();
    let (out, err) = p.once_with_key("sk-ant-api01-unknown");
    assert_eq!(out.status.code(), Some(EXIT_KEY_REFUSED), "{err}");
    assert!(
        err.contains("401") && err.contains(&format!("environment variable {KEY_ENV}")),
        "{err}"
    );

    // A key without the activities scope: 403, exit 3, the scope named.
    let p = Pull::new();
    p.fake
        .add_key("sk-ant-api01-userdata-only", &["read:compliance_user_data"]);
    let (out, err) = p.once_with_key("sk-ant-api01-userdata-only");
    assert_eq!(out.status.code(), Some(EXIT_KEY_REFUSED), "{err}");
    assert!(
        err.contains("403") && err.contains("read:compliance_activities"),
        "{err}"
    );

    // 400: exit 4 with the API's own message.
    let p = Pull::new();
    p.fake
        .push_faults([Fault::BadRequest("400-invalid-timestamp.json")]);
    let out = p.once("");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(EXIT_REQUEST_REFUSED), "{err}");
    assert!(err.contains("invalid timestamp format"), "{err}");
    assert!(err.contains("request-id req_fake"), "{err}");
    assert!(p.events().is_empty());

    // A deterministic 500 (x-should-retry: false) is not retried.
    let p = Pull::new();
    p.fake.push_faults([Fault::ServerError(500, Some(false))]);
    let out = p.once("");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(EXIT_REQUEST_REFUSED), "{err}");
    assert!(err.contains("x-should-retry: false"), "{err}");
    assert_eq!(
        p.fake.request_count(),
        1,
        "no retry after x-should-retry: false"
    );

    // A missing key variable is a plain error naming the variable.
    let p = Pull::new();
    let out = p
        .cmd("")
        .env_remove(KEY_ENV)
        .arg("--once")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(KEY_ENV), "{err}");
    assert_eq!(p.fake.request_count(), 0);
}

#[test]
fn an_invalid_activity_is_dead_lettered_with_its_page() {
    let p = Pull::new();
    p.fake.add_activity(
        r#"{"id":"activity_01ZZZINVALID","created_at":"2026-10-05T23:59:59.000000Z","type":"claude_chat_created","actor":"not an object"}"#,
    );
    let out = p.once("");
    assert_eq!(
        out.status.code(),
        Some(EXIT_DEAD_LETTERS),
        "{}",
        stderr(&out)
    );
    assert_eq!(p.events().len(), 312);
    let dead = read_ndjson(&std::fs::read(p.sandbox.path("dead.ndjson")).unwrap());
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["kind"], "wrong_type");
    assert_eq!(dead[0]["field"], "actor");
    assert!(
        dead[0]["source"]
            .as_str()
            .unwrap()
            .starts_with("compliance-api page")
    );
    assert!(dead[0]["line"].as_u64().unwrap() >= 1);
    // A second run does not dead-letter it again.
    let out = p.once("");
    assert!(out.status.success(), "{}", stderr(&out));
    let again = read_ndjson(&std::fs::read(p.sandbox.path("dead.ndjson")).unwrap());
    assert_eq!(again.len(), 1);
}

#[test]
fn metrics_endpoint_serves_prometheus_text() {
    let p = Pull::new();
    let (child, err_path) = p.daemon(&["--metrics-addr", "127.0.0.1:0"]);
    let mut url = String::new();
    wait_until("the metrics address", Duration::from_secs(30), || {
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        match err
            .lines()
            .find_map(|l| l.strip_prefix("claude-audit: pull: metrics at "))
        {
            Some(u) => {
                url = u.to_owned();
                true
            }
            None => false,
        }
    });
    let mut text = String::new();
    wait_until(
        "312 emitted in the metrics",
        Duration::from_secs(60),
        || {
            text = ureq::get(&url)
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .unwrap_or_default();
            text.contains("claude_audit_pull_emitted_total 312\n")
        },
    );
    kill(child);
    for metric in [
        "claude_audit_pull_pages_total",
        "claude_audit_pull_duplicates_dropped_total",
        "claude_audit_pull_retries_total",
        "claude_audit_pull_ingest_lag_seconds_max",
        "claude_audit_pull_cursor_lag_seconds",
        "claude_audit_pull_caught_up",
    ] {
        assert!(
            text.contains(&format!("\n{metric} ")),
            "{metric} missing:\n{text}"
        );
    }
}

#[test]
fn readme_pull_example_works() {
    let block = crate::util::readme_toml_block("### `claude-audit pull");
    let p = Pull::new();
    let config = block
        .replace(
            "[pull]\n",
            &format!("[pull]\nbase_url = \"{}\"\n", p.fake.base_url),
        )
        .replace(
            "/var/lib/claude-audit/pull-state.json",
            &p.sandbox.path("state.json").display().to_string(),
        )
        .replace(
            "/etc/claude-audit/hmac-k1.key",
            &fixture("test-hmac.key").display().to_string(),
        )
        // The fixture feed ends in October 2026.
        .replace("2026-11-01T00:00:00Z", "2026-10-01T00:00:00Z");
    let config = p.sandbox.write("readme-pull.toml", config);
    let out = Command::new(BIN)
        .current_dir(p.sandbox.dir.path())
        .env("ANTHROPIC_COMPLIANCE_KEY", KEY)
        .args(["pull", "--once", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_no_key(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = read_ndjson(&out.stdout);
    assert!(!events.is_empty());
    for e in &events {
        assert_ne!(e["event_type"], "compliance_api_accessed");
        assert!(e["timestamp"].as_str().unwrap() >= "2026-10-01");
        assert_eq!(e["redaction_metadata"]["key_id"], "k1");
    }
    let requests = p.fake.state().requests.clone();
    assert!(
        requests[0].contains("exclude_activity_types%5B%5D=compliance_api_accessed"),
        "{requests:?}"
    );
}

#[test]
fn profile_flag_writes_ocsf_and_is_refused_with_raw() {
    let p = Pull::new();
    let out = p
        .cmd("")
        .args(["--profile", "ocsf", "--once", "--output"])
        .arg(p.output_path())
        .output()
        .unwrap();
    assert_no_key(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    let events = p.events();
    assert_eq!(events.len(), 312);
    assert!(
        events
            .iter()
            .all(|e| e["metadata"]["version"] == "1.8.0" && e["class_uid"].is_u64())
    );
    let out = p
        .cmd("")
        .args(["--profile", "ecs", "--once", "--raw"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--raw"), "{}", stderr(&out));
}

/// Send `signal` to `child`.
fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) on our own child's pid; no memory involved.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

/// Wait (bounded) for `child` to exit; its exit code.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(
            start.elapsed() < timeout,
            "pull did not exit in {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The checkpoint's committed length of the output file.
fn committed_output(p: &Pull) -> u64 {
    let state: Value =
        serde_json::from_slice(&std::fs::read(p.sandbox.path("state.json")).unwrap()).unwrap();
    state["output"]["bytes"].as_u64().unwrap_or(0)
}

#[test]
fn sigterm_finishes_the_page_in_flight_and_exits_0() {
    let p = Pull::new();
    // ~63 pages of 5 at 100 ms each: the signal lands mid-walk, while a
    // request is in flight.
    p.fake.state().delay = Duration::from_millis(100);
    p.fake.state().budget = 1_000_000;
    let (mut child, err_path) = p.daemon(&["--once"]);
    wait_until("a few pages", Duration::from_secs(60), || {
        p.fake.request_count() >= 5
    });
    signal(&child, libc::SIGTERM);
    let code = wait_exit(&mut child, Duration::from_secs(10));
    let err = std::fs::read_to_string(&err_path).unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("stopped by a signal"), "{err}");
    let written = std::fs::read(p.output_path()).unwrap();
    assert_eq!(
        written.len() as u64,
        committed_output(&p),
        "the checkpoint covers exactly what was written"
    );
    let partial = event_ids(&p.events());
    let all = fixture_ids();
    assert!(
        !partial.is_empty() && partial.len() < all.len(),
        "stopped mid-walk"
    );
    assert_eq!(
        partial[..],
        all[..partial.len()],
        "a prefix of the feed, in order"
    );
    assert_eq!(last_health(&err)["emitted"], partial.len() as u64);
    // The next run continues from the checkpoint: every activity once.
    p.fake.state().delay = Duration::ZERO;
    let out = p.once("");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(event_ids(&p.events()), all, "exactly once, in order");
}

#[test]
fn a_request_in_flight_past_the_drain_time_is_abandoned() {
    let p = Pull::new();
    p.fake.push_faults([Fault::Slow(Duration::from_secs(20))]);
    let err_path = p.sandbox.path("stderr.txt");
    let mut child = p
        .cmd("request_timeout_secs = 60")
        .args(["--once", "--drain-secs", "1", "--output"])
        .arg(p.output_path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    wait_until("the first request", Duration::from_secs(60), || {
        let exited = child.try_wait().unwrap();
        assert!(
            exited.is_none(),
            "{}",
            std::fs::read_to_string(&err_path).unwrap()
        );
        p.fake.request_count() > 0
    });
    std::thread::sleep(Duration::from_millis(200));
    let signalled = Instant::now();
    signal(&child, libc::SIGTERM);
    let code = wait_exit(&mut child, Duration::from_secs(10));
    let err = std::fs::read_to_string(&err_path).unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "bounded by --drain-secs"
    );
    assert!(err.contains("abandoning the request in flight"), "{err}");
    assert!(p.events().is_empty(), "the abandoned page was not written");
    let out = p.once("");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(event_ids(&p.events()), fixture_ids());
}

/// `--evidence`: the store is committed with the cursor, so after kills at
/// random moments it holds each activity's event exactly once, byte for
/// byte the same as the output file, and verifies.
#[test]
fn kill_9_with_an_evidence_store_keeps_it_exactly_once() {
    let p = Pull::new();
    p.fake.state().delay = Duration::from_millis(15);
    p.fake.state().budget = 1_000_000;
    let config = "page_size = 5";
    let key = p.sandbox.path("evidence.key");
    let out = Command::new(BIN)
        .args(["keys", "generate", "--name", "test.example/pull", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let vkey = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let store = p.sandbox.path("store");
    let evidence = |cmd: &mut Command| {
        cmd.arg("--evidence")
            .arg(&store)
            .arg("--evidence-key-file")
            .arg(&key)
            .args(["--checkpoint-every", "7"]);
    };
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("pull evidence kill -9 test seed {seed}");
    let mut kills = 0;
    for _ in 0..6 {
        let mut cmd = p.cmd(config);
        cmd.args(["--once", "--output"]).arg(p.output_path());
        evidence(&mut cmd);
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(300 + seed % 1500));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let _ = child.kill();
        let _ = child.wait();
        kills += 1;
    }
    let mut cmd = p.cmd(config);
    cmd.args(["--once", "--output"]).arg(p.output_path());
    evidence(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(kills > 0, "no kill landed: the test proved nothing");
    assert_eq!(event_ids(&p.events()), fixture_ids(), "output exactly once");
    let segment = std::fs::read(store.join("segments/00000000000000000000.ndjson")).unwrap();
    assert_eq!(
        segment,
        std::fs::read(p.output_path()).unwrap(),
        "the store holds the output byte for byte"
    );
    let out = Command::new(BIN)
        .arg("verify")
        .arg(&store)
        .arg("--key")
        .arg(&vkey)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}
