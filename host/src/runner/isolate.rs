//! One batch through one plugin instance, with poison isolation: the part
//! of the record loop that runs on a worker thread.
//!
//! When the plugin fails on a batch (trap, timeout, memory limit, or an
//! answer that breaks the batch contract) nothing is lost: the instance is
//! replaced and the batch is split in halves, recursively, until the records
//! that make it fail are isolated and dead-lettered one by one. Every other
//! record of the batch is still emitted, in order.
//!
//! The result is a [`Processed`]: everything the batch produced, in input
//! order, for the runner to write. Nothing here touches a sink, so several
//! workers can run at once while the output stays in input order.

use std::ops::Range;

use anyhow::{Context, Result, bail};

use super::Summary;
use super::batch::Batch;
use crate::sandbox::{
    BatchError, BatchOutput, PluginFailure, PluginInstance, PluginSetup, RecordErrorKind, Sandbox,
};
use crate::vault;

/// What one batch produced, in input order.
#[derive(Default)]
pub struct Processed {
    /// The events, NDJSON.
    pub events: Vec<u8>,
    /// The alerts the events raised, NDJSON.
    pub alerts: Vec<u8>,
    /// The records to dead-letter.
    pub dead: Vec<Dead>,
    /// Pseudonym mappings, for the vault.
    pub vault: Vec<vault::Entry>,
    /// Events, filtered records, unmapped counts and plugin restarts
    /// (`read` and `dead_lettered` are counted by the runner).
    pub counts: Summary,
}

/// A record of the batch to dead-letter.
pub struct Dead {
    /// Index of the line in the batch.
    pub index: usize,
    /// Dead-letter `kind`.
    pub kind: &'static str,
    /// Dotted path of the offending field, or empty.
    pub field: String,
    /// Why; never holds record values.
    pub reason: String,
}

/// A plugin instance and what it takes to replace it after a failure.
pub struct Worker<'a> {
    /// Where fresh instances come from.
    pub sandbox: &'a Sandbox,
    /// How each instance is configured.
    pub setup: &'a PluginSetup,
    /// The detection state last imported or exported: a restarted instance
    /// gets it back, so a trap loses only what the engine learned since.
    pub state: Option<&'a [u8]>,
    /// The live instance.
    pub instance: &'a mut PluginInstance,
}

impl Worker<'_> {
    /// Run all of `batch` through the plugin.
    pub fn process(&mut self, batch: &Batch) -> Result<Processed> {
        let mut out = Processed::default();
        self.send(batch, 0..batch.len(), &mut out)?;
        Ok(out)
    }

    /// Send `range` of `batch` to the plugin, isolating poison records on failure.
    fn send(&mut self, batch: &Batch, range: Range<usize>, out: &mut Processed) -> Result<()> {
        let failure = match self.instance.process_batch(batch.slice(&range)) {
            Ok(Ok(output)) => match check_contract(&output, range.len()) {
                Ok(()) => {
                    take(out, output, range.start);
                    return Ok(());
                }
                Err(why) => PluginFailure::Trap(why),
            },
            Ok(Err(BatchError::NotConfigured)) => {
                bail!("the plugin reports that it is not configured (a plugin bug)")
            }
            Err(failure) => failure,
        };
        self.restart(out)?;
        if range.len() == 1 {
            out.dead.push(poison(range.start, &failure));
            return Ok(());
        }
        let middle = range.start + range.len() / 2;
        self.send(batch, range.start..middle, out)?;
        self.send(batch, middle..range.end, out)
    }

    fn restart(&mut self, out: &mut Processed) -> Result<()> {
        out.counts.plugin_restarts += 1;
        *self.instance = self
            .sandbox
            .instantiate(self.setup)
            .context("restarting the plugin after a failure")?;
        if let Some(state) = self.state {
            self.instance
                .import_state(state)
                .context("restoring the detection state after a restart")?;
        }
        Ok(())
    }
}

/// Add one successful plugin answer (for the lines from `first` on) to `out`.
fn take(out: &mut Processed, output: BatchOutput, first: usize) {
    // The common case (no failure, one answer per batch) moves the events
    // buffer instead of copying it.
    if out.events.is_empty() {
        out.events = output.records;
    } else {
        out.events.extend_from_slice(&output.records);
    }
    out.alerts.extend_from_slice(&output.alerts);
    out.vault
        .extend(output.vault_entries.into_iter().map(|e| vault::Entry {
            pseudonym: e.pseudonym,
            original: e.original,
            entity: e.entity,
        }));
    out.dead
        .extend(output.dead_letters.into_iter().map(|d| Dead {
            index: first + d.index as usize,
            kind: record_error_kind_name(d.error.kind),
            field: d.error.field,
            reason: d.error.detail,
        }));
    let c = output.counters;
    let s = &mut out.counts;
    s.emitted += u64::from(c.emitted);
    s.filtered += u64::from(c.filtered);
    s.unmapped_event_types += u64::from(c.unmapped_event_types);
    s.unmapped_actor_types += u64::from(c.unmapped_actor_types);
    s.unmapped_fields += u64::from(c.unmapped_fields);
    s.alerts += u64::from(c.alerts);
    s.alerts_suppressed += u64::from(c.alerts_suppressed);
}

/// The dead letter of the single record at `index` that made the plugin fail.
fn poison(index: usize, failure: &PluginFailure) -> Dead {
    let kind = match failure {
        PluginFailure::Timeout => "plugin_timeout",
        PluginFailure::Trap(_) => "plugin_trap",
    };
    Dead {
        index,
        kind,
        field: String::new(),
        reason: failure.to_string(),
    }
}

/// Check a plugin's answer against the batch contract of `wit/transform.wit`.
/// A plugin that miscounts is treated like one that trapped: its records
/// are isolated rather than trusted.
pub(super) fn check_contract(output: &BatchOutput, sent: usize) -> Result<(), String> {
    let c = &output.counters;
    let lines = memchr::memchr_iter(b'\n', &output.records).count();
    let alert_lines = memchr::memchr_iter(b'\n', &output.alerts).count();
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
fn record_error_kind_name(kind: RecordErrorKind) -> &'static str {
    use RecordErrorKind as K;
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
