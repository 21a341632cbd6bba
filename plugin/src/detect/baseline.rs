//! `baseline`: per-entity spikes. The value of each hour (an event count, or
//! the sum of a field such as tokens) is scored against the entity's own
//! past active hours with a robust z-score (Iglewicz and Hoaglin's modified
//! z = 0.6745 * (x - median) / MAD). It alerts when z reaches the threshold
//! **and** the value reaches an absolute floor, and only once the entity has
//! history on enough distinct days. The hour being scored never enters its
//! own baseline (the defect of a vendor spike rule): it joins the history
//! when the next hour starts.
//!
//! "Enough history" is at least `min_history_days` since the entity was first
//! seen and at least eight active hours. History is the last [`HISTORY_CAP`]
//! active hours.
//!
//! `method = "ewma"` scores against an exponentially weighted mean and
//! standard deviation of the past active hours instead (z = (x - mean) /
//! stddev), and `"ewma_hour_of_week"` against the EWMA of the same hour of
//! the week once that bucket has a few samples ([`super::ewma`]): those keep
//! a constant-size state per entity (no list of hours). Floor, minimum
//! history and "the scored hour is not in its own baseline" are the same.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::ewma::EwmaState;

/// Active hours kept per entity (about eight working days of eight hours).
pub const HISTORY_CAP: usize = 64;

/// Milliseconds per hour.
const HOUR: i64 = 3_600_000;

/// The state of one entity.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BaselineGroup {
    /// Past active hours: (hour index since the epoch, value).
    pub history: VecDeque<(i64, f64)>,
    /// The hour being counted: (hour index, value, alerted already).
    pub current: Option<(i64, f64, bool)>,
    /// The entity's first hour (history age counts from it).
    #[serde(default)]
    pub first_hour: Option<i64>,
    /// EWMA methods: the weighted baselines (they keep no `history`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ewma: Option<EwmaState>,
}

/// How a baseline scores an hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Modified z over the median/MAD of the last active hours.
    #[default]
    RobustZ,
    /// z over an exponentially weighted mean and standard deviation.
    Ewma,
    /// As `Ewma`, per hour of the week when that hour has history.
    EwmaHourOfWeek,
}

impl Method {
    /// The name alerts carry in `baseline.method`.
    pub fn name(self) -> &'static str {
        match self {
            Self::RobustZ => "robust_z_median_mad",
            Self::Ewma => "ewma",
            Self::EwmaHourOfWeek => "ewma_hour_of_week",
        }
    }
}

/// Active hours a history needs, whatever its age.
const MIN_ACTIVE_HOURS: usize = 8;

/// The scoring parameters.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Robust z that alerts.
    pub z: f64,
    /// Absolute floor.
    pub floor: f64,
    /// Days since the entity was first seen needed (and at least
    /// [`MIN_ACTIVE_HOURS`] active hours).
    pub min_days: u32,
    /// Scoring method.
    pub method: Method,
    /// EWMA weight of the newest hour (0 < alpha <= 1).
    pub alpha: f64,
}

/// What a spike looks like, for the alert's `baseline` and `observed`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spike {
    /// Start of the hour (ms).
    pub hour_start: i64,
    /// The hour's value so far.
    pub observed: f64,
    /// Median of the history (robust z) or the EWMA mean.
    pub center: f64,
    /// MAD of the history (before flooring) or the EWMA standard deviation.
    pub spread: f64,
    /// The hour-of-week bucket scored against (seasonal EWMA), if any.
    pub bucket: Option<u8>,
    /// The robust z-score.
    pub z: f64,
    /// Active hours in the history.
    pub history_hours: usize,
    /// Days since the entity was first seen.
    pub history_days: i64,
}

