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

/// The engine's memory. Detections that group events alike (the same
/// `group_by`) share one [`Table`]: an event's group key is looked up once
/// for all of them (not once per detection: with half a dozen detections
/// per user, those lookups were a fifth of the engine's time, issue 11's
/// cost target), and one entity's groups sit side by side in memory.
/// Detections are addressed by their position in the engine's order; the
/// export names them by key, in the same format as before the tables.
#[derive(Debug, Default)]
pub struct EngineState {
    /// The detections' keys (`CL-01/brute_force`), in the engine's order.
    keys: Vec<String>,
    /// Per detection: the time of the first event it evaluated (learning
    /// periods count from it).
    starts: Vec<Option<i64>>,
    /// Per detection: its table and its slot in that table's entities.
    places: Vec<Place>,
    /// The tables, by grouping.
    tables: Vec<Table>,
    /// Recently raised alert ids, with their time, oldest first.
    alerted: VecDeque<(i64, String)>,
    /// `alerted` as a set.
    alerted_set: HashSet<String>,
}

/// Where a detection's groups live: which [`Table`], which slot of its
/// entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// The table (the detection's grouping).
    pub table: usize,
    /// The slot of the detection in the table's entities.
    pub slot: usize,
}

/// The groups of the detections that share a table, by group key: the
/// key maps to an entity (an index into `entities`, stable until the
/// entity holds no group any more), the entity holds one optional group
/// per detection of the table.
#[derive(Debug, Default)]
struct Table {
    /// Group key to entity.
    index: Entities,
    /// The entities' groups, a slot per detection of the table; entities
    /// listed in `free` are empty and reused. Boxed: most entities use a
    /// few of their slots (a user's first-seen lists, not every window),
    /// and an empty slot then costs a pointer, not a whole group (inline
    /// groups took more memory than the per-detection maps did).
    entities: Vec<Box<[Option<Box<Group>>]>>,
    /// Entities released by a sweep.
    free: Vec<u32>,
    /// Detections sharing the table.
    slots: usize,
}

/// Group keys to entities: hashbrown's map for `entry_ref` (one lookup, no
/// key copy unless new), hashed with foldhash (SipHash was a visible part
/// of the engine's cost; the keys are pseudonyms and event values, and the
/// per-map random seed keeps colliding keys from being precomputed). Both
/// crates are in the build already (wasmtime's), and are used without
/// features so that adding them changed no other crate's build.
type Entities = hashbrown::HashMap<String, u32, foldhash::fast::RandomState>;

/// One detection's memory, as exported.
#[derive(Serialize)]
struct DetectionExport<'a> {
    start: Option<i64>,
    groups: GroupsExport<'a>,
}

/// One detection's groups, as a JSON object (key: group).
struct GroupsExport<'a> {
    table: &'a Table,
    slot: usize,
}

impl Serialize for GroupsExport<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.table.groups(self.slot))
    }
}

/// One detection's memory, read back.
#[derive(Deserialize)]
struct DetectionImport {
    start: Option<i64>,
    groups: HashMap<String, Group>,
}

/// The export format (see the module's documentation).
#[derive(Serialize)]
struct Export<'a> {
    version: u32,
    detections: BTreeMap<&'a str, DetectionExport<'a>>,
    alerted: &'a VecDeque<(i64, String)>,
}

/// The export format, read back.
#[derive(Deserialize)]
struct Import {
    #[serde(default)]
    version: u32,
    detections: BTreeMap<String, DetectionImport>,
    alerted: VecDeque<(i64, String)>,
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
    /// Empty memory for the detections `keys` placed at `places` (both in
    /// the engine's order).
    pub fn new(keys: Vec<String>, places: Vec<Place>) -> Self {
        let mut tables: Vec<Table> = Vec::new();
        for p in &places {
            if tables.len() <= p.table {
                tables.resize_with(p.table + 1, Table::default);
            }
            let table = &mut tables[p.table];
            table.slots = table.slots.max(p.slot + 1);
        }
        Self {
            starts: vec![None; keys.len()],
            keys,
            places,
            tables,
            ..Self::default()
        }
    }

    /// When the detection at `index` first evaluated an event.
    pub fn start(&mut self, index: usize) -> &mut Option<i64> {
        &mut self.starts[index]
    }

    /// The entity of group key `key` in the table of detection `detection`
    /// (shared with the detections that group alike), created when new.
    pub fn entity(&mut self, detection: usize, key: &str) -> u32 {
        let Table {
            index,
            entities,
            free,
            slots,
        } = &mut self.tables[self.places[detection].table];
        *index.entry_ref(key).or_insert_with(|| match free.pop() {
            Some(e) => e,
            None => {
                entities.push(std::iter::repeat_with(|| None).take(*slots).collect());
                (entities.len() - 1) as u32
            }
        })
    }

