//! The detection engine: the rule pack (`plugin/data/rules/`, one TOML file
//! per rule) evaluated over canonical events, after normalization and
//! redaction, so that it sees pseudonyms and its state and alerts hold no
//! raw PII.
//!
//! Pure Rust and deterministic (event time, never the clock), so it runs the
//! same natively, in the component and in the Fluent Bit module. The logic
//! kinds each live in their own module: [`window`] (`event_count`,
//! `value_count`), [`sequence`] (`temporal_ordered`), [`first_seen`]
//! (`new_value`), [`baseline`] (robust z spikes) and [`travel`]
//! (impossible travel); [`alert`] builds the
//! alert events, [`state`] exports and imports what the engine remembers.

pub mod alert;
pub mod baseline;
pub mod ewma;
pub mod first_seen;
pub mod matcher;
pub mod node;
pub mod partial;
pub mod rule;
pub mod sequence;
pub mod settings;
pub mod state;
pub mod travel;
pub mod view;
pub mod window;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::{ConfigError, ConfigErrorKind};
use crate::profile::Profile;
use alert::{Finding, Origin};
use baseline::Params;
use matcher::{text, type_matches};
use node::Node;
use rule::{DetectionSpec, Kind, RuleFile, Severity};
use settings::{DetectSettings, names};
use state::{EngineState, Group, GroupState, Place};
use view::{PathId, Paths, View};
use window::Hit;

/// Why a detection state was refused. Never contains state content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Not a state document (or a damaged one).
    #[error("the detection state is not valid: {0}")]
    Invalid(String),
    /// Written by a plugin with another state format.
    #[error("the detection state has format version {found}, this plugin reads version {expected}")]
    UnsupportedVersion {
        /// The version in the document.
        found: u32,
        /// The version this plugin reads.
        expected: u32,
    },
    /// Detections are off in the settings.
    #[error("detections are not enabled (detections.enabled = false)")]
    NotEnabled,
}

/// Milliseconds per day.
const DAY: i64 = 86_400_000;

/// What the engine remembers per event type (looked up twice per event:
/// foldhash, not SipHash; the types are the feed's, a few dozen).
type ByType<T> = HashMap<String, T, foldhash::fast::RandomState>;

/// Most event types a [`ByType`] cache holds. The Activity Feed has about
/// 500 types, but an event's type can come from its sender (a Claude Code
/// event's name through `serve`), so a stream of made-up names must not
/// grow the plugin's memory without end: past this many, the cache starts
/// over (what it holds is recomputed on demand, never lost).
const MAX_REMEMBERED_TYPES: usize = 2048;

/// Remember `value` for `event_type` in `cache`, within [`MAX_REMEMBERED_TYPES`].
fn remember<T>(cache: &mut ByType<T>, event_type: &str, value: T) {
    if cache.len() >= MAX_REMEMBERED_TYPES {
        cache.clear();
    }
    cache.insert(event_type.to_owned(), value);
}

/// One detection, its rule's metadata and its effective settings.
#[derive(Debug, Clone)]
pub struct Detection {
    /// The rule's id.
    pub rule_id: String,
    /// The rule's title.
    pub title: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Parity signal.
    pub signal: bool,
    /// Severity after overrides.
    pub severity: Severity,
    /// The detection with overrides applied.
    pub spec: DetectionSpec,
    /// `CL-01/brute_force` (its state's key, built once).
    key: String,
    /// Which distinct `group_by` list it has (detections that group alike
    /// share the event's group key, built once per event).
    grouping: usize,
    /// Which distinct condition each of `spec.conditions` is (detections
    /// that test alike share the result, found once per event).
    conditions: Vec<usize>,
    /// The numbers of the paths it reads.
    ids: Ids,
}

/// The numbers of the paths a detection reads (its conditions hold their
/// own), given when the rules load.
#[derive(Debug, Clone, Default)]
struct Ids {
    /// `field`'s alternatives (`a|b`), in order.
    field: Vec<PathId>,
    /// `field` as one path (`baseline`), or the place (`travel`).
    literal: Option<PathId>,
    /// Each `group_by` entry's alternatives.
    group_by: Vec<Vec<PathId>>,
    /// Each sequence step's key's alternatives.
    steps: Vec<Vec<PathId>>,
    /// Every path it reads, its conditions' and its steps' included.
    reads: Vec<PathId>,
}

