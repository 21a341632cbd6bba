//! Sliding windows: `event_count` (at least N matching events) and
//! `value_count` (at least N distinct values of a field) per group key, in
//! any window of the configured length. Both ends of a window are inclusive:
//! with a 10-minute window, events at 12:00:00 and 12:10:00 are in one window.
//!
//! Hits are kept sorted by time, so out-of-order events count where they
//! belong; a hit whose event id is already held is a duplicate (re-read
//! overlap) and is ignored. After an alert the group stays quiet for one
//! window length, so an ongoing attack raises one alert per window, not one
//! per event.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// One matching event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Hit {
    /// Event time, milliseconds since the epoch.
    pub t: i64,
    /// Event id.
    pub id: String,
    /// The counted value (`value_count`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<String>,
}

/// The state of one group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WindowGroup {
    /// Hits, sorted by time, at most [`Self::cap`] of them.
    pub hits: VecDeque<Hit>,
    /// No alert before this time (ms): the group alerted recently.
    pub quiet_until: i64,
}

/// An alerting window: the hits in it.
pub struct Fired {
    /// The hits that make the window, oldest first.
    pub hits: Vec<Hit>,
    /// Events (or distinct values) counted.
    pub observed: u64,
}

impl WindowGroup {
    /// Add `hit`; return the window it completes, if any. `distinct`:
    /// count distinct values rather than events.
    pub fn add(&mut self, hit: Hit, window: i64, threshold: u64, distinct: bool) -> Option<Fired> {
        if self.hits.iter().any(|h| h.id == hit.id) {
            return None;
        }
        let newest = self.hits.back().map_or(hit.t, |h| h.t.max(hit.t));
        if hit.t < newest - window {
            return None; // Too late to share a window with anything held.
        }
        let at = self.hits.partition_point(|h| h.t <= hit.t);
        self.hits.insert(at, hit);
        while self.hits.front().is_some_and(|h| h.t < newest - window) {
            self.hits.pop_front();
        }
        let cap = Self::cap(threshold);
        while self.hits.len() > cap {
            self.hits.pop_front();
        }
        let t = self.hits[at.min(self.hits.len() - 1)].t;
        if t < self.quiet_until {
            return None;
        }
        let fired = self.find(t, window, threshold, distinct)?;
        self.quiet_until = fired.hits.last().map_or(t, |h| h.t) + window;
        Some(fired)
    }

    /// Most hits held per group: enough for any window to reach the
    /// threshold several times over, bounded whatever the traffic.
    pub fn cap(threshold: u64) -> usize {
        usize::try_from(threshold.saturating_mul(4))
            .unwrap_or(usize::MAX)
            .clamp(16, 4096)
    }

    /// The first window that contains time `t` and reaches the threshold.
    fn find(&self, t: i64, window: i64, threshold: u64, distinct: bool) -> Option<Fired> {
        let hits: Vec<&Hit> = self.hits.iter().collect();
        let mut counts: HashMap<&str, u64> = HashMap::new();
        let mut start = 0;
        for end in 0..hits.len() {
            if let Some(v) = &hits[end].v {
                *counts.entry(v.as_str()).or_default() += 1;
            }
            while hits[end].t - hits[start].t > window {
                if let Some(v) = &hits[start].v {
                    let n = counts.get_mut(v.as_str()).expect("counted on entry");
                    *n -= 1;
                    if *n == 0 {
                        counts.remove(v.as_str());
                    }
                }
                start += 1;
            }
            let observed = if distinct {
                counts.len() as u64
            } else {
                (end - start + 1) as u64
            };
            let contains_t = hits[start].t <= t && t <= hits[end].t;
            if observed >= threshold && contains_t {
                return Some(Fired {
                    hits: hits[start..=end].iter().map(|h| (*h).clone()).collect(),
                    observed,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(t: i64, id: &str, v: Option<&str>) -> Hit {
        Hit {
            t,
            id: id.to_owned(),
            v: v.map(str::to_owned),
        }
    }

    #[test]
    fn an_event_exactly_at_the_window_edge_counts_one_past_it_does_not() {
        let mut g = WindowGroup::default();
        assert!(g.add(hit(0, "a", None), 600, 3, false).is_none());
        assert!(g.add(hit(300, "b", None), 600, 3, false).is_none());
        let fired = g
            .add(hit(600, "c", None), 600, 3, false)
            .expect("inclusive edge");
        assert_eq!(fired.observed, 3);
        let mut g = WindowGroup::default();
        g.add(hit(0, "a", None), 600, 3, false);
        g.add(hit(300, "b", None), 600, 3, false);
        assert!(g.add(hit(601, "c", None), 600, 3, false).is_none());
    }

    #[test]
    fn duplicates_and_out_of_order_events_raise_one_alert() {
        let mut g = WindowGroup::default();
        assert!(g.add(hit(500, "c", None), 600, 3, false).is_none());
        assert!(g.add(hit(100, "a", None), 600, 3, false).is_none());
        assert!(g.add(hit(100, "a", None), 600, 3, false).is_none());
        let fired = g
            .add(hit(300, "b", None), 600, 3, false)
            .expect("three in a window");
        assert_eq!(
            fired.hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(
            g.add(hit(550, "d", None), 600, 3, false).is_none(),
            "quiet after an alert"
        );
        assert!(
            g.add(hit(300, "b", None), 600, 3, false).is_none(),
            "re-read"
        );
    }

    #[test]
    fn distinct_values_count_once() {
        let mut g = WindowGroup::default();
        for (i, v) in ["x", "x", "y", "x"].iter().enumerate() {
            assert!(
                g.add(hit(i as i64, &format!("e{i}"), Some(v)), 600, 3, true)
                    .is_none()
            );
        }
        assert!(g.add(hit(10, "e9", Some("z")), 600, 3, true).is_some());
    }
}
