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

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

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

/// The engine's memory.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct EngineState {
    /// Format version.
    #[serde(default)]
    pub version: u32,
    /// Per detection (`CL-01/brute_force`).
    pub detections: BTreeMap<String, DetectionState>,
    /// Recently raised alert ids, with their time, oldest first.
    pub alerted: VecDeque<(i64, String)>,
    /// `alerted` as a set.
    #[serde(skip)]
    alerted_set: HashSet<String>,
}

/// One detection's memory.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DetectionState {
    /// Time of the first event it evaluated (learning periods count from it).
    pub start: Option<i64>,
    /// Per group key.
    pub groups: HashMap<String, Group>,
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
    /// The memory of detection `key`, created empty.
    pub fn detection(&mut self, key: &str) -> &mut DetectionState {
        if !self.detections.contains_key(key) {
            self.detections
                .insert(key.to_owned(), DetectionState::default());
        }
        self.detections.get_mut(key).expect("inserted above")
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
    pub fn sweep(&mut self, key: &str, before: i64, max_groups: usize) {
        let Some(d) = self.detections.get_mut(key) else {
            return;
        };
        d.groups.retain(|_, g| g.seen >= before);
        evict(&mut d.groups, max_groups);
    }

    /// Versioned JSON.
    pub fn export(&self) -> Vec<u8> {
        let mut copy = serde_json::to_value(self).unwrap_or_default();
        copy["version"] = STATE_VERSION.into();
        serde_json::to_vec(&copy).unwrap_or_default()
    }

    /// Parse an export, keeping only the detections in `keys` (a rule
    /// switched off or removed since is forgotten).
    pub fn import(bytes: &[u8], keys: &[String]) -> Result<Self, StateError> {
        let mut state: Self = serde_json::from_slice(bytes).map_err(|e| {
            StateError::Invalid(format!("line {}, column {}", e.line(), e.column()))
        })?;
        if state.version != STATE_VERSION {
            return Err(StateError::UnsupportedVersion {
                found: state.version,
                expected: STATE_VERSION,
            });
        }
        state.detections.retain(|k, _| keys.contains(k));
        state.alerted_set = state.alerted.iter().map(|(_, id)| id.clone()).collect();
        Ok(state)
    }
}

impl DetectionState {
    /// The group `key`, created with `make` and marked seen at `t`.
    pub fn group(&mut self, key: &str, t: i64, make: impl FnOnce() -> GroupState) -> &mut Group {
        if !self.groups.contains_key(key) {
            self.groups
                .insert(key.to_owned(), Group { seen: t, s: make() });
        }
        let group = self.groups.get_mut(key).expect("inserted above");
        group.seen = group.seen.max(t);
        group
    }
}

/// Drop the least recently seen groups down to 90% of `max` once over `max`
/// (in one go, so that the sort is paid rarely).
fn evict(groups: &mut HashMap<String, Group>, max: usize) {
    if groups.len() <= max {
        return;
    }
    let keep = max - max / 10;
    let mut seen: Vec<i64> = groups.values().map(|g| g.seen).collect();
    seen.sort_unstable_by(|a, b| b.cmp(a));
    let cutoff = seen[keep.saturating_sub(1).min(seen.len() - 1)];
    groups.retain(|_, g| g.seen >= cutoff);
}
