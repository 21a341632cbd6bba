//! `verify`: re-derives everything in an evidence directory from the
//! events and checks it against the signed checkpoints.
//!
//! Order of checks, and what each failure means:
//! 1. checkpoints: numbered 1..=k without a gap (a gap is a removed
//!    checkpoint), each signed by the verifier key, origin = key name, and
//!    tree sizes strictly increasing (a smaller or equal size is a
//!    rollback);
//! 2. segments: contiguous (each starts at the leaf the previous one
//!    ended), every line ends with a newline (else: truncated), and the
//!    leaf hash of every line equals its entry in the segment's index (else
//!    the first bad record is named, and classified by looking at its
//!    neighbours: altered, deleted, inserted, duplicated or reordered);
//! 3. the Merkle root of the index hashes at each checkpoint's size equals
//!    the checkpoint's root: this proves the index itself (and so every
//!    line) and the consistency of every checkpoint with every other one
//!    (each is a prefix of the same leaf sequence), which is what an RFC
//!    6962 consistency proof shows without the data;
//! 4. and, as a third party would check it: the RFC 9162 §2.1.4
//!    consistency proof between every two successive checkpoints is
//!    computed from the leaf hashes and verified against their signed
//!    roots alone;
//! 5. the store holds at least the last checkpoint's size; events beyond it
//!    are an uncovered tail (a crash before the checkpoint, or a removed
//!    last checkpoint: compare with a checkpoint kept elsewhere).
//!
//! Memory: one segment at a time (bounded by the segment size) plus the
//! O(log n) compact range; the consistency proofs use a tree holding 64
//! bytes per 1,024 leaves (the rest is read from the index files).

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};

use super::checkpoint::Checkpoint;
use super::consistency;
use super::layout::{self, Segment};
use super::leaves;
use super::merkle::{self, CompactRange, Hash};
use super::note::VerifierKey;
use super::retention;

/// Where and what the first problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// A file in the store (`segments/…ndjson`, `checkpoints/…`).
    pub file: String,
    /// One-based line in that file, for records.
    pub line: Option<u64>,
    /// Leaf index, for records.
    pub leaf: Option<u64>,
    /// The record's `event_id`, when readable.
    pub event_id: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(leaf) = self.leaf {
            write!(f, " (leaf {leaf}")?;
            if let Some(id) = &self.event_id {
                write!(f, ", event_id {id}")?;
            }
            write!(f, ")")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// What a successful (or tail-only) verification found.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    /// Events (leaves) in the store.
    pub leaves: u64,
    /// Of which their content was removed by retention (hash kept).
    pub retention_removed: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes of segment data hashed.
    pub bytes: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// The newest checkpoint.
    pub last: Option<Checkpoint>,
    /// Leaves after the newest checkpoint (covered by none).
    pub uncovered_tail: u64,
    /// The store's last line was cut by a crash (no newline), past the
    /// newest checkpoint: a record that was never acknowledged, which the
    /// next run, pull or serve cuts away before appending. Anywhere else a
    /// cut line is a failure.
    pub torn_tail: bool,
}

/// The outcome: verified, or the first failure.
pub type Outcome = std::result::Result<Verified, Failure>;

/// Verify the store in `dir` with `key`. `Err` is an I/O problem (the
/// store cannot be read); `Ok(Err(failure))` is evidence that does not
/// verify.
pub fn verify_store(dir: &Path, key: &VerifierKey) -> Result<Outcome> {
    let checkpoints = match load_checkpoints(dir, key)? {
        Ok(c) => c,
        Err(failure) => return Ok(Err(failure)),
    };
    let removed = match retention::load_records(dir, key) {
        Ok(records) => retention::removed_leaves(&records),
        Err(e) => {
            return Ok(Err(Failure {
                file: retention::RECORDS.to_owned(),
                line: None,
                leaf: None,
                event_id: None,
                problem: format!("{e:#}"),
            }));
        }
    };
    let mut walk = Walk {
        checkpoints: &checkpoints,
        removed: &removed,
        next: 0,
        range: CompactRange::default(),
        verified: Verified {
            checkpoints: checkpoints.len() as u64,
            last: checkpoints.last().map(|(_, c)| c.clone()),
            ..Verified::default()
        },
    };
    let segments = layout::segments(dir)?;
    let count = segments.len();
    for (i, segment) in segments.into_iter().enumerate() {
        if let Err(failure) = walk.segment(&segment, i + 1 == count)? {
            return Ok(Err(failure));
        }
    }
    let verified = match walk.finish() {
        Ok(verified) => verified,
        Err(failure) => return Ok(Err(failure)),
    };
    Ok(check_consistency(dir, &checkpoints)?.map(|()| verified))
}

