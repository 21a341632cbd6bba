//! `new_value`: a value never seen before for a group (a user's country, a
//! key's IP), after a learning period. Two learning periods apply: the
//! detection's own (no alert until it has seen `learning` of history, so a
//! fresh deployment does not alert on everything) and the entity's (no alert
//! for an entity first seen less than `entity_learning` ago: a new user's
//! first places are not news).

use serde::{Deserialize, Serialize};

/// Most values remembered per group; beyond it the least recently seen is
/// forgotten (and may alert again when it comes back).
pub const VALUE_CAP: usize = 256;

/// The state of one group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FirstSeenGroup {
    /// When the group was first seen (ms).
    pub first_seen: i64,
    /// Known values and when each was last seen.
    pub known: Vec<(String, i64)>,
    /// Values that became known after the learning periods less than the
    /// detection's `fresh` ago, with when (only detections with `fresh`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<(String, i64)>,
}

/// Most fresh values remembered per group (an actor does not come from
/// more new places than this within a day; beyond it the oldest is dropped).
const RECENT_CAP: usize = 16;

impl FirstSeenGroup {
    /// Record `value` at `t`; whether it is new and the group is past its
    /// learning period (`detection_start`: when the detection first saw data).
    pub fn add(
        &mut self,
        value: &str,
        t: i64,
        detection_start: i64,
        learning: i64,
        entity_learning: i64,
    ) -> bool {
        if self.known.is_empty() {
            self.first_seen = t;
        }
        self.first_seen = self.first_seen.min(t);
        if let Some(entry) = self.known.iter_mut().find(|(v, _)| v == value) {
            entry.1 = entry.1.max(t);
            return false;
        }
        let learned = t - detection_start >= learning && t - self.first_seen >= entity_learning;
        self.known.push((value.to_owned(), t));
        if self.known.len() > VALUE_CAP {
            let oldest = self
                .known
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, seen))| *seen)
                .map(|(i, _)| i)
                .expect("not empty");
            self.known.swap_remove(oldest);
        }
        learned
    }

    /// [`Self::add`] for a detection that learns from more events than it
    /// alerts on: record `value` at `t`; whether the event, if `alerting`,
    /// finds the value new or first seen (after learning) less than `fresh`
    /// ago.
    pub fn observe(&mut self, value: &str, t: i64, periods: Periods, alerting: bool) -> bool {
        let new = self.add(
            value,
            t,
            periods.detection_start,
            periods.learning,
            periods.entity_learning,
        );
        if periods.fresh > 0 {
            self.recent
                .retain(|(_, first)| t - first < periods.fresh || *first > t);
            if new {
                self.recent.push((value.to_owned(), t));
                if self.recent.len() > RECENT_CAP {
                    self.recent.remove(0);
                }
            }
        }
        alerting
            && (new
                || self
                    .recent
                    .iter()
                    .any(|(v, first)| v == value && t - first < periods.fresh))
    }
}

/// The time limits of [`FirstSeenGroup::observe`] (ms).
#[derive(Debug, Clone, Copy)]
pub struct Periods {
    /// When the detection first saw data.
    pub detection_start: i64,
    /// The detection's learning period.
    pub learning: i64,
    /// The entity's learning period.
    pub entity_learning: i64,
    /// How long a newly seen value stays new (0: only on first sight).
    pub fresh: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_periods_hold_back_alerts() {
        let day = 86_400_000;
        let mut g = FirstSeenGroup::default();
        assert!(!g.add("FR", 0, 0, 14 * day, 14 * day));
        assert!(
            !g.add("DE", 3 * day, 0, 14 * day, 14 * day),
            "still learning"
        );
        assert!(!g.add("FR", 20 * day, 0, 14 * day, 14 * day), "known");
        assert!(
            g.add("BR", 20 * day, 0, 14 * day, 14 * day),
            "new after learning"
        );
        assert!(!g.add("BR", 21 * day, 0, 14 * day, 14 * day), "now known");
        let mut fresh = FirstSeenGroup::default();
        assert!(
            !fresh.add("FR", 20 * day, 0, 14 * day, 14 * day),
            "a new entity learns first"
        );
    }

    #[test]
    fn a_value_learned_from_a_quiet_event_stays_new_while_fresh() {
        let (day, hour) = (86_400_000, 3_600_000);
        let periods = Periods {
            detection_start: 0,
            learning: 14 * day,
            entity_learning: 3 * day,
            fresh: 24 * hour,
        };
        let mut g = FirstSeenGroup::default();
        assert!(!g.observe("HOME", 0, periods, false));
        assert!(!g.observe("HOME", 20 * day, periods, true), "known");
        assert!(
            !g.observe("VPS", 20 * day + hour, periods, false),
            "a sign-in only teaches"
        );
        assert!(
            g.observe("VPS", 20 * day + 2 * hour, periods, true),
            "the key created an hour later still finds it new"
        );
        assert!(
            !g.observe("VPS", 22 * day, periods, true),
            "no longer fresh two days later"
        );
        assert!(g.observe("HOTEL", 23 * day, periods, true), "never seen");
        assert!(
            g.recent.iter().all(|(v, _)| v == "HOTEL"),
            "old fresh values are dropped"
        );
    }
}
