//! Sigma export of the rule pack (`claude-audit rules export --format sigma`).
//!
//! Each rule file becomes `<id>.yml`: one base rule per detection (or per
//! step of a sequence) plus, for windowed and sequence logic, a Sigma
//! correlation rule (`event_count`, `value_count`, `temporal_ordered`, and
//! `value_sum` for baselines) in the same multi-document file. The log
//! source is custom: `product: anthropic` with `service: compliance_activity`
//! (Activity Feed) or `service: claude_code` (Claude Code telemetry), and
//! field names are those of the canonical schema (`event_type`, `actor.ip`,
//! `details.*`); the README lists the mapping a SIEM pipeline needs.
//! First-seen and baseline logic keeps state our engine holds and Sigma
//! cannot express: those export as their closest form, with a note.
//! YAML is written with yaml-rust2's emitter from JSON-shaped values.

use std::path::Path;

use anyhow::{Context, Result};
use claude_audit_plugin::detect::matcher::Cond;
use claude_audit_plugin::detect::rule::{DetectionSpec, Kind, RuleFile, Step};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use yaml_rust2::{Yaml, YamlEmitter, yaml::Hash};

/// Write every rule of `rules` into `dir` (created if needed); the files written.
pub fn export(rules: &[RuleFile], dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for rule in rules {
        let mut text = String::new();
        for doc in documents(rule) {
            let mut out = String::new();
            YamlEmitter::new(&mut out)
                .dump(&to_yaml(&doc))
                .context("writing YAML")?;
            text.push_str(&out);
            text.push('\n');
        }
        let name = format!("{}.yml", rule.id);
        let path = dir.join(&name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(name);
    }
    Ok(written)
}

/// The Sigma documents of one rule.
fn documents(rule: &RuleFile) -> Vec<Value> {
    let mut docs = Vec::new();
    for d in &rule.detections {
        let base_name = sigma_name(&rule.id, &d.name);
        match d.kind {
            Kind::TemporalOrdered => docs.extend(sequence(rule, d)),
            _ => {
                // A detection that learns from more events than it alerts
                // on matches, in Sigma, the events it alerts on.
                let types = if d.alert_types.is_empty() {
                    &d.types
                } else {
                    &d.alert_types
                };
                let mut base = base_rule(rule, d, &base_name, types, &d.conditions);
                let correlation = correlation(rule, d, &base_name);
                if correlation.is_none() {
                    meta(&mut base, rule, d);
                }
                docs.push(base);
                docs.extend(correlation);
            }
        }
    }
    docs
}

/// `cl_01_brute_force`.
fn sigma_name(rule_id: &str, detection: &str) -> String {
    format!("{}_{}", rule_id.to_lowercase().replace('-', "_"), detection)
}

/// A stable UUID (version-4 layout) from a name, so re-exports keep ids.
fn uuid(name: &str) -> String {
    let h = Sha256::digest(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

fn service(types: &[String]) -> &'static str {
    if types.iter().any(|t| t.starts_with("claude_code.")) {
        "claude_code"
    } else {
        "compliance_activity"
    }
}

/// A base (detection) rule for `types` and `conditions`.
fn base_rule(
    rule: &RuleFile,
    d: &DetectionSpec,
    name: &str,
    types: &[String],
    conditions: &[Cond],
) -> Value {
    let mut detection = Map::new();
    let mut parts = Vec::new();
    if !types.is_empty() {
        detection.insert("selection".into(), json!({"event_type": types}));
        parts.push("selection".to_owned());
    }
    for (i, c) in conditions.iter().enumerate() {
        parts.push(condition(c, &format!("where{i}"), &mut detection));
    }
    if parts.is_empty() {
        detection.insert("selection".into(), json!({"event_type|exists": true}));
        parts.push("selection".to_owned());
    }
    detection.insert("condition".into(), json!(parts.join(" and ")));
    json!({
        "title": format!("{} ({})", rule.title, d.name),
        "id": uuid(name),
        "name": name,
        "status": "experimental",
        "description": rule.description,
        "author": "claude-audit",
        "logsource": {"product": "anthropic", "service": service(types)},
        "detection": detection,
    })
}

/// One `where` condition as selections; the condition expression for it.
fn condition(c: &Cond, id: &str, detection: &mut Map<String, Value>) -> String {
    if !c.any.is_empty() {
        let names: Vec<String> = c
            .any
            .iter()
            .enumerate()
            .map(|(i, sub)| condition(sub, &format!("{id}_any{i}"), detection))
            .collect();
        return format!("({})", names.join(" or "));
    }
    let fields: Vec<&String> = c.field.iter().chain(&c.fields).collect();
    let mut selections = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let mut sel = Map::new();
        if !c.one_of.is_empty() {
            sel.insert((*field).clone(), json!(c.one_of));
        }
        if !c.contains.is_empty() {
            sel.insert(format!("{field}|contains"), json!(c.contains));
        }
        if let Some(re) = &c.regex {
            sel.insert(format!("{field}|re"), json!(re.as_str()));
        }
        if let Some(exists) = c.exists {
            sel.insert(format!("{field}|exists"), json!(exists));
        }
        if let Some(gte) = c.gte {
            sel.insert(format!("{field}|gte"), json!(gte));
        }
        let mut expr = Vec::new();
        if !sel.is_empty() {
            let name = format!("{id}_{i}");
            detection.insert(name.clone(), Value::Object(sel));
            expr.push(name);
        }
        if !c.not_in.is_empty() {
            let name = format!("{id}_{i}_not");
            detection.insert(name.clone(), json!({(*field).clone(): c.not_in}));
            expr.push(format!("not {name}"));
        }
        selections.push(expr.join(" and "));
    }
    format!("({})", selections.join(" or "))
}

/// Rule-level meta (only the outermost document carries it).
fn meta(doc: &mut Value, rule: &RuleFile, d: &DetectionSpec) {
    doc["level"] = json!(d.severity.unwrap_or(rule.severity).as_str());
    doc["tags"] = json!(rule.tags);
    if let Some(note) = note(d.kind) {
        doc["falsepositives"] = json!([note]);
    }
}

fn note(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::NewValue => Some(
            "first-seen logic with learning periods runs in claude-audit's engine; as a Sigma rule this matches every occurrence (add your SIEM's first-seen or baseline feature)",
        ),
        Kind::Baseline => Some(
            "per-entity robust-z baseline (median/MAD of past active hours) runs in claude-audit's engine; this value_sum skeleton alerts on the absolute floor only",
        ),
        Kind::Travel => Some(
            "impossible travel (great-circle distance and implied speed between a user's consecutive located events) runs in claude-audit's engine; this correlation is the closest Sigma form: two or more countries for one user within the window",
        ),
        _ => None,
    }
}

