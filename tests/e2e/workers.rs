//! `run --workers N` and the pipelined record loop: several plugin
//! instances on several threads give exactly the output of one, in input
//! order, with the same dead letters (plugin rejections, over-long lines,
//! isolated poison records) and the same counts.

use crate::util::*;

/// The fixture corpus three times, with an invalid record, a blank line and
/// an over-long line spread through it, so that batches of 7 records mix
/// events, plugin dead letters and host dead letters.
fn mixed_input(sb: &Sandbox) -> std::path::PathBuf {
    let corpus = std::fs::read_to_string(fixture("activities.ndjson")).unwrap();
    let mut text = String::new();
    for (i, line) in corpus.lines().cycle().take(3 * 312).enumerate() {
        match i % 97 {
            13 => text.push_str("{\"not\":\"an activity\"}\n"),
            41 => text.push('\n'),
            77 => text.push_str(&format!("{{\"pad\":\"{}\"}}\n", "x".repeat(3000))),
            _ => {}
        }
        text.push_str(line);
        text.push('\n');
    }
    sb.write("mixed.ndjson", text)
}

fn run_with(sb: &Sandbox, input: &std::path::Path, workers: &str) -> (Vec<u8>, String, String) {
    let config = sb.write("config.toml", "[input]\nmax_record_bytes = 2048\n");
    let out = run(sb
        .run_cmd()
        .args(["--workers", workers, "--batch-records", "7", "--config"])
        .arg(&config)
        .arg(input));
    assert_eq!(
        out.status.code(),
        Some(EXIT_DEAD_LETTERS),
        "{}",
        stderr(&out)
    );
    let dead = std::fs::read_to_string(sb.path("dead.ndjson")).unwrap();
    let summary = counts_line(&stderr(&out));
    (out.stdout, dead, summary)
}

/// The summary line's counts (without its timing).
fn counts_line(err: &str) -> String {
    err.lines()
        .find(|l| l.starts_with("claude-audit: read "))
        .unwrap()
        .split(" in ")
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn three_workers_give_exactly_the_output_of_one() {
    let sb = Sandbox::new();
    let input = mixed_input(&sb);
    let (events_1, dead_1, summary_1) = run_with(&sb, &input, "1");
    let (events_3, dead_3, summary_3) = run_with(&sb, &input, "3");
    // Pseudonyms are keyed, not random: the same key gives the same bytes.
    assert!(
        events_1 == events_3,
        "events differ between 1 and 3 workers"
    );
    assert_eq!(dead_1, dead_3);
    assert_eq!(summary_1, summary_3);

    // 936 records, plus 10 invalid, 10 blank and 9 over-long lines.
    let lines = 3 * 312 + 29;
    let dead = read_ndjson(dead_1.as_bytes());
    let kinds: Vec<&str> = dead.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "too_long").count(), 9);
    assert_eq!(kinds.iter().filter(|k| **k == "blank_line").count(), 10);
    assert_eq!(dead.len(), 29, "{kinds:?}");
    let numbers: Vec<u64> = dead.iter().map(|d| d["line"].as_u64().unwrap()).collect();
    assert!(
        numbers.is_sorted(),
        "dead letters in input order: {numbers:?}"
    );
    assert_eq!(
        summary_counts(&summary_1),
        (lines as u64, 3 * 312, 29, 0),
        "{summary_1}"
    );
    let ids: Vec<String> = read_ndjson(&events_3)
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    let corpus = std::fs::read_to_string(fixture("activities.ndjson")).unwrap();
    let expected: Vec<String> = corpus
        .lines()
        .cycle()
        .take(3 * 312)
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, expected, "events in input order");
}

#[test]
fn poison_records_are_isolated_with_several_workers() {
    let sb = Sandbox::new();
    let mut text = String::new();
    for n in 1..=80 {
        match n {
            9 | 50 => text.push_str(&format!("{{\"n\":{n},\"m\":\"POISON_TRAP\"}}\n")),
            _ => text.push_str(&format!("{{\"n\":{n}}}\n")),
        }
    }
    let input = sb.write("in.ndjson", text);
    let out = run(sb
        .run_cmd()
        .arg("--plugin")
        .arg(POISON_PLUGIN)
        .args(["--workers", "2", "--batch-records", "6"])
        .arg(&input));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(EXIT_DEAD_LETTERS), "{err}");
    let emitted: Vec<u64> = read_ndjson(&out.stdout)
        .iter()
        .map(|v| v["n"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (1..=80).filter(|n| ![9, 50].contains(n)).collect();
    assert_eq!(emitted, expected, "all good records, in order");
    let lines: Vec<u64> = sb
        .dead_letters()
        .iter()
        .map(|d| d["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [9, 50]);
    assert_eq!(summary_counts(&err), (80, 78, 2, 0));
}

#[test]
fn workers_are_bounded() {
    let sb = Sandbox::new();
    let input = sb.write("in.ndjson", "{}\n");
    for bad in ["0", "17", "many"] {
        let out = run(sb.run_cmd().args(["--workers", bad]).arg(&input));
        assert_eq!(out.status.code(), Some(EXIT_ERROR), "--workers {bad}");
        assert!(stderr(&out).contains("--workers"), "{}", stderr(&out));
    }
}

#[test]
fn workers_with_detections_give_exactly_the_output_and_alerts_of_one() {
    // The engine runs on an instance of its own that takes the workers'
    // events in input order, so its windows and baselines see every batch
    // whatever the number of workers.
    let sb = Sandbox::new();
    let feed = crate::detections_profiles::simulated(&sb);
    let config = sb.write(
        "detect.toml",
        "[plugin.detections]\nenabled = true\nsignals = false\n",
    );
    let run_workers = |workers: &str| {
        let alerts = sb.path(&format!("alerts-{workers}.ndjson"));
        let out = run(sb
            .run_cmd()
            .args(["--workers", workers, "--batch-records", "50", "--config"])
            .arg(&config)
            .arg("--alerts")
            .arg(&alerts)
            .arg(&feed));
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        (
            out.stdout,
            std::fs::read(alerts).unwrap(),
            counts_line(&err),
        )
    };
    let (events_1, alerts_1, summary_1) = run_workers("1");
    let (events_3, alerts_3, summary_3) = run_workers("3");
    assert!(
        alerts_1.iter().filter(|b| **b == b'\n').count() >= 10,
        "the simulated attacks raise alerts"
    );
    assert_eq!(summary_1, summary_3);
    assert!(alerts_1 == alerts_3, "the same alerts, in the same order");
    assert!(events_1 == events_3, "the same stream, alerts in place");
}
