//! Helpers shared by the end-to-end tests: a temp dir per test, a command
//! builder for the real binary, and readers for NDJSON results.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// Path of the binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_claude-audit");

/// The test-only poison plugin component built by host/build.rs.
pub const POISON_PLUGIN: &str = env!("CLAUDE_AUDIT_POISON_WASM");

/// Exit code: finished, some records dead-lettered.
pub const EXIT_DEAD_LETTERS: i32 = 1;
/// Exit code: an error stopped the command.
pub const EXIT_ERROR: i32 = 2;

/// A file under tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

/// A file under the repository root.
pub fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The first TOML block of the README section that starts with `heading`.
pub fn readme_toml_block(heading: &str) -> String {
    let readme = std::fs::read_to_string(repo_file("README.md")).expect("README.md");
    let section = &readme[readme.find(heading).expect("README section")..];
    let start = section.find("```toml\n").expect("toml block") + "```toml\n".len();
    section[start..start + section[start..].find("```").expect("end of block")].to_owned()
}

/// One test's scratch directory and the paths the binary writes into it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write test file");
        path
    }

    /// `claude-audit run` with dead letters going into this directory and
    /// the test HMAC key.
    pub fn run_cmd(&self) -> Command {
        let mut cmd = self.run_cmd_without_key();
        cmd.arg("--hmac-key-file").arg(fixture("test-hmac.key"));
        cmd
    }

    /// `claude-audit run` with no key option.
    pub fn run_cmd_without_key(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path())
            .arg("run")
            .arg("--no-progress")
            .arg("--dead-letter")
            .arg(self.path("dead.ndjson"));
        cmd
    }

    /// The dead-letter records written by the last run.
    pub fn dead_letters(&self) -> Vec<Value> {
        read_ndjson(&std::fs::read(self.path("dead.ndjson")).expect("dead-letter file"))
    }
}

/// Parse NDJSON bytes into values, failing the test on a bad line.
pub fn read_ndjson(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8(bytes.to_vec())
        .expect("UTF-8 output")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad line {line}: {e}")))
        .collect()
}

/// Run a command to completion; print its stderr on failure to help debug.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn claude-audit")
}

/// The stderr of an output as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `read N, emitted N, dead-lettered N, filtered N` counts of the summary line.
pub fn summary_counts(stderr: &str) -> (u64, u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("claude-audit: read "))
        .unwrap_or_else(|| panic!("no summary line in stderr:\n{stderr}"));
    let number = |label: &str| -> u64 {
        let rest = &line[line
            .find(label)
            .unwrap_or_else(|| panic!("{label} in {line}"))
            + label.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (
        number("read "),
        number("emitted "),
        number("dead-lettered "),
        number("filtered "),
    )
}
