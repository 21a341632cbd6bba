//! The Vector route of Claude Code telemetry (issue 14, item 4): the committed
//! `pipelines/vector/otel-claude-code.yaml` in the real Vector (`VECTOR_BIN`),
//! its `opentelemetry` source fed with the shared fixtures as an OTLP/HTTP
//! exporter sends them, its `http` sinks posting to a real `claude-audit serve`
//! hop, whose events come back through the pipeline's `http_server` source. The
//! events at the sink equal those of a direct export to `serve`; the planted
//! secrets never reach it; nothing is lost or dead-lettered.
//!
//! Changed for loopback: the listen addresses, the hop's URIs, `data_dir`, and
//! the Splunk sink replaced by a `file` sink reading the same transform.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;
use yaml_rust2::Yaml;

use crate::delivery::moto::free_port;
use crate::delivery::vector::set;
use crate::pipelines::{VECTOR_EXAMPLE_BACKENDS, hash, load, normalized, s, vector, yaml_text};
use crate::serve::{Receiver, Serve};
use crate::telemetry::{
    LOGS, METRICS, PLANTED, by_id, fixture_json, logs_protobuf, metrics_protobuf, post_otlp,
    post_otlp_to, received,
};
use crate::util::{Sandbox, read_ndjson, repo_file};

const PIPELINE: &str = "pipelines/vector/otel-claude-code.yaml";
const PROTOBUF: &str = "application/x-protobuf";

/// The events of the fixtures (logs, metrics) exported as protobuf straight to `serve`.
fn direct_export(logs: &[u8], metrics: &[u8]) -> Vec<Value> {
    let receiver = Receiver::start(0);
    let serve = Serve::start(&receiver.url, &[]);
    for (path, body) in [("/v1/logs", logs), ("/v1/metrics", metrics)] {
        let (status, answer) = post_otlp(&serve, path, PROTOBUF, false, body);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }
    let events = received(&receiver);
    assert!(read_ndjson(&std::fs::read(serve.dead_letter_path()).unwrap()).is_empty());
    events
}

/// The `serve` hop of the pipeline's header comment: forwards to the `http_server` source with
/// the Basic credentials of the example secret.
fn start_hop(events_port: u16) -> Serve {
    let password = std::fs::read_to_string(repo_file(
        "pipelines/vector/example/secrets/vector_ingest_password",
    ))
    .unwrap();
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("claude-audit:{}", password.trim_end()));
    Serve::start_with_env(
        &format!("http://127.0.0.1:{events_port}/claude-audit"),
        &["--forward-auth-env", "CLAUDE_AUDIT_FORWARD_AUTH"],
        &[("CLAUDE_AUDIT_FORWARD_AUTH", &format!("Basic {basic}"))],
    )
}

/// The committed pipeline with loopback addresses, the hop's address, and a file sink.
fn loopback_config(sb: &Sandbox, otlp_port: u16, events_port: u16, hop: &str) -> String {
    let mut doc = load(&repo_file(PIPELINE));
    let Yaml::Hash(root) = &mut doc else {
        panic!("{PIPELINE}: a map")
    };
    let data_dir = sb.path("vector-data");
    std::fs::create_dir_all(&data_dir).unwrap();
    set(root, &["data_dir"], s(&data_dir.display().to_string()));
    let otlp = ["sources", "claude_code_otlp"];
    let http = format!("127.0.0.1:{otlp_port}");
    let grpc = format!("127.0.0.1:{}", free_port());
    set(root, &[otlp[0], otlp[1], "http", "address"], s(&http));
    set(root, &[otlp[0], otlp[1], "grpc", "address"], s(&grpc));
    let events = format!("127.0.0.1:{events_port}");
    set(
        root,
        &["sources", "from_claude_audit_serve", "address"],
        s(&events),
    );
    for (sink, path) in [
        ("claude_code_logs_to_serve", "/v1/logs"),
        ("claude_code_metrics_to_serve", "/v1/metrics"),
    ] {
        set(root, &["sinks", sink, "uri"], s(&format!("{hop}{path}")));
    }
    let Some(Yaml::Hash(sinks)) = root.get_mut(&s("sinks")) else {
        panic!("{PIPELINE}: sinks")
    };
    sinks.remove(&s("splunk"));
    let file_sink = hash(&[
        ("type", s("file")),
        ("inputs", Yaml::Array(vec![s("claude_code_events")])),
        ("path", s(&sb.path("events.ndjson").display().to_string())),
        ("encoding", hash(&[("codec", s("json"))])),
    ]);
    sinks.insert(s("events_file"), file_sink);
    root.remove(&s("tests"));
    yaml_text(&doc)
}

