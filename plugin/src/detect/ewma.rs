//! EWMA baselines for `baseline` detections (`method = "ewma"` and
//! `"ewma_hour_of_week"`): an exponentially weighted mean and variance of the
//! entity's past active hours, overall and, for the seasonal method, per
//! hour of the week (Monday 00:00 UTC = 0 … Sunday 23:00 = 167), so that a
//! user who is always busy on Monday mornings is scored against Monday
//! mornings. Buckets are kept only for hours the entity was active in
//! (sparse: a typical user fills a few dozen of the 168).
//!
//! Hand-written (a dozen lines of arithmetic, West's incremental update)
//! rather than a dependency: no well-kept crate does incremental EWMA
//! variance with a serializable state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Samples an hour-of-week bucket needs before it is the baseline (else the
/// entity-wide EWMA is used).
pub const MIN_BUCKET_SAMPLES: u32 = 3;

/// Hours per week.
const WEEK_HOURS: i64 = 168;

/// An exponentially weighted mean and variance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Ewma {
    /// Samples seen.
    pub n: u32,
    /// Weighted mean.
    pub mean: f64,
    /// Weighted variance.
    pub var: f64,
}

impl Ewma {
    /// Fold in `x` with weight `alpha` (the first sample sets the mean).
    pub fn update(&mut self, x: f64, alpha: f64) {
        if self.n == 0 {
            *self = Self {
                n: 1,
                mean: x,
                var: 0.0,
            };
            return;
        }
        let diff = x - self.mean;
        let step = alpha * diff;
        self.mean += step;
        self.var = (1.0 - alpha) * (self.var + diff * step);
        self.n = self.n.saturating_add(1);
    }

    /// The standard deviation, at least one unit (one event, one token),
    /// so that a flat history keeps z finite and the floor does the work.
    pub fn stddev(&self) -> f64 {
        self.var.sqrt().max(1.0)
    }
}

/// The EWMA state of one entity.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EwmaState {
    /// Over every past active hour.
    pub all: Ewma,
    /// Per hour of the week (only with the seasonal method).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weekly: BTreeMap<u8, Ewma>,
}

impl EwmaState {
    /// A closed hour (`hour` since the epoch) with its value.
    pub fn close_hour(&mut self, hour: i64, value: f64, alpha: f64, seasonal: bool) {
        self.all.update(value, alpha);
        if seasonal {
            let bucket = self.weekly.entry(hour_of_week(hour)).or_default();
            bucket.update(value, alpha);
        }
    }

    /// The baseline `hour` is scored against: its hour-of-week bucket when
    /// seasonal and that bucket has [`MIN_BUCKET_SAMPLES`], else the overall
    /// EWMA. Also says which bucket was used.
    pub fn baseline(&self, hour: i64, seasonal: bool) -> (Ewma, Option<u8>) {
        let bucket = hour_of_week(hour);
        match self.weekly.get(&bucket) {
            Some(b) if seasonal && b.n >= MIN_BUCKET_SAMPLES => (*b, Some(bucket)),
            _ => (self.all, None),
        }
    }
}

/// Hour of the week of an hour since the epoch, Monday 00:00 UTC = 0
/// (1970-01-01 was a Thursday: day 3 of a Monday-first week).
pub fn hour_of_week(hour: i64) -> u8 {
    let how = (hour + 3 * 24).rem_euclid(WEEK_HOURS);
    u8::try_from(how).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_of_week_starts_on_monday_midnight_utc() {
        // 1970-01-05T00:00Z was a Monday.
        assert_eq!(hour_of_week(4 * 24), 0);
        assert_eq!(hour_of_week(4 * 24 + 9), 9);
        assert_eq!(hour_of_week(0), 72, "Thursday 00:00");
        assert_eq!(hour_of_week(4 * 24 - 1), 167, "Sunday 23:00");
    }

    #[test]
    fn ewma_tracks_mean_and_spread() {
        let mut e = Ewma::default();
        for i in 0..200 {
            e.update(if i % 2 == 0 { 8.0 } else { 12.0 }, 0.1);
        }
        assert!((e.mean - 10.0).abs() < 0.5, "{e:?}");
        assert!((e.stddev() - 2.0).abs() < 0.5, "{e:?}");
        let flat = Ewma {
            n: 5,
            mean: 3.0,
            var: 0.0,
        };
        assert_eq!(flat.stddev(), 1.0);
    }
}
