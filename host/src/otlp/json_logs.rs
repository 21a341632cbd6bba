//! The JSON log path of `split`, without building a `serde_json::Value` of
//! the request: resources, scopes and records are borrowed as raw JSON text
//! (`RawValue`) and copied into the lines with their whitespace removed.
//! This is `serve`'s hottest host step for OTLP/HTTP JSON: the `Value` path
//! allocated every key and string of the request, then deep-copied the
//! resource and scope into every record's line and serialized them again.
//!
//! The plugin parses each line, so the copy only has to be the same JSON
//! value, not the same bytes as a `Value` round trip (escapes such as
//! `\u00e9` stay as sent).

use anyhow::{Result, bail};
use serde::Deserialize;
use serde_json::value::RawValue;

/// `ExportLogsServiceRequest`, borrowed. Absent and `null` lists are empty.
#[derive(Deserialize)]
struct LogsRequest<'a> {
    #[serde(rename = "resourceLogs", borrow, default)]
    resource_logs: Option<Vec<ResourceLogs<'a>>>,
}

#[derive(Deserialize)]
struct ResourceLogs<'a> {
    #[serde(borrow, default)]
    resource: Option<&'a RawValue>,
    #[serde(rename = "scopeLogs", borrow, default)]
    scope_logs: Option<Vec<ScopeLogs<'a>>>,
}

#[derive(Deserialize)]
struct ScopeLogs<'a> {
    #[serde(borrow, default)]
    scope: Option<&'a RawValue>,
    #[serde(rename = "logRecords", borrow, default)]
    log_records: Option<Vec<&'a RawValue>>,
}

/// Split a JSON `ExportLogsServiceRequest` into `otlp_log` lines.
pub fn split(body: &[u8], out: &mut Vec<u8>) -> Result<()> {
    // A derived struct also reads a JSON array (field by position): refuse it here.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        bail!("the body must be a JSON object (an OTLP export request)");
    }
    let request: LogsRequest = serde_json::from_slice(body).map_err(|e| {
        anyhow::anyhow!(
            "the body is not an OTLP logs request: {}",
            super::classify(&e)
        )
    })?;
    let mut resource = Vec::new();
    let mut scope = Vec::new();
    for block in request.resource_logs.unwrap_or_default() {
        resource.clear();
        push_compact_or_empty(&mut resource, block.resource);
        for scope_block in block.scope_logs.unwrap_or_default() {
            scope.clear();
            push_compact_or_empty(&mut scope, scope_block.scope);
            for record in scope_block.log_records.unwrap_or_default() {
                super::push_log_line(out, &resource, &scope, |out| {
                    push_compact(out, record.get().as_bytes());
                });
            }
        }
    }
    Ok(())
}

fn push_compact_or_empty(out: &mut Vec<u8>, value: Option<&RawValue>) {
    match value {
        Some(raw) => push_compact(out, raw.get().as_bytes()),
        None => out.extend_from_slice(b"{}"),
    }
}

/// Append valid JSON text without its insignificant whitespace, so that a
/// pretty-printed request still gives one line per record. Outside strings
/// only space, tab, CR and LF can be whitespace, and inside them those bytes
/// never occur unescaped (RFC 8259 §7), so a byte scan tracking quotes and
/// backslashes is exact.
pub(super) fn push_compact(out: &mut Vec<u8>, json: &[u8]) {
    let mut in_string = false;
    let mut escaped = false;
    let mut run_start = 0;
    for (i, &b) in json.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            out.extend_from_slice(&json[run_start..i]);
            run_start = i + 1;
        }
    }
    out.extend_from_slice(&json[run_start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_keeps_strings_and_removes_whitespace_elsewhere() {
        let mut out = Vec::new();
        push_compact(
            &mut out,
            b"{ \"a b\" :\n\t[ 1 , \"x \\\" y\\\\\" ,\r\n {\"c\": \" \\n \"} ] }",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a b":[1,"x \" y\\",{"c":" \n "}]}"#
        );
    }

    #[test]
    fn arrays_and_wrong_types_are_refused_without_content() {
        let mut out = Vec::new();
        assert!(split(b"[[]]", &mut out).is_err());
        let e = split(br#"{"resourceLogs": "secret"}"#, &mut out).unwrap_err();
        assert!(!format!("{e:#}").contains("secret"));
        assert!(split(br#"{"resourceLogs": null}"#, &mut out).is_ok());
        assert!(out.is_empty());
    }
}
