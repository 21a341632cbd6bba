//! `temporal_ordered`: steps in order for one group key, all within a window
//! (Sigma's correlation type of the same name, evaluated on a sliding window).
//!
//! Each step names the field that carries the group key in its own events
//! (the alias), so "a principal is granted admin, then that principal
//! exports" joins a grant's grantee to the later event's actor. A step may
//! need several events (`min_count`, "five failures, then a success").
//! Events used by an alert are consumed; a re-read event (same id) is ignored.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::window::Hit;

/// Most hits held per step and group.
const STEP_CAP: usize = 64;

/// The state of one group: the recent hits of every step.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SequenceGroup {
    /// Hits per step, sorted by time.
    pub steps: Vec<VecDeque<Hit>>,
}

impl SequenceGroup {
    /// Add a hit for step `step` (of `min_counts.len()` steps); return the
    /// hits of a completed sequence, oldest first.
    pub fn add(
        &mut self,
        step: usize,
        hit: Hit,
        window: i64,
        min_counts: &[u64],
    ) -> Option<Vec<Hit>> {
        self.steps.resize_with(min_counts.len(), VecDeque::new);
        if self.steps.iter().flatten().any(|h| h.id == hit.id) {
            return None;
        }
        let (t, last) = (hit.t, min_counts.len() - 1);
        let held = &mut self.steps[step];
        let at = held.partition_point(|h| h.t <= t);
        held.insert(at, hit);
        if held.len() > STEP_CAP {
            held.pop_front();
        }
        for held in &mut self.steps {
            while held.front().is_some_and(|h| h.t < t - window) {
                held.pop_front();
            }
        }
        if step != last {
            return None;
        }
        let used = self.complete(t, window, min_counts)?;
        for held in &mut self.steps {
            held.retain(|h| !used.iter().any(|u| u.id == h.id));
        }
        Some(used)
    }

    /// Walk the steps backwards from the last hit at `t`, taking for each
    /// earlier step the latest `min_count` hits no later than the step after
    /// it (greedy from the back is optimal for ordered steps).
    fn complete(&self, t: i64, window: i64, min_counts: &[u64]) -> Option<Vec<Hit>> {
        let last = min_counts.len() - 1;
        let newest = self.steps[last].iter().rev().find(|h| h.t == t)?.clone();
        let mut used = vec![newest];
        let mut bound = t;
        for step in (0..last).rev() {
            let need = usize::try_from(min_counts[step]).unwrap_or(usize::MAX);
            let taken: Vec<Hit> = self.steps[step]
                .iter()
                .rev()
                .filter(|h| h.t <= bound && h.t >= t - window)
                .take(need)
                .cloned()
                .collect();
            if taken.len() < need {
                return None;
            }
            bound = taken.last().map_or(bound, |h| h.t);
            used.extend(taken);
        }
        used.sort_by_key(|h| h.t);
        Some(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(t: i64, id: &str) -> Hit {
        Hit {
            t,
            id: id.to_owned(),
            v: None,
        }
    }

    #[test]
    fn steps_must_come_in_order_within_the_window() {
        let mut g = SequenceGroup::default();
        assert!(
            g.add(1, hit(0, "s"), 100, &[2, 1]).is_none(),
            "success before failures"
        );
        assert!(g.add(0, hit(10, "f1"), 100, &[2, 1]).is_none());
        assert!(g.add(0, hit(20, "f2"), 100, &[2, 1]).is_none());
        let used = g
            .add(1, hit(110, "s2"), 100, &[2, 1])
            .expect("two failures then a success");
        assert_eq!(
            used.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
            ["f1", "f2", "s2"]
        );
        assert!(
            g.add(1, hit(111, "s3"), 100, &[2, 1]).is_none(),
            "failures consumed"
        );
        assert!(g.add(1, hit(110, "s2"), 100, &[2, 1]).is_none(), "re-read");
    }

    #[test]
    fn a_first_step_older_than_the_window_does_not_count() {
        let mut g = SequenceGroup::default();
        g.add(0, hit(0, "g"), 100, &[1, 1]);
        assert!(g.add(1, hit(101, "x"), 100, &[1, 1]).is_none());
        let mut g = SequenceGroup::default();
        g.add(0, hit(0, "g"), 100, &[1, 1]);
        assert!(g.add(1, hit(100, "x"), 100, &[1, 1]).is_some());
    }
}
