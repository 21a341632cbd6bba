//! Consistency proofs between checkpoints: `prove --consistency`, checked
//! offline by `verify --consistency-proof` and by an independent RFC 6962
//! implementation (Python, written from the RFC, in this file); a changed
//! proof or a checkpoint of another log is rejected.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::evidence::{EXIT_NOT_VERIFIED, checkpoints, generate_key};
use crate::util::{BIN, Sandbox, fixture, run, stderr};

/// RFC 6962 §2.1 MTH and §2.1.2 PROOF/SUBPROOF, and RFC 9162 §2.1.4.2
/// verification, from the RFC text. Reads the store's segments and the
/// proof files given as arguments; for each, recomputes the roots and the
/// proof from the events and checks the proof from the roots alone.
const PYTHON: &str = r#"
import base64, glob, hashlib, json, sys

def h(b): return hashlib.sha256(b).digest()
def mth(d):
    n = len(d)
    if n == 0: return h(b"")
    if n == 1: return h(b"\x00" + d[0])
    k = 1
    while k * 2 < n: k *= 2
    return h(b"\x01" + mth(d[:k]) + mth(d[k:]))
def subproof(m, d, b):
    n = len(d)
    if m == n: return [] if b else [mth(d)]
    k = 1
    while k * 2 < n: k *= 2
    if m <= k: return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]
def verify(m, n, old, new, proof):
    if m == n: return not proof and old == new
    if m & (m - 1) == 0: proof = [old] + proof
    fn, sn = m - 1, n - 1
    while fn & 1: fn >>= 1; sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            fr = h(b"\x01" + c + fr); sr = h(b"\x01" + c + sr)
            while not fn & 1 and fn != 0: fn >>= 1; sn >>= 1
        else:
            sr = h(b"\x01" + sr + c)
        fn >>= 1; sn >>= 1
    return fr == old and sr == new and sn == 0

store, files = sys.argv[1], sys.argv[2:]
leaves = []
for seg in sorted(glob.glob(store + "/segments/*.ndjson")):
    leaves += open(seg, "rb").read().split(b"\n")[:-1]
for f in files:
    p = json.load(open(f))
    m, n = p["old_size"], p["new_size"]
    root = lambda note: base64.b64decode(note.split("\n")[2])
    old, new = root(p["old_checkpoint"]), root(p["new_checkpoint"])
    assert old == mth(leaves[:m]) and new == mth(leaves[:n]), f
    proof = [base64.b64decode(x) for x in p["proof"]]
    assert proof == subproof(m, leaves[:n], True), f
    assert verify(m, n, old, new, proof), f
    print("ok", m, n)
"#;

fn prove(store: &Path, from: u64, to: u64) -> std::process::Output {
    run(Command::new(BIN)
        .args(["prove", "--consistency", "--evidence"])
        .arg(store)
        .args(["--from", &from.to_string(), "--to", &to.to_string()]))
}

fn verify_proof(file: &Path, vkey: &str) -> std::process::Output {
    run(Command::new(BIN)
        .arg("verify")
        .arg("--consistency-proof")
        .arg(file)
        .arg("--key")
        .arg(vkey))
}

#[test]
fn consistency_proofs_verify_offline_and_match_an_independent_implementation() {
    let sandbox = Sandbox::new();
    let vkey = generate_key(&sandbox, "signing.key", "audit.example.com/claude");
    let store = sandbox.path("store");
    // Two runs of 312 events, a checkpoint every 37 events and at each end:
    // 9 + 9 checkpoints.
    for out in ["a.ndjson", "b.ndjson"] {
        let ran = run(sandbox
            .run_cmd()
            .arg(fixture("activities.ndjson"))
            .arg("--output")
            .arg(sandbox.path(out))
            .arg("--evidence")
            .arg(&store)
            .arg("--evidence-key-file")
            .arg(sandbox.path("signing.key"))
            .args(["--checkpoint-every", "37"]));
        assert!(ran.status.success(), "{}", stderr(&ran));
    }
    let last = checkpoints(&store).len() as u64;
    assert_eq!(last, 18);
    let verified = run(Command::new(BIN)
        .arg("verify")
        .arg(&store)
        .arg("--key")
        .arg(&vkey));
    assert!(verified.status.success(), "{}", stderr(&verified));

    let elsewhere = Sandbox::new();
    let mut files = Vec::new();
    for (from, to) in [(1, last), (3, 5), (8, 9), (9, 10), (4, 4), (16, last)] {
        let out = prove(&store, from, to);
        assert!(out.status.success(), "{from}->{to}: {}", stderr(&out));
        let file = elsewhere.write(&format!("proof-{from}-{to}.json"), &out.stdout);
        let ok = verify_proof(&file, &vkey);
        assert!(ok.status.success(), "{from}->{to}: {}", stderr(&ok));
        assert!(String::from_utf8_lossy(&ok.stdout).contains("consistency proof verified"));
        files.push(file);
    }
    let python = Command::new("python3")
        .arg("-c")
        .arg(PYTHON)
        .arg(&store)
        .args(&files)
        .stderr(Stdio::piped())
        .output()
        .expect("python3 is needed for the independent RFC 6962 check");
    assert!(python.status.success(), "{}", stderr(&python));
    assert_eq!(
        String::from_utf8_lossy(&python.stdout).lines().count(),
        files.len()
    );

    // A changed hash, swapped sizes, and a checkpoint of another log.
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let proof: serde_json::Value = serde_json::from_str(&text).unwrap();
    let first = proof["proof"][0].as_str().unwrap();
    let mut flipped = first.to_owned();
    flipped.replace_range(0..1, if first.starts_with('A') { "B" } else { "A" });
    let mut forged = proof.clone();
    forged["old_size"] = proof["new_size"].clone();
    for (what, bad) in [
        ("hash", text.replacen(first, &flipped, 1)),
        ("sizes", forged.to_string()),
    ] {
        assert_ne!(bad, text, "{what}: the edit must change the proof");
        let out = verify_proof(&elsewhere.write("bad.json", bad), &vkey);
        assert_eq!(
            out.status.code(),
            Some(EXIT_NOT_VERIFIED),
            "{what}: {}",
            stderr(&out)
        );
    }
    // Same log name, another key.
    let other = Sandbox::new();
    let other_key = generate_key(&other, "k", "audit.example.com/claude");
    let out = verify_proof(&files[0], other_key.trim());
    assert_eq!(
        out.status.code(),
        Some(EXIT_NOT_VERIFIED),
        "{}",
        stderr(&out)
    );
}
