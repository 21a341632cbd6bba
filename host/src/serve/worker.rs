//! The worker: owns the plugin instance (a wasmtime store is
//! single-threaded), transforms each queued request, forwards its events and
//! answers the agent. One worker also keeps the downstream order equal to
//! the acceptance order.
//!
//! A request's dead letters are written (and fsynced) only when the request
//! is answered `200`, after the downstream took its events: an agent that
//! got `503` sends the same request again, and its dead letters are then
//! written once, for the attempt that succeeded.
//!
//! Drain: once a shutdown is requested the worker goes on until the queue
//! is empty and no reader is still reading a body, then returns. Past the
//! drain deadline, queued requests are answered `503` without being
//! processed (the agent keeps them), so a shutdown never duplicates events.

use std::io::Cursor;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

use super::checkpoint::Checkpoint;
use super::forward::{ForwardError, Forwarder};
use super::readers::Shared;
use super::stats::ServeStats;
use super::{Accepted, Job, Reply, busy, error, json_response};
use crate::evidence::runs::RunSummary;
use crate::evidence::store::Store;
use crate::runner::Runner;

/// How often an idle worker checks for a shutdown.
const POLL: Duration = Duration::from_millis(50);

/// The worker's parts.
pub struct Worker<'r, 's> {
    /// The record loop around the plugin; its dead-letter writer holds
    /// records until commit.
    pub runner: &'r mut Runner<'s>,
    /// Where the runner writes events.
    pub events: SharedBuffer,
    /// The downstream.
    pub forwarder: Forwarder,
    /// State shared with the readers.
    pub shared: Arc<Shared>,
    /// The evidence store (`--evidence`): the forwarded events are
    /// appended and synced before the agent hears `200`.
    pub evidence: Option<Store>,
    /// This hop's run summary, started when the store was opened.
    pub run: Option<RunSummary>,
    /// Where the detection state is saved (`--state`).
    pub checkpoint: Option<Checkpoint>,
    /// The runner's copy of the alerts of the current request.
    pub alerts: SharedBuffer,
    /// Alerts of requests the downstream did not take: the engine will not
    /// raise them again when the agent re-sends the request (their ids are
    /// remembered), so they go with the next forward instead of being lost.
    pub pending_alerts: Vec<u8>,
}

impl Worker<'_, '_> {
    /// Answer jobs until the queue closes or a shutdown has drained it.
    pub fn run(mut self, jobs: Receiver<Job>) -> Result<()> {
        loop {
            match jobs.recv_timeout(POLL) {
                Ok(job) => self.handle(job)?,
                Err(RecvTimeoutError::Timeout) if self.drained() => break,
                Err(RecvTimeoutError::Timeout) => self.checkpoint_if_due()?,
                Err(RecvTimeoutError::Disconnected) => return self.save_state(),
            }
            if let Some(checkpoint) = &mut self.checkpoint {
                checkpoint.tick(self.runner)?;
            }
        }
        // Sent between the last look and now: answered before the queue
        // closes; later sends fail and the reader answers 503.
        while let Ok(job) = jobs.try_recv() {
            self.handle(job)?;
        }
        self.save_state()?;
        self.final_checkpoint()
    }

    /// A checkpoint every N events or T seconds, also when no request
    /// comes.
    fn checkpoint_if_due(&mut self) -> Result<()> {
        match &mut self.evidence {
            Some(store) if store.checkpoint_due() => store.checkpoint(),
            _ => Ok(()),
        }
    }

    /// The checkpoint of a drained hop: covers every event it forwarded.
    fn final_checkpoint(&mut self) -> Result<()> {
        let Some(store) = &mut self.evidence else {
            return Ok(());
        };
        let stats = &self.shared.stats;
        let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let run = self.run.take().unwrap_or_default();
        store.finish_run(RunSummary {
            read: count(&stats.records),
            emitted: count(&stats.forwarded),
            dead_lettered: count(&stats.dead_lettered),
            filtered: count(&stats.filtered),
            ..run
        })?;
        eprintln!(
            "claude-audit: serve: evidence store holds {} events, all covered by a signed \
             checkpoint",
            store.size()
        );
        Ok(())
    }

    /// The final detection-state checkpoint, once nothing more will be processed.
    fn save_state(&mut self) -> Result<()> {
        match &mut self.checkpoint {
            Some(checkpoint) => checkpoint.save(self.runner),
            None => Ok(()),
        }
    }

    /// Whether a requested shutdown has nothing left to wait for.
    fn drained(&self) -> bool {
        let shutdown = &self.shared.shutdown;
        shutdown.is_requested()
            && (self.shared.reading.load(Ordering::SeqCst) == 0 || shutdown.expired())
    }

