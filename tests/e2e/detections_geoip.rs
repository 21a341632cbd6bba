//! IP enrichment through the real binary: `[geoip]` databases (generated
//! here with the `maxminddb-writer` crate; no third-party database is
//! committed), `actor.geo` on events, CL-03 and CL-05 alerting on the right
//! events, and no raw IP in the output, the alerts or the state (canary).
//! Without databases the rules that need them are reported inactive.

use std::collections::BTreeMap;
use std::path::PathBuf;

use maxminddb_writer::Database;
use maxminddb_writer::paths::IpAddrWithMask;
use serde::Serialize;
use serde_json::{Value, json};

use crate::util::{EXIT_ERROR, Sandbox, read_ndjson, repo_file, run, stderr, summary_counts};

/// Raw addresses that must never reach any output.
const HOME_IP: &str = "81.2.69.142";
const CANARY_IP: &str = "3.5.140.77";
const TRIP_IP: &str = "81.2.70.9";

#[derive(Serialize)]
struct City {
    country: BTreeMap<&'static str, &'static str>,
    location: BTreeMap<&'static str, f64>,
}

#[derive(Serialize)]
struct Asn {
    autonomous_system_number: u32,
    autonomous_system_organization: &'static str,
}

fn mmdb<T: Serialize>(kind: &str, entries: Vec<(&str, T)>) -> Vec<u8> {
    let mut db = Database::default();
    db.metadata.database_type = format!("ClaudeAudit-Test-{kind}");
    db.metadata.binary_format_major_version = 2;
    for (cidr, record) in entries {
        let data = db.insert_value(record).unwrap();
        db.insert_node(cidr.parse::<IpAddrWithMask>().unwrap(), data);
    }
    let mut bytes = Vec::new();
    db.write_to(&mut bytes).unwrap();
    bytes
}

fn city(country: &'static str, lat: f64, lon: f64) -> City {
    City {
        country: BTreeMap::from([("iso_code", country)]),
        location: BTreeMap::from([("latitude", lat), ("longitude", lon)]),
    }
}

/// A City and an ASN database in the sandbox; the config naming them.
fn databases(s: &Sandbox) -> PathBuf {
    let cities = mmdb(
        "City",
        vec![
            ("81.2.69.0/24", city("GB", 51.5142, -0.0931)),
            ("81.2.70.0/24", city("GB", 53.4808, -2.2426)),
            ("3.5.128.0/17", city("US", 39.0437, -77.4875)),
        ],
    );
    let asns = mmdb(
        "ASN",
        vec![
            (
                "81.2.64.0/18",
                Asn {
                    autonomous_system_number: 20712,
                    autonomous_system_organization: "Andrews & Arnold",
                },
            ),
            (
                "3.5.0.0/16",
                Asn {
                    autonomous_system_number: 16509,
                    autonomous_system_organization: "AMAZON-02",
                },
            ),
        ],
    );
    let city_path = s.write("city.mmdb", "");
    std::fs::write(&city_path, cities).unwrap();
    let asn_path = s.write("asn.mmdb", "");
    std::fs::write(&asn_path, asns).unwrap();
    config(
        s,
        &format!(
            "[geoip]\ndatabases = [{:?}, {:?}]\n",
            city_path.display().to_string(),
            asn_path.display().to_string()
        ),
    )
}

fn config(s: &Sandbox, extra: &str) -> PathBuf {
    s.write(
        "geo.toml",
        format!("[plugin.detections]\nenabled = true\nsignals = false\n{extra}"),
    )
}

fn activity(n: u32, minute: u32, kind: &str, user: &str, ip: &str) -> String {
    json!({
        "id": format!("activity_geo{n:04}"),
        "created_at": format!("2026-06-01T{:02}:{:02}:00Z", 8 + minute / 60, minute % 60),
        "organization_id": null, "organization_uuid": null,
        "actor": {"type": "user_actor", "email_address": format!("{user}@example.com"),
                  "user_id": user, "ip_address": ip, "user_agent": "ua"},
        "type": kind,
    })
    .to_string()
        + "\n"
}

/// U works in London, then signs in from a cloud server in Virginia 30
/// minutes later; V works in London and after a two-hour train ride in
/// Manchester; W's events carry `0.0.0.0` and a private address.
fn feed() -> String {
    [
        activity(1, 0, "sso_login_succeeded", "user_U", HOME_IP),
        activity(2, 5, "claude_chat_viewed", "user_U", HOME_IP),
        activity(3, 35, "sso_login_succeeded", "user_U", CANARY_IP),
        activity(4, 0, "sso_login_succeeded", "user_V", HOME_IP),
        activity(5, 130, "claude_chat_viewed", "user_V", TRIP_IP),
        activity(6, 1, "claude_chat_viewed", "user_W", "0.0.0.0"),
        activity(7, 2, "claude_chat_viewed", "user_W", "10.0.0.7"),
    ]
    .concat()
}

