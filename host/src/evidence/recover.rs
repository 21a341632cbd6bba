//! Recovery of acknowledged events for `serve`.
//!
//! `run` and `pull` can write events again after a crash (the user re-runs,
//! the poller restarts from its cursor), so the store cuts everything past
//! the last commit. `serve` cannot: an agent that got `200` never sends the
//! request again. So `serve` syncs the store before answering `200`, and on
//! restart keeps every event that is whole on disk: a line ended by its
//! newline whose leaf hash equals its entry in the segment's index (or a
//! retention tombstone keeping that hash). Only a
//! torn tail (a line or index entry cut by the crash, never acknowledged)
//! is dropped. Events that were synced but whose request was not answered
//! are kept too; the agent sends that request again, so those events are
//! then stored twice, exactly as the downstream received them twice
//! (delivery through the hop is at least once; `event_id` de-duplicates).
//!
//! Only the newest segment can hold a torn tail: a segment is synced
//! before the next one is started. Older segments are counted by their
//! index and checked against the checkpoint by [`super::store::Store::open`].

use std::path::Path;

use anyhow::{Context, Result};

use super::layout;
use super::merkle;
use super::retention;

/// How many leaves of the store in `dir` are whole on disk (see the module
/// docs); `None` for a store without segments.
pub fn durable_size(dir: &Path) -> Result<Option<u64>> {
    let Some(last) = layout::segments(dir)?.pop() else {
        return Ok(None);
    };
    let read = |path: &Path| match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        other => other.with_context(|| format!("reading {}", path.display())),
    };
    let (events, index) = (read(&last.events)?, read(&last.index)?);
    let whole = events
        .split_inclusive(|b| *b == b'\n')
        .filter(|line| line.ends_with(b"\n"))
        .zip(
            index
                .chunks_exact(32)
                .map(|c| merkle::Hash::try_from(c).unwrap_or_default()),
        )
        .take_while(|(line, hash)| {
            let line = &line[..line.len() - 1];
            // A retention tombstone keeps the removed line's hash.
            merkle::leaf_hash(line) == *hash || retention::tombstone_hash(line) == Some(*hash)
        })
        .count();
    Ok(Some(last.first + whole as u64))
}
