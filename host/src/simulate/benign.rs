//! Benign background: the rhythm of an ordinary organization (see the
//! module docs of [`super`]).

use serde_json::json;

use super::rng::Rng;
use super::{DAY, Member, Org, START, activity, user_actor};

/// Add day `day` (from 0) of ordinary activity for every member. Every
/// activity is at or after the day's start; a few (the deletion of a
/// rotated key) fall on the next day.
pub fn day(org: &mut Org, day: i64, rng: &mut Rng) {
    let weekend = day % 7 >= 5;
    for i in 0..org.members.len() {
        if org.members[i].admin {
            let m = org.members[i].clone();
            rotate_key(org, &m, i, day);
        }
        if weekend && !rng.chance(0.1) || !weekend && rng.chance(0.05) {
            continue; // Weekend, or a day off.
        }
        let m = org.members[i].clone();
        let day_start = START + day * DAY;
        let ip = travel_ip(&m, day, rng);
        member_day(org, &m, &ip, day_start, rng);
        if m.admin {
            admin_day(org, &m, &ip, day, day_start, rng);
        }
        if m.developer && !weekend {
            super::claude_code::developer_day(org, &m, day_start, rng);
        }
    }
    services_day(org, day, rng);
}

/// Usually the member's own IP; now and then a hotel's in another city of
/// the member's country (benign travel, which CL-05 must not flag).
fn travel_ip(m: &Member, day: i64, rng: &mut Rng) -> String {
    if rng.chance(0.03) {
        super::geo::domestic_travel_ip(&m.ip, day as u64 + rng.below(200))
    } else {
        m.ip.clone()
    }
}

/// Sign in, work through the day.
fn member_day(org: &mut Org, m: &Member, ip: &str, day_start: i64, rng: &mut Rng) {
    let mut t = day_start + 8 * 3600 + rng.below(2 * 3600) as i64;
    if rng.chance(0.03) {
        let unauth = json!({"type": "unauthenticated_user_actor", "ip_address": ip,
            "user_agent": "Mozilla/5.0", "unauthenticated_email_address": m.email});
        org.push(t, activity("sso_login_failed", unauth, json!({})));
        t += 20;
    }
    org.push(
        t,
        activity("sso_login_succeeded", user_actor(m, ip), json!({})),
    );
    maybe_connect_integration(org, m, ip, t + 30, rng);
    maybe_sync_project(org, m, ip, t + 60, rng);
    let actions = 10 + rng.below(40);
    // Now and then a day trip: the afternoon in another city of the
    // country, two hours on the train after the morning's last event.
    let mut trip = rng
        .chance(0.02)
        .then(|| super::geo::domestic_travel_ip(&m.ip, rng.below(62)));
    let mut ip = ip.to_owned();
    for _ in 0..actions {
        t += 60 + rng.below(900) as i64;
        if t > day_start + 13 * 3600
            && let Some(away) = trip.take()
        {
            t += 2 * 3600;
            ip = away;
        }
        if t > day_start + 19 * 3600 {
            break;
        }
        let chat = format!("claude_chat_01SIM{:021}", rng.below(1 << 40));
        let (kind, fields) = match rng.below(10) {
            0..=4 => ("claude_chat_viewed", json!({"claude_chat_id": chat})),
            5..=6 => ("claude_chat_created", json!({"claude_chat_id": chat})),
            7 => (
                "claude_file_uploaded",
                json!({"claude_file_id": format!("claude_file_01SIM{:020}", rng.below(1 << 40)), "filename": "notes.pdf"}),
            ),
            8 => (
                "claude_project_document_viewed",
                json!({"claude_project_document_id": format!("claude_proj_doc_01SIM{:016}", rng.below(1 << 40))}),
            ),
            _ if rng.chance(0.3) => (
                "claude_file_exported",
                json!({"claude_file_id": format!("claude_file_01SIM{:020}", rng.below(1 << 40)), "export_destination": "google_drive"}),
            ),
            _ => ("claude_chat_viewed", json!({"claude_chat_id": chat})),
        };
        org.push(t, activity(kind, user_actor(m, &ip), fields));
    }
}