impl Detection {
    /// `CL-01/brute_force`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Number the paths the detection reads in `paths` (its conditions
    /// are numbered in place).
    fn bind(&mut self, paths: &mut Paths) {
        let spec = &mut self.spec;
        let mut ids_of =
            |fields: &str| -> Vec<PathId> { alternatives(fields).map(|f| paths.id(f)).collect() };
        let mut ids = Ids {
            field: spec.field.as_deref().map(&mut ids_of).unwrap_or_default(),
            group_by: spec.group_by.iter().map(|g| ids_of(g)).collect(),
            // A step without a key reads none (the organization is its group).
            steps: spec
                .steps
                .iter()
                .map(|s| match s.key.as_str() {
                    "" => Vec::new(),
                    key => ids_of(key),
                })
                .collect(),
            ..Ids::default()
        };
        ids.literal = match spec.kind {
            Kind::Travel => Some(paths.id(spec.field.as_deref().unwrap_or("actor.geo"))),
            _ => spec.field.as_deref().map(|f| paths.id(f)),
        };
        for c in spec
            .conditions
            .iter_mut()
            .chain(spec.steps.iter_mut().flat_map(|s| &mut s.conditions))
        {
            c.bind(paths);
            c.ids(&mut ids.reads);
        }
        ids.reads.extend(
            ids.field
                .iter()
                .chain(&ids.literal)
                .chain(ids.group_by.iter().flatten()),
        );
        ids.reads.extend(ids.steps.iter().flatten());
        self.ids = ids;
    }

    fn window(&self) -> i64 {
        self.spec.window.map_or(0, |d| d.ms)
    }
}

/// The configured engine with its state.
#[derive(Debug)]
pub struct Detector {
    detections: Vec<Detection>,
    /// Detections by exact event type; `any_type` holds those with globs or no type list.
    by_type: HashMap<String, Vec<usize>>,
    any_type: Vec<usize>,
    settings: DetectSettings,
    state: EngineState,
    /// Events seen since the last idle-group sweep.
    since_sweep: u32,
    /// Rules left out because an input they need is not configured.
    inactive: Vec<String>,
    /// The distinct paths the detections and suppressions read.
    paths: Paths,
    /// What of an event the detections, suppressions and alerts read.
    wanted: Arc<partial::Wanted>,
    /// [`Self::wanted_for`] by event type.
    wanted_by_type: ByType<Arc<partial::Wanted>>,
    /// [`Self::candidates`] by event type.
    candidates: ByType<Arc<[Candidate]>>,
    /// How many distinct `group_by` lists the detections have.
    groupings: usize,
    /// How many distinct conditions the detections test.
    distinct_conditions: usize,
    /// The current event's group keys and entities, kept between events
    /// to reuse their allocations.
    event_keys: EventKeys,
}

/// The current event's group key and entity per grouping, found on first
/// use: detections that group alike share them.
#[derive(Debug, Default)]
struct EventKeys {
    /// The group key per grouping.
    keys: Vec<KeySlot>,
    /// The key's entity in the grouping's table (`None`: not looked up yet).
    entities: Vec<Option<u32>>,
    /// Whether each distinct condition holds (`None`: not tested yet): a
    /// test such as `actor.kind in [...]` is shared by many detections,
    /// and was tested once per detection (issue 11's cost target).
    holds: Vec<Option<bool>>,
}

/// One grouping's key for the current event, built on first use into a
/// buffer kept from event to event (a key allocated and freed per event
/// and grouping was measurable, issue 11).
#[derive(Debug, Default)]
struct KeySlot {
    /// Whether `present` and `text` are the current event's.
    built: bool,
    /// Whether the event has a value for every entry.
    present: bool,
    /// The key.
    text: String,
}

/// The way to one detection's group for the current event: the entity is
/// looked up (or created) only when the detection needs its group, and
/// then once for every detection of the grouping.
struct Slot<'s> {
    state: &'s mut EngineState,
    detection: usize,
    key: &'s str,
    entity: &'s mut Option<u32>,
}

impl Slot<'_> {
    /// The detection's group for the event's key, created with `make`,
    /// marked seen at `t`.
    fn group(&mut self, t: i64, make: impl FnOnce() -> GroupState) -> &mut Group {
        let entity = match *self.entity {
            Some(e) => e,
            None => *self
                .entity
                .insert(self.state.entity(self.detection, self.key)),
        };
        self.state.group(self.detection, entity, t, make)
    }
}

/// Alerts raised by one event, and those suppressed by configuration.
#[derive(Debug, Default)]
pub struct Raised {
    /// Alert events.
    pub alerts: Vec<Value>,
    /// Alerts dropped by a suppression.
    pub suppressed: u32,
}

impl Detector {
    /// The bundled pack under `settings`; `geoip`: whether the IP
    /// enrichment databases are configured (the rules that need them are
    /// inactive otherwise).
    pub fn new(settings: DetectSettings, geoip: bool) -> Result<Self, ConfigError> {
        let rules = rule::bundled().map_err(|e| invalid("detections", e))?;
        // Settings may name an inactive rule: they stay valid when the
        // databases come back.
        check_selectors(&rules, &settings)?;
        let (active, inactive): (Vec<_>, Vec<_>) = rules
            .into_iter()
            .partition(|r| geoip || !r.needs.contains(&rule::Need::Geoip));
        let mut detector = Self::compile_all(&active, &settings)?;
        detector.inactive = inactive_ids(&inactive);
        Ok(detector)
    }

    /// A pack of `rules` under `settings` (tests use single rules).
    pub fn with_rules(rules: Vec<RuleFile>, settings: DetectSettings) -> Result<Self, ConfigError> {
        check_selectors(&rules, &settings)?;
        Self::compile_all(&rules, &settings)
    }

