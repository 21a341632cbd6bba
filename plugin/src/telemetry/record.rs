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
//! Nothing here decides what a record means; `event` does. `otlp_log`
//! lines, the bulk of the traffic, are read by `wire` without a `Value` of
//! the line; the other forms, and any `otlp_log` line `wire` does not
//! accept, are read here from a `Value` the record takes apart (no copies).

use std::sync::{Arc, OnceLock};

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::value::{key_values, uint};
use super::wire;
use crate::error::{RecordError, RecordErrorKind};
use crate::redact::Report;

/// One record of any form.
#[derive(Debug)]
pub enum Input {
    /// A log record.
    Log(LogRecord),
    /// A metric data point.
    Metric(MetricPoint),
    /// A Fluent Bit group start: the resource and scope of what follows.
    GroupStart(Arc<Group>),
    /// A Fluent Bit group end.
    GroupEnd,
}

/// The resource and scope records share (one per distinct resource and
/// scope, shared by their records: see `super::Context`).
#[derive(Debug, Default)]
pub struct Group {
    /// Resource attributes, plain.
    pub resource: Map<String, Value>,
    /// Instrumentation scope name.
    pub scope_name: Option<String>,
    /// `details.resource` as redaction leaves it and what redaction found in
    /// it: the same for every record of the group, so worked out once
    /// (`event`). A group belongs to one transform, hence one redactor.
    pub redacted: OnceLock<(Value, Report)>,
}

