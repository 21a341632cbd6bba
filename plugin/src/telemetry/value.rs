//! OTLP attribute values: the proto3-JSON `AnyValue` made plain, and the one
//! tolerant reader of numbers and booleans that every attribute goes through.
//!
//! Claude Code changed wire types between versions (reference §1): token
//! counts were numeric strings up to 2.1.116 and integers after, `cost_usd` a
//! numeric string then a double, `prompt_length` is still a numeric string,
//! `success` a `"true"`/`"false"` string. Fluent Bit hands us the same values
//! already flattened to plain JSON. So values are first made plain
//! ([`plain`]), then read by meaning ([`int`], [`boolean`], [`micros`]),
//! never by wire type.

use serde_json::{Map, Value};

/// The plain JSON form of an OTLP `AnyValue` (proto3 JSON mapping):
/// `stringValue` -> string, `intValue` (number or decimal string) -> number,
/// `doubleValue` -> number (`"NaN"`/`"Infinity"` stay strings),
/// `boolValue` -> bool, `arrayValue` -> array, `kvlistValue` -> object,
/// `bytesValue` -> its base64 text, an empty `AnyValue` -> null.
/// Anything that is not an `AnyValue` object is returned as is (Fluent Bit's
/// already-flattened values).
pub fn plain(any: &Value) -> Value {
    let Value::Object(map) = any else {
        return any.clone();
    };
    let Some((kind, inner)) = map.iter().next() else {
        return Value::Null;
    };
    match kind.as_str() {
        "stringValue" | "bytesValue" | "boolValue" => inner.clone(),
        "intValue" => match inner {
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map_or_else(|_| inner.clone(), Value::from),
            _ => inner.clone(),
        },
        "doubleValue" => match inner {
            Value::String(s) => s
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map_or_else(|| inner.clone(), Value::from),
            _ => inner.clone(),
        },
        "arrayValue" => Value::Array(
            inner
                .get("values")
                .and_then(Value::as_array)
                .map(|items| items.iter().map(plain).collect())
                .unwrap_or_default(),
        ),
        "kvlistValue" => Value::Object(key_values(inner.get("values"))),
        _ => any.clone(),
    }
}

/// An OTLP `KeyValue[]` (`[{"key":…,"value":AnyValue}]`) as a plain map, in
/// order; an already-flat map (Fluent Bit) is copied. A later duplicate key
/// replaces an earlier one (OTLP requires unique keys).
pub fn key_values(list: Option<&Value>) -> Map<String, Value> {
    match list {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|kv| {
                let key = kv.get("key")?.as_str()?;
                let value = kv.get("value").map_or(Value::Null, plain);
                Some((key.to_owned(), value))
            })
            .collect(),
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    }
}

/// An integer, whatever the wire type: a JSON integer, a double with no
/// fraction, or a string holding either. `None` for anything else (the
/// caller passes such a value through as unmapped rather than guess).
pub fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).and_then(f64_to_i64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0)
                    .and_then(f64_to_i64)
            })
        }
        _ => None,
    }
}

/// A non-negative integer as `u64` (nanosecond timestamps exceed `i64`
/// only past 2262, but OTLP declares them `fixed64`).
pub fn uint(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

fn f64_to_i64(f: f64) -> Option<i64> {
    // The range check makes the cast exact.
    #[expect(clippy::cast_possible_truncation, reason = "range checked first")]
    ((-9.0e15..=9.0e15).contains(&f)).then_some(f as i64)
}

/// A boolean: `true`/`false`, or the strings `"true"`/`"false"` (any case).
pub fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// US dollars as integer micro-dollars, read from the decimal text (a JSON
/// number's shortest round-trip text, or the string as sent), rounded half
/// up at the sixth decimal. Exact: `0.099585` gives 99585, where
/// `0.099585 * 1e6` in floating point gives 99584.99999999999.
pub fn micros(value: &Value) -> Option<i64> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    decimal_micros(&text)
}

/// `[-]digits[.digits]` (or with an exponent, through `f64`) to micros.
fn decimal_micros(text: &str) -> Option<i64> {
    if text.contains(['e', 'E']) {
        let f: f64 = text.parse().ok()?;
        return f64_to_i64((f * 1e6).round());
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut micros = whole.checked_mul(1_000_000)?;
    let mut scale = 100_000;
    for digit in fraction.bytes().take(6) {
        micros += i64::from(digit - b'0') * scale;
        scale /= 10;
    }
    if fraction.as_bytes().get(6).is_some_and(|d| *d >= b'5') {
        micros += 1;
    }
    Some(if negative { -micros } else { micros })
}

/// `micros` as an exact decimal JSON number of dollars (`1453276` ->
/// `1.453276`), for rules that compare dollars.
pub fn dollars(micros: i64) -> Value {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let text = format!("{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000);
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_wire_type_of_a_count_reads_the_same() {
        for wire in [
            json!({"intValue": 412877}),
            json!({"intValue": "412877"}),
            json!({"doubleValue": 412877.0}),
            json!({"stringValue": "412877"}),
        ] {
            assert_eq!(int(&plain(&wire)), Some(412_877), "{wire}");
        }
        assert_eq!(int(&json!("12.5")), None);
        assert_eq!(int(&json!("undefined")), None);
    }

    #[test]
    fn cost_reads_exactly_from_every_wire_type() {
        assert_eq!(
            micros(&plain(&json!({"doubleValue": 0.099585}))),
            Some(99_585)
        );
        assert_eq!(micros(&json!("0.027847249999999997")), Some(27_847));
        assert_eq!(micros(&json!(1.453276)), Some(1_453_276));
        assert_eq!(micros(&json!("1.4532765")), Some(1_453_277));
        assert_eq!(micros(&json!(2)), Some(2_000_000));
        assert_eq!(micros(&json!("1e-6")), Some(1));
        assert_eq!(micros(&json!("abc")), None);
        assert_eq!(dollars(1_453_276), json!(1.453276));
        assert_eq!(dollars(963).to_string(), "0.000963");
    }

    #[test]
    fn booleans_as_strings_or_bools() {
        assert_eq!(boolean(&json!("true")), Some(true));
        assert_eq!(boolean(&plain(&json!({"boolValue": false}))), Some(false));
        assert_eq!(boolean(&json!("yes")), None);
    }

    #[test]
    fn key_values_and_nested_any_values() {
        let list = json!([
            {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "x"}]}}},
            {"key": "b", "value": {"kvlistValue": {"values": [{"key": "c", "value": {"intValue": "7"}}]}}},
            {"key": "d", "value": {}}
        ]);
        let map = key_values(Some(&list));
        assert_eq!(
            Value::Object(map),
            json!({"a": ["x"], "b": {"c": 7}, "d": null})
        );
    }
}
