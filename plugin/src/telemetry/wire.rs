//! The `otlp_log` line (what `serve` and `run` give the plugin for every
//! Claude Code log record) read in one pass over its text: no
//! `serde_json::Value` of the whole line, no copy of the log record, each
//! attribute value made plain as it is read, the resource and scope kept as
//! borrowed raw text (decoded once per distinct resource, see
//! `super::Context`).
//!
//! The reader only accepts the shapes Claude Code and OTLP exporters send.
//! Anything else (an attribute list entry that is not an object, a repeated
//! `AnyValue` kind, an unknown kind, …) is an error here, and the caller then
//! reads the line with the general `Value` path of `record`, whose results
//! are the reference: this reader must give the same record or fail, never
//! a different record. `tests::wire_reads_like_the_value_path` holds it to
//! that.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// An `{"otlp_log": {"resource", "scope", "logRecord"}}` line, read.
pub struct LogLine<'a> {
    /// The resource's JSON text (`None`: absent).
    pub resource: Option<&'a RawValue>,
    /// The scope's JSON text.
    pub scope: Option<&'a RawValue>,
    /// The log record.
    pub record: Record,
}

/// The members of a `logRecord` the events are built from.
#[derive(Default)]
pub struct Record {
    /// `timeUnixNano`, when a non-negative integer (number or decimal text).
    pub time: Option<u64>,
    /// `observedTimeUnixNano`, likewise.
    pub observed: Option<u64>,
    /// `body.stringValue`.
    pub body: Option<String>,
    /// Attributes, plain, in order.
    pub attributes: Map<String, Value>,
    /// `traceId`, when a string.
    pub trace_id: Option<String>,
    /// `spanId`, when a string.
    pub span_id: Option<String>,
}

/// Read an `otlp_log` line; `None` when it is not one this reader accepts
/// (then the `Value` path decides what it is).
pub fn log_line(text: &str) -> Option<LogLine<'_>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let line = de.deserialize_map(TopVisitor).ok()??;
    de.end().ok()?;
    Some(line)
}

/// The index of a member name in `names` (`None`: not one of them). Keys
/// with escapes arrive as transient strings, hence `visit_str`.
struct FieldIndex(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for FieldIndex {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for FieldIndex {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|n| *n == v))
    }
}

