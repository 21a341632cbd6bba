//! The red-team simulator: a synthetic organization's Activity Feed with a
//! daily and weekly rhythm, plus injected, labeled attack scenarios.
//!
//! Benign background ([`benign`]): members sign in on workday mornings,
//! view and create chats, upload files and read project documents during
//! office hours (a tenth of them on weekends), sometimes mistype a password
//! once, sometimes export a file; admins invite people, grant ordinary roles
//! and rotate API keys; a SIEM poller reads the Compliance API every hour.
//! Attacks ([`attacks`]): one scenario per rule the pack detects, at a random
//! time after the learning periods, its event ids written to a separate
//! labels file so that a benchmark can score recall and precision.
//!
//! Everything follows from the seed (see [`rng`]): the same arguments give
//! the same bytes.

pub mod attacks;
pub mod benign;
pub mod geo;
pub mod rng;
pub mod score;

use serde_json::{Value, json};

use rng::Rng;

/// 2026-06-01T00:00:00Z (a Monday), the first simulated day, in seconds.
pub const START: i64 = 1_780_272_000;

/// Seconds per day.
pub const DAY: i64 = 86_400;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Days of activity.
    pub days: u32,
    /// Members of the organization.
    pub users: u32,
    /// The seed.
    pub seed: u64,
    /// Attack scenarios to inject (names from [`attacks::SCENARIOS`]).
    pub attacks: Vec<String>,
}

/// One injected scenario: what it is, what should catch it, its events.
#[derive(Debug, Clone)]
pub struct Label {
    /// Scenario name.
    pub scenario: &'static str,
    /// The rule and detection expected to alert (`CL-01/brute_force`).
    pub expect: &'static str,
    /// Ids of the scenario's activities.
    pub event_ids: Vec<String>,
}

impl Label {
    /// The label as one JSON line.
    pub fn to_json(&self) -> Value {
        json!({"scenario": self.scenario, "expect": self.expect, "event_ids": self.event_ids})
    }
}

/// The simulated feed (sorted by time) and its labels.
pub struct Simulation {
    /// Activities, NDJSON lines in `created_at` order.
    pub activities: Vec<String>,
    /// Injected scenarios.
    pub labels: Vec<Label>,
}

/// A member of the simulated organization.
#[derive(Debug, Clone)]
pub struct Member {
    /// `user_…` id.
    pub id: String,
    /// Email address.
    pub email: String,
    /// Usual IP address.
    pub ip: String,
    /// Admins do admin work.
    pub admin: bool,
}

/// The organization: its members and the id counter.
pub struct Org {
    /// Members.
    pub members: Vec<Member>,
    /// Generated activities: (time in seconds, activity without id/time).
    pub events: Vec<(i64, Value)>,
}

impl Org {
    /// `users` members, one in fifty an admin (at least one).
    pub fn new(users: u32, rng: &mut Rng) -> Self {
        let members = (0..users)
            .map(|i| Member {
                id: format!("user_01SIM{:020}", u64::from(i) * 7919 + rng.below(7000)),
                email: format!("member{i}@sim.example"),
                ip: format!("198.51.{}.{}", 100 + i / 250, 1 + i % 250),
                admin: i % 50 == 0,
            })
            .collect();
        Self {
            members,
            events: Vec::new(),
        }
    }

    /// Add an activity at `t` (seconds) and return its index.
    pub fn push(&mut self, t: i64, activity: Value) -> usize {
        self.events.push((t, activity));
        self.events.len() - 1
    }
}

/// A `user_actor`.
pub fn user_actor(m: &Member, ip: &str) -> Value {
    json!({"type": "user_actor", "email_address": m.email, "user_id": m.id, "ip_address": ip,
           "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/148.0.0.0"})
}

/// An activity of `kind` by `actor` with type-specific `fields`.
pub fn activity(kind: &str, actor: Value, fields: Value) -> Value {
    let mut a = json!({"organization_id": "org_01SIMORGANIZATION0000000000",
        "organization_uuid": "00000000-0000-4000-8000-000000000001", "actor": actor, "type": kind});
    if let (Some(a), Value::Object(f)) = (a.as_object_mut(), fields) {
        a.extend(f);
    }
    a
}

/// Generate the feed.
pub fn simulate(plan: &Plan) -> Simulation {
    let mut rng = Rng::new(plan.seed);
    let mut org = Org::new(plan.users, &mut rng);
    benign::generate(&mut org, plan.days, &mut rng);
    let injected = attacks::inject(&mut org, plan, &mut rng);
    finish(org, injected)
}

/// Sort by time, give ids and timestamps, map labels to ids.
fn finish(org: Org, injected: Vec<(&'static str, &'static str, Vec<usize>)>) -> Simulation {
    let mut order: Vec<usize> = (0..org.events.len()).collect();
    order.sort_by_key(|&i| (org.events[i].0, i));
    let mut ids = vec![String::new(); org.events.len()];
    let mut activities = Vec::with_capacity(order.len());
    for (n, &i) in order.iter().enumerate() {
        let (t, activity) = &org.events[i];
        ids[i] = format!("activity_01SIM{n:021}");
        let mut a = json!({"id": ids[i], "created_at": iso(*t)});
        if let (Some(a), Some(rest)) = (a.as_object_mut(), activity.as_object()) {
            a.extend(rest.clone());
        }
        activities.push(a.to_string());
    }
    let labels = injected
        .into_iter()
        .map(|(scenario, expect, events)| Label {
            scenario,
            expect,
            event_ids: events.iter().map(|&i| ids[i].clone()).collect(),
        })
        .collect();
    Simulation { activities, labels }
}

/// RFC 3339 UTC with microseconds, as the feed writes it.
pub fn iso(t: i64) -> String {
    let (days, secs) = (t.div_euclid(DAY), t.rem_euclid(DAY));
    let date = time::Date::from_julian_day(2_440_588 + days as i32).unwrap_or(time::Date::MIN);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000000Z",
        date.year(),
        u8::from(date.month()),
        date.day(),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_determinism() {
        assert_eq!(iso(START), "2026-06-01T00:00:00.000000Z");
        assert_eq!(iso(START + DAY + 3661), "2026-06-02T01:01:01.000000Z");
        let plan = Plan {
            days: 12,
            users: 20,
            seed: 3,
            attacks: attacks::SCENARIOS
                .iter()
                .map(|s| s.name.to_owned())
                .collect(),
        };
        let a = simulate(&plan);
        let b = simulate(&plan);
        assert_eq!(a.activities, b.activities);
        assert_eq!(a.labels.len(), attacks::SCENARIOS.len());
        assert!(a.labels.iter().all(|l| !l.event_ids.is_empty()));
    }
}
