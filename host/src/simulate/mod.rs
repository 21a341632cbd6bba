//! The red-team simulator: a synthetic organization's Activity Feed with a
//! daily and weekly rhythm, plus injected, labeled attack scenarios.
//!
//! Benign background ([`benign`]): members sign in on workday mornings,
//! view and create chats, upload files and read project documents during
//! office hours (a tenth of them on weekends), sometimes mistype a password
//! once, sometimes export a file; admins invite people, grant ordinary roles
//! and rotate API keys, now and then name a workspace admin; members
//! connect the organization's usual integrations; the identity admin
//! updates the MCP servers and SSO group mappings weekly, reviews the spend
//! limit and attests controls monthly, edits the IP allow-list about once a
//! quarter; a SIEM poller reads the Compliance API every hour, a DLP
//! reviewer's key reads a few flagged chats every office hour, and a
//! provisioning script's admin key reads the usage report every morning.
//! Developers (one member in six) also use Claude Code ([`claude_code`]):
//! its OpenTelemetry events (prompts, API requests, tool decisions and
//! results, the odd API error) go into the same feed as `otlp_log` lines.
//! Attacks ([`attacks`]): at least one scenario per detection of the pack,
//! at a random time in the scored days, its event ids written to a separate
//! labels file so that a benchmark can score recall and precision.
//!
//! The feed starts with `warmup_days` of background only (no attack, not
//! scored), so that the first-seen detections' learning periods (up to 35
//! days) and the baselines' history are over when the scored days begin.
//!
//! Everything follows from the seed (see [`rng`]): the same arguments give
//! the same bytes.

pub mod attacks;
pub mod benign;
pub mod claude_code;
pub mod geo;
pub mod rng;
pub mod score;

use std::collections::HashMap;

use serde_json::{Value, json};

use rng::Rng;

/// 2026-06-01T00:00:00Z (a Monday), the first simulated day (the first
/// warm-up day), in seconds.
pub const START: i64 = 1_780_272_000;

/// Seconds per day.
pub const DAY: i64 = 86_400;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Scored days of activity (after the warm-up).
    pub days: u32,
    /// Days of background before them: fed to the engine, neither attacked
    /// nor scored (the learning periods).
    pub warmup_days: u32,
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

/// The simulated feed (sorted by time) and its labels, in memory (tests).
#[cfg(test)]
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
    /// Developers use Claude Code.
    pub developer: bool,
}

/// One generated event, not yet handed out.
pub struct Pending {
    /// Time, seconds.
    pub t: i64,
    /// The canonical event id the plugin will give it (Claude Code records;
    /// `None` for activities, whose id the feed assigns).
    pub id: Option<String>,
    /// An activity without id and time, or a whole `otlp_log` line, as JSON
    /// text (a day of a large organization as `Value`s would not fit).
    pub text: String,
}

/// The organization: its members and the activities generated but not yet
/// handed out.
pub struct Org {
    /// Members.
    pub members: Vec<Member>,
    /// Generated events.
    pub events: Vec<Pending>,
}

impl Org {
    /// `users` members, one in fifty an admin (at least one), one in six a
    /// Claude Code developer.
    pub fn new(users: u32, rng: &mut Rng) -> Self {
        let members = (0..users)
            .map(|i| Member {
                id: format!("user_01SIM{:020}", u64::from(i) * 7919 + rng.below(7000)),
                email: format!("member{i}@sim.example"),
                ip: format!("198.51.{}.{}", 100 + i / 250, 1 + i % 250),
                admin: i % 50 == 0,
                developer: i % 6 == 1,
            })
            .collect();
        Self {
            members,
            events: Vec::new(),
        }
    }

    /// Add an activity at `t` (seconds) and return its index.
    pub fn push(&mut self, t: i64, activity: Value) -> usize {
        self.events.push(Pending {
            t,
            id: None,
            text: activity.to_string(),
        });
        self.events.len() - 1
    }

    /// Add a whole record line (a Claude Code `otlp_log` line) at `t`, whose
    /// canonical event id is `id`; its index.
    pub fn push_line(&mut self, t: i64, id: String, line: String) -> usize {
        self.events.push(Pending {
            t,
            id: Some(id),
            text: line,
        });
        self.events.len() - 1
    }

    /// Members who use Claude Code (indexes).
    pub fn developers(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| self.members[i].developer)
            .collect()
    }
}

/// A `user_actor`.
pub fn user_actor(m: &Member, ip: &str) -> Value {
    json!({"type": "user_actor", "email_address": m.email, "user_id": m.id, "ip_address": ip,
           "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/148.0.0.0"})
}