    fn handle(&mut self, mut job: Job) -> Result<()> {
        let shared = Arc::clone(&self.shared);
        let stats = &shared.stats;
        if self.shared.shutdown.expired() {
            self.shared.budget.release(job.ndjson.len());
            ServeStats::bump(&stats.requests_draining);
            let _ = job.request.respond(busy("shutting down"));
            return Ok(());
        }
        let answer = self.process(&mut job);
        if let Some(checkpoint) = &mut self.checkpoint {
            checkpoint.touched();
        }
        let response = match answer {
            Ok(accepted) => {
                ServeStats::bump(&stats.requests_ok);
                match job.reply {
                    Reply::Ingest => {
                        json_response(200, serde_json::to_string(&accepted).unwrap_or_default())
                    }
                    Reply::Otlp(signal, encoding) => {
                        super::otlp::success(signal, encoding, &accepted)
                    }
                }
            }
            Err(ForwardError::Unavailable(why)) => {
                ServeStats::bump(&stats.requests_unavailable);
                eprintln!(
                    "claude-audit: serve: {}: downstream unavailable: {why}",
                    job.source
                );
                busy("downstream unavailable")
            }
            Err(ForwardError::Refused(why)) => {
                ServeStats::bump(&stats.requests_refused_downstream);
                eprintln!(
                    "claude-audit: serve: {}: downstream refused the events: {why}",
                    job.source
                );
                error(502, "the downstream refused the events; see the hop's log")
            }
            Err(ForwardError::Local(e)) => {
                let _ = job
                    .request
                    .respond(error(500, "the hop failed; see its log"));
                return Err(e);
            }
        };
        let _ = job.request.respond(response);
        Ok(())
    }

    /// Transform, forward, then commit the dead letters.
    fn process(&mut self, job: &mut Job) -> Result<Accepted, ForwardError> {
        let budget = &self.shared.budget;
        let before = self.runner.summary();
        // The input is not needed once transformed: freed (and uncounted)
        // before the events wait for the downstream.
        let input = std::mem::take(&mut job.ndjson);
        let ran = self
            .runner
            .run_source(&job.source, Cursor::new(&input), &mut |_| {});
        budget.release(input.len());
        drop(input);
        let held_dead_letters = self.runner.held_dead_letter_bytes();
        budget.add(held_dead_letters);
        let mut events = std::mem::take(&mut self.pending_alerts);
        let earlier = events.len();
        events.append(&mut self.events.take());
        let raised = self.alerts.take();
        budget.release(raised.len());
        let delivered = ran.map_err(ForwardError::Local).and_then(|()| {
            if events.is_empty() {
                Ok(())
            } else {
                self.forwarder
                    .send(&events, &self.shared.stats, &self.shared.shutdown)
            }
        });
        let committed = match delivered {
            // Evidence and dead letters are durable before the agent hears "200".
            Ok(()) => store_evidence(&mut self.evidence, &events)
                .and_then(|()| self.runner.commit())
                .map_err(ForwardError::Local),
            Err(e) => {
                self.runner.discard_dead_letters();
                self.pending_alerts = events[..earlier].to_vec();
                self.pending_alerts.extend_from_slice(&raised);
                Err(e)
            }
        };
        budget.release(events.len() + held_dead_letters);
        committed?;
        let after = self.runner.summary();
        let accepted = Accepted {
            records: after.read - before.read,
            forwarded: after.emitted - before.emitted,
            dead_lettered: after.dead_lettered - before.dead_lettered,
            filtered: after.filtered - before.filtered,
        };
        self.count(&accepted);
        Ok(accepted)
    }

    fn count(&self, accepted: &Accepted) {
        let stats = &self.shared.stats;
        let add = |counter: &std::sync::atomic::AtomicU64, n| {
            counter.fetch_add(n, Ordering::Relaxed);
        };
        add(&stats.records, accepted.records);
        add(&stats.forwarded, accepted.forwarded);
        add(&stats.dead_lettered, accepted.dead_lettered);
        add(&stats.filtered, accepted.filtered);
    }
}

/// Append the events the downstream took to the evidence store, durably.
fn store_evidence(evidence: &mut Option<Store>, events: &[u8]) -> Result<()> {
    let Some(store) = evidence else {
        return Ok(());
    };
    store.append_ndjson(events)?;
    store.sync()?;
    Ok(())
}

/// The runner's output: events of the current request, counted into the
/// hop's memory budget as they are written.
#[derive(Clone)]
pub struct SharedBuffer {
    data: Arc<Mutex<Vec<u8>>>,
    shared: Arc<Shared>,
}

impl SharedBuffer {
    /// An empty buffer counting into `shared`'s budget.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            data: Arc::default(),
            shared,
        }
    }

    /// Take what was written (still counted: the caller releases it).
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.data.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl std::io::Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.shared.budget.add(buf.len());
        self.data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
