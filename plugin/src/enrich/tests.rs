//! Lookups in a small database written with `maxminddb-writer`.

use std::collections::BTreeMap;

use maxminddb_writer::Database;
use maxminddb_writer::paths::IpAddrWithMask;
use serde_json::{Value, json};

use super::*;

/// A database holding `entries` (CIDR, record), as file bytes.
pub(crate) fn database(entries: &[(&str, Value)]) -> Vec<u8> {
    let mut db = Database::default();
    db.metadata.database_type = "ClaudeAudit-Test".into();
    db.metadata.binary_format_major_version = 2;
    for (cidr, record) in entries {
        let data = db.insert_value(to_map(record)).unwrap();
        db.insert_node(cidr.parse::<IpAddrWithMask>().unwrap(), data);
    }
    let mut bytes = Vec::new();
    db.write_to(&mut bytes).unwrap();
    bytes
}

/// MaxMind maps are string-keyed; the writer takes serde maps.
fn to_map(v: &Value) -> BTreeMap<String, Value> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn city_and_asn() -> GeoIp {
    let city = database(&[(
        "81.2.69.0/24",
        json!({"country": {"iso_code": "GB"}, "location": {"latitude": 51.5142, "longitude": -0.0931}}),
    )]);
    let asn = database(&[
        (
            "81.2.69.0/24",
            json!({"autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold"}),
        ),
        (
            "3.5.0.0/16",
            json!({"autonomous_system_number": 16509, "autonomous_system_organization": "AMAZON-02"}),
        ),
        (
            "185.220.101.0/24",
            json!({"autonomous_system_number": 64512, "is_tor_exit_node": true}),
        ),
    ]);
    GeoIp::new(vec![city, asn]).unwrap()
}

#[test]
fn databases_merge_into_one_coarse_place() {
    let place = city_and_asn().lookup("81.2.69.160").unwrap();
    assert_eq!(
        place,
        Place {
            country: Some("GB".into()),
            lat: Some(51.5),
            lon: Some(-0.1),
            asn: Some(20712),
            asn_org: Some("Andrews & Arnold".into()),
            hosting: false,
            anonymizer: false,
        }
    );
}

#[test]
fn network_kinds_come_from_the_list_and_the_database_flags() {
    let geo = city_and_asn();
    let aws = geo.lookup("3.5.140.2").unwrap();
    assert!(aws.hosting && !aws.anonymizer && aws.country.is_none());
    let tor = geo.lookup("::ffff:185.220.101.7").unwrap();
    assert!(tor.anonymizer && !tor.hosting);
}

#[test]
fn local_unknown_and_malformed_addresses_have_no_place() {
    let geo = city_and_asn();
    for ip in [
        "0.0.0.0",
        "10.1.2.3",
        "192.168.0.1",
        "127.0.0.1",
        "::",
        "fe80::1",
        "8.8.8.8",
    ] {
        assert!(geo.lookup(ip).is_none(), "{ip}");
    }
    assert!(geo.lookup("not an ip").is_none());
    assert!(geo.lookup("ip:k1:ABCDEF").is_none());
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let err = GeoIp::new(vec![city_and_asn_bytes(), b"hello".to_vec()]).unwrap_err();
    assert_eq!(err.path, "geoip.databases[1]");
    assert!(err.message.contains("not a MaxMind DB"), "{}", err.message);
}

fn city_and_asn_bytes() -> Vec<u8> {
    database(&[("81.2.69.0/24", json!({"country": {"iso_code": "GB"}}))])
}

#[test]
fn the_bundled_network_list_loads() {
    assert_eq!(networks::kind(16509), Some(NetworkKind::Hosting));
    assert_eq!(networks::kind(205100), Some(NetworkKind::Anonymizer));
    assert_eq!(networks::kind(3215), None);
}

#[test]
fn an_asn_stored_as_uint32_like_maxminds_own_files_reads() {
    #[derive(serde::Serialize)]
    struct Asn {
        autonomous_system_number: u32,
    }
    let mut db = Database::default();
    db.metadata.binary_format_major_version = 2;
    let data = db
        .insert_value(Asn {
            autonomous_system_number: 16509,
        })
        .unwrap();
    db.insert_node("3.5.0.0/16".parse::<IpAddrWithMask>().unwrap(), data);
    let mut bytes = Vec::new();
    db.write_to(&mut bytes).unwrap();
    let place = GeoIp::new(vec![bytes]).unwrap().lookup("3.5.1.1").unwrap();
    assert_eq!(place.asn, Some(16509));
    assert!(place.hosting);
}
