//! The record loop of `run`, `pull` and `serve`: read lines, batch them,
//! send each batch through the plugin, write events and dead letters, and
//! count everything.
//!
//! Accounting invariant, checked at the end of every run:
//! `read = emitted + dead_lettered + filtered`.
//!
//! The loop is split by concern: `batch` fills batches straight from the
//! reader's buffer, `isolate` runs one batch through one plugin instance
//! (isolating the records that make it fail, see there), and `pipeline`
//! runs the instances on worker threads so that reading and writing overlap
//! the plugin calls. This module writes the results, in input order.

use std::io::{BufRead, Write};

use anyhow::{Context, Result, ensure};

use crate::dead_letter::{DeadLetterRecord, DeadLetterWriter, Rejection};
use crate::input::LineReader;
use crate::sandbox::{PluginInstance, PluginSetup, Sandbox};
use crate::vault::VaultWriter;

mod batch;
mod detect_stage;
mod isolate;
mod pipeline;

use batch::{Batch, Fill};
use detect_stage::DetectStage;
use pipeline::{Done, Pipeline};

/// When a batch is sent to the plugin.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Most records per batch.
    pub max_records: usize,
    /// A batch is sent once it holds at least this many bytes.
    pub max_bytes: usize,
    /// Longest accepted line; longer ones are dead-lettered as `too_long`.
    pub max_record_bytes: usize,
}

/// What happened to the input, in records.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Lines read.
    pub read: u64,
    /// Events written.
    pub emitted: u64,
    /// Records written to the dead-letter file.
    pub dead_lettered: u64,
    /// Valid records dropped by the configured type filter.
    pub filtered: u64,
    /// Events whose activity type the plugin did not know.
    pub unmapped_event_types: u64,
    /// Events whose actor variant the plugin did not know.
    pub unmapped_actor_types: u64,
    /// Events with undocumented fields.
    pub unmapped_fields: u64,
    /// Times the plugin instance was replaced after a failure.
    pub plugin_restarts: u64,
    /// Alerts written (not input records: outside `read = emitted + ...`).
    pub alerts: u64,
    /// Alerts dropped by a configured suppression.
    pub alerts_suppressed: u64,
}

/// Where a run writes: events, dead letters and, optionally, the vault.
pub struct Sinks<'s> {
    /// Canonical events, NDJSON.
    pub output: Box<dyn Write + 's>,
    /// Rejected records.
    pub dead_letters: DeadLetterWriter,
    /// Pseudonym mappings, when a vault is configured.
    pub vault: Option<VaultWriter>,
    /// A copy of the alerts (`--alerts FILE`); they also go to `output`.
    pub alerts: Option<Box<dyn Write + 's>>,
}

impl Summary {
    /// Add the plugin's counts of one batch (everything but `read` and
    /// `dead_lettered`, which the runner counts itself).
    fn add_plugin_counts(&mut self, c: &Summary) {
        self.emitted += c.emitted;
        self.filtered += c.filtered;
        self.unmapped_event_types += c.unmapped_event_types;
        self.unmapped_actor_types += c.unmapped_actor_types;
        self.unmapped_fields += c.unmapped_fields;
        self.plugin_restarts += c.plugin_restarts;
        self.alerts += c.alerts;
        self.alerts_suppressed += c.alerts_suppressed;
    }
}

/// Runs sources through a plugin into its sinks.
pub struct Runner<'s> {
    sandbox: &'s Sandbox,
    setup: PluginSetup,
    /// One plugin instance per worker thread.
    instances: Vec<PluginInstance>,
    /// The instance that runs detections, when they run on their own (see
    /// [`Self::with_detection_stage`]); the workers then only normalize.
    detect: Option<DetectStage>,
    workers: usize,
    limits: BatchLimits,
    sinks: Sinks<'s>,
    summary: Summary,
    /// The detection state last imported or exported: a plugin restarted
    /// after a failure gets it back, so a trap loses only what the engine
    /// learned since then, not all of it.
    last_state: Option<Vec<u8>>,
}

impl<'s> Runner<'s> {
    /// A runner around an instance configured with `setup` (made by the
    /// caller before any output file is created, so that a refused
    /// configuration leaves nothing behind).
    pub fn new(
        sandbox: &'s Sandbox,
        setup: PluginSetup,
        instance: PluginInstance,
        limits: BatchLimits,
        sinks: Sinks<'s>,
    ) -> Self {
        Self {
            sandbox,
            setup,
            instances: vec![instance],
            detect: None,
            workers: 1,
            limits,
            sinks,
            summary: Summary::default(),
            last_state: None,
        }
    }

