//! The agent configurations under `pipelines/`: Fluent Bit (`pipelines/fluent-bit/*.yaml`) and
//! Vector (`pipelines/vector/*.yaml`).
//!
//! Always: each file parses as YAML and refers only to components it defines (Fluent Bit: every
//! filter and output `match` matches an input tag or a tag made by `rewrite_tag`, every input's
//! records reach an output, dead letters reach only local files, parsers exist; Vector: every
//! `inputs` entry names a source or transform, every source and transform is consumed), and no
//! token, password or key is written literally.
//!
//! With the agents (`fluent-bit` on PATH or `FLUENT_BIT_BIN`; `vector` on PATH or `VECTOR_BIN`):
//! each file passes the agent's own check (`fluent-bit --dry-run`, `vector validate
//! --no-environment` and `vector test`), with dummy values for the environment variables it
//! names, and one end-to-end run per agent from `tests/fixtures/activities.ndjson` to a local
//! file matches `claude-audit run`. Without an agent those tests print `SKIPPED: ...` and pass.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

use crate::util::*;

const FLUENT_BIT_DIR: &str = "pipelines/fluent-bit";
const VECTOR_DIR: &str = "pipelines/vector";
/// The Fluent Bit file whose filter chain (wasm + rewrite_tag) the end-to-end run uses.
pub(crate) const FLUENT_BIT_WASM_PIPELINE: &str = "pipelines/fluent-bit/ndjson-tail-wasm.yaml";
/// The secret backends production runs load next to a Vector pipeline.
const VECTOR_PRODUCTION_BACKENDS: &str = "pipelines/vector/backends/production.yaml";
/// The same backends over the placeholder values, for `vector test`.
pub(crate) const VECTOR_EXAMPLE_BACKENDS: &str = "pipelines/vector/backends/example.yaml";
/// The file backend of non-secret settings, and the directory backend of credentials.
pub(crate) const VECTOR_SETTINGS_BACKEND: &str = "claude_audit_settings";
pub(crate) const VECTOR_SECRETS_BACKEND: &str = "claude_audit_secrets";
/// The Vector file whose parsing transform the end-to-end run uses.
pub(crate) const VECTOR_FILE_PIPELINE: &str = "pipelines/vector/siem-sinks.yaml";
/// The export name of the Fluent Bit filter function (the module's contract).
const FILTER_FUNCTION: &str = "claude_audit_filter";
/// The key of the marker the module returns for a record that fails validation.
pub(crate) const DEAD_LETTER_KEY: &str = "claude_audit_dead_letter";
/// The key of the marker the module returns for a record its policy filters out.
const FILTERED_KEY: &str = "claude_audit_filtered";

// ----------------------------------------------------------------------------- loading

/// The `*.yaml` files of a pipelines folder, sorted; at least one.
fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_file(dir))
        .unwrap_or_else(|e| panic!("reading {dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.yaml in {dir}");
    files
}

/// The single YAML document of a file.
pub(crate) fn load(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap();
    let mut docs = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not valid YAML: {e}", path.display()));
    assert_eq!(docs.len(), 1, "{}: one YAML document", path.display());
    docs.remove(0)
}

fn name_of(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// A scalar as text (YAML `on`, `1M`, `60` all count as settings text for the agents).
fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn get<'a>(map: &'a Yaml, key: &str) -> &'a Yaml {
    &map[key]
}

pub(crate) fn get_str(map: &Yaml, key: &str) -> Option<String> {
    scalar(get(map, key))
}

/// The list `section.key` (e.g. `pipeline.inputs`), empty when absent.
pub(crate) fn list<'a>(doc: &'a Yaml, section: &str, key: &str) -> &'a [Yaml] {
    doc[section][key].as_vec().map(Vec::as_slice).unwrap_or(&[])
}

// ----------------------------------------------------------------------------- secrets

/// Option names whose value is a credential. `key` alone is not one (`id_key`, `time_key`).
const SECRET_WORDS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
    "key_pass",
    "authorization",
];

/// Credential options that take a file path (the secret is the file's content).
fn is_path_option(key: &str) -> bool {
    key.ends_with("_file") || key.ends_with("_path") || key == "google_service_credentials"
}

/// The value with every `${VAR}` and `SECRET[...]` reference replaced by a space.
fn strip_references(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    loop {
        let next = [("${", '}'), ("SECRET[", ']')]
            .into_iter()
            .filter_map(|(open, close)| rest.find(open).map(|i| (i, open, close)))
            .min_by_key(|(i, _, _)| *i);
        let Some((i, open, close)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..i]);
        out.push(' ');
        let after = &rest[i + open.len()..];
        rest = after.find(close).map_or("", |j| &after[j + 1..]);
    }
}

