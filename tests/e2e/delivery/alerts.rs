//! Alert routing through the real agents (issue 11 item 7): `fluent-bit/alerts.yaml` and
//! `vector/alerts.yaml` as committed, pointed at loopback receivers. The input is what the
//! poller writes with detections on: `claude-audit simulate` (a small organization with every
//! attack scenario) through `claude-audit run` with the rule pack, events and alerts in one
//! stream. Every alert (and nothing else) must reach the SIEM unchanged and the ticketing
//! webhook as a ServiceNow incident; exactly the high and critical ones must reach PagerDuty
//! as Events v2 triggers with the routing key from the secret and `dedup_key` = the alert id.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use yaml_rust2::Yaml;
use yaml_rust2::yaml::Hash;

use super::receivers::{Kind, Receiver, event_id};
use super::{credential, spawn, stop};
use crate::pipelines::*;
use crate::util::{BIN, Sandbox, read_ndjson, repo_file};

/// The PagerDuty routing key and ticketing password the receivers insist on (test values).
const ROUTING_KEY: &str = "pagerduty-test-routing-key";
const TICKETING_PASSWORD: &str = "ticketing-test-password";

/// The events-and-alerts stream and the alerts in it.
struct Input {
    sb: Sandbox,
    events: PathBuf,
    /// Alerts with `is_alert` true (parity signals are off in the test policy).
    alerts: Vec<Value>,
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("run claude-audit");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Simulate a small organization (every attack scenario) and run the rule pack over it.
fn input() -> Input {
    let sb = Sandbox::new();
    let (feed, events) = (sb.path("feed.ndjson"), sb.path("events.ndjson"));
    run_ok(
        Command::new(BIN)
            .args(["simulate", "--days", "9", "--users", "6", "--seed", "7"])
            .args([
                "--output".as_ref(),
                feed.as_os_str(),
                "--labels".as_ref(),
                sb.path("labels.ndjson").as_os_str(),
            ]),
    );
    let config = sb.write(
        "detect.toml",
        "[plugin.detections]\nenabled = true\nsignals = false\n",
    );
    let alerts_file = sb.path("alerts.ndjson");
    run_ok(
        Command::new(BIN)
            .args(["run", "--no-progress", "--ephemeral-key", "--config"])
            .arg(&config)
            .arg("--output")
            .arg(&events)
            .arg("--alerts")
            .arg(&alerts_file)
            .arg(&feed),
    );
    let alerts: Vec<Value> = read_ndjson(&std::fs::read(&alerts_file).unwrap())
        .into_iter()
        .filter(|a| a["is_alert"] == true)
        .collect();
    let severities: BTreeSet<&str> = alerts
        .iter()
        .filter_map(|a| a["rule"]["severity"].as_str())
        .collect();
    // Both sides of the severity filter must be present, or the test proves nothing.
    assert!(
        severities.contains("medium") && severities.iter().any(|s| pageable(s)),
        "the simulated alerts lack a severity mix: {severities:?}"
    );
    Input { sb, events, alerts }
}

fn pageable(severity: &str) -> bool {
    matches!(severity, "high" | "critical")
}

/// The three alert routes' receivers.
struct Routes {
    siem: Receiver,
    ticketing: Receiver,
    pagerduty: Receiver,
}

/// Whether the agent resends a record whose own request failed. Fluent Bit 5.1.1's `http`
/// output in body_key mode (one request per record) did not: with PagerDuty's first request
/// answered 429, that alert never arrived (README). Its test therefore injects no 429.
fn resends_failed_records(agent: &str) -> bool {
    agent == "vector"
}

impl Routes {
    fn start(agent: &str) -> Self {
        let pagerduty = Receiver::start(Kind::PagerDuty, ROUTING_KEY);
        pagerduty.seen().fail_first_item = resends_failed_records(agent);
        Self {
            siem: Receiver::start(Kind::Splunk, credential("splunk")),
            ticketing: Receiver::start(Kind::Webhook, TICKETING_PASSWORD),
            pagerduty,
        }
    }

