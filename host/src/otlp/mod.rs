//! OTLP requests (`ExportLogsServiceRequest`, `ExportMetricsServiceRequest`;
//! proto3 JSON or protobuf, optionally gzipped) split into the one-record
//! lines the plugin's telemetry path reads:
//!
//! - `{"otlp_log":{"resource":…,"scope":…,"logRecord":…}}` per log record;
//! - `{"otlp_metric":{"resource":…,"scope":…,"metric":{"name","unit","kind"},
//!   "aggregationTemporality":…,"dataPoint":…}}` per number data point
//!   (a histogram or summary metric gives one line without `dataPoint`, which
//!   the plugin dead-letters with its reason: counted, never silently lost).
//!
//! Records are copied as received (proto3 JSON), so every wire-type variant
//! reaches the plugin's one tolerant reader. Used by `serve` (`/v1/logs`,
//! `/v1/metrics`) and by `run` on OTLP JSON files. It does not interpret
//! records: the plugin does.

mod json_logs;
pub mod proto;

use std::io::Read;

use anyhow::{Context, Result, bail};
use prost::Message as _;
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// Which OTLP signal a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `/v1/logs`.
    Logs,
    /// `/v1/metrics`.
    Metrics,
}

impl Signal {
    /// The signal of an OTLP/HTTP path (query string ignored).
    pub fn from_path(path: &str) -> Option<Self> {
        match path.split('?').next().unwrap_or_default() {
            "/v1/logs" => Some(Self::Logs),
            "/v1/metrics" => Some(Self::Metrics),
            _ => None,
        }
    }
}

/// The body's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json`.
    Json,
    /// `application/x-protobuf`.
    Protobuf,
}

impl Encoding {
    /// From a `Content-Type` value; `None` for anything else.
    pub fn from_content_type(value: &str) -> Option<Self> {
        let media = value.split(';').next().unwrap_or_default().trim();
        match media.to_ascii_lowercase().as_str() {
            "application/json" => Some(Self::Json),
            "application/x-protobuf" | "application/protobuf" => Some(Self::Protobuf),
            _ => None,
        }
    }

    /// The response's `Content-Type`: the request's (OTLP/HTTP).
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Protobuf => "application/x-protobuf",
        }
    }
}

/// Gunzip at most `max` bytes; more is an error (a compressed body may not
/// expand past the body limit).
pub fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .context("the body is not valid gzip")?;
    if out.len() > max {
        bail!("the body expands past the body size limit");
    }
    Ok(out)
}

/// Split one request body into record lines (NDJSON).
pub fn split(signal: Signal, encoding: Encoding, body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() * 2);
    match (encoding, signal) {
        (Encoding::Json, Signal::Logs) => json_logs::split(body, &mut out)?,
        (Encoding::Json, Signal::Metrics) => {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| anyhow::anyhow!("the body is not JSON: {}", classify(&e)))?;
            split_json_metrics(&value, &mut out)?;
        }
        (Encoding::Protobuf, _) => split_protobuf(signal, body, &mut out)?,
    }
    Ok(out)
}

/// Whether an input file starts like an OTLP JSON export request (for
/// `run`): its first key is `resourceLogs` or `resourceMetrics`.
pub fn looks_like_document(prefix: &[u8]) -> bool {
    let text = String::from_utf8_lossy(prefix);
    let rest = text
        .trim_start()
        .strip_prefix('{')
        .unwrap_or_default()
        .trim_start();
    rest.starts_with("\"resourceLogs\"") || rest.starts_with("\"resourceMetrics\"")
}

/// A reader of OTLP JSON export requests (one pretty-printed document, or
/// one per line as the OpenTelemetry Collector's file exporter writes) that
/// yields their record lines, one document at a time: memory holds one
/// request, whatever the file's size.
pub struct DocumentLines<R: Read> {
    documents: serde_json::StreamDeserializer<'static, serde_json::de::IoRead<R>, Box<RawValue>>,
    index: usize,
    buffer: Vec<u8>,
    position: usize,
}