/// The Compliance API's base URL.
pub const COMPLIANCE: &str = "https://api.anthropic.com/v1/compliance";
/// The SIEM poller's key, address and client.
pub const POLLER_KEY: &str = "apikey_01SIMSIEMPOLLER000000000";
/// See [`POLLER_KEY`].
pub const POLLER_IP: &str = "192.0.2.10";
/// See [`POLLER_KEY`].
pub const POLLER_AGENT: &str = "Elastic-Agent/9.1.0 (CEL input)";
/// The DLP reviewer's Compliance API key, address and client.
pub const DLP_KEY: &str = "apikey_01SIMDLPREVIEWER00000000";
/// See [`DLP_KEY`].
pub const DLP_IP: &str = "192.0.2.11";
/// See [`DLP_KEY`].
pub const DLP_AGENT: &str = "claude-compliance-sdk/0.4.0 python-httpx/0.28.1";
/// The provisioning script's admin API key, address and client.
pub const PROVISIONING_KEY: &str = "admin_api_key_01SIMPROVISIONING000";
/// See [`PROVISIONING_KEY`].
pub const PROVISIONING_IP: &str = "192.0.2.12";
/// See [`PROVISIONING_KEY`].
pub const PROVISIONING_AGENT: &str = "sim-admin-sync/2.3.1 (+python-requests/2.32.3)";

/// An `api_actor` (a Compliance API key).
pub fn key_actor(key: &str, ip: &str, agent: &str) -> Value {
    json!({"type": "api_actor", "api_key_id": key, "ip_address": ip, "user_agent": agent})
}

/// The provisioning script's `admin_api_key_actor`, from `ip` with `agent`.
pub fn admin_key_actor(ip: &str, agent: &str) -> Value {
    json!({"type": "admin_api_key_actor", "admin_api_key_id": PROVISIONING_KEY,
           "ip_address": ip, "user_agent": agent})
}

/// A `GET` of the Compliance API `url` by `actor` at `t`, answered `status`.
pub fn compliance_access(actor: Value, t: i64, url: &str, status: u16) -> Value {
    let key = actor["api_key_id"].clone();
    activity(
        "compliance_api_accessed",
        actor,
        json!({"request_id": format!("req_sim{t}"), "url": url, "request_method": "GET",
               "request_body": null, "status_code": status, "api_key_id": key}),
    )
}

/// The organization's UUID (Activity Feed `organization_uuid`, Claude Code
/// `organization.id`).
pub const ORG_UUID: &str = "00000000-0000-4000-8000-000000000001";

/// An activity of `kind` by `actor` with type-specific `fields`.
pub fn activity(kind: &str, actor: Value, fields: Value) -> Value {
    let mut a = json!({"organization_id": "org_01SIMORGANIZATION0000000000",
        "organization_uuid": ORG_UUID, "actor": actor, "type": kind});
    if let (Some(a), Value::Object(f)) = (a.as_object_mut(), fields) {
        a.extend(f);
    }
    a
}

/// Generate the whole feed in memory (tests; `simulate` and the bench take
/// it a day at a time from [`Feed`]).
#[cfg(test)]
pub fn simulate(plan: &Plan) -> Simulation {
    let mut feed = Feed::new(plan);
    let mut activities = Vec::new();
    while let Some(day) = feed.next_day() {
        activities.extend(day);
    }
    Simulation {
        activities,
        labels: feed.into_labels(),
    }
}

/// The feed, generated and handed out a day at a time, so that a month of
/// a large organization never sits in memory at once. The benign background
/// and the attacks draw from two random streams of the seed, so the attacks'
/// times and victims do not depend on how much background came before.
pub struct Feed {
    org: Org,
    rng: Rng,
    attack_rng: Rng,
    days: i64,
    warmup: i64,
    day: i64,
    handed_days: i64,
    planned: Vec<attacks::Planned>,
    /// Generated events later than the days handed out: (order of
    /// generation, event).
    carry: Vec<(u64, Pending)>,
    generated: u64,
    handed_out: u64,
    /// Order of generation of a labeled activity -> its label.
    labeled: HashMap<u64, usize>,
    labels: Vec<Label>,
}

/// Offset of the attacks' random stream from the seed.
const ATTACK_STREAM: u64 = 0x5EED_A77A_C45E_ED00;

