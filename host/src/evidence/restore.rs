//! `claude-audit evidence restore`: rebuild an evidence store, byte for
//! byte, from the lines the agent pipelines shipped to S3 Object Lock
//! (`pipelines/*/evidence-s3.yaml`).
//!
//! The agents tail the store's text files and ship every line as a record
//! `{"file": <path on the host>, "offset": <byte offset of the line>,
//! "line": <the line without its newline>}`, in NDJSON objects (possibly
//! gzip), in any order and with duplicates when they retried. Each line is
//! written back at its offset, followed by its newline; a file is whole
//! when its lines cover it from offset 0 without a gap or an overlap. The
//! leaf-hash indexes (`segments/*.idx`, binary, never shipped) are
//! recomputed from the segments, so that `verify` checks the result
//! exactly as it checks the original store.
//!
//! Memory: 40 bytes per distinct line (its offset, length and SHA-256, to
//! tell a harmless duplicate from a conflict), never the lines themselves.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::layout;
use super::merkle;
use super::retention;

/// Where restored reports go: `report --out DIR/reports/<name>` inside the
/// store, so that the agents ship them with it.
pub const REPORTS: &str = "reports";

/// One shipped line.
#[derive(Debug, Deserialize)]
struct Shipped {
    file: String,
    offset: u64,
    line: String,
}

/// What was seen of one line: its length and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    len: u64,
    sha: [u8; 32],
}

/// What a restore did.
#[derive(Debug, Default)]
pub struct Restored {
    /// Objects read.
    pub objects: u64,
    /// Distinct lines written.
    pub lines: u64,
    /// Copies of a line already written (agent retries), dropped.
    pub duplicates: u64,
    /// Files rebuilt (the indexes not counted).
    pub files: u64,
    /// Segment indexes recomputed.
    pub indexes: u64,
}

/// Rebuild the store shipped into `from` (a directory of downloaded
/// objects, searched recursively) as the new directory `out`. On error
/// `out` is removed again: a partial store is never left behind.
pub fn restore(from: &Path, out: &Path) -> Result<Restored> {
    if out.exists() {
        bail!(
            "{} already exists: restore writes a new directory",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let result = Restorer::new(out).run(from);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(out);
    }
    result
}

struct Restorer<'a> {
    out: &'a Path,
    seen: BTreeMap<PathBuf, BTreeMap<u64, Seen>>,
    /// Open output files (bounded: closed all at once when full).
    open: HashMap<PathBuf, File>,
    done: Restored,
}

/// How many output files stay open at once.
const OPEN_FILES: usize = 64;

impl<'a> Restorer<'a> {
    fn new(out: &'a Path) -> Self {
        Self {
            out,
            seen: BTreeMap::new(),
            open: HashMap::new(),
            done: Restored::default(),
        }
    }

    fn run(mut self, from: &Path) -> Result<Restored> {
        for object in objects(from)? {
            self.object(&object)
                .with_context(|| format!("object {}", object.display()))?;
            self.done.objects += 1;
        }
        self.open.clear();
        for (file, lines) in &self.seen {
            check_contiguous(file, lines)?;
            self.done.files += 1;
        }
        for dir in [layout::CHECKPOINTS, retention::RECORDS] {
            check_numbered(self.seen.keys(), dir)?;
        }
        self.done.indexes = rebuild_indexes(self.out)?;
        Ok(self.done)
    }