impl<R: Read> DocumentLines<R> {
    /// Read documents from `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            documents: serde_json::Deserializer::from_reader(inner).into_iter(),
            index: 0,
            buffer: Vec::new(),
            position: 0,
        }
    }

    /// Split the next document into the buffer; `false` at the end.
    fn refill(&mut self) -> std::io::Result<bool> {
        let invalid = |e: anyhow::Error| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e:#}"))
        };
        let Some(doc) = self.documents.next() else {
            return Ok(false);
        };
        self.index += 1;
        let n = self.index;
        let doc = doc.map_err(|e| {
            invalid(anyhow::anyhow!(
                "OTLP document {n} is not JSON: {}",
                classify(&e)
            ))
        })?;
        let signal = signal_of(&doc)
            .with_context(|| format!("OTLP document {n}"))
            .map_err(invalid)?;
        self.position = 0;
        self.buffer = split(signal, Encoding::Json, doc.get().as_bytes())
            .with_context(|| format!("OTLP document {n}"))
            .map_err(invalid)?;
        Ok(true)
    }
}

impl<R: Read> Read for DocumentLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.position == self.buffer.len() {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.buffer.len() - self.position);
        buf[..n].copy_from_slice(&self.buffer[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

/// Metrics when the document has `resourceMetrics`, else logs.
fn signal_of(doc: &RawValue) -> Result<Signal> {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(rename = "resourceMetrics", borrow, default)]
        metrics: Option<&'a RawValue>,
    }
    let probe: Probe = serde_json::from_str(doc.get())
        .map_err(|e| anyhow::anyhow!("not an OTLP export request: {}", classify(&e)))?;
    Ok(if probe.metrics.is_some() {
        Signal::Metrics
    } else {
        Signal::Logs
    })
}

/// A serde_json error's category and position, never the input's content.
fn classify(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

fn items<'v>(value: &'v Value, key: &str) -> Result<&'v [Value]> {
    match value.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => bail!("`{key}` must be an array"),
    }
}

fn split_json_metrics(request: &Value, out: &mut Vec<u8>) -> Result<()> {
    if !request.is_object() {
        bail!("the body must be a JSON object (an OTLP export request)");
    }
    for resource_block in items(request, "resourceMetrics")? {
        let resource = resource_block.get("resource").cloned().unwrap_or(json!({}));
        for scope_block in items(resource_block, "scopeMetrics")? {
            let scope = scope_block.get("scope").cloned().unwrap_or(json!({}));
            for metric in items(scope_block, "metrics")? {
                push_metric_json(out, &resource, &scope, metric)?;
            }
        }
    }
    Ok(())
}

fn push_line(out: &mut Vec<u8>, line: &Value) {
    // Serializing a Value cannot fail (string keys only).
    serde_json::to_writer(&mut *out, line).expect("a JSON value serializes");
    out.push(b'\n');
}

/// One `otlp_log` line from the resource's and scope's compact JSON text
/// (made once per block, not per record) and a writer of the record's.
fn push_log_line(
    out: &mut Vec<u8>,
    resource: &[u8],
    scope: &[u8],
    record: impl FnOnce(&mut Vec<u8>),
) {
    out.extend_from_slice(b"{\"otlp_log\":{\"resource\":");
    out.extend_from_slice(resource);
    out.extend_from_slice(b",\"scope\":");
    out.extend_from_slice(scope);
    out.extend_from_slice(b",\"logRecord\":");
    record(out);
    out.extend_from_slice(b"}}\n");
}

fn push_metric_json(
    out: &mut Vec<u8>,
    resource: &Value,
    scope: &Value,
    metric: &Value,
) -> Result<()> {
    let name = metric.get("name").cloned().unwrap_or(Value::Null);
    let unit = metric.get("unit").cloned().unwrap_or(Value::Null);
    for kind in ["sum", "gauge"] {
        if let Some(data) = metric.get(kind) {
            let temporality = data
                .get("aggregationTemporality")
                .cloned()
                .unwrap_or(json!(0));
            for point in items(data, "dataPoints")? {
                let head = json!({ "name": name, "unit": unit, "kind": kind });
                push_point(out, resource, scope, head, &temporality, Some(point));
            }
            return Ok(());
        }
    }
    let kind = ["histogram", "exponentialHistogram", "summary"]
        .into_iter()
        .find(|k| metric.get(*k).is_some())
        .unwrap_or("none");
    let head = json!({ "name": name, "unit": unit, "kind": kind });
    push_point(out, resource, scope, head, &json!(0), None);
    Ok(())
}