    /// The rules that are inactive for want of an input (sorted ids).
    pub fn inactive(&self) -> &[String] {
        &self.inactive
    }

    fn compile_all(rules: &[RuleFile], settings: &DetectSettings) -> Result<Self, ConfigError> {
        let mut settings = settings.clone();
        let mut detections = Vec::new();
        for rule in rules {
            for spec in &rule.detections {
                if (rule.signal || spec.signal) && !settings.signals {
                    continue;
                }
                if settings
                    .disable
                    .iter()
                    .any(|s| names(s, &rule.id, &spec.name))
                {
                    continue;
                }
                detections.push(compile(rule, spec, &settings)?);
            }
        }
        let mut paths = Paths::default();
        detections.iter_mut().for_each(|d| d.bind(&mut paths));
        let suppress = settings.suppress.iter_mut().flat_map(|s| &mut s.conditions);
        suppress.for_each(|c| c.bind(&mut paths));
        let groupings = number_groupings(&mut detections);
        let distinct_conditions = number_conditions(&mut detections);
        let (by_type, any_type) = index(&detections);
        let wanted = Arc::new(partial::Wanted::of(&paths, 0..paths.len() as PathId));
        let state = EngineState::new(
            detections.iter().map(|d| d.key.clone()).collect(),
            places(&detections),
        );
        Ok(Self {
            detections,
            by_type,
            any_type,
            settings,
            state,
            since_sweep: 0,
            inactive: Vec::new(),
            paths,
            wanted,
            wanted_by_type: ByType::default(),
            candidates: ByType::default(),
            groupings,
            distinct_conditions,
            event_keys: EventKeys::default(),
        })
    }

    /// The active detections.
    pub fn detections(&self) -> &[Detection] {
        &self.detections
    }

    /// Evaluate one canonical event. Events without an id or a valid
    /// timestamp are not evaluated (the normalizer always writes both).
    pub fn process(&mut self, event: &Value) -> Raised {
        let view = View::of(&Node::from_value(event), &self.paths);
        self.process_view(&view)
    }

    /// [`Self::process`] on the engine's view of an event.
    fn process_view(&mut self, event: &View<'_>) -> Raised {
        let mut raised = Raised::default();
        let (Some(id), Some(t)) = (
            event.top_str(view::EVENT_ID),
            event.top_str(view::TIMESTAMP).and_then(alert::millis),
        ) else {
            return raised;
        };
        let event_type = event.top_str(view::EVENT_TYPE).unwrap_or_default();
        let candidates = self.candidates(event_type);
        let seen = Seen {
            event,
            event_type,
            id,
            t,
        };
        let mut keys = std::mem::take(&mut self.event_keys);
        keys.keys.resize_with(self.groupings, KeySlot::default);
        keys.keys.iter_mut().for_each(|k| k.built = false);
        keys.entities.clear();
        keys.entities.resize(self.groupings, None);
        keys.holds.clear();
        keys.holds.resize(self.distinct_conditions, None);
        for &candidate in candidates.iter() {
            if let Some(alert) = self.evaluate(candidate, &seen, &mut keys) {
                self.emit(candidate.index, alert, event, &mut raised);
            }
        }
        self.event_keys = keys;
        self.since_sweep += 1;
        if self.since_sweep >= 8192 {
            self.since_sweep = 0;
            self.sweep(t);
        }
        raised
    }

    /// The detections that read events of `event_type`, in evaluation
    /// order (those indexed by the exact type, then the globbed or
    /// untyped ones that match it), remembered per type.
    fn candidates(&mut self, event_type: &str) -> Arc<[Candidate]> {
        if let Some(known) = self.candidates.get(event_type) {
            return Arc::clone(known);
        }
        let list: Arc<[Candidate]> = self
            .by_type
            .get(event_type)
            .into_iter()
            .flatten()
            .chain(
                self.any_type
                    .iter()
                    .filter(|&&i| reads(&self.detections[i], event_type)),
            )
            .map(|&index| Candidate {
                index,
                types: type_bits(&self.detections[index], event_type),
            })
            .collect();
        remember(&mut self.candidates, event_type, Arc::clone(&list));
        list
    }

    /// What the detections of `event_type` (and the suppressions and
    /// alerts) read, remembered per type.
    fn wanted_for(&mut self, event_type: &str) -> Arc<partial::Wanted> {
        if let Some(known) = self.wanted_by_type.get(event_type) {
            return Arc::clone(known);
        }
        let candidates = self.candidates(event_type);
        let mut ids: Vec<PathId> = candidates
            .iter()
            .flat_map(|c| self.detections[c.index].ids.reads.iter().copied())
            .collect();
        for s in &self.settings.suppress {
            s.conditions.iter().for_each(|c| c.ids(&mut ids));
        }
        let wanted = Arc::new(partial::Wanted::of(&self.paths, ids));
        remember(&mut self.wanted_by_type, event_type, Arc::clone(&wanted));
        wanted
    }

