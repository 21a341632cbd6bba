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
    }
    poller_day(org, START + day * DAY);
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
            _ if rng.chance(0.2) => (
                "claude_file_exported",
                json!({"claude_file_id": format!("claude_file_01SIM{:020}", rng.below(1 << 40)), "export_destination": "google_drive"}),
            ),
            _ => ("claude_chat_viewed", json!({"claude_chat_id": chat})),
        };
        org.push(t, activity(kind, user_actor(m, &ip), fields));
    }
}

/// Admin work: invitations, ordinary role grants, a monthly key rotation.
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
        let target = &org.members[rng.below(org.members.len() as u64) as usize]
            .id
            .clone();
        org.push(
            t + 60,
            activity(
                "role_assignment_granted",
                user_actor(m, ip),
                json!({"target_id": target, "target_type": "user", "role": "workspace:developer",
                   "resource_type": "workspace", "resource_id": "wrkspc_01SIM"}),
            ),
        );
    }
    if day % 30 == 10 {
        let key = format!("apikey_01SIMROTATION{day:010}");
        org.push(
            t + 120,
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
                json!({"api_key_id": format!("apikey_01SIMROTATION{:010}", day - 30)}),
            ),
        );
    }
}

/// The SIEM's Compliance API poller, hourly.
fn poller_day(org: &mut Org, day_start: i64) {
    let actor = json!({"type": "api_actor", "api_key_id": "apikey_01SIMSIEMPOLLER000000000",
        "ip_address": "192.0.2.10", "user_agent": "Elastic-Agent/9.1.0 (CEL input)"});
    for hour in 0..24 {
        let t = day_start + hour * 3600 + 5;
        org.push(t, activity("compliance_api_accessed", actor.clone(), json!({
            "request_id": format!("req_sim{t}"), "url": "https://api.anthropic.com/v1/compliance/activities?limit=1000",
            "request_method": "GET", "request_body": null, "status_code": 200, "api_key_id": "apikey_01SIMSIEMPOLLER000000000"})));
    }
}
