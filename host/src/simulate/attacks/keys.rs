//! Key attacks (CL-12 to CL-14, CL-17): keys created with broad scopes, from new addresses or as a first key, short-lived keys and churn, leaked admin and Compliance API keys used from new places.
//!
//! Each scenario returns the indexes of its events (the labels).

use super::*;

pub(super) fn key_churn(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
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

/// A stolen session: a sign-in from an address the member never used, and
/// ten minutes later a new API key (narrow scopes, so only the new place
/// gives it away).
pub(super) fn key_from_new_ip(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
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

/// A phished admin creates a Compliance API key and pulls members' chats
/// with it from the attacker's machine (fifty, a careful pace).
pub(super) fn compliance_new_key(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    const KEY: &str = "apikey_01SIMROGUECOMPLIANCE0000";
    let admin = an_admin(org, rng);
    let mut ids = vec![org.push(t, activity("api_key_created", user_actor(&admin, ATTACKER_IP),
        json!({"api_key_id": KEY, "scopes": ["read:compliance_activities", "read:compliance_user_data"]})))];
    let actor = crate::simulate::key_actor(KEY, ATTACKER_IP, "python-requests/2.32.3");
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
                crate::simulate::COMPLIANCE,
                rng.below(1 << 40)
            );
            org.push(
                at,
                crate::simulate::compliance_access(actor.clone(), at, &url, 200),
            )
        })
        .collect()
}

/// The SIEM poller's key, leaked from the SIEM's configuration, used from
/// the attacker's machine: the feed, then a few chats.
pub(super) fn poller_key_leaked(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let actor = crate::simulate::key_actor(
        crate::simulate::POLLER_KEY,
        ATTACKER_IP,
        "python-requests/2.32.3",
    );
    let feed = format!("{}/activities?limit=1000", crate::simulate::COMPLIANCE);
    let mut ids = vec![org.push(
        t,
        crate::simulate::compliance_access(actor.clone(), t, &feed, 200),
    )];
    ids.extend(compliance_reads(org, &actor, t + 60, 5, 45, rng));
    ids
}

/// An insider with the DLP reviewer's key, from its usual host, downloads
/// three hundred chats in forty minutes.
pub(super) fn compliance_bulk_read(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let actor = crate::simulate::key_actor(
        crate::simulate::DLP_KEY,
        crate::simulate::DLP_IP,
        crate::simulate::DLP_AGENT,
    );
    compliance_reads(org, &actor, t, 300, 8, rng)
}

/// A revoked Compliance API key (a departed engineer's) tried again and
/// again from outside: twenty refusals in five minutes.
pub(super) fn compliance_refused(org: &mut Org, _: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let actor = crate::simulate::key_actor(
        "apikey_01SIMREVOKEDLEAVER0000000",
        ATTACKER_IP,
        "curl/8.7.1",
    );
    let url = format!("{}/activities?limit=1000", crate::simulate::COMPLIANCE);
    repeat(org, 20, t, 15, |i| {
        crate::simulate::compliance_access(actor.clone(), t + i * 15, &url, 401)
    })
}

/// The provisioning script's admin key, committed to a repository by
/// mistake, used from the attacker's machine with a copy of the script:
/// a look at usage, then a key for the attacker.
pub(super) fn admin_key_leaked(org: &mut Org, _: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let actor = crate::simulate::admin_key_actor(ATTACKER_IP, crate::simulate::PROVISIONING_AGENT);
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

/// An admin's hijacked browser (a malicious extension, from the admin's own
/// machine) creates an admin key with organization-wide scope.
pub(super) fn broad_key(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let admin = an_admin(org, rng);
    vec![org.push(
        t,
        activity(
            "admin_api_key_created",
            user_actor(&admin, &admin.ip),
            json!({"admin_api_key_id": "admin_api_key_01SIMBROADSCOPE00000", "scopes": ["organization:admin"]}),
        ),
    )]
}

/// A member who never created a key creates one, from their own machine
/// and with narrow scopes (a hijacked browser session: only the first key
/// gives it away).
pub(super) fn first_key(org: &mut Org, v: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let m = a_member(org, v, rng);
    vec![org.push(
        t,
        activity(
            "api_key_created",
            user_actor(&m, &m.ip),
            json!({"api_key_id": "apikey_01SIMFIRSTKEY000000000000", "scopes": ["messages"]}),
        ),
    )]
}

/// A phished admin creates three keys in half an hour (finding one that
/// gets past the spend controls) and deletes the first.
pub(super) fn key_churn_burst(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let admin = an_admin(org, rng);
    let mut ids = repeat(org, 3, t, 900, |i| {
        activity(
            "api_key_created",
            user_actor(&admin, &admin.ip),
            json!({"api_key_id": format!("apikey_01SIMCHURN{i:018}"), "scopes": ["messages"]}),
        )
    });
    ids.push(org.push(
        t + 2400,
        activity(
            "api_key_deleted",
            user_actor(&admin, &admin.ip),
            json!({"api_key_id": "apikey_01SIMCHURN000000000000000000"}),
        ),
    ));
    ids
}

/// An insider on the SIEM host uses the poller's key with curl to read
/// members' chats: the key's usual address, a client it never used.
pub(super) fn poller_new_client(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let actor = crate::simulate::key_actor(
        crate::simulate::POLLER_KEY,
        crate::simulate::POLLER_IP,
        "curl/8.7.1",
    );
    compliance_reads(org, &actor, t, 3, 60, rng)
}