/// RFC 9162 §2.1.4: compute the consistency proof between every two
/// successive checkpoints from the (now verified) leaf hashes, and verify
/// it against their signed roots, as a third party holding only the
/// checkpoints and the proofs would (`prove --consistency`).
fn check_consistency(
    dir: &Path,
    checkpoints: &[(u64, Checkpoint)],
) -> Result<std::result::Result<(), Failure>> {
    let Some((_, newest)) = checkpoints.last() else {
        return Ok(Ok(()));
    };
    let tree = leaves::tree(dir, newest.size)?;
    for pair in checkpoints.windows(2) {
        let ((_, old), (seq, new)) = (&pair[0], &pair[1]);
        if let Err(e) = consistency::proof_between(&tree, old, new) {
            return Ok(Err(checkpoint_failure(*seq, format!("{e:#}"))));
        }
    }
    Ok(Ok(()))
}

/// Read and check every checkpoint: `(sequence, checkpoint)`.
fn load_checkpoints(
    dir: &Path,
    key: &VerifierKey,
) -> Result<std::result::Result<Vec<(u64, Checkpoint)>, Failure>> {
    let mut out: Vec<(u64, Checkpoint)> = Vec::new();
    for (i, seq) in layout::checkpoints(dir)?.into_iter().enumerate() {
        let path = layout::checkpoint_path(dir, seq);
        let file = format!("{}/{}", layout::CHECKPOINTS, file_name(&path));
        let fail = |problem: String| Failure {
            file: file.clone(),
            line: None,
            leaf: None,
            event_id: None,
            problem,
        };
        if seq != i as u64 + 1 {
            return Ok(Err(fail(format!(
                "checkpoint {} is missing (removed): the sequence jumps from {} to {seq}",
                i + 1,
                i
            ))));
        }
        let note = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let checkpoint = match Checkpoint::open(&note, key) {
            Ok(c) => c,
            Err(e) => return Ok(Err(fail(format!("{e:#}")))),
        };
        if let Some((_, prev)) = out.last()
            && checkpoint.size <= prev.size
        {
            return Ok(Err(fail(format!(
                "rolled back: tree size {} is not larger than {} of checkpoint {}",
                checkpoint.size,
                prev.size,
                seq - 1
            ))));
        }
        out.push((seq, checkpoint));
    }
    Ok(Ok(out))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The walk over the leaves, in order.
struct Walk<'c> {
    checkpoints: &'c [(u64, Checkpoint)],
    /// Leaves that signed retention records removed.
    removed: &'c std::collections::BTreeSet<u64>,
    /// Index of the next checkpoint to reach.
    next: usize,
    range: CompactRange,
    verified: Verified,
}

