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

/// Write `t` (in UTC) in the canonical form. Digits are written by hand:
/// this runs twice per event and `core::fmt` showed up in profiles.
pub fn format(t: OffsetDateTime) -> String {
    let mut out = String::with_capacity(30);
    let year = t.year();
    if (0..=9999).contains(&year) {
        push_digits(&mut out, year.unsigned_abs(), 4);
    } else {
        // Outside RFC 3339's range; keep it readable rather than wrong.
        let _ = write!(out, "{year:+}");
    }
    for (separator, value) in [
        ('-', u32::from(u8::from(t.month()))),
        ('-', u32::from(t.day())),
        ('T', u32::from(t.hour())),
        (':', u32::from(t.minute())),
        (':', u32::from(t.second())),
    ] {
        out.push(separator);
        push_digits(&mut out, value, 2);
    }
    out.push('.');
    let nanos = t.nanosecond();
    if nanos.is_multiple_of(1000) {
        push_digits(&mut out, nanos / 1000, 6);
    } else {
        push_digits(&mut out, nanos, 9);
    }
    out.push('Z');
    out
}

/// Append the last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut String, value: u32, width: u32) {
    let mut divisor = 10u32.pow(width - 1);
    while divisor > 0 {
        out.push(char::from(b'0' + ((value / divisor) % 10) as u8));
        divisor /= 10;
    }
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