/// The correlation of a windowed or baseline detection.
fn correlation(rule: &RuleFile, d: &DetectionSpec, base: &str) -> Option<Value> {
    let group_by: Vec<String> = d
        .group_by
        .iter()
        .map(|g| g.split('|').next().unwrap_or(g).to_owned())
        .collect();
    let (kind, timespan, condition) = match d.kind {
        Kind::EventCount => (
            "event_count",
            d.window?.to_sigma(),
            json!({"gte": d.threshold?}),
        ),
        Kind::ValueCount => (
            "value_count",
            d.window?.to_sigma(),
            json!({"field": d.field.clone()?, "gte": d.threshold?}),
        ),
        Kind::Baseline => {
            let field = d.field.clone().unwrap_or_else(|| "event_type".into());
            let cond = if d.field.is_some() {
                json!({"field": field, "gte": d.floor?})
            } else {
                json!({"gte": d.floor?})
            };
            (
                if d.field.is_some() {
                    "value_sum"
                } else {
                    "event_count"
                },
                "1h".to_owned(),
                cond,
            )
        }
        Kind::Travel => {
            let place = d.field.clone().unwrap_or_else(|| "actor.geo".into());
            (
                "value_count",
                d.window?.to_sigma(),
                json!({"field": format!("{place}.country"), "gte": 2}),
            )
        }
        _ => return None,
    };
    let name = format!("{base}_correlation");
    let mut doc = json!({
        "title": format!("{} ({})", rule.title, d.name),
        "id": uuid(&name),
        "name": name,
        "status": "experimental",
        "description": rule.description,
        "author": "claude-audit",
        "correlation": {"type": kind, "rules": [base], "group-by": group_by, "timespan": timespan, "condition": condition},
    });
    if group_by.is_empty() {
        doc["correlation"]["group-by"] = json!(["organization_uuid"]);
    }
    meta(&mut doc, rule, d);
    Some(doc)
}

