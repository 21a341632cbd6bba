//! Alerts (`event_type` `claude_audit.alert`) as OCSF Detection Finding
//! (class 2004, OCSF 1.8.0).
//!
//! The finding's `finding_info.uid` is the alert's deterministic id (rule,
//! group key, window start), so a SIEM treats a repeat as the same finding.
//! `finding_info.related_events` lists the triggering events by their
//! `event_id` (the same value as their own `metadata.uid` in this profile),
//! `start_time`/`end_time` are the window, `count` the number of triggering
//! events. Statistical and first-seen rules carry `anomaly_analyses`: the
//! observed value as the anomaly and the entity's baseline (median/MAD and z
//! for spikes, the count of known values for first-seen) as the baseline.
//! What OCSF has no attribute for (group key and fields, window length, the
//! raw observed/baseline objects) goes to `unmapped` under the canonical
//! names, so nothing of the alert is lost.

use serde_json::{Map, Value, json};

use super::ocsf::{VERSION, classification};
use super::table::tables;
use super::{Canonical, put, typed};

/// The canonical `event_type` of alerts.
pub const ALERT_EVENT_TYPE: &str = "claude_audit.alert";

/// OCSF Detection Finding.
const CLASS_UID: u32 = 2004;

/// Convert a canonical alert; `None` if it lacks its id or a valid timestamp.
pub fn convert(event: &Value) -> Option<Value> {
    let e = Canonical(event);
    let activity = tables().activities.get(&(CLASS_UID, "create"))?;
    let mut o = Map::new();
    classification(&mut o, activity);
    let time = typed::epoch_millis(e.str("/timestamp")?)?;
    o.insert("time".into(), time.into());
    let severity_id = e.get("/rule/severity_id").and_then(Value::as_u64);
    let severity_id = severity_id.unwrap_or(0);
    o.insert("severity_id".into(), severity_id.into());
    o.insert("severity".into(), severity_name(severity_id).into());
    // Finding status: every alert is written once, when raised.
    o.insert("status_id".into(), 1.into());
    o.insert("status".into(), "New".into());
    put(&mut o, "message", e.str("/rule/title"));
    put(&mut o, "is_alert", e.get("/is_alert").cloned());
    o.insert("metadata".into(), metadata(&e));
    o.insert("finding_info".into(), finding_info(&e, time)?);
    put(&mut o, "start_time", window_millis(&e, "/window/start"));
    put(&mut o, "end_time", window_millis(&e, "/window/end"));
    put(&mut o, "count", e.get("/related_events_count").cloned());
    put(&mut o, "evidences", json!([evidence(&e)]));
    put(&mut o, "anomaly_analyses", anomaly_analyses(&e));
    put(&mut o, "unmapped", unmapped(&e));
    Some(Value::Object(o))
}

/// OCSF's caption of a `severity_id` (Sigma levels map 1:1).
fn severity_name(id: u64) -> &'static str {
    match id {
        1 => "Informational",
        2 => "Low",
        3 => "Medium",
        4 => "High",
        5 => "Critical",
        _ => "Unknown",
    }
}

/// The producer of the finding is claude-audit, reading the Compliance API.
fn metadata(e: &Canonical<'_>) -> Value {
    let mut m = Map::new();
    m.insert("version".into(), VERSION.into());
    m.insert("uid".into(), e.or_null("/event_id"));
    m.insert(
        "product".into(),
        json!({ "name": "claude-audit", "vendor_name": "claude-audit" }),
    );
    m.insert("log_provider".into(), "claude-audit detections".into());
    m.insert("log_name".into(), ALERT_EVENT_TYPE.into());
    put(&mut m, "event_code", e.str("/rule/id"));
    put(&mut m, "log_version", e.str("/alert_schema_version"));
    put(&mut m, "tenant_uid", e.str("/organization_uuid"));
    Value::Object(m)
}

fn window_millis(e: &Canonical<'_>, pointer: &str) -> Option<i64> {
    typed::epoch_millis(e.str(pointer)?)
}

