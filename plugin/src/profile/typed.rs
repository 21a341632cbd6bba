//! Values for typed fields: IP addresses, email addresses and timestamps.
//!
//! The canonical event carries pseudonyms (`ip:k1:…`, `email:k1:…`) where the
//! source had an address. OCSF types `src_endpoint.ip` as `ip_t` and
//! `email_addr` as `email_t`; ECS maps `source.ip`/`related.ip` as `ip`. A
//! pseudonym is not an address, so the profiles put a value in a typed field
//! only when it *is* one (redaction off, or the policy keeps addresses), and
//! otherwise move the pseudonym to a text field of the same object
//! (`src_endpoint.uid`, `user.uid_alt`; ECS `source.address`, `user.hash`).
//! Why not a format-preserving mapping (e.g. Crypto-PAn): this stage runs on
//! the finished, redacted event and never sees the original address; and a
//! made-up address in an IP field would be fed to geo-IP and threat-intel
//! enrichment as if it were real.

use std::net::IpAddr;
use std::sync::LazyLock;

use regex::Regex;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// OCSF 1.8.0 `email_t` (dictionary.json `types.email_t.regex`), verbatim.
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$")
        .expect("email regex")
});

/// The text when it is an IPv4 or IPv6 address.
pub fn ip(text: &str) -> Option<&str> {
    text.parse::<IpAddr>().is_ok().then_some(text)
}

/// The text when it is an email address (OCSF `email_t`).
pub fn email(text: &str) -> Option<&str> {
    EMAIL.is_match(text).then_some(text)
}

/// Milliseconds since the Unix epoch of a canonical timestamp (OCSF
/// `timestamp_t`); `None` if it is not RFC 3339, which the canonical writer
/// never produces.
pub fn epoch_millis(timestamp: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(timestamp, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_addresses_pass() {
        assert_eq!(ip("192.0.2.7"), Some("192.0.2.7"));
        assert_eq!(ip("2001:db8::1"), Some("2001:db8::1"));
        assert_eq!(ip("ip:k1:HU4T3UICM5AA77DT"), None);
        assert_eq!(ip("*****.7"), None);
        assert_eq!(email("a.b@example.com"), Some("a.b@example.com"));
        assert_eq!(email("email:k1:FAFABSZLYCACS2K5"), None);
        assert_eq!(email("[REDACTED:email]"), None);
    }

    #[test]
    fn canonical_timestamps_become_epoch_millis() {
        assert_eq!(epoch_millis("1970-01-01T00:00:01.500000Z"), Some(1500));
        assert_eq!(
            epoch_millis("2026-05-18T12:58:03.838453Z"),
            Some(1_779_109_083_838)
        );
        assert_eq!(epoch_millis("yesterday"), None);
    }
}