impl Walk<'_> {
    /// Walk one segment's records; `last`: it is the store's last segment.
    fn segment(
        &mut self,
        segment: &Segment,
        last: bool,
    ) -> Result<std::result::Result<(), Failure>> {
        let name = segment.name();
        let at = |line: Option<u64>, leaf: Option<u64>, problem: String| Failure {
            file: name.clone(),
            line,
            leaf,
            event_id: None,
            problem,
        };
        if segment.first != self.range.size() {
            let problem = if segment.first > self.range.size() {
                format!(
                    "starts at leaf {}, but the previous segments end at leaf {}: records {}..{} \
                     are missing (a segment was removed)",
                    segment.first,
                    self.range.size(),
                    self.range.size(),
                    segment.first
                )
            } else {
                format!(
                    "starts at leaf {}, inside the previous segment (which ends at leaf {}): an \
                     inserted or renamed segment",
                    segment.first,
                    self.range.size()
                )
            };
            return Ok(Err(at(None, None, problem)));
        }
        let data = read_or_empty(&segment.events)?;
        let index = read_or_empty(&segment.index)?;
        self.verified.segments += 1;
        self.verified.bytes += data.len() as u64;
        let hashes: Vec<Hash> = index
            .chunks(32)
            .map(|c| Hash::try_from(c).unwrap_or_default())
            .collect();
        let mut lines = split_lines(&data);
        let cut = lines.last().is_some_and(|(_, complete)| !complete);
        // The leaf the cut line would be; torn only when no checkpoint
        // covers it (a checkpoint is signed after its leaves are synced, so
        // a covered line is whole on disk; one still cut was truncated).
        let cut_leaf = segment.first + lines.len() as u64 - 1;
        if cut && last && cut_leaf >= self.covered() && lines.len() > hashes.len() {
            // A crash in the middle of appending, past every checkpoint
            // and before the record was indexed: not part of the log.
            lines.pop();
            self.verified.torn_tail = true;
        } else if cut {
            let n = lines.len() as u64;
            return Ok(Err(at(
                Some(n),
                Some(segment.first + n - 1),
                "truncated: the last record has no newline (the segment was cut)".into(),
            )));
        }
        for (i, (line, _)) in lines.iter().enumerate() {
            let leaf = segment.first + i as u64;
            let Some(expected) = hashes.get(i) else {
                if self.next >= self.checkpoints.len() {
                    // Past the last checkpoint: a crash between appending
                    // the line and indexing it. Like any record beyond the
                    // last checkpoint, it is counted as the uncovered tail
                    // (no signature vouches for it), not as tampering.
                    if let Err(f) = self.push(merkle::leaf_hash(line)) {
                        return Ok(Err(f));
                    }
                    continue;
                }
                return Ok(Err(record_failure(
                    &name,
                    i,
                    leaf,
                    line,
                    format!(
                        "not in the segment's index (which lists {} records): an inserted record",
                        hashes.len()
                    ),
                )));
            };
            let hash = merkle::leaf_hash(line);
            if hash != *expected {
                let tombstone = retention::tombstone_hash(line);
                if tombstone == Some(*expected) && self.removed.contains(&leaf) {
                    self.verified.retention_removed += 1;
                } else if tombstone == Some(*expected) {
                    return Ok(Err(record_failure(
                        &name,
                        i,
                        leaf,
                        line,
                        "removed without a signed retention record".into(),
                    )));
                } else {
                    let problem = diagnose(&lines, &hashes, i, &hash);
                    return Ok(Err(record_failure(&name, i, leaf, line, problem)));
                }
            }
            if let Err(f) = self.push(*expected) {
                return Ok(Err(f));
            }
        }
        if hashes.len() > lines.len() || index.len() % 32 != 0 {
            let n = lines.len() as u64;
            return Ok(Err(at(
                Some(n + 1),
                Some(segment.first + n),
                format!(
                    "missing: the index lists {} records, the segment holds {n} (records \
                     deleted from its end, or the segment truncated)",
                    hashes.len()
                ),
            )));
        }
        Ok(Ok(()))
    }

    /// Leaves the newest checkpoint covers.
    fn covered(&self) -> u64 {
        self.checkpoints.last().map_or(0, |(_, c)| c.size)
    }

    /// Add one leaf; check a checkpoint when its size is reached.
    fn push(&mut self, hash: Hash) -> std::result::Result<(), Failure> {
        self.range.push(hash);
        self.verified.leaves += 1;
        while let Some((seq, checkpoint)) = self.checkpoints.get(self.next) {
            if checkpoint.size > self.range.size() {
                break;
            }
            if checkpoint.size == self.range.size() && self.range.root() != checkpoint.root {
                return Err(checkpoint_failure(
                    *seq,
                    format!(
                        "its root does not match the leaves 0..{}: the records and the index \
                         were altered together, or the checkpoint was replaced",
                        checkpoint.size
                    ),
                ));
            }
            self.next += 1;
        }
        Ok(())
    }

    fn finish(mut self) -> Outcome {
        // A checkpoint of the empty tree is checked here.
        if let Some((seq, c)) = self.checkpoints.get(self.next)
            && c.size == 0
        {
            if self.range.root() != c.root {
                return Err(checkpoint_failure(
                    *seq,
                    "root of the empty tree is wrong".into(),
                ));
            }
            self.next += 1;
        }
        if let Some((seq, c)) = self.checkpoints.get(self.next) {
            return Err(checkpoint_failure(
                *seq,
                format!(
                    "covers {} records, the store holds only {}: records were deleted or a \
                     segment truncated",
                    c.size,
                    self.range.size()
                ),
            ));
        }
        let covered = self.verified.last.as_ref().map_or(0, |c| c.size);
        self.verified.uncovered_tail = self.range.size() - covered;
        Ok(self.verified)
    }
}

