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
    Scenario {
        name: "new_country_session",
        expect: "CL-04/new_country",
        first_day: 16,
        run: new_country_session,
    },
    Scenario {
        name: "admin_invite",
        expect: "CL-08/admin_granted",
        first_day: 8,
        run: admin_invite,
    },
    Scenario {
        name: "allowlist_removed",
        expect: "CL-16/control_removed",
        first_day: 8,
        run: allowlist_removed,
    },
    Scenario {
        name: "spend_limit_removed",
        expect: "CL-16/spend_limit_deleted",
        first_day: 8,
        run: spend_limit_removed,
    },
    Scenario {
        name: "compliance_new_key",
        expect: "CL-17/new_key",
        first_day: 15,
        run: compliance_new_key,
    },
    Scenario {
        name: "poller_key_leaked",
        expect: "CL-17/new_ip",
        first_day: 15,
        run: poller_key_leaked,
    },
    Scenario {
        name: "compliance_bulk_read",
        expect: "CL-17/content_burst",
        first_day: 8,
        run: compliance_bulk_read,
    },
    Scenario {
        name: "compliance_refused",
        expect: "CL-17/auth_failures",
        first_day: 8,
        run: compliance_refused,
    },
    Scenario {
        name: "admin_key_leaked",
        expect: "CL-14/new_ip",
        first_day: 15,
        run: admin_key_leaked,
    },
    Scenario {
        name: "new_integration",
        expect: "CL-23/new_integration_type",
        first_day: 15,
        run: new_integration,
    },
    Scenario {
        name: "rogue_mcp_server",
        expect: "CL-23/new_mcp_server",
        first_day: 15,
        run: rogue_mcp_server,
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

/// An admin of the organization (the victim's own admin, the one an
/// attacker who phished an admin would hold).
fn an_admin(org: &Org, rng: &mut Rng) -> Member {
    let admins: Vec<&Member> = org.members.iter().filter(|m| m.admin).collect();
    admins[rng.below(admins.len() as u64) as usize].clone()
}

/// An infostealer's session cookie replayed through a residential proxy in
/// another country, at night at home (so no travel from a recent event):
/// sign-in, a look around, a file export.
fn new_country_session(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let night = t - t.rem_euclid(DAY) + 2 * 3600;
    let away = super::geo::FAR_AWAY_IP;
    let mut ids = vec![org.push(
        night,
        activity("sso_login_succeeded", user_actor(v, away), json!({})),
    )];
    ids.extend(repeat(org, 4, night + 120, 90, |i| {
        activity(
            "claude_chat_viewed",
            user_actor(v, away),
            json!({"claude_chat_id": format!("claude_chat_01SIMPROXY{i:017}")}),
        )
    }));
    ids.push(org.push(night + 600, activity("claude_file_exported", user_actor(v, away),
        json!({"claude_file_id": "claude_file_01SIMPROXY0000000000", "export_destination": "google_drive"}))));
    ids
}

/// A phished admin invites an outside address as an organization admin.
fn admin_invite(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let admin = an_admin(org, rng);
    vec![org.push(
        t,
        activity(
            "org_user_invite_sent",
            user_actor(&admin, ATTACKER_IP),
            json!({"invited_email": "it-support.helpdesk@proton.example", "invited_role": "admin"}),
        ),
    )]
}

/// A phished admin removes the IP allow-list, so that the stolen session
/// works from anywhere, and keeps browsing.
fn allowlist_removed(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let admin = an_admin(org, rng);
    vec![
        org.push(
            t,
            activity(
                "org_ip_restriction_deleted",
                user_actor(&admin, ATTACKER_IP),
                json!({}),
            ),
        ),
        org.push(
            t + 300,
            activity(
                "claude_chat_viewed",
                user_actor(&admin, ATTACKER_IP),
                json!({"claude_chat_id": "claude_chat_01SIMALLOWLIST00000000"}),
            ),
        ),
    ]
}

/// LLMjacking: a phished admin deletes the spend limit, then creates a key
/// to resell the organization's capacity.
fn spend_limit_removed(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let admin = an_admin(org, rng);
    vec![
        org.push(
            t,
            activity(
                "platform_spend_limit_deleted",
                user_actor(&admin, ATTACKER_IP),
                json!({"spend_limit_id": "spend_limit_01SIM"}),
            ),
        ),
        org.push(
            t + 240,
            activity(
                "api_key_created",
                user_actor(&admin, ATTACKER_IP),
                json!({"api_key_id": "apikey_01SIMLLMJACKING00000000", "scopes": ["messages"]}),
            ),
        ),
    ]
}

/// A phished admin creates a Compliance API key and pulls members' chats
/// with it from the attacker's machine (fifty, a careful pace).
fn compliance_new_key(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    const KEY: &str = "apikey_01SIMROGUECOMPLIANCE0000";
    let admin = an_admin(org, rng);
    let mut ids = vec![org.push(t, activity("api_key_created", user_actor(&admin, ATTACKER_IP),
        json!({"api_key_id": KEY, "scopes": ["read:compliance_activities", "read:compliance_user_data"]})))];
    let actor = super::key_actor(KEY, ATTACKER_IP, "python-requests/2.32.3");
    ids.extend(compliance_reads(org, &actor, t + 900, 50, 60, rng));
    ids
}

/// `n` reads of members' chats by `actor`, `step` seconds apart.
fn compliance_reads(
    org: &mut Org,
    actor: &Value,
    t: i64,
    n: i64,
    step: i64,
    rng: &mut Rng,
) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let at = t + i * step;
            let url = format!(
                "{}/apps/chats/claude_chat_01SIM{:021}/messages",
                super::COMPLIANCE,
                rng.below(1 << 40)
            );
            org.push(at, super::compliance_access(actor.clone(), at, &url, 200))
        })
        .collect()
}

