//! Issue 9 item 6: the evidence store shipped to S3 Object Lock by each agent, with the committed
//! `pipelines/fluent-bit/evidence-s3.yaml` and `pipelines/vector/evidence-s3.yaml` (only the
//! paths, moto's endpoint and certificate, and a short upload interval changed), downloaded as
//! an auditor would, rebuilt by `claude-audit evidence restore` and checked by `verify --key`,
//! then compared byte for byte with the original store (and the report in it verified). A lost
//! line is a gap restore names; a duplicated object is harmless.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use yaml_rust2::Yaml;

use super::{DELIVERY_DEADLINE, assert_object_lock, log_tail, moto, spawn, stop};
use crate::evidence::{generate_key, report_all, run_into_store};
use crate::evidence_restore::{assert_same_files, files, restore, shipped_files};
use crate::pipelines::*;
use crate::util::{BIN, Sandbox, fixture, run, stderr};

const FLUENT_BIT_CONFIG: &str = "pipelines/fluent-bit/evidence-s3.yaml";
const VECTOR_CONFIG: &str = "pipelines/vector/evidence-s3.yaml";
/// The store's path in the committed files, replaced by the test's.
const STORE_IN_CONFIG: &str = "/var/lib/claude-audit/evidence";
/// The key prefix of the evidence objects (the events use `claude-audit/ocsf/`).
const PREFIX: &str = "claude-audit/evidence/";

/// A store of several segments and checkpoints, run summaries and a report, to ship.
struct Store {
    sb: Sandbox,
    vkey: String,
}

impl Store {
    fn dir(&self) -> PathBuf {
        self.sb.path("store")
    }

    /// A store with one `run` in it (two copies of the fixture, ~1 MiB).
    fn new() -> Self {
        let sb = Sandbox::new();
        let vkey = generate_key(&sb, "signing.key", "audit.example.com/claude");
        let store = Self { sb, vkey };
        store.run(&[0, 1]);
        store
    }

    /// `run` copies `ks` of the fixture (each with its own ids) into the store: 1 MiB segments,
    /// a checkpoint every 250 events.
    fn run(&self, ks: &[usize]) {
        let one = std::fs::read_to_string(fixture("activities.ndjson")).unwrap();
        let input: String = ks
            .iter()
            .map(|k| one.replace("\"id\":\"activity_01", &format!("\"id\":\"activity_{k:02}")))
            .collect();
        let input = self.sb.write("input.ndjson", input);
        let extra = ["--checkpoint-every", "250", "--segment-mib", "1"];
        let out = run_into_store(&self.sb, &input, &self.dir(), &extra);
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// While the agent tails it: a second run (appending to the segment being read, then a new
    /// segment, new checkpoints and a second run summary) and a report inside the store.
    fn grow(&self) {
        self.run(&[2]);
        let key = self.sb.path("signing.key");
        let out = report_all(&self.dir(), &self.dir().join("reports/all"), &key);
        assert!(out.status.success(), "{}", stderr(&out));
        let count = |sub: &str, ext: &str| files(&self.dir().join(sub), ext).len();
        assert!(count("segments", "ndjson") >= 2, "several segments");
        assert!(
            count("checkpoints", "checkpoint") >= 4,
            "several checkpoints"
        );
        assert!(count("records", "record") >= 2, "two run summaries");
    }

    /// The lines the agents must ship: every newline of the store's text files.
    fn lines(&self) -> usize {
        shipped_files(&self.dir())
            .iter()
            .map(|f| {
                std::fs::read(f)
                    .unwrap()
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
            })
            .sum()
    }
}

/// The records `{file, offset, line}` of every object in `dir` (gzip or not).
fn records(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    for object in files(dir, "") {
        let raw = std::fs::read(&object).unwrap();
        let mut text = Vec::new();
        if raw.starts_with(&[0x1f, 0x8b]) {
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_end(&mut text)
                .unwrap();
        } else {
            text = raw;
        }
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            out.push((object.clone(), serde_json::from_slice(line).unwrap()));
        }
    }
    out
}