/// `finding_info`: id, title, the analytic (the rule's detection), its
/// ATT&CK/ATLAS techniques, the window and the triggering events.
fn finding_info(e: &Canonical<'_>, time: i64) -> Option<Value> {
    let mut f = Map::new();
    f.insert("uid".into(), e.str("/event_id")?.into());
    put(&mut f, "title", e.str("/rule/title"));
    let kind = e.str("/rule/kind").unwrap_or("single");
    f.insert("types".into(), json!([kind]));
    f.insert("analytic".into(), analytic(e, kind));
    put(&mut f, "attacks", attacks(e));
    f.insert("created_time".into(), time.into());
    put(&mut f, "first_seen_time", window_millis(e, "/window/start"));
    put(&mut f, "last_seen_time", window_millis(e, "/window/end"));
    let related = e.get("/related_events").and_then(Value::as_array);
    let related: Vec<Value> = related
        .into_iter()
        .flatten()
        .map(|id| json!({ "uid": id }))
        .collect();
    put(&mut f, "related_events", related);
    put(
        &mut f,
        "related_events_count",
        e.get("/related_events_count").cloned(),
    );
    f.insert("data_sources".into(), json!(["Anthropic Compliance API"]));
    Some(Value::Object(f))
}

/// The analytic: `Rule` for matches, windows and sequences, `Statistical`
/// for baselines, `Behavioral` for first-seen values.
fn analytic(e: &Canonical<'_>, kind: &str) -> Value {
    let (type_id, type_name) = match kind {
        "baseline" => (3, "Statistical"),
        "new_value" => (2, "Behavioral"),
        _ => (1, "Rule"),
    };
    let uid = format!(
        "{}/{}",
        e.str("/rule/id").unwrap_or("unknown"),
        e.str("/rule/detection").unwrap_or("unknown")
    );
    json!({
        "uid": uid,
        "name": e.str("/rule/detection").unwrap_or("unknown"),
        "category": kind,
        "type_id": type_id,
        "type": type_name,
        "state_id": 1,
        "state": "Active",
    })
}

/// One OCSF `attack` per technique tag (`attack.t1098.001`, `atlas.aml.t0051`:
/// OCSF's attack object covers ATT&CK and ATLAS), each with the rule's
/// tactics (the rule names its tactics once, not per technique).
fn attacks(e: &Canonical<'_>) -> Vec<Value> {
    let tags = rule_tags(e);
    let tactics: Vec<Value> = tags
        .iter()
        .filter_map(|t| t.strip_prefix("attack."))
        .filter(|t| !is_technique(t))
        .map(|t| json!({ "name": tactic_name(t) }))
        .collect();
    tags.iter()
        .filter_map(|t| technique_id(t))
        .map(|id| {
            let mut a = Map::new();
            match parent_technique(&id) {
                Some(parent) => {
                    a.insert("technique".into(), json!({ "uid": parent }));
                    a.insert("sub_technique".into(), json!({ "uid": id }));
                }
                None => {
                    a.insert("technique".into(), json!({ "uid": id }));
                }
            }
            put(&mut a, "tactics", tactics.clone());
            Value::Object(a)
        })
        .collect()
}

/// `T1098` for the sub-technique `T1098.001` (`AML.T0051` for
/// `AML.T0051.000`); `None` for a technique.
fn parent_technique(id: &str) -> Option<&str> {
    let dots = if id.starts_with("AML.") { 2 } else { 1 };
    (id.matches('.').count() >= dots).then(|| id.rsplit_once('.').map_or(id, |(p, _)| p))
}

/// The rule's tags (`attack.t1110`, `attack.credential_access`, `atlas.…`).
pub(super) fn rule_tags<'a>(e: &Canonical<'a>) -> Vec<&'a str> {
    let tags = e.get("/rule/tags").and_then(Value::as_array);
    tags.into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

