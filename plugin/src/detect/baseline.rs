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
//! active hours (not hour-of-week
//! buckets: those need a month of data per entity and 168 times the state;
//! noted as future work in the README).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

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
}

/// What a spike looks like, for the alert's `baseline` and `observed`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spike {
    /// Start of the hour (ms).
    pub hour_start: i64,
    /// The hour's value so far.
    pub observed: f64,
    /// Median of the history.
    pub median: f64,
    /// Median absolute deviation of the history (before flooring).
    pub mad: f64,
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
                self.history.push_back((h, value));
                if self.history.len() > HISTORY_CAP {
                    self.history.pop_front();
                }
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
        let spike = score(&self.history, *value, hour * HOUR, age_days, p)?;
        *alerted = true;
        Some(spike)
    }
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
        median,
        mad,
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
        assert!(spike.z >= 3.5 && spike.observed == 50.0 && spike.median <= 12.0);
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
}
