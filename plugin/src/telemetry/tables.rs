//! The Claude Code tables (`plugin/data/claude-code/`), embedded at build
//! time and parsed once: what each event becomes and where each attribute
//! goes. Claude Code adds events and attributes every few weeks, so they are
//! data; a malformed table is a build defect, caught by the tests below.

use std::collections::HashMap;
use std::sync::LazyLock;

const EVENTS_TSV: &str = include_str!("../../data/claude-code/events.tsv");
const ATTRIBUTES_TSV: &str = include_str!("../../data/claude-code/attributes.tsv");

/// How an event's outcome is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A fixed outcome: `success`, `failure` or `unknown`.
    Fixed(&'static str),
    /// From the `success` attribute.
    SuccessAttr,
    /// From `decision`: accept -> success, reject -> failure.
    Decision,
    /// From `status`: failed -> failure, connected/disconnected -> success.
    Status,
}

/// Which reference §9 key makes an event's `event_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedupe {
    /// `client_request_id`, else `request_id`.
    Request,
    /// `tool_use_id`.
    Tool,
    /// `message.uuid`.
    Message,
    /// The metric data point's identity.
    Metric,
    /// Session, event, time, sequence.
    Sequence,
}

/// One row of `events.tsv`.
#[derive(Debug, Clone, Copy)]
pub struct EventRow {
    /// Canonical category.
    pub category: &'static str,
    /// Canonical action.
    pub action: &'static str,
    /// How the outcome is decided.
    pub outcome: Outcome,
    /// The dedupe key.
    pub dedupe: Dedupe,
}

/// How an attribute value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Str,
    /// An integer.
    Int,
    /// A boolean.
    Bool,
    /// Dollars, stored as integer micro-dollars.
    Micros,
    /// An array of strings.
    Strs,
    /// Conversation content (policy-controlled, hashed where applicable).
    Content,
    /// Content holding JSON in a string.
    Json,
    /// Operational text: always kept, redacted (not subject to the policy).
    Text,
    /// Operational JSON in a string, likewise.
    JsonText,
}

/// Where an attribute goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Read by the code only.
    None,
    /// A top-level canonical field.
    Top(&'static str),
    /// `actor.<name>`.
    Actor(&'static str),
    /// `actor.attributes.<name>`.
    ActorAttribute(&'static str),
    /// `details.<name>`.
    Details(&'static str),
}

/// One row of `attributes.tsv`.
#[derive(Debug, Clone, Copy)]
pub struct AttributeRow {
    /// Where it goes.
    pub place: Place,
    /// How it is read.
    pub kind: Kind,
}

/// Both tables.
pub struct Tables {
    /// By bare event name.
    pub events: HashMap<&'static str, EventRow>,
    /// By attribute key.
    pub attributes: HashMap<&'static str, AttributeRow>,
}

/// The tables, parsed on first use.
///
/// # Panics
/// On a malformed table (a build defect; the unit tests load them).
pub fn tables() -> &'static Tables {
    static TABLES: LazyLock<Tables> = LazyLock::new(|| Tables {
        events: rows(EVENTS_TSV, 5).map(|c| (c[0], event_row(&c))).collect(),
        attributes: rows(ATTRIBUTES_TSV, 3)
            .map(|c| (c[0], attribute_row(&c)))
            .collect(),
    });
    &TABLES
}

fn rows(tsv: &'static str, columns: usize) -> impl Iterator<Item = Vec<&'static str>> {
    tsv.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(move |line| {
            let cells: Vec<&str> = line.split('\t').collect();
            assert_eq!(cells.len(), columns, "claude-code table row {line:?}");
            cells
        })
}

fn event_row(c: &[&'static str]) -> EventRow {
    let outcome = match c[3] {
        fixed @ ("success" | "failure" | "unknown") => Outcome::Fixed(fixed),
        "success_attr" => Outcome::SuccessAttr,
        "decision" => Outcome::Decision,
        "status" => Outcome::Status,
        other => panic!("events.tsv: unknown outcome rule {other:?}"),
    };
    let dedupe = match c[4] {
        "request" => Dedupe::Request,
        "tool" => Dedupe::Tool,
        "message" => Dedupe::Message,
        "metric" => Dedupe::Metric,
        "sequence" => Dedupe::Sequence,
        other => panic!("events.tsv: unknown dedupe key {other:?}"),
    };
    EventRow {
        category: c[1],
        action: c[2],
        outcome,
        dedupe,
    }
}

fn attribute_row(c: &[&'static str]) -> AttributeRow {
    let place = match c[1] {
        "-" => Place::None,
        field => {
            if let Some(name) = field.strip_prefix("details.") {
                Place::Details(name)
            } else if let Some(name) = field.strip_prefix("actor.attributes.") {
                Place::ActorAttribute(name)
            } else if let Some(name) = field.strip_prefix("actor.") {
                Place::Actor(name)
            } else {
                assert!(
                    ["user_id", "organization_uuid", "request_id", "model_id"].contains(&field),
                    "attributes.tsv: unknown field {field:?}"
                );
                Place::Top(field)
            }
        }
    };
    let kind = match c[2] {
        "str" => Kind::Str,
        "int" => Kind::Int,
        "bool" => Kind::Bool,
        "micros" => Kind::Micros,
        "strs" => Kind::Strs,
        "content" => Kind::Content,
        "json" => Kind::Json,
        "text" => Kind::Text,
        "jsontext" => Kind::JsonText,
        other => panic!("attributes.tsv: unknown type {other:?}"),
    };
    AttributeRow { place, kind }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_load_with_known_categories_and_unique_keys() {
        let t = tables();
        assert!(t.events.len() >= 29);
        let categories = include_str!("../../data/categories.tsv");
        for row in t.events.values() {
            assert!(
                categories
                    .lines()
                    .any(|l| l.split('\t').next() == Some(row.category)),
                "category {} not in categories.tsv",
                row.category
            );
        }
        for tsv in [EVENTS_TSV, ATTRIBUTES_TSV] {
            let keys: Vec<&str> = rows(tsv, tsv_columns(tsv)).map(|c| c[0]).collect();
            let mut unique = keys.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(
                keys.len(),
                unique.len(),
                "duplicate key in a claude-code table"
            );
        }
    }

    fn tsv_columns(tsv: &str) -> usize {
        if tsv == EVENTS_TSV { 5 } else { 3 }
    }
}
