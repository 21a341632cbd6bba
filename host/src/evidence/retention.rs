//! Retention and legal holds.
//!
//! `retention apply` replaces the content of every event whose
//! `retention_state.retain_until` has passed, and that no legal hold
//! covers, by a tombstone line that keeps its leaf hash, so that the tree
//! still verifies and `verify` reports the leaf as removed by retention
//! rather than tampered with:
//! `{"event_id":"…","retention_removed":{"leaf_hash":"<64 hex>"}}`.
//!
//! Every action is a signed record in `DIR/records/<seq>.record`: a signed
//! note whose text is `claude-audit-record/1\n<one-line JSON>\n`. Kinds:
//! `legal_hold_placed` (`hold_id`, `event_ids`, `user_id`,
//! `organization_id`, `reason`), `legal_hold_lifted` (`hold_id`, `reason`),
//! `retention_applied` (`now`, `policy`, `removed`: `[leaf, event_id]`
//! pairs, `kept_by_hold`); `run_summary` ([`super::runs::RunSummary`]). The removal record is written *before* the
//! segments are rewritten, so a tombstone without a signed record is
//! tampering, and a crash in between leaves records that a second `apply`
//! completes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};

use super::layout;
use super::merkle::{self, Hash};
use super::note::{SignerKey, VerifierKey};
use super::runs::RunSummary;
use crate::pull::time::{Nanos, format_rfc3339, parse_rfc3339};

/// Directory of records.
pub const RECORDS: &str = "records";
/// First line of a record note.
const RECORD_TITLE: &str = "claude-audit-record/1";
/// The retention policy `apply` enforces, named in its records.
const POLICY: &str = "retention_state.retain_until passed and retention_state.legal_hold false \
                      and no active legal hold";

/// The leaf hash a tombstone line keeps, when `line` is one.
pub fn tombstone_hash(line: &[u8]) -> Option<Hash> {
    #[derive(Deserialize)]
    struct Tombstone {
        retention_removed: Removed,
    }
    #[derive(Deserialize)]
    struct Removed {
        leaf_hash: String,
    }
    // Every line of a store passes here (report, restore, recovery): a
    // line without the key cannot be a tombstone, and skipping the parse
    // halves the report's JSON work. A line with the key is still parsed.
    memchr::memmem::find(line, b"\"retention_removed\"")?;
    let t: Tombstone = serde_json::from_slice(line).ok()?;
    let bytes = hex::decode(t.retention_removed.leaf_hash).ok()?;
    Hash::try_from(bytes).ok()
}

/// One signed record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Record {
    /// A legal hold was placed.
    LegalHoldPlaced {
        /// Hold id.
        hold_id: String,
        /// Events held by id.
        #[serde(default)]
        event_ids: Vec<String>,
        /// Events of this user (`user_id` or `actor.id`) are held.
        #[serde(default)]
        user_id: Option<String>,
        /// Events of this organization are held.
        #[serde(default)]
        organization_id: Option<String>,
        /// Why.
        reason: String,
        /// When (RFC 3339).
        at: String,
    },
    /// A legal hold was lifted.
    LegalHoldLifted {
        /// Hold id.
        hold_id: String,
        /// Why.
        reason: String,
        /// When.
        at: String,
    },
    /// Retention removed the content of events.
    RetentionApplied {
        /// The time retention was evaluated at.
        now: String,
        /// The policy applied.
        policy: String,
        /// `(leaf, event_id)` of every event removed.
        removed: Vec<(u64, String)>,
        /// Events past retention kept because of a legal hold.
        kept_by_hold: u64,
        /// When.
        at: String,
    },
    /// A command that wrote to the store finished ([`super::runs`]).
    RunSummary(RunSummary),
}