    /// Keep or drop an alert: suppressions, then repeats (same id).
    fn emit(&mut self, index: usize, alert: Value, event: &View<'_>, raised: &mut Raised) {
        let d = &self.detections[index];
        let key = alert["group"]["key"].as_str().unwrap_or_default();
        let suppressed = self.settings.suppress.iter().any(|s| {
            s.names(&d.rule_id, &d.spec.name)
                && s.group_key.as_deref().is_none_or(|g| g == key)
                && s.conditions.iter().all(|c| c.holds(event))
        });
        if suppressed {
            raised.suppressed += 1;
            return;
        }
        let id = alert["event_id"].as_str().unwrap_or_default().to_owned();
        let t = alert["timestamp"]
            .as_str()
            .and_then(alert::millis)
            .unwrap_or_default();
        if self.state.remember_alert(id, t) {
            raised.alerts.push(alert);
        }
    }

    /// Run detection `index` on the event; the alert it raises, if any.
    /// `keys`: the event's group keys and entities by grouping, found on
    /// first use.
    fn evaluate(
        &mut self,
        candidate: Candidate,
        seen: &Seen<'_>,
        keys: &mut EventKeys,
    ) -> Option<Value> {
        let index = candidate.index;
        let d = &self.detections[index];
        if d.spec.kind == Kind::TemporalOrdered {
            return self.evaluate_sequence(candidate, seen);
        }
        // The candidates of the event's type read it (see `candidates`).
        debug_assert!(type_matches(&d.spec.types, seen.event_type));
        let holds = &mut keys.holds;
        if !d
            .spec
            .conditions
            .iter()
            .zip(&d.conditions)
            .all(|(c, &id)| *holds[id].get_or_insert_with(|| c.holds(seen.event)))
        {
            return None;
        }
        let slot = &mut keys.keys[d.grouping];
        if !slot.built {
            slot.present = group_key(seen.event, &d.ids.group_by, &self.paths, &mut slot.text);
            slot.built = true;
        }
        if !slot.present {
            return None;
        }
        let group_key = slot.text.as_str();
        let first = self.state.start(index);
        let start = first.map_or(seen.t, |s| s.min(seen.t));
        *first = Some(start);
        let slot = &mut Slot {
            state: &mut self.state,
            detection: index,
            key: group_key,
            entity: &mut keys.entities[d.grouping],
        };
        let outcome = match d.spec.kind {
            Kind::Single => Some(Outcome::single(seen, json!(1), None)),
            Kind::EventCount | Kind::ValueCount => count(d, slot, seen),
            Kind::NewValue => first_seen(d, slot, seen, (start, candidate.alerting())),
            Kind::Baseline => spike(d, slot, seen),
            Kind::Travel => travel(d, slot, seen),
            Kind::TemporalOrdered => None,
        }?;
        Some(alert::build(
            &origin(d),
            &Finding {
                group_by: &d.spec.group_by,
                group_key,
                window: outcome.window,
                hits: &outcome.hits,
                observed: outcome.observed,
                baseline: outcome.baseline,
                organization_uuid: organization(seen.event),
            },
        ))
    }