/// Download the evidence objects until they hold every line of the store (or the deadline).
fn download_all(moto: &moto::Moto, sb: &Sandbox, want: usize, agent: &Path) -> (PathBuf, Value) {
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    for attempt in 0.. {
        let dir = sb.path(&format!("objects-{attempt}"));
        std::fs::create_dir_all(&dir).unwrap();
        let listing = moto.download(PREFIX, &dir);
        let distinct: BTreeSet<(String, u64)> = records(&dir)
            .into_iter()
            .map(|(_, r)| {
                (
                    r["file"].as_str().unwrap().into(),
                    r["offset"].as_u64().unwrap(),
                )
            })
            .collect();
        if distinct.len() >= want {
            return (dir, listing);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {want} lines shipped by the deadline; agent log:\n{}",
            distinct.len(),
            log_tail(agent)
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    unreachable!()
}

/// The committed configuration, with the store and the agent's state under the sandbox.
fn committed(file: &str, store: &Path, state_in_config: &str, state: &Path) -> Yaml {
    let text = std::fs::read_to_string(crate::util::repo_file(file)).unwrap();
    let text = text
        .replace(STORE_IN_CONFIG, &store.display().to_string())
        .replace(state_in_config, &state.display().to_string());
    yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap()
        .remove(0)
}

fn fluent_bit_command(bin: &Path, store: &Store, moto: &moto::Moto) -> Command {
    let state = store.sb.path("fluent-bit-state");
    std::fs::create_dir_all(&state).unwrap();
    let mut doc = committed(
        FLUENT_BIT_CONFIG,
        &store.dir(),
        "/var/lib/fluent-bit/claude-audit-evidence",
        &state,
    );
    let Yaml::Hash(root) = &mut doc else { panic!() };
    let Some(Yaml::Hash(service)) = root.get_mut(&s("service")) else {
        panic!("no service")
    };
    // Retries after 1-2 s, not minutes: the test is bounded.
    for (k, v) in [
        ("grace", "2"),
        ("scheduler.base", "1"),
        ("scheduler.cap", "2"),
    ] {
        service.insert(s(k), s(v));
    }
    let Some(Yaml::Hash(pipeline)) = root.get_mut(&s("pipeline")) else {
        panic!("no pipeline")
    };
    let Some(Yaml::Array(outputs)) = pipeline.get_mut(&s("outputs")) else {
        panic!("no outputs")
    };
    let Yaml::Hash(output) = &mut outputs[0] else {
        panic!()
    };
    output.insert(s("endpoint"), s(&moto.endpoint()));
    output.insert(s("tls.ca_file"), s(&moto.ca_file.display().to_string()));
    output.insert(s("upload_timeout"), s("5s"));
    let config = store.sb.write("fluent-bit.yaml", yaml_text(&doc));
    let mut cmd = Command::new(bin);
    cmd.arg("-c").arg(config);
    cmd.env("EVIDENCE_BUCKET", moto::BUCKET)
        .env("AWS_REGION", "us-east-1")
        .envs(moto::AWS_ENV.iter().copied());
    cmd
}

fn vector_command(bin: &Path, store: &Store, moto: &moto::Moto) -> Command {
    let state = store.sb.path("vector-data");
    std::fs::create_dir_all(&state).unwrap();
    let mut doc = committed(
        VECTOR_CONFIG,
        &store.dir(),
        "/var/lib/vector/claude-audit",
        &state,
    );
    let settings = serde_json::json!({"evidence_bucket": moto::BUCKET, "aws_region": "us-east-1"});
    let settings = store.sb.write("settings.json", settings.to_string());
    std::fs::create_dir_all(store.sb.path("secrets")).unwrap();
    let backends = format!(
        "claude_audit_settings: {{type: file, path: '{}'}}\nclaude_audit_secrets: {{type: \
         directory, path: '{}'}}\n",
        settings.display(),
        store.sb.path("secrets").display()
    );
    let backends = yaml_rust2::YamlLoader::load_from_str(&backends)
        .unwrap()
        .remove(0);
    let Yaml::Hash(root) = &mut doc else { panic!() };
    root.insert(s("secret"), backends);
    let Some(Yaml::Hash(sinks)) = root.get_mut(&s("sinks")) else {
        panic!("no sinks")
    };
    let Some(Yaml::Hash(sink)) = sinks.get_mut(&s("evidence_store_s3")) else {
        panic!("no evidence_store_s3 sink")
    };
    sink.insert(s("endpoint"), s(&moto.endpoint()));
    let ca = moto.ca_file.display().to_string();
    sink.insert(s("tls"), hash(&[("ca_file", s(&ca))]));
    let Some(Yaml::Hash(batch)) = sink.get_mut(&s("batch")) else {
        panic!("no batch")
    };
    batch.insert(s("timeout_secs"), Yaml::Integer(1));
    let config = store.sb.write("vector.yaml", yaml_text(&doc));
    let mut cmd = Command::new(bin);
    cmd.arg("--config").arg(config);
    cmd.envs(moto::AWS_ENV.iter().copied());
    cmd
}

/// moto with its Object Lock bucket, or `None` (SKIPPED) where it cannot run.
fn start_moto() -> Option<moto::Moto> {
    if !moto::available() {
        assert!(!in_ci(), "CI=true: moto's server is missing");
        skipped("moto server not installed (pip install 'moto[server]')");
        return None;
    }
    match moto::Moto::start() {
        Ok(moto) => Some(moto),
        Err(e) if !in_ci() => {
            skipped(&format!("moto cannot listen: {e}"));
            None
        }
        Err(e) => panic!("CI=true: moto cannot listen: {e}"),
    }
}

/// Ship the store with `agent`, then restore, verify and compare; a gap and a duplicate.
fn ship_and_restore(agent: &str, command: fn(&Path, &Store, &moto::Moto) -> Command) {
    let Some(bin) = (match agent {
        "fluent-bit" => fluent_bit(),
        _ => vector(),
    }) else {
        return;
    };
    let store = Store::new();
    let Some(moto) = start_moto() else { return };
    let log = store.sb.path(&format!("{agent}.log"));
    let child = spawn(command(&bin, &store, &moto), &log);
    std::thread::sleep(Duration::from_secs(2));
    store.grow();
    let (objects, listing) = download_all(&moto, &store.sb, store.lines(), &log);
    stop(child);
    let label = format!("{agent} -> s3 evidence/");
    assert_object_lock(&label, &listing);
    for object in listing["objects"].as_array().unwrap() {
        let key = object["key"].as_str().unwrap().trim_start_matches('/');
        assert!(key.starts_with(PREFIX), "{label}: key {key}");
    }

    let restored = store.sb.path("restored");
    let out = restore(&objects, &restored);
    assert!(out.status.success(), "{label}: restore: {}", stderr(&out));
    eprintln!("{label}: {}", stderr(&out).trim());
    let verified = run(Command::new(BIN)
        .arg("verify")
        .arg(&restored)
        .arg("--key")
        .arg(&store.vkey));
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{label}: {}",
        stderr(&verified)
    );
    assert_same_files(&store.dir(), &restored);
    let report = run(Command::new(BIN)
        .arg("verify")
        .arg("--report")
        .arg(restored.join("reports/all"))
        .arg("--key")
        .arg(&store.vkey));
    assert_eq!(
        report.status.code(),
        Some(0),
        "{label}: {}",
        stderr(&report)
    );

    assert_duplicate_is_harmless(&store, &objects);
    assert_gap_is_named(&store, &objects);
}

/// An object downloaded twice (an agent retry) changes nothing.
fn assert_duplicate_is_harmless(store: &Store, objects: &Path) {
    let first = files(objects, "").remove(0);
    let copy = objects.join("retried-copy");
    std::fs::copy(&first, &copy).unwrap();
    let out = restore(objects, &store.sb.path("restored-dup"));
    std::fs::remove_file(copy).unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains(" 0 duplicate lines"),
        "{}",
        stderr(&out)
    );
    assert_same_files(&store.dir(), &store.sb.path("restored-dup"));
}

