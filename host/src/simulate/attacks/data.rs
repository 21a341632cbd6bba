//! Data attacks (CL-18 to CL-23): exports after a risky change, mass downloads and deletions, audit logs exported or truncated, sharing widened, enumeration, new integrations, MCP servers and sync providers.
//!
//! Each scenario returns the indexes of its events (the labels).

use super::*;

pub(super) fn export_after_key(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
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

pub(super) fn mass_download(org: &mut Org, v: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
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

pub(super) fn mass_delete(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    repeat(org, 30, t, 60, |i| {
        activity(
            "claude_chat_deleted",
            user_actor(v, &v.ip),
            json!({"claude_chat_id": format!("claude_chat_01SIMDEL{i:018}")}),
        )
    })
}

pub(super) fn public_share(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    vec![org.push(t, activity("claude_artifact_sharing_updated", user_actor(v, &v.ip), json!({"claude_artifact_id": "claude_artifact_01SIM", "audience": [{"type": "public"}]})))]
}

pub(super) fn enumeration(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    repeat(org, 60, t, 8, |i| {
        activity(
            "claude_chat_access_failed",
            user_actor(v, ATTACKER_IP),
            json!({"claude_chat_id": format!("claude_chat_01SIMENUM{i:017}")}),
        )
    })
}

/// A compromised member connects a storage service the organization has
/// never used, a way out for its files.
pub(super) fn new_integration(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
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
pub(super) fn rogue_mcp_server(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let admin = an_admin(org, rng);
    vec![org.push(t, activity("mcp_server_created", user_actor(&admin, ATTACKER_IP),
        json!({"mcp_server_id": "mcp_01SIMROGUE0000000000000", "mcp_server_name": "paste-sync"})))]
}

/// An admin exports the audit log (who watches what) before leaving.
pub(super) fn audit_log_export(org: &mut Org, _: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let admin = an_admin(org, rng);
    vec![org.push(
        t,
        activity(
            "audit_log_export_started",
            user_actor(&admin, &admin.ip),
            json!({"from_date": crate::simulate::iso(t - 90 * DAY), "to_date": crate::simulate::iso(t)}),
        ),
    )]
}

/// A departing member exports sixty files to their drive in an hour.
pub(super) fn export_flood(org: &mut Org, v: &Member, t: i64, rng: &mut Rng) -> Vec<usize> {
    let hour = t - t.rem_euclid(3600);
    (0..60)
        .map(|_| {
            let file = format!("claude_file_01SIM{:020}", rng.below(1 << 40));
            org.push(
                hour + 60 + rng.below(3400) as i64,
                activity(
                    "claude_file_exported",
                    user_actor(v, &v.ip),
                    json!({"claude_file_id": file, "export_destination": "google_drive"}),
                ),
            )
        })
        .collect()
}

/// A member deletes a project's documents in bulk, so many that the feed
/// truncates the deletions' audit records.
pub(super) fn audit_truncated(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    let mut ids = repeat(org, 15, t, 20, |i| {
        activity(
            "claude_project_document_deleted",
            user_actor(v, &v.ip),
            json!({"claude_project_document_id": format!("claude_proj_doc_01SIMDEL{i:012}")}),
        )
    });
    ids.push(org.push(
        t + 320,
        activity(
            "claude_project_document_bulk_deletion_audit_truncated",
            user_actor(v, &v.ip),
            json!({}),
        ),
    ));
    ids
}

/// A member shares a Claude Code session (with the customer data it
/// handled) by link.
pub(super) fn session_share(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    vec![org.push(
        t,
        activity(
            "session_share_created",
            user_actor(v, &v.ip),
            json!({"share_id": "5e551000-0000-4000-8000-00000000beef"}),
        ),
    )]
}

/// A compromised member syncs a project with a storage provider the
/// organization never used.
pub(super) fn new_sync_provider(org: &mut Org, v: &Member, t: i64, _: &mut Rng) -> Vec<usize> {
    vec![org.push(
        t,
        activity(
            "claude_project_sync_source_created",
            user_actor(v, &v.ip),
            json!({"claude_project_id": "claude_proj_01SIMSYNC0000000000000",
                   "claude_project_sync_source_id": "claude_project_sync_source_01SIMDROPBOX",
                   "provider": "dropbox", "resource_descriptor": "/Apps/sync"}),
        ),
    )]
}
