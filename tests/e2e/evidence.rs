//! The evidence store end to end: `keys generate`, `run --evidence`,
//! `verify` (and its whole tamper matrix), `prove` and offline
//! `verify --proof`, and kill -9 during appends.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::util::{BIN, Sandbox, fixture, run, stderr};

/// Exit code: verified up to the newest checkpoint, uncovered tail.
pub(crate) const EXIT_TAIL: i32 = 1;
/// Exit code: the evidence does not verify.
pub(crate) const EXIT_NOT_VERIFIED: i32 = 5;
/// The segment of a store that fits in one.
const SEGMENT: &str = "segments/00000000000000000000.ndjson";

/// A scratch directory with a signing key.
struct Evidence {
    sandbox: Sandbox,
    vkey: String,
}

impl Evidence {
    fn new() -> Self {
        let sandbox = Sandbox::new();
        let vkey = generate_key(&sandbox, "signing.key", "audit.example.com/claude");
        Self { sandbox, vkey }
    }

    fn store(&self) -> PathBuf {
        self.sandbox.path("store")
    }

    /// `run --evidence store` on `inputs`, output to `out`.
    fn run_cmd(&self, inputs: &[&Path], out: &str, extra: &[&str]) -> Command {
        let mut cmd = self.sandbox.run_cmd();
        cmd.args(inputs)
            .arg("--output")
            .arg(self.sandbox.path(out))
            .arg("--evidence")
            .arg(self.store())
            .arg("--evidence-key-file")
            .arg(self.sandbox.path("signing.key"))
            .args(extra);
        cmd
    }

    fn verify(&self, dir: &Path, key: &str) -> Output {
        run(Command::new(BIN)
            .arg("verify")
            .arg(dir)
            .arg("--key")
            .arg(key))
    }
}

/// `run` of `input` with `--output events.ndjson` and the store `store` signed with
/// `signing.key` (both in `sandbox`), plus `extra` options.
pub(crate) fn run_into_store(
    sandbox: &Sandbox,
    input: &Path,
    store: &Path,
    extra: &[&str],
) -> Output {
    run(sandbox
        .run_cmd()
        .arg(input)
        .arg("--output")
        .arg(sandbox.path("events.ndjson"))
        .arg("--evidence")
        .arg(store)
        .arg("--evidence-key-file")
        .arg(sandbox.path("signing.key"))
        .args(extra))
}

/// A SOC 2 `report` of the store over 2020-2039 into `out`, signed with `key`.
pub(crate) fn report_all(store: &Path, out: &Path, key: &Path) -> Output {
    run(Command::new(BIN)
        .args([
            "report",
            "--framework",
            "soc2",
            "--from",
            "2020-01-01T00:00:00Z",
        ])
        .args(["--to", "2039-12-31T00:00:00Z", "--evidence"])
        .arg(store)
        .arg("--out")
        .arg(out)
        .arg("--key-file")
        .arg(key))
}

/// `keys generate`: returns the verifier key printed.
pub(crate) fn generate_key(sandbox: &Sandbox, file: &str, name: &str) -> String {
    let out = run(Command::new(BIN)
        .args(["keys", "generate", "--name", name, "--out"])
        .arg(sandbox.path(file)));
    assert!(out.status.success(), "{}", stderr(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sandbox.path(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "signing key must be private");
    }
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `report` over `store` for 2026 (SOC 2), into `out`, signed with the
/// sandbox's `signing.key`.
pub(crate) fn report_cmd(
    sandbox: &Sandbox,
    store: &Path,
    out: &Path,
    sample: &str,
    seed: &str,
) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["report", "--framework", "soc2"])
        .args([
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            "2027-01-01T00:00:00Z",
        ])
        .args(["--sample", sample, "--seed", seed])
        .arg("--evidence")
        .arg(store)
        .arg("--out")
        .arg(out)
        .arg("--key-file")
        .arg(sandbox.path("signing.key"));
    cmd
}

/// RFC 6962 MTH, written here from the RFC independently of the host.
pub(crate) fn mth(leaves: &[&[u8]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => Sha256::new()
            .chain_update([0])
            .chain_update(leaves[0])
            .finalize()
            .into(),
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let (l, r) = (mth(&leaves[..k]), mth(&leaves[k..]));
            Sha256::new()
                .chain_update([1])
                .chain_update(l)
                .chain_update(r)
                .finalize()
                .into()
        }
    }
}