    /// The group of detection `index` in `entity` (from [`Self::entity`]),
    /// created with `make`, marked seen at `t`.
    pub fn group(
        &mut self,
        index: usize,
        entity: u32,
        t: i64,
        make: impl FnOnce() -> GroupState,
    ) -> &mut Group {
        let place = self.places[index];
        let cell = &mut self.tables[place.table].entities[entity as usize][place.slot];
        let group = cell.get_or_insert_with(|| Box::new(Group { seen: t, s: make() }));
        group.seen = group.seen.max(t);
        group
    }

    /// How many groups detection `index` holds.
    pub fn group_count(&self, index: usize) -> usize {
        let place = self.places[index];
        self.tables[place.table].groups(place.slot).count()
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

    /// Forget detection `index`'s groups last seen before `before`, then
    /// the least recently seen beyond `max_groups`. Entities left without
    /// groups are released by [`Self::release_empty`].
    pub fn sweep(&mut self, index: usize, before: i64, max_groups: usize) {
        let place = self.places[index];
        let table = &mut self.tables[place.table];
        let mut seen = Vec::new();
        for entity in table.entities.iter_mut() {
            let cell = &mut entity[place.slot];
            if cell.as_ref().is_some_and(|g| g.seen < before) {
                *cell = None;
            }
            if let Some(g) = cell {
                seen.push(g.seen);
            }
        }
        if let Some(cutoff) = eviction_cutoff(seen, max_groups) {
            for entity in table.entities.iter_mut() {
                let cell = &mut entity[place.slot];
                if cell.as_ref().is_some_and(|g| g.seen < cutoff) {
                    *cell = None;
                }
            }
        }
    }

    /// Release the entities that hold no group any more (after sweeps).
    pub fn release_empty(&mut self) {
        for table in &mut self.tables {
            let Table {
                index,
                entities,
                free,
                ..
            } = table;
            index.retain(|_, &mut e| {
                let used = entities[e as usize].iter().any(Option::is_some);
                if !used {
                    free.push(e);
                }
                used
            });
        }
    }

    /// Versioned JSON. Detections that have seen nothing yet are left out
    /// (as before they were created on first use).
    pub fn export(&self) -> Vec<u8> {
        let detections = self
            .keys
            .iter()
            .zip(&self.starts)
            .zip(&self.places)
            .map(|((k, &start), p)| {
                let groups = GroupsExport {
                    table: &self.tables[p.table],
                    slot: p.slot,
                };
                (k.as_str(), DetectionExport { start, groups })
            })
            .filter(|(_, d)| {
                d.start.is_some() || d.groups.table.groups(d.groups.slot).next().is_some()
            })
            .collect();
        let export = Export {
            version: STATE_VERSION,
            detections,
            alerted: &self.alerted,
        };
        serde_json::to_vec(&export).unwrap_or_default()
    }

    /// Parse an export for the detections `keys` placed at `places` (in
    /// the engine's order; a rule switched off or removed since is
    /// forgotten, a new one starts empty).
    pub fn import(bytes: &[u8], keys: Vec<String>, places: Vec<Place>) -> Result<Self, StateError> {
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
        let alerted_set = import.alerted.iter().map(|(_, id)| id.clone()).collect();
        let mut state = Self::new(keys, places);
        for index in 0..state.keys.len() {
            let Some(d) = saved.remove(&state.keys[index]) else {
                continue;
            };
            state.starts[index] = d.start;
            for (key, group) in d.groups {
                let entity = state.entity(index, &key);
                let place = state.places[index];
                state.tables[place.table].entities[entity as usize][place.slot] =
                    Some(Box::new(group));
            }
        }
        state.alerted = import.alerted;
        state.alerted_set = alerted_set;
        Ok(state)
    }
}

impl Table {
    /// The groups in `slot`, with their keys.
    fn groups(&self, slot: usize) -> impl Iterator<Item = (&String, &Group)> {
        self.index
            .iter()
            .filter_map(move |(k, &e)| Some((k, &**self.entities[e as usize][slot].as_ref()?)))
    }
}

/// Past `max` groups, the time under which groups are dropped: down to 90%
/// of `max` in one go, so that the sort is paid rarely.
fn eviction_cutoff(mut seen: Vec<i64>, max: usize) -> Option<i64> {
    if seen.len() <= max {
        return None;
    }
    let keep = max - max / 10;
    seen.sort_unstable_by(|a, b| b.cmp(a));
    Some(seen[keep.saturating_sub(1).min(seen.len() - 1)])
}
