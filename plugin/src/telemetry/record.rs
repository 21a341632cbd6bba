//! The input forms of a Claude Code record, read into one view.
//!
//! - `{"otlp_log": {"resource", "scope", "logRecord"}}`: one OTLP log record
//!   with its resource and scope, proto3 JSON exactly as received (the host
//!   splits `ExportLogsServiceRequest`s, JSON or protobuf, into these).
//! - `{"otlp_metric": {"resource", "scope", "metric", "aggregationTemporality",
//!   "dataPoint"}}`: one metric data point, likewise.
//! - `[[TIME, METADATA], BODY]`: a record as Fluent Bit's `opentelemetry`
//!   input holds it (reference §8): attributes flattened in
//!   `METADATA.otlp.attributes`, resource and scope in a group-start marker
//!   (`TIME` -1) before the records, `-2` ends the group.
//!
//! - `{"otlp_fluent_bit": {"time": [sec, nsec], "body", "attributes",
//!   "trace_id", "span_id", "resource", "scope"}}`: the same record after
//!   the Lua step of `pipelines/fluent-bit/otel-claude-code.yaml` lifted
//!   metadata and group into the body (the `wasm` filter sees only the body).
//!
//! Nothing here decides what a record means; `event` does.

use serde_json::{Map, Value};

use super::value::{key_values, uint};
use crate::error::{RecordError, RecordErrorKind};

/// One record of any form.
#[derive(Debug)]
pub enum Input {
    /// A log record.
    Log(LogRecord),
    /// A metric data point.
    Metric(MetricPoint),
    /// A Fluent Bit group start: the resource and scope of what follows.
    GroupStart(Group),
    /// A Fluent Bit group end.
    GroupEnd,
}

/// The resource and scope records share.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// Resource attributes, plain.
    pub resource: Map<String, Value>,
    /// Instrumentation scope name.
    pub scope_name: Option<String>,
}

/// One OTLP log record.
#[derive(Debug, Default)]
pub struct LogRecord {
    /// Its resource and scope.
    pub group: Group,
    /// `timeUnixNano` (`None` when absent or 0), and its text as received.
    pub time: Option<(u64, String)>,
    /// `observedTimeUnixNano`.
    pub observed: Option<(u64, String)>,
    /// The body when it is a string (`claude_code.<event>`).
    pub body: Option<String>,
    /// Attributes, plain, in order.
    pub attributes: Map<String, Value>,
    /// Trace id, lowercase hex; `None` when absent, empty or all zeros.
    pub trace_id: Option<String>,
    /// Span id, likewise.
    pub span_id: Option<String>,
}

/// One metric data point.
#[derive(Debug, Default)]
pub struct MetricPoint {
    /// Its resource and scope.
    pub group: Group,
    /// The metric name (`claude_code.token.usage`, …).
    pub name: String,
    /// 1 delta, 2 cumulative, 0 unspecified.
    pub temporality: u64,
    /// Data point attributes, plain.
    pub attributes: Map<String, Value>,
    /// `startTimeUnixNano` and its text.
    pub start: Option<(u64, String)>,
    /// `timeUnixNano` and its text.
    pub time: Option<(u64, String)>,
    /// `asDouble` or `asInt`, plain.
    pub value: Option<Value>,
    /// Whether the line carried a data point at all.
    pub has_point: bool,
}

/// Whether `line` is in one of this module's forms (cheap: looks at the
/// first bytes only, so Activity Feed records pay nothing). A Fluent Bit
/// record starts `[[`; any other array stays an Activity Feed
/// `not_an_object` dead letter.
pub fn recognize(line: &[u8]) -> bool {
    let start = line.iter().position(|b| !b.is_ascii_whitespace());
    let rest = start.map_or(&[][..], |i| &line[i..]);
    let fluent_bit = rest
        .strip_prefix(b"[")
        .is_some_and(|r| r.trim_ascii_start().starts_with(b"["));
    fluent_bit
        || rest.starts_with(b"{\"otlp_log\"")
        || rest.starts_with(b"{\"otlp_metric\"")
        || rest.starts_with(b"{\"otlp_fluent_bit\"")
}

/// Parse a recognized line.
pub fn parse(text: &str) -> Result<Input, RecordError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        RecordError::record(
            RecordErrorKind::InvalidJson,
            format!("invalid JSON at line {} column {}", e.line(), e.column()),
        )
    })?;
    match value {
        Value::Array(items) => fluent_bit(items),
        Value::Object(mut map) => {
            if let Some(Value::Object(log)) = map.remove("otlp_log") {
                Ok(Input::Log(otlp_log(&log)))
            } else if let Some(Value::Object(metric)) = map.remove("otlp_metric") {
                Ok(Input::Metric(otlp_metric(&metric)))
            } else if let Some(Value::Object(lifted)) = map.remove("otlp_fluent_bit") {
                Ok(Input::Log(fluent_bit_lifted(&lifted)))
            } else {
                Err(RecordError::wrong_type("otlp_log", "object"))
            }
        }
        _ => Err(RecordError::record(
            RecordErrorKind::NotAnObject,
            "an OTLP record must be a JSON object or a Fluent Bit [[time, metadata], body] array",
        )),
    }
}