fn no_raw_ip(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for ip in [HOME_IP, CANARY_IP, TRIP_IP] {
        assert!(!text.contains(ip), "raw IP {ip} in {what}");
    }
}

#[test]
fn enrichment_feeds_cl03_and_cl05_and_keeps_no_raw_ip() {
    let s = Sandbox::new();
    let input = s.write("in.ndjson", feed());
    let out = run(s
        .run_cmd()
        .arg("--config")
        .arg(databases(&s))
        .arg(&input)
        .arg("--alerts")
        .arg(s.path("alerts.ndjson"))
        .arg("--state")
        .arg(s.path("state.json")));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("inactive"), "{}", stderr(&out));
    assert_eq!(summary_counts(&stderr(&out)), (7, 7, 0, 0));
    let events = read_ndjson(&out.stdout);
    let by_id = |id: &str| events.iter().find(|e| e["event_id"] == id).unwrap();
    assert_eq!(
        by_id("activity_geo0001")["actor"]["geo"],
        json!({"country": "GB", "lat": 51.5, "lon": -0.1, "asn": 20712,
               "asn_org": "Andrews & Arnold", "hosting": false, "anonymizer": false})
    );
    let cloud = &by_id("activity_geo0003")["actor"]["geo"];
    assert_eq!(
        (&cloud["country"], &cloud["hosting"]),
        (&json!("US"), &json!(true))
    );
    let schema: Value = serde_json::from_slice(
        &std::fs::read(repo_file("plugin/schema/audit-event.v1.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for event in events
        .iter()
        .filter(|e| e["event_type"] != "claude_audit.alert")
    {
        let errors: Vec<String> = validator
            .iter_errors(event)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", event["event_id"]);
    }
    assert_eq!(by_id("activity_geo0006")["actor"]["geo"], Value::Null);
    assert_eq!(by_id("activity_geo0007")["actor"]["geo"], Value::Null);
    let alerts: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "claude_audit.alert")
        .collect();
    let names: Vec<String> = alerts
        .iter()
        .map(|a| {
            format!(
                "{}/{}",
                a["rule"]["id"].as_str().unwrap(),
                a["rule"]["detection"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names, ["CL-03/login", "CL-05/travel"], "{alerts:#?}");
    assert_eq!(alerts[0]["related_events"], json!(["activity_geo0003"]));
    assert_eq!(
        alerts[1]["related_events"],
        json!(["activity_geo0002", "activity_geo0003"])
    );
    let observed = &alerts[1]["observed"];
    assert_eq!(
        (&observed["from_country"], &observed["to_country"]),
        (&json!("GB"), &json!("US"))
    );
    assert!(
        observed["speed_kmh"].as_f64().unwrap() > 10_000.0,
        "{observed}"
    );
    no_raw_ip("the event stream", &out.stdout);
    no_raw_ip("--alerts", &std::fs::read(s.path("alerts.ndjson")).unwrap());
    no_raw_ip("--state", &std::fs::read(s.path("state.json")).unwrap());
}

#[test]
fn without_databases_the_rules_that_need_them_are_inactive_and_nothing_else_changes() {
    let s = Sandbox::new();
    let input = s.write("in.ndjson", feed());
    let out = run(s.run_cmd().arg("--config").arg(config(&s, "")).arg(&input));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("detections: CL-03, CL-04, CL-05 inactive: no [geoip] databases"),
        "{}",
        stderr(&out)
    );
    let events = read_ndjson(&out.stdout);
    assert!(events.iter().all(|e| e["actor"].get("geo").is_none()));
    assert!(
        !events
            .iter()
            .any(|e| e["event_type"] == "claude_audit.alert")
    );
}

#[test]
fn a_file_that_is_not_a_database_is_refused_by_name() {
    let s = Sandbox::new();
    let bogus = s.write("bogus.mmdb", "not a database");
    let cfg = config(
        &s,
        &format!("[geoip]\ndatabases = [{:?}]\n", bogus.display().to_string()),
    );
    let input = s.write("in.ndjson", feed());
    let out = run(s.run_cmd().arg("--config").arg(&cfg).arg(&input));
    assert_eq!(out.status.code(), Some(EXIT_ERROR), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("geoip.databases[0]"),
        "{}",
        stderr(&out)
    );
    let missing = config(&s, "[geoip]\ndatabases = [\"/nonexistent/x.mmdb\"]\n");
    let out = run(s.run_cmd().arg("--config").arg(&missing).arg(&input));
    assert_eq!(out.status.code(), Some(EXIT_ERROR));
    assert!(
        stderr(&out).contains("/nonexistent/x.mmdb"),
        "{}",
        stderr(&out)
    );
}
