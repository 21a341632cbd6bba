//! The control matrix (`data/controls.tsv`): which compliance controls an
//! event is evidence for. Table-driven; this module only loads the table and
//! applies its selectors.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::LazyLock;

const CONTROLS_TSV: &str = include_str!("../data/controls.tsv");

/// What a row of the matrix applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    All,
    Category(&'static str),
    EventType(&'static str),
    Outcome(&'static str),
    DataClass(&'static str),
    ActorKind(&'static str),
}

/// The facts about an event that selectors look at.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'e> {
    /// Canonical category.
    pub category: &'e str,
    /// The source's activity type.
    pub event_type: &'e str,
    /// success | failure | unknown.
    pub outcome: &'e str,
    /// Canonical actor kind.
    pub actor_kind: &'e str,
    /// Data classes found in the event.
    pub data_classes: &'e [&'e str],
}

static MATRIX: LazyLock<Vec<(Selector, Vec<&'static str>)>> = LazyLock::new(|| parse(CONTROLS_TSV));

fn parse(tsv: &'static str) -> Vec<(Selector, Vec<&'static str>)> {
    tsv.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (selector, controls) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("controls.tsv: no tab in {line:?}"));
            (
                parse_selector(selector),
                controls.split_whitespace().collect(),
            )
        })
        .collect()
}

fn parse_selector(text: &'static str) -> Selector {
    if text == "*" {
        return Selector::All;
    }
    match text.split_once(':') {
        Some(("category", v)) => Selector::Category(v),
        Some(("event_type", v)) => Selector::EventType(v),
        Some(("outcome", v)) => Selector::Outcome(v),
        Some(("data_class", v)) => Selector::DataClass(v),
        Some(("actor_kind", v)) => Selector::ActorKind(v),
        _ => panic!("controls.tsv: bad selector {text:?}"),
    }
}

impl Selector {
    fn applies(&self, e: &EventFacts<'_>) -> bool {
        match self {
            Self::All => true,
            Self::Category(c) => e.category == *c,
            Self::EventType(t) => e.event_type == *t,
            Self::Outcome(o) => e.outcome == *o,
            Self::DataClass(d) => e.data_classes.contains(d),
            Self::ActorKind(k) => e.actor_kind == *k,
        }
    }
}

/// Most distinct events remembered by [`controls_for`]'s cache.
const CACHE_ENTRIES: usize = 4096;

/// The cache key: every fact a selector can look at, joined by a unit
/// separator (one allocation per lookup).
type FactsKey = String;

thread_local! {
    /// The matrix is evaluated once per distinct combination of facts: a
    /// feed has a few hundred types, and most events repeat one.
    static CACHE: RefCell<HashMap<FactsKey, Rc<[&'static str]>>> = RefCell::new(HashMap::new());
}

/// The sorted, de-duplicated controls an event is evidence for.
///
/// # Panics
/// If the embedded matrix is malformed: a build defect caught by the unit
/// tests below.
pub fn controls_for(event: &EventFacts<'_>) -> Rc<[&'static str]> {
    let mut key: FactsKey = [
        event.category,
        event.event_type,
        event.outcome,
        event.actor_kind,
    ]
    .join("\x1f");
    for class in event.data_classes {
        key.push('\x1f');
        key.push_str(class);
    }
    if let Some(hit) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return hit;
    }
    let set: BTreeSet<&'static str> = MATRIX
        .iter()
        .filter(|(selector, _)| selector.applies(event))
        .flat_map(|(_, controls)| controls.iter().copied())
        .collect();
    let controls: Rc<[&'static str]> = set.into_iter().collect();
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, Rc::clone(&controls));
    });
    controls
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::tables;

    #[test]
    fn matrix_loads_and_names_known_categories_and_kinds() {
        let t = tables();
        for (selector, controls) in MATRIX.iter() {
            assert!(!controls.is_empty(), "{selector:?} maps to nothing");
            for control in controls {
                assert!(control.contains(':'), "{control}: framework:id expected");
            }
            match selector {
                Selector::Category(c) => assert!(t.categories.contains(c), "{c}"),
                Selector::EventType(e) => assert!(
                    t.activity_types.contains_key(e) || crate::content::EVENT_TYPES.contains(e),
                    "{e}"
                ),
                Selector::ActorKind(k) => {
                    assert!(t.actor_variants.values().any(|v| v.kind == *k), "{k}");
                }
                Selector::Outcome(o) => assert!(["success", "failure", "unknown"].contains(o)),
                Selector::DataClass(d) => {
                    assert!(["pii", "phi", "secret", "financial"].contains(d), "{d}");
                }
                Selector::All => {}
            }
        }
    }

    #[test]
    fn controls_combine_rows() {
        let facts = EventFacts {
            category: "chat",
            event_type: "claude_chat_deleted",
            outcome: "success",
            actor_kind: "user",
            data_classes: &["phi"],
        };
        let controls = controls_for(&facts);
        for expected in [
            "SOC2:CC7.2",
            "GDPR:Art.17",
            "HIPAA:164.316(b)(2)",
            "EU-AI-Act:Art.12",
        ] {
            assert!(
                controls.contains(&expected),
                "{expected} missing from {controls:?}"
            );
        }
        assert!(
            controls.windows(2).all(|w| w[0] < w[1]),
            "sorted and unique"
        );
    }
}
