//! The Vector side of the delivery tests: an `exec` source running `claude-audit run` over the
//! fixture, then the committed transforms and sinks of `siem-sinks.yaml`. Settings and
//! credentials go through the committed secret backends (the `file` and `directory` backends
//! of `backends/example.yaml`, pointed at files of the test), so the secret wiring is exercised
//! too. Changed for loopback: the endpoints the settings cannot hold (Datadog, AWS, the webhook
//! URI), local paths, short ack/retry intervals and a 1 s S3 batch.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use yaml_rust2::Yaml;
use yaml_rust2::yaml::Hash;

use super::routes::{PROFILES, Route};
use super::{Expected, Policies, Target, credential, moto};
use crate::pipelines::*;
use crate::util::{BIN, Sandbox, read_ndjson, repo_file};

/// One Vector run's inputs and expectations.
pub struct Setup {
    bin: PathBuf,
    sb: Sandbox,
    policies: Policies,
    input: PathBuf,
    /// `claude-audit run` over the same input under the same policy, per profile.
    pub expected: Expected,
}

impl Setup {
    /// `None` (SKIPPED) without Vector.
    pub fn new() -> Option<Self> {
        let bin = vector()?;
        let sb = Sandbox::new();
        let (expected, policies) = super::expected_per_profile(&sb);
        let input = super::input_file(&sb);
        Some(Self {
            bin,
            sb,
            policies,
            input,
            expected,
        })
    }

    fn data_dir(&self) -> PathBuf {
        self.sb.path("vector-data")
    }

    /// The command line and the log file of a run delivering to `targets`.
    pub fn command(&self, targets: &[(&Route, Target)], _outage: bool) -> (Command, PathBuf) {
        std::fs::create_dir_all(self.data_dir()).unwrap();
        self.write_backends(targets);
        let config = self
            .sb
            .write("vector.yaml", yaml_text(&self.config(targets)));
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--config").arg(config);
        cmd.envs(moto::AWS_ENV.iter().copied());
        for (_, target) in targets {
            // Vector's Azure identity library takes its authority host from the environment
            // and insists on https; the token request then trusts the proxy's certificate.
            if let Target::HttpTls { tls, ca_file, .. } = target {
                cmd.env("AZURE_AUTHORITY_HOST", format!("https://{tls}"));
                cmd.env("SSL_CERT_FILE", ca_file);
            }
        }
        (cmd, self.sb.path("vector.log"))
    }