/// Admin work: invitations, ordinary role grants.
fn admin_day(org: &mut Org, m: &Member, ip: &str, day: i64, day_start: i64, rng: &mut Rng) {
    let t = day_start + 11 * 3600 + rng.below(4 * 3600) as i64;
    if rng.chance(0.3) {
        let invited = format!("newcomer{}@sim.example", rng.below(1 << 30));
        org.push(
            t,
            activity(
                "org_user_invite_sent",
                user_actor(m, ip),
                json!({"invited_email": invited, "invited_role": "user"}),
            ),
        );
    }
    if rng.chance(0.2) {
        grant_workspace_role(org, m, ip, t + 60, "workspace:developer", rng);
    }
    // About once a month in a 500-member organization, a workspace admin
    // is named (CL-08 flags it by design: it counts against precision).
    if rng.chance(0.005) {
        grant_workspace_role(org, m, ip, t + 90, "workspace:admin", rng);
    }
    if m.id == org.members[0].id {
        it_admin_day(org, m, ip, day, t, rng);
    }
}

/// The monthly rotation of an admin's API key, on the admin's own day of
/// the month (member `index`'s is `(10 + 7 * index / 50) % 30`, so that
/// the rotations are spread over the month and the first come early),
/// whether or not the admin otherwise works that day; the old key is
/// deleted a day later.
fn rotate_key(org: &mut Org, m: &Member, index: usize, day: i64) {
    let admin = index as i64 / 50;
    if day % 30 != (10 + 7 * admin) % 30 {
        return;
    }
    let t = START + day * DAY + 10 * 3600 + 120;
    let ip = &m.ip;
    let key = format!("apikey_01SIMROTATION{admin:03}{day:07}");
    org.push(
        t,
        activity(
            "api_key_created",
            user_actor(m, ip),
            json!({"api_key_id": key, "scopes": ["messages"]}),
        ),
    );
    org.push(
        t + DAY,
        activity(
            "api_key_deleted",
            user_actor(m, ip),
            json!({"api_key_id": format!("apikey_01SIMROTATION{admin:03}{:07}", day - 30)}),
        ),
    );
}

/// The SIEM's Compliance API poller, hourly.
fn poller_day(org: &mut Org, day_start: i64) {
    let actor = super::key_actor(super::POLLER_KEY, super::POLLER_IP, super::POLLER_AGENT);
    let url = format!("{}/activities?limit=1000", super::COMPLIANCE);
    for hour in 0..24 {
        let t = day_start + hour * 3600 + 5;
        org.push(t, super::compliance_access(actor.clone(), t, &url, 200));
    }
}

/// The organization's service accounts, every day: the SIEM poller, the
/// DLP reviewer's Compliance API key (workdays), the provisioning script's
/// admin API key.
fn services_day(org: &mut Org, day: i64, rng: &mut Rng) {
    let day_start = START + day * DAY;
    poller_day(org, day_start);
    if day % 7 < 5 {
        dlp_day(org, day_start, rng);
    }
    provisioning_day(org, day_start);
}

/// The DLP reviewer's key: every office hour it lists a flagged member's
/// chats and reads a few of them (a handful, far below a bulk read); now
/// and then a chat was deleted meanwhile (404).
fn dlp_day(org: &mut Org, day_start: i64, rng: &mut Rng) {
    let actor = super::key_actor(super::DLP_KEY, super::DLP_IP, super::DLP_AGENT);
    for hour in 9..17 {
        let mut t = day_start + hour * 3600 + rng.below(600) as i64;
        let flagged = &org.members[rng.below(org.members.len() as u64) as usize].id;
        let list = format!("{}/apps/chats?user_ids[]={flagged}", super::COMPLIANCE);
        org.push(t, super::compliance_access(actor.clone(), t, &list, 200));
        for _ in 0..rng.below(16) {
            t += 20 + rng.below(200) as i64;
            let chat = rng.below(1 << 40);
            let url = format!(
                "{}/apps/chats/claude_chat_01SIM{chat:021}/messages",
                super::COMPLIANCE
            );
            let status = if rng.chance(0.02) { 404 } else { 200 };
            org.push(t, super::compliance_access(actor.clone(), t, &url, status));
        }
    }
}