/// True when the value takes its secret from the environment or a secret store, and what is
/// left around the reference (e.g. `ApiKey `) does not itself look like a credential.
fn is_reference(value: &str) -> bool {
    let refs = value.contains("${") || value.contains("SECRET[");
    let longest_run = strip_references(value)
        .split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-".contains(c)))
        .map(str::len)
        .max()
        .unwrap_or(0);
    refs && longest_run < 16
}

/// Walk every key/value of a document; report secret-ish options with a literal value.
fn literal_secrets(doc: &Yaml, path: &str, found: &mut Vec<String>) {
    match doc {
        Yaml::Hash(map) => {
            for (k, v) in map {
                let key = scalar(k).unwrap_or_default();
                let here = format!("{path}.{key}");
                let lower = key.to_ascii_lowercase();
                if let Some(value) = scalar(v) {
                    let secret_ish = SECRET_WORDS.iter().any(|w| lower.contains(w));
                    let credential_file = secret_ish || lower.contains("credential");
                    if credential_file && is_path_option(&lower) {
                        if !value.starts_with('/') {
                            found.push(format!("{here}: a credential file option must be a path"));
                        }
                    } else if secret_ish && !is_reference(&value) {
                        found.push(format!("{here} = {value:?}: not an env/secret reference"));
                    }
                    if looks_like_a_key(&value) {
                        found.push(format!("{here}: value looks like a credential"));
                    }
                }
                literal_secrets(v, &here, found);
            }
        }
        Yaml::Array(items) => {
            for (n, item) in items.iter().enumerate() {
                literal_secrets(item, &format!("{path}[{n}]"), found);
            }
        }
        _ => {}
    }
}

/// Well-known credential shapes, wherever they appear.
fn looks_like_a_key(value: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "sk-ant-",
        "AKIA",
        "ghp_",
        "github_pat_",
        "xoxb-",
        "-----BEGIN",
    ];
    PREFIXES.iter().any(|p| value.contains(p))
}

fn assert_no_literal_secrets(path: &Path, doc: &Yaml) {
    let mut found = Vec::new();
    literal_secrets(doc, "", &mut found);
    assert!(found.is_empty(), "{}: {found:#?}", name_of(path));
}

/// The `${VAR}` names a file refers to.
pub(crate) fn env_references(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut names = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find('}') {
            names.insert(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    names
}

/// A harmless value of the right shape for each variable, for the agents' checks.
fn dummy_env(path: &Path) -> Vec<(String, String)> {
    env_references(path)
        .into_iter()
        .map(|name| {
            let value = if name.ends_with("_URL") || name.ends_with("_ENDPOINT") {
                "https://127.0.0.1:9".to_string()
            } else if name.ends_with("_BROKERS") {
                "127.0.0.1:9".to_string()
            } else if name.ends_with("_HOST") {
                "127.0.0.1".to_string()
            } else if name == "DD_SITE" {
                "datadoghq.com".to_string()
            } else if name.ends_with("_REGION") {
                (if name.starts_with("SECOPS") {
                    "US"
                } else {
                    "us-east-1"
                })
                .to_string()
            } else {
                "dummy-test-value".to_string()
            };
            (name, value)
        })
        .collect()
}

// ----------------------------------------------------------------------------- Fluent Bit

/// Fluent Bit's tag pattern match: `*` is any run of characters, all else literal.
fn fluent_bit_match(pattern: &str, tag: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), tag.as_bytes())
}