impl Feed {
    /// The feed of `plan` (nothing generated yet).
    pub fn new(plan: &Plan) -> Self {
        let mut rng = Rng::new(plan.seed);
        let org = Org::new(plan.users, &mut rng);
        let mut attack_rng = Rng::new(plan.seed ^ ATTACK_STREAM);
        let planned = attacks::schedule(plan, org.members.len(), &mut attack_rng);
        let labels = planned
            .iter()
            .map(|p| Label {
                scenario: p.scenario.name,
                expect: p.scenario.expect,
                event_ids: Vec::new(),
            })
            .collect();
        Self {
            org,
            rng,
            attack_rng,
            days: i64::from(plan.warmup_days) + i64::from(plan.days),
            warmup: i64::from(plan.warmup_days),
            day: 0,
            handed_days: 0,
            planned,
            carry: Vec::new(),
            generated: 0,
            handed_out: 0,
            labeled: HashMap::new(),
            labels,
        }
    }

    /// The next day's events (NDJSON lines in time order: activities with
    /// ids, Claude Code `otlp_log` lines), warm-up days first, then those
    /// that spill past the last day; `None` at the end.
    pub fn next_day(&mut self) -> Option<Vec<String>> {
        let cut = if self.day < self.days {
            self.generate(self.day);
            self.day += 1;
            if self.day < self.days {
                START + self.day * DAY
            } else {
                i64::MAX
            }
        } else if self.carry.is_empty() {
            return None;
        } else {
            i64::MAX
        };
        self.handed_days += 1;
        // Every event generated later is at or after `cut` (a day's events
        // start on that day), so these are final.
        self.carry.sort_by_key(|(order, e)| (e.t, *order));
        let later = self.carry.partition_point(|(_, e)| e.t < cut);
        let rest = self.carry.split_off(later);
        let ready = std::mem::replace(&mut self.carry, rest);
        let mut lines = Vec::with_capacity(ready.len());
        for (order, event) in ready {
            let Pending { t, id, text } = event;
            if let Some(id) = id {
                if let Some(&label) = self.labeled.get(&order) {
                    self.labels[label].event_ids.push(id);
                }
                lines.push(text);
                continue;
            }
            let id = format!("activity_01SIM{:021}", self.handed_out);
            self.handed_out += 1;
            if let Some(&label) = self.labeled.get(&order) {
                self.labels[label].event_ids.push(id.clone());
            }
            // `{"id":…,"created_at":…,` then the activity's own members.
            let members = text.strip_prefix('{').unwrap_or(&text);
            let mut line = format!(r#"{{"id":"{id}","created_at":"{}""#, iso(t));
            if members != "}" {
                line.push(',');
            }
            line.push_str(members);
            lines.push(line);
        }
        Some(lines)
    }

    /// Whether the day last handed out was a warm-up day (background only,
    /// not scored).
    pub fn last_was_warmup(&self) -> bool {
        self.handed_days <= self.warmup
    }

    /// Generate day `day`: the background, then the attacks placed on it.
    fn generate(&mut self, day: i64) {
        benign::day(&mut self.org, day, &mut self.rng);
        for (label, planned) in self.planned.iter().enumerate() {
            if planned.day != day {
                continue;
            }
            for index in attacks::run(planned, &mut self.org, &mut self.attack_rng) {
                self.labeled.insert(self.generated + index as u64, label);
            }
        }
        for event in self.org.events.drain(..) {
            self.carry.push((self.generated, event));
            self.generated += 1;
        }
    }

    /// The labels, once every day has been handed out.
    pub fn into_labels(self) -> Vec<Label> {
        self.labels
    }
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
            warmup_days: 35,
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

    #[test]
    fn handed_out_a_day_at_a_time_the_feed_stays_in_time_order_with_consecutive_ids() {
        let plan = Plan {
            days: 31,
            warmup_days: 0,
            users: 60,
            seed: 9,
            attacks: vec!["key_from_new_ip".into(), "mass_download".into()],
        };
        let sim = simulate(&plan);
        let (mut last, mut n, mut otlp) = (String::new(), 0, 0);
        for line in &sim.activities {
            let a: Value = serde_json::from_str(line).unwrap();
            let t = if let Some(record) = a.get("otlp_log") {
                otlp += 1;
                let nanos: i64 = record["logRecord"]["timeUnixNano"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                iso(nanos / 1_000_000_000)
            } else {
                assert_eq!(a["id"], format!("activity_01SIM{n:021}"));
                n += 1;
                assert!(a["type"].is_string() && a["actor"].is_object(), "{line}");
                a["created_at"].as_str().unwrap().to_owned()
            };
            assert!(t >= last, "{t} after {last}");
            last = t;
        }
        assert!(otlp > 1000, "the developers' Claude Code events: {otlp}");
        // Day 10's rotations delete the old keys a day later: activities
        // carried over to the next day are handed out with it.
        assert!(sim.activities.iter().any(|l| l.contains("api_key_deleted")));
        let labeled: usize = sim.labels.iter().map(|l| l.event_ids.len()).sum();
        assert_eq!(labeled, 2 + 400);
    }
}
