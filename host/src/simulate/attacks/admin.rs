//! Privilege and control attacks (CL-06 to CL-11, CL-15, CL-16): identity-provider changes, admin grants and ownership transfer, mass invitations and removals, logging switched off, security controls removed or weakened.
//!
//! Each scenario returns the indexes of its events (the labels).

use super::*;

pub(super) fn owner_transfer(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    vec![org.push(
        t,
        activity(
            "primary_owner_transferred",
            user_actor(v, ATTACKER_IP),
            json!({"previous_owner_id": v.id, "new_owner_id": "user_01SIMATTACKER0000000000000"}),
        ),
    )]
}

pub(super) fn grant_then_abuse(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let grantor = org.members[0].clone();
    vec![
        org.push(t, activity("role_assignment_granted", user_actor(&grantor, &grantor.ip),
            json!({"target_id": v.id, "target_type": "user", "role": "organization:admin", "resource_type": "organization", "resource_id": "org_01SIM"}))),
        org.push(t + 600, activity("admin_api_key_created", user_actor(v, ATTACKER_IP), json!({"admin_api_key_id": "admin_api_key_01SIMEVIL000000000000", "scopes": ["admin"]}))),
    ]
}

pub(super) fn mass_removal(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    repeat(org, 12, t, 45, |i| {
        activity(
            "org_user_deleted",
            user_actor(v, ATTACKER_IP),
            json!({"deleted_user_id": format!("user_01SIMVICTIM{i:016}"), "deleted_user_email": format!("gone{i}@sim.example")}),
        )
    })
}

pub(super) fn logging_off(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    vec![org.push(
        t,
        activity(
            "org_compliance_api_settings_updated",
            user_actor(v, ATTACKER_IP),
            json!({"compliance_api_enabled": true, "compliance_api_logging_enabled": false}),
        ),
    )]
}

/// A phished admin invites an outside address as an organization admin.
pub(super) fn admin_invite(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
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
pub(super) fn allowlist_removed(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
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
pub(super) fn spend_limit_removed(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
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

/// A phished admin switches user provisioning from SCIM to just-in-time, so
/// that an account deleted in the identity provider keeps its access.
pub(super) fn sso_provisioning_changed(
    org: &mut Org,
    _: &Member,
    t: i64,
    rng: &mut Rng,
) -> Vec<usize> {
    let admin = another_admin(org, rng);
    vec![org.push(
        t,
        activity(
            "org_sso_provisioning_mode_changed",
            user_actor(&admin, ATTACKER_IP),
            json!({"previous_mode": "scim", "new_mode": "jit"}),
        ),
    )]
}

/// A phished admin, who never touched the identity settings, claims and
/// verifies a look-alike domain: the groundwork for an SSO takeover.
pub(super) fn idp_takeover_prep(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let admin = another_admin(org, rng);
    vec![
        org.push(
            t,
            activity(
                "domain_claim_initiated",
                user_actor(&admin, ATTACKER_IP),
                json!({}),
            ),
        ),
        org.push(
            t + 1800,
            activity(
                "org_domain_verified",
                user_actor(&admin, ATTACKER_IP),
                json!({"domain": "sim-example-sso.com"}),
            ),
        ),
    ]
}

/// A phished admin invites thirty outside addresses in 45 minutes (accounts
/// for the attacker's crew, or a spam run).
pub(super) fn mass_invite(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let admin = an_admin(org, rng);
    repeat(org, 30, t, 90, |i| {
        activity(
            "org_user_invite_sent",
            user_actor(&admin, ATTACKER_IP),
            json!({"invited_email": format!("contractor{i}@mail.example"), "invited_role": "user"}),
        )
    })
}

/// A phished admin marks the access review control as an accepted risk
/// (so that the stale access it found stays).
pub(super) fn attestation_cleared(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let admin = another_admin(org, rng);
    vec![org.push(
        t,
        activity(
            "org_security_control_attestation_updated",
            user_actor(&admin, ATTACKER_IP),
            json!({"control": "access_review", "status": "accepted_risk"}),
        ),
    )]
}