    /// A `temporal_ordered` detection: which steps the event is, and whether
    /// it completes the sequence for its key.
    fn evaluate_sequence(&mut self, candidate: Candidate, seen: &Seen<'_>) -> Option<Value> {
        let index = candidate.index;
        let Seen {
            event,
            event_type,
            t,
            ..
        } = *seen;
        let d = &self.detections[index];
        let matching: Vec<(usize, String)> = d
            .spec
            .steps
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                candidate.step(*i, &s.types, event_type)
                    && s.conditions.iter().all(|c| c.holds(event))
            })
            .filter_map(|(i, s)| Some((i, step_key(event, &s.key, &d.ids.steps[i])?)))
            .collect();
        if matching.is_empty() {
            return None;
        }
        let window = d.window();
        let min_counts: Vec<u64> = d.spec.steps.iter().map(|s| s.min_count).collect();
        let key_names: Vec<String> = d.spec.steps.iter().map(|s| s.key.clone()).collect();
        let mut fired = None;
        // The last step first: an event that is both (a login that ends one
        // sequence and starts nothing) must not feed itself.
        for (step, key) in matching.into_iter().rev() {
            let entity = self.state.entity(index, &key);
            let group =
                self.state.group(
                    index,
                    entity,
                    t,
                    || GroupState::Sequence(Default::default()),
                );
            let GroupState::Sequence(g) = &mut group.s else {
                continue;
            };
            if let Some(used) = g.add(step, seen.hit(None), window, &min_counts) {
                fired = Some((key, used));
            }
        }
        let (key, used) = fired?;
        let d = &self.detections[index];
        let group_key = format!("{}={key}", key_names.join("~"));
        Some(alert::build(
            &origin(d),
            &Finding {
                group_by: &key_names,
                group_key: &group_key,
                window: (used[0].t, t, window),
                hits: &used,
                observed: json!({"steps": min_counts.len(), "events": used.len()}),
                baseline: None,
                organization_uuid: organization(event),
            },
        ))
    }

    /// Forget groups idle for longer than their detection can use them.
    fn sweep(&mut self, now: i64) {
        for (index, d) in self.detections.iter().enumerate() {
            let horizon = match d.spec.kind {
                Kind::Single => 0,
                Kind::EventCount | Kind::ValueCount | Kind::TemporalOrdered | Kind::Travel => {
                    d.window()
                }
                Kind::NewValue | Kind::Baseline => 90 * DAY,
            };
            self.state
                .sweep(index, now - horizon, self.settings.max_groups);
        }
        self.state.release_empty();
    }

    /// Evaluate one NDJSON event line; append its alerts to `out` as
    /// NDJSON in `profile` (an alert the profile cannot convert, a defect,
    /// stays canonical rather than be lost). `listed`: its top-level
    /// members as the normalizer listed them while writing it, when it did
    /// (see [`partial::Listed`]). Returns (alerts written, alerts
    /// suppressed).
    pub fn process_line(
        &mut self,
        line: &[u8],
        listed: Option<partial::Listed<'_>>,
        profile: Profile,
        out: &mut Vec<u8>,
    ) -> (u32, u32) {
        // Validated once here, so that the reader need not check each string
        // (a check per string cost twice as much).
        let Ok(line) = std::str::from_utf8(line) else {
            return (0, 0); // Our own output; it is always UTF-8.
        };
        // Only what the detections reading this type of event read (see
        // [`partial`]); all that the pack reads when the type read ahead
        // is not the event's.
        let sniffed = match listed {
            Some(listed) => partial::Wanted::listed_type(line, listed),
            None => partial::Wanted::sniff_type(line.as_bytes()),
        };
        let wanted = match sniffed {
            Some(event_type) => self.wanted_for(event_type),
            None => Arc::clone(&self.wanted),
        };
        let event = match wanted.read(line, listed) {
            Some(e) if e.top_str(view::EVENT_TYPE) == sniffed => Some(e),
            _ => self.wanted.read(line, None),
        };
        let Some(event) = event else {
            return (0, 0); // Our own output; it always parses.
        };
        let raised = self.process_view(&event);
        for alert in &raised.alerts {
            let converted = crate::profile::convert(profile, alert);
            if serde_json::to_writer(&mut *out, converted.as_ref().unwrap_or(alert)).is_ok() {
                out.push(b'\n');
            }
        }
        (raised.alerts.len() as u32, raised.suppressed)
    }

    /// The state as versioned JSON (see [`state`]).
    pub fn export_state(&self) -> Vec<u8> {
        self.state.export()
    }

    /// Replace the state with an exported one.
    pub fn import_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let keys: Vec<String> = self.detections.iter().map(|d| d.key.clone()).collect();
        self.state = EngineState::import(bytes, keys, places(&self.detections))?;
        Ok(())
    }
}

/// The event being evaluated, with the fields every detection reads.
#[derive(Clone, Copy)]
struct Seen<'a> {
    event: &'a View<'a>,
    event_type: &'a str,
    id: &'a str,
    t: i64,
}

impl Seen<'_> {
    fn hit(&self, v: Option<String>) -> Hit {
        Hit {
            t: self.t,
            id: self.id.to_owned(),
            v,
        }
    }
}

/// What a detection found: the triggering hits, the window (start, end,
/// length in ms), the observed value and the baseline.
struct Outcome {
    hits: Vec<Hit>,
    window: (i64, i64, i64),
    observed: Value,
    baseline: Option<Value>,
}

impl Outcome {
    /// A finding about the event alone.
    fn single(seen: &Seen<'_>, observed: Value, baseline: Option<Value>) -> Self {
        Self {
            hits: vec![seen.hit(None)],
            window: (seen.t, seen.t, 0),
            observed,
            baseline,
        }
    }
}

/// `event_count` / `value_count`.
fn count(d: &Detection, slot: &mut Slot<'_>, seen: &Seen<'_>) -> Option<Outcome> {
    let distinct = d.spec.kind == Kind::ValueCount;
    let value = first_text(seen.event, &d.ids.field).map(Cow::into_owned);
    if distinct && value.is_none() {
        return None;
    }
    let threshold = d.spec.threshold.unwrap_or(1);
    let group = slot.group(seen.t, || GroupState::Window(Default::default()));
    let GroupState::Window(g) = &mut group.s else {
        return None;
    };
    let fired = g.add(seen.hit(value), d.window(), threshold, distinct)?;
    Some(Outcome {
        window: (
            fired.hits[0].t,
            fired.hits[fired.hits.len() - 1].t,
            d.window(),
        ),
        hits: fired.hits,
        observed: json!({"count": fired.observed, "threshold": threshold}),
        baseline: None,
    })
}