    /// With detections enabled in the setup and a second core to run them
    /// on, run them on a plugin instance of their own, on the thread that
    /// reads and writes, while the worker instances only normalize (see
    /// `detect_stage`): they then overlap normalization. On one core that
    /// only adds work (the handover costs CPU time), so the one instance
    /// keeps doing all of it, unless [`Self::set_workers`] asks for more
    /// (detections then need their own instance). The state given to
    /// [`Self::started_with_state`] moves to that instance, so call this
    /// after it; nothing changes with detections off.
    pub fn with_detection_stage(mut self) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores >= 2 {
            self.split_detection()?;
        }
        Ok(self)
    }

    /// Move detections to an instance of their own (when enabled and not
    /// done yet); the workers restart with the normalizing setup.
    fn split_detection(&mut self) -> Result<()> {
        if self.detect.is_some() {
            return Ok(());
        }
        let Some((workers, stage)) = detect_stage::split(&self.setup)? else {
            return Ok(());
        };
        let whole = std::mem::replace(&mut self.setup, workers);
        let detect = DetectStage::start(self.sandbox, stage, whole, self.last_state.as_deref())?;
        let normalizer = self
            .sandbox
            .instantiate(&self.setup)
            .context("starting the plugin instance that normalizes")?;
        self.instances = vec![normalizer];
        self.detect = Some(detect);
        Ok(())
    }

    /// Run `workers` plugin instances in parallel (at least one). The
    /// output stays in input order; the extra instances are made here.
    /// Detection state lives in one instance: with detections enabled and
    /// several workers, they run on an instance of their own (see
    /// [`Self::with_detection_stage`]).
    pub fn set_workers(&mut self, workers: usize) -> Result<()> {
        self.workers = workers.max(1);
        if self.workers > 1 {
            // Detection state must stay in one instance.
            self.split_detection()?;
        }
        while self.instances.len() < self.workers {
            let instance = self
                .sandbox
                .instantiate(&self.setup)
                .context("starting another plugin instance (--workers)")?;
            self.instances.push(instance);
        }
        self.instances.truncate(self.workers);
        Ok(())
    }

    /// Process one source to its end. `on_batch` is called with the bytes
    /// read so far after each batch (for progress display).
    pub fn run_source(
        &mut self,
        name: &str,
        reader: impl BufRead,
        on_batch: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let mut lines = LineReader::new(reader, self.limits.max_record_bytes);
        let sandbox: &Sandbox = self.sandbox;
        let Self {
            setup,
            instances,
            detect,
            limits,
            sinks,
            summary,
            last_state,
            ..
        } = self;
        // With a detection stage, the state is its own: the workers (which
        // do not detect) restart without it, and the stage replaces it
        // when it recovers from a failure.
        let mut stage_state = if detect.is_some() {
            last_state.take()
        } else {
            None
        };
        let mut write = |done: &mut Done| {
            if let (Some(stage), Done::Batch(batch, processed)) = (detect.as_mut(), &mut *done) {
                stage.apply(sandbox, batch, processed, &mut stage_state)?;
            }
            write_done(sinks, summary, limits, name, done)
        };
        let result = std::thread::scope(|scope| {
            let mut pipeline = Pipeline::start(
                scope,
                sandbox,
                setup,
                last_state.as_deref(),
                instances.as_mut_slice(),
            )?;
            let mut line_no = 0;
            loop {
                let mut batch = pipeline.spare_batch();
                let fill = batch
                    .fill(&mut lines, limits, &mut line_no)
                    .with_context(|| format!("reading {name}"))?;
                if !batch.is_empty() {
                    pipeline.submit(batch, &mut write)?;
                }
                match fill {
                    Fill::Full => {}
                    Fill::End => break,
                    Fill::TooLong {
                        line,
                        prefix,
                        length,
                    } => {
                        let done = Done::TooLong {
                            line,
                            prefix,
                            length,
                        };
                        pipeline.submit_done(done, &mut write)?;
                    }
                }
                on_batch(lines.bytes_read);
            }
            pipeline.finish(&mut write)?;
            on_batch(lines.bytes_read);
            Ok(())
        });
        if detect.is_some() {
            *last_state = stage_state;
        }
        result
    }

    /// Make everything written so far durable (output, dead letters,
    /// vault), without ending the run: `pull` commits after every page.
    pub fn commit(&mut self) -> Result<()> {
        if let Some(vault) = &mut self.sinks.vault {
            vault.sync()?;
        }
        self.sinks.dead_letters.sync()?;
        if let Some(alerts) = &mut self.sinks.alerts {
            alerts.flush().context("flushing the alerts file")?;
        }
        self.sinks.output.flush().context("flushing the output")
    }

    /// Drop the dead letters not yet committed (held mode, see
    /// [`DeadLetterWriter::hold`]); they stay counted in the summary.
    pub fn discard_dead_letters(&mut self) {
        self.sinks.dead_letters.discard();
    }

    /// Bytes of dead letters held in memory until the next commit.
    pub fn held_dead_letter_bytes(&self) -> usize {
        self.sinks.dead_letters.held_bytes()
    }

    /// The plugin's detection state (empty when detections are off): the
    /// detection instance's (see [`Self::with_detection_stage`]), or, with
    /// one worker and no such instance, that worker's.
    pub fn export_state(&mut self) -> Result<Vec<u8>> {
        let exported = match &mut self.detect {
            Some(stage) => stage.export_state(),
            None => {
                ensure!(
                    self.instances.len() == 1,
                    "detection state is split over {} plugin instances (--workers)",
                    self.instances.len()
                );
                self.instances[0].export_state()
            }
        };
        let state = exported.map_err(|f| anyhow::anyhow!("{f}")).context(
            "exporting the detection state (it grows with the users, keys and addresses \
                 the rules track: if the plugin ran out of memory, raise --memory-limit-mib \
                 (default 256 with detections; 10,000 users need 128 to 256)",
        )?;
        self.last_state = Some(state.clone());
        Ok(state)
    }

    /// Record the detection state the instance was started with (already
    /// imported by the caller), for restarts after a failure.
    pub fn started_with_state(mut self, state: Option<Vec<u8>>) -> Self {
        self.last_state = state;
        self
    }

    /// The counts so far.
    pub fn summary(&self) -> Summary {
        self.summary
    }

    /// Flush everything and check the accounting.
    pub fn finish(self) -> Result<Summary> {
        let Sinks {
            mut output,
            dead_letters,
            vault,
            alerts,
        } = self.sinks;
        output.flush().context("flushing the output")?;
        if let Some(mut alerts) = alerts {
            alerts.flush().context("flushing the alerts file")?;
        }
        drop(output);
        dead_letters.finish()?;
        if let Some(vault) = vault {
            vault.finish()?;
        }
        let s = self.summary;
        ensure!(
            s.read == s.emitted + s.dead_lettered + s.filtered,
            "internal accounting error: read {} != emitted {} + dead-lettered {} + filtered {}",
            s.read,
            s.emitted,
            s.dead_lettered,
            s.filtered
        );
        Ok(s)
    }
}

