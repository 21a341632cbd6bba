//! The host survives a misbehaving plugin: a trap, an endless loop or a
//! memory hog in one record costs that record only (dead-lettered with the
//! reason), and every other record of the batch is still emitted, in order.

use crate::util::*;

fn numbered_lines(count: usize, poison: &[(usize, &str)]) -> String {
    (1..=count)
        .map(|n| match poison.iter().find(|(line, _)| *line == n) {
            Some((_, marker)) => format!("{{\"n\":{n},\"m\":\"{marker}\"}}\n"),
            None => format!("{{\"n\":{n}}}\n"),
        })
        .collect()
}

#[test]
fn poison_records_are_isolated_and_everything_else_is_emitted() {
    let sb = Sandbox::new();
    let poison = [(17, "POISON_TRAP"), (33, "POISON_LOOP"), (48, "POISON_OOM")];
    let input = sb.write("in.ndjson", numbered_lines(60, &poison));
    let out = run(sb
        .run_cmd()
        .arg("--plugin")
        .arg(POISON_PLUGIN)
        .args(["--batch-timeout-ms", "300", "--memory-limit-mib", "16"])
        .args(["--batch-records", "25"])
        .arg(&input));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(EXIT_DEAD_LETTERS), "{err}");

    let emitted: Vec<u64> = read_ndjson(&out.stdout)
        .iter()
        .map(|v| v["n"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (1..=60).filter(|n| ![17, 33, 48].contains(n)).collect();
    assert_eq!(emitted, expected, "all good records, in order");

    let dead = sb.dead_letters();
    let got: Vec<(u64, &str)> = dead
        .iter()
        .map(|d| (d["line"].as_u64().unwrap(), d["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (17, "plugin_trap"),
            (33, "plugin_timeout"),
            (48, "plugin_trap")
        ]
    );
    assert!(
        dead[2]["reason"].as_str().unwrap().contains("trapped"),
        "{}",
        dead[2]
    );
    assert_eq!(dead[0]["raw"], "{\"n\":17,\"m\":\"POISON_TRAP\"}");
    assert_eq!(summary_counts(&err), (60, 57, 3, 0));
    assert!(err.contains("plugin restarted"), "{err}");
}

#[test]
fn a_plugin_of_another_world_is_refused() {
    let sb = Sandbox::new();
    // A valid core module, but not a component of our world.
    let module = sb.write("core.wasm", b"\0asm\x01\0\0\0");
    let input = sb.write("in.ndjson", "{}\n");
    let out = run(sb.run_cmd().arg("--plugin").arg(&module).arg(&input));
    assert_eq!(out.status.code(), Some(EXIT_ERROR));
    assert!(stderr(&out).contains("plugin"), "{}", stderr(&out));
}

#[test]
fn a_batch_the_detection_instance_fails_on_is_redone_whole_and_nothing_is_lost() {
    // With detections on, the host runs them on an instance of its own
    // (the plugin's `detect` stage). The poison plugin traps there on
    // POISON_DETECT, never in the workers: the batch is redone by one
    // instance doing all of the work (which does not trap), so every record
    // is emitted, in order, and the failed instance counts as restarted.
    let sb = Sandbox::new();
    let input = sb.write("in.ndjson", numbered_lines(60, &[(30, "POISON_DETECT")]));
    let config = sb.write("detect.toml", "[plugin.detections]\nenabled = true\n");
    let out = run(sb
        .run_cmd()
        .arg("--plugin")
        .arg(POISON_PLUGIN)
        .arg("--config")
        .arg(&config)
        // Two workers: detections then run on their own instance even on
        // a one-core machine.
        .args(["--batch-records", "25", "--workers", "2"])
        .arg(&input));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let emitted: Vec<u64> = read_ndjson(&out.stdout)
        .iter()
        .map(|v| v["n"].as_u64().unwrap())
        .collect();
    assert_eq!(
        emitted,
        (1..=60).collect::<Vec<u64>>(),
        "every record, in order"
    );
    assert_eq!(summary_counts(&err), (60, 60, 0, 0));
    assert!(err.contains("plugin restarted 1"), "{err}");
}