/// `new_value`: `start`, when the detection started, and whether the
/// event is of its alerting types.
fn first_seen(
    d: &Detection,
    slot: &mut Slot<'_>,
    seen: &Seen<'_>,
    (start, alerting): (i64, bool),
) -> Option<Outcome> {
    d.spec.field.as_ref()?;
    let value = first_text(seen.event, &d.ids.field)?;
    let learning = d.spec.learning.map_or(0, |x| x.ms);
    let entity_learning = d.spec.entity_learning.map_or(0, |x| x.ms);
    let group = slot.group(seen.t, || GroupState::FirstSeen(Default::default()));
    let GroupState::FirstSeen(g) = &mut group.s else {
        return None;
    };
    let known = g.known.len();
    let new = if d.spec.alert_types.is_empty() {
        g.add(&value, seen.t, start, learning, entity_learning)
    } else {
        let periods = first_seen::Periods {
            detection_start: start,
            learning,
            entity_learning,
            fresh: d.spec.fresh.map_or(0, |x| x.ms),
        };
        g.observe(&value, seen.t, periods, alerting)
    };
    if !new {
        return None;
    }
    let observed = json!({"field": d.spec.field, "value": value});
    Some(Outcome::single(
        seen,
        observed,
        Some(json!({"known_values": known})),
    ))
}

/// `baseline`.
fn spike(d: &Detection, slot: &mut Slot<'_>, seen: &Seen<'_>) -> Option<Outcome> {
    let amount = match d.ids.literal {
        Some(f) => seen.event.first(f).and_then(matcher::number)?,
        None => 1.0,
    };
    let params = Params {
        z: d.spec.z.unwrap_or(3.5),
        floor: d.spec.floor.unwrap_or(0.0),
        min_days: d.spec.min_history_days.unwrap_or(7),
        method: d.spec.method.unwrap_or_default(),
        alpha: d.spec.alpha.unwrap_or(0.1),
    };
    let group = slot.group(seen.t, || GroupState::Baseline(Default::default()));
    let GroupState::Baseline(g) = &mut group.s else {
        return None;
    };
    let spike = g.add(seen.t, amount, params)?;
    Some(Outcome {
        hits: vec![seen.hit(None)],
        window: (spike.hour_start, seen.t, 3_600_000),
        observed: json!({"value": spike.observed, "per": "hour", "field": d.spec.field}),
        baseline: Some(baseline_json(&spike, &params)),
    })
}