/// The provisioning script's admin key reads the Claude Code usage report
/// every morning from the automation host.
fn provisioning_day(org: &mut Org, day_start: i64) {
    let actor = super::admin_key_actor(super::PROVISIONING_IP, super::PROVISIONING_AGENT);
    org.push(
        day_start + 6 * 3600 + 30,
        activity("platform_usage_report_claude_code_viewed", actor, json!({})),
    );
}

/// Now and then a member connects one of the integrations the organization
/// uses (all of them seen within the first days of a large organization).
fn maybe_connect_integration(org: &mut Org, m: &Member, ip: &str, t: i64, rng: &mut Rng) {
    const USUAL: [&str; 4] = ["google_drive", "github", "gmail", "google_calendar"];
    if rng.chance(0.004) {
        let kind = USUAL[rng.below(USUAL.len() as u64) as usize];
        org.push(
            t,
            activity(
                "integration_user_connected",
                user_actor(m, ip),
                json!({"integration_type": kind}),
            ),
        );
    }
}

/// Now and then a member syncs a project with one of the sources the
/// organization uses (CL-23 learns the providers).
fn maybe_sync_project(org: &mut Org, m: &Member, ip: &str, t: i64, rng: &mut Rng) {
    const USUAL: [(&str, &str); 2] = [
        ("github", "sim-example/platform"),
        ("google_drive", "Shared drives/Engineering"),
    ];
    if rng.chance(0.003) {
        let (provider, descriptor) = USUAL[rng.below(USUAL.len() as u64) as usize];
        let n = rng.below(1 << 40);
        org.push(
            t,
            activity(
                "claude_project_sync_source_created",
                user_actor(m, ip),
                json!({"claude_project_id": format!("claude_proj_01SIM{n:020}"),
                       "claude_project_sync_source_id": format!("claude_project_sync_source_01SIM{n:020}"),
                       "provider": provider, "resource_descriptor": descriptor}),
            ),
        );
    }
}

/// The identity and platform admin's (the first member's) routine: Monday
/// updates of the three MCP servers and of the SSO group mappings, the
/// monthly spend limit review and control attestation, and about once a
/// quarter an edit of the IP allow-list (an office changed: CL-16 flags
/// it by design, so it counts against precision).
fn it_admin_day(org: &mut Org, m: &Member, ip: &str, day: i64, t: i64, rng: &mut Rng) {
    let push = |org: &mut Org, dt: i64, kind: &str, fields: serde_json::Value| {
        org.push(t + dt, activity(kind, user_actor(m, ip), fields));
    };
    if day % 7 == 0 {
        for (n, name) in ["Jira", "Confluence", "GitHub Enterprise"]
            .iter()
            .enumerate()
        {
            push(
                org,
                300 + 60 * n as i64,
                "mcp_server_updated",
                json!({"mcp_server_id": format!("mcp_01SIM{n:020}"), "mcp_server_name": name}),
            );
        }
    }
    if day % 7 == 2 {
        push(org, 600, "org_sso_group_role_mappings_updated", json!({}));
    }
    if day % 30 == 3 {
        push(
            org,
            900,
            "platform_spend_limit_updated",
            json!({"spend_limit_id": "spend_limit_01SIM"}),
        );
    }
    if day % 30 == 4 {
        push(
            org,
            1200,
            "org_security_control_attestation_updated",
            json!({"control": "access_review", "status": "attested"}),
        );
    }
    if rng.chance(0.015) {
        push(org, 1500, "org_ip_restriction_updated", json!({}));
    }
}

/// `m` grants `role` in the simulated workspace to a member drawn at random.
fn grant_workspace_role(org: &mut Org, m: &Member, ip: &str, t: i64, role: &str, rng: &mut Rng) {
    let target = org.members[rng.below(org.members.len() as u64) as usize]
        .id
        .clone();
    org.push(
        t,
        activity(
            "role_assignment_granted",
            user_actor(m, ip),
            json!({"target_id": target, "target_type": "user", "role": role,
               "resource_type": "workspace", "resource_id": "wrkspc_01SIM"}),
        ),
    );
}