/// POST until Vector listens (it takes a moment to start).
fn post_when_listening(url: &str, content_type: &str, gzip: bool, body: &[u8]) -> (u16, Vec<u8>) {
    let start = Instant::now();
    loop {
        match post_otlp_to(url, content_type, gzip, body) {
            Ok(answer) => return answer,
            Err(_) if start.elapsed() < Duration::from_secs(30) => {
                thread::sleep(Duration::from_millis(100))
            }
            Err(e) => panic!("vector did not listen on {url}: {e}"),
        }
    }
}

/// The events in the sink file once `count` arrived (or after 30 s), without Vector's
/// `@timestamp` (checked against `timestamp`), numbers compared by value.
fn sink_events(path: &Path, count: usize, vector: &mut Child) -> Vec<Value> {
    let start = Instant::now();
    while read_ndjson(&std::fs::read(path).unwrap_or_default()).len() < count
        && start.elapsed() < Duration::from_secs(30)
    {
        thread::sleep(Duration::from_millis(200));
    }
    // A moment more: anything beyond `count` would be a duplicate.
    thread::sleep(Duration::from_millis(1500));
    let _ = vector.kill();
    let _ = vector.wait();
    let got = read_ndjson(&std::fs::read(path).unwrap_or_default());
    got.into_iter()
        .map(|mut e| {
            let at = e.as_object_mut().unwrap().remove("@timestamp");
            assert!(at.is_some(), "the remap sets @timestamp: {e}");
            normalized(&e)
        })
        .collect()
}

#[test]
fn vector_otel_route_delivers_the_events_of_a_direct_export_to_serve() {
    let Some(bin) = vector() else { return };
    let logs = logs_protobuf(&fixture_json(LOGS));
    let metrics = metrics_protobuf(&fixture_json(METRICS));
    let expected: Vec<Value> = direct_export(&logs, &metrics)
        .iter()
        .map(normalized)
        .collect();
    assert_eq!(expected.len(), 25, "15 log records + 10 usage data points");

    let sb = Sandbox::new();
    let (otlp_port, events_port) = (free_port(), free_port());
    let hop = start_hop(events_port);
    let hop_base = hop.ingest.trim_end_matches("/ingest").to_owned();
    let config = sb.write(
        "vector.yaml",
        loopback_config(&sb, otlp_port, events_port, &hop_base),
    );
    let mut child = Command::new(&bin)
        .current_dir(repo_file(""))
        .env_clear()
        .arg("--config")
        .arg(repo_file(VECTOR_EXAMPLE_BACKENDS))
        .arg("--config")
        .arg(&config)
        .stdout(std::fs::File::create(sb.path("vector.log")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vector");

    let base = format!("http://127.0.0.1:{otlp_port}");
    let json = std::fs::read(crate::util::fixture(LOGS)).unwrap();
    let (status, _) =
        post_when_listening(&format!("{base}/v1/logs"), "application/json", false, &json);
    assert!(
        status >= 400,
        "Vector 0.58 refuses OTLP/HTTP JSON (README, pipeline comment): now {status}; update both"
    );
    // As an OTLP exporter sends them: logs plain, metrics gzipped.
    for (path, gzip, body) in [("/v1/logs", false, &logs), ("/v1/metrics", true, &metrics)] {
        let (status, answer) = post_when_listening(&format!("{base}{path}"), PROTOBUF, gzip, body);
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&answer));
    }

    let got = sink_events(&sb.path("events.ndjson"), expected.len(), &mut child);
    let log = std::fs::read_to_string(sb.path("vector.log")).unwrap_or_default();
    let text = std::fs::read_to_string(sb.path("events.ndjson")).unwrap_or_default();
    for planted in PLANTED {
        assert!(!text.contains(planted), "{planted} reached the sink");
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "every record once; vector log:\n{log}"
    );
    assert_eq!(by_id(&got), by_id(&expected), "vector log:\n{log}");
    let dead = read_ndjson(&std::fs::read(hop.dead_letter_path()).unwrap_or_default());
    assert!(dead.is_empty(), "{dead:?}");
}
