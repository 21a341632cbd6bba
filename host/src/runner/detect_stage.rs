//! Detections on a plugin instance of their own, so that they overlap
//! normalization instead of adding to it.
//!
//! With detections enabled, the plugin work is split in two stages (the
//! plugin's `stage` setting; README, "Detections"):
//!
//! 1. the worker instances (one, or `--workers N`) normalize, redact and
//!    enrich with detections off and the canonical profile;
//! 2. one instance in the `detect` stage takes their events, in input
//!    order, runs the rule pack over them and writes them in the
//!    configured profile, followed by the alerts they raised.
//!
//! Stage 2 runs on the thread that reads and writes, while the workers
//! already normalize the next batches: the engine's time is hidden behind
//! normalization's as long as it is shorter (it is about a third of it) and
//! a second core is free. The engine's state lives in the one stage-2
//! instance whatever the number of workers, so `--workers` and detections
//! go together. The output is the same, byte for byte, as one instance
//! doing all of it (tested below on the simulated feed, alerts included).
//!
//! When stage 2 fails on a batch (a trap, the memory limit, an answer that
//! breaks the batch contract), the batch's input lines are run again the
//! old way, through one instance doing all of the work, from the last
//! saved detection state and with the runner's poison isolation: the
//! records that make it fail are dead-lettered, the others emitted. The
//! state that instance ends with goes on in a fresh stage-2 instance.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::batch::Batch;
use super::isolate::{Processed, Worker, check_contract};
use crate::sandbox::{PluginInstance, PluginSetup, Sandbox};

/// The stage-2 instance and what it takes to recover from its failures.
pub struct DetectStage {
    /// The instance in the `detect` stage; it holds the detection state.
    instance: PluginInstance,
    /// How stage-2 instances are configured.
    setup: PluginSetup,
    /// How an instance doing all of the work is configured (the caller's
    /// setup), for the batches stage 2 fails on.
    whole: PluginSetup,
}

/// The setups of a split `whole`: (workers, stage 2). `None` when
/// detections are off (nothing to split).
pub fn split(whole: &PluginSetup) -> Result<Option<(PluginSetup, PluginSetup)>> {
    let settings: Value =
        serde_json::from_str(&whole.settings_json).context("reading the plugin settings")?;
    let enabled = settings
        .pointer("/detections/enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !enabled {
        return Ok(None);
    }
    let mut workers = settings.clone();
    workers["detections"] = json!({ "enabled": false });
    workers["profile"] = json!("canonical");
    let mut stage = settings;
    stage["stage"] = json!({ "detect": { "enriched": !whole.geoip_databases.is_empty() } });
    let workers = PluginSetup {
        settings_json: workers.to_string(),
        ..whole.clone()
    };
    // Enrichment happens in stage 1: stage 2 needs no copy of the databases.
    let stage = PluginSetup {
        settings_json: stage.to_string(),
        geoip_databases: Vec::new(),
        ..whole.clone()
    };
    Ok(Some((workers, stage)))
}

impl DetectStage {
    /// A stage-2 instance configured with `setup`, holding `state` when
    /// given; `whole` is the setup for the batches it fails on.
    pub fn start(
        sandbox: &Sandbox,
        setup: PluginSetup,
        whole: PluginSetup,
        state: Option<&[u8]>,
    ) -> Result<Self> {
        let mut instance = sandbox
            .instantiate(&setup)
            .context("starting the detection instance")?;
        if let Some(state) = state {
            instance
                .import_state(state)
                .context("restoring the detection state")?;
        }
        Ok(Self {
            instance,
            setup,
            whole,
        })
    }

    /// The detection state (versioned JSON, see the plugin's `export-state`).
    pub fn export_state(&mut self) -> Result<Vec<u8>, crate::sandbox::PluginFailure> {
        self.instance.export_state()
    }

    /// Run stage 2 over what stage 1 made of `batch`: its events become
    /// the profiled events and the alerts they raised. On a failure, the
    /// whole batch is redone by one instance doing all of the work (see the
    /// module's doc), from `state`, the last saved detection state, which
    /// is then replaced by the state that instance ends with.
    pub fn apply(
        &mut self,
        sandbox: &Sandbox,
        batch: &Batch,
        processed: &mut Processed,
        state: &mut Option<Vec<u8>>,
    ) -> Result<()> {
        if processed.events.is_empty() {
            return Ok(());
        }
        // One line per emitted event (the batch contract, checked on the
        // workers' answers).
        let events = processed.counts.emitted as usize;
        if let Ok(Ok(output)) = self.instance.process_batch(&processed.events)
            && check_contract(&output, events).is_ok()
            && output.counters.emitted as usize == events
        {
            processed.events = output.records;
            processed.alerts = output.alerts;
            processed.counts.alerts += u64::from(output.counters.alerts);
            processed.counts.alerts_suppressed += u64::from(output.counters.alerts_suppressed);
            return Ok(());
        }
        *processed = self.redo_whole(sandbox, batch, state)?;
        Ok(())
    }