fn push_point(
    out: &mut Vec<u8>,
    resource: &Value,
    scope: &Value,
    metric: Value,
    temporality: &Value,
    point: Option<&Value>,
) {
    let mut body = json!({
        "resource": resource,
        "scope": scope,
        "metric": metric,
        "aggregationTemporality": temporality,
    });
    if let Some(point) = point {
        body["dataPoint"] = point.clone();
    }
    push_line(out, &json!({ "otlp_metric": body }));
}

fn split_protobuf(signal: Signal, body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let invalid = |e: prost::DecodeError| {
        anyhow::anyhow!("the body is not a valid OTLP protobuf message: {e}")
    };
    match signal {
        Signal::Logs => {
            let request = proto::ExportLogsServiceRequest::decode(body).map_err(invalid)?;
            for rl in &request.resource_logs {
                let resource = serde_json::to_vec(&proto::resource_to_json(rl.resource.as_ref()))?;
                for sl in &rl.scope_logs {
                    let scope = serde_json::to_vec(&proto::scope_to_json(sl.scope.as_ref()))?;
                    for record in &sl.log_records {
                        push_log_line(out, &resource, &scope, |out| {
                            // Serializing a Value cannot fail (string keys only).
                            serde_json::to_writer(out, &proto::log_to_json(record))
                                .expect("a JSON value serializes");
                        });
                    }
                }
            }
        }
        Signal::Metrics => {
            let request = proto::ExportMetricsServiceRequest::decode(body).map_err(invalid)?;
            for rm in &request.resource_metrics {
                let resource = proto::resource_to_json(rm.resource.as_ref());
                for sm in &rm.scope_metrics {
                    let scope = proto::scope_to_json(sm.scope.as_ref());
                    for metric in &sm.metrics {
                        push_metric_protobuf(out, &resource, &scope, metric);
                    }
                }
            }
        }
    }
    Ok(())
}

fn push_metric_protobuf(
    out: &mut Vec<u8>,
    resource: &Value,
    scope: &Value,
    metric: &proto::Metric,
) {
    use proto::metric::Data;
    let (kind, temporality, points) = match &metric.data {
        Some(Data::Sum(sum)) => ("sum", sum.aggregation_temporality, &sum.data_points[..]),
        Some(Data::Gauge(gauge)) => ("gauge", 0, &gauge.data_points[..]),
        Some(Data::Histogram(_)) => ("histogram", 0, &[][..]),
        Some(Data::ExponentialHistogram(_)) => ("exponentialHistogram", 0, &[][..]),
        Some(Data::Summary(_)) => ("summary", 0, &[][..]),
        None => ("none", 0, &[][..]),
    };
    let head = || json!({ "name": metric.name, "unit": metric.unit, "kind": kind });
    if points.is_empty() && !matches!(kind, "sum" | "gauge") {
        push_point(out, resource, scope, head(), &json!(0), None);
    }
    for point in points {
        let point = proto::point_to_json(point);
        push_point(
            out,
            resource,
            scope,
            head(),
            &json!(temporality),
            Some(&point),
        );
    }
}