/// The SIEM poller's key, leaked from the SIEM's configuration, used from
/// the attacker's machine: the feed, then a few chats.
fn poller_key_leaked(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let actor = super::key_actor(super::POLLER_KEY, ATTACKER_IP, "python-requests/2.32.3");
    let feed = format!("{}/activities?limit=1000", super::COMPLIANCE);
    let mut ids = vec![org.push(t, super::compliance_access(actor.clone(), t, &feed, 200))];
    ids.extend(compliance_reads(org, &actor, t + 60, 5, 45, rng));
    ids
}

/// An insider with the DLP reviewer's key, from its usual host, downloads
/// three hundred chats in forty minutes.
fn compliance_bulk_read(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let actor = super::key_actor(super::DLP_KEY, super::DLP_IP, super::DLP_AGENT);
    compliance_reads(org, &actor, t, 300, 8, rng)
}

/// A revoked Compliance API key (a departed engineer's) tried again and
/// again from outside: twenty refusals in five minutes.
fn compliance_refused(org: &mut Org, _: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let actor = super::key_actor(
        "apikey_01SIMREVOKEDLEAVER0000000",
        ATTACKER_IP,
        "curl/8.7.1",
    );
    let url = format!("{}/activities?limit=1000", super::COMPLIANCE);
    repeat(org, 20, t, 15, |i| {
        super::compliance_access(actor.clone(), t + i * 15, &url, 401)
    })
}

/// The provisioning script's admin key, committed to a repository by
/// mistake, used from the attacker's machine with a copy of the script:
/// a look at usage, then a key for the attacker.
fn admin_key_leaked(org: &mut Org, _: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let actor = super::admin_key_actor(ATTACKER_IP, super::PROVISIONING_AGENT);
    vec![
        org.push(
            t,
            activity(
                "platform_usage_report_claude_code_viewed",
                actor.clone(),
                json!({}),
            ),
        ),
        org.push(
            t + 120,
            activity(
                "api_key_created",
                actor,
                json!({"api_key_id": "apikey_01SIMFROMADMINKEY000000", "scopes": ["messages"]}),
            ),
        ),
    ]
}

/// A compromised member connects a storage service the organization has
/// never used, a way out for its files.
fn new_integration(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    vec![org.push(
        t,
        activity(
            "integration_user_connected",
            user_actor(v, &v.ip),
            json!({"integration_type": "dropbox"}),
        ),
    )]
}

/// A phished admin adds an MCP server that forwards what it is given to
/// the attacker.
fn rogue_mcp_server(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let admin = an_admin(org, rng);
    vec![org.push(t, activity("mcp_server_created", user_actor(&admin, ATTACKER_IP),
        json!({"mcp_server_id": "mcp_01SIMROGUE0000000000000", "mcp_server_name": "paste-sync"})))]
}