/// The tag a rewrite_tag rule gives a record of `tag`: `$TAG`, `$TAG[n]` substituted; any
/// record-derived `$key` part becomes `x` (it can be anything).
fn rewritten_tag(template: &str, tag: &str) -> String {
    let parts: Vec<&str> = tag.split('.').collect();
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if let Some(after) = rest.strip_prefix("$TAG[") {
            let end = after.find(']').expect("closing ] in $TAG[n]");
            let n: usize = after[..end].parse().expect("$TAG[n] index");
            out.push_str(parts.get(n).copied().unwrap_or(""));
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix("$TAG") {
            out.push_str(tag);
            rest = after;
        } else {
            out.push('x');
            let end = rest[1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(rest.len(), |e| e + 1);
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// Every tag records can carry in a Fluent Bit file: input tags, then the tags rewrite_tag
/// filters produce from them (to a fixed point). Also returns which tags are dead letters.
fn fluent_bit_tags(doc: &Yaml, file: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut tags = BTreeSet::new();
    for input in list(doc, "pipeline", "inputs") {
        let tag = get_str(input, "tag")
            .unwrap_or_else(|| panic!("{file}: every input sets its `tag` explicitly"));
        tags.insert(tag);
    }
    let mut dead = BTreeSet::new();
    loop {
        let mut new = BTreeSet::new();
        for filter in list(doc, "pipeline", "filters") {
            if get_str(filter, "name").as_deref() != Some("rewrite_tag") {
                continue;
            }
            let pattern = get_str(filter, "match").unwrap_or_default();
            let rules: Vec<String> = match get(filter, "rule") {
                Yaml::Array(items) => items.iter().filter_map(scalar).collect(),
                other => scalar(other).into_iter().collect(),
            };
            for rule in rules {
                let fields: Vec<&str> = rule.split_whitespace().collect();
                assert_eq!(fields.len(), 4, "{file}: rule `{rule}`: KEY REGEX TAG KEEP");
                for tag in tags.iter().filter(|t| fluent_bit_match(&pattern, t)) {
                    let produced = rewritten_tag(fields[2], tag);
                    if fields[0].contains(DEAD_LETTER_KEY) {
                        dead.insert(produced.clone());
                    }
                    if !tags.contains(&produced) {
                        new.insert(produced);
                    }
                }
            }
        }
        if new.is_empty() {
            return (tags, dead);
        }
        tags.extend(new);
    }
}

/// Static checks of one Fluent Bit file.
fn check_fluent_bit(path: &Path) {
    let file = name_of(path);
    let doc = load(path);
    assert!(
        doc["pipeline"].as_hash().is_some(),
        "{file}: a `pipeline:` section"
    );
    assert!(
        !list(&doc, "pipeline", "inputs").is_empty(),
        "{file}: at least one input"
    );
    assert!(
        !list(&doc, "pipeline", "outputs").is_empty(),
        "{file}: at least one output"
    );
    let (tags, dead) = fluent_bit_tags(&doc, &file);

    // Parsers named by inputs (and parser filters) are defined in the file.
    let parsers: BTreeSet<String> = doc["parsers"]
        .as_vec()
        .map(|v| v.iter().filter_map(|p| get_str(p, "name")).collect())
        .unwrap_or_default();
    let sections = ["inputs", "filters"];
    for section in sections {
        for plugin in list(&doc, "pipeline", section) {
            if let Some(parser) = get_str(plugin, "parser") {
                assert!(
                    parsers.contains(&parser),
                    "{file}: parser {parser} is not defined under `parsers:`"
                );
            }
        }
    }

    // Every filter and output matches some tag.
    for section in ["filters", "outputs"] {
        for plugin in list(&doc, "pipeline", section) {
            let name = get_str(plugin, "name")
                .unwrap_or_else(|| panic!("{file}: a {section} entry without name"));
            let pattern = get_str(plugin, "match")
                .unwrap_or_else(|| panic!("{file}: {section} {name} needs `match`"));
            assert!(
                tags.iter().any(|t| fluent_bit_match(&pattern, t)),
                "{file}: {section} {name} matches `{pattern}`, which no input or rewrite_tag produces (tags: {tags:?})"
            );
        }
    }

    // Every tag reaches an output; dead letters reach only local files.
    let outputs = list(&doc, "pipeline", "outputs");
    for tag in &tags {
        let matching: Vec<String> = outputs
            .iter()
            .filter(|o| fluent_bit_match(&get_str(o, "match").unwrap_or_default(), tag))
            .filter_map(|o| get_str(o, "name"))
            .collect();
        assert!(
            !matching.is_empty(),
            "{file}: records tagged {tag} reach no output"
        );
        if dead.contains(tag) {
            assert!(
                matching.iter().all(|n| n == "file"),
                "{file}: dead letters ({tag}) must go only to local files, not to {matching:?}"
            );
        }
    }

    // The wasm filter: the module's contract, and its dead letters taken out right after it.
    let filters = list(&doc, "pipeline", "filters");
    for (n, filter) in filters.iter().enumerate() {
        if get_str(filter, "name").as_deref() != Some("wasm") {
            continue;
        }
        assert_eq!(
            get_str(filter, "function_name").as_deref(),
            Some(FILTER_FUNCTION),
            "{file}"
        );
        assert_eq!(
            get_str(filter, "event_format").as_deref(),
            Some("json"),
            "{file}"
        );
        assert_eq!(
            get_str(filter, "accessible_paths").as_deref(),
            Some("/etc/claude-audit"),
            "{file}"
        );
        // The filters right after it, on the same records: a grep dropping the policy's
        // `filtered` markers and a rewrite_tag moving dead-letter markers away.
        let same_match = |f: &&Yaml| get_str(f, "match") == get_str(filter, "match");
        let after: Vec<&Yaml> = filters[n + 1..].iter().take(2).filter(same_match).collect();
        let has = |name: &str, key: &str, marker: &str| {
            after.iter().any(|f| {
                get_str(f, "name").as_deref() == Some(name)
                    && get_str(f, key).is_some_and(|rule| rule.contains(marker))
            })
        };
        assert!(
            has("grep", "exclude", FILTERED_KEY),
            "{file}: the wasm filter must be followed by a grep excluding {FILTERED_KEY} on the same match"
        );
        assert!(
            has("rewrite_tag", "rule", DEAD_LETTER_KEY),
            "{file}: the wasm filter must be followed by a rewrite_tag of {DEAD_LETTER_KEY} on the same match"
        );
    }
    assert_no_literal_secrets(path, &doc);
}

#[test]
fn fluent_bit_files_are_consistent_and_keep_secrets_out() {
    for path in yaml_files(FLUENT_BIT_DIR) {
        check_fluent_bit(&path);
    }
}

#[test]
fn fluent_bit_tag_matching_follows_fluent_bit() {
    assert!(fluent_bit_match("claude.events.*", "claude.events.file"));
    assert!(fluent_bit_match("*", "anything"));
    assert!(!fluent_bit_match(
        "claude.events.*",
        "claude.deadletter.file"
    ));
    assert!(!fluent_bit_match(
        "claude.events.file",
        "claude.events.filex"
    ));
    assert_eq!(
        rewritten_tag("claude.deadletter.$TAG[2]", "claude.events.otel"),
        "claude.deadletter.otel"
    );
    assert_eq!(rewritten_tag("dl.$TAG", "a.b"), "dl.a.b");
    assert_eq!(rewritten_tag("by.$kind.x", "a.b"), "by.x.x");
}

#[test]
fn secret_check_catches_literals() {
    let doc = &YamlLoader::load_from_str(
        "a:\n  splunk_token: abcdefghijklmnopqrstuvwxyz\n  http_passwd: ${P}\n  \
         google_service_credentials: '{\"k\":1}'\n  id_key: event_id\n  Authorization: ApiKey ${K}\n",
    )
    .unwrap()[0];
    let mut found = Vec::new();
    literal_secrets(doc, "", &mut found);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].contains("splunk_token"));
    assert!(found[1].contains("google_service_credentials"));
}

// ----------------------------------------------------------------------------- Vector

/// Static checks of one Vector file.
fn check_vector(path: &Path) {
    let file = name_of(path);
    let doc = load(path);
    let keys = |section: &str| -> BTreeSet<String> {
        doc[section]
            .as_hash()
            .map(|h| h.keys().filter_map(scalar).collect())
            .unwrap_or_default()
    };
    let sources = keys("sources");
    let transforms = keys("transforms");
    let sinks = keys("sinks");
    assert!(!sources.is_empty(), "{file}: at least one source");
    assert!(!sinks.is_empty(), "{file}: at least one sink");

    // Named outputs of transforms: `<remap>.dropped` (reroute_dropped), `<route>.<name>`.
    let mut outputs: BTreeSet<String> = sources.union(&transforms).cloned().collect();
    // The opentelemetry source has one output per signal: `<source>.logs` and so on.
    if let Some(h) = doc["sources"].as_hash() {
        for (name, source) in h {
            if get_str(source, "type").as_deref() == Some("opentelemetry") {
                let name = scalar(name).unwrap();
                for signal in ["logs", "metrics", "traces"] {
                    outputs.insert(format!("{name}.{signal}"));
                }
            }
        }
    }
    if let Some(h) = doc["transforms"].as_hash() {
        for (name, t) in h {
            let name = scalar(name).unwrap();
            if t["reroute_dropped"].as_bool() == Some(true) {
                outputs.insert(format!("{name}.dropped"));
            }
            if let Some(routes) = t["route"].as_hash() {
                for route in routes.keys().filter_map(scalar) {
                    outputs.insert(format!("{name}.{route}"));
                }
                outputs.insert(format!("{name}._unmatched"));
            }
        }
    }

    let mut consumed = BTreeSet::new();
    for section in ["transforms", "sinks"] {
        let Some(h) = doc[section].as_hash() else {
            continue;
        };
        for (name, component) in h {
            let name = scalar(name).unwrap();
            assert!(
                get_str(component, "type").is_some(),
                "{file}: {section}.{name} needs a type"
            );
            let inputs = component["inputs"]
                .as_vec()
                .unwrap_or_else(|| panic!("{file}: {section}.{name} needs an `inputs` list"));
            assert!(!inputs.is_empty(), "{file}: {section}.{name}: empty inputs");
            for input in inputs {
                let input = scalar(input).unwrap();
                assert!(
                    outputs.contains(&input),
                    "{file}: {section}.{name} reads `{input}`, which is not a source or transform output of this file"
                );
                consumed.insert(input.split('.').next().unwrap().to_string());
            }
        }
    }
    for component in sources.union(&transforms) {
        assert!(
            consumed.contains(component),
            "{file}: {component} feeds nothing"
        );
    }
    // Unit tests name transforms that exist.
    for test in doc["tests"].as_vec().map(Vec::as_slice).unwrap_or(&[]) {
        for input in test["inputs"].as_vec().map(Vec::as_slice).unwrap_or(&[]) {
            let at = get_str(input, "insert_at").unwrap();
            assert!(
                transforms.contains(&at),
                "{file}: test inserts at unknown {at}"
            );
        }
        for output in test["outputs"].as_vec().map(Vec::as_slice).unwrap_or(&[]) {
            let from = get_str(output, "extract_from").unwrap();
            assert!(
                outputs.contains(&from),
                "{file}: test extracts from unknown {from}"
            );
        }
    }
    assert_no_literal_secrets(path, &doc);
}

#[test]
fn vector_files_are_consistent_and_keep_secrets_out() {
    for path in yaml_files(VECTOR_DIR) {
        check_vector(&path);
    }
}

/// Every file under `pipelines/vector/` (pipelines, backends, example values), recursively.
fn vector_tree_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            vector_tree_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The `SECRET[backend.key]` references of a text, as (backend, key).
fn secret_references(text: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("SECRET[") {
        rest = &rest[start + "SECRET[".len()..];
        let end = rest.find(']').expect("closing ] of SECRET[");
        let (backend, key) = rest[..end]
            .split_once('.')
            .unwrap_or_else(|| panic!("SECRET[{}]: backend.key", &rest[..end]));
        found.insert((backend.to_string(), key.to_string()));
    }
    found
}

/// The backends (name -> (type, path)) a backends file defines.
fn vector_backends(path: &str) -> BTreeMap<String, (String, String)> {
    let doc = load(&repo_file(path));
    let backends = doc["secret"].as_hash().expect("a `secret:` section");
    backends
        .iter()
        .map(|(name, b)| {
            let name = scalar(name).unwrap();
            let valid = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            assert!(
                valid,
                "{path}: backend name {name}: letters, digits, _ only"
            );
            (
                name,
                (get_str(b, "type").unwrap(), get_str(b, "path").unwrap()),
            )
        })
        .collect()
}

/// Vector >= 0.57 interpolates no environment variable without a dangerous flag, and reads
/// `${...}` even in comments: none anywhere. Every `SECRET[backend.key]` names a backend of
/// both backend files (same names and types) and a key the example values hold, so `vector
/// test` resolves it and the example is a complete template.
#[test]
fn vector_files_use_secret_backends_not_the_environment() {
    let mut files = Vec::new();
    vector_tree_files(&repo_file(VECTOR_DIR), &mut files);
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            !text.contains("${"),
            "{}: `${{` in a Vector file",
            file.display()
        );
    }
    let production = vector_backends(VECTOR_PRODUCTION_BACKENDS);
    let example = vector_backends(VECTOR_EXAMPLE_BACKENDS);
    let kinds = |b: &BTreeMap<String, (String, String)>| -> Vec<(String, String)> {
        b.iter().map(|(n, (t, _))| (n.clone(), t.clone())).collect()
    };
    assert_eq!(
        kinds(&production),
        kinds(&example),
        "backend names and types"
    );
    let settings: serde_json::Map<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(repo_file(&example[VECTOR_SETTINGS_BACKEND].1)).unwrap(),
    )
    .unwrap();
    let secrets_dir = repo_file(&example[VECTOR_SECRETS_BACKEND].1);
    for path in yaml_files(VECTOR_DIR) {
        let refs = secret_references(&std::fs::read_to_string(&path).unwrap());
        assert!(!refs.is_empty(), "{}: no secret reference", name_of(&path));
        for (backend, key) in refs {
            let known = match backend.as_str() {
                VECTOR_SETTINGS_BACKEND => settings.contains_key(&key),
                VECTOR_SECRETS_BACKEND => secrets_dir.join(&key).is_file(),
                _ => panic!("{}: unknown backend {backend}", name_of(&path)),
            };
            assert!(
                known,
                "{}: {backend}.{key} has no example value",
                name_of(&path)
            );
        }
    }
}

