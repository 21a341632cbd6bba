//! The evidence store's writer: appends events to segments and their leaf
//! hashes to the segment's index, keeps the Merkle tree's compact range,
//! makes everything durable on `sync`, and signs checkpoints.
//!
//! Crash safety: data is fsynced before any checkpoint (or `pull` state)
//! that covers it is written, and checkpoints are written atomically. On
//! open, the store is cut back to its last checkpoint (or to the size a
//! `pull` checkpoint committed, which is never smaller): whatever lies
//! beyond was written by a process that died before committing it, and
//! will be written again by the next run. So a kill -9 at any moment leaves
//! no gap and no duplicate.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::checkpoint::Checkpoint;
use super::layout::{self, Segment};
use super::merkle::{self, CompactRange, Hash};
use super::note::SignerKey;
use super::retention::{self, Record};
use super::runs::RunSummary;
use crate::pull::time::{format_rfc3339, now};

/// When checkpoints are made and segments rolled.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// A checkpoint once this many events are not yet covered by one.
    pub checkpoint_every: u64,
    /// A checkpoint once the oldest uncovered event is this old.
    pub checkpoint_interval: Duration,
    /// A new segment once the current one holds this many bytes.
    pub segment_bytes: u64,
}

/// A tree head that is durable on disk (not necessarily signed yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Leaves.
    pub size: u64,
    /// Root of those leaves.
    pub root: Hash,
}

/// The segment being appended to.
struct OpenSegment {
    segment: Segment,
    events: BufWriter<File>,
    index: BufWriter<File>,
    bytes: u64,
}

/// An evidence directory opened for appending (locked for this process).
pub struct Store {
    dir: PathBuf,
    key: SignerKey,
    options: StoreOptions,
    range: CompactRange,
    current: Option<OpenSegment>,
    /// `(sequence, size)` of the newest checkpoint.
    last_checkpoint: (u64, u64),
    /// When the first event not covered by a checkpoint was appended.
    uncovered_since: Option<Instant>,
    /// A new file was created since the last sync: fsync the directory.
    new_files: bool,
    _lock: File,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("size", &self.range.size())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Open (or create) the store in `dir`, signing with `key`. It resumes
    /// at its last checkpoint, or at `resume_to` leaves when a `pull`
    /// checkpoint committed more.
    pub fn open(
        dir: &Path,
        key: SignerKey,
        options: StoreOptions,
        resume_to: Option<u64>,
    ) -> Result<Self> {
        for sub in [layout::SEGMENTS, layout::CHECKPOINTS] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("creating evidence directory {}", dir.display()))?;
        }
        let lock = lock(dir)?;
        check_verifier_file(dir, &key)?;
        let (seq, checkpoint) = last_checkpoint(dir, &key)?;
        let target = resume_to.unwrap_or(checkpoint.size);
        ensure!(
            target >= checkpoint.size,
            "evidence store {}: the pull state (or, for serve, the events whole on disk) covers \
             {target} events, but the store's last checkpoint covers {}: the state file is older \
             than the store, or events were removed: run `claude-audit verify`",
            dir.display(),
            checkpoint.size
        );
        let (range, current) = resume(dir, &checkpoint, target)?;
        // Events recovered past the checkpoint (serve) are due in T.
        let uncovered_since = (range.size() > checkpoint.size).then(Instant::now);
        let mut store = Self {
            dir: dir.to_owned(),
            key,
            options,
            range,
            current,
            last_checkpoint: (seq, checkpoint.size),
            uncovered_since,
            new_files: false,
            _lock: lock,
        };
        if store.current.is_none() {
            store.roll()?;
        }
        Ok(store)
    }

    /// Leaves appended so far.
    pub fn size(&self) -> u64 {
        self.range.size()
    }

    /// Append one event (its NDJSON line, without the newline).
    pub fn append(&mut self, line: &[u8]) -> Result<()> {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.bytes >= self.options.segment_bytes)
        {
            self.roll()?;
        }
        let hash = merkle::leaf_hash(line);
        let Some(seg) = self.current.as_mut() else {
            bail!("evidence store has no open segment");
        };
        let context = || format!("appending to evidence segment {}", seg.segment.name());
        seg.events.write_all(line).with_context(context)?;
        seg.events.write_all(b"\n").with_context(context)?;
        seg.index.write_all(&hash).with_context(context)?;
        seg.bytes += line.len() as u64 + 1;
        self.range.push(hash);
        self.uncovered_since.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Append every line of `ndjson` (newline-terminated lines, as `serve`
    /// forwarded them), signing a checkpoint whenever one falls due, so
    /// that checkpoints fall every N events exactly, whatever the request
    /// size.
    pub fn append_ndjson(&mut self, ndjson: &[u8]) -> Result<()> {
        for line in ndjson.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            self.append(line)?;
            if self.checkpoint_due() {
                self.checkpoint()?;
            }
        }
        Ok(())
    }

    /// Make everything appended durable; returns the durable head.
    pub fn sync(&mut self) -> Result<Head> {
        if let Some(seg) = &mut self.current {
            sync_segment(seg)?;
        }
        if std::mem::take(&mut self.new_files) {
            layout::sync_dir(&self.dir.join(layout::SEGMENTS))?;
        }
        Ok(self.head())
    }

    /// The head now (durable after [`Self::sync`]).
    pub fn head(&self) -> Head {
        Head {
            size: self.range.size(),
            root: self.range.root(),
        }
    }

    /// Whether enough events, or enough time, passed since the last
    /// checkpoint.
    pub fn checkpoint_due(&self) -> bool {
        let uncovered = self.range.size() - self.last_checkpoint.1;
        uncovered >= self.options.checkpoint_every
            || (uncovered > 0
                && self
                    .uncovered_since
                    .is_some_and(|t| t.elapsed() >= self.options.checkpoint_interval))
    }

    /// Sync, then sign a checkpoint of the whole store (unless the last
    /// one already covers it).
    pub fn checkpoint(&mut self) -> Result<()> {
        let head = self.sync()?;
        self.checkpoint_head(head)
    }

    /// Sign a checkpoint of `head`, which must be durable (returned by
    /// [`Self::sync`]). Nothing happens when it is not newer than the last
    /// checkpoint; the very first checkpoint may be of the empty tree.
    pub fn checkpoint_head(&mut self, head: Head) -> Result<()> {
        let (seq, size) = self.last_checkpoint;
        if head.size < size || (head.size == size && seq > 0) {
            return Ok(());
        }
        let checkpoint = Checkpoint {
            origin: self.key.name().to_owned(),
            size: head.size,
            root: head.root,
        };
        let note = checkpoint.sign(&self.key)?;
        layout::write_atomic(
            &layout::checkpoint_path(&self.dir, seq + 1),
            note.as_bytes(),
        )?;
        self.last_checkpoint = (seq + 1, head.size);
        if head.size == self.range.size() {
            self.uncovered_since = None;
        }
        Ok(())
    }

    /// Sign a checkpoint of the whole store, then append the signed
    /// summary of the run that wrote `summary.leaves_from..` (its
    /// `leaves_to` and `finished` are filled in here).
    pub fn finish_run(&mut self, mut summary: RunSummary) -> Result<()> {
        self.checkpoint()?;
        summary.leaves_to = self.size();
        summary.finished = format_rfc3339(now());
        retention::append_record(&self.dir, &self.key, &Record::RunSummary(summary))
    }

    /// The start of a run's summary: the command, now, the current size.
    pub fn start_run(&self, command: &str) -> RunSummary {
        RunSummary {
            command: command.to_owned(),
            started: format_rfc3339(now()),
            leaves_from: self.size(),
            ..RunSummary::default()
        }
    }

    /// Close the current segment (synced) and start a new one at the
    /// current size.
    fn roll(&mut self) -> Result<()> {
        if let Some(mut seg) = self.current.take() {
            sync_segment(&mut seg)?;
        }
        let segment = Segment::at(&self.dir, self.range.size());
        self.current = Some(open_segment(segment, 0)?);
        self.new_files = true;
        Ok(())
    }
}

