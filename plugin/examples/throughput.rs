//! Native throughput harness of the plugin logic, for profiling without the
//! host (which needs wasmtime): `cargo run --release -p claude-audit-plugin
//! --example throughput -- CORPUS.ndjson [RECORDS] [SETTINGS_JSON]`, under
//! `perf record -g` to see where the time goes (`WITHOUT=family` leaves a
//! detector family out, as `claude-audit bench --redaction-cost` does).

use std::time::Instant;

use claude_audit_plugin::redact::Coverage;
use claude_audit_plugin::{HmacKey, Transform};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: throughput CORPUS [RECORDS] [SETTINGS]")?;
    let records: usize = args.next().map_or(Ok(200_000), |n| n.parse())?;
    let settings = args.next().unwrap_or_else(|| "{}".to_owned());
    let corpus = std::fs::read(&path)?;
    let lines: Vec<&[u8]> = claude_audit_plugin::lines(&corpus)
        .filter(|l| !l.is_empty())
        .collect();
    let mut batches = Vec::new();
    let mut cycle = lines.iter().cycle();
    for _ in 0..records.div_ceil(1000) {
        let mut batch = Vec::new();
        for line in cycle.by_ref().take(1000) {
            batch.extend_from_slice(line);
            batch.push(b'\n');
        }
        batches.push(batch);
    }
    let bytes: usize = batches.iter().map(Vec::len).sum();
    let key = HmacKey::new("bench", vec![7; 32]).ok_or("a 32-byte key is valid")?;
    // `WITHOUT=family`: leave one detector family out (see `Coverage`).
    let coverage = match std::env::var("WITHOUT") {
        Ok(family) => Coverage::without(&family)?,
        Err(_) => Coverage::full(),
    };
    let transform = Transform::with_coverage(&settings, vec![key], None, coverage)
        .map_err(|e| e.to_string())?;
    // Warm up: lazily built tables (phone metadata, detectors).
    transform.process_batch(&batches[0]);
    let cpu = cpu_ticks();
    let started = Instant::now();
    let mut emitted = 0u64;
    for batch in &batches {
        emitted += u64::from(transform.process_batch(batch).counters.emitted);
    }
    let wall = started.elapsed().as_secs_f64();
    let secs = cpu_ticks()
        .zip(cpu)
        .map_or(wall, |(b, a)| (b - a) as f64 / 100.0);
    println!(
        "{emitted} events in {secs:.2} CPU-s ({wall:.2} s wall): {:.0} events/s, {:.1} MiB/s per core",
        emitted as f64 / secs,
        bytes as f64 / 1048576.0 / secs
    );
    Ok(())
}

/// User + system CPU time of this process in clock ticks (1/100 s on
/// Linux), from `/proc/self/stat`; `None` elsewhere.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}