    /// The routes in the order of `routes::ALERT_ROUTES` (the README's rows).
    fn all(&self) -> [(&'static str, &Receiver); 3] {
        let all = [
            ("siem", &self.siem),
            ("ticketing", &self.ticketing),
            ("pagerduty", &self.pagerduty),
        ];
        let keys: Vec<&str> = super::routes::ALERT_ROUTES.iter().map(|r| r.0).collect();
        assert_eq!(
            keys,
            all.map(|r| r.0),
            "routes.rs lists the routes tested here"
        );
        all
    }

    fn wait(&self, alerts: &[Value], child: &mut std::process::Child, log: &std::path::Path) {
        let all: BTreeSet<String> = ids(alerts.iter());
        let paged = ids(alerts.iter().filter(|a| pageable(severity(a))));
        let deadline = Instant::now() + super::DELIVERY_DEADLINE;
        while Instant::now() < deadline {
            let has = |rx: &Receiver, want: &BTreeSet<String>| {
                want.iter().all(|id| rx.seen().events.contains_key(id))
            };
            if has(&self.siem, &all) && has(&self.ticketing, &all) && has(&self.pagerduty, &paged) {
                return;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                panic!("the agent exited early: {status}\n{log}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn severity(alert: &Value) -> &str {
    alert["rule"]["severity"].as_str().unwrap_or_default()
}

fn ids<'a>(events: impl Iterator<Item = &'a Value>) -> BTreeSet<String> {
    events.map(|e| event_id(e).unwrap().to_string()).collect()
}

/// Every route holds exactly its alerts, in its shape, and nothing else.
fn check(agent: &str, routes: &Routes, alerts: &[Value]) {
    let by_id: BTreeMap<String, &Value> = alerts
        .iter()
        .map(|a| (a["event_id"].as_str().unwrap().to_string(), a))
        .collect();
    for (name, rx) in routes.all() {
        let seen = rx.seen();
        assert_eq!(seen.unauthorized, 0, "{agent} -> {name}: bad credentials");
        let want: BTreeSet<String> = match name {
            "pagerduty" => ids(alerts.iter().filter(|a| pageable(severity(a)))),
            _ => by_id.keys().cloned().collect(),
        };
        let got: BTreeSet<String> = seen.events.keys().cloned().collect();
        assert_eq!(got, want, "{agent} -> {name}: the alert ids delivered");
        for (id, copies) in &seen.events {
            let alert = by_id[id];
            // Delivery is at least once (pipelines/README.md): a request the agent retried after
            // a timeout can arrive twice. PagerDuty folds repeats by `dedup_key` and the ticketing
            // side updates by `correlation_id` (both the alert id), so identical repeats are allowed
            // there (each copy is checked in full below); the SIEM must see each alert once.
            if name == "siem" {
                assert_eq!(copies.len(), 1, "{agent} -> {name}: {id} delivered twice");
            }
            assert!(
                copies.windows(2).all(|w| w[0] == w[1]),
                "{agent} -> {name}: the copies of {id} differ"
            );
            for copy in copies {
                match name {
                    "siem" => assert_eq!(normalized(copy), normalized(alert), "{agent}: {id}"),
                    "ticketing" => check_ticket(agent, copy, alert),
                    _ => check_page(agent, copy, alert),
                }
            }
        }
    }
    if resends_failed_records(agent) {
        assert!(
            routes.pagerduty.seen().refused > 0,
            "{agent}: no 429 happened"
        );
    }
    assert!(routes.siem.seen().refused > 0, "{agent}: no SIEM refusal");
}

fn check_details(agent: &str, details: &Value, alert: &Value) {
    let label = format!("{agent}: {}", alert["event_id"]);
    assert_eq!(details["alert_id"], alert["event_id"], "{label}");
    assert_eq!(details["rule_id"], alert["rule"]["id"], "{label}");
    assert_eq!(details["severity"], alert["rule"]["severity"], "{label}");
    assert_eq!(details["group_key"], alert["group"]["key"], "{label}");
    assert_eq!(
        details["related_events"], alert["related_events"],
        "{label}"
    );
}

fn check_ticket(agent: &str, ticket: &Value, alert: &Value) {
    let (urgency, impact) = match severity(alert) {
        "critical" => ("1", "1"),
        "high" => ("1", "2"),
        "medium" => ("2", "2"),
        _ => ("3", "3"),
    };
    assert_eq!(ticket["urgency"], urgency, "{agent}: {ticket}");
    assert_eq!(ticket["impact"], impact, "{agent}: {ticket}");
    assert_eq!(ticket["category"], "security");
    let title = ticket["short_description"].as_str().unwrap();
    assert!(
        title.contains(alert["rule"]["id"].as_str().unwrap()),
        "{title}"
    );
    check_details(agent, &ticket["u_claude_audit"], alert);
}

fn check_page(agent: &str, page: &Value, alert: &Value) {
    let want = if severity(alert) == "critical" {
        "critical"
    } else {
        "error"
    };
    assert_eq!(page["routing_key"], ROUTING_KEY);
    assert_eq!(page["event_action"], "trigger");
    assert_eq!(page["payload"]["severity"], want, "{agent}: {page}");
    assert_eq!(page["payload"]["timestamp"], alert["timestamp"]);
    assert_eq!(page["payload"]["source"], "claude-audit");
    check_details(agent, &page["payload"]["custom_details"], alert);
}

fn set(map: &mut Hash, key: &str, value: &str) {
    map.insert(s(key), s(value));
}

/// alerts.yaml for Fluent Bit, pointed at the receivers (hosts through its `${VAR}`s).
fn fluent_bit_config(input: &Input, routes: &Routes) -> (PathBuf, Vec<(String, String)>) {
    let committed = load(&repo_file("pipelines/fluent-bit/alerts.yaml"));
    let sb = &input.sb;
    let mut service = committed["service"].as_hash().unwrap().clone();
    set(
        &mut service,
        "storage.path",
        &sb.path("fb-storage").display().to_string(),
    );
    set(&mut service, "scheduler.base", "1");
    set(&mut service, "scheduler.cap", "2");
    let mut tail = list(&committed, "pipeline", "inputs")[0]
        .as_hash()
        .unwrap()
        .clone();
    set(&mut tail, "path", &input.events.display().to_string());
    set(
        &mut tail,
        "db",
        &sb.path("fb-tail.db").display().to_string(),
    );
    let lua = repo_file("pipelines/fluent-bit/claude-audit-alerts.lua");
    let filters: Vec<Yaml> = list(&committed, "pipeline", "filters")
        .iter()
        .map(|f| {
            let mut f = f.as_hash().unwrap().clone();
            if f.contains_key(&s("script")) {
                set(&mut f, "script", &lua.display().to_string());
            }
            Yaml::Hash(f)
        })
        .collect();
    let outputs: Vec<Yaml> = list(&committed, "pipeline", "outputs")
        .iter()
        .map(|o| {
            let mut o = o.as_hash().unwrap().clone();
            let rx = match get_str(&Yaml::Hash(o.clone()), "match").as_deref() {
                Some("claude.alerts.*") => &routes.siem,
                Some("claude.ticket.*") => &routes.ticketing,
                _ => &routes.pagerduty,
            };
            set(&mut o, "host", "127.0.0.1");
            set(&mut o, "port", &rx.addr.port().to_string());
            set(&mut o, "tls", "off");
            Yaml::Hash(o)
        })
        .collect();
    let pipeline = hash(&[
        ("inputs", Yaml::Array(vec![Yaml::Hash(tail)])),
        ("filters", Yaml::Array(filters)),
        ("outputs", Yaml::Array(outputs)),
    ]);
    let doc = hash(&[
        ("service", Yaml::Hash(service)),
        ("parsers", committed["parsers"].clone()),
        ("pipeline", pipeline),
    ]);
    let env = [
        ("SPLUNK_HEC_HOST", "127.0.0.1"),
        ("SPLUNK_HEC_TOKEN", credential("splunk")),
        ("TICKETING_HOST", "127.0.0.1"),
        ("TICKETING_USER", "claude_audit_integration"),
        ("TICKETING_PASSWORD", TICKETING_PASSWORD),
        ("PAGERDUTY_ROUTING_KEY", ROUTING_KEY),
    ];
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (sb.write("fluent-bit-alerts.yaml", yaml_text(&doc)), env)
}

/// alerts.yaml for Vector: the committed secret backends pointed at test files, the sinks'
/// URIs at the receivers, short ack and retry intervals.
fn vector_config(input: &Input, routes: &Routes) -> PathBuf {
    let committed = load(&repo_file("pipelines/vector/alerts.yaml"));
    let sb = &input.sb;
    let settings = serde_json::json!({
        "splunk_hec_endpoint": format!("http://{}", routes.siem.addr),
        "ticketing_user": "claude_audit_integration",
    });
    let settings_file = sb.write("settings.json", settings.to_string());
    let secrets = sb.path("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    for (key, value) in [
        ("splunk_hec_token", credential("splunk")),
        ("ticketing_password", TICKETING_PASSWORD),
        ("pagerduty_routing_key", ROUTING_KEY),
    ] {
        std::fs::write(secrets.join(key), format!("{value}\n")).unwrap();
    }
    let example = load(&repo_file(VECTOR_EXAMPLE_BACKENDS));
    let mut backends = example["secret"].as_hash().unwrap().clone();
    for (name, path) in [
        (VECTOR_SETTINGS_BACKEND, &settings_file),
        (VECTOR_SECRETS_BACKEND, &secrets),
    ] {
        let mut b = backends[&s(name)].as_hash().unwrap().clone();
        set(&mut b, "path", &path.display().to_string());
        backends.insert(s(name), Yaml::Hash(b));
    }
    let mut source = committed["sources"]["claude_audit_alert_file"]
        .as_hash()
        .unwrap()
        .clone();
    source.insert(
        s("include"),
        Yaml::Array(vec![s(&input.events.display().to_string())]),
    );
    let mut sinks = committed["sinks"].as_hash().unwrap().clone();
    let mut edit = |name: &str, f: &dyn Fn(&mut Hash)| {
        let mut sink = sinks[&s(name)].as_hash().unwrap().clone();
        f(&mut sink);
        let mut request = Hash::new();
        request.insert(s("retry_initial_backoff_secs"), Yaml::Integer(1));
        request.insert(s("retry_max_duration_secs"), Yaml::Integer(2));
        if let Some(Yaml::Hash(old)) = sink.get(&s("request")) {
            for (k, v) in old {
                request.insert(k.clone(), v.clone());
            }
        }
        sink.insert(s("request"), Yaml::Hash(request));
        sinks.insert(s(name), Yaml::Hash(sink));
    };
    let ticket_uri = format!("http://{}/api/now/table/incident", routes.ticketing.addr);
    edit("alert_ticketing", &|k: &mut Hash| {
        set(k, "uri", &ticket_uri)
    });
    let page_uri = format!("http://{}/v2/enqueue", routes.pagerduty.addr);
    edit("alert_pagerduty", &|k: &mut Hash| set(k, "uri", &page_uri));
    edit("alert_siem", &|k: &mut Hash| {
        let mut acks = k[&s("acknowledgements")].as_hash().unwrap().clone();
        acks.insert(s("query_interval"), Yaml::Integer(1));
        k.insert(s("acknowledgements"), Yaml::Hash(acks));
    });
    let dead = sb.path("vector-alerts-dead.ndjson").display().to_string();
    if let Some(Yaml::Hash(d)) = sinks.get_mut(&s("claude_audit_alert_dead_letter")) {
        set(d, "path", &dead);
    }
    let data_dir = sb.path("vector-alerts-data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let doc = hash(&[
        ("data_dir", s(&data_dir.display().to_string())),
        ("log_schema", committed["log_schema"].clone()),
        ("secret", Yaml::Hash(backends)),
        (
            "sources",
            hash(&[("claude_audit_alert_file", Yaml::Hash(source))]),
        ),
        ("transforms", committed["transforms"].clone()),
        ("sinks", Yaml::Hash(sinks)),
    ]);
    sb.write("vector-alerts.yaml", yaml_text(&doc))
}

fn deliver(agent: &str, cmd: Command, input: &Input, routes: &Routes) {
    let log = input.sb.path(&format!("{agent}-alerts.log"));
    let mut child = spawn(cmd, &log);
    let started = Instant::now();
    routes.wait(&input.alerts, &mut child, &log);
    eprintln!(
        "{agent} alerts: delivered in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    stop(child);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check(agent, routes, &input.alerts)
    }));
    if let Err(e) = result {
        eprintln!("--- {agent} log (tail) ---\n{}", super::log_tail(&log));
        std::panic::resume_unwind(e);
    }
}

#[test]
fn fluent_bit_routes_alerts_by_severity() {
    let Some(bin) = fluent_bit() else { return };
    let input = input();
    let routes = Routes::start("fluent-bit");
    let (config, env) = fluent_bit_config(&input, &routes);
    let mut cmd = Command::new(bin);
    cmd.arg("-c").arg(config).envs(env);
    deliver("fluent-bit", cmd, &input, &routes);
}

#[test]
fn vector_routes_alerts_by_severity() {
    let Some(bin) = vector() else { return };
    let input = input();
    let routes = Routes::start("vector");
    let mut cmd = Command::new(bin);
    cmd.arg("--config").arg(vector_config(&input, &routes));
    deliver("vector", cmd, &input, &routes);
}
