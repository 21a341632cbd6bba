//! IP enrichment: where an actor's IP address is, and what kind of network
//! it belongs to, from user-supplied MaxMind-format (`.mmdb`) databases.
//!
//! It runs while the event is written, before redaction replaces the IP by
//! its pseudonym, and keeps only derived fields (`actor.geo`: country, a
//! coarse city-level location, ASN and its organization, `hosting` and
//! `anonymizer` flags). The raw address never leaves this module.
//!
//! The plugin has no file access: the host reads the files named in its
//! `[geoip]` table and hands their bytes over with the configuration. Each
//! database is read with the `maxminddb` crate and every lookup merges what
//! each one knows, so a City (or Country) database, an ASN database and an
//! Anonymous-IP-style database can be combined in any order; the database
//! type is not checked, the fields are.

mod networks;

use std::net::IpAddr;

use maxminddb::Reader;
use serde::Deserialize;

use crate::error::{ConfigError, ConfigErrorKind};
use crate::json_writer::JsonWriter;
pub use networks::NetworkKind;

/// Decimal places kept of latitude and longitude: one (about 11 km), a
/// city-level location that is enough for travel speed and no finer than
/// the databases' own accuracy.
const COORDINATE_SCALE: f64 = 10.0;

/// The configured databases.
pub struct GeoIp {
    readers: Vec<Reader<Vec<u8>>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("databases", &self.readers.len())
            .finish()
    }
}

/// What the databases say about one address. Only derived fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Place {
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
    /// Latitude, rounded to 0.1 degree.
    pub lat: Option<f64>,
    /// Longitude, rounded to 0.1 degree.
    pub lon: Option<f64>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system organization.
    pub asn_org: Option<String>,
    /// A cloud or hosting provider's network.
    pub hosting: bool,
    /// A VPN, proxy or Tor exit network.
    pub anonymizer: bool,
}

impl GeoIp {
    /// Open each database (the bytes of a `.mmdb` file). A file that is not
    /// a MaxMind DB is refused, named by its position in `[geoip] databases`.
    pub fn new(databases: Vec<Vec<u8>>) -> Result<Self, ConfigError> {
        let mut readers = Vec::with_capacity(databases.len());
        for (i, bytes) in databases.into_iter().enumerate() {
            let reader = Reader::from_source(bytes).map_err(|e| ConfigError {
                kind: ConfigErrorKind::InvalidValue,
                path: format!("geoip.databases[{i}]"),
                message: format!("not a MaxMind DB file: {e}"),
            })?;
            readers.push(reader);
        }
        Ok(Self { readers })
    }

    /// Look `ip` up in every database. `None` for a text that is not an IP,
    /// an address that is not on the internet (unspecified `0.0.0.0`,
    /// private, loopback, link-local) and an address no database knows.
    pub fn lookup(&self, ip: &str) -> Option<Place> {
        let ip = public(ip.trim().parse().ok()?)?;
        let mut place = Place::default();
        let mut found = false;
        for reader in &self.readers {
            let Ok(Some(record)) = reader.lookup(ip).and_then(|r| r.decode::<Record>()) else {
                continue;
            };
            found = true;
            record.merge_into(&mut place);
        }
        if let Some(asn) = place.asn {
            match networks::kind(asn) {
                Some(NetworkKind::Hosting) => place.hosting = true,
                Some(NetworkKind::Anonymizer) => place.anonymizer = true,
                None => {}
            }
        }
        found.then_some(place)
    }

    /// Write `actor.geo` for `ip`: the derived fields, or null.
    pub(crate) fn write(&self, w: &mut JsonWriter<'_>, ip: Option<&str>) {
        match ip.and_then(|ip| self.lookup(ip)) {
            None => w.null("geo"),
            Some(p) => {
                w.object("geo").opt_str("country", p.country.as_deref());
                w.key("lat").tree(&p.lat.into());
                w.key("lon").tree(&p.lon.into());
                w.key("asn").tree(&p.asn.into());
                w.opt_str("asn_org", p.asn_org.as_deref())
                    .bool("hosting", p.hosting)
                    .bool("anonymizer", p.anonymizer)
                    .end()
            }
        };
    }
}

/// The address, unless it is not a public internet address (an IPv4-mapped
/// IPv6 address counts as its IPv4 address).
fn public(ip: IpAddr) -> Option<IpAddr> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let local = match ip {
        IpAddr::V4(v4) => {
            v4.is_unspecified()
                || v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
        }
        IpAddr::V6(v6) => {
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
        }
    };
    (!local).then_some(ip)
}

/// The fields read from any database record (GeoIP2/GeoLite2 City and
/// Country, ASN, Anonymous IP); others are ignored.
#[derive(Debug, Default, Deserialize)]
struct Record {
    country: Option<Country>,
    location: Option<Location>,
    /// uint32 in MaxMind's own files; any unsigned width is accepted.
    #[serde(default, deserialize_with = "any_unsigned")]
    autonomous_system_number: Option<u64>,
    autonomous_system_organization: Option<String>,
    is_anonymous: Option<bool>,
    is_anonymous_vpn: Option<bool>,
    is_public_proxy: Option<bool>,
    is_tor_exit_node: Option<bool>,
    is_hosting_provider: Option<bool>,
    traits: Option<Traits>,
}

/// An unsigned integer of any MaxMind width (uint16/32/64/128 decode to
/// different serde calls; a typed `u32` field would refuse a uint64).
fn any_unsigned<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Unsigned;
    impl serde::de::Visitor<'_> for Unsigned {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an unsigned integer")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Self::Value, E> {
            Ok(u64::try_from(v).ok())
        }
    }
    d.deserialize_any(Unsigned)
}

#[derive(Debug, Default, Deserialize)]
struct Country {
    iso_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
struct Traits {
    is_anonymous_proxy: Option<bool>,
    is_hosting_provider: Option<bool>,
}

impl Record {
    /// Fill what `place` does not know yet; flags add up.
    fn merge_into(self, place: &mut Place) {
        let coarse = |x: f64| (x * COORDINATE_SCALE).round() / COORDINATE_SCALE;
        if place.country.is_none() {
            place.country = self.country.and_then(|c| c.iso_code);
        }
        if let Some(Location {
            latitude: Some(lat),
            longitude: Some(lon),
        }) = self.location
            && place.lat.is_none()
        {
            place.lat = Some(coarse(lat));
            place.lon = Some(coarse(lon));
        }
        let asn = self
            .autonomous_system_number
            .and_then(|n| u32::try_from(n).ok());
        place.asn = place.asn.or(asn);
        if place.asn_org.is_none() {
            place.asn_org = self.autonomous_system_organization;
        }
        let traits = self.traits.unwrap_or_default();
        let yes = |flag: Option<bool>| flag == Some(true);
        place.anonymizer |= yes(self.is_anonymous)
            || yes(self.is_anonymous_vpn)
            || yes(self.is_public_proxy)
            || yes(self.is_tor_exit_node)
            || yes(traits.is_anonymous_proxy);
        place.hosting |= yes(self.is_hosting_provider) || yes(traits.is_hosting_provider);
    }
}

#[cfg(test)]
mod tests;
