//! The `ocsf` profile: OCSF 1.8.0 events.
//!
//! The class and activity come from `profiles.tsv`; every attribute the
//! class requires is always written, every recommended one we have a source
//! for is written (README "OCSF profile" lists which and why the rest are
//! not), and the canonical fields OCSF has no attribute for go to `unmapped`.
//! Control tags, data classes, redaction record and retention travel as
//! `enrichments` (provider `claude-audit`), which the base event allows in
//! every class. `tests/schemas/ocsf-1.8.0.schema.json` validates the output.

use serde_json::{Map, Value, json};

use super::table::{Mapping, OcsfActivity, mapping, tables};
use super::{Canonical, finding, put, typed};

/// The pinned OCSF version, written to `metadata.version`.
pub const VERSION: &str = "1.8.0";

/// Who the enrichments come from.
const PROVIDER: &str = "claude-audit";

/// Convert a canonical event; `None` if it lacks `event_type` or a valid
/// `timestamp`, which the canonical writer always sets.
pub fn convert(event: &Value) -> Option<Value> {
    let e = Canonical(event);
    if e.str("/event_type") == Some(finding::ALERT_EVENT_TYPE) {
        return finding::convert(event);
    }
    let m = mapping_of(&e)?;
    let a = &m.ocsf;
    let mut o = Map::new();
    classification(&mut o, a);
    o.insert(
        "time".into(),
        typed::epoch_millis(e.str("/timestamp")?)?.into(),
    );
    status(&mut o, e.str("/outcome"));
    put(&mut o, "message", e.str("/event_type"));
    o.insert("metadata".into(), metadata(&e));
    put(&mut o, "actor", json!({ "user": actor_user(&e) }));
    put(&mut o, "src_endpoint", src_endpoint(&e, a.class_uid));
    put(&mut o, "http_request", http_request(&e));
    class_attributes(&mut o, &e, a.class_uid);
    o.insert("enrichments".into(), enrichments(&e));
    put(&mut o, "unmapped", unmapped(&e));
    Some(Value::Object(o))
}

/// The mapping of the event (alerts are Detection Findings, see [`finding`]).
fn mapping_of(e: &Canonical<'_>) -> Option<&'static Mapping> {
    Some(mapping(e.str("/event_type")?))
}

/// `class_uid` .. `type_name` of an activity.
pub(super) fn classification(o: &mut Map<String, Value>, a: &OcsfActivity) {
    o.insert("class_uid".into(), a.class_uid.into());
    o.insert("class_name".into(), a.class_name.into());
    o.insert("category_uid".into(), a.category_uid.into());
    o.insert("category_name".into(), a.category_name.into());
    o.insert("activity_id".into(), a.activity_id.into());
    o.insert("activity_name".into(), a.activity_name.into());
    o.insert("type_uid".into(), a.type_uid().into());
    let type_name = format!("{}: {}", a.class_name, a.activity_name);
    o.insert("type_name".into(), type_name.into());
}

/// `status_id` from the canonical outcome; failures are `Low` severity
/// (worth a look: a failed sign-in, a denied request), everything else
/// `Informational`: the feed records activity, not incidents.
fn status(o: &mut Map<String, Value>, outcome: Option<&str>) {
    let (id, name) = match outcome {
        Some("success") => (1, "Success"),
        Some("failure") => (2, "Failure"),
        _ => (0, "Unknown"),
    };
    o.insert("status_id".into(), id.into());
    o.insert("status".into(), name.into());
    let (sev, sev_name) = if id == 2 {
        (2, "Low")
    } else {
        (1, "Informational")
    };
    o.insert("severity_id".into(), sev.into());
    o.insert("severity".into(), sev_name.into());
}

fn metadata(e: &Canonical<'_>) -> Value {
    let mut m = Map::new();
    m.insert("version".into(), VERSION.into());
    m.insert("uid".into(), e.or_null("/event_id"));
    m.insert(
        "product".into(),
        json!({ "name": "Claude", "vendor_name": "Anthropic" }),
    );
    m.insert("log_provider".into(), "Anthropic Compliance API".into());
    put(&mut m, "log_name", e.str("/source/name"));
    put(&mut m, "original_time", e.str("/source/created_at"));
    put(&mut m, "event_code", e.str("/event_type"));
    put(&mut m, "tenant_uid", e.str("/organization_id"));
    Value::Object(m)
}

/// An OCSF user from an id, an email and an actor kind. A real address goes
/// to `email_addr`; a pseudonym is the `uid` when there is no id (it is a
/// stable keyed identifier of the user), else `uid_alt`. Without id or email
/// the kind names the user, since OCSF needs one of `account`, `name`, `uid`.
fn user(id: Option<&str>, email: Option<&str>, kind: Option<&str>) -> Map<String, Value> {
    let mut u = Map::new();
    let address = email.and_then(typed::email);
    let pseudonym = email.filter(|_| address.is_none());
    put(&mut u, "uid", id.or(pseudonym));
    put(&mut u, "email_addr", address);
    put(&mut u, "uid_alt", pseudonym.filter(|_| id.is_some()));
    if let Some(kind) = kind {
        let type_id = tables().user_types.get(kind).copied().unwrap_or(0);
        u.insert("type_id".into(), type_id.into());
        u.insert("type".into(), user_type_name(type_id).into());
    }
    if id.is_none() && email.is_none() {
        u.insert("name".into(), kind.unwrap_or("unknown").into());
    }
    u
}

fn user_type_name(type_id: u32) -> &'static str {
    match type_id {
        1 => "User",
        2 => "Admin",
        3 => "System",
        4 => "Service",
        99 => "Other",
        _ => "Unknown",
    }
}

