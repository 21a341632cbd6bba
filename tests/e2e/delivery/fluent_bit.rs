//! The Fluent Bit side of the delivery tests: the committed `ndjson-tail-wasm.yaml` input and
//! filters, the committed output blocks of `siem-outputs.yaml`, with only what loopback needs
//! changed: hosts through the file's own `${VAR}`s, the port, TLS off, the AWS endpoint, local
//! storage paths, a short S3 upload timeout and a short retry back-off.

use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::Yaml;

use super::routes::{PROFILES, Route};
use super::{Expected, Policies, Target, credential, moto};
use crate::pipelines::*;
use crate::util::{Sandbox, read_ndjson, repo_file};

const SIEM_OUTPUTS: &str = "pipelines/fluent-bit/siem-outputs.yaml";

/// One Fluent Bit run's inputs and expectations.
pub struct Setup {
    bin: PathBuf,
    module: PathBuf,
    sb: Sandbox,
    policies: Policies,
    input: PathBuf,
    /// `claude-audit run` over the same input under the same policy, per profile.
    pub expected: Expected,
    /// How many module chains the last configuration ran (one dead letter each).
    chains_used: std::cell::Cell<usize>,
}

impl Setup {
    /// `None` (SKIPPED) without Fluent Bit or the module.
    pub fn new() -> Option<Self> {
        let bin = fluent_bit()?;
        let module = fluent_bit_module()?;
        let sb = Sandbox::new();
        let (expected, policies) = super::expected_per_profile(&sb);
        let input = super::input_file(&sb);
        Some(Self {
            bin,
            module,
            sb,
            policies,
            input,
            expected,
            chains_used: std::cell::Cell::new(0),
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

    /// One tail input and one committed wasm + grep + rewrite_tag chain per profile (the
    /// canonical chain on the committed tag `claude.events.file`, the others on
    /// `claude.ecs.file` / `claude.ocsf.file`, each module reading its own claude-audit.toml).
    fn chains(&self, committed: &Yaml, profiles: &[&str]) -> (Vec<Yaml>, Vec<Yaml>) {
        let tail = list(committed, "pipeline", "inputs")[0]
            .as_hash()
            .unwrap()
            .clone();
        let (mut inputs, mut filters) = (Vec::new(), Vec::new());
        for profile in profiles {
            let tag = match *profile {
                "canonical" => "claude.events.file".to_string(),
                p => format!("claude.{p}.file"),
            };
            let mut input = tail.clone();
            input.insert(s("tag"), s(&tag));
            input.insert(s("path"), s(&self.input.display().to_string()));
            let db = self.sb.path(&format!("tail-{profile}.db"));
            input.insert(s("db"), s(&db.display().to_string()));
            inputs.push(Yaml::Hash(input));
            let etc = &self.policies[profile].0;
            let Yaml::Array(chain) = fluent_bit_wasm_filters(committed, &self.module, etc) else {
                unreachable!()
            };
            for filter in chain {
                let mut f = filter.as_hash().unwrap().clone();
                f.insert(s("match"), s(&tag));
                if let Some(Yaml::String(name)) = f.get(&s("emitter_name")).cloned() {
                    f.insert(s("emitter_name"), s(&format!("{name}_{profile}")));
                }
                filters.push(Yaml::Hash(f));
            }
        }
        (inputs, filters)
    }

    fn config(&self, targets: &[(&Route, Target)]) -> Yaml {
        let committed = load(&repo_file(FLUENT_BIT_WASM_PIPELINE));
        // Only the chains the routes need: each module instance costs start-up time.
        let profiles: Vec<&str> = PROFILES
            .iter()
            .copied()
            .filter(|p| targets.iter().any(|(r, _)| r.profile == *p))
            .collect();
        self.chains_used.set(profiles.len());
        let (inputs, mut filters) = self.chains(&committed, &profiles);
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
        if targets.iter().any(|(r, _)| r.key == "cloudwatch") {
            // siem-outputs.yaml's ingestion-time copy for CloudWatch, after the module.
            let outputs_file = load(&repo_file(SIEM_OUTPUTS));
            filters.extend(list(&outputs_file, "pipeline", "filters").iter().map(|f| {
                let mut f = f.as_hash().unwrap().clone();
                f.remove(&s("emitter_storage.type"));
                Yaml::Hash(f)
            }));
        }
        let pipeline = hash(&[
            ("inputs", Yaml::Array(inputs)),
            ("filters", Yaml::Array(filters)),
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
            // Sentinel: the token endpoint (`auth_url`, plain HTTP is accepted) and the DCE
            // (always TLS: through the proxy, with its certificate trusted).
            Target::HttpTls { addr, tls, ca_file } => {
                let auth = format!("http://{addr}/test-tenant/oauth2/v2.0/token");
                block.insert(s("auth_url"), s(&auth));
                block.insert(s("dce_url"), s(&format!("https://{tls}")));
                block.insert(s("tls.ca_file"), s(&ca_file.display().to_string()));
            }
            Target::Aws { host, ca_file } => {
                // `cloudwatch_logs` takes a host name (TLS to port 443), `s3` a URL.
                let endpoint = match route.key {
                    "cloudwatch" => host.clone(),
                    _ => format!("https://{host}"),
                };
                block.insert(s("endpoint"), s(&endpoint));
                block.insert(s("tls.ca_file"), s(&ca_file.display().to_string()));
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
                "AZURE_CLIENT_SECRET" => super::receivers::AZURE_CLIENT_SECRET.into(),
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

    /// The invalid record came out as one dead-letter marker per profile chain, on the local
    /// file only.
    pub fn assert_one_dead_letter(&self) {
        let dead = read_ndjson(&std::fs::read(self.sb.path("dead.out")).unwrap_or_default());
        assert_eq!(
            dead.len(),
            PROFILES.len(),
            "one dead letter per chain: {dead:?}"
        );
        for marker in &dead {
            assert!(marker.get(DEAD_LETTER_KEY).is_some(), "{marker:?}");
        }
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
