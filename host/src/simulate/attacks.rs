//! Injected attack scenarios, one per detection they should trip. Each
//! starts at a random working hour on a day after the learning periods
//! (day 8 or later: baselines need seven days of history; day 15 or later
//! for a first-seen detection's 14 days) and returns the indexes of its
//! activities, which become the labels.

use serde_json::{Value, json};

use super::rng::Rng;
use super::{DAY, Member, Org, Plan, START, activity, user_actor};

/// A scenario: its name, the detection expected to alert, its generator.
pub struct Scenario {
    /// Name used by `--attacks`.
    pub name: &'static str,
    /// `rule/detection` expected to alert.
    pub expect: &'static str,
    /// The first day it may happen (when the detection's learning ends).
    pub first_day: i64,
    run: fn(&mut Org, &Member, i64, &mut Rng) -> Vec<usize>,
}

/// Every scenario.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "brute_force",
        expect: "CL-01/brute_force",
        first_day: 8,
        run: brute_force,
    },
    Scenario {
        name: "spray",
        expect: "CL-01/spray",
        first_day: 8,
        run: spray,
    },
    Scenario {
        name: "fail_then_success",
        expect: "CL-02/same_ip",
        first_day: 8,
        run: fail_then_success,
    },
    Scenario {
        name: "sso_off_then_login",
        expect: "CL-06/then_non_sso_login",
        first_day: 8,
        run: sso_off_then_login,
    },
    Scenario {
        name: "owner_transfer",
        expect: "CL-09/transferred",
        first_day: 8,
        run: owner_transfer,
    },
    Scenario {
        name: "grant_then_abuse",
        expect: "CL-10/grant_then_abuse",
        first_day: 8,
        run: grant_then_abuse,
    },
    Scenario {
        name: "mass_removal",
        expect: "CL-11/mass_removal",
        first_day: 8,
        run: mass_removal,
    },
    Scenario {
        name: "key_churn",
        expect: "CL-13/short_lived",
        first_day: 8,
        run: key_churn,
    },
    Scenario {
        name: "logging_off",
        expect: "CL-15/logging_disabled",
        first_day: 8,
        run: logging_off,
    },
    Scenario {
        name: "export_after_key",
        expect: "CL-18/export_after_risky_change",
        first_day: 8,
        run: export_after_key,
    },
    Scenario {
        name: "mass_download",
        expect: "CL-19/views",
        first_day: 8,
        run: mass_download,
    },
    Scenario {
        name: "mass_delete",
        expect: "CL-20/mass_delete",
        first_day: 8,
        run: mass_delete,
    },
    Scenario {
        name: "public_share",
        expect: "CL-21/audience_widened",
        first_day: 8,
        run: public_share,
    },
    Scenario {
        name: "impossible_travel",
        expect: "CL-05/travel",
        first_day: 8,
        run: impossible_travel,
    },
    Scenario {
        name: "hosting_login",
        expect: "CL-03/login",
        first_day: 8,
        run: hosting_login,
    },
    Scenario {
        name: "enumeration",
        expect: "CL-22/access_failures",
        first_day: 8,
        run: enumeration,
    },
    Scenario {
        name: "key_from_new_ip",
        expect: "CL-12/new_ip",
        first_day: 15,
        run: key_from_new_ip,
    },
];

/// A scenario placed in time: when, and whose account it uses.
pub struct Planned {
    /// The scenario.
    pub scenario: &'static Scenario,
    /// Its day (from 0).
    pub day: i64,
    /// Its start, seconds.
    pub t: i64,
    /// The victim's index among the members.
    pub victim: usize,
}

/// Place the plan's scenarios (in the plan's order) for an organization of
/// `members`.
pub fn schedule(plan: &Plan, members: usize, rng: &mut Rng) -> Vec<Planned> {
    let mut out = Vec::new();
    for name in &plan.attacks {
        let Some(s) = SCENARIOS.iter().find(|s| s.name == name) else {
            continue;
        };
        let first_day = s.first_day.min(i64::from(plan.days) - 1).max(0);
        let day = first_day + rng.below((i64::from(plan.days) - first_day).max(1) as u64) as i64;
        let t = START + day * DAY + 9 * 3600 + rng.below(8 * 3600) as i64;
        let victim = rng.below(members as u64) as usize;
        out.push(Planned {
            scenario: s,
            day,
            t,
            victim,
        });
    }
    out
}

/// Generate a placed scenario's activities; their indexes in `org.events`.
pub fn run(planned: &Planned, org: &mut Org, rng: &mut Rng) -> Vec<usize> {
    let victim = org.members[planned.victim].clone();
    (planned.scenario.run)(org, &victim, planned.t, rng)
}

const ATTACKER_IP: &str = "192.0.2.66";

/// A stolen session used from another continent 40 minutes after the
/// member's own activity at home.
fn impossible_travel(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let chat = json!({"claude_chat_id": "claude_chat_01SIMSTOLEN00000000000"});
    let mut ids = vec![org.push(
        t,
        activity("claude_chat_viewed", user_actor(v, &v.ip), chat.clone()),
    )];
    ids.extend(repeat(org, 3, t + 2400, 60, |_| {
        activity(
            "claude_chat_viewed",
            user_actor(v, super::geo::FAR_AWAY_IP),
            chat.clone(),
        )
    }));
    ids
}

/// A sign-in from a rented server.
fn hosting_login(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    vec![org.push(
        t,
        activity(
            "sso_login_succeeded",
            user_actor(v, super::geo::VPS_IP),
            json!({}),
        ),
    )]
}