/// A sequence: a base rule per step (a step needing several events becomes
/// an `event_count` correlation), then the `temporal_ordered` correlation
/// with aliases joining the steps' key fields.
fn sequence(rule: &RuleFile, d: &DetectionSpec) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut names = Vec::new();
    let mut alias = Map::new();
    let window = d.window.map_or("1h".to_owned(), |w| w.to_sigma());
    for (i, step) in d.steps.iter().enumerate() {
        let name = sigma_name(&rule.id, &format!("{}_step{}", d.name, i + 1));
        docs.push(base_rule(rule, d, &name, &step.types, &step.conditions));
        let key = step_key(step);
        let referenced = if step.min_count > 1 {
            let counted = format!("{name}_count");
            docs.push(json!({
                "title": format!("{} ({}, step {})", rule.title, d.name, i + 1),
                "id": uuid(&counted),
                "name": counted,
                "correlation": {"type": "event_count", "rules": [name], "group-by": [key],
                                "timespan": window, "condition": {"gte": step.min_count}},
            }));
            counted
        } else {
            name
        };
        alias.insert(referenced.clone(), json!(key));
        names.push(referenced);
    }
    let corr_name = sigma_name(&rule.id, &d.name);
    let mut doc = json!({
        "title": format!("{} ({})", rule.title, d.name),
        "id": uuid(&corr_name),
        "name": corr_name,
        "status": "experimental",
        "description": rule.description,
        "author": "claude-audit",
        "correlation": {"type": "temporal_ordered", "rules": names, "aliases": {"principal": alias},
                        "group-by": ["principal"], "timespan": window},
    });
    meta(&mut doc, rule, d);
    docs.push(doc);
    docs
}

/// The step's key field (the first of `a|b`; the organization when none).
fn step_key(step: &Step) -> String {
    step.key
        .split('|')
        .next()
        .filter(|k| !k.is_empty())
        .unwrap_or("organization_uuid")
        .to_owned()
}

/// JSON-shaped value to YAML.
fn to_yaml(value: &Value) -> Yaml {
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            Yaml::Integer(n.as_i64().unwrap_or(i64::MAX))
        }
        Value::Number(n) => Yaml::Real(n.to_string()),
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        Value::Object(map) => {
            let mut hash = Hash::new();
            for (k, v) in map {
                hash.insert(Yaml::String(k.clone()), to_yaml(v));
            }
            Yaml::Hash(hash)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_rule_exports_with_stable_ids() {
        let rules = claude_audit_plugin::detect::rule::bundled().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = export(&rules, dir.path()).unwrap();
        assert_eq!(files.len(), rules.len());
        let text = std::fs::read_to_string(dir.path().join("CL-02.yml")).unwrap();
        assert!(
            text.contains("temporal_ordered") && text.contains("product: anthropic"),
            "{text}"
        );
        assert_eq!(uuid("x"), uuid("x"));
        assert_eq!(uuid("x").len(), 36);
    }
}
