//! The data tables in `plugin/data/`, embedded at build time and parsed once.
//!
//! The Activity Feed grows every few weeks (SPEC section 0), so what changes
//! with it lives in these files, not in code: activity-type classification,
//! actor variants and the fields that feed `resource`/`target`. This module
//! only loads them; `classify` and `actor` use them.
//!
//! The tables are part of the binary, so a malformed table is a build defect:
//! the unit tests below load every table and check its invariants, and the
//! loaders panic (documented on [`tables`]) rather than run with half a table.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

const ACTIVITY_TYPES_TSV: &str = include_str!("../data/activity-types.tsv");
const CATEGORIES_TSV: &str = include_str!("../data/categories.tsv");
const ACTOR_VARIANTS_TSV: &str = include_str!("../data/actor-variants.tsv");
const FIELD_ROLES_TSV: &str = include_str!("../data/field-roles.tsv");

/// How the outcome of an activity type is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeRule {
    /// Always `success`.
    Success,
    /// Always `failure`.
    Failure,
    /// Always `unknown`.
    Unknown,
    /// From the record's `status_code`: 2xx/3xx success, 4xx failure, else unknown.
    StatusCode,
}

/// Which type-specific fields an activity type is known to carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnownFields {
    /// The type's field list is not known: every type-specific field is unmapped.
    Unknown,
    /// The known field names (empty: the type has no type-specific fields).
    List(HashSet<&'static str>),
}

impl KnownFields {
    /// Whether `name` is a known field of the type.
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Self::Unknown => false,
            Self::List(names) => names.contains(name),
        }
    }
}

/// One row of `activity-types.tsv`.
#[derive(Debug, Clone)]
pub struct ActivityType {
    /// Canonical category (listed in `categories.tsv`).
    pub category: &'static str,
    /// Canonical action verb.
    pub action: &'static str,
    /// How the outcome is decided.
    pub outcome: OutcomeRule,
    /// The type-specific fields known for this type.
    pub fields: KnownFields,
}

/// One row of `actor-variants.tsv`.
#[derive(Debug, Clone)]
pub struct ActorVariant {
    /// Canonical actor kind.
    pub kind: &'static str,
    /// Field that becomes `actor.id`.
    pub id_field: Option<&'static str>,
    /// Field that becomes `actor.email`.
    pub email_field: Option<&'static str>,
    /// Every documented field of the variant (besides `type`).
    pub fields: HashSet<&'static str>,
}

/// What a type-specific field contributes to the canonical event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRole {
    /// The event's resource, of this type.
    Resource(&'static str),
    /// `target.user_id`.
    TargetUserId,
    /// `target.email`.
    TargetEmail,
    /// `request_id`.
    RequestId,
    /// `model_id`.
    ModelId,
}

/// All tables, parsed.
#[derive(Debug)]
pub struct Tables {
    /// Activity types by `type` value.
    pub activity_types: HashMap<&'static str, ActivityType>,
    /// Known categories (checked against the activity types by the tests;
    /// kept here so that the README's category list has one home).
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read by the table invariant tests only")
    )]
    pub categories: HashSet<&'static str>,
    /// Actor variants by `actor.type` value.
    pub actor_variants: HashMap<&'static str, ActorVariant>,
    /// Field roles by field name, with their priority (row number: lower wins).
    pub field_roles: HashMap<&'static str, (usize, FieldRole)>,
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| Tables {
    activity_types: parse_activity_types(ACTIVITY_TYPES_TSV),
    categories: rows(CATEGORIES_TSV).map(|cols| cols[0]).collect(),
    actor_variants: parse_actor_variants(ACTOR_VARIANTS_TSV),
    field_roles: parse_field_roles(FIELD_ROLES_TSV),
});

/// The embedded tables, parsed on first use.
///
/// # Panics
/// If an embedded table is malformed. That is a build defect caught by this
/// module's unit tests, never a runtime condition.
pub fn tables() -> &'static Tables {
    &TABLES
}

/// Data rows of a TSV table: comment (`#`) and blank lines skipped.
fn rows(tsv: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    tsv.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split('\t').collect())
}

