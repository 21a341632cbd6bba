//! Where pages go: through the sandboxed plugin (normalize and redact, per
//! the configuration) or, with `--raw`, out as the API sent them.

use std::io::{Cursor, Write};

use anyhow::{Context, Result};

use crate::runner::Runner;

/// What one page produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PageCounts {
    /// Events (or raw activities) written.
    pub emitted: u64,
    /// Activities dead-lettered.
    pub dead_lettered: u64,
    /// Activities dropped by the plugin's type filter.
    pub filtered: u64,
}

/// The destination of activities.
pub enum PageSink<'s> {
    /// Through the plugin, into the runner's output and dead-letter file.
    /// (Boxed: a runner is large, and there is one sink per process.)
    Plugin(Box<Runner<'s>>),
    /// Unchanged.
    Raw {
        /// Where NDJSON goes.
        output: Box<dyn Write + 's>,
        /// Activities written.
        emitted: u64,
    },
}

impl PageSink<'_> {
    /// Write `ndjson` (one activity per line, `lines` lines) from `source`
    /// (named in dead letters). Nothing is durable until [`Self::commit`].
    pub fn write(&mut self, source: &str, ndjson: &[u8], lines: u64) -> Result<PageCounts> {
        match self {
            Self::Plugin(runner) => {
                let before = runner.summary();
                runner.run_source(source, Cursor::new(ndjson), &mut |_| {})?;
                let after = runner.summary();
                Ok(PageCounts {
                    emitted: after.emitted - before.emitted,
                    dead_lettered: after.dead_lettered - before.dead_lettered,
                    filtered: after.filtered - before.filtered,
                })
            }
            Self::Raw { output, emitted } => {
                output.write_all(ndjson).context("writing the output")?;
                *emitted += lines;
                Ok(PageCounts {
                    emitted: lines,
                    ..PageCounts::default()
                })
            }
        }
    }

    /// Make everything written durable.
    pub fn commit(&mut self) -> Result<()> {
        match self {
            Self::Plugin(runner) => runner.commit(),
            Self::Raw { output, .. } => output.flush().context("flushing the output"),
        }
    }

    /// The plugin's detection state, to be saved with the checkpoint;
    /// `None` with `--raw` or when detections are off.
    pub fn detection_state(&mut self) -> Result<Option<serde_json::Value>> {
        let Self::Plugin(runner) = self else {
            return Ok(None);
        };
        let bytes = runner.export_state()?;
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .context("the plugin exported a detection state that is not JSON")
    }

    /// End: flush, and for the plugin path check the accounting.
    pub fn finish(self) -> Result<()> {
        match self {
            Self::Plugin(runner) => runner.finish().map(drop),
            Self::Raw { mut output, .. } => output.flush().context("flushing the output"),
        }
    }
}
