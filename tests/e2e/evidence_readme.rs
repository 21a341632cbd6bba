//! The README's "Proving it to an auditor" works as written: its shell
//! block is run as is (`sh -e`, the built binary first on `PATH`) in a
//! fresh directory holding only the fixture it names, as on a clean clone.

use std::path::Path;
use std::process::Command;

use crate::util::{BIN, Sandbox, fixture, repo_file, run, stderr};

/// The first `sh` block of the README section starting with `heading`.
fn readme_sh_block(heading: &str) -> String {
    let readme = std::fs::read_to_string(repo_file("README.md")).expect("README.md");
    let section = &readme[readme.find(heading).expect("README section")..];
    let start = section.find("```sh\n").expect("sh block") + "```sh\n".len();
    section[start..start + section[start..].find("```").expect("end of block")].to_owned()
}

#[test]
fn the_readme_auditor_commands_work_as_written() {
    let script = readme_sh_block("## Proving it to an auditor");
    let commands: Vec<&str> = script
        .lines()
        .filter(|l| l.starts_with("claude-audit "))
        .collect();
    assert_eq!(commands.len(), 5, "five commands:\n{script}");
    assert!(commands[0].starts_with("claude-audit keys generate"));
    assert!(commands[4].starts_with("claude-audit verify --report"));

    let sandbox = Sandbox::new();
    let fixtures = sandbox.path("tests/fixtures");
    std::fs::create_dir_all(&fixtures).unwrap();
    std::fs::copy(
        fixture("activities.ndjson"),
        fixtures.join("activities.ndjson"),
    )
    .unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run(Command::new("sh")
        .arg("-ec")
        .arg(&script)
        .current_dir(sandbox.dir.path())
        .env("PATH", path));
    assert!(out.status.success(), "{script}\n{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verified 312 events"), "{stdout}");
    assert!(stdout.contains("report verified: SOC2"), "{stdout}");
    for file in [
        "report/report.json",
        "report/report.json.sig",
        "report/report.html",
    ] {
        assert!(sandbox.path(file).is_file(), "{file}");
    }
}
