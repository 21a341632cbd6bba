//! `claude-audit run` on the fixture corpus: accounting, order, files, exit codes.

use std::collections::HashSet;
use std::io::Write;
use std::process::Stdio;

use crate::util::*;

fn input_ids(path: &std::path::Path) -> Vec<String> {
    read_ndjson(&std::fs::read(path).unwrap())
        .into_iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn fixture_corpus_is_emitted_whole_and_in_order() {
    let sb = Sandbox::new();
    let input = fixture("activities.ndjson");
    let out = run(sb.run_cmd().arg(&input));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = read_ndjson(&out.stdout);
    let ids: Vec<String> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, input_ids(&input));
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 312);
    assert_eq!(summary_counts(&stderr(&out)), (312, 312, 0, 0));
    assert!(sb.dead_letters().is_empty());
    // Every one of the 11 actor variants is recognized; no type is unknown.
    let kinds: HashSet<&str> = events
        .iter()
        .map(|e| e["actor"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 11, "{kinds:?}");
    assert!(!kinds.contains("unknown"));
    assert!(events.iter().all(|e| e["category"] != "unknown"));
}

#[test]
fn stdin_and_output_file_work_and_files_are_private() {
    let sb = Sandbox::new();
    let data = std::fs::read(fixture("activities.ndjson")).unwrap();
    let mut child = sb
        .run_cmd()
        .args(["-", "--output"])
        .arg(sb.path("events.ndjson"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "events went to the file, not stdout");
    let events = read_ndjson(&std::fs::read(sb.path("events.ndjson")).unwrap());
    assert_eq!(events.len(), 312);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["events.ndjson", "dead.ndjson"] {
            let mode = std::fs::metadata(sb.path(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }
}

#[test]
fn type_filter_counts_filtered_records() {
    let sb = Sandbox::new();
    let config = sb.write(
        "config.toml",
        "[plugin]\nexclude_types = [\"compliance_api_accessed\"]\n",
    );
    let input = fixture("activities.ndjson");
    let expected_filtered = input_ids(&input).len() as u64
        - read_ndjson(&std::fs::read(&input).unwrap())
            .iter()
            .filter(|v| v["type"] != "compliance_api_accessed")
            .count() as u64;
    assert!(expected_filtered > 0);
    let out = run(sb.run_cmd().arg("--config").arg(&config).arg(&input));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = read_ndjson(&out.stdout);
    assert!(
        events
            .iter()
            .all(|e| e["event_type"] != "compliance_api_accessed")
    );
    let (read, emitted, dead, filtered) = summary_counts(&stderr(&out));
    assert_eq!((read, dead, filtered), (312, 0, expected_filtered));
    assert_eq!(emitted, events.len() as u64);
    assert_eq!(read, emitted + dead + filtered);
}

#[test]
fn bad_configuration_stops_before_writing_anything() {
    let sb = Sandbox::new();
    let cases = [
        ("[plugin]\nretention = { days = 0 }\n", "retention.days"),
        ("[plugin]\nexlcude_types = []\n", "exlcude_types"),
        ("[inptu]\n", "inptu"),
        ("[plugin\n", "parsing config file"),
    ];
    for (text, expected) in cases {
        let config = sb.write("config.toml", text);
        let out = run(sb
            .run_cmd()
            .arg("--config")
            .arg(&config)
            .arg("--output")
            .arg(sb.path("events.ndjson"))
            .arg(fixture("activities.ndjson")));
        assert_eq!(out.status.code(), Some(EXIT_ERROR), "{text}");
        let err = stderr(&out);
        assert!(err.contains(expected), "{text}: {err}");
        assert!(
            !sb.path("events.ndjson").exists(),
            "{text}: output was created"
        );
    }
}

#[test]
fn operational_errors_exit_2_with_a_clear_message() {
    let sb = Sandbox::new();
    let out = run(sb.run_cmd().arg(sb.path("missing.ndjson")));
    assert_eq!(out.status.code(), Some(EXIT_ERROR));
    assert!(stderr(&out).contains("missing.ndjson"), "{}", stderr(&out));

    let input = sb.write(
        "in.ndjson",
        std::fs::read(fixture("activities.ndjson")).unwrap(),
    );
    let out = run(sb.run_cmd().arg(&input).arg("--output").arg(&input));
    assert_eq!(out.status.code(), Some(EXIT_ERROR));
    assert!(
        stderr(&out).contains("is also an input"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(&input).unwrap(),
        std::fs::read(fixture("activities.ndjson")).unwrap()
    );

    let out = run(sb
        .run_cmd()
        .arg(&input)
        .arg("--output")
        .arg(sb.path("same.ndjson"))
        .arg("--vault")
        .arg(sb.path("same.ndjson"))
        .arg("--vault-key-file")
        .arg(fixture("test-vault.key")));
    assert_eq!(out.status.code(), Some(EXIT_ERROR));
    assert!(
        stderr(&out).contains("must be different files"),
        "{}",
        stderr(&out)
    );

    let not_wasm = sb.write("plugin.wasm", b"not wasm");
    let out = run(sb.run_cmd().arg("--plugin").arg(&not_wasm).arg(&input));
    assert_eq!(out.status.code(), Some(EXIT_ERROR));
    assert!(
        stderr(&out).contains("compiling the plugin"),
        "{}",
        stderr(&out)
    );

    let out = run(std::process::Command::new(BIN).arg("frobnicate"));
    assert_eq!(out.status.code(), Some(EXIT_ERROR));
}

/// The configuration example in the README is real: it parses, the plugin
/// accepts it, and a run with it succeeds (key paths pointed at test keys).
#[test]
fn readme_configuration_example_works() {
    let block = crate::util::readme_toml_block("## Configuration file");
    let sb = Sandbox::new();
    let config = block
        .replace(
            "/etc/claude-audit/hmac-k1.key",
            &fixture("test-hmac.key").display().to_string(),
        )
        .replace(
            "/etc/claude-audit/vault.key",
            &fixture("test-vault.key").display().to_string(),
        );
    let config = sb.write("readme.toml", config);
    let out = run(sb
        .run_cmd_without_key()
        .env(
            "CLAUDE_AUDIT_HMAC_K2",
            "a second test key, also at least thirty-two bytes",
        )
        .arg("--config")
        .arg(&config)
        .arg("--vault")
        .arg(sb.path("vault.bin"))
        .arg(fixture("activities.ndjson")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events = read_ndjson(&out.stdout);
    assert!(
        events
            .iter()
            .all(|e| e["event_type"] != "compliance_api_accessed")
    );
    assert!(
        events
            .iter()
            .all(|e| e["redaction_metadata"]["key_id"] == "k2")
    );
    assert!(
        events
            .iter()
            .all(|e| e["redaction_metadata"]["policy_version"] == "hipaa-2026-11")
    );
    assert!(std::fs::metadata(sb.path("vault.bin")).unwrap().len() > 0);
}

/// The README's first command (the main job on the bundled sample) works as
/// written: its arguments are taken from the README itself.
#[test]
fn readme_quick_start_command_works() {
    let readme = std::fs::read_to_string(repo_file("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("cargo run -p claude-audit -- run "))
        .expect("quick-start command in README");
    let args: Vec<&str> = line["cargo run -p claude-audit -- ".len()..]
        .split_whitespace()
        .collect();
    let sb = Sandbox::new();
    let out = run(std::process::Command::new(BIN)
        .current_dir(repo_file(""))
        .args(args.iter().map(|a| {
            if *a == "events.ndjson" {
                sb.path("events.ndjson").into_os_string()
            } else {
                (*a).into()
            }
        }))
        .arg("--dead-letter")
        .arg(sb.path("dead.ndjson"))
        .arg("--no-progress"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(summary_counts(&stderr(&out)), (312, 312, 0, 0));
    let events = read_ndjson(&std::fs::read(sb.path("events.ndjson")).unwrap());
    assert_eq!(events.len(), 312);
    assert!(
        events
            .iter()
            .all(|e| e["redaction_metadata"]["applied"] == true)
    );
}
