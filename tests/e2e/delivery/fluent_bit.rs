//! The Fluent Bit side of the delivery tests: the committed `ndjson-tail-wasm.yaml` input and
//! filters, the committed output blocks of `siem-outputs.yaml`, with only what loopback needs
//! changed: hosts through the file's own `${VAR}`s, the port, TLS off, the AWS endpoint, local
//! storage paths, a short S3 upload timeout and a short retry back-off.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use yaml_rust2::Yaml;

use super::routes::Route;
use super::{Target, credential, moto};
use crate::pipelines::*;
use crate::util::{Sandbox, read_ndjson, repo_file};

const SIEM_OUTPUTS: &str = "pipelines/fluent-bit/siem-outputs.yaml";

/// One Fluent Bit run's inputs and expectations.
pub struct Setup {
    bin: PathBuf,
    module: PathBuf,
    sb: Sandbox,
    etc: PathBuf,
    input: PathBuf,
    /// `claude-audit run` over the same input under the same policy.
    pub expected: Vec<Value>,
}

impl Setup {
    /// `None` (SKIPPED) without Fluent Bit or the module.
    pub fn new() -> Option<Self> {
        let bin = fluent_bit()?;
        let module = fluent_bit_module()?;
        let sb = Sandbox::new();
        let (etc, host_config) = module_policy(&sb);
        let expected = reference_events(&sb, Some(host_config.as_path()));
        let input = super::input_file(&sb);
        Some(Self {
            bin,
            module,
            sb,
            etc,
            input,
            expected,
        })
    }

    fn storage(&self) -> PathBuf {
        self.sb.path("fluent-bit-storage")
    }

    /// The command line and the log file of a run delivering to `targets`.
    pub fn command(&self, targets: &[(&Route, Target)], _outage: bool) -> (Command, PathBuf) {
        let config = self
            .sb
            .write("fluent-bit.yaml", yaml_text(&self.config(targets)));
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-c").arg(config).envs(self.env());
        cmd.envs(moto::AWS_ENV.iter().copied());
        (cmd, self.sb.path("fluent-bit.log"))
    }

    fn config(&self, targets: &[(&Route, Target)]) -> Yaml {
        let committed = load(&repo_file(FLUENT_BIT_WASM_PIPELINE));
        let mut tail = list(&committed, "pipeline", "inputs")[0]
            .as_hash()
            .unwrap()
            .clone();
        tail.insert(s("path"), s(&self.input.display().to_string()));
        tail.insert(s("db"), s(&self.sb.path("tail.db").display().to_string()));
        let mut outputs = vec![self.dead_letter_output()];
        outputs.extend(targets.iter().map(|(r, t)| self.output(r, t)));
        let service = hash(&[
            ("flush", s("1")),
            ("grace", s("2")),
            ("log_level", s("info")),
            ("storage.path", s(&self.storage().display().to_string())),
            ("storage.sync", s("normal")),
            ("storage.checksum", s("on")),
            // Retries after 1-2 s, not the default minutes: the test is bounded.
            ("scheduler.base", s("1")),
            ("scheduler.cap", s("2")),
        ]);
        let pipeline = hash(&[
            ("inputs", Yaml::Array(vec![Yaml::Hash(tail)])),
            (
                "filters",
                fluent_bit_wasm_filters(&committed, &self.module, &self.etc),
            ),
            ("outputs", Yaml::Array(outputs)),
        ]);
        hash(&[
            ("service", service),
            ("parsers", committed["parsers"].clone()),
            ("pipeline", pipeline),
        ])
    }

    fn dead_letter_output(&self) -> Yaml {
        hash(&[
            ("name", s("file")),
            ("match", s("claude.deadletter.*")),
            ("path", s(&self.sb.dir.path().display().to_string())),
            ("file", s("dead.out")),
            ("format", s("plain")),
        ])
    }

    /// The committed output block of a route, pointed at its loopback target.
    fn output(&self, route: &Route, target: &Target) -> Yaml {
        let committed = load(&repo_file(SIEM_OUTPUTS));
        let block = list(&committed, "pipeline", "outputs")
            .iter()
            .find(|o| get_str(o, "name").as_deref() == Some(route.fluent_bit_output))
            .unwrap_or_else(|| panic!("no output {}", route.fluent_bit_output));
        let mut block = block.as_hash().unwrap().clone();
        match target {
            Target::Http(addr) => {
                block.insert(s("port"), s(&addr.port().to_string()));
                block.insert(s("tls"), s("off"));
                block.insert(s("tls.verify"), s("off"));
            }
            Target::Aws(endpoint) => {
                block.insert(s("endpoint"), s(endpoint));
                if route.key == "s3" {
                    let store = self.sb.path("s3-store");
                    block.insert(s("store_dir"), s(&store.display().to_string()));
                    block.insert(s("upload_timeout"), s("5s"));
                }
            }
        }
        Yaml::Hash(block)
    }

    /// The variables the committed outputs name, pointed at loopback and the test credentials.
    fn env(&self) -> Vec<(String, String)> {
        let value = |name: &str| -> String {
            match name {
                n if n.ends_with("_HOST") => "127.0.0.1".into(),
                "SPLUNK_HEC_TOKEN" => credential("splunk").into(),
                "ES_API_KEY" => credential("elasticsearch").into(),
                "OPENSEARCH_PASSWORD" => credential("opensearch").into(),
                "DD_API_KEY" => credential("datadog").into(),
                "WEBHOOK_TOKEN" => credential("webhook").into(),
                "EVIDENCE_BUCKET" => moto::BUCKET.into(),
                "AWS_REGION" => "us-east-1".into(),
                _ => "not-used-by-this-test".into(),
            }
        };
        env_references(&repo_file(SIEM_OUTPUTS))
            .into_iter()
            .map(|name| {
                let v = value(&name);
                (name, v)
            })
            .collect()
    }

    /// True when Fluent Bit holds chunks in its filesystem storage.
    pub fn buffered(&self) -> bool {
        has_files_with(&self.storage(), Some("flb"))
    }

    /// The invalid record came out as one dead-letter marker, on the local file only.
    pub fn assert_one_dead_letter(&self) {
        let dead = read_ndjson(&std::fs::read(self.sb.path("dead.out")).unwrap_or_default());
        assert_eq!(dead.len(), 1, "one dead letter: {dead:?}");
        assert!(dead[0].get(DEAD_LETTER_KEY).is_some(), "{:?}", dead[0]);
    }
}

/// True when a file with content (and this extension, if given) lies anywhere under `dir`.
pub fn has_files_with(dir: &Path, ext: Option<&str>) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            has_files_with(&p, ext)
        } else {
            let ext_ok = ext.is_none_or(|ext| p.extension().is_some_and(|x| x == ext));
            ext_ok && e.metadata().is_ok_and(|m| m.len() > 0)
        }
    })
}
