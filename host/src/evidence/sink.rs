//! [`EvidenceSink`]: wraps a command's event output so that every NDJSON
//! line written to it is also appended to the evidence store, byte for
//! byte (the leaf is the line exactly as emitted, without its newline).
//!
//! Flushing the output (which `run` does at the end and `pull` after every
//! page) also makes the store durable. Checkpoints follow one of two
//! policies:
//! - [`CheckpointPolicy::Immediate`] (`run`): sign as soon as one is due;
//! - [`CheckpointPolicy::AfterCommit`] (`pull`): at a flush, sign at most the
//!   head durable at the *previous* flush, which the caller has since
//!   recorded in its own state (pull's cursor). A crash can then never leave
//!   a signed checkpoint that the caller's state does not cover, so a
//!   restart never has to roll back a signed checkpoint.

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

use anyhow::Result;

use super::store::{Head, Store};

/// A store shared by the sink and the command that owns it (which signs
/// the final checkpoint once the output is finished).
pub type SharedStore = Rc<RefCell<Store>>;

/// When checkpoints are signed; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointPolicy {
    /// As soon as one is due.
    Immediate,
    /// At a flush, for the head durable at the previous flush.
    AfterCommit,
}

/// An output that tees whole lines into the store.
pub struct EvidenceSink<'w> {
    inner: Box<dyn Write + 'w>,
    store: SharedStore,
    policy: CheckpointPolicy,
    /// Bytes of a line not yet ended by a newline.
    partial: Vec<u8>,
    /// The head made durable by the previous flush.
    committed: Option<Head>,
}

impl<'w> EvidenceSink<'w> {
    /// Tee `inner` into `store`.
    pub fn new(inner: Box<dyn Write + 'w>, store: SharedStore, policy: CheckpointPolicy) -> Self {
        Self {
            inner,
            store,
            policy,
            partial: Vec::new(),
            committed: None,
        }
    }

    fn append(&mut self, buf: &[u8]) -> Result<()> {
        let mut store = self.store.borrow_mut();
        let immediate = self.policy == CheckpointPolicy::Immediate;
        let mut rest = buf;
        while let Some(at) = memchr::memchr(b'\n', rest) {
            if self.partial.is_empty() {
                store.append(&rest[..at])?;
            } else {
                self.partial.extend_from_slice(&rest[..at]);
                store.append(&self.partial)?;
                self.partial.clear();
            }
            rest = &rest[at + 1..];
            // Checked per event, so that checkpoints fall every N events
            // exactly, whatever the batch size.
            if immediate && store.checkpoint_due() {
                store.checkpoint()?;
            }
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        let mut store = self.store.borrow_mut();
        let head = store.sync()?;
        match self.policy {
            CheckpointPolicy::Immediate if store.checkpoint_due() => store.checkpoint_head(head)?,
            CheckpointPolicy::AfterCommit => {
                if let Some(previous) = self.committed.filter(|_| store.checkpoint_due()) {
                    store.checkpoint_head(previous)?;
                }
                self.committed = Some(head);
            }
            CheckpointPolicy::Immediate => {}
        }
        Ok(())
    }
}

impl Write for EvidenceSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.append(buf)
            .map_err(|e| io::Error::other(format!("{e:#}")))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()?;
        self.commit()
            .map_err(|e| io::Error::other(format!("{e:#}")))
    }
}