/// One line of a segment lost (as a lost object would leave it): restore fails, naming the file
/// and the offset, and leaves no partial store behind.
fn assert_gap_is_named(store: &Store, objects: &Path) {
    let records = records(objects);
    // The second line of a segment: lines follow it, so losing it leaves a gap.
    let (object, lost) = records
        .iter()
        .filter(|(_, r)| {
            r["file"].as_str().unwrap().contains("/segments/") && r["offset"].as_u64() > Some(0)
        })
        .min_by_key(|(_, r)| (r["file"].as_str().unwrap(), r["offset"].as_u64()))
        .expect("a segment line past the first");
    let kept: Vec<String> = records
        .iter()
        .filter(|(o, r)| o == object && r != lost)
        .map(|(_, r)| r.to_string())
        .collect();
    let gapped = store.sb.path("objects-gap");
    std::fs::create_dir_all(&gapped).unwrap();
    for other in files(objects, "").into_iter().filter(|o| o != object) {
        std::fs::copy(&other, gapped.join(other.file_name().unwrap())).unwrap();
    }
    std::fs::write(gapped.join("rewritten.ndjson"), kept.join("\n") + "\n").unwrap();
    let out = restore(&gapped, &store.sb.path("restored-gap"));
    assert_eq!(
        out.status.code(),
        Some(crate::util::EXIT_ERROR),
        "{}",
        stderr(&out)
    );
    let file = Path::new(lost["file"].as_str().unwrap());
    let name = file.file_name().unwrap().to_string_lossy();
    let offset = lost["offset"].as_u64().unwrap();
    let err = stderr(&out);
    assert!(
        err.contains(&format!("segments/{name}"))
            && err.contains(&format!("gap at offset {offset}")),
        "{err}"
    );
    assert!(!store.sb.path("restored-gap").exists(), "a partial store");
}

#[test]
fn fluent_bit_ships_the_evidence_store_to_object_lock_and_it_restores_byte_for_byte() {
    ship_and_restore("fluent-bit", fluent_bit_command);
}

#[test]
fn vector_ships_the_evidence_store_to_object_lock_and_it_restores_byte_for_byte() {
    ship_and_restore("vector", vector_command);
}
