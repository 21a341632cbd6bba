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
}

use Level::*;

const fn route(
    key: &'static str,
    title: &'static str,
    names: (&'static str, &'static str),
    levels: (Level, Level),
) -> Route {
    Route {
        key,
        title,
        fluent_bit_output: names.0,
        vector_sink: names.1,
        fluent_bit: levels.0,
        vector: levels.1,
    }
}

/// Every route of `siem-outputs.yaml` / `siem-sinks.yaml`. Sentinel, Kafka and SecOps stay
/// `validated`: see the README for why they cannot be pointed entirely at loopback.
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
        (Validated, Validated),
    ),
    route(
        "sentinel",
        "Microsoft Sentinel",
        ("azure_logs_ingestion", "sentinel"),
        (Validated, Validated),
    ),
    route("kafka", "Kafka", ("kafka", "kafka"), (Validated, Validated)),
    route(
        "secops",
        "Google SecOps",
        ("chronicle", "secops"),
        (Validated, Validated),
    ),
];

/// The README table between its markers, as (title, Fluent Bit, Vector) rows.
fn readme_rows() -> Vec<(String, String, String)> {
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
            assert_eq!(cells.len(), 3, "route row: {l}");
            (cells[0].clone(), cells[1].clone(), cells[2].clone())
        })
        .collect()
}

#[test]
fn readme_route_table_matches_the_tests() {
    let expected: Vec<(String, String, String)> = ROUTES
        .iter()
        .map(|r| {
            let word = |l: Level| l.word().to_string();
            (r.title.to_string(), word(r.fluent_bit), word(r.vector))
        })
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