impl BaselineGroup {
    /// Add `amount` at time `t`; a spike if this makes the hour one.
    pub fn add(&mut self, t: i64, amount: f64, p: Params) -> Option<Spike> {
        let hour = t.div_euclid(HOUR);
        let first = *self.first_hour.get_or_insert(hour);
        self.first_hour = Some(first.min(hour));
        match self.current {
            Some((h, _, _)) if h > hour => {
                // A late event: it belongs to a past hour, scored already.
                if let Some(entry) = self.history.iter_mut().find(|(h, _)| *h == hour) {
                    entry.1 += amount;
                }
                return None;
            }
            Some((h, value, _)) if h < hour => {
                self.close_hour(h, value, p);
                self.current = Some((hour, 0.0, false));
            }
            None => self.current = Some((hour, 0.0, false)),
            Some(_) => {}
        }
        let (_, value, alerted) = self.current.as_mut().expect("set above");
        *value += amount;
        if *alerted {
            return None;
        }
        let age_days = (hour - first) / 24;
        let spike = match (p.method, &self.ewma) {
            (Method::RobustZ, _) => score(&self.history, *value, hour * HOUR, age_days, p),
            (_, Some(state)) => score_ewma(state, *value, hour, age_days, p),
            (_, None) => None,
        }?;
        *alerted = true;
        Some(spike)
    }

    /// The hour `h` is over: it joins the history (robust z) or the EWMAs.
    fn close_hour(&mut self, h: i64, value: f64, p: Params) {
        if p.method == Method::RobustZ {
            self.history.push_back((h, value));
            if self.history.len() > HISTORY_CAP {
                self.history.pop_front();
            }
            return;
        }
        let seasonal = p.method == Method::EwmaHourOfWeek;
        let state = self.ewma.get_or_insert_with(EwmaState::default);
        state.close_hour(h, value, p.alpha, seasonal);
    }
}

/// Score `observed` in `hour` against the EWMA baseline.
fn score_ewma(
    state: &EwmaState,
    observed: f64,
    hour: i64,
    age_days: i64,
    p: Params,
) -> Option<Spike> {
    let active = usize::try_from(state.all.n).unwrap_or(usize::MAX);
    if age_days < i64::from(p.min_days) || active < MIN_ACTIVE_HOURS || observed < p.floor {
        return None;
    }
    let (base, bucket) = state.baseline(hour, p.method == Method::EwmaHourOfWeek);
    let z = (observed - base.mean) / base.stddev();
    (z >= p.z).then_some(Spike {
        hour_start: hour * HOUR,
        observed,
        center: base.mean,
        spread: base.var.sqrt(),
        bucket,
        z,
        history_hours: active,
        history_days: age_days,
    })
}

/// Score `observed` against `history`.
fn score(
    history: &VecDeque<(i64, f64)>,
    observed: f64,
    hour_start: i64,
    age_days: i64,
    p: Params,
) -> Option<Spike> {
    if age_days < i64::from(p.min_days) || history.len() < MIN_ACTIVE_HOURS || observed < p.floor {
        return None;
    }
    let values: Vec<f64> = history.iter().map(|(_, v)| *v).collect();
    let median = median_of(values.clone());
    let mad = median_of(values.iter().map(|v| (v - median).abs()).collect());
    // A flat history has MAD 0: use a deviation of one unit (one event, one
    // token) so that z stays finite; the floor does the real work then.
    let z = 0.6745 * (observed - median) / mad.max(1.0);
    (z >= p.z).then_some(Spike {
        hour_start,
        observed,
        center: median,
        spread: mad,
        bucket: None,
        z,
        history_hours: values.len(),
        history_days: age_days,
    })
}

