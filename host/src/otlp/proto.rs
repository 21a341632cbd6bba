//! The OTLP protobuf messages `serve` decodes, declared with `prost`'s
//! derive from the published protos (`open-telemetry/opentelemetry-proto`
//! v1.x: `collector/logs/v1/logs_service.proto`, `logs/v1/logs.proto`,
//! `metrics/v1/metrics.proto`, `common/v1/common.proto`,
//! `resource/v1/resource.proto`), field numbers and types exactly as there.
//!
//! Why not the `opentelemetry-proto` crate: its generated messages come with
//! `tonic` (a gRPC stack this HTTP hop does not use) and need its build
//! script; these few messages compile in seconds with `prost` alone. Fields
//! we do not read (exemplars, histogram buckets, entity refs) are left out:
//! protobuf decoders skip unknown fields, so leaving them out is safe.
//!
//! Each message converts to the proto3 JSON mapping (`to_json`), so the
//! protobuf path feeds the plugin exactly what the JSON path does.

#![allow(
    missing_docs,
    reason = "mirrors of the published .proto messages, documented there"
)]

use base64::Engine as _;
use serde_json::{Map, Value, json};

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_logs: Vec<ResourceLogs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceLogs {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_logs: Vec<ScopeLogs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeLogs {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    pub log_records: Vec<LogRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecord {
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    #[prost(fixed64, tag = "11")]
    pub observed_time_unix_nano: u64,
    #[prost(int32, tag = "2")]
    pub severity_number: i32,
    #[prost(string, tag = "3")]
    pub severity_text: String,
    #[prost(message, optional, tag = "5")]
    pub body: Option<AnyValue>,
    #[prost(message, repeated, tag = "6")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "7")]
    pub dropped_attributes_count: u32,
    #[prost(fixed32, tag = "8")]
    pub flags: u32,
    #[prost(bytes = "vec", tag = "9")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "10")]
    pub span_id: Vec<u8>,
    #[prost(string, tag = "12")]
    pub event_name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "2")]
    pub dropped_attributes_count: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<any_value::Value>,
}

pub mod any_value {
    #[derive(Clone, PartialEq, prost::Oneof)]
    #[allow(
        clippy::enum_variant_names,
        reason = "the oneof's field names in common.proto (string_value, ...)"
    )]
    pub enum Value {
        #[prost(string, tag = "1")]
        StringValue(String),
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        #[prost(int64, tag = "3")]
        IntValue(i64),
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        #[prost(message, tag = "5")]
        ArrayValue(super::ArrayValue),
        #[prost(message, tag = "6")]
        KvlistValue(super::KeyValueList),
        #[prost(bytes, tag = "7")]
        BytesValue(Vec<u8>),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ArrayValue {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValueList {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogsServiceResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportPartialSuccess>,
}

/// `ExportLogsPartialSuccess` and `ExportMetricsPartialSuccess` have the same
/// fields and numbers (`rejected_log_records` / `rejected_data_points` = 1,
/// `error_message` = 2).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportPartialSuccess {
    #[prost(int64, tag = "1")]
    pub rejected: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceMetrics {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeMetrics {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub unit: String,
    #[prost(oneof = "metric::Data", tags = "5, 7, 9, 10, 11")]
    pub data: Option<metric::Data>,
}

pub mod metric {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Data {
        #[prost(message, tag = "5")]
        Gauge(super::Gauge),
        #[prost(message, tag = "7")]
        Sum(super::Sum),
        /// Histogram, exponential histogram, summary: not read, only noticed.
        #[prost(message, tag = "9")]
        Histogram(super::Opaque),
        #[prost(message, tag = "10")]
        ExponentialHistogram(super::Opaque),
        #[prost(message, tag = "11")]
        Summary(super::Opaque),
    }
}

/// A message whose fields are not read.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Opaque {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Gauge {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sum {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NumberDataPoint {
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "2")]
    pub start_time_unix_nano: u64,
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    #[prost(oneof = "number_data_point::Value", tags = "4, 6")]
    pub value: Option<number_data_point::Value>,
}