/// `travel`: the journey from the group's previous located event.
fn travel(d: &Detection, slot: &mut Slot<'_>, seen: &Seen<'_>) -> Option<Outcome> {
    let place = seen.event.first(d.ids.literal?)?;
    let coordinate = |name: &str| place.get(name).and_then(matcher::number);
    let fix = travel::Fix {
        t: seen.t,
        lat: coordinate("lat")?,
        lon: coordinate("lon")?,
        country: place
            .get("country")
            .and_then(Node::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
        id: seen.id.to_owned(),
    };
    let limits = travel::Limits {
        min_km: d.spec.min_km.unwrap_or(500.0),
        min_kmh: d.spec.min_kmh.unwrap_or(800.0),
        window: d.window(),
    };
    let group = slot.group(seen.t, || GroupState::Travel(Default::default()));
    let GroupState::Travel(g) = &mut group.s else {
        return None;
    };
    let country = fix.country.clone();
    let journey = g.add(fix, limits)?;
    let from = journey.from;
    let earlier = Hit {
        t: from.t,
        id: from.id.clone(),
        v: None,
    };
    let mut hits = vec![earlier, seen.hit(None)];
    hits.sort_by_key(|h| h.t);
    Some(Outcome {
        window: (hits[0].t, hits[1].t, d.window()),
        hits,
        observed: json!({
            "distance_km": journey.km.round(),
            "speed_kmh": journey.kmh.map(f64::round),
            "from_country": from.country, "to_country": country,
        }),
        baseline: Some(json!({"min_km": limits.min_km, "min_speed_kmh": limits.min_kmh})),
    })
}

/// The alert's `baseline`: the method's centre and spread under their own
/// names (`median`/`mad`, or `mean`/`stddev` with `alpha` and the
/// `hour_of_week` bucket used), the score and the thresholds.
fn baseline_json(spike: &baseline::Spike, params: &Params) -> Value {
    let mut b = json!({
        "method": params.method.name(),
        "z": round(spike.z), "z_threshold": params.z, "floor": params.floor,
        "history_hours": spike.history_hours, "history_days": spike.history_days,
    });
    if params.method == baseline::Method::RobustZ {
        b["median"] = json!(spike.center);
        b["mad"] = json!(spike.spread);
    } else {
        b["mean"] = json!(round(spike.center));
        b["stddev"] = json!(round(spike.spread));
        b["alpha"] = json!(params.alpha);
        b["hour_of_week"] = json!(spike.bucket);
    }
    b
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn origin(d: &Detection) -> Origin<'_> {
    Origin {
        rule_id: &d.rule_id,
        detection: &d.spec.name,
        title: &d.title,
        severity: d.severity,
        tags: &d.tags,
        kind: d.spec.kind,
        signal: d.signal,
    }
}

/// The group key, written into `key`: `field=value` per `group_by` entry
/// (each given as the numbers of its alternatives in `paths`), joined by
/// `;`. An entry `a|b` takes the first present field and names it, so a
/// user id and an IP never land in the same bucket. `false` when an entry
/// has no value: such events are not grouped under an empty key.
pub fn group_key(
    event: &View<'_>,
    group_by: &[Vec<PathId>],
    paths: &Paths,
    key: &mut String,
) -> bool {
    key.clear();
    if group_by.is_empty() {
        key.push_str("organization");
        return true;
    }
    for entry in group_by {
        let Some((field, value)) = entry
            .iter()
            .find_map(|&f| Some((paths.name(f), text(event.first(f)?)?)))
        else {
            return false;
        };
        if !key.is_empty() {
            key.push(';');
        }
        key.push_str(field);
        key.push('=');
        key.push_str(&value);
    }
    true
}

/// The alias value of a sequence step (`key`, whose alternatives `a|b`
/// are numbered `ids`: the first present); the whole organization when the
/// step names no key.
fn step_key(event: &View<'_>, key: &str, ids: &[PathId]) -> Option<String> {
    if key.is_empty() {
        return Some("organization".to_owned());
    }
    first_text(event, ids).map(Cow::into_owned)
}

/// The first present of the alternatives numbered `fields`, as text.
fn first_text<'v>(event: &'v View<'_>, fields: &[PathId]) -> Option<Cow<'v, str>> {
    fields.iter().find_map(|&f| text(event.first(f)?))
}

/// The fields of `a|b|...`, in order.
fn alternatives(fields: &str) -> impl Iterator<Item = &str> {
    matcher::parts(fields, b'|')
}

/// The event's organization, for its alerts.
fn organization(event: &View<'_>) -> Value {
    event
        .top(view::ORGANIZATION)
        .map_or(Value::Null, Node::to_value)
}

fn invalid(path: &str, message: String) -> ConfigError {
    ConfigError {
        kind: ConfigErrorKind::InvalidValue,
        path: path.to_owned(),
        message,
    }
}

/// The ids of `rules`, sorted and without repeats.
fn inactive_ids(rules: &[RuleFile]) -> Vec<String> {
    let mut ids: Vec<String> = rules.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Every rule id a setting names must exist.
fn check_selectors(rules: &[RuleFile], settings: &DetectSettings) -> Result<(), ConfigError> {
    let known = |selector: &str| {
        rules
            .iter()
            .any(|r| r.detections.iter().any(|d| names(selector, &r.id, &d.name)))
    };
    let selectors = settings
        .disable
        .iter()
        .map(|s| ("detections.disable", s))
        .chain(
            settings
                .overrides
                .keys()
                .map(|s| ("detections.overrides", s)),
        )
        .chain(
            settings
                .suppress
                .iter()
                .map(|s| ("detections.suppress", &s.rule)),
        );
    for (path, selector) in selectors {
        if !known(selector) {
            return Err(invalid(
                path,
                format!("no rule or detection `{selector}` in the pack"),
            ));
        }
    }
    if settings.max_groups == 0 {
        return Err(invalid(
            "detections.max_groups",
            "must be at least 1".to_owned(),
        ));
    }
    Ok(())
}

/// A detection with the overrides that name it (rule-wide first, then the
/// detection's own), checked for the fields its kind needs.
fn compile(
    rule: &RuleFile,
    spec: &DetectionSpec,
    settings: &DetectSettings,
) -> Result<Detection, ConfigError> {
    let mut spec = spec.clone();
    let mut severity = spec.severity.unwrap_or(rule.severity);
    let rule_wide = settings.overrides.get(&rule.id);
    let own = settings
        .overrides
        .get(&format!("{}/{}", rule.id, spec.name));
    for o in rule_wide.into_iter().chain(own) {
        spec.threshold = o.threshold.or(spec.threshold);
        spec.window = o.window.or(spec.window);
        spec.learning = o.learning.or(spec.learning);
        spec.entity_learning = o.entity_learning.or(spec.entity_learning);
        spec.z = o.z.or(spec.z);
        spec.floor = o.floor.or(spec.floor);
        spec.min_history_days = o.min_history_days.or(spec.min_history_days);
        severity = o.severity.unwrap_or(severity);
    }
    let path = format!("detections.{}/{}", rule.id, spec.name);
    let needs = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(invalid(&path, format!("a {what}")))
        }
    };
    match spec.kind {
        Kind::Single => Ok(()),
        Kind::EventCount => needs(
            spec.window.is_some() && spec.threshold.is_some(),
            "window and a threshold are needed",
        ),
        Kind::ValueCount => needs(
            spec.window.is_some() && spec.threshold.is_some() && spec.field.is_some(),
            "window, a threshold and a field are needed",
        ),
        Kind::TemporalOrdered => needs(
            spec.window.is_some() && spec.steps.len() >= 2,
            "window and at least two steps are needed",
        ),
        Kind::NewValue => needs(spec.field.is_some(), "field is needed"),
        Kind::Travel => needs(spec.window.is_some(), "window is needed"),
        Kind::Baseline => needs(
            spec.floor.is_some() && spec.alpha.is_none_or(|a| a > 0.0 && a <= 1.0),
            "floor is needed (and alpha, when given, in (0, 1])",
        ),
    }?;
    Ok(Detection {
        key: format!("{}/{}", rule.id, spec.name),
        grouping: 0,
        conditions: Vec::new(),
        ids: Ids::default(),
        rule_id: rule.id.clone(),
        title: rule.title.clone(),
        tags: rule.tags.clone(),
        signal: rule.signal || spec.signal,
        severity,
        spec,
    })
}