fn median_of(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Params = Params {
        z: 3.5,
        floor: 50.0,
        min_days: 7,
        method: Method::RobustZ,
        alpha: 0.1,
    };

    fn with_history(days: i64, per_hour: f64) -> BaselineGroup {
        let mut g = BaselineGroup::default();
        for day in 0..days {
            for h in 9..12 {
                let t = (day * 24 + h) * HOUR;
                assert!(g.add(t, per_hour + (h % 2) as f64 * 2.0, P).is_none());
            }
        }
        g
    }

    #[test]
    fn a_spike_over_a_learned_baseline_and_the_floor_alerts_once() {
        let mut g = with_history(8, 10.0);
        let t = (8 * 24 + 10) * HOUR;
        assert!(g.add(t, 49.0, P).is_none(), "under the floor");
        let spike = g.add(t + 1, 1.0, P).expect("50 against a median of 10");
        assert!(spike.z >= 3.5 && spike.observed == 50.0 && spike.center <= 12.0);
        assert!(g.add(t + 2, 100.0, P).is_none(), "once per hour");
    }

    #[test]
    fn no_alert_without_enough_history() {
        let mut g = with_history(5, 10.0);
        assert!(g.add((5 * 24 + 10) * HOUR, 500.0, P).is_none());
    }

    #[test]
    fn the_scored_hour_is_not_in_its_own_baseline() {
        let mut g = with_history(8, 10.0);
        let t = (8 * 24 + 10) * HOUR;
        g.add(t, 30.0, P);
        assert!(g.history.iter().all(|(h, _)| *h < t / HOUR));
    }

    const EWMA: Params = Params {
        method: Method::Ewma,
        ..P
    };
    const WEEKLY: Params = Params {
        method: Method::EwmaHourOfWeek,
        ..P
    };

    /// `days` days of 3 active hours (9-11 UTC) of `per_hour`, plus, on
    /// Mondays, a busy 09:00 hour of `monday` (the seasonal pattern).
    fn rhythm(p: Params, days: i64, per_hour: f64, monday: f64) -> BaselineGroup {
        let mut g = BaselineGroup::default();
        for day in 0..days {
            for h in 9..12 {
                let hour = day * 24 + h;
                let monday_nine = super::super::ewma::hour_of_week(hour) == 9;
                let value = if monday_nine { monday } else { per_hour };
                // Early Mondays may alert while the bucket learns: not scored here.
                g.add(hour * HOUR, value, p);
            }
        }
        g
    }

    #[test]
    fn ewma_alerts_on_a_spike_keeps_no_hour_list_and_respects_the_floor_edge() {
        let mut g = rhythm(EWMA, 10, 10.0, 10.0);
        assert!(g.history.is_empty() && g.ewma.is_some());
        let t = (10 * 24 + 10) * HOUR;
        assert!(g.add(t, 49.0, EWMA).is_none(), "one under the floor");
        let spike = g.add(t + 1, 1.0, EWMA).expect("exactly the floor alerts");
        assert_eq!(spike.observed, 50.0);
        assert!((spike.center - 10.0).abs() < 1e-9 && spike.bucket.is_none());
    }

    #[test]
    fn ewma_minimum_history_edge() {
        // First hour on day 0 at 09:00; day 7 09:00 is exactly 7 days later.
        let mut early = rhythm(EWMA, 7, 10.0, 10.0);
        let last_short = (6 * 24 + 23) * HOUR;
        assert!(
            early.add(last_short, 500.0, EWMA).is_none(),
            "6 days of history"
        );
        let mut ready = rhythm(EWMA, 7, 10.0, 10.0);
        assert!(
            ready.add((7 * 24 + 9) * HOUR, 500.0, EWMA).is_some(),
            "7 days"
        );
    }

    #[test]
    fn hour_of_week_learns_a_busy_monday_morning_and_still_sees_odd_hours() {
        // 1970-01-05 (day 4) is a Monday: 5 Mondays in 35 days.
        let busy = 400.0;
        let next_monday_nine = (39 * 24 + 9) * HOUR;
        let mut seasonal = rhythm(WEEKLY, 35, 10.0, busy);
        assert!(
            seasonal.add(next_monday_nine, busy, WEEKLY).is_none(),
            "the usual Monday peak"
        );
        let mut flat = rhythm(EWMA, 35, 10.0, busy);
        assert!(
            flat.add(next_monday_nine, busy, EWMA).is_some(),
            "without seasons the peak looks like a spike"
        );
        // A Tuesday 03:00 (no bucket history): the overall EWMA scores it.
        let mut g = rhythm(WEEKLY, 35, 10.0, busy);
        let spike = g
            .add((40 * 24 + 3) * HOUR, busy, WEEKLY)
            .expect("odd-hour spike");
        assert!(spike.bucket.is_none());
        // Monday 09:00 with ten times its usual peak alerts against its bucket.
        let spike = seasonal
            .add(next_monday_nine + HOUR * 24 * 7, busy * 10.0, WEEKLY)
            .expect("a peak above the peak");
        assert_eq!(spike.bucket, Some(9));
    }
}
