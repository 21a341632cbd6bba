//! `claude-audit evidence restore` without an agent: the store's lines shipped as the agent
//! pipelines ship them (`{file, offset, line}` records, spread over objects in any order, one
//! gzip, one object twice) rebuild the store byte for byte; a conflicting line, a lost
//! checkpoint and a file outside the layout are each refused, naming the file. The agents
//! themselves are tested in `delivery::evidence_ship`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::evidence::{generate_key, run_into_store};
use crate::util::{BIN, EXIT_ERROR, Sandbox, fixture, run, stderr};

/// Files under `dir` (recursively) whose name ends with `ext`, sorted.
pub(crate) fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path, ext));
        } else if path.to_string_lossy().ends_with(ext) {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The files of a store that travel as lines: all but the lock and the binary indexes.
pub(crate) fn shipped_files(store: &Path) -> Vec<PathBuf> {
    files(store, "")
        .into_iter()
        .filter(|f| !f.ends_with(".lock") && f.extension().is_none_or(|x| x != "idx"))
        .collect()
}

/// The restored store holds exactly the original's files (the lock aside), byte for byte.
pub(crate) fn assert_same_files(original: &Path, restored: &Path) {
    let relative = |root: &Path| -> BTreeSet<PathBuf> {
        files(root, "")
            .into_iter()
            .filter(|f| !f.ends_with(".lock"))
            .map(|f| f.strip_prefix(root).unwrap().to_owned())
            .collect()
    };
    let names = relative(original);
    assert_eq!(names, relative(restored), "the restored store's files");
    for name in &names {
        let (a, b) = (original.join(name), restored.join(name));
        assert!(
            std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
            "{} differs",
            name.display()
        );
    }
}

/// `evidence restore --from FROM --out OUT`.
pub(crate) fn restore(from: &Path, out: &Path) -> Output {
    run(Command::new(BIN)
        .args(["evidence", "restore", "--from"])
        .arg(from)
        .arg("--out")
        .arg(out))
}

/// Every line of the store's text files as the agents ship it.
fn shipped_records(store: &Path) -> Vec<Value> {
    let mut records = Vec::new();
    for file in shipped_files(store) {
        let text = String::from_utf8(std::fs::read(&file).unwrap()).unwrap();
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let body = line
                .strip_suffix('\n')
                .expect("every line ends in a newline");
            records.push(json!({"file": file, "offset": offset, "line": body}));
            offset += line.len();
        }
    }
    records
}

/// Write `records` as NDJSON objects into a new directory `dir`: three objects, round robin,
/// newest first, the first gzip.
fn write_objects(dir: &Path, records: &[Value]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut objects = vec![Vec::new(); 3];
    for (i, r) in records.iter().rev().enumerate() {
        writeln!(objects[i % 3], "{r}").unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&objects[0]).unwrap();
    std::fs::write(dir.join("a.ndjson.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(dir.join("b.ndjson"), &objects[1]).unwrap();
    std::fs::write(dir.join("c.ndjson"), &objects[2]).unwrap();
}

/// A store of two runs (two 1 MiB segments, several checkpoints, two run summaries).
fn store(sb: &Sandbox) -> (PathBuf, String) {
    let vkey = generate_key(sb, "signing.key", "audit.example.com/claude");
    let one = std::fs::read_to_string(fixture("activities.ndjson")).unwrap();
    let store = sb.path("store");
    for ks in [[0, 1], [2, 3]] {
        // Each copy of the fixture with its own ids.
        let input: String = ks
            .iter()
            .map(|k| one.replace("\"id\":\"activity_01", &format!("\"id\":\"activity_{k:02}")))
            .collect();
        let input = sb.write("input.ndjson", input);
        let extra = ["--checkpoint-every", "250", "--segment-mib", "1"];
        let out = run_into_store(sb, &input, &store, &extra);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert!(files(&store.join("segments"), "ndjson").len() >= 2);
    (store, vkey)
}

fn assert_refused(out: &Output, names: &[&str]) {
    assert_eq!(out.status.code(), Some(EXIT_ERROR), "{}", stderr(out));
    let err = stderr(out);
    for name in names {
        assert!(err.contains(name), "{name} not named: {err}");
    }
}

#[test]
fn restore_rebuilds_the_store_from_shipped_lines_and_names_what_is_wrong() {
    let sb = Sandbox::new();
    let (store, vkey) = store(&sb);
    let records = shipped_records(&store);

    // Any order, gzip or not, one object downloaded twice.
    let objects = sb.path("objects");
    write_objects(&objects, &records);
    std::fs::copy(objects.join("b.ndjson"), objects.join("b-again.ndjson")).unwrap();
    let restored = sb.path("restored");
    let out = restore(&objects, &restored);
    assert!(out.status.success(), "{}", stderr(&out));
    let verified = run(Command::new(BIN)
        .arg("verify")
        .arg(&restored)
        .arg("--key")
        .arg(&vkey));
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
    assert_same_files(&store, &restored);

    // Another content for one segment line (same length): a conflict, named, never quoted.
    let mut altered = records
        .iter()
        .find(|r| r["file"].as_str().unwrap().contains("/segments/") && r["offset"] != 0)
        .unwrap()
        .clone();
    let line = altered["line"].as_str().unwrap().to_owned();
    let event_id = line.split('"').nth(7).unwrap().to_owned();
    altered["line"] = Value::String(line.replacen("\"event_id\"", "\"event_iD\"", 1));
    std::fs::write(objects.join("d.ndjson"), format!("{altered}\n")).unwrap();
    let out = restore(&objects, &sb.path("restored-conflict"));
    let offset = format!("conflicting content at offset {}", altered["offset"]);
    let file = Path::new(altered["file"].as_str().unwrap());
    let name = format!("segments/{}", file.file_name().unwrap().to_string_lossy());
    assert_refused(&out, &[&name, &offset]);
    assert!(!stderr(&out).contains(&event_id), "{}", stderr(&out));
    assert!(!sb.path("restored-conflict").exists(), "a partial store");

    // A checkpoint lost whole: named by restore (verify would name it too).
    let lost: Vec<Value> = records
        .iter()
        .filter(|r| {
            !r["file"]
                .as_str()
                .unwrap()
                .ends_with("/0000000002.checkpoint")
        })
        .cloned()
        .collect();
    write_objects(&sb.path("objects-lost"), &lost);
    let out = restore(&sb.path("objects-lost"), &sb.path("restored-lost"));
    assert_refused(&out, &["checkpoints: number 2 is missing"]);

    // A path outside the layout (here a binary index, which the pipelines never ship).
    let idx = store.join("segments/00000000000000000000.idx");
    let stray = json!({"file": idx, "offset": 0, "line": "x"});
    write_objects(&sb.path("objects-stray"), &[stray]);
    let out = restore(&sb.path("objects-stray"), &sb.path("restored-stray"));
    assert_refused(
        &out,
        &["00000000000000000000.idx is not a file of an evidence store"],
    );
}