fn list(cell: &'static str) -> HashSet<&'static str> {
    cell.split(',').filter(|s| !s.is_empty()).collect()
}

fn optional(cell: &'static str) -> Option<&'static str> {
    (cell != "-").then_some(cell)
}

fn parse_activity_types(tsv: &'static str) -> HashMap<&'static str, ActivityType> {
    rows(tsv)
        .map(|cols| {
            assert_eq!(cols.len(), 5, "activity-types.tsv: row {cols:?}");
            let outcome = match cols[3] {
                "success" => OutcomeRule::Success,
                "failure" => OutcomeRule::Failure,
                "unknown" => OutcomeRule::Unknown,
                "status_code" => OutcomeRule::StatusCode,
                other => panic!("activity-types.tsv: unknown outcome {other:?}"),
            };
            let fields = match cols[4] {
                "?" => KnownFields::Unknown,
                "-" => KnownFields::List(HashSet::new()),
                names => KnownFields::List(list(names)),
            };
            let row = ActivityType {
                category: cols[1],
                action: cols[2],
                outcome,
                fields,
            };
            (cols[0], row)
        })
        .collect()
}

fn parse_actor_variants(tsv: &'static str) -> HashMap<&'static str, ActorVariant> {
    rows(tsv)
        .map(|cols| {
            assert_eq!(cols.len(), 5, "actor-variants.tsv: row {cols:?}");
            let row = ActorVariant {
                kind: cols[1],
                id_field: optional(cols[2]),
                email_field: optional(cols[3]),
                fields: list(cols[4]),
            };
            (cols[0], row)
        })
        .collect()
}

fn parse_field_roles(tsv: &'static str) -> HashMap<&'static str, (usize, FieldRole)> {
    rows(tsv)
        .enumerate()
        .map(|(priority, cols)| {
            assert_eq!(cols.len(), 2, "field-roles.tsv: row {cols:?}");
            let role = match cols[1] {
                "target.user_id" => FieldRole::TargetUserId,
                "target.email" => FieldRole::TargetEmail,
                "request_id" => FieldRole::RequestId,
                "model_id" => FieldRole::ModelId,
                other => match other.strip_prefix("resource:") {
                    Some(kind) if !kind.is_empty() => FieldRole::Resource(kind),
                    _ => panic!("field-roles.tsv: unknown role {other:?}"),
                },
            };
            (cols[0], (priority, role))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys of a table in file order, to check sortedness and uniqueness.
    fn keys(tsv: &'static str) -> Vec<&'static str> {
        rows(tsv).map(|cols| cols[0]).collect()
    }

    fn assert_sorted_unique(name: &str, keys: &[&str]) {
        for pair in keys.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{name}: {:?} out of order or repeated",
                pair
            );
        }
    }

    #[test]
    fn every_table_loads_sorted_and_unique() {
        let t = tables();
        assert_sorted_unique("activity-types.tsv", &keys(ACTIVITY_TYPES_TSV));
        assert_sorted_unique("categories.tsv", &keys(CATEGORIES_TSV));
        assert_sorted_unique("actor-variants.tsv", &keys(ACTOR_VARIANTS_TSV));
        // SPEC section 9 lists 514 types in the ~2026-09-26 enum.
        assert!(t.activity_types.len() >= 514, "{}", t.activity_types.len());
        // SPEC section 4 lists 11 actor variants.
        assert_eq!(t.actor_variants.len(), 11);
        let roles = keys(FIELD_ROLES_TSV);
        assert_eq!(
            roles.len(),
            t.field_roles.len(),
            "field-roles.tsv repeats a field"
        );
    }

    #[test]
    fn every_category_used_is_declared() {
        let t = tables();
        for (name, row) in &t.activity_types {
            assert!(
                t.categories.contains(row.category),
                "{name}: {}",
                row.category
            );
            assert!(!row.action.is_empty(), "{name}: empty action");
        }
        assert!(t.categories.contains("unknown"));
    }

    #[test]
    fn actor_id_and_email_fields_are_declared_fields() {
        for (name, v) in &tables().actor_variants {
            for f in v.id_field.iter().chain(v.email_field.iter()) {
                assert!(v.fields.contains(f), "{name}: {f} not among its fields");
            }
        }
    }
}
