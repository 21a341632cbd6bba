//! The simulator's synthetic MaxMind-format database (`places.tsv`), so that
//! IP enrichment, CL-03, CL-04 and CL-05 run on simulated data exactly as on
//! real data. Written with the `maxminddb-writer` crate; the records have
//! the GeoIP2 City and ASN field names (`country.iso_code`,
//! `location.latitude`, `autonomous_system_number` ...).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use maxminddb_writer::Database;
use maxminddb_writer::paths::IpAddrWithMask;
use serde::Serialize;

const PLACES_TSV: &str = include_str!("places.tsv");

/// Home networks: member `i` lives in `HOME_BLOCKS[i / 250 % 4]`.
pub const COUNTRIES: u32 = 4;

/// An address on the far-away residential network (CL-05's scenario).
pub const FAR_AWAY_IP: &str = "192.0.2.130";

/// An exit of a commercial VPN (CL-03's anonymizer scenario).
pub const VPN_IP: &str = "192.0.2.20";

/// An address on a hosting provider's network (CL-03's scenario).
pub const VPS_IP: &str = "192.0.2.200";

#[derive(Serialize)]
struct Record {
    country: BTreeMap<&'static str, String>,
    location: Location,
    autonomous_system_number: u32,
    autonomous_system_organization: String,
}

#[derive(Serialize)]
struct Location {
    latitude: f64,
    longitude: f64,
}

/// The database, as `.mmdb` file bytes.
pub fn database() -> Result<Vec<u8>> {
    let mut db = Database::default();
    db.metadata.database_type = "ClaudeAudit-Simulated-City-ASN".into();
    db.metadata.binary_format_major_version = 2;
    db.metadata.description.insert(
        "en".into(),
        "claude-audit simulate: synthetic geography".into(),
    );
    let mut homes = Vec::new();
    for line in PLACES_TSV.lines().filter(|l| !l.starts_with('#')) {
        let c: Vec<&str> = line.split('\t').collect();
        let [cidr, country, lat, lon, asn, org] = c[..] else {
            anyhow::bail!("places.tsv: a line without six columns: {line:?}");
        };
        let number = |s: &str| {
            s.parse::<f64>()
                .with_context(|| format!("places.tsv: {s:?}"))
        };
        let record = Record {
            country: BTreeMap::from([("iso_code", country.to_owned())]),
            location: Location {
                latitude: number(lat)?,
                longitude: number(lon)?,
            },
            autonomous_system_number: asn.parse().context("places.tsv: ASN")?,
            autonomous_system_organization: org.to_owned(),
        };
        let data = db
            .insert_value(record)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("writing the simulated database")?;
        let path: IpAddrWithMask = cidr
            .parse()
            .map_err(|_| anyhow::anyhow!("places.tsv: bad network {cidr}"))?;
        db.insert_node(path, data);
        if let Some(block) = home_block(cidr) {
            homes.push((block, data));
        }
    }
    // Organizations of more than 1,000 members live on 198.51.104.0/24
    // and up: block `b` is in the country of home block `(b - 100) % 4`.
    for b in 104..=255u32 {
        if let Some((_, data)) = homes
            .iter()
            .find(|(h, _)| *h == 100 + (b - 100) % COUNTRIES)
        {
            let path: IpAddrWithMask = format!("198.51.{b}.0/24")
                .parse()
                .map_err(|_| anyhow::anyhow!("bad home network 198.51.{b}.0/24"))?;
            db.insert_node(path, *data);
        }
    }
    let mut bytes = Vec::new();
    db.write_to(&mut bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("writing the simulated database")?;
    Ok(bytes)
}

/// The third octet of a home network (`198.51.100.0/24` .. `198.51.103.0/24`).
fn home_block(cidr: &str) -> Option<u32> {
    let block: u32 = cidr
        .strip_prefix("198.51.")?
        .strip_suffix(".0/24")?
        .parse()
        .ok()?;
    (100..100 + COUNTRIES).contains(&block).then_some(block)
}

/// A domestic travel address (hotel, day trip) for a member whose home is
/// `home_ip`, on the home ISP's network in another city of the country.
pub fn domestic_travel_ip(home_ip: &str, n: u64) -> String {
    let block = home_ip
        .split('.')
        .nth(2)
        .and_then(|b| b.parse::<u64>().ok())
        .map_or(0, |b| b.saturating_sub(100) % u64::from(COUNTRIES));
    format!("203.0.113.{}", 64 * block + 1 + n % 62)
}

/// An address of the other residential ISP in the home city of a member
/// whose home is `home_ip` (a residential proxy's exit: CL-04/new_asn).
pub fn other_isp_ip(home_ip: &str) -> String {
    let block = home_ip
        .split('.')
        .nth(2)
        .and_then(|b| b.parse::<u64>().ok())
        .map_or(0, |b| b.saturating_sub(100) % u64::from(COUNTRIES));
    format!("192.0.2.{}", 32 + 8 * block + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_places_every_network() {
        let geoip = claude_audit_plugin::enrich::GeoIp::new(vec![database().unwrap()]).unwrap();
        let home = geoip.lookup("198.51.102.7").unwrap();
        assert_eq!(home.country.as_deref(), Some("DE"));
        // Member 9,999 of a 10,000-member organization: block 139, Spain.
        let far_home = geoip.lookup("198.51.139.250").unwrap();
        assert_eq!(far_home.country.as_deref(), Some("ES"));
        let trip = geoip
            .lookup(&domestic_travel_ip("198.51.102.7", 5))
            .unwrap();
        assert_eq!(
            (trip.country.as_deref(), trip.asn),
            (Some("DE"), Some(3320))
        );
        assert!(geoip.lookup(VPS_IP).unwrap().hosting);
        assert!(geoip.lookup(VPN_IP).unwrap().anonymizer);
        let proxy = geoip.lookup(&other_isp_ip("198.51.102.7")).unwrap();
        assert_eq!(
            (proxy.country.as_deref(), proxy.asn),
            (Some("DE"), Some(3209))
        );
        assert_eq!(
            geoip.lookup(super::super::POLLER_IP).unwrap().asn,
            Some(16509)
        );
        let far = geoip.lookup(FAR_AWAY_IP).unwrap();
        assert!(!far.hosting && !far.anonymizer && far.country.as_deref() == Some("BR"));
    }
}