    /// `batch` through one instance doing all of the work, from `state`;
    /// its end state goes on in a fresh stage-2 instance.
    fn redo_whole(
        &mut self,
        sandbox: &Sandbox,
        batch: &Batch,
        state: &mut Option<Vec<u8>>,
    ) -> Result<Processed> {
        let mut instance = sandbox
            .instantiate(&self.whole)
            .context("starting a plugin instance to redo a batch detection failed on")?;
        if let Some(state) = state.as_deref() {
            instance
                .import_state(state)
                .context("restoring the detection state after a failure")?;
        }
        let mut worker = Worker {
            sandbox,
            setup: &self.whole,
            state: state.as_deref(),
            instance: &mut instance,
        };
        let mut redone = worker.process(batch)?;
        // The stage-2 instance that failed counts as restarted.
        redone.counts.plugin_restarts += 1;
        let end = instance
            .export_state()
            .map_err(|f| anyhow::anyhow!("{f}"))
            .context("exporting the detection state after a redone batch")?;
        *self = Self::start(sandbox, self.setup.clone(), self.whole.clone(), Some(&end))?;
        *state = Some(end);
        Ok(redone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use claude_audit_plugin::{HmacKey, Transform};

    /// A setup as `run` makes it, with `settings`.
    fn setup(settings: &str) -> PluginSetup {
        PluginSetup {
            settings_json: settings.to_owned(),
            hmac_keys: Vec::new(),
            active_key_id: None,
            geoip_databases: Vec::new(),
        }
    }

    #[test]
    fn detections_off_is_not_split() {
        assert!(split(&setup("{}")).unwrap().is_none());
        let off = r#"{"detections":{"enabled":false}}"#;
        assert!(split(&setup(off)).unwrap().is_none());
    }

    #[test]
    fn stage_one_has_detections_off_and_the_canonical_profile() {
        let on = r#"{"profile":"ocsf","detections":{"enabled":true,"signals":false}}"#;
        let (workers, stage) = split(&setup(on)).unwrap().unwrap();
        let workers: Value = serde_json::from_str(&workers.settings_json).unwrap();
        assert_eq!(workers["detections"], json!({ "enabled": false }));
        assert_eq!(workers["profile"], "canonical");
        let stage: Value = serde_json::from_str(&stage.settings_json).unwrap();
        assert_eq!(stage["profile"], "ocsf");
        assert_eq!(stage["detections"]["signals"], false);
        assert_eq!(stage["stage"], json!({ "detect": { "enriched": false } }));
    }

    /// The split gives what one instance doing all of it gives, byte for
    /// byte, events and alerts, in every profile: natively, on a simulated
    /// organization with every attack scenario injected.
    #[test]
    fn split_output_is_the_whole_output() {
        let key = HmacKey::new("k1", vec![7; 32]).unwrap();
        let geoip = crate::simulate::geo::database().unwrap();
        use crate::simulate::{Plan, attacks::SCENARIOS, simulate};
        let feed = simulate(&Plan {
            days: 10,
            warmup_days: 0,
            users: 12,
            seed: 3,
            attacks: SCENARIOS.iter().map(|s| s.name.to_owned()).collect(),
        })
        .activities;
        for profile in ["canonical", "ocsf", "ecs"] {
            let settings = format!(
                r#"{{"profile":"{profile}","detections":{{"enabled":true,"signals":true}}}}"#
            );
            let whole_setup = PluginSetup {
                geoip_databases: vec![geoip.clone()],
                ..setup(&settings)
            };
            let (workers, stage) = split(&whole_setup).unwrap().unwrap();
            let make = |s: &PluginSetup| {
                Transform::with_geoip(
                    &s.settings_json,
                    vec![key.clone()],
                    None,
                    s.geoip_databases.clone(),
                )
                .unwrap()
            };
            let (whole, workers, stage) = (make(&whole_setup), make(&workers), make(&stage));
            let (mut events, mut alerts) = (0, 0);
            for batch in feed.chunks(500) {
                let input = batch.join("\n") + "\n";
                let one = whole.process_batch(input.as_bytes());
                let first = workers.process_batch(input.as_bytes());
                assert!(first.alerts.is_empty());
                let second = stage.process_batch(&first.records);
                assert_eq!(one.records, second.records, "{profile}: events differ");
                assert_eq!(one.alerts, second.alerts, "{profile}: alerts differ");
                assert_eq!(one.counters.alerts, second.counters.alerts);
                events += one.counters.emitted;
                alerts += one.counters.alerts;
            }
            assert!(
                events > 1000 && alerts > 10,
                "{profile}: {events} events, {alerts} alerts"
            );
            // As JSON values: the export's member order may differ.
            let state = |t: &Transform| -> Value {
                serde_json::from_slice(&t.export_state().unwrap()).unwrap()
            };
            assert!(
                state(&whole) == state(&stage),
                "{profile}: the state differs"
            );
        }
    }
}
