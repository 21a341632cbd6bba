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
}

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
}