fn actor_user(e: &Canonical<'_>) -> Map<String, Value> {
    user(
        e.str("/actor/id"),
        e.str("/actor/email"),
        e.str("/actor/kind"),
    )
}

/// The user acted upon (`target`), or the actor when the event names none
/// (a user changing their own account).
fn subject_user(e: &Canonical<'_>) -> Map<String, Value> {
    let (id, email) = (e.str("/target/user_id"), e.str("/target/email"));
    if id.is_some() || email.is_some() {
        user(id, email, None)
    } else {
        actor_user(e)
    }
}

/// `src_endpoint`: the address when it is one, else its pseudonym as `uid`.
/// Classes that require the endpoint get `name: unknown` when the source
/// gave none.
fn src_endpoint(e: &Canonical<'_>, class_uid: u32) -> Value {
    match e.str("/actor/ip") {
        Some(ip) if typed::ip(ip).is_some() => json!({ "ip": ip }),
        Some(pseudonym) => json!({ "uid": pseudonym }),
        None if matches!(class_uid, 6003 | 6006) => json!({ "name": "unknown" }),
        None => Value::Null,
    }
}

fn http_request(e: &Canonical<'_>) -> Value {
    let mut h = Map::new();
    put(&mut h, "user_agent", e.str("/actor/user_agent"));
    put(&mut h, "http_method", e.str("/details/request_method"));
    put(&mut h, "uid", e.str("/request_id"));
    Value::Object(h)
}

/// `{uid, type}` of the canonical resource, or the category as the name.
fn resource(e: &Canonical<'_>) -> Map<String, Value> {
    let mut r = Map::new();
    put(&mut r, "uid", e.str("/resource/id"));
    match e.str("/resource/type") {
        Some(kind) => put(&mut r, "type", kind),
        None => {
            let category = e.str("/category").unwrap_or("unknown");
            r.insert("name".into(), category.into());
            r.insert("type".into(), category.into());
        }
    }
    r
}

fn class_attributes(o: &mut Map<String, Value>, e: &Canonical<'_>, class_uid: u32) {
    match class_uid {
        3002 => {
            put(o, "user", actor_user(e));
            // The service signed in to; OCSF needs it or `dst_endpoint`.
            o.insert("service".into(), json!({ "name": "Claude" }));
        }
        3001 => put(o, "user", subject_user(e)),
        3005 => {
            put(o, "user", subject_user(e));
            o.insert("privileges".into(), json!([privilege(e)]));
            put(o, "resource", e.get("/resource").map(|_| resource(e)));
        }
        3006 => {
            put(o, "group", group(e));
            put(o, "user", subject_user(e));
        }
        3004 => put(o, "entity", resource(e)),
        6001 => put(o, "web_resources", json!([resource(e)])),
        6006 => put(o, "file", file(e)),
        _ => api(o, e),
    }
}

/// The privilege granted or revoked: the role named by the event, else the
/// resource, else the activity type.
fn privilege(e: &Canonical<'_>) -> String {
    [
        "role",
        "role_name",
        "new_role",
        "invited_role",
        "capability",
        "permission",
    ]
    .iter()
    .find_map(|f| e.str(&format!("/details/{f}")))
    .map(str::to_owned)
    .or_else(|| {
        let r = (e.str("/resource/type")?, e.str("/resource/id")?);
        Some(format!("{}:{}", r.0, r.1))
    })
    .unwrap_or_else(|| e.str("/event_type").unwrap_or("unknown").to_owned())
}

