//! The `ecs` profile: Elastic Common Schema 9.4.0 documents.
//!
//! `event.category`/`event.type` come from `profiles.tsv` (pairs ECS allows;
//! the tests validate them against ECS's own `expected_event_types`),
//! `event.action` is the feed's activity type. ECS fields are used where ECS
//! has them; everything of ours (controls, data classes, redaction record,
//! retention, details, unmapped fields) lives under the one custom namespace
//! `claude_audit.*`, as ECS asks of custom fields. Fields typed `ip` only
//! ever hold addresses (see [`super::typed`]).

use serde_json::{Map, Value, json};

use super::table::mapping;
use super::{Canonical, put, typed};

/// The pinned ECS version, written to `ecs.version`.
pub const VERSION: &str = "9.4.0";

/// `event.module` and the namespace of our custom fields.
pub const MODULE: &str = "claude_audit";

/// `event.dataset`: also the data stream's dataset (`logs-claude_audit.audit-*`).
pub const DATASET: &str = "claude_audit.audit";

/// Convert a canonical event; `None` if it lacks `event_type` or
/// `timestamp`, which the canonical writer always sets.
pub fn convert(event: &Value) -> Option<Value> {
    let e = Canonical(event);
    if e.str("/event_type") == Some(super::finding::ALERT_EVENT_TYPE) {
        return super::ecs_alert::convert(event);
    }
    let mut o = Map::new();
    o.insert("@timestamp".into(), e.str("/timestamp")?.into());
    o.insert("ecs".into(), json!({ "version": VERSION }));
    o.insert("event".into(), event_fields(&e)?);
    put(&mut o, "user", user(&e));
    put(&mut o, "source", source(&e));
    put(
        &mut o,
        "user_agent",
        e.str("/actor/user_agent")
            .map(|ua| json!({ "original": ua })),
    );
    put(
        &mut o,
        "organization",
        e.str("/organization_id").map(|id| json!({ "id": id })),
    );
    put(&mut o, "file", file(&e));
    put(
        &mut o,
        "url",
        e.str("/details/url").map(|u| json!({ "original": u })),
    );
    put(&mut o, "http", http(&e));
    put(&mut o, "related", related(&e));
    o.insert(MODULE.into(), custom(&e));
    Some(Value::Object(o))
}

/// `event.*` (alerts have their own, see [`super::ecs_alert`]).
fn event_fields(e: &Canonical<'_>) -> Option<Value> {
    let event_type = e.str("/event_type")?;
    let m = mapping(event_type);
    let outcome = e
        .str("/outcome")
        .filter(|o| matches!(*o, "success" | "failure"))
        .unwrap_or("unknown");
    Some(json!({
        "kind": "event",
        "category": m.ecs_category,
        "type": m.ecs_type,
        "action": event_type,
        "outcome": outcome,
        "id": e.or_null("/event_id"),
        "provider": e.or_null("/source/name"),
        "module": MODULE,
        "dataset": DATASET,
    }))
}

/// A user's `id`, `email` (a real address) or `hash` (its pseudonym: ECS's
/// field for "a user in anonymized form").
fn user_fields(id: Option<&str>, email: Option<&str>) -> Map<String, Value> {
    let mut u = Map::new();
    put(&mut u, "id", id);
    match email {
        Some(text) if typed::email(text).is_some() => put(&mut u, "email", text),
        other => put(&mut u, "hash", other),
    }
    u
}

fn user(e: &Canonical<'_>) -> Map<String, Value> {
    let mut u = user_fields(e.str("/actor/id"), e.str("/actor/email"));
    let target = user_fields(e.str("/target/user_id"), e.str("/target/email"));
    put(&mut u, "target", target);
    u
}

/// `source.ip` when the address is one, else its pseudonym in
/// `source.address` (ECS's field for an address as the source gave it).
fn source(e: &Canonical<'_>) -> Value {
    match e.str("/actor/ip") {
        Some(ip) if typed::ip(ip).is_some() => json!({ "ip": ip, "address": ip }),
        Some(pseudonym) => json!({ "address": pseudonym }),
        None => Value::Null,
    }
}

/// `file.*` for file events: name, size and media type when recorded.
fn file(e: &Canonical<'_>) -> Map<String, Value> {
    let mut f = Map::new();
    if e.str("/resource/type") != Some("file") && e.str("/details/filename").is_none() {
        return f;
    }
    put(&mut f, "name", e.str("/details/filename"));
    put(
        &mut f,
        "size",
        e.get("/details/size_bytes").filter(|v| v.is_u64()).cloned(),
    );
    put(&mut f, "mime_type", e.str("/details/mime_type"));
    f
}

fn http(e: &Canonical<'_>) -> Map<String, Value> {
    let mut h = Map::new();
    put(
        &mut h,
        "request",
        e.str("/details/request_method")
            .map(|m| json!({ "method": m })),
    );
    let code = e
        .get("/details/status_code")
        .filter(|v| v.is_i64())
        .cloned();
    put(
        &mut h,
        "response",
        code.map(|c| json!({ "status_code": c })),
    );
    h
}

/// `related.user`: every user identifier of the event (ids, addresses,
/// pseudonyms); `related.ip`: the addresses that are addresses.
fn related(e: &Canonical<'_>) -> Map<String, Value> {
    let mut users: Vec<&str> = Vec::new();
    for p in [
        "/actor/id",
        "/actor/email",
        "/user_id",
        "/target/user_id",
        "/target/email",
    ] {
        if let Some(v) = e.str(p).filter(|v| !users.contains(v)) {
            users.push(v);
        }
    }
    let mut r = Map::new();
    put(&mut r, "user", json!(users));
    put(
        &mut r,
        "ip",
        json!(
            e.str("/actor/ip")
                .and_then(typed::ip)
                .into_iter()
                .collect::<Vec<_>>()
        ),
    );
    r
}

/// Our own fields, under `claude_audit.*`.
fn custom(e: &Canonical<'_>) -> Value {
    let mut c = Map::new();
    for key in [
        "schema_version",
        "category",
        "action",
        "outcome",
        "organization_uuid",
        "user_id",
        "request_id",
        "model_id",
    ] {
        put(&mut c, key, e.get(&format!("/{key}")).cloned());
    }
    for key in ["controls", "data_classes", "policy_flags"] {
        c.insert(
            key.into(),
            e.get(&format!("/{key}")).cloned().unwrap_or(json!([])),
        );
    }
    put(&mut c, "redaction", e.get("/redaction_metadata").cloned());
    put(&mut c, "retention", e.get("/retention_state").cloned());
    put(
        &mut c,
        "actor",
        json!({ "type": e.or_null("/actor/type"), "kind": e.or_null("/actor/kind"), "attributes": e.or_null("/actor/attributes") }),
    );
    put(&mut c, "resource", e.get("/resource").cloned());
    put(&mut c, "details", e.get("/details").cloned());
    put(&mut c, "unmapped", e.get("/unmapped").cloned());
    Value::Object(c)
}