// ----------------------------------------------------------------------------- agents

/// Say plainly that a check did not run. Written to the process's stderr directly, not through
/// `println!`, which the test harness captures and shows only on failure.
pub(crate) fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// True under CI (`CI=true`), where an agent test must run rather than skip.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The agent binary from `$env_var`, else from PATH; `None` prints the SKIPPED line. Under
/// CI, a missing agent while `../shared/agents/bin/<binary>` exists fails the test: `.ci/run`
/// exports the variable when the file exists, so a skip there means the wiring broke.
fn agent(binary: &str, env_var: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "{env_var}={}: no such file", path.display());
        return Some(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(binary))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let shared = repo_file(&format!("../shared/agents/bin/{binary}"));
        assert!(
            !(in_ci() && shared.is_file()),
            "CI=true: {} exists but {env_var} is unset and {binary} is not on PATH; \
             the agent tests would skip",
            shared.display()
        );
        skipped(&format!("{binary} not found (set {env_var})"));
    }
    found
}

pub(crate) fn fluent_bit() -> Option<PathBuf> {
    agent("fluent-bit", "FLUENT_BIT_BIN")
}

pub(crate) fn vector() -> Option<PathBuf> {
    agent("vector", "VECTOR_BIN")
}

#[test]
fn fluent_bit_dry_run_accepts_every_file() {
    let Some(bin) = fluent_bit() else { return };
    let sb = Sandbox::new();
    // The wasm filter's check wants a readable module at `wasm_path` (/opt/claude-audit/...):
    // point it at a placeholder file, everything else as committed.
    let placeholder = sb.write("placeholder.wasm", b"");
    // Lua scripts named relative to the file (alerts.yaml) go along with the copies.
    for entry in std::fs::read_dir(repo_file(FLUENT_BIT_DIR)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "lua") {
            sb.write(&name_of(&path), std::fs::read(&path).unwrap());
        }
    }
    for path in yaml_files(FLUENT_BIT_DIR) {
        let text: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|line| match line.split_once("wasm_path:") {
                Some((indent, _)) if indent.trim().is_empty() => {
                    format!("{indent}wasm_path: {}\n", placeholder.display())
                }
                _ => format!("{line}\n"),
            })
            .collect();
        let checked = sb.write(&name_of(&path), text);
        let out = Command::new(&bin)
            .arg("--dry-run")
            .arg("-c")
            .arg(&checked)
            .envs(dummy_env(&path))
            .output()
            .expect("run fluent-bit");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.contains("configuration test is successful"),
            "{}: fluent-bit --dry-run failed:\n{text}",
            name_of(&path)
        );
    }
}

