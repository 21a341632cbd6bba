//! End-to-end tests: they run the real `claude-audit` binary (built by cargo
//! with its embedded plugin) on real inputs, and check stdout, stderr, exit
//! codes and the files it writes.
//!
//! One test binary (declared in host/Cargo.toml) links faster than many.
//! Shared helpers live in `util.rs`; each file covers one concern.

mod delivery;
mod detections;
mod detections_fluentbit;
mod detections_geoip;
mod detections_profiles;
mod detections_prompts;
mod detections_serve;
mod evidence;
mod evidence_consistency;
mod evidence_readme;
mod evidence_restore;
mod evidence_runs;
mod evidence_serve;
mod evidence_tsa;
mod fake_api;
mod fake_content;
mod fluentbit_abi;
mod golden;
mod malformed;
mod memory;
mod pipelines;
mod profiles;
mod pull;
mod pull_content;
mod redaction;
mod redaction_planted;
mod run;
mod sandbox;
mod schema;
mod serve;
mod startup;
mod telemetry;
mod telemetry_vector;
mod util;
mod workers;