    /// Every record of one object (NDJSON, gzip or not).
    fn object(&mut self, path: &Path) -> Result<()> {
        let mut reader = open_object(path)?;
        let mut buf = Vec::new();
        for number in 1.. {
            buf.clear();
            if reader.read_until(b'\n', &mut buf).context("reading")? == 0 {
                return Ok(());
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let record: Shipped = serde_json::from_slice(&buf)
                .with_context(|| format!("line {number} is not a shipped evidence line"))?;
            self.record(record)
                .with_context(|| format!("line {number}"))?;
        }
        Ok(())
    }

    /// Write one line at its offset, unless it is a copy of one written.
    fn record(&mut self, r: Shipped) -> Result<()> {
        let file = store_path(&r.file)?;
        if r.line.contains('\n') {
            bail!(
                "{}: the line at offset {} holds a newline",
                file.display(),
                r.offset
            );
        }
        let seen = Seen {
            len: r.line.len() as u64,
            sha: Sha256::digest(r.line.as_bytes()).into(),
        };
        let lines = self.seen.entry(file.clone()).or_default();
        match lines.get(&r.offset) {
            Some(old) if *old == seen => {
                self.done.duplicates += 1;
                return Ok(());
            }
            // Never the content itself in the message: it may be an event.
            Some(old) => bail!(
                "{}: conflicting content at offset {} ({} bytes, then {} bytes with another \
                 hash): two different versions of the file were shipped (a segment rewritten \
                 by `retention apply`, or a file altered)",
                file.display(),
                r.offset,
                old.len,
                seen.len
            ),
            None => lines.insert(r.offset, seen),
        };
        self.write_line(&file, r.offset, r.line.as_bytes())?;
        self.done.lines += 1;
        Ok(())
    }

    fn write_line(&mut self, file: &Path, offset: u64, line: &[u8]) -> Result<()> {
        if !self.open.contains_key(file) {
            if self.open.len() >= OPEN_FILES {
                self.open.clear();
            }
            let path = self.out.join(file);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(false);
            // Like the store's own files: readable by its owner only.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let handle = options
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            self.open.insert(file.to_owned(), handle);
        }
        let handle = self.open.get_mut(file).expect("opened above");
        let context = || format!("writing {}", file.display());
        handle.seek(SeekFrom::Start(offset)).with_context(context)?;
        handle.write_all(line).with_context(context)?;
        handle.write_all(b"\n").with_context(context)
    }
}

/// The object files under `from`, sorted (the order does not matter to the
/// result, only to which of two conflicting versions is named first).
fn objects(from: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut dirs = vec![from.to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("listing {}", dir.display()))?
                .path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                found.push(path);
            }
        }
    }
    if found.is_empty() {
        bail!("no objects under {}", from.display());
    }
    found.sort();
    Ok(found)
}

/// A reader of the object's NDJSON, gunzipped when it starts with gzip's magic.
fn open_object(path: &Path) -> Result<Box<dyn BufRead>> {
    let mut file = File::open(path).context("opening")?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).context("reading")?;
    file.seek(SeekFrom::Start(0)).context("reading")?;
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    })
}

/// The store-relative path of a shipped file, from the store's layout: the
/// agents send the path on their host, `.../<store>/segments/<name>.ndjson`
/// and so on. Anything else (an `.idx`, a file outside the layout, a `..`)
/// is refused rather than written somewhere unexpected.
fn store_path(file: &str) -> Result<PathBuf> {
    let parts: Vec<&str> = file.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
    let last = |n: usize| parts.len().checked_sub(n).map(|i| &parts[i..]);
    let valid = |p: &&str| *p != "." && *p != "..";
    let relative: Option<&[&str]> = match (last(3), last(2), last(1)) {
        (_, _, Some([layout::VERIFIER_FILE])) => last(1),
        (_, Some([dir, name]), _) if known_file(dir, name) => last(2),
        (Some([REPORTS, report, _]), _, _) if valid(report) => last(3),
        _ => None,
    };
    match relative {
        Some(parts) if parts.iter().all(valid) => Ok(parts.iter().collect()),
        _ => bail!("{file} is not a file of an evidence store (shipped by mistake?)"),
    }
}

fn known_file(dir: &str, name: &str) -> bool {
    let ext = |e: &str| name.ends_with(e) && name.len() > e.len();
    match dir {
        layout::SEGMENTS => ext(".ndjson"),
        layout::CHECKPOINTS => ext(".checkpoint"),
        retention::RECORDS => ext(".record"),
        _ => false,
    }
}

/// The lines of `file` cover it from 0 without a gap or an overlap.
fn check_contiguous(file: &Path, lines: &BTreeMap<u64, Seen>) -> Result<()> {
    let mut expected = 0;
    for (&offset, seen) in lines {
        if offset > expected {
            bail!(
                "{}: bytes {expected}..{offset} are missing (a gap at offset {expected}): an \
                 object was not downloaded, was lost, or is not shipped yet",
                file.display()
            );
        }
        if offset < expected {
            bail!(
                "{}: the line at offset {offset} overlaps the one before it (ending at \
                 {expected}): two different versions of the file were shipped",
                file.display()
            );
        }
        expected = offset + seen.len + 1;
    }
    Ok(())
}

