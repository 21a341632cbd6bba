//! What the engine remembers between events, and its export format.
//!
//! Export is JSON: `{"version": 1, "detections": {"CL-01/brute_force":
//! {"start": ms, "groups": {key: {"seen": ms, "s": {...}}}}}, "alerted":
//! [[ms, id], ...]}`. Every part is bounded: hits per group (see
//! [`super::window`], [`super::sequence`], [`super::first_seen`],
//! [`super::baseline`], [`super::travel`]), groups per detection (`max_groups`, least recently
//! seen evicted first; idle groups are forgotten once their window or 90
//! days has passed), and [`ALERTED_CAP`] remembered alert ids. Keys and
//! values are those of the events: pseudonyms, never raw PII.

use std::collections::{BTreeMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::StateError;
use super::baseline::BaselineGroup;
use super::first_seen::FirstSeenGroup;
use super::sequence::SequenceGroup;
use super::travel::TravelGroup;
use super::window::WindowGroup;

/// Version of the export format; an import of another version is refused.
pub const STATE_VERSION: u32 = 1;

/// Alert ids remembered to recognise a repeat (oldest forgotten first).
pub const ALERTED_CAP: usize = 50_000;

/// The engine's memory: one [`DetectionState`] per active detection, in
/// the engine's order (looked up by position on every event; the export
/// names them by key).
#[derive(Debug, Default)]
pub struct EngineState {
    /// The detections' keys (`CL-01/brute_force`), in the engine's order.
    keys: Vec<String>,
    /// Per detection, in the same order.
    detections: Vec<DetectionState>,
    /// Recently raised alert ids, with their time, oldest first.
    alerted: VecDeque<(i64, String)>,
    /// `alerted` as a set.
    alerted_set: HashSet<String>,
}

/// The export format (see the module's documentation).
#[derive(Serialize)]
struct Export<'a> {
    version: u32,
    detections: BTreeMap<&'a str, &'a DetectionState>,
    alerted: &'a VecDeque<(i64, String)>,
}

/// The export format, read back.
#[derive(Deserialize)]
struct Import {
    #[serde(default)]
    version: u32,
    detections: BTreeMap<String, DetectionState>,
    alerted: VecDeque<(i64, String)>,
}

/// Group keys to their state: hashbrown's map for `entry_ref` (one lookup,
/// no key copy unless new), hashed with foldhash (the engine hashes a
/// handful of keys per event, and SipHash was a visible part of its cost;
/// the keys are pseudonyms and event values, and the per-map random seed
/// keeps colliding keys from being precomputed). Both crates are in the
/// build already (wasmtime's), and are used without features so that
/// adding them changed no other crate's build.
pub type Groups = hashbrown::HashMap<String, Group, foldhash::fast::RandomState>;

/// One detection's memory.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DetectionState {
    /// Time of the first event it evaluated (learning periods count from it).
    pub start: Option<i64>,
    /// Per group key.
    #[serde(with = "groups_map")]
    pub groups: Groups,
}

/// [`Groups`] as a JSON object (hashbrown's own serde support is a feature
/// that would change wasmtime's build).
mod groups_map {
    use std::collections::HashMap;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Group, Groups};

    pub fn serialize<S: Serializer>(groups: &Groups, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(groups)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Groups, D::Error> {
        Ok(HashMap::<String, Group>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

/// One group's memory.
#[derive(Debug, Serialize, Deserialize)]
pub struct Group {
    /// Newest event time seen for the group (eviction order).
    pub seen: i64,
    /// The kind-specific part.
    pub s: GroupState,
}

/// The kind-specific part of a group.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupState {
    /// `event_count` / `value_count`.
    Window(WindowGroup),
    /// `temporal_ordered`.
    Sequence(SequenceGroup),
    /// `new_value`.
    FirstSeen(FirstSeenGroup),
    /// `baseline`.
    Baseline(BaselineGroup),
    /// `travel`.
    Travel(TravelGroup),
}

impl EngineState {
    /// Empty memory for the detections `keys` (in the engine's order).
    pub fn new(keys: Vec<String>) -> Self {
        let detections = keys.iter().map(|_| DetectionState::default()).collect();
        Self {
            keys,
            detections,
            ..Self::default()
        }
    }

    /// The memory of the detection at `index` in the engine's order.
    pub fn detection(&mut self, index: usize) -> &mut DetectionState {
        &mut self.detections[index]
    }

    /// Remember an alert id; false when it was raised already (a repeat).
    pub fn remember_alert(&mut self, id: String, t: i64) -> bool {
        if self.alerted_set.contains(&id) {
            return false;
        }
        self.alerted_set.insert(id.clone());
        self.alerted.push_back((t, id));
        while self.alerted.len() > ALERTED_CAP {
            if let Some((_, old)) = self.alerted.pop_front() {
                self.alerted_set.remove(&old);
            }
        }
        true
    }

    /// Forget detection `key`'s groups last seen before `before`, then the
    /// least recently seen beyond `max_groups`.
    pub fn sweep(&mut self, index: usize, before: i64, max_groups: usize) {
        let d = &mut self.detections[index];
        d.groups.retain(|_, g| g.seen >= before);
        evict(&mut d.groups, max_groups);
    }

    /// Versioned JSON. Detections that have seen nothing yet are left out
    /// (as before they were created on first use).
    pub fn export(&self) -> Vec<u8> {
        let detections = self
            .keys
            .iter()
            .zip(&self.detections)
            .filter(|(_, d)| d.start.is_some() || !d.groups.is_empty())
            .map(|(k, d)| (k.as_str(), d))
            .collect();
        let export = Export {
            version: STATE_VERSION,
            detections,
            alerted: &self.alerted,
        };
        serde_json::to_vec(&export).unwrap_or_default()
    }

    /// Parse an export for the detections `keys` (in the engine's order;
    /// a rule switched off or removed since is forgotten, a new one starts
    /// empty).
    pub fn import(bytes: &[u8], keys: Vec<String>) -> Result<Self, StateError> {
        let import: Import = serde_json::from_slice(bytes).map_err(|e| {
            StateError::Invalid(format!("line {}, column {}", e.line(), e.column()))
        })?;
        if import.version != STATE_VERSION {
            return Err(StateError::UnsupportedVersion {
                found: import.version,
                expected: STATE_VERSION,
            });
        }
        let mut saved = import.detections;
        let detections = keys
            .iter()
            .map(|k| saved.remove(k).unwrap_or_default())
            .collect();
        let alerted_set = import.alerted.iter().map(|(_, id)| id.clone()).collect();
        Ok(Self {
            keys,
            detections,
            alerted: import.alerted,
            alerted_set,
        })
    }
}

impl DetectionState {
    /// The group `key`, created with `make` and marked seen at `t`.
    pub fn group(&mut self, key: &str, t: i64, make: impl FnOnce() -> GroupState) -> &mut Group {
        let group = self
            .groups
            .entry_ref(key)
            .or_insert_with(|| Group { seen: t, s: make() });
        group.seen = group.seen.max(t);
        group
    }
}

/// Drop the least recently seen groups down to 90% of `max` once over `max`
/// (in one go, so that the sort is paid rarely).
fn evict(groups: &mut Groups, max: usize) {
    if groups.len() <= max {
        return;
    }
    let keep = max - max / 10;
    let mut seen: Vec<i64> = groups.values().map(|g| g.seen).collect();
    seen.sort_unstable_by(|a, b| b.cmp(a));
    let cutoff = seen[keep.saturating_sub(1).min(seen.len() - 1)];
    groups.retain(|_, g| g.seen >= cutoff);
}