/// The group: the resource when the event names one, else the organization
/// (membership of the organization or a workspace).
fn group(e: &Canonical<'_>) -> Map<String, Value> {
    if e.get("/resource").is_some() {
        return resource(e);
    }
    let mut g = Map::new();
    g.insert("type".into(), "organization".into());
    match e.str("/organization_id") {
        Some(id) => put(&mut g, "uid", id),
        None => put(&mut g, "name", "organization"),
    }
    g
}

fn file(e: &Canonical<'_>) -> Map<String, Value> {
    let mut f = Map::new();
    let name = e.str("/details/filename").or(e.str("/resource/id"));
    f.insert("name".into(), name.unwrap_or("unknown").into());
    f.insert("type_id".into(), 1.into());
    f.insert("type".into(), "Regular File".into());
    put(&mut f, "uid", e.str("/resource/id"));
    put(&mut f, "mime_type", e.str("/details/mime_type"));
    put(
        &mut f,
        "size",
        e.get("/details/size_bytes").filter(|v| v.is_u64()).cloned(),
    );
    f
}

/// API Activity: the operation is the HTTP method when the event has one,
/// else the activity type; the response code when recorded.
fn api(o: &mut Map<String, Value>, e: &Canonical<'_>) {
    let operation = e.str("/details/request_method").or(e.str("/event_type"));
    let mut api = Map::new();
    api.insert("operation".into(), operation.unwrap_or("unknown").into());
    put(
        &mut api,
        "request",
        e.str("/request_id").map(|id| json!({ "uid": id })),
    );
    o.insert("api".into(), Value::Object(api));
    let code = e
        .get("/details/status_code")
        .filter(|v| v.is_i64())
        .cloned();
    put(o, "http_response", code.map(|c| json!({ "code": c })));
    put(
        o,
        "resources",
        e.get("/resource").map(|_| json!([resource(e)])),
    );
}

/// Control tags, data classes, redaction record and retention, each an
/// enrichment whose `data` is the canonical object and `value` a summary.
fn enrichments(e: &Canonical<'_>) -> Value {
    let joined = |p: &str| {
        let list = e.get(p).and_then(Value::as_array);
        let items = list.into_iter().flatten().filter_map(Value::as_str);
        items.collect::<Vec<_>>().join(",")
    };
    let redaction = e
        .get("/redaction_metadata/applied")
        .and_then(Value::as_bool);
    let entry = |name: &str, kind: &str, value: String, data: Value| json!({ "name": name, "value": value, "type": kind, "provider": PROVIDER, "data": data });
    json!([
        entry(
            "claude_audit.controls",
            "compliance_controls",
            joined("/controls"),
            json!({ "controls": e.or_null("/controls") })
        ),
        entry(
            "claude_audit.data_classes",
            "data_classification",
            joined("/data_classes"),
            json!({ "data_classes": e.or_null("/data_classes"), "policy_flags": e.or_null("/policy_flags") })
        ),
        entry(
            "claude_audit.redaction",
            "redaction",
            if redaction == Some(true) {
                "applied"
            } else {
                "not_applied"
            }
            .to_owned(),
            e.or_null("/redaction_metadata")
        ),
        entry(
            "claude_audit.retention",
            "retention",
            e.str("/retention_state/class")
                .unwrap_or("unknown")
                .to_owned(),
            e.or_null("/retention_state")
        ),
    ])
}

/// The canonical fields OCSF has no attribute for, under their canonical
/// names, so that nothing is lost.
fn unmapped(e: &Canonical<'_>) -> Value {
    let mut u = Map::new();
    for key in [
        "schema_version",
        "category",
        "action",
        "outcome",
        "organization_uuid",
        "user_id",
        "model_id",
    ] {
        put(&mut u, key, e.get(&format!("/{key}")).cloned());
    }
    put(&mut u, "actor_type", e.get("/actor/type").cloned());
    put(
        &mut u,
        "actor_attributes",
        e.get("/actor/attributes").cloned(),
    );
    put(
        &mut u,
        "target",
        e.get("/target").cloned().filter(|t| {
            t.as_object()
                .is_some_and(|m| m.values().any(|v| !v.is_null()))
        }),
    );
    put(&mut u, "resource", e.get("/resource").cloned());
    put(&mut u, "details", e.get("/details").cloned());
    put(&mut u, "unmapped", e.get("/unmapped").cloned());
    Value::Object(u)
}