/// The OTLP success response: `{}` when nothing was rejected, else
/// `partialSuccess` with the count and a message (which never holds record
/// values).
pub fn response(signal: Signal, encoding: Encoding, rejected: u64) -> Vec<u8> {
    let message = (rejected > 0).then(|| {
        format!(
            "{rejected} record(s) rejected: invalid or not from Claude Code; they are kept \
             in the receiver's dead-letter file with their reason"
        )
    });
    match encoding {
        Encoding::Json => {
            let count_key = match signal {
                Signal::Logs => "rejectedLogRecords",
                Signal::Metrics => "rejectedDataPoints",
            };
            let body = match &message {
                None => json!({}),
                Some(m) => {
                    json!({ "partialSuccess": { count_key: rejected.to_string(), "errorMessage": m } })
                }
            };
            body.to_string().into_bytes()
        }
        Encoding::Protobuf => {
            let partial_success = message.map(|m| proto::ExportPartialSuccess {
                rejected: i64::try_from(rejected).unwrap_or(i64::MAX),
                error_message: m,
            });
            match signal {
                Signal::Logs => {
                    proto::ExportLogsServiceResponse { partial_success }.encode_to_vec()
                }
                Signal::Metrics => {
                    proto::ExportMetricsServiceResponse { partial_success }.encode_to_vec()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_protobuf_split_to_the_same_records() {
        let json = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"claude-code"}}]},"scopeLogs":[{"scope":{"name":"com.anthropic.claude_code.events","version":"2"},"logRecords":[{"timeUnixNano":"5","body":{"stringValue":"claude_code.x"},"attributes":[{"key":"n","value":{"intValue":"7"}}],"traceId":"0af7651916cd43dd8448eb211c80319c"}]}]}]}"#;
        let from_json = split(Signal::Logs, Encoding::Json, json).unwrap();
        let request = proto::ExportLogsServiceRequest {
            resource_logs: vec![proto::ResourceLogs {
                resource: Some(proto::Resource {
                    attributes: vec![kv(
                        "service.name",
                        proto::any_value::Value::StringValue("claude-code".into()),
                    )],
                    dropped_attributes_count: 0,
                }),
                scope_logs: vec![proto::ScopeLogs {
                    scope: Some(proto::InstrumentationScope {
                        name: "com.anthropic.claude_code.events".into(),
                        version: "2".into(),
                        attributes: vec![],
                    }),
                    log_records: vec![proto::LogRecord {
                        time_unix_nano: 5,
                        body: Some(proto::AnyValue {
                            value: Some(proto::any_value::Value::StringValue(
                                "claude_code.x".into(),
                            )),
                        }),
                        attributes: vec![kv("n", proto::any_value::Value::IntValue(7))],
                        trace_id: hex::decode("0af7651916cd43dd8448eb211c80319c").unwrap(),
                        ..Default::default()
                    }],
                }],
            }],
        };
        let from_protobuf =
            split(Signal::Logs, Encoding::Protobuf, &request.encode_to_vec()).unwrap();
        // The same JSON values (the JSON path keeps the request's key order and escapes).
        let lines = |ndjson: &[u8]| -> Vec<Value> {
            ndjson
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect()
        };
        assert_eq!(lines(&from_json), lines(&from_protobuf));
        assert_eq!(lines(&from_json).len(), 1);
    }

    fn kv(key: &str, value: proto::any_value::Value) -> proto::KeyValue {
        proto::KeyValue {
            key: key.into(),
            value: Some(proto::AnyValue { value: Some(value) }),
        }
    }

    #[test]
    fn malformed_bodies_are_errors_without_content() {
        let e = split(
            Signal::Logs,
            Encoding::Json,
            b"{\"resourceLogs\": 5, \"x\": \"secret\"}",
        )
        .unwrap_err();
        assert!(!format!("{e:#}").contains("secret"));
        assert!(split(Signal::Logs, Encoding::Json, b"not json").is_err());
        assert!(split(Signal::Logs, Encoding::Protobuf, b"\xff\xff\xff").is_err());
    }

    #[test]
    fn responses_follow_otlp() {
        assert_eq!(response(Signal::Logs, Encoding::Json, 0), b"{}");
        let partial: Value =
            serde_json::from_slice(&response(Signal::Logs, Encoding::Json, 2)).unwrap();
        assert_eq!(partial["partialSuccess"]["rejectedLogRecords"], "2");
        let decoded = proto::ExportMetricsServiceResponse::decode(
            &response(Signal::Metrics, Encoding::Protobuf, 3)[..],
        )
        .unwrap();
        assert_eq!(decoded.partial_success.unwrap().rejected, 3);
    }
}