#[test]
fn vector_validates_and_tests_every_file() {
    let Some(bin) = vector() else { return };
    for path in yaml_files(VECTOR_DIR) {
        // Exactly the README's commands: no environment, no dangerous flag.
        let example = repo_file(VECTOR_EXAMPLE_BACKENDS);
        let validate = [path.as_os_str()];
        let test = [example.as_os_str(), path.as_os_str()];
        for (verb, files) in [("validate", &validate[..]), ("test", &test[..])] {
            let mut cmd = Command::new(&bin);
            cmd.current_dir(repo_file("")).env_clear().arg(verb);
            if verb == "validate" {
                cmd.arg("--no-environment");
            }
            let out = cmd.args(files).output().expect("run vector");
            assert!(
                out.status.success(),
                "{}: vector {verb} failed:\n{}{}",
                name_of(&path),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Numbers compared by value: agents may print `1.0` as `1`.
pub(crate) fn normalized(value: &Value) -> Value {
    match value {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalized(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Events keyed by event_id, for an order-independent comparison.
fn by_event_id(events: &[Value]) -> BTreeMap<String, Value> {
    events
        .iter()
        .map(|e| {
            (
                e["event_id"].as_str().expect("event_id").to_string(),
                normalized(e),
            )
        })
        .collect()
}

fn assert_same_events(agent: &str, got: &[Value], expected: &[Value]) {
    assert_eq!(got.len(), expected.len(), "{agent}: number of events");
    let got = by_event_id(got);
    let expected = by_event_id(expected);
    for (id, e) in &expected {
        let g = got
            .get(id)
            .unwrap_or_else(|| panic!("{agent}: event {id} missing"));
        assert_eq!(g, e, "{agent}: event {id} differs");
    }
}

/// `claude-audit run` over the fixture with the test key (from `config`, else from the
/// command line): the reference output.
pub(crate) fn reference_events(sb: &Sandbox, config: Option<&Path>) -> Vec<Value> {
    let mut cmd = match config {
        Some(config) => {
            let mut cmd = sb.run_cmd_without_key();
            cmd.arg("--config").arg(config);
            cmd
        }
        None => sb.run_cmd(),
    };
    let out = run(cmd.arg(fixture("activities.ndjson")));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    read_ndjson(&out.stdout)
}

/// The Fluent Bit flavour of the module: `CLAUDE_AUDIT_FB_MODULE` if set
/// (e.g. an AOT build), else the one host/build.rs built for these tests.
pub(crate) fn fluent_bit_module() -> Option<PathBuf> {
    let path = std::env::var_os("CLAUDE_AUDIT_FB_MODULE").map_or_else(
        || PathBuf::from(env!("CLAUDE_AUDIT_FLUENTBIT_WASM")),
        PathBuf::from,
    );
    if path.is_file() {
        Some(path)
    } else {
        skipped(&format!(
            "Fluent Bit module not found at {} (CLAUDE_AUDIT_FB_MODULE)",
            path.display()
        ));
        None
    }
}

pub(crate) fn yaml_text(doc: &Yaml) -> String {
    let mut out = String::new();
    YamlEmitter::new(&mut out).dump(doc).unwrap();
    out
}

pub(crate) fn hash(pairs: &[(&str, Yaml)]) -> Yaml {
    let mut h = Hash::new();
    for (k, v) in pairs {
        h.insert(Yaml::String((*k).to_string()), v.clone());
    }
    Yaml::Hash(h)
}

pub(crate) fn s(text: &str) -> Yaml {
    Yaml::String(text.to_string())
}

/// The policy both the Fluent Bit module and `claude-audit run` use in the agent tests (one
/// activity type excluded, which the grep after the wasm filter must drop; the test key): a
/// folder standing in for /etc/claude-audit (the module's accessible path) and the host TOML.
pub(crate) fn module_policy(sb: &Sandbox) -> (PathBuf, PathBuf) {
    module_policy_for(sb, "canonical")
}

/// [`module_policy`] writing `profile` (canonical, ecs, ocsf): its own module folder
/// (`etc-claude-audit[-PROFILE]`, with a copy of the key) and host TOML.
pub(crate) fn module_policy_for(sb: &Sandbox, profile: &str) -> (PathBuf, PathBuf) {
    let suffix = match profile {
        "canonical" => String::new(),
        other => format!("-{other}"),
    };
    let etc = sb.path(&format!("etc-claude-audit{suffix}"));
    std::fs::create_dir_all(&etc).unwrap();
    let key = etc.join("test-hmac.key");
    std::fs::copy(fixture("test-hmac.key"), &key).unwrap();
    let config = format!(
        "[plugin]\nprofile = \"{profile}\"\nexclude_types = [\"sso_login_initiated\"]\n\n\
         [keys]\nactive = \"k1\"\nhmac = [{{ id = \"k1\", file = \"{}\" }}]\n",
        key.display()
    );
    std::fs::write(etc.join("claude-audit.toml"), &config).unwrap();
    (etc, sb.write(&format!("host{suffix}.toml"), &config))
}

/// The committed file's filters (wasm, grep, rewrite_tag), with the module and accessible path
/// of the test, and the emitter's filesystem storage left out (the test sets no storage path).
pub(crate) fn fluent_bit_wasm_filters(committed: &Yaml, module: &Path, etc: &Path) -> Yaml {
    let mut filters = Vec::new();
    for filter in list(committed, "pipeline", "filters") {
        let mut f = filter.as_hash().unwrap().clone();
        if get_str(filter, "name").as_deref() == Some("wasm") {
            f.insert(s("wasm_path"), s(&module.display().to_string()));
            f.insert(s("accessible_paths"), s(&etc.display().to_string()));
        }
        f.remove(&s("emitter_storage.type"));
        filters.push(Yaml::Hash(f));
    }
    Yaml::Array(filters)
}

/// Fixture -> tail -> the committed wasm, grep and rewrite_tag filters -> local files, compared
/// with `claude-audit run` under the same policy (one activity type excluded, which the grep
/// filter must drop). One extra invalid record must come out as a dead letter, on its own.
#[test]
fn fluent_bit_wasm_pipeline_matches_claude_audit_run() {
    let Some(bin) = fluent_bit() else { return };
    let Some(module) = fluent_bit_module() else {
        return;
    };
    let sb = Sandbox::new();
    let (etc, host_config) = module_policy(&sb);
    let expected = reference_events(&sb, Some(host_config.as_path()));

    // The invalid record goes first: with exit_on_eof, Fluent Bit pauses its inputs at the end
    // of the file, and a record re-emitted by rewrite_tag at the very end can miss the exit.
    let mut input = b"{\"id\":\"activity_not_valid\"}\n".to_vec();
    input.extend_from_slice(&std::fs::read(fixture("activities.ndjson")).unwrap());
    let input_path = sb.write("input.ndjson", &input);

    // The committed file's input tag and filters; inputs and outputs replaced by local ones.
    let committed = load(&repo_file(FLUENT_BIT_WASM_PIPELINE));
    let tail = &list(&committed, "pipeline", "inputs")[0];
    let tag = get_str(tail, "tag").unwrap();
    let filters = fluent_bit_wasm_filters(&committed, &module, &etc);
    let file_output = |m: &str, name: &str| {
        hash(&[
            ("name", s("file")),
            ("match", s(m)),
            ("path", s(&sb.dir.path().display().to_string())),
            ("file", s(name)),
            ("format", s("plain")),
        ])
    };
    let config = hash(&[
        (
            "service",
            hash(&[
                ("flush", s("1")),
                ("grace", s("5")),
                ("log_level", s("info")),
            ]),
        ),
        ("parsers", committed["parsers"].clone()),
        (
            "pipeline",
            hash(&[
                (
                    "inputs",
                    Yaml::Array(vec![hash(&[
                        ("name", s("tail")),
                        ("tag", s(&tag)),
                        ("path", s(&input_path.display().to_string())),
                        ("parser", tail["parser"].clone()),
                        ("read_from_head", s("true")),
                        ("exit_on_eof", s("true")),
                        ("buffer_max_size", s("1M")),
                    ])]),
                ),
                ("filters", filters),
                (
                    "outputs",
                    Yaml::Array(vec![
                        file_output("claude.deadletter.*", "dead.out"),
                        file_output("claude.events.*", "events.out"),
                    ]),
                ),
            ]),
        ),
    ]);
    let config_path = sb.write("fluent-bit.yaml", yaml_text(&config));

    let out = Command::new(&bin)
        .arg("-c")
        .arg(&config_path)
        .output()
        .expect("run fluent-bit");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "fluent-bit failed:\n{log}");

    let got = read_ndjson(&std::fs::read(sb.path("events.out")).unwrap_or_default());
    assert_same_events("fluent-bit", &got, &expected);
    let dead = read_ndjson(&std::fs::read(sb.path("dead.out")).unwrap_or_default());
    assert_eq!(dead.len(), 1, "one dead letter:\n{log}");
    assert!(dead[0].get(DEAD_LETTER_KEY).is_some(), "{:?}", dead[0]);
}

/// `claude-audit run` output -> the committed Vector file source + parsing remap -> a local
/// file, compared with the run output itself (Vector must not alter a canonical event).
#[test]
fn vector_file_pipeline_passes_events_through_unchanged() {
    let Some(bin) = vector() else { return };
    let sb = Sandbox::new();
    let expected = reference_events(&sb, None);
    let events = sb.path("events.ndjson");
    std::fs::write(
        &events,
        expected
            .iter()
            .map(|e| format!("{e}\n"))
            .collect::<String>(),
    )
    .unwrap();

    let committed = load(&repo_file(VECTOR_FILE_PIPELINE));
    let mut source = committed["sources"]["claude_audit_file"]
        .as_hash()
        .unwrap()
        .clone();
    source.insert(
        s("include"),
        Yaml::Array(vec![s(&events.display().to_string())]),
    );
    let data_dir = sb.path("vector-data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let output = sb.path("vector.out");
    let config = hash(&[
        ("data_dir", s(&data_dir.display().to_string())),
        ("log_schema", committed["log_schema"].clone()),
        (
            "sources",
            hash(&[("claude_audit_file", Yaml::Hash(source))]),
        ),
        (
            "transforms",
            hash(&[(
                "claude_audit_parsed",
                committed["transforms"]["claude_audit_parsed"].clone(),
            )]),
        ),
        (
            "sinks",
            hash(&[(
                "out",
                hash(&[
                    ("type", s("file")),
                    ("inputs", Yaml::Array(vec![s("claude_audit_parsed")])),
                    ("path", s(&output.display().to_string())),
                    (
                        "encoding",
                        hash(&[
                            ("codec", s("json")),
                            ("except_fields", Yaml::Array(vec![s("@timestamp")])),
                        ]),
                    ),
                ]),
            )]),
        ),
    ]);
    let config_path = sb.write("vector.yaml", yaml_text(&config));
    let mut child = Command::new(&bin)
        .arg("--config")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vector");
    // Vector tails forever: wait until every event is out (or time out), then stop it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let lines = || {
        std::fs::read(&output)
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0)
    };
    while lines() < expected.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let _ = child.kill();
    let _ = child.wait();
    let got = read_ndjson(&std::fs::read(&output).unwrap_or_default());
    assert_same_events("vector", &got, &expected);
}
