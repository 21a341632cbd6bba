//! Claude Code telemetry (issue 14) through the real binary: the shared
//! fixtures (OTLP JSON logs and metrics, Fluent Bit NDJSON) give the same
//! canonical events through `run` and through `serve`'s OTLP endpoint (JSON,
//! protobuf, gzip); planted secrets never reach the output; the spike keeps
//! its exact counts; wire-type variants normalize identically; a bounded
//! load over loopback loses nothing.

use std::io::Write as _;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use prost::Message as _;
use serde_json::{Value, json};

use crate::serve::{Receiver, Serve};
use crate::util::{Sandbox, fixture, read_ndjson, run, stderr, summary_counts};

#[path = "../../host/src/otlp/proto.rs"]
#[allow(dead_code, reason = "the test uses the messages, not the JSON helpers")]
mod proto;

pub(crate) const LOGS: &str = "claude-code/otlp-logs-claude-code.json";
pub(crate) const METRICS: &str = "claude-code/otlp-metrics-claude-code.json";
const FLUENT_BIT: &str = "claude-code/otlp-logs-claude-code.ndjson";
pub(crate) const PLANTED: [&str; 2] = [
    "priya.raman@example.com",
    "sk-ant-api03-DuQczgCWEbKSlBDndLuDCDlJrBpSGfyJfYDmoTuG",
];

fn run_file(sb: &Sandbox, path: &std::path::Path) -> (Vec<Value>, (u64, u64, u64, u64)) {
    let out = run(sb.run_cmd().arg(path));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for planted in PLANTED {
        assert!(!String::from_utf8_lossy(&out.stdout).contains(planted));
    }
    (read_ndjson(&out.stdout), summary_counts(&stderr(&out)))
}

pub(crate) fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

pub(crate) fn by_id(events: &[Value]) -> std::collections::BTreeMap<String, Value> {
    events
        .iter()
        .map(|e| (e["event_id"].as_str().unwrap().to_owned(), e.clone()))
        .collect()
}