/// One OTLP log record.
#[derive(Debug, Default)]
pub struct LogRecord {
    /// Its resource and scope.
    pub group: Arc<Group>,
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
    pub group: Arc<Group>,
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

/// Parse a recognized line. `group_of` gives the group of an `otlp_log`
/// line's resource and scope JSON text (the caller caches them, see
/// [`group_from_text`]).
pub fn parse(
    text: &str,
    group_of: impl FnOnce(Option<&RawValue>, Option<&RawValue>) -> Arc<Group>,
) -> Result<Input, RecordError> {
    if text.trim_ascii_start().starts_with("{\"otlp_log\"")
        && let Some(line) = wire::log_line(text)
    {
        let record = line.record;
        let time = |n: Option<u64>| n.filter(|n| *n > 0).map(|n| (n, n.to_string()));
        return Ok(Input::Log(LogRecord {
            group: group_of(line.resource, line.scope),
            time: time(record.time),
            observed: time(record.observed),
            body: record.body,
            attributes: record.attributes,
            trace_id: record.trace_id.as_deref().and_then(hex_text),
            span_id: record.span_id.as_deref().and_then(hex_text),
        }));
    }
    parse_value(text)
}

/// Parse a recognized line through a `Value`: every form, and the reference
/// for what `wire` reads.
fn parse_value(text: &str) -> Result<Input, RecordError> {
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
                Ok(Input::Log(otlp_log(log)))
            } else if let Some(Value::Object(metric)) = map.remove("otlp_metric") {
                Ok(Input::Metric(otlp_metric(metric)))
            } else if let Some(Value::Object(lifted)) = map.remove("otlp_fluent_bit") {
                Ok(Input::Log(fluent_bit_lifted(lifted)))
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
fn group(resource: Option<&Value>, scope: Option<&Value>) -> Arc<Group> {
    Arc::new(Group {
        resource: key_values(resource.and_then(|r| r.get("attributes"))),
        scope_name: scope
            .and_then(|s| s.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        redacted: OnceLock::new(),
    })
}

/// The group of an `otlp_log` line from its resource and scope JSON text,
/// as the `Value` path reads them.
pub fn group_from_text(resource: Option<&RawValue>, scope: Option<&RawValue>) -> Arc<Group> {
    let value = |raw: Option<&RawValue>| raw.and_then(|r| serde_json::from_str(r.get()).ok());
    let (resource, scope): (Option<Value>, Option<Value>) = (value(resource), value(scope));
    group(resource.as_ref(), scope.as_ref())
}

fn otlp_log(mut log: Map<String, Value>) -> LogRecord {
    let record = log.remove("logRecord").unwrap_or(Value::Null);
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

fn otlp_metric(mut metric: Map<String, Value>) -> MetricPoint {
    let point = metric.remove("dataPoint").unwrap_or(Value::Null);
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
        has_point: !point.is_null(),
        value: match point {
            Value::Object(mut point) => {
                let double = point.remove("asDouble");
                double.or_else(|| point.remove("asInt"))
            }
            _ => None,
        },
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
    hex_text(value?.as_str()?)
}

/// [`hex_id`] of a string.
fn hex_text(text: &str) -> Option<String> {
    let text = text.to_ascii_lowercase();
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
    let mut header = header.into_iter();
    let time = header.next().ok_or_else(shape)?;
    let metadata = header.next().unwrap_or(Value::Null);
    match fluent_bit_seconds(&time) {
        Some(-1) => Ok(Input::GroupStart(group(
            body.get("resource"),
            body.get("scope"),
        ))),
        Some(-2) => Ok(Input::GroupEnd),
        _ => {
            let otlp = match metadata {
                Value::Object(mut metadata) => metadata.remove("otlp").unwrap_or(Value::Null),
                _ => Value::Null,
            };
            let time = fluent_bit_nanos(&time).map(|n| (n, n.to_string()));
            let (attributes, otlp) = match otlp {
                Value::Object(mut otlp) => {
                    let attributes = otlp.remove("attributes");
                    (attributes, Value::Object(otlp))
                }
                other => (None, other),
            };
            Ok(Input::Log(LogRecord {
                group: Arc::default(),
                time,
                observed: nanos(otlp.get("observed_timestamp")),
                body: body
                    .get("log")
                    .or_else(|| body.get("body"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                attributes: owned_key_values(attributes),
                trace_id: hex_id(otlp.get("trace_id")),
                span_id: hex_id(otlp.get("span_id")),
            }))
        }
    }
}

/// [`key_values`] of a value the record no longer needs: a flat map (Fluent
/// Bit's form) is moved, not copied.
fn owned_key_values(value: Option<Value>) -> Map<String, Value> {
    match value {
        Some(Value::Object(map)) => map,
        other => key_values(other.as_ref()),
    }
}

/// A record the Fluent Bit Lua step lifted into the body.
fn fluent_bit_lifted(mut lifted: Map<String, Value>) -> LogRecord {
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
        attributes: owned_key_values(lifted.remove("attributes")),
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

#[cfg(test)]
mod tests {
    use super::*;

    const LOGS: &str =
        include_str!("../../../tests/fixtures/claude-code/otlp-logs-claude-code.json");

    /// The fixture's records as the host writes them, and lines with the
    /// wire types and shapes OTLP allows.
    fn lines() -> Vec<String> {
        let request: Value = serde_json::from_str(LOGS).unwrap();
        let mut lines = Vec::new();
        for block in request["resourceLogs"].as_array().unwrap() {
            for scope in block["scopeLogs"].as_array().unwrap() {
                for record in scope["logRecords"].as_array().unwrap() {
                    let line = serde_json::json!({"otlp_log": {
                        "resource": block["resource"], "scope": scope["scope"], "logRecord": record,
                    }});
                    lines.push(line.to_string());
                }
            }
        }
        let record = |r: &str| {
            format!(
                r#"{{"otlp_log":{{"resource":{{"attributes":[]}},"scope":{{"name":"s"}},"logRecord":{r}}}}}"#
            )
        };
        lines.extend([
            record(r#"{"timeUnixNano":17,"observedTimeUnixNano":" 18 ","body":"x","traceId":5,"spanId":"AB"}"#),
            record(r#"{"timeUnixNano":-1,"observedTimeUnixNano":1.5,"body":{"stringValue":7,"x":1},"attributes":null}"#),
            record(r#"{"timeUnixNano":"1","timeUnixNano":"2","body":{"stringValue":"a","stringValue":"b"}}"#),
            record(r#"{"attributes":{"flat":1,"flat":[2],"s":"t"}}"#),
            record(r#"{"attributes":[{"key":"a","value":{"intValue":" 12 "}},{"key":"a","value":{"intValue":"x"}},{"key":7,"value":{}},{"value":{"boolValue":true}},{"key":"d","value":{"doubleValue":"1e3","intValue":1}},{"key":"n","value":{"doubleValue":"NaN"}}]}"#),
            record(r#"{"attributes":[{"key":"arr","value":{"arrayValue":{"values":[{"stringValue":"x"},{"kvlistValue":{"values":[{"key":"k","value":{"bytesValue":"AA=="}}]}},{},3,[1]],"x":1}}},{"key":"kv","value":{"kvlistValue":{"values":{"flat":true}}}},{"key":"e\u00e9","value":{"stringValue":"\"q\""}},{"key":"plain","value":"text"},{"key":"list","value":[{"stringValue":"kept as is"}]}]}"#),
        ]);
        lines
    }

    fn wire_view(text: &str) -> String {
        view(parse(text, group_from_text).unwrap(), text)
    }

    fn value_view(text: &str) -> String {
        view(parse_value(text).unwrap(), text)
    }

    /// Every field a log record's reader fills, for comparing the readers.
    fn view(input: Input, text: &str) -> String {
        let Input::Log(log) = input else {
            panic!("not a log: {text}");
        };
        format!(
            "{:?}",
            (
                &log.group.resource,
                &log.group.scope_name,
                log.time,
                log.observed,
                log.body,
                log.attributes,
                log.trace_id,
                log.span_id
            )
        )
    }

    #[test]
    fn wire_reads_like_the_value_path() {
        for line in lines() {
            assert!(wire::log_line(&line).is_some(), "wire refused {line}");
            assert_eq!(wire_view(&line), value_view(&line), "{line}");
        }
    }

    #[test]
    fn shapes_wire_refuses_go_to_the_value_path() {
        let record =
            |r: &str| format!(r#"{{"otlp_log":{{"resource":{{}},"scope":{{}},"logRecord":{r}}}}}"#);
        for line in [
            record(r#"{"attributes":[{"key":"a","value":{"stringValue":"x","stringValue":"y"}}]}"#),
            record(r#"{"attributes":[{"key":"a","value":{"fooValue":1}}]}"#),
            record(r#"{"attributes":[5,{"key":"b","value":{"stringValue":"y"}}]}"#),
            record(r#"{"attributes":[{"key":"a","value":{"arrayValue":{"values":{"x":1}}}}]}"#),
            record(r#"{"timeUnixNano":{"x":1},"body":[1]}"#),
            record("null"),
            r#"{"otlp_log":{"logRecord":{}}} trailing"#.to_owned(),
            r#"{"otlp_log":5,"otlp_log":{"logRecord":{}}}"#.to_owned(),
        ] {
            assert!(wire::log_line(&line).is_none(), "wire accepted {line}");
            if serde_json::from_str::<Value>(&line).is_ok() {
                assert_eq!(wire_view(&line), value_view(&line), "{line}");
            }
        }
    }
}
