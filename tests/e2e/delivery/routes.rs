//! The route × agent × proven-level table. The delivery tests run exactly the routes this
//! table marks `delivered`, the outage tests those marked `outage`, and a test checks that
//! `pipelines/README.md` shows the same table, so the documentation cannot claim more (or
//! less) than the tests prove.

use crate::util::repo_file;

/// What the tests prove for one route in one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The agent loads the configuration (`--dry-run`, `vector validate` + `vector test`).
    Validated,
    /// Every fixture record arrives at a loopback receiver, equal to `claude-audit run`.
    Delivered,
    /// Delivered, and also after the receiver was down for a while (disk buffers held).
    Outage,
}

impl Level {
    /// The word the README table uses.
    pub fn word(self) -> &'static str {
        match self {
            Level::Validated => "validated",
            Level::Delivered => "delivered",
            Level::Outage => "delivered + outage",
        }
    }
}

/// One destination and the names of its block in the committed files.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The stable key the tests use.
    pub key: &'static str,
    /// The README's name for it.
    pub title: &'static str,
    /// The output's `name` in `fluent-bit/siem-outputs.yaml`.
    pub fluent_bit_output: &'static str,
    /// The sink's key in `vector/siem-sinks.yaml`.
    pub vector_sink: &'static str,
    /// What the Fluent Bit tests prove.
    pub fluent_bit: Level,
    /// What the Vector tests prove.
    pub vector: Level,
    /// The output profile the route gets (`canonical`, `ecs`, `ocsf`).
    pub profile: &'static str,
}

use Level::*;

const fn route(
    key: &'static str,
    title: &'static str,
    names: (&'static str, &'static str),
    levels: (Level, Level),
) -> Route {
    let profile = match key.as_bytes() {
        b"elasticsearch" | b"opensearch" => "ecs",
        b"s3" | b"secops" => "ocsf",
        _ => "canonical",
    };
    Route {
        key,
        title,
        fluent_bit_output: names.0,
        vector_sink: names.1,
        fluent_bit: levels.0,
        vector: levels.1,
        profile,
    }
}

/// The profiles the routes use, each fed by its own chain (Fluent Bit) or source (Vector).
pub const PROFILES: &[&str] = &["canonical", "ecs", "ocsf"];

/// Every route of `siem-outputs.yaml` / `siem-sinks.yaml`. Kafka, and SecOps in Fluent Bit,
/// stay `validated`: see the README for why they cannot be run on loopback.
pub const ROUTES: &[Route] = &[
    route(
        "splunk",
        "Splunk HEC",
        ("splunk", "splunk"),
        (Delivered, Delivered),
    ),
    route(
        "elasticsearch",
        "Elasticsearch `_bulk`",
        ("es", "elasticsearch"),
        (Delivered, Delivered),
    ),
    route(
        "opensearch",
        "OpenSearch `_bulk`",
        ("opensearch", "opensearch"),
        (Delivered, Delivered),
    ),
    route(
        "datadog",
        "Datadog logs",
        ("datadog", "datadog"),
        (Delivered, Delivered),
    ),
    route(
        "webhook",
        "HTTP webhook (ticketing)",
        ("http", "webhook"),
        (Outage, Outage),
    ),
    route(
        "s3",
        "S3 with Object Lock",
        ("s3", "evidence_s3"),
        (Delivered, Delivered),
    ),
    route(
        "cloudwatch",
        "CloudWatch Logs",
        ("cloudwatch_logs", "cloudwatch"),
        (Delivered, Delivered),
    ),
    route(
        "sentinel",
        "Microsoft Sentinel",
        ("azure_logs_ingestion", "sentinel"),
        (Delivered, Delivered),
    ),
    route("kafka", "Kafka", ("kafka", "kafka"), (Validated, Validated)),
    route(
        "secops",
        "Google SecOps",
        ("chronicle", "secops"),
        (Validated, Delivered),
    ),
];

/// The alert routes of `fluent-bit/alerts.yaml` / `vector/alerts.yaml` (alerts only, canonical
/// alert events or bodies built from them): (key, README title). `alerts.rs` delivers to each
/// of them in both agents, so their rows read `delivered`.
pub const ALERT_ROUTES: &[(&str, &str)] = &[
    ("siem", "Alerts: SIEM (Splunk HEC), every alert"),
    (
        "ticketing",
        "Alerts: ticketing webhook (ServiceNow incident), every alert",
    ),
    (
        "pagerduty",
        "Alerts: PagerDuty Events v2, high and critical",
    ),
];

/// The README table between its markers, as (title, profile, Fluent Bit, Vector) rows.
fn readme_rows() -> Vec<[String; 4]> {
    let readme = std::fs::read_to_string(repo_file("pipelines/README.md")).unwrap();
    let start = readme
        .find("<!-- routes:begin -->")
        .expect("routes:begin marker");
    let end = readme
        .find("<!-- routes:end -->")
        .expect("routes:end marker");
    readme[start..end]
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| Route"))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            let cells: [String; 4] = cells
                .try_into()
                .unwrap_or_else(|_| panic!("route row of 4 cells: {l}"));
            cells
        })
        .collect()
}

#[test]
fn readme_route_table_matches_the_tests() {
    let expected: Vec<[String; 4]> = ROUTES
        .iter()
        .map(|r| {
            let word = |l: Level| l.word().to_string();
            let profile = format!("`{}`", r.profile);
            [
                r.title.to_string(),
                profile,
                word(r.fluent_bit),
                word(r.vector),
            ]
        })
        .chain(ALERT_ROUTES.iter().map(|(_, title)| {
            let word = Level::Delivered.word().to_string();
            [title.to_string(), "`canonical`".into(), word.clone(), word]
        }))
        .collect();
    assert_eq!(
        readme_rows(),
        expected,
        "pipelines/README.md's route table differs from tests/e2e/delivery/routes.rs"
    );
}

#[test]
fn every_route_names_a_committed_block() {
    let fb = std::fs::read_to_string(repo_file("pipelines/fluent-bit/siem-outputs.yaml")).unwrap();
    let vec = std::fs::read_to_string(repo_file("pipelines/vector/siem-sinks.yaml")).unwrap();
    for r in ROUTES {
        let output = format!("    - name: {}\n", r.fluent_bit_output);
        assert!(
            fb.contains(&output),
            "siem-outputs.yaml: no output {}",
            r.fluent_bit_output
        );
        let sink = format!("\n  {}:\n", r.vector_sink);
        assert!(
            vec.contains(&sink),
            "siem-sinks.yaml: no sink {}",
            r.vector_sink
        );
    }
}
