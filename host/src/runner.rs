//! The record loop of `run`: read lines, batch them, send each batch through
//! the plugin, write events and dead letters, and count everything.
//!
//! Accounting invariant, checked at the end of every run:
//! `read = emitted + dead_lettered + filtered`.
//!
//! When the plugin fails on a batch (trap, timeout, memory limit, or an
//! answer that breaks the batch contract) nothing is lost: the instance is
//! replaced and the batch is split in halves, recursively, until the records
//! that make it fail are isolated and dead-lettered one by one. Every other
//! record of the batch is still emitted, in order.

use std::io::{BufRead, Write};
use std::ops::Range;

use anyhow::{Context, Result, bail, ensure};

use crate::dead_letter::{DeadLetterRecord, DeadLetterWriter, Rejection};
use crate::input::{Line, LineReader};
use crate::sandbox::{
    BatchError, BatchOutput, PluginFailure, PluginInstance, PluginSetup, Sandbox,
};
use crate::vault::{self, VaultWriter};

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

/// Lines waiting to be sent: one NDJSON blob plus where each line sits.
#[derive(Default)]
struct Batch {
    blob: Vec<u8>,
    /// `(line number, byte range in blob without the newline)`.
    lines: Vec<(u64, Range<usize>)>,
}

impl Batch {
    fn push(&mut self, line_no: u64, bytes: &[u8]) {
        let start = self.blob.len();
        self.blob.extend_from_slice(bytes);
        self.lines.push((line_no, start..self.blob.len()));
        self.blob.push(b'\n');
    }

    /// The NDJSON bytes of `range` of lines (contiguous in the blob).
    fn slice(&self, range: &Range<usize>) -> &[u8] {
        let start = self.lines[range.start].1.start;
        let end = self.lines[range.end - 1].1.end + 1;
        &self.blob[start..end]
    }

    fn clear(&mut self) {
        self.blob.clear();
        self.lines.clear();
    }
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

/// Runs sources through a plugin into its sinks.
pub struct Runner<'s> {
    sandbox: &'s Sandbox,
    setup: PluginSetup,
    instance: PluginInstance,
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
            instance,
            limits,
            sinks,
            summary: Summary::default(),
            last_state: None,
        }
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
        let mut batch = Batch::default();
        let mut line_no = 0;
        while let Some(line) = lines
            .next_line()
            .with_context(|| format!("reading {name}"))?
        {
            line_no += 1;
            self.summary.read += 1;
            match line {
                Line::Complete(bytes) => batch.push(line_no, &bytes),
                Line::TooLong { prefix, length } => {
                    // Send what precedes it first, so that dead letters and
                    // events keep input order. Over-long lines are rare.
                    if !batch.lines.is_empty() {
                        self.send(name, &batch, 0..batch.lines.len())?;
                        batch.clear();
                    }
                    self.too_long(name, line_no, &prefix, length)?;
                }
            }
            if batch.lines.len() >= self.limits.max_records
                || batch.blob.len() >= self.limits.max_bytes
            {
                self.send(name, &batch, 0..batch.lines.len())?;
                batch.clear();
                on_batch(lines.bytes_read);
            }
        }
        if !batch.lines.is_empty() {
            self.send(name, &batch, 0..batch.lines.len())?;
        }
        on_batch(lines.bytes_read);
        Ok(())
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

    /// The plugin's detection state (empty when detections are off).
    pub fn export_state(&mut self) -> Result<Vec<u8>> {
        let state = self
            .instance
            .export_state()
            .map_err(|f| anyhow::anyhow!("{f}"))
            .context("exporting the detection state")?;
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

    fn too_long(&mut self, source: &str, line: u64, prefix: &[u8], length: u64) -> Result<()> {
        let reason = format!(
            "the line is {length} bytes long, over the limit of {} bytes (input.max_record_bytes)",
            self.limits.max_record_bytes
        );
        let rejection = Rejection {
            source,
            line,
            kind: "too_long",
            field: "",
            reason: &reason,
        };
        self.reject(DeadLetterRecord::new(rejection, prefix, length))
    }

    /// Write one dead letter and count it.
    fn reject(&mut self, record: DeadLetterRecord<'_>) -> Result<()> {
        self.sinks.dead_letters.write(&record)?;
        self.summary.dead_lettered += 1;
        Ok(())
    }

    /// Dead-letter the line at `index` of `batch`.
    fn reject_line<'r>(
        &mut self,
        batch: &'r Batch,
        index: usize,
        rejection: impl FnOnce(u64) -> Rejection<'r>,
    ) -> Result<()> {
        let (line, span) = &batch.lines[index];
        let bytes = &batch.blob[span.clone()];
        let record = DeadLetterRecord::new(rejection(*line), bytes, bytes.len() as u64);
        self.reject(record)
    }

    /// Send `range` of `batch` to the plugin, isolating poison records on failure.
    fn send(&mut self, source: &str, batch: &Batch, range: Range<usize>) -> Result<()> {
        let result = self.instance.process_batch(batch.slice(&range));
        let failure = match result {
            Ok(Ok(output)) => match check_contract(&output, range.len()) {
                Ok(()) => return self.accept(source, batch, range.start, output),
                Err(why) => PluginFailure::Trap(why),
            },
            Ok(Err(BatchError::NotConfigured)) => {
                bail!("the plugin reports that it is not configured (a plugin bug)")
            }
            Err(failure) => failure,
        };
        self.restart()?;
        if range.len() == 1 {
            return self.poison(source, batch, range.start, &failure);
        }
        let middle = range.start + range.len() / 2;
        self.send(source, batch, range.start..middle)?;
        self.send(source, batch, middle..range.end)
    }

    fn restart(&mut self) -> Result<()> {
        self.summary.plugin_restarts += 1;
        self.instance = self
            .sandbox
            .instantiate(&self.setup)
            .context("restarting the plugin after a failure")?;
        if let Some(state) = &self.last_state {
            self.instance.import_state(state)?;
        }
        Ok(())
    }

    /// Dead-letter the single record at `index` that made the plugin fail.
    fn poison(
        &mut self,
        source: &str,
        batch: &Batch,
        index: usize,
        failure: &PluginFailure,
    ) -> Result<()> {
        let kind = match failure {
            PluginFailure::Timeout => "plugin_timeout",
            PluginFailure::Trap(_) => "plugin_trap",
        };
        let reason = failure.to_string();
        self.reject_line(batch, index, |line| Rejection {
            source,
            line,
            kind,
            field: "",
            reason: &reason,
        })
    }

    /// Write a successful batch's events and dead letters; count them.
    fn accept(
        &mut self,
        source: &str,
        batch: &Batch,
        first: usize,
        output: BatchOutput,
    ) -> Result<()> {
        // The vault first: an event must never carry a pseudonym whose
        // mapping was not kept.
        if let Some(vault) = &mut self.sinks.vault {
            for entry in &output.vault_entries {
                vault.add(&vault::Entry {
                    pseudonym: entry.pseudonym.clone(),
                    original: entry.original.clone(),
                    entity: entry.entity.clone(),
                })?;
            }
        }
        self.sinks
            .output
            .write_all(&output.records)
            .context("writing the output")?;
        // Alerts follow the events that raised them, in the same stream.
        self.sinks
            .output
            .write_all(&output.alerts)
            .context("writing alerts to the output")?;
        if let Some(alerts) = &mut self.sinks.alerts {
            alerts
                .write_all(&output.alerts)
                .context("writing the alerts file")?;
        }
        for dead in &output.dead_letters {
            self.reject_line(batch, first + dead.index as usize, |line| Rejection {
                source,
                line,
                kind: record_error_kind_name(dead.error.kind),
                field: &dead.error.field,
                reason: &dead.error.detail,
            })?;
        }
        let c = output.counters;
        let s = &mut self.summary;
        s.emitted += u64::from(c.emitted);
        s.filtered += u64::from(c.filtered);
        s.unmapped_event_types += u64::from(c.unmapped_event_types);
        s.unmapped_actor_types += u64::from(c.unmapped_actor_types);
        s.unmapped_fields += u64::from(c.unmapped_fields);
        s.alerts += u64::from(c.alerts);
        s.alerts_suppressed += u64::from(c.alerts_suppressed);
        Ok(())
    }
}

