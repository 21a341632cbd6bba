//! Activity timestamps as Unix nanoseconds: parsed from and formatted to
//! RFC 3339, the only form the Activity Feed uses and accepts.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Nanoseconds since the Unix epoch.
pub type Nanos = i128;

/// Parse an RFC 3339 timestamp with a zone (`...Z` or `...+00:00`).
pub fn parse_rfc3339(text: &str) -> Result<Nanos, time::error::Parse> {
    OffsetDateTime::parse(text, &Rfc3339).map(OffsetDateTime::unix_timestamp_nanos)
}

/// Format as RFC 3339 in UTC with microseconds, the feed's own precision.
pub fn format_rfc3339(nanos: Nanos) -> String {
    let micros = nanos.div_euclid(1000) * 1000;
    OffsetDateTime::from_unix_timestamp_nanos(micros)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// The current time.
pub fn now() -> Nanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as Nanos)
}

/// Seconds between two instants, as a float for metrics.
pub fn seconds_between(earlier: Nanos, later: Nanos) -> f64 {
    (later - earlier) as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_zones() {
        let a = parse_rfc3339("2026-05-18T12:58:03.838453Z").unwrap();
        let b = parse_rfc3339("2026-05-18T14:58:03.838453+02:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(format_rfc3339(a), "2026-05-18T12:58:03.838453Z");
        assert!(parse_rfc3339("2026-05-18").is_err());
        assert!(parse_rfc3339("2026-05-18T12:58:03").is_err());
    }
}
