//! Native harness of the Claude Code telemetry path, for profiling and for
//! before/after figures without the host (which needs wasmtime):
//!
//! ```text
//! cargo run --release -p claude-audit-plugin --example telemetry -- \
//!     [--records N] [--batch N] [--settings JSON] [--output FILE] FILE...
//! ```
//!
//! Each `FILE` is an OTLP JSON export request (logs or metrics, as Claude
//! Code or a collector's file exporter writes it), split into `otlp_log` /
//! `otlp_metric` record lines the way the host does (`host/src/otlp/`), or
//! NDJSON record lines as they are (Fluent Bit's `[[time, metadata], body]`
//! records). The records are cycled into batches (`--batch`, default 150:
//! one `bench --otlp` request) until `--records` (default 100,000) and
//! transformed with full redaction and a fixed key; the figure is process CPU
//! time per record. Run it under `perf record -g` to see where the time goes.
//! `--output FILE` instead writes one pass's events, counters, dead letters
//! and vault pairs, to compare two builds byte for byte.

use std::time::Instant;

use claude_audit_plugin::{HmacKey, Transform};
use serde_json::{Value, json};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut records = 100_000usize;
    let mut batch_size = 150usize;
    let mut settings = "{}".to_owned();
    let mut output = None;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--records" => records = value()?.parse()?,
            "--batch" => batch_size = value()?.parse()?,
            "--settings" => settings = value()?,
            "--output" => output = Some(value()?),
            _ => files.push(arg),
        }
    }
    if files.is_empty() {
        return Err(
            "usage: telemetry [--records N] [--batch N] [--settings JSON] [--output FILE] FILE..."
                .into(),
        );
    }
    let mut lines = Vec::new();
    for file in &files {
        let text = std::fs::read(file)?;
        record_lines(&text, &mut lines)?;
    }
    let mut batches = Vec::new();
    let mut cycle = lines.iter().cycle();
    for _ in 0..records.div_ceil(batch_size) {
        let mut batch = Vec::new();
        for line in cycle.by_ref().take(batch_size) {
            batch.extend_from_slice(line);
            batch.push(b'\n');
        }
        batches.push(batch);
    }
    let key = HmacKey::new("bench", vec![7; 32]).ok_or("a 32-byte key is valid")?;
    let transform = Transform::new(&settings, vec![key], None).map_err(|e| e.to_string())?;
    if let Some(path) = output {
        // One pass over the records, for byte comparisons between builds.
        let mut input = Vec::new();
        for line in &lines {
            input.extend_from_slice(line);
            input.push(b'\n');
        }
        let out = transform.process_batch(&input);
        let mut text = out.records;
        text.extend_from_slice(format!("{:?}\n{:?}\n", out.counters, out.dead_letters).as_bytes());
        for entry in &out.vault {
            text.extend_from_slice(format!("{entry:?}\n").as_bytes());
        }
        std::fs::write(path, text)?;
        return Ok(());
    }
    // Warm up: lazily built tables (phone metadata, detectors, telemetry tables).
    transform.process_batch(&batches[0]);
    let cpu = cpu_ticks();
    let started = Instant::now();
    let (mut emitted, mut total) = (0u64, 0u64);
    for batch in &batches {
        let counters = transform.process_batch(batch).counters;
        emitted += u64::from(counters.emitted);
        total += u64::from(counters.records);
    }
    let wall = started.elapsed().as_secs_f64();
    let secs = cpu_ticks()
        .zip(cpu)
        .map_or(wall, |(b, a)| (b - a) as f64 / 100.0);
    println!(
        "{total} records ({emitted} events) in {secs:.2} CPU-s ({wall:.2} s wall): \
         {:.1} µs per record, {:.0} records per CPU-second",
        secs * 1e6 / total as f64,
        total as f64 / secs,
    );
    Ok(())
}

/// The record lines of one input file: an OTLP JSON export request split as
/// the host splits it, else the file's non-empty lines.
fn record_lines(text: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), Box<dyn std::error::Error>> {
    // A whole-file JSON object is an export request; NDJSON is not one value.
    let Ok(request @ Value::Object(_)) = serde_json::from_slice::<Value>(text) else {
        out.extend(
            claude_audit_plugin::lines(text)
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
        return Ok(());
    };
    let list = |v: &Value, key: &str| v.get(key).and_then(Value::as_array).cloned();
    let empty = || json!({});
    for block in list(&request, "resourceLogs").unwrap_or_default() {
        let resource = block.get("resource").cloned().unwrap_or_else(empty);
        for scope_block in list(&block, "scopeLogs").unwrap_or_default() {
            let scope = scope_block.get("scope").cloned().unwrap_or_else(empty);
            for record in list(&scope_block, "logRecords").unwrap_or_default() {
                let line = json!({"otlp_log": {"resource": resource, "scope": scope, "logRecord": record}});
                out.push(serde_json::to_vec(&line)?);
            }
        }
    }
    for block in list(&request, "resourceMetrics").unwrap_or_default() {
        let resource = block.get("resource").cloned().unwrap_or_else(empty);
        for scope_block in list(&block, "scopeMetrics").unwrap_or_default() {
            let scope = scope_block.get("scope").cloned().unwrap_or_else(empty);
            for metric in list(&scope_block, "metrics").unwrap_or_default() {
                for kind in ["sum", "gauge"] {
                    let Some(data) = metric.get(kind) else {
                        continue;
                    };
                    let head =
                        json!({"name": metric["name"], "unit": metric["unit"], "kind": kind});
                    let temporality = data
                        .get("aggregationTemporality")
                        .cloned()
                        .unwrap_or(json!(0));
                    for point in list(data, "dataPoints").unwrap_or_default() {
                        let line = json!({"otlp_metric": {
                            "resource": resource, "scope": scope, "metric": head,
                            "aggregationTemporality": temporality, "dataPoint": point,
                        }});
                        out.push(serde_json::to_vec(&line)?);
                    }
                }
            }
        }
    }
    Ok(())
}

/// User + system CPU time of this process in clock ticks (1/100 s on
/// Linux), from `/proc/self/stat`; `None` elsewhere.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}