fn sync_segment(seg: &mut OpenSegment) -> Result<()> {
    let context = || format!("syncing evidence segment {}", seg.segment.name());
    seg.events.flush().with_context(context)?;
    seg.index.flush().with_context(context)?;
    seg.events.get_ref().sync_data().with_context(context)?;
    seg.index.get_ref().sync_data().with_context(context)
}

fn open_segment(segment: Segment, bytes: u64) -> Result<OpenSegment> {
    let events = crate::output::append_committed(&segment.events, None, "evidence segment")?;
    let index = crate::output::append_committed(&segment.index, None, "evidence index")?;
    Ok(OpenSegment {
        events: BufWriter::with_capacity(crate::output::IO_BUFFER_BYTES, events),
        index: BufWriter::with_capacity(64 << 10, index),
        segment,
        bytes,
    })
}

/// The store's verifier key file must match `key`; a new store gets one.
fn check_verifier_file(dir: &Path, key: &SignerKey) -> Result<()> {
    let path = dir.join(layout::VERIFIER_FILE);
    let ours = key.verifier().to_text();
    match std::fs::read_to_string(&path) {
        Ok(text) => ensure!(
            text.trim() == ours,
            "evidence store {} is signed by {}, not by the key given ({}): use the store's key \
             or another directory",
            dir.display(),
            text.trim()
                .rsplit_once('+')
                .map_or(text.trim(), |(label, _)| label),
            key.verifier().label()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            layout::write_atomic(&path, format!("{ours}\n").as_bytes())?;
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    Ok(())
}

/// `(sequence, checkpoint)` of the newest checkpoint, checked with the
/// key; `(0, empty tree)` when there is none.
fn last_checkpoint(dir: &Path, key: &SignerKey) -> Result<(u64, Checkpoint)> {
    let Some(&seq) = layout::checkpoints(dir)?.last() else {
        let empty = Checkpoint {
            origin: key.name().to_owned(),
            size: 0,
            root: merkle::empty_root(),
        };
        return Ok((0, empty));
    };
    let path = layout::checkpoint_path(dir, seq);
    let note = std::fs::read_to_string(&path)
        .with_context(|| format!("reading checkpoint {}", path.display()))?;
    let checkpoint = Checkpoint::open(&note, &key.verifier()).with_context(|| {
        format!(
            "checkpoint {} does not verify: run `claude-audit verify`",
            path.display()
        )
    })?;
    Ok((seq, checkpoint))
}

/// Rebuild the compact range from the leaf-hash indexes up to `target`
/// leaves, check it against `checkpoint`, and cut everything beyond.
fn resume(
    dir: &Path,
    checkpoint: &Checkpoint,
    target: u64,
) -> Result<(CompactRange, Option<OpenSegment>)> {
    let mut range = CompactRange::default();
    let mut open = None;
    let mut segments = layout::segments(dir)?.into_iter();
    for segment in segments.by_ref() {
        ensure!(
            segment.first == range.size(),
            "evidence store {}: {} starts at leaf {}, expected {}: run `claude-audit verify`",
            dir.display(),
            segment.name(),
            segment.first,
            range.size()
        );
        let hashes = read_index(&segment.index)?;
        let take = hashes.len().min((target - segment.first) as usize);
        for hash in &hashes[..take] {
            if range.size() == checkpoint.size {
                check_root(dir, &range, checkpoint)?;
            }
            range.push(*hash);
        }
        if range.size() == target {
            open = Some((segment, take as u64));
            break;
        }
    }
    // Segments past the cut hold only uncommitted events. Every step below
    // leaves a store that verifies if this process is killed right after
    // it: the newest segment goes first, and of each segment its index
    // before its events (lines that no index lists, past every checkpoint,
    // are an uncovered tail; index entries without their lines would be
    // damage).
    let later: Vec<Segment> = segments.collect();
    for segment in later.iter().rev() {
        for path in [&segment.index, &segment.events] {
            remove_if_present(path)?;
        }
    }
    if !later.is_empty() {
        layout::sync_dir(&dir.join(layout::SEGMENTS))?;
    }
    let open = open
        .map(|(segment, keep)| cut_segment(segment, keep))
        .transpose()?;
    ensure!(
        range.size() == target,
        "evidence store {} holds {} events, but its last checkpoint (or the pull state) \
         covers {target}: events are missing; run `claude-audit verify`",
        dir.display(),
        range.size()
    );
    if range.size() == checkpoint.size {
        check_root(dir, &range, checkpoint)?;
    }
    Ok((range, open))
}

fn check_root(dir: &Path, range: &CompactRange, checkpoint: &Checkpoint) -> Result<()> {
    ensure!(
        range.root() == checkpoint.root,
        "evidence store {}: the leaf hashes do not match the last checkpoint (size {}): \
         run `claude-audit verify`",
        dir.display(),
        checkpoint.size
    );
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing uncommitted {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// All whole 32-byte entries of an index file (a torn last entry, from a
/// crash, is ignored: it lies past any commit).
fn read_index(path: &Path) -> Result<Vec<Hash>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => f
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    Ok(bytes
        .chunks_exact(32)
        .map(|c| Hash::try_from(c).unwrap_or_default())
        .collect())
}

/// Cut `segment` back to its first `keep` events and open it for appending.
fn cut_segment(segment: Segment, keep: u64) -> Result<OpenSegment> {
    let data = match std::fs::read(&segment.events) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", segment.name())),
    };
    let bytes = match keep {
        0 => 0,
        _ => memchr::memchr_iter(b'\n', &data)
            .nth(keep as usize - 1)
            .map(|at| at as u64 + 1)
            .with_context(|| {
                format!(
                    "evidence segment {} holds fewer than the {keep} events its index lists: \
                     run `claude-audit verify`",
                    segment.name()
                )
            })?,
    };
    // The index first, for the reason given in `resume`.
    for (path, len) in [(&segment.index, keep * 32), (&segment.events, bytes)] {
        let file = crate::output::append_committed(path, None, "evidence segment")?;
        let had = file.metadata().map(|m| m.len()).unwrap_or(len);
        if had > len {
            file.set_len(len)
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cutting uncommitted data off {}", path.display()))?;
            if path == &segment.events {
                eprintln!(
                    "claude-audit: evidence: removed {} bytes written after the last commit \
                     from {} (they will be written again)",
                    had - len,
                    segment.name()
                );
            }
        }
    }
    open_segment(segment, bytes)
}

/// Lock the store for this process (`DIR/.lock`, released by the kernel
/// when the process dies).
pub fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        ensure!(
            rc == 0,
            "evidence store {} is in use by another claude-audit process ({})",
            dir.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(file)
}
