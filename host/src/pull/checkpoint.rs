//! The poller's checkpoint: where the feed walk stands, which ids were
//! emitted recently, and how much of the output files is committed.
//!
//! The state file is replaced atomically (write a temporary file, fsync it,
//! rename it over the old one, fsync the directory), so that a crash leaves
//! either the old or the new checkpoint, never a torn one. It is written
//! only after the output it covers was flushed, so a restart re-reads (and
//! never skips) whatever was not committed. A lock file next to it keeps two
//! pollers off one checkpoint.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};

use super::time::Nanos;

/// Version of the state file's layout.
const STATE_VERSION: u32 = 1;

/// The persisted state of `claude-audit pull`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Layout version ([`STATE_VERSION`]).
    pub version: u32,
    /// Opaque `last_id` of the last committed page of the ascending walk;
    /// the next request passes it as `after_id`. `None`: start of the feed
    /// (or `start_time`).
    pub cursor: Option<String>,
    /// Newest `created_at` committed, in Unix nanoseconds: the overlap
    /// window is measured back from it.
    pub high_water: Option<Nanos>,
    /// Committed length of the `--output` file (none for stdout). Bytes
    /// past it were written by a run that died before committing; the next
    /// run cuts them off and fetches those activities again.
    pub output: Option<CommittedFile>,
    /// Committed length of the dead-letter file.
    pub dead_letter: Option<CommittedFile>,
    /// Committed length of the vault.
    pub vault: Option<CommittedFile>,
    /// Events committed to the evidence store (`--evidence`): on restart
    /// the store is cut back to this many.
    #[serde(default)]
    pub evidence: Option<u64>,
    /// Ids emitted (or dead-lettered) whose `created_at` is still inside
    /// the overlap window: `id -> created_at`.
    pub recent: RecentIds,
    /// The plugin's detection state as of this checkpoint (README,
    /// "Detections"), saved with the cursor so that an alert is raised once
    /// across a crash and re-read. Absent when detections are off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detections: Option<serde_json::Value>,
    /// Where the content walk stands (`[pull.content]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentCheckpoint>,
}

/// The content walk's position: the chat cursor (bound to
/// `order_by=updated_at`), a mark per recently updated chat, and the
/// project walk's position.
///
/// Bounded (README, "Conversation content"): at the end of each complete
/// forward walk, a chat's mark is kept only while its `updated_at` is
/// inside the overlap window behind `chats_high_water` (and at most
/// `pull.max_recent_ids` marks); an older mark is pruned and
/// `pruned_before` moves up to the window's start. Every chat created
/// before `pruned_before` has then been listed and committed once; one
/// without a mark was last committed when its `updated_at` was before
/// `pruned_before`, so when it is listed again only its messages created
/// from `pruned_before` on are new.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentCheckpoint {
    /// `last_id` of the last chat page whose chats were all committed.
    pub chats_cursor: Option<String>,
    /// Newest chat `updated_at` committed (Unix nanoseconds): the chat
    /// overlap window is measured back from it.
    #[serde(default)]
    pub chats_high_water: Option<Nanos>,
    /// Marks of chats updated before this (Unix nanoseconds) were pruned.
    #[serde(default)]
    pub pruned_before: Option<Nanos>,
    /// Per chat id: what of it is committed.
    pub chats: std::collections::BTreeMap<String, ChatMark>,
    /// Where the project walk stands (`families` with `projects`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<ProjectsCheckpoint>,
}

/// What of one chat is committed.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMark {
    /// Id of the last message written: the next `after_id`.
    pub last_message: Option<String>,
    /// Whether its soft-deletion event was written.
    #[serde(default)]
    pub deleted: bool,
    /// Whether its hard-deletion event was written (its messages answered
    /// 404 while the list still showed it).
    #[serde(default)]
    pub gone: bool,
    /// The chat's `updated_at` (Unix nanoseconds) when it was last fully
    /// committed: the same value listed again needs no request, and the
    /// mark is pruned by it.
    #[serde(default)]
    pub updated_at: Option<Nanos>,
}

