//! `serve --state FILE`: the detection state of the hop's plugin instance,
//! imported when the hop starts, exported to FILE every
//! `--state-interval` seconds (when requests were processed since the last
//! save) and once more after a graceful shutdown has drained the queue.
//!
//! Each save replaces the file atomically (`crate::state_file`). After a
//! graceful stop the file holds everything the engine learned, so windows
//! and baselines continue across a restart and an alert already raised is
//! not raised again. After a crash (kill -9) the file is at most one
//! interval old: requests answered since then were delivered and are not
//! sent again, so what is lost is their contribution to open windows (a
//! detection may be missed), never a duplicate alert.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::runner::Runner;

/// Periodic saving of the detection state.
pub struct Checkpoint {
    path: PathBuf,
    interval: Duration,
    last: Instant,
    dirty: bool,
}

impl Checkpoint {
    /// Save to `path` at most every `interval`.
    pub fn new(path: PathBuf, interval: Duration) -> Self {
        Self {
            path,
            interval,
            last: Instant::now(),
            dirty: false,
        }
    }

    /// The saved state, if the file exists (read before the hop listens).
    pub fn load(&self) -> Result<Option<Vec<u8>>> {
        crate::state_file::load(&self.path)
    }

    /// A request went through the engine: the state changed.
    pub fn touched(&mut self) {
        self.dirty = true;
    }

    /// Save if the state changed and the interval has passed.
    pub fn tick(&mut self, runner: &mut Runner<'_>) -> Result<()> {
        if self.dirty && self.last.elapsed() >= self.interval {
            self.save(runner)?;
        }
        Ok(())
    }

    /// Save now.
    pub fn save(&mut self, runner: &mut Runner<'_>) -> Result<()> {
        let bytes = runner.export_state()?;
        crate::state_file::save(&self.path, &bytes)?;
        self.dirty = false;
        self.last = Instant::now();
        Ok(())
    }
}