/// Check a plugin's answer against the batch contract of `wit/transform.wit`.
/// A plugin that miscounts is treated like one that trapped: its records
/// are isolated rather than trusted.
fn check_contract(output: &BatchOutput, sent: usize) -> Result<(), String> {
    let c = &output.counters;
    let lines = output.records.iter().filter(|b| **b == b'\n').count();
    let alert_lines = output.alerts.iter().filter(|b| **b == b'\n').count();
    let indexes_ok = output
        .dead_letters
        .windows(2)
        .all(|w| w[0].index < w[1].index)
        && output
            .dead_letters
            .last()
            .is_none_or(|d| (d.index as usize) < sent);
    let ok = c.records as usize == sent
        && u64::from(c.emitted) + u64::from(c.dead_lettered) + u64::from(c.filtered)
            == u64::from(c.records)
        && output.dead_letters.len() == c.dead_lettered as usize
        && lines == c.emitted as usize
        && output.records.last().is_none_or(|b| *b == b'\n')
        && alert_lines == c.alerts as usize
        && output.alerts.last().is_none_or(|b| *b == b'\n')
        && indexes_ok;
    if ok {
        Ok(())
    } else {
        Err("the plugin's batch answer broke the contract (counts do not add up)".to_owned())
    }
}

/// The dead-letter `kind` of a plugin record error.
fn record_error_kind_name(kind: crate::sandbox::RecordErrorKind) -> &'static str {
    use crate::sandbox::RecordErrorKind as K;
    match kind {
        K::BlankLine => "blank_line",
        K::ByteOrderMark => "byte_order_mark",
        K::InvalidUtf8 => "invalid_utf8",
        K::InvalidJson => "invalid_json",
        K::NotAnObject => "not_an_object",
        K::DuplicateField => "duplicate_field",
        K::MissingField => "missing_field",
        K::WrongType => "wrong_type",
        K::InvalidValue => "invalid_value",
        K::TooLong => "too_long",
    }
}