/// Number the distinct `group_by` lists of `detections` (each detection's
/// `grouping`); returns how many there are.
fn number_groupings(detections: &mut [Detection]) -> usize {
    let mut distinct = Vec::new();
    for d in detections {
        d.grouping = number(&mut distinct, d.spec.group_by.clone());
    }
    distinct.len()
}

/// Number the distinct conditions of `detections` (each detection's
/// `conditions`); returns how many there are. Conditions are the same when
/// they read alike (their debug form: fields, tests and patterns).
fn number_conditions(detections: &mut [Detection]) -> usize {
    let mut distinct = Vec::new();
    for d in detections {
        d.conditions = d
            .spec
            .conditions
            .iter()
            .map(|c| number(&mut distinct, format!("{c:?}")))
            .collect();
    }
    distinct.len()
}

/// The number of `item` among `distinct`, added when new (rule-load time
/// only: a linear search over a few dozen items).
fn number<T: PartialEq>(distinct: &mut Vec<T>, item: T) -> usize {
    distinct.iter().position(|d| *d == item).unwrap_or_else(|| {
        distinct.push(item);
        distinct.len() - 1
    })
}

/// Where each detection's groups live: the table of its grouping, a slot
/// per detection of that grouping.
fn places(detections: &[Detection]) -> Vec<Place> {
    let mut used: Vec<usize> = Vec::new();
    detections
        .iter()
        .map(|d| {
            if used.len() <= d.grouping {
                used.resize(d.grouping + 1, 0);
            }
            used[d.grouping] += 1;
            Place {
                table: d.grouping,
                slot: used[d.grouping] - 1,
            }
        })
        .collect()
}

/// A detection that reads an event type, with what its type lists say
/// about that type (matched once per type, not per event: the globs were
/// a fiftieth of the engine's instructions).
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// The detection.
    index: usize,
    /// Bit `i`: a sequence's step `i` reads the type; bit 0 of a
    /// `new_value` detection with `alert_types`: the type alerts.
    types: u64,
}

impl Candidate {
    /// Whether the event's type is one of the alerting types.
    fn alerting(self) -> bool {
        self.types & 1 != 0
    }

    /// Whether step `i` (of types `types`) reads `event_type` (matched
    /// again only past the 64th step).
    fn step(self, i: usize, types: &[String], event_type: &str) -> bool {
        if i < 64 {
            self.types & (1 << i) != 0
        } else {
            type_matches(types, event_type)
        }
    }
}

/// [`Candidate::types`] of detection `d` for `event_type`.
fn type_bits(d: &Detection, event_type: &str) -> u64 {
    let bits = |lists: &mut dyn Iterator<Item = &[String]>| {
        lists.take(64).enumerate().fold(0u64, |acc, (i, types)| {
            acc | (u64::from(type_matches(types, event_type)) << i)
        })
    };
    match d.spec.kind {
        Kind::TemporalOrdered => bits(&mut d.spec.steps.iter().map(|s| s.types.as_slice())),
        _ => bits(&mut std::iter::once(d.spec.alert_types.as_slice())),
    }
}

/// Whether detection `d` (or one of its steps) reads events of `event_type`.
fn reads(d: &Detection, event_type: &str) -> bool {
    if d.spec.kind == Kind::TemporalOrdered {
        d.spec
            .steps
            .iter()
            .any(|s| type_matches(&s.types, event_type))
    } else {
        type_matches(&d.spec.types, event_type)
    }
}

/// Index detections by the exact event types they (or their steps) read.
fn index(detections: &[Detection]) -> (HashMap<String, Vec<usize>>, Vec<usize>) {
    let mut by_type: HashMap<String, Vec<usize>> = HashMap::new();
    let mut any_type = Vec::new();
    for (i, d) in detections.iter().enumerate() {
        let types: Vec<&String> = if d.spec.kind == Kind::TemporalOrdered {
            d.spec.steps.iter().flat_map(|s| &s.types).collect()
        } else {
            d.spec.types.iter().collect()
        };
        let globbed = types.is_empty()
            || types.iter().any(|t| t.contains('*'))
            || d.spec.kind == Kind::TemporalOrdered
                && d.spec.steps.iter().any(|s| s.types.is_empty());
        if globbed {
            any_type.push(i);
            continue;
        }
        for t in types {
            let list = by_type.entry(t.clone()).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    (by_type, any_type)
}