#[test]
fn run_gives_the_same_events_from_otlp_json_and_fluent_bit_ndjson() {
    let sb = Sandbox::new();
    let (from_json, counts) = run_file(&sb, &fixture(LOGS));
    assert_eq!(counts, (15, 15, 0, 0));
    let (from_fluent_bit, counts) = run_file(&sb, &fixture(FLUENT_BIT));
    assert_eq!(
        counts,
        (19, 15, 0, 4),
        "group markers are counted as filtered"
    );
    assert_eq!(by_id(&from_json), by_id(&from_fluent_bit));
    let schema: Value = serde_json::from_slice(
        &std::fs::read(crate::util::repo_file(
            "plugin/schema/audit-event.v1.schema.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for event in &from_json {
        let errors: Vec<String> = validator
            .iter_errors(event)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", event["event_type"]);
    }

    let types: Vec<&str> = from_json
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types[0], "claude_code.permission_mode_changed");
    assert!(types.iter().all(|t| t.starts_with("claude_code.")));
    assert!(
        from_json
            .iter()
            .all(|e| e["unmapped"]["event_type"] == false)
    );

    let spike = from_json
        .iter()
        .find(|e| e["details"]["cache_read_tokens"] == 412_877)
        .expect("the spike request");
    assert_eq!(spike["details"]["cost_usd_micros"], 1_453_276);
    assert_eq!(spike["details"]["cost_usd"], json!(1.453276));
    assert_eq!(spike["timestamp"].as_str().unwrap().len(), 27);

    let prompts: Vec<&Value> = from_json
        .iter()
        .filter(|e| e["event_type"] == "claude_code.user_prompt")
        .collect();
    let (user_a, user_b) = (prompts[0], prompts[1]);
    assert!(
        user_a["prompt_hash"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    assert_eq!(
        user_a["details"]["prompt"],
        Value::Null,
        "dropped by default"
    );
    let flags = user_a["policy_flags"].to_string();
    assert!(
        flags.contains("secret.anthropic_key") && flags.contains("pii.email"),
        "{flags}"
    );
    assert_eq!(
        user_b["prompt_hash"],
        Value::Null,
        "<REDACTED> is not hashed"
    );
    assert_eq!(user_b["details"]["prompt"], "<REDACTED>");

    let decision = from_json
        .iter()
        .find(|e| e["event_type"] == "claude_code.tool_decision" && e["outcome"] == "failure")
        .expect("the rejected MCP tool");
    assert_eq!(decision["details"]["decision_source"], "hook");
}

#[test]
fn content_policy_redact_keeps_text_without_the_secrets() {
    let sb = Sandbox::new();
    let config = sb.write("c.toml", "[content]\npolicy = \"redact\"\n");
    let out = run(sb.run_cmd().arg("--config").arg(&config).arg(fixture(LOGS)));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for planted in PLANTED {
        assert!(!text.contains(planted), "{planted} leaked");
    }
    let events = read_ndjson(&out.stdout);
    let prompt = events[1]["details"]["prompt"].as_str().unwrap();
    assert!(
        prompt.starts_with("Email the staging deploy summary"),
        "{prompt}"
    );
    let bash = events
        .iter()
        .find(|e| e["event_type"] == "claude_code.tool_result")
        .unwrap();
    let parameters: Value =
        serde_json::from_str(bash["details"]["tool_parameters"].as_str().unwrap()).unwrap();
    assert!(
        parameters["full_command"]
            .as_str()
            .unwrap()
            .contains("[REDACTED")
    );
}

/// The fixture with every wire-type variant Claude Code has used (§1):
/// integers as bare numbers, counts as numeric strings, cost as a string or
/// a double without `cost_usd_micros`.
fn variant(mut request: Value, counts_as_strings: bool) -> Value {
    fn walk(v: &mut Value, counts_as_strings: bool) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(s)) = map.get("intValue").cloned() {
                    map.insert("intValue".into(), Value::from(s.parse::<i64>().unwrap()));
                }
                for value in map.values_mut() {
                    walk(value, counts_as_strings);
                }
            }
            Value::Array(items) => {
                items.retain(|kv| kv["key"] != "cost_usd_micros");
                for item in items.iter_mut() {
                    let key = item["key"].as_str().unwrap_or_default().to_owned();
                    if counts_as_strings && (key.ends_with("_tokens") || key == "cost_usd") {
                        let plain = item["value"]
                            .as_object()
                            .unwrap()
                            .values()
                            .next()
                            .unwrap()
                            .clone();
                        let text = plain
                            .as_str()
                            .map_or_else(|| plain.to_string(), str::to_owned);
                        item["value"] = json!({ "stringValue": text });
                    }
                    walk(item, counts_as_strings);
                }
            }
            _ => {}
        }
    }
    walk(&mut request, counts_as_strings);
    request
}

#[test]
fn wire_type_variants_normalize_identically() {
    let sb = Sandbox::new();
    let (reference, _) = run_file(&sb, &fixture(LOGS));
    for counts_as_strings in [false, true] {
        let path = sb.write(
            "variant.json",
            variant(fixture_json(LOGS), counts_as_strings).to_string(),
        );
        let (events, counts) = run_file(&sb, &path);
        assert_eq!(counts, (15, 15, 0, 0));
        assert_eq!(
            by_id(&events),
            by_id(&reference),
            "strings: {counts_as_strings}"
        );
    }
}

// ---- serve's OTLP endpoint

fn any_to_proto(v: &Value) -> proto::AnyValue {
    use proto::any_value::Value as V;
    let (kind, inner) = v.as_object().unwrap().iter().next().unwrap();
    let value = match kind.as_str() {
        "stringValue" => V::StringValue(inner.as_str().unwrap().into()),
        "boolValue" => V::BoolValue(inner.as_bool().unwrap()),
        "intValue" => V::IntValue(
            inner
                .as_str()
                .map_or_else(|| inner.as_i64().unwrap(), |s| s.parse().unwrap()),
        ),
        "doubleValue" => V::DoubleValue(inner.as_f64().unwrap()),
        other => panic!("fixture uses {other}"),
    };
    proto::AnyValue { value: Some(value) }
}