/// Resource and scope in proto3 JSON (`{"attributes":[KeyValue]}`), or
/// Fluent Bit's flattened form (`{"attributes":{…}}`).
fn group(resource: Option<&Value>, scope: Option<&Value>) -> Group {
    Group {
        resource: key_values(resource.and_then(|r| r.get("attributes"))),
        scope_name: scope
            .and_then(|s| s.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

fn otlp_log(log: &Map<String, Value>) -> LogRecord {
    let record = log.get("logRecord").cloned().unwrap_or(Value::Null);
    LogRecord {
        group: group(log.get("resource"), log.get("scope")),
        time: nanos(record.get("timeUnixNano")),
        observed: nanos(record.get("observedTimeUnixNano")),
        body: record
            .get("body")
            .and_then(|b| b.get("stringValue"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        attributes: key_values(record.get("attributes")),
        trace_id: hex_id(record.get("traceId")),
        span_id: hex_id(record.get("spanId")),
    }
}

fn otlp_metric(metric: &Map<String, Value>) -> MetricPoint {
    let point = metric.get("dataPoint").cloned().unwrap_or(Value::Null);
    MetricPoint {
        group: group(metric.get("resource"), metric.get("scope")),
        name: metric
            .get("metric")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        temporality: metric
            .get("aggregationTemporality")
            .and_then(uint)
            .unwrap_or(0),
        attributes: key_values(point.get("attributes")),
        start: nanos(point.get("startTimeUnixNano")),
        time: nanos(point.get("timeUnixNano")),
        value: point
            .get("asDouble")
            .or_else(|| point.get("asInt"))
            .cloned(),
        has_point: !point.is_null(),
    }
}

/// A fixed64 nanosecond time (string or number); 0 means unknown.
fn nanos(value: Option<&Value>) -> Option<(u64, String)> {
    let value = value?;
    let n = uint(value).filter(|n| *n > 0)?;
    Some((n, n.to_string()))
}

/// A trace or span id: hex, not empty, not all zeros (OTLP: "no id").
fn hex_id(value: Option<&Value>) -> Option<String> {
    let text = value?.as_str()?.to_ascii_lowercase();
    let valid = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_hexdigit())
        && text.bytes().any(|b| b != b'0');
    valid.then_some(text)
}

/// `[[TIME, METADATA], BODY]` (reference §8).
fn fluent_bit(items: Vec<Value>) -> Result<Input, RecordError> {
    let shape = || {
        RecordError::record(
            RecordErrorKind::WrongType,
            "a Fluent Bit record must be [[time, metadata], body]",
        )
    };
    let [header, body]: [Value; 2] = items.try_into().map_err(|_| shape())?;
    let Value::Array(header) = header else {
        return Err(shape());
    };
    let time = header.first().ok_or_else(shape)?;
    let metadata = header.get(1).cloned().unwrap_or(Value::Null);
    match fluent_bit_seconds(time) {
        Some(-1) => Ok(Input::GroupStart(group(
            body.get("resource"),
            body.get("scope"),
        ))),
        Some(-2) => Ok(Input::GroupEnd),
        _ => {
            let otlp = metadata.get("otlp").cloned().unwrap_or(Value::Null);
            let time = fluent_bit_nanos(time).map(|n| (n, n.to_string()));
            Ok(Input::Log(LogRecord {
                group: Group::default(),
                time,
                observed: nanos(otlp.get("observed_timestamp")),
                body: body
                    .get("log")
                    .or_else(|| body.get("body"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                attributes: key_values(otlp.get("attributes")),
                trace_id: hex_id(otlp.get("trace_id")),
                span_id: hex_id(otlp.get("span_id")),
            }))
        }
    }
}

/// A record the Fluent Bit Lua step lifted into the body.
fn fluent_bit_lifted(lifted: &Map<String, Value>) -> LogRecord {
    let time = lifted
        .get("time")
        .and_then(fluent_bit_nanos)
        .map(|n| (n, n.to_string()));
    LogRecord {
        group: group(lifted.get("resource"), lifted.get("scope")),
        time,
        observed: None,
        body: lifted
            .get("body")
            .and_then(Value::as_str)
            .map(str::to_owned),
        attributes: key_values(lifted.get("attributes")),
        trace_id: hex_id(lifted.get("trace_id")),
        span_id: hex_id(lifted.get("span_id")),
    }
}

/// The whole seconds of a Fluent Bit time: `[sec, nsec]`, or a number.
fn fluent_bit_seconds(time: &Value) -> Option<i64> {
    match time {
        Value::Array(parts) => parts.first()?.as_i64(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// A Fluent Bit time in nanoseconds, in integer space for `[sec, nsec]`.
fn fluent_bit_nanos(time: &Value) -> Option<u64> {
    match time {
        Value::Array(parts) => {
            let sec = parts.first()?.as_u64()?;
            let nsec = parts.get(1).and_then(Value::as_u64).unwrap_or(0);
            sec.checked_mul(1_000_000_000)?.checked_add(nsec)
        }
        Value::Number(n) => n.as_u64().map(|s| s.saturating_mul(1_000_000_000)),
        _ => None,
    }
    .filter(|n| *n > 0)
}