fn unauth(email: &str) -> Value {
    json!({"type": "unauthenticated_user_actor", "ip_address": ATTACKER_IP, "user_agent": "python-requests/2.32", "unauthenticated_email_address": email})
}

fn repeat(org: &mut Org, n: i64, t: i64, step: i64, make: impl Fn(i64) -> Value) -> Vec<usize> {
    (0..n).map(|i| org.push(t + i * step, make(i))).collect()
}

fn brute_force(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    repeat(org, 15, t, 20, |_| {
        activity("sso_login_failed", unauth(&v.email), json!({}))
    })
}

fn spray(org: &mut Org, _: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    repeat(org, 8, t, 120, |i| {
        activity(
            "magic_link_login_failed",
            unauth(&format!("member{i}@sim.example")),
            json!({}),
        )
    })
}

fn fail_then_success(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let mut ids = repeat(org, 6, t, 30, |_| {
        activity("sso_login_failed", unauth(&v.email), json!({}))
    });
    ids.push(org.push(
        t + 400,
        activity("sso_login_succeeded", user_actor(v, ATTACKER_IP), json!({})),
    ));
    ids
}

fn sso_off_then_login(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    vec![
        org.push(
            t,
            activity(
                "org_sso_toggled",
                user_actor(v, ATTACKER_IP),
                json!({"enabled": false}),
            ),
        ),
        org.push(
            t + 7200,
            activity(
                "magic_link_login_succeeded",
                user_actor(v, ATTACKER_IP),
                json!({}),
            ),
        ),
    ]
}

fn owner_transfer(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    vec![org.push(
        t,
        activity(
            "primary_owner_transferred",
            user_actor(v, ATTACKER_IP),
            json!({"previous_owner_id": v.id, "new_owner_id": "user_01SIMATTACKER0000000000000"}),
        ),
    )]
}

fn grant_then_abuse(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let grantor = org.members[0].clone();
    vec![
        org.push(t, activity("role_assignment_granted", user_actor(&grantor, &grantor.ip),
            json!({"target_id": v.id, "target_type": "user", "role": "organization:admin", "resource_type": "organization", "resource_id": "org_01SIM"}))),
        org.push(t + 600, activity("admin_api_key_created", user_actor(v, ATTACKER_IP), json!({"admin_api_key_id": "admin_api_key_01SIMEVIL000000000000", "scopes": ["admin"]}))),
    ]
}

fn mass_removal(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    repeat(org, 12, t, 45, |i| {
        activity(
            "org_user_deleted",
            user_actor(v, ATTACKER_IP),
            json!({"deleted_user_id": format!("user_01SIMVICTIM{i:016}"), "deleted_user_email": format!("gone{i}@sim.example")}),
        )
    })
}

fn key_churn(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let key = json!({"api_key_id": "apikey_01SIMSHORTLIVED000000000"});
    vec![
        org.push(
            t,
            activity("api_key_created", user_actor(v, ATTACKER_IP), key.clone()),
        ),
        org.push(
            t + 180,
            activity("api_key_deleted", user_actor(v, ATTACKER_IP), key),
        ),
    ]
}

fn logging_off(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    vec![org.push(
        t,
        activity(
            "org_compliance_api_settings_updated",
            user_actor(v, ATTACKER_IP),
            json!({"compliance_api_enabled": true, "compliance_api_logging_enabled": false}),
        ),
    )]
}

fn export_after_key(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    vec![
        org.push(
            t,
            activity(
                "admin_api_key_created",
                user_actor(v, ATTACKER_IP),
                json!({"admin_api_key_id": "admin_api_key_01SIMEXPORT0000000000"}),
            ),
        ),
        org.push(
            t + 3 * 3600,
            activity(
                "org_data_export_started",
                user_actor(v, ATTACKER_IP),
                json!({}),
            ),
        ),
    ]
}

fn mass_download(org: &mut Org, v: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let hour = t - t.rem_euclid(3600);
    (0..400)
        .map(|_| {
            let chat = format!("claude_chat_01SIM{:021}", rng.below(1 << 40));
            org.push(
                hour + rng.below(3599) as i64,
                activity(
                    "claude_chat_viewed",
                    user_actor(v, &v.ip),
                    json!({"claude_chat_id": chat}),
                ),
            )
        })
        .collect()
}

fn mass_delete(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    repeat(org, 30, t, 60, |i| {
        activity(
            "claude_chat_deleted",
            user_actor(v, &v.ip),
            json!({"claude_chat_id": format!("claude_chat_01SIMDEL{i:018}")}),
        )
    })
}

fn public_share(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    vec![org.push(t, activity("claude_artifact_sharing_updated", user_actor(v, &v.ip), json!({"claude_artifact_id": "claude_artifact_01SIM", "audience": [{"type": "public"}]})))]
}

fn enumeration(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    repeat(org, 60, t, 8, |i| {
        activity(
            "claude_chat_access_failed",
            user_actor(v, ATTACKER_IP),
            json!({"claude_chat_id": format!("claude_chat_01SIMENUM{i:017}")}),
        )
    })
}

/// A stolen session: a sign-in from an address the member never used, and
/// ten minutes later a new API key (narrow scopes, so only the new place
/// gives it away).
fn key_from_new_ip(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    const STOLEN_SESSION_IP: &str = "192.0.2.77";
    vec![
        org.push(
            t,
            activity(
                "sso_login_succeeded",
                user_actor(v, STOLEN_SESSION_IP),
                json!({}),
            ),
        ),
        org.push(
            t + 600,
            activity(
                "api_key_created",
                user_actor(v, STOLEN_SESSION_IP),
                json!({"api_key_id": "apikey_01SIMSTOLENSESSION00000", "scopes": ["messages"]}),
            ),
        ),
    ]
}
