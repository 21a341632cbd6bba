//! Sign-in attacks (CL-01 to CL-06): password guessing, credential stuffing and spraying, sign-ins from hosting networks, anonymizers and new countries, impossible travel, a sign-in that bypasses SSO.
//!
//! Each scenario returns the indexes of its events (the labels).

use super::*;

/// A stolen session used from another continent 40 minutes after the
/// member's own activity at home.
pub(super) fn impossible_travel(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let chat = json!({"claude_chat_id": "claude_chat_01SIMSTOLEN00000000000"});
    let mut ids = vec![org.push(
        t,
        activity("claude_chat_viewed", user_actor(v, &v.ip), chat.clone()),
    )];
    ids.extend(repeat(org, 3, t + 2400, 60, |_| {
        activity(
            "claude_chat_viewed",
            user_actor(v, crate::simulate::geo::FAR_AWAY_IP),
            chat.clone(),
        )
    }));
    ids
}

/// A sign-in from a rented server.
pub(super) fn hosting_login(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    vec![org.push(
        t,
        activity(
            "sso_login_succeeded",
            user_actor(v, crate::simulate::geo::VPS_IP),
            json!({}),
        ),
    )]
}

pub(super) fn brute_force(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    repeat(org, 15, t, 20, |_| {
        activity("sso_login_failed", unauth(&v.email), json!({}))
    })
}

pub(super) fn spray(org: &mut Org, _: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    repeat(org, 8, t, 120, |i| {
        activity(
            "magic_link_login_failed",
            unauth(&format!("member{i}@sim.example")),
            json!({}),
        )
    })
}

pub(super) fn fail_then_success(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let mut ids = repeat(org, 6, t, 30, |_| {
        activity("sso_login_failed", unauth(&v.email), json!({}))
    });
    ids.push(org.push(
        t + 400,
        activity("sso_login_succeeded", user_actor(v, ATTACKER_IP), json!({})),
    ));
    ids
}

pub(super) fn sso_off_then_login(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
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

/// An infostealer's session cookie replayed through a residential proxy in
/// another country, at night at home (so no travel from a recent event):
/// sign-in, a look around, a file export.
pub(super) fn new_country_session(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let night = t - t.rem_euclid(DAY) + 2 * 3600;
    let away = crate::simulate::geo::FAR_AWAY_IP;
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

/// Credential stuffing spread over a proxy pool: six failed sign-ins for
/// one account, each from another address, then a success from a seventh.
pub(super) fn distributed_stuffing(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..6)
        .map(|i| {
            let mut actor = unauth(&v.email);
            actor["ip_address"] = json!(format!("192.0.2.{}", 67 + i));
            org.push(t + i * 90, activity("sso_login_failed", actor, json!({})))
        })
        .collect();
    ids.push(org.push(
        t + 600,
        activity(
            "sso_login_succeeded",
            user_actor(v, "192.0.2.73"),
            json!({}),
        ),
    ));
    ids
}

/// A stolen session cookie used at night through a commercial VPN.
pub(super) fn vpn_session(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let night = t - t.rem_euclid(DAY) + 3 * 3600;
    repeat(org, 3, night, 120, |i| {
        activity(
            "claude_chat_viewed",
            user_actor(v, crate::simulate::geo::VPN_IP),
            json!({"claude_chat_id": format!("claude_chat_01SIMVPN{i:018}")}),
        )
    })
}

/// An infostealer's session cookie replayed at night through a residential
/// proxy in the member's own city, on another ISP: same country, new
/// network.
pub(super) fn residential_proxy(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let night = t - t.rem_euclid(DAY) + 2 * 3600;
    let proxy = crate::simulate::geo::other_isp_ip(&v.ip);
    let mut ids = vec![org.push(
        night,
        activity("sso_login_succeeded", user_actor(v, &proxy), json!({})),
    )];
    ids.extend(repeat(org, 3, night + 120, 90, |i| {
        activity(
            "claude_chat_viewed",
            user_actor(v, &proxy),
            json!({"claude_chat_id": format!("claude_chat_01SIMRESI{i:017}")}),
        )
    }));
    ids
}
