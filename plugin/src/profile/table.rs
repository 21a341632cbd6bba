//! The profile tables in `plugin/data/`: activity type -> OCSF class and
//! activity, ECS category and type (`profiles.tsv`), the OCSF classes and
//! their activities (`ocsf-classes.tsv`) and actor kind -> OCSF user type
//! (`profile-actors.tsv`). Embedded at build time and parsed once; a malformed
//! table is a build defect (the unit tests load and cross-check every row).

use std::collections::HashMap;
use std::sync::LazyLock;

const PROFILES_TSV: &str = include_str!("../../data/profiles.tsv");
const OCSF_CLASSES_TSV: &str = include_str!("../../data/ocsf-classes.tsv");
const PROFILE_ACTORS_TSV: &str = include_str!("../../data/profile-actors.tsv");

/// The OCSF class and activity of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcsfActivity {
    /// `class_uid`.
    pub class_uid: u32,
    /// `class_name`.
    pub class_name: &'static str,
    /// `category_uid`.
    pub category_uid: u32,
    /// `category_name`.
    pub category_name: &'static str,
    /// `activity_id`.
    pub activity_id: u32,
    /// `activity_name`.
    pub activity_name: &'static str,
}

impl OcsfActivity {
    /// `type_uid`: class_uid * 100 + activity_id (OCSF's definition).
    pub fn type_uid(&self) -> u32 {
        self.class_uid * 100 + self.activity_id
    }
}

/// One row of `profiles.tsv`.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// OCSF class and activity.
    pub ocsf: OcsfActivity,
    /// ECS `event.category` values.
    pub ecs_category: Vec<&'static str>,
    /// ECS `event.type` values.
    pub ecs_type: Vec<&'static str>,
}

/// All profile tables, parsed.
#[derive(Debug)]
pub struct ProfileTables {
    /// Mappings by activity type.
    pub mappings: HashMap<&'static str, Mapping>,
    /// The fallback for types missing from `profiles.tsv`: API Activity /
    /// Other, ECS `api` / `info`.
    pub fallback: Mapping,
    /// OCSF user `type_id` by canonical actor kind.
    pub user_types: HashMap<&'static str, u32>,
    /// Activities by (class_uid, activity name), from `ocsf-classes.tsv`.
    pub activities: HashMap<(u32, &'static str), OcsfActivity>,
}

static TABLES: LazyLock<ProfileTables> = LazyLock::new(|| {
    let activities = parse_classes(OCSF_CLASSES_TSV);
    let fallback = Mapping {
        ocsf: activities[&(API_ACTIVITY, "other")],
        ecs_category: vec!["api"],
        ecs_type: vec!["info"],
    };
    ProfileTables {
        mappings: parse_mappings(PROFILES_TSV, &activities),
        fallback,
        user_types: rows(PROFILE_ACTORS_TSV)
            .map(|c| (c[0], number(c[1], "profile-actors.tsv")))
            .collect(),
        activities,
    }
});

/// OCSF API Activity: the class of the Compliance API and the fallback.
pub const API_ACTIVITY: u32 = 6003;

/// The embedded profile tables, parsed on first use.
///
/// # Panics
/// If an embedded table is malformed: a build defect caught by the unit
/// tests, never a runtime condition.
pub fn tables() -> &'static ProfileTables {
    &TABLES
}

/// The mapping of an activity type (the fallback for unknown types).
pub fn mapping(event_type: &str) -> &'static Mapping {
    let t = tables();
    t.mappings.get(event_type).unwrap_or(&t.fallback)
}

fn rows(tsv: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    tsv.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split('\t').collect())
}

fn number(cell: &str, table: &str) -> u32 {
    cell.parse()
        .unwrap_or_else(|_| panic!("{table}: {cell:?} is not a number"))
}

fn parse_classes(tsv: &'static str) -> HashMap<(u32, &'static str), OcsfActivity> {
    rows(tsv)
        .map(|c| {
            assert_eq!(c.len(), 7, "ocsf-classes.tsv: row {c:?}");
            let a = OcsfActivity {
                class_uid: number(c[0], "ocsf-classes.tsv"),
                class_name: c[1],
                category_uid: number(c[2], "ocsf-classes.tsv"),
                category_name: c[3],
                activity_id: number(c[4], "ocsf-classes.tsv"),
                activity_name: c[6],
            };
            ((a.class_uid, c[5]), a)
        })
        .collect()
}

fn parse_mappings(
    tsv: &'static str,
    activities: &HashMap<(u32, &'static str), OcsfActivity>,
) -> HashMap<&'static str, Mapping> {
    rows(tsv)
        .map(|c| {
            assert_eq!(c.len(), 5, "profiles.tsv: row {c:?}");
            let class = number(c[1], "profiles.tsv");
            let ocsf = *activities
                .get(&(class, c[2]))
                .unwrap_or_else(|| panic!("profiles.tsv: {}: no activity {class}/{}", c[0], c[2]));
            let split = |cell: &'static str| cell.split(',').collect::<Vec<_>>();
            let row = Mapping {
                ocsf,
                ecs_category: split(c[3]),
                ecs_type: split(c[4]),
            };
            (c[0], row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::tables as canonical;

    /// The rule: every activity type has an explicit row in both
    /// profiles, and no row names a type the classification does not know.
    #[test]
    fn every_activity_type_has_an_explicit_mapping() {
        let known = &canonical().activity_types;
        let mapped = &tables().mappings;
        for name in known.keys() {
            assert!(mapped.contains_key(name), "profiles.tsv: no row for {name}");
        }
        for name in mapped.keys() {
            assert!(
                known.contains_key(name),
                "profiles.tsv: {name} is not an activity type"
            );
        }
        assert_eq!(
            rows(PROFILES_TSV).count(),
            mapped.len(),
            "profiles.tsv repeats a type"
        );
    }

    #[test]
    fn every_actor_kind_has_an_ocsf_user_type() {
        for variant in canonical().actor_variants.values() {
            assert!(
                tables().user_types.contains_key(variant.kind),
                "{}",
                variant.kind
            );
        }
        assert!(tables().user_types.contains_key("unknown"));
    }

    #[test]
    fn ecs_columns_are_never_empty_and_type_uid_follows_ocsf() {
        for (name, m) in &tables().mappings {
            assert!(m.ecs_category.iter().all(|c| !c.is_empty()), "{name}");
            assert!(m.ecs_type.iter().all(|t| !t.is_empty()), "{name}");
            assert_eq!(
                m.ocsf.type_uid(),
                m.ocsf.class_uid * 100 + m.ocsf.activity_id
            );
        }
    }
}
