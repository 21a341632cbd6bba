//! Detections in the Fluent Bit module: the rule pack runs in the module
//! instance (enabled from its `claude-audit.toml`), alerts travel attached
//! to the event that raised them (`claude_audit_alerts`, since the `wasm`
//! filter gives one record per record) and `pipelines/fluent-bit/
//! split-alerts.lua` splits them into records. The result equals
//! `claude-audit run --batch-records 1` (alerts right after their event):
//! through the ABI harness, and through the real Fluent Bit when present, in
//! both event formats (msgpack: the `wasm` filter, then the `parser` filter
//! that unwraps `claude_audit_json`, then the split).

use std::process::Command;

use serde_json::Value;

use crate::detections::{CANARY_EMAIL, CANARY_IP, failures};
use crate::fluentbit_abi::{FORMATS, FluentBit, Format, configured};
use crate::pipelines::{fluent_bit, fluent_bit_module};
use crate::util::{Sandbox, fixture, read_ndjson, repo_file, run, stderr};

const POLICY: &str = "[plugin.detections]\nenabled = true\n";

/// Twelve failed sign-ins from one address (brute force and, with the
/// parity signals, one signal each), then the fixture feed.
fn input() -> Vec<u8> {
    let mut input = failures(0, 12, 30).into_bytes();
    input.extend(std::fs::read(fixture("activities.ndjson")).unwrap());
    input
}

/// `claude-audit run --batch-records 1` under the same policy and key.
fn reference(sb: &Sandbox, input: &[u8]) -> Vec<Value> {
    let path = sb.write("input.ndjson", input);
    let config = sb.write("run.toml", POLICY);
    let out = run(sb
        .run_cmd()
        .arg("--config")
        .arg(&config)
        .args(["--batch-records", "1"])
        .arg(&path));
    assert!(out.status.success(), "{}", stderr(&out));
    read_ndjson(&out.stdout)
}

/// What split-alerts.lua does, for the harness: the event, then its alerts.
fn split(mut record: Value, out: &mut Vec<Value>) {
    let alerts = record
        .as_object_mut()
        .unwrap()
        .remove("claude_audit_alerts");
    out.push(record);
    if let Some(Value::Array(alerts)) = alerts {
        out.extend(alerts);
    }
}

fn alert_count(events: &[Value]) -> usize {
    events
        .iter()
        .filter(|e| e["event_type"] == "claude_audit.alert")
        .count()
}

#[test]
fn module_detections_equal_run_through_the_abi() {
    let sb = Sandbox::new();
    let input = input();
    let expected = reference(&sb, &input);
    assert!(
        alert_count(&expected) > 12,
        "brute force, spray and signals"
    );
    let etc = configured(&sb, POLICY);
    for format in FORMATS {
        let mut fb = FluentBit::new(&[&etc]);
        let mut got = Vec::new();
        for record in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let answer = fb.call_in(format, record);
            assert!(!String::from_utf8_lossy(&answer).contains(CANARY_EMAIL));
            assert!(!String::from_utf8_lossy(&answer).contains(CANARY_IP));
            split(serde_json::from_slice(&answer).unwrap(), &mut got);
        }
        assert_eq!(got.len(), expected.len(), "{format:?}");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(
                g, e,
                "{format:?}: record {i} differs from `claude-audit run`"
            );
        }
    }
}

#[test]
fn module_detections_through_the_real_fluent_bit_with_the_lua_split() {
    through_the_real_fluent_bit(Format::Json);
}

#[test]
fn module_detections_through_the_real_fluent_bit_in_msgpack_mode() {
    through_the_real_fluent_bit(Format::Msgpack);
}

/// The wasm filter in `format` (and, for msgpack, the `parser` filter that
/// unwraps the answer, as the README's Fluent Bit section shows).
fn wasm_filters(format: Format, module: &std::path::Path, etc: &std::path::Path) -> String {
    let (function, event_format, unwrap) = match format {
        Format::Json => ("claude_audit_filter", "json", String::new()),
        Format::Msgpack => (
            "claude_audit_filter_msgpack",
            "msgpack",
            "\x20   - name: parser\n      match: '*'\n      key_name: claude_audit_json\n      \
             parser: json\n"
                .to_owned(),
        ),
    };
    format!(
        "\x20 filters:\n    - name: wasm\n      match: '*'\n      wasm_path: {module}\n      \
         function_name: {function}\n      event_format: {event_format}\n      accessible_paths: {etc}\n      \
         wasm_heap_size: 8M\n      wasm_stack_size: 64K\n{unwrap}",
        module = module.display(),
        etc = etc.display(),
    )
}

fn through_the_real_fluent_bit(format: Format) {
    let Some(bin) = fluent_bit() else { return };
    let Some(module) = fluent_bit_module() else {
        return;
    };
    let sb = Sandbox::new();
    let input = input();
    let expected = reference(&sb, &input);
    let etc = configured(&sb, POLICY);
    let input_path = sb.write("fb-input.ndjson", &input);
    let config = format!(
        "service:\n  flush: 1\n  grace: 5\n\
         parsers:\n  - name: json\n    format: json\n\
         pipeline:\n  inputs:\n    - name: tail\n      tag: claude.events.file\n      path: {input}\n      \
         parser: json\n      read_from_head: true\n      exit_on_eof: true\n\
         {filters}\
         \x20   - name: lua\n      match: '*'\n      script: {lua}\n      call: claude_audit_split_alerts\n      enable_flb_null: true\n\
         \x20 outputs:\n    - name: file\n      match: '*'\n      path: {dir}\n      file: out.ndjson\n      \
         format: plain\n",
        input = input_path.display(),
        filters = wasm_filters(format, &module, &etc),
        lua = repo_file("pipelines/fluent-bit/split-alerts.lua").display(),
        dir = sb.dir.path().display(),
    );
    let config_path = sb.write("fluent-bit.yaml", config);
    let out = Command::new(&bin)
        .arg("-c")
        .arg(&config_path)
        .output()
        .expect("run fluent-bit");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "fluent-bit failed:\n{log}");
    let got = read_ndjson(&std::fs::read(sb.path("out.ndjson")).unwrap_or_default());
    assert_eq!(alert_count(&got), alert_count(&expected), "{log}");
    assert_eq!(
        got, expected,
        "{format:?}: Fluent Bit + Lua split differs from `claude-audit run`"
    );
}
