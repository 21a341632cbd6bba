//! `bench` reports start-up, in-process and whole-process figures.

use crate::util::*;

#[test]
fn bench_reports_start_up_throughput_and_whole_process_figures() {
    let out =
        run(std::process::Command::new(BIN).args(["bench", "--records", "1000", "--rounds", "1"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    for expected in [
        "== start-up",
        "first event out after",
        "peak memory",
        "== normalize only",
        "== normalize + redact",
        "ratio wasm/native",
        "== whole process",
        "--workers 1:",
        "per core",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}