fn kvs_to_proto(v: &Value) -> Vec<proto::KeyValue> {
    v.as_array()
        .map(|items| {
            items
                .iter()
                .map(|kv| proto::KeyValue {
                    key: kv["key"].as_str().unwrap().into(),
                    value: Some(any_to_proto(&kv["value"])),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn nanos(v: &Value) -> u64 {
    v.as_str()
        .map_or_else(|| v.as_u64().unwrap_or(0), |s| s.parse().unwrap())
}

fn resource_scope(rl: &Value, scope_key: &str) -> (proto::Resource, proto::InstrumentationScope) {
    let resource = proto::Resource {
        attributes: kvs_to_proto(&rl["resource"]["attributes"]),
        dropped_attributes_count: 0,
    };
    let scope = &rl[scope_key][0]["scope"];
    let scope = proto::InstrumentationScope {
        name: scope["name"].as_str().unwrap().into(),
        version: scope["version"].as_str().unwrap_or_default().into(),
        attributes: vec![],
    };
    (resource, scope)
}

/// The logs fixture as an OTLP protobuf `ExportLogsServiceRequest`.
pub(crate) fn logs_protobuf(request: &Value) -> Vec<u8> {
    let resource_logs = request["resourceLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rl| {
            let (resource, scope) = resource_scope(rl, "scopeLogs");
            let log_records = rl["scopeLogs"][0]["logRecords"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| proto::LogRecord {
                    time_unix_nano: nanos(&r["timeUnixNano"]),
                    observed_time_unix_nano: nanos(&r["observedTimeUnixNano"]),
                    body: Some(any_to_proto(&r["body"])),
                    attributes: kvs_to_proto(&r["attributes"]),
                    trace_id: r["traceId"]
                        .as_str()
                        .map(|h| hex::decode(h).unwrap())
                        .unwrap_or_default(),
                    span_id: r["spanId"]
                        .as_str()
                        .map(|h| hex::decode(h).unwrap())
                        .unwrap_or_default(),
                    flags: u32::try_from(r["flags"].as_u64().unwrap_or(0)).unwrap(),
                    ..Default::default()
                })
                .collect();
            proto::ResourceLogs {
                resource: Some(resource),
                scope_logs: vec![proto::ScopeLogs {
                    scope: Some(scope),
                    log_records,
                }],
            }
        })
        .collect();
    proto::ExportLogsServiceRequest { resource_logs }.encode_to_vec()
}

/// The metrics fixture as an OTLP protobuf `ExportMetricsServiceRequest`.
pub(crate) fn metrics_protobuf(request: &Value) -> Vec<u8> {
    let resource_metrics = request["resourceMetrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rm| {
            let (resource, scope) = resource_scope(rm, "scopeMetrics");
            let metrics = rm["scopeMetrics"][0]["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| proto::Metric {
                    name: m["name"].as_str().unwrap().into(),
                    unit: m["unit"].as_str().unwrap_or_default().into(),
                    data: Some(proto::metric::Data::Sum(proto::Sum {
                        aggregation_temporality: i32::try_from(
                            m["sum"]["aggregationTemporality"].as_i64().unwrap(),
                        )
                        .unwrap(),
                        is_monotonic: true,
                        data_points: m["sum"]["dataPoints"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|p| proto::NumberDataPoint {
                                attributes: kvs_to_proto(&p["attributes"]),
                                start_time_unix_nano: nanos(&p["startTimeUnixNano"]),
                                time_unix_nano: nanos(&p["timeUnixNano"]),
                                value: Some(proto::number_data_point::Value::AsDouble(
                                    p["asDouble"].as_f64().unwrap(),
                                )),
                            })
                            .collect(),
                    })),
                })
                .collect();
            proto::ResourceMetrics {
                resource: Some(resource),
                scope_metrics: vec![proto::ScopeMetrics {
                    scope: Some(scope),
                    metrics,
                }],
            }
        })
        .collect();
    proto::ExportMetricsServiceRequest { resource_metrics }.encode_to_vec()
}

pub(crate) fn post_otlp(
    serve: &Serve,
    path: &str,
    content_type: &str,
    gzip: bool,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let url = serve.ingest.replace("/ingest", path);
    post_otlp_to(&url, content_type, gzip, body).expect("serve answers")
}

/// POST an OTLP body to `url`, gzipped if asked: `(status, answer)`, or the transport error.
pub(crate) fn post_otlp_to(
    url: &str,
    content_type: &str,
    gzip: bool,
    body: &[u8],
) -> Result<(u16, Vec<u8>), ureq::Error> {
    let mut request = ureq::post(url)
        .config()
        .http_status_as_error(false)
        .build()
        .header("content-type", content_type);
    let body = if gzip {
        request = request.header("content-encoding", "gzip");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(body).unwrap();
        encoder.finish().unwrap()
    } else {
        body.to_vec()
    };
    let mut response = request.send(&body[..])?;
    let status = response.status().as_u16();
    Ok((
        status,
        response.body_mut().read_to_vec().unwrap_or_default(),
    ))
}

pub(crate) fn received(receiver: &Receiver) -> Vec<Value> {
    let lines = std::mem::take(&mut *receiver.lines.lock().unwrap());
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn serve_otlp_json_protobuf_and_gzip_give_the_events_of_run() {
    let sb = Sandbox::new();
    let (reference, _) = run_file(&sb, &fixture(LOGS));
    let receiver = Receiver::start(0);
    let serve = Serve::start(&receiver.url, &[]);
    let json_body = std::fs::read(fixture(LOGS)).unwrap();
    let protobuf_body = logs_protobuf(&fixture_json(LOGS));
    for (content_type, gzip, body) in [
        ("application/json", false, &json_body),
        ("application/json", true, &json_body),
        ("application/x-protobuf", false, &protobuf_body),
        ("application/x-protobuf", true, &protobuf_body),
    ] {
        let (status, answer) = post_otlp(&serve, "/v1/logs", content_type, gzip, body);
        assert_eq!(
            status,
            200,
            "{content_type} gzip={gzip}: {}",
            String::from_utf8_lossy(&answer)
        );
        if content_type == "application/json" {
            assert_eq!(answer, b"{}");
        } else {
            let response = proto::ExportLogsServiceResponse::decode(&answer[..]).unwrap();
            assert_eq!(response.partial_success, None);
        }
        let events = received(&receiver);
        let text = serde_json::to_string(&events).unwrap();
        for planted in PLANTED {
            assert!(!text.contains(planted));
        }
        assert_eq!(
            by_id(&events),
            by_id(&reference),
            "{content_type} gzip={gzip}"
        );
    }
}

#[test]
fn serve_otlp_answers_partial_success_and_refuses_malformed_bodies() {
    let receiver = Receiver::start(0);
    let serve = Serve::start(&receiver.url, &[]);
    let mut request = fixture_json(LOGS);
    // One record from another service: dead-lettered, reported as rejected.
    request["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"] =
        json!({"stringValue": "GET /"});
    request["resourceLogs"][0]["resource"]["attributes"] = json!([]);
    request["resourceLogs"][0]["scopeLogs"][0]["scope"] = json!({"name": "other"});
    let (status, answer) = post_otlp(
        &serve,
        "/v1/logs",
        "application/json",
        false,
        request.to_string().as_bytes(),
    );
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(
        answer["partialSuccess"]["rejectedLogRecords"], "1",
        "{answer}"
    );
    assert_eq!(received(&receiver).len(), 14);
    let dead = read_ndjson(&std::fs::read(serve.dead_letter_path()).unwrap());
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not from Claude Code")
    );

    for (content_type, body) in [
        ("application/json", &b"{\"resourceLogs\": 7}"[..]),
        ("application/json", b"not json"),
        ("application/x-protobuf", b"\xff\xff\xff\xff"),
    ] {
        let (status, _) = post_otlp(&serve, "/v1/logs", content_type, false, body);
        assert_eq!(status, 400, "{content_type}");
    }
    let (status, _) = post_otlp(&serve, "/v1/logs", "text/plain", false, b"{}");
    assert_eq!(status, 415);
}

#[test]
fn serve_otlp_metrics_become_usage_events_matching_the_requests() {
    let receiver = Receiver::start(0);
    let serve = Serve::start(&receiver.url, &[]);
    let json_body = std::fs::read(fixture(METRICS)).unwrap();
    let (status, _) = post_otlp(&serve, "/v1/metrics", "application/json", false, &json_body);
    assert_eq!(status, 200);
    let from_json = received(&receiver);
    let (status, _) = post_otlp(
        &serve,
        "/v1/metrics",
        "application/x-protobuf",
        true,
        &metrics_protobuf(&fixture_json(METRICS)),
    );
    assert_eq!(status, 200);
    assert_eq!(by_id(&received(&receiver)), by_id(&from_json));
    assert_eq!(from_json.len(), 10, "4 token types + 1 cost, per user");
    // User A's sums equal the sums of their api_request events (fixture §10).
    let user_a = |e: &&Value| e["details"]["session_id"] == "0525150e-2af3-44e2-b776-ff1d618f014f";
    let tokens = |kind: &str| {
        from_json
            .iter()
            .filter(user_a)
            .find(|e| e["details"]["usage_type"] == kind)
            .map(|e| e["details"]["tokens"].as_i64().unwrap())
    };
    assert_eq!(tokens("input"), Some(9));
    assert_eq!(tokens("output"), Some(10_262));
    assert_eq!(tokens("cacheRead"), Some(431_111));
    assert_eq!(tokens("cacheCreation"), Some(101_430));
    let cost = from_json
        .iter()
        .filter(user_a)
        .find(|e| e["event_type"] == "claude_code.cost_usage")
        .unwrap();
    assert_eq!(cost["details"]["cost_usd_micros"], 1_616_918);
    assert_eq!(cost["details"]["temporality"], "delta");
}

/// A bounded load (CI budget: about 2 s of sending): 4 clients export the
/// fixture's records as OTLP/HTTP JSON as fast as the hop takes them,
/// retrying 503s like an OTLP exporter; every record arrives exactly once.
/// The 10k records/s for 30 s run is `claude-audit bench --otlp`.
#[test]
fn an_otlp_load_over_loopback_loses_nothing() {
    const CLIENTS: usize = 4;
    const SEND_FOR: Duration = Duration::from_secs(2);
    let receiver = Receiver::start(0);
    let serve = Arc::new(Serve::start(
        &receiver.url,
        &["--buffer-kib", "4096", "--max-body-kib", "1024"],
    ));
    let template = fixture_json(LOGS);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (serve, template) = (Arc::clone(&serve), template.clone());
            thread::spawn(move || {
                let start = Instant::now();
                let mut sent = 0u64;
                let mut request_no = 0u64;
                while start.elapsed() < SEND_FOR {
                    let body = unique_copy(&template, c, request_no);
                    request_no += 1;
                    loop {
                        let (status, _) = post_otlp(
                            &serve,
                            "/v1/logs",
                            "application/json",
                            false,
                            body.as_bytes(),
                        );
                        match status {
                            200 => break,
                            503 | 429 => thread::sleep(Duration::from_millis(10)),
                            other => panic!("unexpected {other}"),
                        }
                    }
                    sent += 15;
                }
                sent
            })
        })
        .collect();
    let sent: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let events = received(&receiver);
    let ids = by_id(&events);
    assert_eq!(events.len() as u64, sent, "every record once");
    assert_eq!(ids.len() as u64, sent, "no duplicate");
    eprintln!("otlp load: {sent} records in {SEND_FOR:?} from {CLIENTS} clients");
}

