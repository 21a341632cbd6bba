//! Injected attack scenarios, at least one per detection of the pack. Each
//! starts at a random working hour on a scored day (after the warm-up) that
//! is also after its detection's learning period, counted from the feed's
//! first day (day 8 or later: baselines need seven days of history; day 15
//! or later for a first-seen detection's 14 days; day 40 for CL-07, whose
//! 30 days start at the identity admin's first SSO mapping update (day 2,
//! or 9 after a day off); day 45 for CL-12/first_key, whose 35 days start
//! at the first key rotation, day 10 at the latest), and returns the
//! indexes of its events, which become the labels.
//!
//! The scenarios live by the rules they test: [`sign_in`] (CL-01 to
//! CL-06), [`admin`] (privileges and controls), [`keys`], [`data`] and
//! [`claude_code`] (CL-24 to CL-27); this module holds the table that names
//! them, the scheduler, and the helpers they share.

use serde_json::{Value, json};

mod admin;
mod claude_code;
mod data;
mod keys;
mod sign_in;

use super::rng::Rng;
use super::{DAY, Member, Org, Plan, START, activity, user_actor};
use admin::*;
use claude_code::*;
use data::*;
use keys::*;
use sign_in::*;

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
    Scenario {
        name: "distributed_stuffing",
        expect: "CL-02/same_account",
        first_day: 8,
        run: distributed_stuffing,
    },
    Scenario {
        name: "vpn_session",
        expect: "CL-03/anonymizer_activity",
        first_day: 8,
        run: vpn_session,
    },
    Scenario {
        name: "residential_proxy",
        expect: "CL-04/new_asn",
        first_day: 16,
        run: residential_proxy,
    },
    Scenario {
        name: "sso_provisioning_changed",
        expect: "CL-06/weakened",
        first_day: 8,
        run: sso_provisioning_changed,
    },
    Scenario {
        name: "idp_takeover_prep",
        expect: "CL-07/new_idp_admin",
        first_day: 40,
        run: idp_takeover_prep,
    },
    Scenario {
        name: "mass_invite",
        expect: "CL-11/mass_invite",
        first_day: 8,
        run: mass_invite,
    },
    Scenario {
        name: "broad_key",
        expect: "CL-12/broad_scopes",
        first_day: 8,
        run: broad_key,
    },
    Scenario {
        name: "first_key",
        expect: "CL-12/first_key",
        first_day: 45,
        run: first_key,
    },
    Scenario {
        name: "key_churn_burst",
        expect: "CL-13/churn",
        first_day: 8,
        run: key_churn_burst,
    },
    Scenario {
        name: "poller_new_client",
        expect: "CL-14/new_user_agent",
        first_day: 15,
        run: poller_new_client,
    },
    Scenario {
        name: "attestation_cleared",
        expect: "CL-16/attestation_weakened",
        first_day: 8,
        run: attestation_cleared,
    },
    Scenario {
        name: "audit_log_export",
        expect: "CL-18/export",
        first_day: 8,
        run: audit_log_export,
    },
    Scenario {
        name: "export_flood",
        expect: "CL-19/exports",
        first_day: 8,
        run: export_flood,
    },
    Scenario {
        name: "audit_truncated",
        expect: "CL-20/bulk_truncated",
        first_day: 8,
        run: audit_truncated,
    },
    Scenario {
        name: "session_share",
        expect: "CL-21/share_link_created",
        first_day: 8,
        run: session_share,
    },
    Scenario {
        name: "new_sync_provider",
        expect: "CL-23/new_sync_provider",
        first_day: 15,
        run: new_sync_provider,
    },
    Scenario {
        name: "llmjacking_input",
        expect: "CL-24/input_tokens",
        first_day: 8,
        run: llmjacking_input,
    },
    Scenario {
        name: "runaway_generation",
        expect: "CL-24/output_tokens",
        first_day: 8,
        run: runaway_generation,
    },
    Scenario {
        name: "cache_replay_loop",
        expect: "CL-24/cache_read_tokens",
        first_day: 8,
        run: cache_replay_loop,
    },
    Scenario {
        name: "cost_spike",
        expect: "CL-24/cost",
        first_day: 8,
        run: cost_spike,
    },
    Scenario {
        name: "agent_reject_burst",
        expect: "CL-25/reject_burst",
        first_day: 8,
        run: agent_reject_burst,
    },
    Scenario {
        name: "pipe_to_shell",
        expect: "CL-25/risky_bash",
        first_day: 8,
        run: pipe_to_shell,
    },
    Scenario {
        name: "secret_file_read",
        expect: "CL-25/secret_path_read",
        first_day: 8,
        run: secret_file_read,
    },
    Scenario {
        name: "api_error_storm",
        expect: "CL-25/api_error_storm",
        first_day: 8,
        run: api_error_storm,
    },
    Scenario {
        name: "prompt_injection",
        expect: "CL-26/signature",
        first_day: 8,
        run: prompt_injection,
    },
    Scenario {
        name: "jailbreak_attempts",
        expect: "CL-26/repeated",
        first_day: 8,
        run: jailbreak_attempts,
    },
    Scenario {
        name: "system_prompt_probe",
        expect: "CL-27/elicitation",
        first_day: 8,
        run: system_prompt_probe,
    },
    Scenario {
        name: "secret_paste",
        expect: "CL-27/secret_in_prompt",
        first_day: 8,
        run: secret_paste,
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
    let (warmup, end) = (
        i64::from(plan.warmup_days),
        i64::from(plan.warmup_days) + i64::from(plan.days),
    );
    let mut victims = std::collections::HashSet::new();
    for name in &plan.attacks {
        let Some(s) = SCENARIOS.iter().find(|s| s.name == name) else {
            continue;
        };
        let first_day = s.first_day.max(warmup).min(end - 1).max(0);
        let day = first_day + rng.below((end - first_day).max(1) as u64) as i64;
        let t = START + day * DAY + 9 * 3600 + rng.below(8 * 3600) as i64;
        // A member is the victim of one scenario (while there are enough):
        // an account that met an earlier attack is no longer new to it.
        let mut victim = rng.below(members as u64) as usize;
        for _ in 0..16 {
            if victims.insert(victim) {
                break;
            }
            victim = rng.below(members as u64) as usize;
        }
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

fn unauth(email: &str) -> Value {
    json!({"type": "unauthenticated_user_actor", "ip_address": ATTACKER_IP, "user_agent": "python-requests/2.32", "unauthenticated_email_address": email})
}

fn repeat(org: &mut Org, n: i64, t: i64, step: i64, make: impl Fn(i64) -> Value) -> Vec<usize> {
    (0..n).map(|i| org.push(t + i * step, make(i))).collect()
}

/// An admin of the organization (the victim's own admin, the one an
/// attacker who phished an admin would hold).
fn an_admin(org: &Org, rng: &mut Rng) -> Member {
    let admins: Vec<&Member> = org.members.iter().filter(|m| m.admin).collect();
    admins[rng.below(admins.len() as u64) as usize].clone()
}

/// An admin other than the identity admin (the first member, whose routine
/// includes SSO changes); in an organization with no other admin, another
/// member with admin rights gained by the attacker.
fn another_admin(org: &Org, rng: &mut Rng) -> Member {
    let admins: Vec<&Member> = org.members.iter().skip(1).filter(|m| m.admin).collect();
    if admins.is_empty() {
        let i = 1 + rng.below(org.members.len().max(2) as u64 - 1) as usize;
        return org.members[i.min(org.members.len() - 1)].clone();
    }
    admins[rng.below(admins.len() as u64) as usize].clone()
}

/// A member who is not an admin (admins create keys routinely).
fn a_member(org: &Org, v: &Member, rng: &mut Rng) -> Member {
    if !v.admin {
        return v.clone();
    }
    let members: Vec<&Member> = org.members.iter().filter(|m| !m.admin).collect();
    if members.is_empty() {
        return v.clone();
    }
    members[rng.below(members.len() as u64) as usize].clone()
}
