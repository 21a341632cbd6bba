//! Where things sit in an evidence directory, shared by the writer and the
//! verifier:
//!
//! ```text
//! DIR/verifier.key                       the log's verifier key (public)
//! DIR/segments/<first leaf, 20 digits>.ndjson   events, one per line
//! DIR/segments/<first leaf, 20 digits>.idx      their leaf hashes, 32 bytes each
//! DIR/checkpoints/<sequence, 10 digits>.checkpoint   signed checkpoints, from 1
//! DIR/records/<sequence, 10 digits>.json  signed retention / legal-hold records
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// File holding the verifier key.
pub const VERIFIER_FILE: &str = "verifier.key";
/// Directory of segments.
pub const SEGMENTS: &str = "segments";
/// Directory of checkpoints.
pub const CHECKPOINTS: &str = "checkpoints";

/// One segment: the events from leaf `first` on.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Index of its first leaf.
    pub first: u64,
    /// The NDJSON file.
    pub events: PathBuf,
    /// The leaf-hash index.
    pub index: PathBuf,
}

impl Segment {
    /// Call `f(leaf, line)` for each line of the events file (without its
    /// newline; a last line without one included), reading it in 1 MiB
    /// chunks: memory is one line, not the segment (up to 64 MiB).
    pub fn for_each_line(&self, mut f: impl FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
        let context = || format!("reading {}", self.events.display());
        let file = File::open(&self.events).with_context(context)?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        for leaf in self.first.. {
            line.clear();
            if reader.read_until(b'\n', &mut line).with_context(context)? == 0 {
                break;
            }
            f(leaf, line.strip_suffix(b"\n").unwrap_or(&line))?;
        }
        Ok(())
    }

    /// The segment of `dir` starting at leaf `first`.
    pub fn at(dir: &Path, first: u64) -> Self {
        let base = dir.join(SEGMENTS).join(format!("{first:020}"));
        Self {
            first,
            events: base.with_extension("ndjson"),
            index: base.with_extension("idx"),
        }
    }

    /// File name of the events, for messages.
    pub fn name(&self) -> String {
        format!("{SEGMENTS}/{:020}.ndjson", self.first)
    }
}

/// The path of checkpoint number `seq`.
pub fn checkpoint_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(CHECKPOINTS).join(format!("{seq:010}.checkpoint"))
}

/// Names in `dir/sub` with `ext`, parsed as numbers, sorted. Temporary
/// files (`.tmp`, left by a crash) are skipped; anything else is an error,
/// so that a planted file is never silently ignored.
fn numbered(dir: &Path, sub: &str, exts: &[&str]) -> Result<Vec<(u64, String)>> {
    let path = dir.join(sub);
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e).with_context(|| format!("listing {}", path.display())),
    };
    for entry in entries {
        let name = entry
            .with_context(|| format!("listing {}", path.display()))?
            .file_name();
        let name = name.to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            continue;
        }
        let parsed = name
            .split_once('.')
            .filter(|(_, ext)| exts.contains(ext))
            .and_then(|(n, ext)| Some((n.parse::<u64>().ok()?, ext.to_owned())));
        match parsed {
            Some(p) => found.push(p),
            None => bail!("unexpected file {sub}/{name} in the evidence directory"),
        }
    }
    found.sort();
    Ok(found)
}

/// The segments, in leaf order (by name; contiguity is checked by callers).
pub fn segments(dir: &Path) -> Result<Vec<Segment>> {
    let mut firsts: Vec<u64> = numbered(dir, SEGMENTS, &["ndjson", "idx"])?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    firsts.dedup();
    Ok(firsts.into_iter().map(|f| Segment::at(dir, f)).collect())
}

/// The checkpoint sequence numbers, ascending.
pub fn checkpoints(dir: &Path) -> Result<Vec<u64>> {
    Ok(numbered(dir, CHECKPOINTS, &["checkpoint"])?
        .into_iter()
        .map(|(n, _)| n)
        .collect())
}

/// Write `bytes` to `path` atomically and durably (mode 0600): the one
/// writer of [`crate::output::replace_file`], whose temporary file
/// `<name>.tmp` the directory scans skip (a crash can leave one).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::output::replace_file(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// fsync a directory, so that new names in it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines come out numbered from the segment's first leaf, without
    /// newlines, a last line without one included, longer lines than the
    /// reader's buffer whole.
    #[test]
    fn for_each_line_streams_the_lines_of_a_segment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(SEGMENTS)).unwrap();
        let segment = Segment::at(dir.path(), 7);
        let long = "x".repeat((1 << 20) + 10);
        let text = format!("a\n{long}\n\nb");
        std::fs::write(&segment.events, &text).unwrap();
        let mut seen = Vec::new();
        segment
            .for_each_line(|leaf, line| {
                seen.push((leaf, String::from_utf8(line.to_vec()).unwrap()));
                Ok(())
            })
            .unwrap();
        let want = [(7, "a"), (8, long.as_str()), (9, ""), (10, "b")];
        assert_eq!(seen, want.map(|(l, s)| (l, s.to_owned())));
    }
}