/// The line object: only `otlp_log` matters (a repeated member: the last
/// one counts, as in a `Value` map).
struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Option<LogLine<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an otlp_log line")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut line = None;
        while let Some(field) = map.next_key_seed(FieldIndex(&["otlp_log"]))? {
            match field {
                Some(_) => line = Some(map.next_value_seed(LogVisitor)?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(line)
    }
}

/// The `otlp_log` object.
struct LogVisitor;

impl<'de> DeserializeSeed<'de> for LogVisitor {
    type Value = LogLine<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LogVisitor {
    type Value = LogLine<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an otlp_log object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut line = LogLine {
            resource: None,
            scope: None,
            record: Record::default(),
        };
        let mut record = None;
        let names = &["resource", "scope", "logRecord"];
        while let Some(field) = map.next_key_seed(FieldIndex(names))? {
            match field {
                Some(0) => line.resource = Some(map.next_value()?),
                Some(1) => line.scope = Some(map.next_value()?),
                Some(_) => record = Some(map.next_value_seed(RecordVisitor)?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        line.record = record.unwrap_or_default();
        Ok(line)
    }
}

/// A `logRecord` object.
struct RecordVisitor;

impl<'de> DeserializeSeed<'de> for RecordVisitor {
    type Value = Record;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a logRecord object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut record = Record::default();
        let names = &[
            "timeUnixNano",
            "observedTimeUnixNano",
            "body",
            "attributes",
            "traceId",
            "spanId",
        ];
        while let Some(field) = map.next_key_seed(FieldIndex(names))? {
            match field {
                Some(0) => record.time = map.next_value_seed(Scalar::Nanos)?.nanos(),
                Some(1) => record.observed = map.next_value_seed(Scalar::Nanos)?.nanos(),
                Some(2) => record.body = map.next_value_seed(BodyVisitor)?,
                Some(3) => record.attributes = map.next_value_seed(KeyValuesVisitor)?,
                Some(4) => record.trace_id = map.next_value_seed(Scalar::Text)?.text(),
                Some(5) => record.span_id = map.next_value_seed(Scalar::Text)?.text(),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(record)
    }
}

/// A scalar member read by meaning: a fixed64 time (`record::nanos`
/// before its zero check) or a string. Other scalars read as absent, as
/// `Value::as_u64`/`as_str` would; objects and arrays are refused.
#[derive(Clone, Copy)]
enum Scalar {
    Nanos,
    Text,
}

/// What a [`Scalar`] read.
enum Read {
    Nanos(u64),
    Text(String),
    Nothing,
}

impl Read {
    fn nanos(self) -> Option<u64> {
        match self {
            Read::Nanos(n) => Some(n),
            _ => None,
        }
    }

    fn text(self) -> Option<String> {
        match self {
            Read::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Scalar {
    type Value = Read;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl Visitor<'_> for Scalar {
    type Value = Read;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Read, E> {
        Ok(Read::Nothing)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Read, E> {
        Ok(match (self, u64::try_from(v)) {
            (Scalar::Nanos, Ok(n)) => Read::Nanos(n),
            _ => Read::Nothing,
        })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Read, E> {
        Ok(match self {
            Scalar::Nanos => Read::Nanos(v),
            Scalar::Text => Read::Nothing,
        })
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Read, E> {
        Ok(Read::Nothing)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Read, E> {
        Ok(match self {
            Scalar::Nanos => v.trim().parse().map_or(Read::Nothing, Read::Nanos),
            Scalar::Text => Read::Text(v.to_owned()),
        })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Read, E> {
        Ok(Read::Nothing)
    }
}

/// `body`: its `stringValue` when a string (scalars other than an object
/// hold none).
struct BodyVisitor;

impl<'de> DeserializeSeed<'de> for BodyVisitor {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AnyValue body")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut body = None;
        while let Some(field) = map.next_key_seed(FieldIndex(&["stringValue"]))? {
            match field {
                Some(_) => body = map.next_value_seed(Scalar::Text)?.text(),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(body)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// An OTLP `KeyValue[]` as a plain map (`value::key_values`), or an
/// already-flat map; `null` is empty.
struct KeyValuesVisitor;

impl<'de> DeserializeSeed<'de> for KeyValuesVisitor {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyValuesVisitor {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a KeyValue list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Map::new();
        while let Some(kv) = seq.next_element_seed(KeyValueVisitor)? {
            if let (Some(key), value) = kv {
                out.insert(key, value);
            }
        }
        Ok(out)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        match Value::deserialize(de::value::MapAccessDeserializer::new(map))? {
            Value::Object(flat) => Ok(flat),
            _ => Err(de::Error::custom("not an object")),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Map::new())
    }
}

/// One `{"key", "value"}` entry: its key when a string, its value made
/// plain (`null` when absent).
struct KeyValueVisitor;

impl<'de> DeserializeSeed<'de> for KeyValueVisitor {
    type Value = (Option<String>, Value);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KeyValueVisitor {
    type Value = (Option<String>, Value);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a KeyValue object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut key, mut value) = (None, Value::Null);
        while let Some(field) = map.next_key_seed(FieldIndex(&["key", "value"]))? {
            match field {
                Some(0) => key = map.next_value_seed(Scalar::Text)?.text(),
                Some(_) => value = map.next_value_seed(PlainVisitor)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((key, value))
    }
}

/// An `AnyValue` made plain as it is read (`value::plain`); a value that is
/// not an `AnyValue` object is kept as is.
struct PlainVisitor;

impl<'de> DeserializeSeed<'de> for PlainVisitor {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// The `AnyValue` kinds, in the order `FieldIndex` names them.
const KINDS: &[&str] = &[
    "stringValue",
    "bytesValue",
    "boolValue",
    "intValue",
    "doubleValue",
    "arrayValue",
    "kvlistValue",
];

impl<'de> Visitor<'de> for PlainVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AnyValue")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // The first member is the kind (proto3 JSON writes one); a repeated
        // or unknown kind is left to the `Value` path.
        let Some(kind) = map.next_key_seed(FieldIndex(KINDS))? else {
            return Ok(Value::Null);
        };
        let Some(kind) = kind else {
            return Err(de::Error::custom("unknown AnyValue kind"));
        };
        let value = match kind {
            0..=2 => map.next_value::<Value>()?,
            3 => match map.next_value::<Value>()? {
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map_or(Value::String(s), Value::from),
                other => other,
            },
            4 => match map.next_value::<Value>()? {
                Value::String(s) => match s.parse::<f64>() {
                    Ok(f) if f.is_finite() => Value::from(f),
                    _ => Value::String(s),
                },
                other => other,
            },
            5 => Value::Array(map.next_value_seed(ValuesVisitor)?),
            _ => Value::Object(map.next_value_seed(KvListVisitor)?),
        };
        while let Some(other) = map.next_key_seed(FieldIndex(KINDS))? {
            if other == Some(kind) {
                return Err(de::Error::custom("repeated AnyValue kind"));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(value)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// `arrayValue`: `{"values": [AnyValue]}`, each made plain.
struct ValuesVisitor;

impl<'de> DeserializeSeed<'de> for ValuesVisitor {
    type Value = Vec<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ValuesVisitor {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an ArrayValue")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = None;
        while let Some(field) = map.next_key_seed(FieldIndex(&["values"]))? {
            match field {
                Some(_) => values = Some(map.next_value_seed(PlainList)?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(values.unwrap_or_default())
    }
}

/// A list of `AnyValue`s, made plain.
struct PlainList;

impl<'de> DeserializeSeed<'de> for PlainList {
    type Value = Vec<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PlainList {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of AnyValues")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(PlainVisitor)? {
            items.push(item);
        }
        Ok(items)
    }
}

/// `kvlistValue`: `{"values": KeyValue[]}`.
struct KvListVisitor;

impl<'de> DeserializeSeed<'de> for KvListVisitor {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KvListVisitor {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a KeyValueList")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = Map::new();
        while let Some(field) = map.next_key_seed(FieldIndex(&["values"]))? {
            match field {
                Some(_) => values = map.next_value_seed(KeyValuesVisitor)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(values)
    }
}