fn checkpoint_failure(seq: u64, problem: String) -> Failure {
    Failure {
        file: format!("{}/{seq:010}.checkpoint", layout::CHECKPOINTS),
        line: None,
        leaf: None,
        event_id: None,
        problem,
    }
}

fn record_failure(file: &str, i: usize, leaf: u64, line: &[u8], problem: String) -> Failure {
    Failure {
        file: file.to_owned(),
        line: Some(i as u64 + 1),
        leaf: Some(leaf),
        event_id: event_id(line),
        problem,
    }
}

/// Why line `i` does not match its index entry, from its neighbours.
fn diagnose(lines: &[(&[u8], bool)], hashes: &[Hash], i: usize, hash: &Hash) -> String {
    let next_hash = lines.get(i + 1).map(|(l, _)| merkle::leaf_hash(l));
    let at = |j: usize| hashes.get(j);
    if i > 0 && at(i - 1) == Some(hash) {
        return format!("duplicated: repeats the record of leaf {}", i - 1);
    }
    if at(i + 1) == Some(hash) && next_hash.as_ref() == at(i) {
        return format!(
            "reordered: this record and the next are swapped (leaves {i} and {})",
            i + 1
        );
    }
    if at(i + 1) == Some(hash) {
        return "missing: the record of this leaf was deleted (this line holds the next leaf)"
            .into();
    }
    if next_hash.as_ref() == at(i) {
        return "inserted: this record is not in the index (the next line holds this leaf)".into();
    }
    let window = i.saturating_sub(64)..(i + 64).min(hashes.len());
    if let Some(j) = window.clone().find(|&j| at(j) == Some(hash)) {
        return format!("reordered: this line holds the record of leaf {j}");
    }
    "altered: the record's hash does not match its leaf hash (a changed byte)".into()
}

/// `(line without newline, had a newline)` for every line of `data`.
fn split_lines(data: &[u8]) -> Vec<(&[u8], bool)> {
    let mut out = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', data) {
        out.push((&data[start..end], true));
        start = end + 1;
    }
    if start < data.len() {
        out.push((&data[start..], false));
    }
    out
}

/// The `event_id` of a record, when it is JSON with one.
pub fn event_id(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        event_id: String,
    }
    serde_json::from_slice::<Id>(line).ok().map(|i| i.event_id)
}