/// Every record of `dir`, checked with `key`, in order.
pub fn load_records(dir: &Path, key: &VerifierKey) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for (i, path) in record_paths(dir)?.iter().enumerate() {
        let note =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let name = format!("{RECORDS}/{:010}.record", i + 1);
        ensure!(
            path.ends_with(&name),
            "record {} is missing (removed): found {}",
            i + 1,
            path.display()
        );
        let text = key.open(&note).with_context(|| format!("record {name}"))?;
        let json = text
            .strip_prefix(RECORD_TITLE)
            .and_then(|t| t.strip_prefix('\n'))
            .with_context(|| format!("{name} is not a claude-audit record"))?;
        out.push(serde_json::from_str(json.trim_end()).with_context(|| format!("parsing {name}"))?);
    }
    Ok(out)
}

fn record_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    match std::fs::read_dir(dir.join(RECORDS)) {
        Ok(entries) => {
            for e in entries {
                let path = e.context("listing records")?.path();
                if path.extension().is_some_and(|x| x == "record") {
                    paths.push(path);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context("listing records"),
    }
    paths.sort();
    Ok(paths)
}

/// Sign and append `record` to `dir`.
pub fn append_record(dir: &Path, key: &SignerKey, record: &Record) -> Result<()> {
    std::fs::create_dir_all(dir.join(RECORDS)).context("creating the records directory")?;
    let seq = record_paths(dir)?.len() + 1;
    let json = serde_json::to_string(record)?;
    let note = key.sign(&format!("{RECORD_TITLE}\n{json}\n"))?;
    let path = dir.join(RECORDS).join(format!("{seq:010}.record"));
    layout::write_atomic(&path, note.as_bytes())
}

/// Leaves that signed retention records list as removed.
pub fn removed_leaves(records: &[Record]) -> BTreeSet<u64> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::RetentionApplied { removed, .. } => Some(removed.iter().map(|(l, _)| *l)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The holds in force after `records`.
fn active_holds(records: &[Record]) -> Vec<&Record> {
    let mut holds: BTreeMap<&str, &Record> = BTreeMap::new();
    for r in records {
        match r {
            Record::LegalHoldPlaced { hold_id, .. } => {
                holds.insert(hold_id, r);
            }
            Record::LegalHoldLifted { hold_id, .. } => {
                holds.remove(hold_id.as_str());
            }
            Record::RetentionApplied { .. } | Record::RunSummary(_) => {}
        }
    }
    holds.into_values().collect()
}

/// What `apply` reads of an event.
#[derive(Deserialize)]
struct RetentionView {
    event_id: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    organization_id: Option<String>,
    #[serde(default)]
    actor: Option<ActorView>,
    #[serde(default)]
    retention_state: Option<StateView>,
}

#[derive(Deserialize)]
struct ActorView {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct StateView {
    #[serde(default)]
    retain_until: Option<String>,
    #[serde(default)]
    legal_hold: bool,
}

fn held(e: &RetentionView, holds: &[&Record]) -> bool {
    holds.iter().any(|h| match h {
        Record::LegalHoldPlaced {
            event_ids,
            user_id,
            organization_id,
            ..
        } => {
            event_ids.contains(&e.event_id)
                || user_id.as_ref().is_some_and(|u| {
                    e.user_id.as_ref() == Some(u)
                        || e.actor.as_ref().and_then(|a| a.id.as_ref()) == Some(u)
                })
                || organization_id
                    .as_ref()
                    .is_some_and(|o| e.organization_id.as_ref() == Some(o))
        }
        _ => false,
    })
}

/// What `apply` did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Events whose content was removed.
    pub removed: u64,
    /// Events past retention kept by a legal hold.
    pub kept_by_hold: u64,
}

/// Remove the content of expired, unheld events of `dir` at time `now`.
/// The caller holds the store's lock.
pub fn apply(dir: &Path, key: &SignerKey, now: Nanos) -> Result<Applied> {
    let records = load_records(dir, &key.verifier())?;
    let holds = active_holds(&records);
    let already = removed_leaves(&records);
    let mut removed = Vec::new();
    let mut kept_by_hold = 0;
    for segment in layout::segments(dir)? {
        let data = std::fs::read(&segment.events)
            .with_context(|| format!("reading {}", segment.events.display()))?;
        for (i, line) in data
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let leaf = segment.first + i as u64;
            if already.contains(&leaf) || tombstone_hash(line).is_some() {
                continue;
            }
            let Ok(e) = serde_json::from_slice::<RetentionView>(line) else {
                continue;
            };
            let Some(state) = &e.retention_state else {
                continue;
            };
            let expired = state
                .retain_until
                .as_deref()
                .and_then(|t| parse_rfc3339(t).ok())
                .is_some_and(|t| t <= now);
            if !expired {
                continue;
            }
            if state.legal_hold || held(&e, &holds) {
                kept_by_hold += 1;
            } else {
                removed.push((leaf, e.event_id));
            }
        }
    }
    let record = Record::RetentionApplied {
        now: format_rfc3339(now),
        policy: POLICY.to_owned(),
        removed: removed.clone(),
        kept_by_hold,
        at: format_rfc3339(crate::pull::time::now()),
    };
    // The signed record first: a tombstone is only valid with one.
    append_record(dir, key, &record)?;
    let mut all = already;
    all.extend(removed.iter().map(|(l, _)| *l));
    rewrite_segments(dir, &all)?;
    Ok(Applied {
        removed: removed.len() as u64,
        kept_by_hold,
    })
}

/// Replace the lines of `leaves` by tombstones, segment by segment, each
/// atomically (temporary file, fsync, rename).
fn rewrite_segments(dir: &Path, leaves: &BTreeSet<u64>) -> Result<()> {
    for segment in layout::segments(dir)? {
        let data = std::fs::read(&segment.events)
            .with_context(|| format!("reading {}", segment.events.display()))?;
        let mut out = Vec::with_capacity(data.len());
        let mut changed = false;
        for (i, line) in data
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let leaf = segment.first + i as u64;
            if leaves.contains(&leaf) && tombstone_hash(line).is_none() {
                let id = super::verify::event_id(line).unwrap_or_default();
                let tomb = serde_json::json!({
                    "event_id": id,
                    "retention_removed": {"leaf_hash": hex::encode(merkle::leaf_hash(line))},
                });
                out.extend_from_slice(tomb.to_string().as_bytes());
                changed = true;
            } else {
                out.extend_from_slice(line);
            }
            out.push(b'\n');
        }
        if changed {
            layout::write_atomic(&segment.events, &out)?;
        }
    }
    Ok(())
}

/// Record a legal hold placed or lifted, after checking it against the
/// holds in force.
pub fn hold(dir: &Path, key: &SignerKey, record: Record) -> Result<()> {
    let records = load_records(dir, &key.verifier())?;
    let active = active_holds(&records);
    match &record {
        Record::LegalHoldPlaced {
            hold_id,
            event_ids,
            user_id,
            organization_id,
            ..
        } => {
            ensure!(
                !event_ids.is_empty() || user_id.is_some() || organization_id.is_some(),
                "a legal hold needs --event-id, --user-id or --organization-id"
            );
            ensure!(
                !active.iter().any(
                    |h| matches!(h, Record::LegalHoldPlaced { hold_id: id, .. } if id == hold_id)
                ),
                "legal hold {hold_id:?} is already in force"
            );
        }
        Record::LegalHoldLifted { hold_id, .. } => ensure!(
            active
                .iter()
                .any(|h| matches!(h, Record::LegalHoldPlaced { hold_id: id, .. } if id == hold_id)),
            "no legal hold {hold_id:?} is in force"
        ),
        Record::RetentionApplied { .. } | Record::RunSummary(_) => {
            bail!("not a legal hold record")
        }
    }
    append_record(dir, key, &record)
}