impl ContentCheckpoint {
    /// Forget the marks of chats updated before the overlap window behind
    /// the high-water mark, then the oldest beyond `max`, moving
    /// `pruned_before` past every forgotten chat. Returns how many were
    /// forgotten because of `max`.
    pub fn prune(&mut self, overlap: Nanos, max: usize) -> usize {
        let Some(high_water) = self.chats_high_water else {
            return 0;
        };
        let mut floor = self
            .pruned_before
            .unwrap_or(Nanos::MIN)
            .max(high_water - overlap);
        let mut by_age: Vec<(Nanos, String)> = self
            .chats
            .iter()
            .filter_map(|(id, m)| m.updated_at.map(|t| (t, id.clone())))
            .collect();
        by_age.sort_unstable();
        let excess = self.chats.len().saturating_sub(max).min(by_age.len());
        if excess > 0 {
            floor = floor.max(by_age[excess - 1].0 + 1);
        }
        self.chats
            .retain(|_, m| m.updated_at.is_none_or(|t| t >= floor));
        self.pruned_before = Some(floor);
        excess
    }
}

/// The project walk's position. Projects are listed with page tokens
/// (SPEC §10: no sort key to bind a cursor to), so every walk lists them
/// all and reads the attachments of those updated since the last walk
/// (less the overlap); documents are de-duplicated by id inside the
/// overlap window behind the newest document committed, like activities.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectsCheckpoint {
    /// Newest project `updated_at` of the last complete walk.
    pub updated_high_water: Option<Nanos>,
    /// Newest document `created_at` committed by a complete walk.
    pub documents_high_water: Option<Nanos>,
    /// Documents committed inside the overlap window (and by the walk in
    /// progress): `id -> created_at`.
    pub recent: RecentIds,
}

impl Checkpoint {
    /// A fresh checkpoint for a first run.
    pub fn new() -> Self {
        Self {
            version: STATE_VERSION,
            ..Self::default()
        }
    }
}

/// A file and how many of its bytes are covered by the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommittedFile {
    /// Absolute path when committed.
    pub path: PathBuf,
    /// Durable length.
    pub bytes: u64,
}

impl CommittedFile {
    /// The committed length of `path`, if `committed` is about that file.
    /// Another path (the operator pointed the poller elsewhere) gives
    /// `None`: that file is only appended to, never cut.
    pub fn for_path(committed: Option<&Self>, path: &Path) -> Option<u64> {
        let path = std::path::absolute(path).ok()?;
        committed.filter(|c| c.path == path).map(|c| c.bytes)
    }
}

/// Recently emitted ids, bounded by time (the overlap window) and by count.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(from = "Vec<(String, Nanos)>", into = "Vec<(String, Nanos)>")]
pub struct RecentIds(HashMap<String, Nanos>);