/// Write one finished batch (or over-long line) to the sinks and count it.
fn write_done(
    sinks: &mut Sinks<'_>,
    summary: &mut Summary,
    limits: &BatchLimits,
    source: &str,
    done: &Done,
) -> Result<()> {
    match done {
        Done::Batch(batch, processed) => write_batch(sinks, summary, source, batch, processed),
        Done::TooLong {
            line,
            prefix,
            length,
        } => {
            summary.read += 1;
            let reason = format!(
                "the line is {length} bytes long, over the limit of {} bytes \
                 (input.max_record_bytes)",
                limits.max_record_bytes
            );
            let rejection = Rejection {
                source,
                line: *line,
                kind: "too_long",
                field: "",
                reason: &reason,
            };
            sinks
                .dead_letters
                .write(&DeadLetterRecord::new(rejection, prefix, *length))?;
            summary.dead_lettered += 1;
            Ok(())
        }
    }
}

/// Write a processed batch: vault entries, events, dead letters; count them.
fn write_batch(
    sinks: &mut Sinks<'_>,
    summary: &mut Summary,
    source: &str,
    batch: &Batch,
    processed: &isolate::Processed,
) -> Result<()> {
    // The vault first: an event must never carry a pseudonym whose
    // mapping was not kept.
    if let Some(vault) = &mut sinks.vault {
        for entry in &processed.vault {
            vault.add(entry)?;
        }
    }
    sinks
        .output
        .write_all(&processed.events)
        .context("writing the output")?;
    // Alerts follow the events that raised them, in the same stream.
    sinks
        .output
        .write_all(&processed.alerts)
        .context("writing alerts to the output")?;
    if let Some(alerts) = &mut sinks.alerts {
        alerts
            .write_all(&processed.alerts)
            .context("writing the alerts file")?;
    }
    for dead in &processed.dead {
        let (line, bytes) = batch.line(dead.index);
        let rejection = Rejection {
            source,
            line,
            kind: dead.kind,
            field: &dead.field,
            reason: &dead.reason,
        };
        sinks
            .dead_letters
            .write(&DeadLetterRecord::new(rejection, bytes, bytes.len() as u64))?;
    }
    summary.read += batch.len() as u64;
    summary.dead_lettered += processed.dead.len() as u64;
    summary.add_plugin_counts(&processed.counts);
    Ok(())
}
