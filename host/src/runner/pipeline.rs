//! Overlaps reading and writing with the plugin calls, and spreads batches
//! over several plugin instances when asked to, keeping input order.
//!
//! The calling thread reads batches and writes results; each plugin
//! instance lives on a worker thread of its own. Batches go to the workers
//! in turn, and results are taken back in the order the batches were read
//! (worker `i` answers its batches in order, so receiving from the workers
//! in the same turn order restores input order without sorting).
//!
//! At most `limit` batches are in flight (queued, in the plugin, or done and
//! waiting for an earlier one): that bounds memory whatever the input, at
//! about `limit` × (batch + its events).

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::Scope;

use anyhow::{Context, Result, anyhow};

use super::batch::Batch;
use super::isolate::{Processed, Worker};
use crate::sandbox::{PluginInstance, PluginSetup, Sandbox};

/// Something ready to be written, in input order.
pub enum Done {
    /// A batch and what the plugin made of it.
    Batch(Batch, Processed),
    /// A line over the length limit, which never went to the plugin.
    TooLong {
        /// Its line number.
        line: u64,
        /// Its first bytes.
        prefix: Vec<u8>,
        /// Its full length.
        length: u64,
    },
}

enum Slot {
    /// Sent to this worker; its answer is the next one it gives.
    Plugin(usize),
    /// Boxed: rare (over-long lines), and a batch's result is large.
    Ready(Box<Done>),
}

type Answer = (Batch, Result<Processed>);

/// The worker threads of one source, and the batches in flight.
pub struct Pipeline {
    to_workers: Vec<Sender<Batch>>,
    from_workers: Vec<Receiver<Answer>>,
    next_worker: usize,
    queue: VecDeque<Slot>,
    limit: usize,
    spare: Vec<Batch>,
}

impl Pipeline {
    /// One worker thread per instance, in `scope`.
    pub fn start<'scope>(
        scope: &'scope Scope<'scope, '_>,
        sandbox: &'scope Sandbox,
        setup: &'scope PluginSetup,
        state: Option<&'scope [u8]>,
        instances: &'scope mut [PluginInstance],
    ) -> Result<Self> {
        let workers = instances.len();
        let mut to_workers = Vec::with_capacity(workers);
        let mut from_workers = Vec::with_capacity(workers);
        for (i, instance) in instances.iter_mut().enumerate() {
            let (batch_tx, batch_rx) = channel::<Batch>();
            let (answer_tx, answer_rx) = channel::<Answer>();
            let mut worker = Worker {
                sandbox,
                setup,
                state,
                instance,
            };
            std::thread::Builder::new()
                .name(format!("plugin-{i}"))
                .spawn_scoped(scope, move || {
                    for batch in batch_rx {
                        let result = worker.process(&batch);
                        if answer_tx.send((batch, result)).is_err() {
                            break;
                        }
                    }
                })
                .context("starting a plugin worker thread")?;
            to_workers.push(batch_tx);
            from_workers.push(answer_rx);
        }
        Ok(Self {
            to_workers,
            from_workers,
            next_worker: 0,
            queue: VecDeque::new(),
            // Each worker has one batch in the plugin and one waiting, so
            // that it never idles while this thread reads or writes.
            limit: 2 * workers + 1,
            spare: Vec::new(),
        })
    }

    /// An empty batch to fill, reusing the buffers of a written one.
    pub fn spare_batch(&mut self) -> Batch {
        self.spare.pop().unwrap_or_default()
    }

    /// Send `batch` to the next worker, first writing (`write`) what is
    /// done if too much is in flight.
    pub fn submit(
        &mut self,
        batch: Batch,
        write: &mut impl FnMut(&mut Done) -> Result<()>,
    ) -> Result<()> {
        self.make_room(write)?;
        let worker = self.next_worker;
        self.next_worker = (worker + 1) % self.to_workers.len();
        self.to_workers[worker]
            .send(batch)
            .map_err(|_| anyhow!("a plugin worker thread stopped"))?;
        self.queue.push_back(Slot::Plugin(worker));
        Ok(())
    }

    /// Queue something that needs no plugin call, behind what came before.
    pub fn submit_done(
        &mut self,
        done: Done,
        write: &mut impl FnMut(&mut Done) -> Result<()>,
    ) -> Result<()> {
        self.make_room(write)?;
        self.queue.push_back(Slot::Ready(Box::new(done)));
        Ok(())
    }

    /// Write everything still in flight, in order.
    pub fn finish(mut self, write: &mut impl FnMut(&mut Done) -> Result<()>) -> Result<()> {
        while !self.queue.is_empty() {
            self.write_oldest(write)?;
        }
        Ok(())
    }

    fn make_room(&mut self, write: &mut impl FnMut(&mut Done) -> Result<()>) -> Result<()> {
        while self.queue.len() >= self.limit {
            self.write_oldest(write)?;
        }
        Ok(())
    }

    /// Wait for the oldest slot, write it, and keep its buffers.
    fn write_oldest(&mut self, write: &mut impl FnMut(&mut Done) -> Result<()>) -> Result<()> {
        let mut done = match self.queue.pop_front() {
            None => return Ok(()),
            Some(Slot::Ready(done)) => *done,
            Some(Slot::Plugin(worker)) => {
                let (batch, result) = self.from_workers[worker]
                    .recv()
                    .map_err(|_| anyhow!("a plugin worker thread stopped"))?;
                Done::Batch(batch, result?)
            }
        };
        write(&mut done)?;
        if let Done::Batch(batch, _) = done {
            self.spare.push(batch);
        }
        Ok(())
    }
}
