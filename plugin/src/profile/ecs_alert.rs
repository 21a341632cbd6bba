//! Alerts (`event_type` `claude_audit.alert`) as ECS 9.4.0 alert documents.
//!
//! `event.kind: alert`, category `intrusion_detection` / type `info` (the
//! pair ECS allows for a detection), `event.id` the deterministic alert id,
//! `event.start`/`event.end` the window, `event.severity` the OCSF/Sigma
//! level (1 informational .. 5 critical); `rule.*` the rule and detection;
//! `threat.*` its ATT&CK techniques and tactics (ATLAS ids, which ECS's
//! `threat.framework` cannot name alongside ATT&CK, stay in `tags`); the
//! group, window, observed value, baseline and triggering event ids under
//! `claude_audit.alert`. Everything is pseudonymous: alerts are built after
//! redaction.

use serde_json::{Map, Value, json};

use super::ecs::{DATASET, MODULE, VERSION};
use super::finding::{is_technique, rule_tags, tactic_name, technique_id};
use super::{Canonical, put};

/// Convert a canonical alert; `None` if it lacks its id or timestamp.
pub fn convert(event: &Value) -> Option<Value> {
    let e = Canonical(event);
    let mut o = Map::new();
    o.insert("@timestamp".into(), e.str("/timestamp")?.into());
    o.insert("ecs".into(), json!({ "version": VERSION }));
    o.insert("event".into(), event_fields(&e)?);
    put(&mut o, "message", e.str("/rule/title"));
    o.insert("rule".into(), rule(&e));
    put(&mut o, "threat", threat(&e));
    put(&mut o, "tags", e.get("/rule/tags").cloned());
    put(
        &mut o,
        "organization",
        e.str("/organization_uuid").map(|id| json!({ "id": id })),
    );
    o.insert(MODULE.into(), custom(&e));
    Some(Value::Object(o))
}

fn event_fields(e: &Canonical<'_>) -> Option<Value> {
    let severity = e.get("/rule/severity_id").and_then(Value::as_u64);
    let mut f = Map::new();
    f.insert("kind".into(), "alert".into());
    f.insert("category".into(), json!(["intrusion_detection"]));
    f.insert("type".into(), json!(["info"]));
    f.insert("id".into(), e.str("/event_id")?.into());
    put(&mut f, "action", e.str("/rule/detection"));
    put(&mut f, "code", e.str("/rule/id"));
    put(&mut f, "severity", severity);
    put(&mut f, "start", e.str("/window/start"));
    put(&mut f, "end", e.str("/window/end"));
    f.insert("module".into(), MODULE.into());
    f.insert("dataset".into(), DATASET.into());
    f.insert("provider".into(), "claude-audit".into());
    Some(Value::Object(f))
}

fn rule(e: &Canonical<'_>) -> Value {
    let mut r = Map::new();
    put(&mut r, "id", e.str("/rule/id"));
    put(&mut r, "name", e.str("/rule/title"));
    put(
        &mut r,
        "uuid",
        e.str("/rule/id")
            .zip(e.str("/rule/detection"))
            .map(|(id, d)| format!("{id}/{d}")),
    );
    put(&mut r, "category", e.str("/rule/kind"));
    r.insert("ruleset".into(), "claude-audit".into());
    put(&mut r, "version", e.str("/alert_schema_version"));
    Value::Object(r)
}

/// ATT&CK techniques and tactics of the rule's tags.
fn threat(e: &Canonical<'_>) -> Map<String, Value> {
    let tags = rule_tags(e);
    let techniques: Vec<String> = tags
        .iter()
        .filter(|t| t.starts_with("attack."))
        .filter_map(|t| technique_id(t))
        .collect();
    let tactics: Vec<String> = tags
        .iter()
        .filter_map(|t| t.strip_prefix("attack."))
        .filter(|t| !is_technique(t))
        .map(tactic_name)
        .collect();
    let mut t = Map::new();
    if techniques.is_empty() && tactics.is_empty() {
        return t;
    }
    t.insert("framework".into(), "MITRE ATT&CK".into());
    if !techniques.is_empty() {
        t.insert("technique".into(), json!({ "id": techniques }));
    }
    if !tactics.is_empty() {
        t.insert("tactic".into(), json!({ "name": tactics }));
    }
    t
}

/// `claude_audit.alert`: what ECS has no field for, under canonical names.
fn custom(e: &Canonical<'_>) -> Value {
    let mut a = Map::new();
    for key in [
        "alert_schema_version",
        "is_alert",
        "group",
        "window",
        "observed",
        "baseline",
        "related_events",
        "related_events_count",
    ] {
        put(&mut a, key, e.get(&format!("/{key}")).cloned());
    }
    put(&mut a, "severity", e.str("/rule/severity"));
    json!({ "category": e.or_null("/category"), "alert": a })
}
