//! Golden outputs: a representative subset of activity types, every actor
//! variant, and the unknown-type / unknown-actor / unknown-field / escaping
//! cases, compared line by line with `golden/activities.expected.ndjson`.
//!
//! After an intended change of the output, bless the new golden file with
//! `CLAUDE_AUDIT_BLESS=1 cargo test --test e2e golden` and review its diff.

use crate::util::*;

const INPUT: &str = "tests/e2e/golden/activities.input.ndjson";
const EXPECTED: &str = "tests/e2e/golden/activities.expected.ndjson";

#[test]
fn golden_subset_matches() {
    let sb = Sandbox::new();
    let out = run(sb.run_cmd().arg(repo_file(INPUT)));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = String::from_utf8(out.stdout).unwrap();
    if std::env::var_os("CLAUDE_AUDIT_BLESS").is_some() {
        std::fs::write(repo_file(EXPECTED), &got).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(repo_file(EXPECTED))
        .expect("golden file missing: run with CLAUDE_AUDIT_BLESS=1 once");
    let got_lines: Vec<&str> = got.lines().collect();
    let expected_lines: Vec<&str> = expected.lines().collect();
    assert_eq!(got_lines.len(), expected_lines.len(), "number of events");
    for (n, (g, e)) in got_lines.iter().zip(&expected_lines).enumerate() {
        assert_eq!(
            g,
            e,
            "\nevent {} differs\n--- expected\n{e}\n+++ got\n{g}\n",
            n + 1
        );
    }
}

#[test]
fn golden_covers_every_actor_variant_and_the_unknown_cases() {
    let expected = read_ndjson(&std::fs::read(repo_file(EXPECTED)).unwrap());
    let mut kinds: Vec<&str> = expected
        .iter()
        .map(|e| e["actor"]["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds.len(), 12, "11 known variants + unknown: {kinds:?}");
    assert!(expected.iter().any(|e| e["unmapped"]["event_type"] == true));
    assert!(expected.iter().any(|e| e["unmapped"]["actor_type"] == true));
    assert!(
        expected
            .iter()
            .any(|e| e["unmapped"]["fields"]["new_field"]["nested"][2] == 3)
    );
    assert!(
        expected
            .iter()
            .any(|e| e["event_type"] == "compliance_api_accessed" && e["outcome"] == "failure")
    );
}
