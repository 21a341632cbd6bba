//! RFC 3339 timestamps: parsing the feed's `created_at` and writing the
//! canonical `timestamp`.
//!
//! The feed sends whole seconds in its documentation examples and
//! microseconds in real samples (SPEC section 3); both parse. The canonical
//! form is always UTC with a `Z` and exactly six fractional digits (nine if
//! the input had sub-microsecond precision), so that SIEMs can sort the field
//! as text.

use std::fmt::Write as _;

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

/// Parse an RFC 3339 timestamp (time and zone required) and convert it to UTC.
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|t| t.to_offset(UtcOffset::UTC))
}

/// Write `t` (in UTC) in the canonical form.
pub fn format(t: OffsetDateTime) -> String {
    let mut out = String::with_capacity(30);
    let (year, month, day) = (t.year(), u8::from(t.month()), t.day());
    let (hour, minute, second, nanos) = (t.hour(), t.minute(), t.second(), t.nanosecond());
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"
    );
    let _ = if nanos % 1000 == 0 {
        write!(out, ".{:06}Z", nanos / 1000)
    } else {
        write!(out, ".{nanos:09}Z")
    };
    out
}

/// `t` plus `days`, or `None` past the representable range.
pub fn add_days(t: OffsetDateTime, days: u32) -> Option<OffsetDateTime> {
    t.checked_add(Duration::days(i64::from(days)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> Option<String> {
        parse(text).map(format)
    }

    #[test]
    fn accepts_whole_seconds_micros_and_offsets() {
        assert_eq!(
            canonical("2026-04-10T08:09:10Z").unwrap(),
            "2026-04-10T08:09:10.000000Z"
        );
        assert_eq!(
            canonical("2026-05-22T15:25:13.701734Z").unwrap(),
            "2026-05-22T15:25:13.701734Z"
        );
        assert_eq!(
            canonical("2026-05-22T17:25:13.7+02:00").unwrap(),
            "2026-05-22T15:25:13.700000Z"
        );
        assert_eq!(
            canonical("2026-05-22T15:25:13.123456789Z").unwrap(),
            "2026-05-22T15:25:13.123456789Z"
        );
    }

    #[test]
    fn rejects_dates_without_time_or_zone() {
        for bad in [
            "2026-05-18",
            "2026-05-18T00:00:00",
            "yesterday",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn adds_days() {
        let t = parse("2026-05-18T12:00:00Z").unwrap();
        assert_eq!(
            format(add_days(t, 2192).unwrap()),
            "2032-05-18T12:00:00.000000Z"
        );
    }
}