    /// settings.json and the secrets folder: the committed examples, with loopback endpoints
    /// and the receivers' credentials.
    fn write_backends(&self, targets: &[(&Route, Target)]) {
        let example = repo_file("pipelines/vector/example");
        let mut settings: serde_json::Map<String, Value> =
            serde_json::from_slice(&std::fs::read(example.join("settings.json")).unwrap()).unwrap();
        for (route, target) in targets {
            match (target, settings_key(route.key)) {
                (Target::Http(addr), Some(key)) => {
                    settings.insert(key.into(), Value::String(format!("http://{addr}")));
                }
                (Target::HttpTls { tls, .. }, Some(key)) => {
                    settings.insert(key.into(), Value::String(format!("https://{tls}")));
                }
                _ => {}
            }
        }
        settings.insert("evidence_bucket".into(), moto::BUCKET.into());
        settings.insert("aws_region".into(), "us-east-1".into());
        std::fs::write(
            self.sb.path("settings.json"),
            Value::Object(settings).to_string(),
        )
        .unwrap();
        let secrets = self.sb.path("secrets");
        std::fs::create_dir_all(&secrets).unwrap();
        for entry in std::fs::read_dir(example.join("secrets")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), secrets.join(entry.file_name())).unwrap();
        }
        for (key, route) in [
            ("splunk_hec_token", "splunk"),
            ("es_api_key", "elasticsearch"),
            ("opensearch_password", "opensearch"),
            ("datadog_api_key", "datadog"),
            ("webhook_token", "webhook"),
        ] {
            std::fs::write(secrets.join(key), format!("{}\n", credential(route))).unwrap();
        }
        let azure = format!("{}\n", super::receivers::AZURE_CLIENT_SECRET);
        std::fs::write(secrets.join("azure_client_secret"), azure).unwrap();
    }

    fn config(&self, targets: &[(&Route, Target)]) -> Yaml {
        let committed = load(&repo_file(VECTOR_FILE_PIPELINE));
        let example = load(&repo_file(VECTOR_EXAMPLE_BACKENDS));
        let mut backends = example["secret"].as_hash().unwrap().clone();
        let path = |b: &str| self.sb.path(b).display().to_string();
        set(
            &mut backends,
            &[VECTOR_SETTINGS_BACKEND, "path"],
            s(&path("settings.json")),
        );
        set(
            &mut backends,
            &[VECTOR_SECRETS_BACKEND, "path"],
            s(&path("secrets")),
        );
        let mut sinks = Hash::new();
        sinks.insert(
            s("claude_audit_dead_letter"),
            self.dead_letter_sink(&committed),
        );
        for (route, target) in targets {
            sinks.insert(s(route.vector_sink), self.sink(&committed, route, target));
        }
        let mut transforms = committed["transforms"].as_hash().unwrap().clone();
        let uses_bulk = targets
            .iter()
            .any(|(r, _)| r.vector_sink.contains("search"));
        if !uses_bulk {
            transforms.remove(&s("claude_audit_for_bulk"));
        }
        if !targets.iter().any(|(r, _)| r.key == "cloudwatch") {
            transforms.remove(&s("claude_audit_for_cloudwatch"));
        }
        hash(&[
            ("data_dir", s(&self.data_dir().display().to_string())),
            ("log_schema", committed["log_schema"].clone()),
            ("secret", Yaml::Hash(backends)),
            ("sources", self.exec_sources()),
            ("transforms", Yaml::Hash(transforms)),
            ("sinks", Yaml::Hash(sinks)),
        ])
    }

    /// The committed file sources (one per profile), each replaced by `claude-audit run` in
    /// that profile.
    fn exec_sources(&self) -> Yaml {
        let mut sources = Hash::new();
        for profile in PROFILES {
            let name = match *profile {
                "canonical" => "claude_audit_file".to_string(),
                p => format!("claude_audit_file_{p}"),
            };
            sources.insert(s(&name), self.exec_source(profile));
        }
        Yaml::Hash(sources)
    }

    /// `claude-audit run` over the input, its stdout read line by line (the same `.message`
    /// lines the committed file source produces for the committed remap).
    fn exec_source(&self, profile: &str) -> Yaml {
        // `run` ends at the end of its input, and Vector stops once all its sources have ended;
        // the shell then keeps the source open, as the long-running `pull` does in production.
        let command = [
            "/bin/sh",
            "-c",
            "\"$0\" \"$@\"; exec sleep 3600",
            BIN,
            "run",
            "--no-progress",
            "--config",
            &self.policies[profile].1.display().to_string(),
            "--dead-letter",
            &self
                .sb
                .path(&format!("run-dead-{profile}.ndjson"))
                .display()
                .to_string(),
            &self.input.display().to_string(),
        ];
        hash(&[
            ("type", s("exec")),
            ("mode", s("streaming")),
            (
                "command",
                Yaml::Array(command.iter().map(|c| s(c)).collect()),
            ),
            (
                "streaming",
                hash(&[("respawn_on_exit", Yaml::Boolean(false))]),
            ),
            ("include_stderr", Yaml::Boolean(false)),
            ("maximum_buffer_size_bytes", Yaml::Integer(1_048_576)),
        ])
    }

    fn dead_letter_sink(&self, committed: &Yaml) -> Yaml {
        let mut sink = committed["sinks"]["claude_audit_dead_letter"]
            .as_hash()
            .unwrap()
            .clone();
        let path = self.sb.path("vector-dead.ndjson");
        sink.insert(s("path"), s(&path.display().to_string()));
        Yaml::Hash(sink)
    }

    /// The committed sink of a route, pointed at its loopback target.
    fn sink(&self, committed: &Yaml, route: &Route, target: &Target) -> Yaml {
        let mut sink = committed["sinks"][route.vector_sink]
            .as_hash()
            .unwrap_or_else(|| panic!("no sink {}", route.vector_sink))
            .clone();
        match (target, route.key) {
            (Target::Http(addr), "datadog") => {
                sink.insert(s("endpoint"), s(&format!("http://{addr}")));
            }
            (Target::Http(addr), "webhook") => {
                sink.insert(s("uri"), s(&format!("http://{addr}/hooks/claude-audit")));
            }
            (Target::Http(addr), "secops") => {
                // The sink's endpoint, and the token endpoint in the service-account file.
                // `endpoint` replaces `region` (the sink refuses both).
                sink.remove(&s("region"));
                sink.insert(s("endpoint"), s(&format!("http://{addr}")));
                let account = self.sb.path("secops-service-account.json");
                moto::service_account(&account, &format!("http://{addr}/token"));
                sink.insert(s("credentials_path"), s(&account.display().to_string()));
            }
            (Target::Http(_), _) => {} // the endpoint is in settings.json
            (Target::HttpTls { ca_file, .. }, _) => {
                set(
                    &mut sink,
                    &["tls", "ca_file"],
                    s(&ca_file.display().to_string()),
                );
            }
            (Target::Aws { host, ca_file }, key) => {
                sink.insert(s("endpoint"), s(&format!("https://{host}")));
                set(
                    &mut sink,
                    &["tls", "ca_file"],
                    s(&ca_file.display().to_string()),
                );
                if key == "s3" {
                    set(&mut sink, &["batch", "timeout_secs"], Yaml::Integer(1));
                }
            }
        }
        if route.key == "splunk" {
            set(
                &mut sink,
                &["acknowledgements", "query_interval"],
                Yaml::Integer(1),
            );
        }
        set(
            &mut sink,
            &["request", "retry_initial_backoff_secs"],
            Yaml::Integer(1),
        );
        set(
            &mut sink,
            &["request", "retry_max_duration_secs"],
            Yaml::Integer(2),
        );
        Yaml::Hash(sink)
    }

    /// True when a sink's disk buffer holds data.
    pub fn buffered(&self) -> bool {
        super::fluent_bit::has_files_with(&self.data_dir().join("buffer"), None)
    }

    /// The invalid record went to each `claude-audit run`'s dead-letter file; nothing to
    /// Vector's.
    pub fn assert_one_dead_letter(&self) {
        for profile in PROFILES {
            let file = self.sb.path(&format!("run-dead-{profile}.ndjson"));
            let dead = read_ndjson(&std::fs::read(file).unwrap_or_default());
            assert_eq!(dead.len(), 1, "{profile}: one dead letter: {dead:?}");
        }
        let vector_dead = std::fs::read(self.sb.path("vector-dead.ndjson")).unwrap_or_default();
        assert!(
            vector_dead.is_empty(),
            "Vector dead letters: {}",
            String::from_utf8_lossy(&vector_dead)
        );
    }
}

/// The settings.json key holding a route's endpoint.
fn settings_key(route: &str) -> Option<&'static str> {
    match route {
        "splunk" => Some("splunk_hec_endpoint"),
        "elasticsearch" => Some("es_endpoint"),
        "opensearch" => Some("opensearch_endpoint"),
        "sentinel" => Some("sentinel_dce_url"),
        _ => None,
    }
}

/// Set `path` (creating maps on the way) in a YAML map.
pub(crate) fn set(map: &mut Hash, path: &[&str], value: Yaml) {
    let (last, parents) = path.split_last().unwrap();
    let mut here = map;
    for key in parents {
        let entry = here
            .entry(s(key))
            .or_insert_with(|| Yaml::Hash(Hash::new()));
        here = match entry {
            Yaml::Hash(h) => h,
            other => panic!("{key} is not a map: {other:?}"),
        };
    }
    here.insert(s(last), value);
}