impl RecentIds {
    /// Whether `id` was emitted recently.
    pub fn contains(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    /// Remember `id`.
    pub fn insert(&mut self, id: String, created_at: Nanos) {
        self.0.insert(id, created_at);
    }

    /// The newest `created_at` remembered.
    pub fn newest(&self) -> Option<Nanos> {
        self.0.values().max().copied()
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Forget ids created before `horizon`, then the oldest beyond `max`.
    /// Returns how many were forgotten because of `max` (a de-duplication
    /// gap the operator must hear about).
    pub fn prune(&mut self, horizon: Nanos, max: usize) -> usize {
        self.0.retain(|_, created| *created >= horizon);
        if self.0.len() <= max {
            return 0;
        }
        let mut by_age: Vec<(Nanos, String)> =
            self.0.iter().map(|(id, t)| (*t, id.clone())).collect();
        by_age.sort_unstable();
        let excess = self.0.len() - max;
        for (_, id) in by_age.into_iter().take(excess) {
            self.0.remove(&id);
        }
        excess
    }
}

impl From<Vec<(String, Nanos)>> for RecentIds {
    fn from(v: Vec<(String, Nanos)>) -> Self {
        Self(v.into_iter().collect())
    }
}

impl From<RecentIds> for Vec<(String, Nanos)> {
    fn from(r: RecentIds) -> Self {
        // Sorted, so that the file is stable and diffable.
        let mut v: Vec<_> = r.0.into_iter().collect();
        v.sort_unstable_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        v
    }
}

/// The state file, locked for this process.
pub struct StateFile {
    path: PathBuf,
    // Held for the lifetime of the poller; the kernel drops the lock when
    // the process dies, so a kill -9 never leaves a stale lock behind.
    _lock: File,
}

impl StateFile {
    /// Lock `path` (through `path.lock`) for this process.
    pub fn lock(path: &Path) -> Result<Self> {
        let lock_path = sibling(path, "lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening lock file {}", lock_path.display()))?;
        try_lock(&lock).with_context(|| {
            format!(
                "locking {}: is another `claude-audit pull` using state file {}?",
                lock_path.display(),
                path.display()
            )
        })?;
        Ok(Self {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    /// The saved checkpoint, or `None` when there is none yet.
    pub fn load(&self) -> Result<Option<Checkpoint>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading state file {}", self.path.display()));
            }
        };
        let checkpoint: Checkpoint = serde_json::from_str(&text).with_context(|| {
            format!(
                "parsing state file {} (restore it from a backup or remove it to start over \
                 from pull.start_time)",
                self.path.display()
            )
        })?;
        ensure!(
            checkpoint.version == STATE_VERSION,
            "state file {} has layout version {}, this claude-audit reads version {STATE_VERSION}",
            self.path.display(),
            checkpoint.version
        );
        Ok(Some(checkpoint))
    }

    /// Replace the state file with `checkpoint`, atomically and durably.
    pub fn save(&self, checkpoint: &Checkpoint) -> Result<()> {
        let context = || format!("writing state file {}", self.path.display());
        let mut bytes = serde_json::to_vec(checkpoint).with_context(context)?;
        bytes.push(b'\n');
        crate::output::replace_file(&self.path, &bytes).with_context(context)
    }
}

/// `state.json` -> `state.json.<suffix>`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(unix)]
fn try_lock(file: &File) -> Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        bail!("{}", std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let state = StateFile::lock(&path).unwrap();
        assert!(state.load().unwrap().is_none());
        let mut c = Checkpoint::new();
        c.cursor = Some("cur".into());
        c.recent.insert("a".into(), 5);
        state.save(&c).unwrap();
        let back = state.load().unwrap().unwrap();
        assert_eq!(back.cursor.as_deref(), Some("cur"));
        assert!(back.recent.contains("a"));
        assert!(StateFile::lock(&path).is_err(), "second lock must fail");
        drop(state);
        assert!(StateFile::lock(&path).is_ok());
    }

    #[test]
    fn chat_marks_prune_by_window_then_count_and_the_floor_covers_them() {
        let mut c = ContentCheckpoint::default();
        for (id, t) in [("a", 10), ("b", 50), ("c", 95), ("d", 100)] {
            let mark = ChatMark {
                updated_at: Some(t),
                ..ChatMark::default()
            };
            c.chats.insert(id.into(), mark);
        }
        c.chats.insert("legacy".into(), ChatMark::default());
        c.chats_high_water = Some(100);
        assert_eq!(c.prune(20, 10), 0);
        assert_eq!(c.pruned_before, Some(80));
        assert!(!c.chats.contains_key("b") && c.chats.contains_key("c"));
        // Over the count: the least recently updated go, the floor follows.
        assert_eq!(c.prune(20, 2), 1);
        assert_eq!(c.pruned_before, Some(96));
        let left: Vec<&str> = c.chats.keys().map(String::as_str).collect();
        assert_eq!(left, ["d", "legacy"]);
    }

    #[test]
    fn recent_ids_prune_by_time_then_count() {
        let mut r = RecentIds::default();
        for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
            r.insert((*id).into(), i as Nanos);
        }
        assert_eq!(r.prune(1, 10), 0);
        assert!(!r.contains("a") && r.contains("b"));
        assert_eq!(r.prune(0, 2), 1);
        assert!(!r.contains("b") && r.contains("c") && r.contains("d"));
    }
}