/// The fixture with unique event identities (every dedupe key suffixed).
fn unique_copy(template: &Value, client: usize, n: u64) -> String {
    let mut request = template.clone();
    for rl in request["resourceLogs"].as_array_mut().unwrap() {
        for record in rl["scopeLogs"][0]["logRecords"].as_array_mut().unwrap() {
            for kv in record["attributes"].as_array_mut().unwrap() {
                let key = kv["key"].as_str().unwrap();
                if [
                    "client_request_id",
                    "request_id",
                    "tool_use_id",
                    "message.uuid",
                    "session.id",
                ]
                .contains(&key)
                {
                    let value = kv["value"]["stringValue"].as_str().unwrap();
                    kv["value"]["stringValue"] = json!(format!("{value}-{client}-{n}"));
                }
            }
        }
    }
    request.to_string()
}

/// The committed `otel-claude-code.yaml` filters (lua lift, wasm module, grep,
/// rewrite_tag) in the real Fluent Bit, fed by its `opentelemetry` input with
/// the logs fixture over OTLP/HTTP: the same events as `run`.
#[test]
fn fluent_bit_lifts_otlp_attributes_into_the_wasm_filter() {
    use crate::pipelines::{
        fluent_bit, fluent_bit_module, fluent_bit_wasm_filters, hash, list, load, module_policy, s,
        yaml_text,
    };
    use yaml_rust2::Yaml;
    let Some(bin) = fluent_bit() else { return };
    let Some(module) = fluent_bit_module() else {
        return;
    };
    let sb = Sandbox::new();
    let (etc, host_config) = module_policy(&sb);
    let expected = {
        let out = run(sb
            .run_cmd_without_key()
            .arg("--config")
            .arg(&host_config)
            .arg(fixture(LOGS)));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        read_ndjson(&out.stdout)
    };
    let committed = load(&crate::util::repo_file(
        "pipelines/fluent-bit/otel-claude-code.yaml",
    ));
    let input = &list(&committed, "pipeline", "inputs")[0];
    let tag = crate::pipelines::get_str(input, "tag").unwrap();
    let port = crate::delivery::moto::free_port();
    let file_output = |m: &str, name: &str| {
        hash(&[
            ("name", s("file")),
            ("match", s(m)),
            ("path", s(&sb.dir.path().display().to_string())),
            ("file", s(name)),
            ("format", s("plain")),
        ])
    };
    let config = hash(&[
        (
            "service",
            hash(&[
                ("flush", s("1")),
                ("grace", s("2")),
                ("log_level", s("info")),
            ]),
        ),
        (
            "pipeline",
            hash(&[
                (
                    "inputs",
                    Yaml::Array(vec![hash(&[
                        ("name", s("opentelemetry")),
                        ("listen", s("127.0.0.1")),
                        ("port", s(&port.to_string())),
                        ("tag", s(&tag)),
                        ("tag_from_uri", s("false")),
                    ])]),
                ),
                (
                    "filters",
                    fluent_bit_wasm_filters(&committed, &module, &etc),
                ),
                (
                    "outputs",
                    Yaml::Array(vec![
                        file_output("claude.deadletter.*", "dead.out"),
                        file_output("claude.events.*", "events.out"),
                    ]),
                ),
            ]),
        ),
    ]);
    let config_path = sb.write("fluent-bit.yaml", yaml_text(&config));
    let log_path = sb.path("fluent-bit.log");
    let mut child = std::process::Command::new(&bin)
        .arg("-c")
        .arg(&config_path)
        .stdout(std::fs::File::create(&log_path).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start fluent-bit");
    let url = format!("http://127.0.0.1:{port}/v1/logs");
    let body = std::fs::read(fixture(LOGS)).unwrap();
    let start = Instant::now();
    let status = loop {
        let answer = ureq::post(&url)
            .config()
            .http_status_as_error(false)
            .build()
            .header("content-type", "application/json")
            .send(&body[..]);
        match answer {
            Ok(response) => break response.status().as_u16(),
            Err(_) if start.elapsed() < Duration::from_secs(20) => {
                thread::sleep(Duration::from_millis(100))
            }
            Err(e) => panic!("fluent-bit did not listen: {e}"),
        }
    };
    assert!(matches!(status, 200 | 201), "fluent-bit answered {status}");
    let events_path = sb.path("events.out");
    let got = loop {
        let got = read_ndjson(&std::fs::read(&events_path).unwrap_or_default());
        if got.len() >= expected.len() || start.elapsed() > Duration::from_secs(30) {
            break got;
        }
        thread::sleep(Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let text = serde_json::to_string(&got).unwrap();
    for planted in PLANTED {
        assert!(!text.contains(planted), "{planted} leaked");
    }
    assert_eq!(by_id(&got), by_id(&expected), "fluent-bit log:\n{log}");
    assert!(read_ndjson(&std::fs::read(sb.path("dead.out")).unwrap_or_default()).is_empty());
}