pub mod number_data_point {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        #[prost(double, tag = "4")]
        AsDouble(f64),
        #[prost(sfixed64, tag = "6")]
        AsInt(i64),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsServiceResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportPartialSuccess>,
}

// ---- proto3 JSON mapping (OTLP flavour: hex trace ids, 64-bit as strings)

/// `AnyValue` as proto3 JSON.
pub fn any_to_json(any: &AnyValue) -> Value {
    use any_value::Value as V;
    match &any.value {
        None => json!({}),
        Some(V::StringValue(s)) => json!({ "stringValue": s }),
        Some(V::BoolValue(b)) => json!({ "boolValue": b }),
        Some(V::IntValue(i)) => json!({ "intValue": i.to_string() }),
        Some(V::DoubleValue(d)) => json!({ "doubleValue": d }),
        Some(V::ArrayValue(a)) => {
            json!({ "arrayValue": { "values": a.values.iter().map(any_to_json).collect::<Vec<_>>() } })
        }
        Some(V::KvlistValue(kv)) => json!({ "kvlistValue": { "values": kvs_to_json(&kv.values) } }),
        Some(V::BytesValue(b)) => {
            json!({ "bytesValue": base64::engine::general_purpose::STANDARD.encode(b) })
        }
    }
}

/// `KeyValue[]` as proto3 JSON.
pub fn kvs_to_json(kvs: &[KeyValue]) -> Value {
    Value::Array(
        kvs.iter()
            .map(|kv| {
                let value = kv.value.as_ref().map_or_else(|| json!({}), any_to_json);
                json!({ "key": kv.key, "value": value })
            })
            .collect(),
    )
}

/// `Resource` as proto3 JSON.
pub fn resource_to_json(resource: Option<&Resource>) -> Value {
    let attributes = resource.map_or(&[][..], |r| &r.attributes);
    json!({ "attributes": kvs_to_json(attributes) })
}

/// `InstrumentationScope` as proto3 JSON.
pub fn scope_to_json(scope: Option<&InstrumentationScope>) -> Value {
    scope.map_or_else(
        || json!({}),
        |s| json!({ "name": s.name, "version": s.version }),
    )
}

/// `LogRecord` as proto3 JSON (fields at their default are left out).
pub fn log_to_json(record: &LogRecord) -> Value {
    let mut map = Map::new();
    let mut put = |key: &str, value: Value| {
        map.insert(key.to_owned(), value);
    };
    if record.time_unix_nano != 0 {
        put("timeUnixNano", json!(record.time_unix_nano.to_string()));
    }
    if record.observed_time_unix_nano != 0 {
        put(
            "observedTimeUnixNano",
            json!(record.observed_time_unix_nano.to_string()),
        );
    }
    if let Some(body) = &record.body {
        put("body", any_to_json(body));
    }
    put("attributes", kvs_to_json(&record.attributes));
    if !record.trace_id.is_empty() {
        put("traceId", json!(hex::encode(&record.trace_id)));
    }
    if !record.span_id.is_empty() {
        put("spanId", json!(hex::encode(&record.span_id)));
    }
    if record.flags != 0 {
        put("flags", json!(record.flags));
    }
    Value::Object(map)
}

/// `NumberDataPoint` as proto3 JSON.
pub fn point_to_json(point: &NumberDataPoint) -> Value {
    let mut map = Map::new();
    map.insert("attributes".to_owned(), kvs_to_json(&point.attributes));
    if point.start_time_unix_nano != 0 {
        map.insert(
            "startTimeUnixNano".to_owned(),
            json!(point.start_time_unix_nano.to_string()),
        );
    }
    if point.time_unix_nano != 0 {
        map.insert(
            "timeUnixNano".to_owned(),
            json!(point.time_unix_nano.to_string()),
        );
    }
    match point.value {
        Some(number_data_point::Value::AsDouble(d)) => {
            map.insert("asDouble".to_owned(), json!(d));
        }
        Some(number_data_point::Value::AsInt(i)) => {
            map.insert("asInt".to_owned(), json!(i.to_string()));
        }
        None => {}
    }
    Value::Object(map)
}