/// The files of `dir` (checkpoints, records) are numbered from 1 without a
/// hole: a whole file lost in the middle is named here. (Segments are
/// checked by `verify`, which knows where each must start; a lost newest
/// file cannot be seen by anyone holding only the bucket.)
fn check_numbered<'p>(files: impl Iterator<Item = &'p PathBuf>, dir: &str) -> Result<()> {
    let numbers: Vec<(u64, &Path)> = files
        .filter(|f| f.starts_with(dir))
        .filter_map(|f| {
            let stem = f.file_stem()?.to_str()?;
            Some((stem.parse().ok()?, f.as_path()))
        })
        .collect();
    for (expected, (number, file)) in (1u64..).zip(numbers) {
        if number != expected {
            bail!(
                "{dir}: number {expected} is missing ({} was shipped): an object was not \
                 downloaded, was lost, or is not shipped yet",
                file.display()
            );
        }
    }
    Ok(())
}

/// Recompute every segment's `.idx` from its lines: the leaf hash of each,
/// or the hash a retention tombstone keeps. Returns how many were written.
fn rebuild_indexes(out: &Path) -> Result<u64> {
    let mut written = 0;
    for segment in layout::segments(out)? {
        let context = || format!("indexing {}", segment.name());
        let reader = BufReader::new(File::open(&segment.events).with_context(context)?);
        let mut index = Vec::new();
        for line in reader.split(b'\n') {
            let line = line.with_context(context)?;
            let hash = retention::tombstone_hash(&line).unwrap_or_else(|| merkle::leaf_hash(&line));
            index.extend_from_slice(&hash);
        }
        layout::write_atomic(&segment.index, &index)?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_paths_follow_the_layout() {
        let ok = |f: &str, want: &str| assert_eq!(store_path(f).unwrap(), PathBuf::from(want));
        ok(
            "/var/lib/ev/segments/00000000000000000000.ndjson",
            "segments/00000000000000000000.ndjson",
        );
        ok(
            "/var/lib/ev/checkpoints/0000000001.checkpoint",
            "checkpoints/0000000001.checkpoint",
        );
        ok(
            "/var/lib/ev/records/0000000001.record",
            "records/0000000001.record",
        );
        ok("/var/lib/ev/verifier.key", "verifier.key");
        ok(
            "/var/lib/ev/reports/q1/report.json",
            "reports/q1/report.json",
        );
        for bad in [
            "/var/lib/ev/segments/00000000000000000000.idx",
            "/var/lib/ev/.lock",
            "/etc/passwd",
            "/var/lib/ev/reports/../report.json",
            "segments/.ndjson",
        ] {
            assert!(store_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_hole_in_the_numbering_is_named() {
        let paths = |names: &[&str]| -> Vec<PathBuf> {
            names
                .iter()
                .map(|n| Path::new("checkpoints").join(n))
                .collect()
        };
        let whole = paths(&["0000000001.checkpoint", "0000000002.checkpoint"]);
        check_numbered(whole.iter(), layout::CHECKPOINTS).unwrap();
        let holed = paths(&["0000000001.checkpoint", "0000000003.checkpoint"]);
        let err = check_numbered(holed.iter(), layout::CHECKPOINTS)
            .unwrap_err()
            .to_string();
        assert!(err.contains("number 2 is missing"), "{err}");
        check_numbered(whole.iter(), retention::RECORDS).unwrap();
    }

    #[test]
    fn gaps_and_overlaps_are_named() {
        let seen = |len| Seen { len, sha: [0; 32] };
        let lines: BTreeMap<u64, Seen> = [(0, seen(3)), (4, seen(0)), (5, seen(2))].into();
        check_contiguous(Path::new("f"), &lines).unwrap();
        let gap: BTreeMap<u64, Seen> = [(0, seen(3)), (6, seen(2))].into();
        let err = check_contiguous(Path::new("f"), &gap)
            .unwrap_err()
            .to_string();
        assert!(err.contains("gap at offset 4"), "{err}");
        let late: BTreeMap<u64, Seen> = [(2, seen(3))].into();
        assert!(check_contiguous(Path::new("f"), &late).is_err());
        let overlap: BTreeMap<u64, Seen> = [(0, seen(3)), (2, seen(2))].into();
        let err = check_contiguous(Path::new("f"), &overlap)
            .unwrap_err()
            .to_string();
        assert!(err.contains("overlaps"), "{err}");
    }
}