pub(super) fn is_technique(tag: &str) -> bool {
    let b = tag.as_bytes();
    b.len() > 1 && b[0] == b't' && b[1].is_ascii_digit()
}

/// `T1110.003` / `AML.T0051` from a Sigma-style tag; `None` for tactics.
pub(super) fn technique_id(tag: &str) -> Option<String> {
    if let Some(t) = tag.strip_prefix("attack.") {
        return is_technique(t).then(|| t.to_ascii_uppercase());
    }
    let t = tag.strip_prefix("atlas.")?;
    Some(t.to_ascii_uppercase())
}

/// `Credential Access` for `credential-access`.
pub(super) fn tactic_name(tag: &str) -> String {
    tag.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The evidence: the group the rule counted in (pseudonyms only: the group
/// key is built after redaction).
fn evidence(e: &Canonical<'_>) -> Value {
    json!({
        "name": "group",
        "uid": e.or_null("/group/key"),
        "data": { "group_by": e.or_null("/group/by"), "group_key": e.or_null("/group/key") },
    })
}

/// For statistical and first-seen alerts: the observed value against the
/// entity's baseline. `None` for rules without a baseline.
fn anomaly_analyses(e: &Canonical<'_>) -> Option<Value> {
    let baseline = e.get("/baseline")?;
    let observed = e.get("/observed")?;
    let parameter = observed
        .get("field")
        .and_then(Value::as_str)
        .unwrap_or("events")
        .to_owned();
    let timespan = json!({
        "start_time": window_millis(e, "/window/start"),
        "end_time": window_millis(e, "/window/end"),
    });
    let center = baseline.get("median").or_else(|| baseline.get("mean"));
    let (anomaly, base) = if let Some(center) = center {
        let per = observed
            .get("per")
            .and_then(Value::as_str)
            .unwrap_or("hour");
        (
            json!({
                "observation_parameter": format!("{parameter} per {per}"),
                "observation_type": "hourly total",
                "observations": [{ "value": text(&observed["value"]), "timespan": timespan }],
            }),
            json!({
                "observation_parameter": format!("{parameter} per {per}"),
                "observation_type": baseline["method"].as_str().unwrap_or("baseline"),
                "observations": [{ "value": text(center), "count": baseline["history_hours"] }],
                "observed_pattern": pattern(baseline),
            }),
        )
    } else {
        (
            json!({
                "observation_parameter": parameter,
                "observation_type": "first-seen value",
                "observations": [{ "value": text(&observed["value"]), "count": 1 }],
            }),
            json!({
                "observation_parameter": parameter,
                "observation_type": "known values",
                "observations": [{ "value": text(&baseline["known_values"]) }],
            }),
        )
    };
    let target =
        json!({ "name": e.str("/group/key").unwrap_or("organization"), "type": "group_key" });
    Some(json!([{ "analysis_targets": [target], "anomalies": [anomaly], "baselines": [base] }]))
}

/// The baseline's numbers as `name=value` pairs in a stable order
/// (`median=3 mad=1 z=12.5 z_threshold=3.5 floor=20 ...`).
fn pattern(b: &Value) -> String {
    let names = [
        "median",
        "mad",
        "mean",
        "stddev",
        "alpha",
        "hour_of_week",
        "z",
        "z_threshold",
        "floor",
        "history_hours",
        "history_days",
    ];
    let parts = names
        .iter()
        .filter_map(|n| Some(format!("{n}={}", b.get(*n).filter(|v| !v.is_null())?)));
    parts.collect::<Vec<_>>().join(" ")
}

/// A JSON value as observation text (`value` is a string in OCSF).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The canonical alert fields OCSF has no attribute for.
fn unmapped(e: &Canonical<'_>) -> Value {
    let mut u = Map::new();
    for key in [
        "event_type",
        "category",
        "group",
        "window",
        "observed",
        "baseline",
    ] {
        put(&mut u, key, e.get(&format!("/{key}")).cloned());
    }
    put(&mut u, "rule", e.get("/rule").cloned());
    Value::Object(u)
}