fn read_or_empty(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(data) => Ok(data),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::note::SignerKey;
    use crate::evidence::store::{Store, StoreOptions};
    use std::time::Duration;

    fn options() -> StoreOptions {
        StoreOptions {
            checkpoint_every: 10,
            checkpoint_interval: Duration::from_secs(3600),
            segment_bytes: 200,
        }
    }

    fn append(store: &mut Store, from: u64, to: u64) {
        for i in from..to {
            store
                .append(format!("{{\"event_id\":\"e{i}\"}}").as_bytes())
                .unwrap();
            if store.checkpoint_due() {
                store.checkpoint().unwrap();
            }
        }
    }

    /// A new store with `leaves` events appended and synced (not closed by
    /// a checkpoint, as after a crash): its directory, verifier key, and
    /// signing key as text (to reopen it).
    fn written(options: StoreOptions, leaves: u64) -> (tempfile::TempDir, VerifierKey, String) {
        let dir = tempfile::tempdir().unwrap();
        let key = SignerKey::generate("test.example/log").unwrap();
        let (vkey, text) = (key.verifier(), key.to_text());
        let mut store = Store::open(dir.path(), key, options, None).unwrap();
        append(&mut store, 0, leaves);
        store.sync().unwrap();
        (dir, vkey, text)
    }

    fn reopen(dir: &Path, key: &str) -> Store {
        Store::open(dir, SignerKey::parse(key).unwrap(), options(), None).unwrap()
    }

    #[test]
    fn written_store_verifies_and_resumes_at_its_checkpoint() {
        let (dir, vkey, text) = written(options(), 25);
        // 20 covered by checkpoints, 5 uncovered (as after a crash).
        let v = verify_store(dir.path(), &vkey).unwrap().unwrap();
        assert_eq!((v.leaves, v.uncovered_tail, v.checkpoints), (25, 5, 2));
        assert!(v.segments > 1, "small segments roll");
        let mut store = reopen(dir.path(), &text);
        assert_eq!(store.size(), 20, "cut back to the checkpoint");
        append(&mut store, 20, 33);
        store.checkpoint().unwrap();
        drop(store);
        let v = verify_store(dir.path(), &vkey).unwrap().unwrap();
        assert_eq!((v.leaves, v.uncovered_tail), (33, 0));
    }

    #[test]
    fn a_line_appended_but_not_yet_indexed_after_the_last_checkpoint_is_tail() {
        let (dir, vkey, text) = written(options(), 20);
        // A kill -9 between the segment write and the index write.
        append_to_last_segment(dir.path(), b"{\"event_id\":\"e20\"}\n");
        let v = verify_store(dir.path(), &vkey).unwrap().unwrap();
        assert_eq!((v.leaves, v.uncovered_tail), (21, 1));
        // Resuming cuts it back to the checkpoint.
        let store = reopen(dir.path(), &text);
        assert_eq!(store.size(), 20);
    }

    /// A store whose last segment gained, after the last checkpoint, a
    /// whole line and a cut one: what a kill -9 leaves when the write
    /// buffer was flushed mid-line.
    fn cut_after_checkpoint(
        checkpoint_every: u64,
        appended: u64,
    ) -> (tempfile::TempDir, VerifierKey) {
        let options = StoreOptions {
            checkpoint_every,
            segment_bytes: 1 << 20,
            ..options()
        };
        let (dir, vkey, _) = written(options, appended);
        append_to_last_segment(dir.path(), b"{\"event_id\":\"x\"}\n{\"event_i");
        (dir, vkey)
    }

    /// Write `bytes` at the end of the last segment's events only (its
    /// index untouched), as a crash between the two writes leaves it.
    fn append_to_last_segment(dir: &Path, bytes: &[u8]) {
        let last = layout::segments(dir).unwrap().pop().unwrap();
        let mut events = std::fs::OpenOptions::new()
            .append(true)
            .open(&last.events)
            .unwrap();
        std::io::Write::write_all(&mut events, bytes).unwrap();
    }

    #[test]
    fn a_cut_line_past_a_checkpoint_inside_the_last_segment_is_a_torn_tail() {
        // One segment: a checkpoint at 10 inside it, 3 indexed leaves past
        // it, then a whole unindexed line and a cut one.
        let (dir, vkey) = cut_after_checkpoint(10, 13);
        let v = verify_store(dir.path(), &vkey).unwrap().unwrap();
        assert!(v.torn_tail);
        assert_eq!((v.leaves, v.uncovered_tail), (14, 4));
    }

    #[test]
    fn a_cut_line_that_a_checkpoint_covers_is_truncation() {
        let (dir, vkey) = cut_after_checkpoint(10, 13);
        // Cut inside the fifth line, which the checkpoint at 10 covers.
        let segment = layout::segments(dir.path()).unwrap().pop().unwrap();
        let data = std::fs::read(&segment.events).unwrap();
        let fifth_end = memchr::memchr_iter(b'\n', &data).nth(4).unwrap();
        std::fs::write(&segment.events, &data[..fifth_end - 3]).unwrap();
        let failure = verify_store(dir.path(), &vkey).unwrap().unwrap_err();
        assert_eq!(failure.leaf, Some(4), "{}", failure.problem);
        assert!(
            failure.problem.starts_with("truncated"),
            "{}",
            failure.problem
        );
    }

    #[test]
    fn a_new_segment_whose_index_was_not_yet_created_verifies() {
        let (dir, vkey, text) = written(options(), 20);
        // A kill -9 after the next segment's events file was created and
        // before its index was.
        let next = layout::Segment::at(dir.path(), 20);
        std::fs::write(&next.events, b"").unwrap();
        assert!(!next.index.exists());
        let v = verify_store(dir.path(), &vkey).unwrap().unwrap();
        assert_eq!((v.leaves, v.uncovered_tail), (20, 0));
        let mut store = reopen(dir.path(), &text);
        append(&mut store, 20, 25);
        store.checkpoint().unwrap();
        drop(store);
        let v = verify_store(dir.path(), &vkey).unwrap().unwrap();
        assert_eq!((v.leaves, v.uncovered_tail), (25, 0));
    }
}
