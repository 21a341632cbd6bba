//! Native cost of the detection engine, for profiling without the host
//! (which needs wasmtime): `cargo run --release -p claude-audit-plugin
//! --example detect_cost -- FEED.ndjson GEOIP.mmdb [ROUNDS]`, with a feed
//! and database from `claude-audit simulate --output FEED --geoip GEOIP`.
//! Runs the feed through the transform with the whole pack (signals off, as
//! `bench --detections` does) and without detections, both enriched from
//! the same database, alternating for ROUNDS rounds, and prints the CPU time
//! of each and the engine's share. Under `perf record -g` (`ONLY=with`
//! skips the runs without detections) it shows where the engine's time goes;
//! `ONLY=without` skips the runs with detections (to compare two
//! processes' CPU time under `time` or `perf stat`).
//!
//! FEED `-` reads the feed from standard input a batch at a time, once, with
//! detections only, and prints the throughput and the exported state's size
//! (for an organization too large to hold: `claude-audit simulate --users
//! 10000 | detect_cost - GEOIP`).

use std::time::Instant;

use claude_audit_plugin::{HmacKey, Transform};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: detect_cost FEED|- GEOIP [ROUNDS]";
    let path = args.next().ok_or(usage)?;
    let geoip = std::fs::read(args.next().ok_or(usage)?)?;
    let key = HmacKey::new("bench", vec![7; 32]).ok_or("a 32-byte key is valid")?;
    if path == "-" {
        return streamed(key, geoip);
    }
    let feed = std::fs::read(path)?;
    let rounds: usize = args.next().map_or(Ok(3), |n| n.parse())?;
    let only = std::env::var("ONLY").unwrap_or_default();
    let lines: Vec<&[u8]> = claude_audit_plugin::lines(&feed)
        .filter(|l| !l.is_empty())
        .collect();
    let batches: Vec<Vec<u8>> = lines
        .chunks(1000)
        .map(|chunk| {
            let mut batch = chunk.join(&b'\n');
            batch.push(b'\n');
            batch
        })
        .collect();
    let (mut with, mut without) = (0.0, 0.0);
    let mut alerts = 0;
    for _ in 0..rounds {
        for detections in [true, false] {
            if only == "with" && !detections || only == "without" && detections {
                continue;
            }
            let settings =
                format!(r#"{{"detections":{{"enabled":{detections},"signals":false}}}}"#);
            let transform =
                Transform::with_geoip(&settings, vec![key.clone()], None, vec![geoip.clone()])
                    .map_err(|e| format!("{e:?}"))?;
            let cpu = cpu_ticks();
            let started = Instant::now();
            let mut raised = 0;
            for batch in &batches {
                raised += transform.process_batch(batch).counters.alerts;
            }
            let wall = started.elapsed().as_secs_f64();
            let secs = cpu_ticks()
                .zip(cpu)
                .map_or(wall, |(b, a)| (b - a) as f64 / 100.0);
            if detections {
                with += secs;
                alerts = raised;
            } else {
                without += secs;
            }
        }
    }
    let rate = |secs: f64| (lines.len() * rounds) as f64 / secs.max(1e-9);
    println!(
        "{} events x {rounds} rounds, {alerts} alerts: {:.0} events/s with detections, {:.0} without; \
         detection costs {:.1}% of the throughput",
        lines.len(),
        rate(with),
        rate(without),
        (1.0 - without / with.max(1e-9)) * 100.0
    );
    Ok(())
}

/// The feed from standard input, 1000 lines a batch, with detections.
fn streamed(key: HmacKey, geoip: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::BufRead;
    let settings = r#"{"detections":{"enabled":true,"signals":false}}"#;
    let transform = Transform::with_geoip(settings, vec![key], None, vec![geoip])
        .map_err(|e| format!("{e:?}"))?;
    let (mut events, mut alerts, mut secs) = (0u64, 0u64, 0.0);
    let mut largest = 0;
    let mut lines = std::io::stdin().lock().lines();
    loop {
        let mut batch = String::new();
        for line in lines.by_ref().take(1000) {
            batch.push_str(&line?);
            batch.push('\n');
            events += 1;
        }
        if batch.is_empty() {
            break;
        }
        let cpu = cpu_ticks();
        let started = Instant::now();
        alerts += u64::from(transform.process_batch(batch.as_bytes()).counters.alerts);
        let wall = started.elapsed().as_secs_f64();
        secs += cpu_ticks()
            .zip(cpu)
            .map_or(wall, |(b, a)| (b - a) as f64 / 100.0);
        if events % 500_000 < 1000 {
            largest = largest.max(transform.export_state().map_or(0, |s| s.len()));
        }
    }
    largest = largest.max(transform.export_state().map_or(0, |s| s.len()));
    println!(
        "{events} events, {alerts} alerts: {:.0} events/s with detections; largest exported state {:.1} MiB",
        events as f64 / secs.max(1e-9),
        largest as f64 / 1_048_576.0
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