/// The checkpoint files of a store, sorted.
pub(crate) fn checkpoints(store: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(store.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// `(size, root)` of a checkpoint note.
pub(crate) fn checkpoint_head(path: &Path) -> (u64, [u8; 32]) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    lines.next();
    let size = lines.next().unwrap().parse().unwrap();
    let root = base64::engine::general_purpose::STANDARD
        .decode(lines.next().unwrap())
        .unwrap();
    (size, root.try_into().unwrap())
}

#[test]
fn the_root_is_recomputed_from_the_output_file_alone() {
    let e = Evidence::new();
    let out = run(&mut e.run_cmd(
        &[&fixture("activities.ndjson")],
        "events.ndjson",
        &["--checkpoint-every", "100"],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    let events = std::fs::read(e.sandbox.path("events.ndjson")).unwrap();
    let lines: Vec<&[u8]> = events
        .strip_suffix(b"\n")
        .unwrap()
        .split(|b| *b == b'\n')
        .collect();
    assert_eq!(lines.len(), 312);
    let cps = checkpoints(&e.store());
    // Every 100 events, then the end of the run.
    let sizes: Vec<u64> = cps.iter().map(|p| checkpoint_head(p).0).collect();
    assert_eq!(sizes, [100, 200, 300, 312]);
    for cp in &cps {
        let (size, root) = checkpoint_head(cp);
        assert_eq!(
            root,
            mth(&lines[..size as usize]),
            "checkpoint of size {size}"
        );
    }
    let note = std::fs::read_to_string(&cps[3]).unwrap();
    assert!(
        note.starts_with("audit.example.com/claude\n312\n"),
        "{note}"
    );
    assert!(
        note.contains("\n\n\u{2014} audit.example.com/claude "),
        "{note}"
    );
    // The segment holds the output byte for byte.
    assert_eq!(std::fs::read(e.store().join(SEGMENT)).unwrap(), events);
    let v = e.verify(&e.store(), &e.vkey);
    assert!(v.status.success(), "{}", stderr(&v));
    assert!(String::from_utf8_lossy(&v.stdout).contains("verified 312 events"));
    // A second run appends and checkpoints the larger tree.
    let out = run(&mut e.run_cmd(&[&fixture("activities.ndjson")], "second.ndjson", &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    let (size, root) = checkpoint_head(checkpoints(&e.store()).last().unwrap());
    assert_eq!(size, 624);
    let both = [lines.clone(), lines.clone()].concat();
    assert_eq!(root, mth(&both));
    assert!(e.verify(&e.store(), &e.vkey).status.success());
}

/// A pristine store (312 events, checkpoints at 100, 200, 300, 312) copied
/// into `name` for one tamper case.
fn tamper_copy(e: &Evidence, name: &str) -> PathBuf {
    let dst = e.sandbox.path(name);
    let status = Command::new("cp")
        .arg("-a")
        .arg(e.store())
        .arg(&dst)
        .status()
        .unwrap();
    assert!(status.success());
    dst
}

fn edit_lines(store: &Path, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let path = store.join(SEGMENT);
    let data = std::fs::read(&path).unwrap();
    let mut lines: Vec<Vec<u8>> = data.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    lines.pop();
    f(&mut lines);
    let mut out = lines.join(&b'\n');
    out.push(b'\n');
    std::fs::write(&path, out).unwrap();
}

#[test]
fn every_kind_of_tampering_is_detected_and_located() {
    let e = Evidence::new();
    let out = run(&mut e.run_cmd(
        &[&fixture("activities.ndjson")],
        "events.ndjson",
        &["--checkpoint-every", "100"],
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Vec<u8>> = std::fs::read(e.sandbox.path("events.ndjson"))
        .unwrap()
        .split(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let id = |i: usize| {
        serde_json::from_slice::<serde_json::Value>(&lines[i]).unwrap()["event_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let cp = |n: u32| format!("checkpoints/{n:010}.checkpoint");
    let other_vkey = generate_key(&e.sandbox, "other.key", "audit.example.com/claude");
    type Tamper = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Tamper, Vec<String>)> = vec![
        (
            "flipped byte",
            Box::new(|s| {
                edit_lines(s, |l| {
                    let at = l[41].len() / 2;
                    l[41][at] ^= 0x01;
                })
            }),
            vec![
                format!("{SEGMENT} line 42 (leaf 41, event_id"),
                "altered".into(),
            ],
        ),
        (
            "deleted record",
            Box::new(|s| {
                edit_lines(s, |l| {
                    l.remove(41);
                })
            }),
            vec![
                format!("{SEGMENT} line 42 (leaf 41, event_id {})", id(42)),
                "deleted".into(),
            ],
        ),
        (
            "inserted record",
            Box::new(|s| {
                edit_lines(s, |l| {
                    l.insert(41, br#"{"event_id":"forged","event_type":"x"}"#.to_vec());
                })
            }),
            vec![
                format!("{SEGMENT} line 42 (leaf 41, event_id forged)"),
                "inserted".into(),
            ],
        ),
        (
            "duplicated record",
            Box::new(|s| {
                edit_lines(s, |l| {
                    let d = l[41].clone();
                    l.insert(42, d);
                })
            }),
            vec![
                format!("{SEGMENT} line 43 (leaf 42, event_id {})", id(41)),
                "duplicated".into(),
            ],
        ),
        (
            "reordered records",
            Box::new(|s| edit_lines(s, |l| l.swap(41, 42))),
            vec![
                format!("{SEGMENT} line 42 (leaf 41, event_id {})", id(42)),
                "swapped".into(),
            ],
        ),
        (
            "truncated segment",
            Box::new(|s| {
                let p = s.join(SEGMENT);
                let len = std::fs::metadata(&p).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(len - 30)
                    .unwrap();
            }),
            vec![format!("{SEGMENT} line 312 (leaf 311"), "truncated".into()],
        ),
        (
            "removed checkpoint",
            Box::new(move |s| std::fs::remove_file(s.join(cp(2))).unwrap()),
            vec![cp(3), "checkpoint 2 is missing".into()],
        ),
        (
            "rolled-back checkpoint",
            Box::new(move |s| {
                std::fs::copy(s.join(cp(2)), s.join(cp(3))).unwrap();
            }),
            vec![cp(3), "rolled back".into()],
        ),
        (
            "forged signature",
            Box::new(move |s| {
                let p = s.join(cp(4));
                let text = std::fs::read_to_string(&p)
                    .unwrap()
                    .replacen("\n312\n", "\n311\n", 1);
                std::fs::write(&p, text).unwrap();
            }),
            vec![cp(4), "forged".into()],
        ),
        (
            "records and index altered together",
            Box::new(|s| {
                edit_lines(s, |l| l[150] = br#"{"event_id":"rewritten"}"#.to_vec());
                let idx = s.join(SEGMENT.replace(".ndjson", ".idx"));
                let mut bytes = std::fs::read(&idx).unwrap();
                let h: [u8; 32] = Sha256::new()
                    .chain_update([0])
                    .chain_update(br#"{"event_id":"rewritten"}"#)
                    .finalize()
                    .into();
                bytes[150 * 32..151 * 32].copy_from_slice(&h);
                std::fs::write(&idx, bytes).unwrap();
            }),
            vec![cp(2), "does not match the leaves 0..200".into()],
        ),
        (
            "records deleted from the end with their index",
            Box::new(|s| {
                edit_lines(s, |l| l.truncate(305));
                let idx = s.join(SEGMENT.replace(".ndjson", ".idx"));
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&idx)
                    .unwrap()
                    .set_len(305 * 32)
                    .unwrap();
            }),
            vec![cp(4), "covers 312 records, the store holds only 305".into()],
        ),
    ];
    for (name, tamper, expected) in &cases {
        let dir = tamper_copy(&e, &name.replace(' ', "-"));
        tamper(&dir);
        let out = e.verify(&dir, &e.vkey);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(EXIT_NOT_VERIFIED), "{name}: {err}");
        for want in expected {
            assert!(
                err.contains(want.as_str()),
                "{name}: expected {want:?} in:\n{err}"
            );
        }
    }
    // Signed by another key: refused, naming the signer.
    let out = e.verify(&e.store(), &other_vkey);
    assert_eq!(
        out.status.code(),
        Some(EXIT_NOT_VERIFIED),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("not signed by"), "{}", stderr(&out));
    // The newest checkpoint removed: the tail is reported, with exit 1.
    let dir = tamper_copy(&e, "removed-last");
    std::fs::remove_file(dir.join(cp(4))).unwrap();
    let out = e.verify(&dir, &e.vkey);
    assert_eq!(out.status.code(), Some(EXIT_TAIL), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("12 events after the newest checkpoint"),
        "{}",
        stderr(&out)
    );
    // And the pristine store still verifies.
    assert!(e.verify(&e.store(), &e.vkey).status.success());
}

#[test]
fn an_inclusion_proof_verifies_from_the_proof_and_the_key_alone() {
    let e = Evidence::new();
    let out = run(&mut e.run_cmd(&[&fixture("activities.ndjson")], "events.ndjson", &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    let line = std::fs::read_to_string(e.sandbox.path("events.ndjson")).unwrap();
    let line = line.lines().nth(200).unwrap().to_owned();
    let id = serde_json::from_str::<serde_json::Value>(&line).unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = run(Command::new(BIN)
        .args(["prove", "--event-id", &id, "--evidence"])
        .arg(e.store()));
    assert!(out.status.success(), "{}", stderr(&out));
    let proof: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(proof["leaf_index"], 200);
    assert_eq!(proof["tree_size"], 312);
    assert_eq!(proof["event"].as_str(), Some(line.as_str()));
    // Elsewhere: only the proof file and the verifier key.
    let elsewhere = Sandbox::new();
    let file = elsewhere.write("proof.json", &out.stdout);
    let check = |file: &Path| {
        run(Command::new(BIN)
            .arg("verify")
            .arg("--proof")
            .arg(file)
            .arg("--key")
            .arg(&e.vkey))
    };
    let ok = check(&file);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("is leaf 200 of the 312 events"));
    // One byte changed in the event, in the path, or in the checkpoint.
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let path0 = proof["audit_path"][0].as_str().unwrap();
    let mut flipped_path = path0.to_owned();
    flipped_path.replace_range(0..1, if path0.starts_with('A') { "B" } else { "A" });
    for (what, bad) in [
        (
            "event",
            text.replacen("\\\"event_type\\\"", "\\\"event_typf\\\"", 1),
        ),
        ("audit path", text.replacen(path0, &flipped_path, 1)),
        ("checkpoint", text.replacen("\\n312\\n", "\\n313\\n", 1)),
    ] {
        assert_ne!(bad, text, "{what}: the edit must change the proof");
        let out = check(&elsewhere.write("bad.json", bad));
        assert_eq!(
            out.status.code(),
            Some(EXIT_NOT_VERIFIED),
            "{what}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn kill_9_during_appends_leaves_a_store_that_verifies_and_resumes() {
    let e = Evidence::new();
    // 6,240 events (~10 MiB of events): long enough for kills to land mid-run, and
    // several 1 MiB segments.
    // Each copy gets its own ids, so that every expected event is unique.
    let one = std::fs::read_to_string(fixture("activities.ndjson")).unwrap();
    let big: String = (0..20)
        .map(|k| one.replace("\"id\":\"activity_01", &format!("\"id\":\"activity_{k:02}")))
        .collect();
    let input = e.sandbox.write("big.ndjson", big);
    let args = ["--checkpoint-every", "997", "--segment-mib", "1"];
    let expected = {
        let out = run(e
            .sandbox
            .run_cmd()
            .arg(&input)
            .arg("--output")
            .arg(e.sandbox.path("expected.ndjson")));
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::read(e.sandbox.path("expected.ndjson")).unwrap()
    };
    let expected: Vec<&[u8]> = expected
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("evidence kill -9 test seed {seed}");
    let mut kills = 0;
    for _ in 0..5 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Kill once the store has grown by a random 0.2-8 MiB of this run's
        // ~10 MiB: mid-run whatever the machine's speed (a fixed delay let
        // fast machines finish first, slow ones die in start-up).
        let grow = (200 + seed % 7_800) << 10;
        let before = dir_bytes(&e.store());
        let mut child = e
            .run_cmd(&[&input], "events.ndjson", &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while child.try_wait().unwrap().is_none()
            && dir_bytes(&e.store()) < before + grow
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        if child.try_wait().unwrap().is_none() {
            let _ = child.kill();
            let _ = child.wait();
            kills += 1;
        }
        // Whatever the moment, the store verifies up to its last checkpoint.
        let out = e.verify(&e.store(), &e.vkey);
        assert!(
            matches!(out.status.code(), Some(0 | EXIT_TAIL)),
            "{}",
            stderr(&out)
        );
    }
    let out = run(&mut e.run_cmd(&[&input], "events.ndjson", &args));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = e.verify(&e.store(), &e.vkey);
    assert!(out.status.success(), "{}", stderr(&out));
    eprintln!("killed {kills} times");
    assert!(kills > 0, "no run was killed: the test proved nothing");
    // The store is a sequence of runs: each one a prefix of the expected
    // events (cut at a checkpoint), the last one whole. No gap, no duplicate.
    let mut stored = Vec::new();
    let mut segments: Vec<PathBuf> = std::fs::read_dir(e.store().join("segments"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .collect();
    segments.sort();
    assert!(segments.len() > 1, "several segments expected");
    for s in segments {
        stored.extend(std::fs::read(s).unwrap());
    }
    let stored: Vec<&[u8]> = stored
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut at = 0;
    let mut runs = 0;
    while at < stored.len() {
        let len = (0..expected.len())
            .take_while(|i| at + i < stored.len() && stored[at + i] == expected[*i])
            .count();
        assert!(len > 0, "leaf {at} does not start a run");
        at += len;
        runs += 1;
    }
    assert_eq!(
        &stored[stored.len() - expected.len()..],
        &expected[..],
        "the last run is whole"
    );
    eprintln!("{runs} runs in the store");
}

#[test]
fn a_signed_report_verifies_and_one_changed_byte_is_rejected() {
    let e = Evidence::new();
    let out = run(&mut e.run_cmd(&[&fixture("activities.ndjson")], "events.ndjson", &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    let report_dir = e.sandbox.path("report");
    let out = run(&mut report_cmd(
        &e.sandbox,
        &e.store(),
        &report_dir,
        "10",
        "42",
    ));
    assert!(out.status.success(), "{}", stderr(&out));
    let json = std::fs::read(report_dir.join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(report["framework"], "SOC2");
    assert_eq!(report["checkpoint"]["size"], 312);
    assert_eq!(report["sample"]["seed"], 42);
    assert_eq!(report["sample"]["events"].as_array().unwrap().len(), 10);
    let total = report["events"]["total"].as_u64().unwrap();
    let by_cat: u64 = report["events"]["by_category"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_cat, total, "categories add up");
    assert!(total > 0 && total <= 312);
    // Controls of SOC2 that the matrix has but no event evidenced are listed.
    let evidenced = report["controls"]["evidenced"].as_object().unwrap();
    assert!(evidenced.keys().all(|k| k.starts_with("SOC2:")));
    assert!(report["controls"]["without_evidence"].is_array());
    let html = std::fs::read_to_string(report_dir.join("report.html")).unwrap();
    assert!(
        html.contains("<svg") && !html.contains("<script"),
        "inline SVG, no script"
    );
    assert!(
        !html.contains("src=") && !html.contains("href="),
        "no external assets"
    );
    // The same seed gives the same sample.
    let again = e.sandbox.path("again");
    let out = run(&mut report_cmd(&e.sandbox, &e.store(), &again, "10", "42"));
    assert!(out.status.success(), "{}", stderr(&out));
    let second: serde_json::Value =
        serde_json::from_slice(&std::fs::read(again.join("report.json")).unwrap()).unwrap();
    assert_eq!(second["sample"], report["sample"]);
    let verify = |dir: &Path| {
        run(Command::new(BIN)
            .arg("verify")
            .arg("--report")
            .arg(dir)
            .arg("--key")
            .arg(&e.vkey))
    };
    let ok = verify(&report_dir);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("10 sampled inclusion proofs verified"));
    // One byte of report.json changed.
    let mut bad = json.clone();
    let at = bad.len() / 2;
    bad[at] = if bad[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(report_dir.join("report.json"), &bad).unwrap();
    let out = verify(&report_dir);
    assert_eq!(
        out.status.code(),
        Some(EXIT_NOT_VERIFIED),
        "{}",
        stderr(&out)
    );
    std::fs::write(report_dir.join("report.json"), &json).unwrap();
    // One byte of the signature changed.
    let sig = std::fs::read_to_string(report_dir.join("report.json.sig")).unwrap();
    let sig_line = sig.lines().last().unwrap();
    let b64 = sig_line.rsplit(' ').next().unwrap();
    let mut flipped = b64.to_owned();
    flipped.replace_range(10..11, if &b64[10..11] == "A" { "B" } else { "A" });
    std::fs::write(
        report_dir.join("report.json.sig"),
        sig.replace(b64, &flipped),
    )
    .unwrap();
    let out = verify(&report_dir);
    assert_eq!(
        out.status.code(),
        Some(EXIT_NOT_VERIFIED),
        "{}",
        stderr(&out)
    );
}

#[test]
fn retention_removes_content_keeps_the_tree_and_spares_legal_holds() {
    let e = Evidence::new();
    let out = run(&mut e.run_cmd(&[&fixture("activities.ndjson")], "events.ndjson", &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Vec<serde_json::Value> =
        crate::util::read_ndjson(&std::fs::read(e.sandbox.path("events.ndjson")).unwrap());
    let held_id = events[5]["event_id"].as_str().unwrap().to_owned();
    let org = events
        .iter()
        .find_map(|v| v["organization_id"].as_str())
        .expect("an event with an organization")
        .to_owned();
    let by_org = events
        .iter()
        .filter(|v| v["organization_id"] == org.as_str())
        .count();
    let retention = |args: &[&str]| {
        run(Command::new(BIN)
            .arg("retention")
            .args(args)
            .arg("--evidence")
            .arg(e.store())
            .arg("--key-file")
            .arg(e.sandbox.path("signing.key")))
    };
    let ok = |out: Output| assert!(out.status.success(), "{}", stderr(&out));
    ok(retention(&[
        "hold",
        "--id",
        "matter-1",
        "--event-id",
        &held_id,
        "--reason",
        "litigation",
    ]));
    ok(retention(&[
        "hold",
        "--id",
        "matter-2",
        "--organization-id",
        &org,
        "--reason",
        "audit",
    ]));
    // Nothing has expired yet (retain_until is years ahead).
    let out = retention(&["apply", "--now", "2026-12-01T00:00:00Z"]);
    assert!(
        stderr(&out).contains("removed the content of 0 events"),
        "{}",
        stderr(&out)
    );
    // Everything has expired: all but the held events lose their content.
    let out = retention(&["apply", "--now", "2040-01-01T00:00:00Z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let held = by_org + usize::from(events[5]["organization_id"] != org.as_str());
    let removed = 312 - held;
    assert!(
        stderr(&out).contains(&format!("removed the content of {removed} events")),
        "{}",
        stderr(&out)
    );
    let v = e.verify(&e.store(), &e.vkey);
    assert!(v.status.success(), "{}", stderr(&v));
    let said = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(
        said.contains(&format!(
            "verified 312 events ({removed} removed by retention)"
        )),
        "{said}"
    );
    let segment = std::fs::read_to_string(e.store().join(SEGMENT)).unwrap();
    assert!(
        segment
            .lines()
            .any(|l| l.contains(&held_id) && l.contains("retention_state"))
    );
    assert_eq!(
        segment
            .lines()
            .filter(|l| l.contains("retention_removed"))
            .count(),
        removed
    );
    // A tombstone planted without a signed record is tampering.
    let dir = tamper_copy(&e, "planted");
    std::fs::remove_dir_all(dir.join("records")).unwrap();
    let out = e.verify(&dir, &e.vkey);
    assert_eq!(
        out.status.code(),
        Some(EXIT_NOT_VERIFIED),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("without a signed retention record"),
        "{}",
        stderr(&out)
    );
    // Lifting a hold lets the next apply remove those events too.
    ok(retention(&[
        "release", "--id", "matter-1", "--reason", "settled",
    ]));
    ok(retention(&["apply", "--now", "2040-01-01T00:00:00Z"]));
    let segment = std::fs::read_to_string(e.store().join(SEGMENT)).unwrap();
    let kept = segment
        .lines()
        .filter(|l| l.contains("retention_state"))
        .count();
    assert_eq!(kept, by_org, "only the organization's hold remains");
    assert!(e.verify(&e.store(), &e.vkey).status.success());
}

/// Bytes of the files under `dir` (0 when it does not exist yet).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}
