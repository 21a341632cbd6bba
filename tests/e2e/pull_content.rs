//! `claude-audit pull` with `[pull.content]` against the fake API's content
//! endpoints (issue 13): every message exactly once with keyed and unkeyed
//! hashes recomputed here, no conversation text in the output unless kept,
//! files hashed streaming with `Content-MD5` checked, soft and hard
//! deletions, project documents, incremental re-walks, a checkpoint
//! bounded by the overlap window, a refused Admin key, and kill -9 during
//! the walk.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fake_content::file_byte;
use crate::pull::{EXIT_KEY_REFUSED, KEY, KEY_ENV, Pull, kill_sweep};
use crate::util::{fixture, repo_file, stderr};

/// A marker in every message text: it must never reach the output.
const CANARY: &str = "CANARY-TEXT";

/// `[pull.content]` with small pages, so that chats and messages span many.
fn content_config(extra_content: &str, top: &str) -> String {
    format!(
        "page_size = 1000\nrequest_timeout_secs = 60\n\
         [pull.content]\nchat_page_size = 2\nmessage_page_size = 10\n{extra_content}\n{top}"
    )
}

fn text(chat: &str) -> impl Fn(usize) -> String {
    let chat = chat.to_owned();
    move |i| {
        if i == 3 {
            format!("{CANARY} {chat} patient MRN: A{i:07} needs a refill")
        } else {
            format!("{CANARY} {chat} message {i}")
        }
    }
}

fn hmac_key() -> Vec<u8> {
    std::fs::read(fixture("test-hmac.key"))
        .unwrap()
        .trim_ascii()
        .to_vec()
}

fn keyed(bytes: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&hmac_key()).unwrap();
    mac.update(b"content\x1f");
    mac.update(bytes);
    format!(
        "hmac-sha256:k1:{}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn unkeyed(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn content_events(p: &Pull) -> Vec<Value> {
    p.events()
        .into_iter()
        .filter(|e| e["source"]["name"] == "anthropic.compliance_api.content")
        .collect()
}

fn of_type<'e>(events: &'e [Value], t: &str) -> Vec<&'e Value> {
    events.iter().filter(|e| e["event_type"] == t).collect()
}

/// Every message of the fake exactly once, with its recomputed hashes.
fn assert_messages_exactly_once(p: &Pull, events: &[Value]) {
    let messages = of_type(events, "claude_chat_message");
    let ids: Vec<&str> = messages
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a message was emitted twice");
    let state = p.fake.state();
    let expected: HashMap<String, (String, String)> = state
        .content
        .chats
        .iter()
        .flat_map(|c| c.messages.iter())
        .map(|m| {
            let text = m["content"][0]["text"].as_str().unwrap().to_owned();
            (
                m["id"].as_str().unwrap().to_owned(),
                (m["role"].as_str().unwrap().to_owned(), text),
            )
        })
        .collect();
    assert_eq!(unique.len(), expected.len(), "messages missing");
    for e in messages {
        let (role, text) = &expected[e["event_id"].as_str().unwrap()];
        let slot = if role == "user" {
            "prompt_hash"
        } else {
            "response_hash"
        };
        assert_eq!(e[slot], keyed(text.as_bytes()), "{e}");
        assert_eq!(e["details"]["content_sha256"], unkeyed(text.as_bytes()));
        assert_eq!(e["details"]["content_bytes"], text.len());
        assert_eq!(e["model_id"], "claude-opus-4-5");
    }
}

/// Every project document of the fake exactly once, with its recomputed
/// keyed hash.
fn assert_documents_exactly_once(p: &Pull, events: &[Value]) {
    let docs = of_type(events, "claude_project_document");
    let ids: HashSet<&str> = docs
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), docs.len(), "a document was emitted twice");
    let state = p.fake.state();
    assert_eq!(
        ids.len(),
        state.content.documents.len(),
        "documents missing"
    );
    for e in docs {
        let doc = &state.content.documents[e["event_id"].as_str().unwrap()];
        let text = doc["content"].as_str().unwrap();
        assert_eq!(e["prompt_hash"], keyed(text.as_bytes()), "{e}");
        assert_eq!(e["details"]["content_bytes"], text.len());
    }
}

/// Every content event validates against the canonical schema.
fn assert_valid(events: &[Value]) {
    let schema: Value = serde_json::from_slice(
        &std::fs::read(repo_file("plugin/schema/audit-event.v1.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for event in events {
        let errors: Vec<String> = validator
            .iter_errors(event)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", event["event_id"]);
    }
}

fn seed_chats(p: &Pull) {
    let mut s = p.fake.state();
    s.content
        .add_chat("claude_chat_a", "org_1", "user_a", 25, text("a"));
    s.content
        .add_chat("claude_chat_b", "org_1", "user_b", 3, text("b"));
    s.content
        .add_chat("claude_chat_c", "org_2", "user_c", 12, text("c"));
    s.content.attach_artifact(
        "claude_chat_b",
        1,
        "claude_artifact_version_1",
        "# Plan\nstep one",
    );
    s.content
        .attach_file("claude_chat_a", 0, "claude_file_ok", 300_000, false);
    s.content
        .attach_file("claude_chat_b", 2, "claude_file_bad", 1000, true);
    s.content.soft_delete("claude_chat_c");
    // A file deleted after the message that names it.
    s.content
        .attach_file("claude_chat_c", 1, "claude_file_gone", 10, false);
    s.content.files.remove("claude_file_gone");
    // Deleted for good, still in the (lagging) list: its messages 404.
    s.content
        .add_chat("claude_chat_d", "org_1", "user_d", 0, text("d"));
    s.content.hard_delete_listed("claude_chat_d");
    s.content.add_project("claude_proj_1", "org_1", "user_a");
    for i in 0..3 {
        let body = format!("{CANARY} project doc {i} MRN: B{i:07}");
        s.content
            .add_document("claude_proj_1", &format!("claude_proj_doc_{i}"), &body);
    }
    s.add_key_scopes(
        KEY,
        &["read:compliance_activities", "read:compliance_user_data"],
    );
}

#[test]
fn content_sync_emits_every_message_once_with_recomputed_hashes_and_no_text() {
    let p = Pull::new();
    seed_chats(&p);
    let config = content_config("", "[content]\nunkeyed_hash = true\n");
    let out = p.once(&config);
    assert!(out.status.success(), "{}", stderr(&out));
    let events = content_events(&p);
    assert_messages_exactly_once(&p, &events);
    assert_valid(&events);
    let raw = std::fs::read_to_string(p.output_path()).unwrap();
    assert!(
        !raw.contains(CANARY),
        "conversation text reached the output"
    );
    assert!(
        !raw.contains("A0000003"),
        "a detected value reached the output"
    );
    let phi = events
        .iter()
        .find(|e| e["event_id"] == "claude_chat_msg_claude_chat_a_000003");
    let phi = phi.expect("the PHI message");
    assert!(phi["data_classes"].to_string().contains("phi"), "{phi}");
    assert!(phi["controls"].to_string().contains("HIPAA:164.312(c)(1)"));
    // The artifact's text hashed, the files' bytes hashed streaming.
    let artifact = of_type(&events, "claude_artifact_version");
    assert_eq!(artifact.len(), 1);
    assert_eq!(artifact[0]["response_hash"], keyed(b"# Plan\nstep one"));
    let files = of_type(&events, "claude_chat_file");
    assert_eq!(files.len(), 3);
    let gone = files
        .iter()
        .find(|e| e["event_id"] == "claude_file_gone")
        .unwrap();
    assert_eq!(gone["details"]["content_status"], "not_found");
    assert!(gone["response_hash"].is_null() && gone["prompt_hash"].is_null());
    let ok = files
        .iter()
        .find(|e| e["event_id"] == "claude_file_ok")
        .unwrap();
    let bytes: Vec<u8> = (0..300_000u64).map(|i| file_byte(1, i)).collect();
    assert_eq!(ok["prompt_hash"], keyed(&bytes));
    assert_eq!(ok["details"]["file_sha256"], unkeyed(&bytes));
    assert_eq!(ok["details"]["content_md5"], "verified");
    let bad = files
        .iter()
        .find(|e| e["event_id"] == "claude_file_bad")
        .unwrap();
    assert_eq!(bad["details"]["content_md5"], "mismatch");
    let deleted = of_type(&events, "claude_chat_soft_deleted");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["event_id"], "claude_chat_c:deleted");
    let hard = of_type(&events, "claude_chat_hard_deleted");
    assert_eq!(hard.len(), 1);
    assert_eq!(hard[0]["event_id"], "claude_chat_d:hard_deleted");
    assert_documents_exactly_once(&p, &events);
    let doc = of_type(&events, "claude_project_document")[0];
    assert!(doc["data_classes"].to_string().contains("phi"), "{doc}");
    // Chats were walked by updated_at with the cursor of the last page.
    let paths = p.fake.state().paths.clone();
    let queries = p.fake.state().requests.clone();
    let chat_queries: Vec<&String> = paths
        .iter()
        .zip(&queries)
        .filter(|(p, _)| *p == "/v1/compliance/apps/chats")
        .map(|(_, q)| q)
        .collect();
    assert!(
        chat_queries
            .iter()
            .all(|q| q.contains("order_by=updated_at"))
    );
    assert!(
        chat_queries
            .iter()
            .any(|q| q.contains("after_id=chatcur_updated_at_"))
    );

    let health = crate::pull::last_health(&stderr(&out));
    let n = |k: &str| health[k].as_u64().unwrap();
    assert_eq!(
        n("activities") + n("content_records"),
        n("emitted") + n("dead_lettered") + n("filtered") + n("duplicates_dropped"),
        "{health}"
    );
    assert_eq!(n("content_records") as usize, events.len());

    // New messages in one chat, a new document: only they are emitted on
    // the next run.
    {
        let mut s = p.fake.state();
        s.content.add_messages("claude_chat_a", 4, text("a2"));
        s.content
            .add_document("claude_proj_1", "claude_proj_doc_new", "a new document");
    }
    let out = p.once(&config);
    assert!(out.status.success(), "{}", stderr(&out));
    let events = content_events(&p);
    assert_messages_exactly_once(&p, &events);
    assert_documents_exactly_once(&p, &events);
    assert_eq!(of_type(&events, "claude_chat_soft_deleted").len(), 1);
    assert_eq!(of_type(&events, "claude_chat_hard_deleted").len(), 1);
    assert_eq!(of_type(&events, "claude_chat_file").len(), 3, "files once");
}

#[test]
fn redact_and_keep_write_text_as_configured_and_keep_needs_a_restricted_output() {
    let p = Pull::new();
    seed_chats(&p);
    let refused = p.once(&content_config(
        "",
        "[content]\nfields = { message = \"keep\" }\n",
    ));
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("restricted_output"),
        "{}",
        stderr(&refused)
    );
    let out = p.once(&content_config("", "[content]\npolicy = \"redact\"\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let events = content_events(&p);
    let phi = events
        .iter()
        .find(|e| e["event_id"] == "claude_chat_msg_claude_chat_a_000003")
        .unwrap();
    let written = phi["details"]["content"].as_str().unwrap();
    assert!(
        written.contains("needs a refill") && !written.contains("A0000003"),
        "{written}"
    );
    assert_eq!(phi["redaction_metadata"]["counts"]["mrn"], 1);
}

#[test]
fn an_admin_key_is_refused_on_content_with_the_scope_named() {
    let p = Pull::new();
    seed_chats(&p);
    let admin = "sk-ant-admin01-TEST-e2e-content-0123456789";
    p.fake.add_key(admin, &["read:compliance_activities"]);
    let out = p
        .cmd(&content_config("", ""))
        .env(KEY_ENV, admin)
        .args(["--once", "--output"])
        .arg(p.output_path())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(EXIT_KEY_REFUSED), "{err}");
    assert!(
        err.contains("read:compliance_user_data") && !err.contains(admin),
        "{err}"
    );
}

#[test]
fn kill_9_during_the_content_walk_loses_and_doubles_no_message() {
    let p = Pull::new();
    {
        let mut s = p.fake.state();
        for c in 0..6 {
            let id = format!("claude_chat_k{c}");
            s.content.add_chat(&id, "org_1", "user_k", 60, text(&id));
        }
        for p in 0..3 {
            let project = format!("claude_proj_k{p}");
            s.content.add_project(&project, "org_1", "user_k");
            for d in 0..15 {
                let id = format!("claude_proj_doc_k{p}_{d}");
                s.content.add_document(&project, &id, &format!("doc {id}"));
            }
        }
        s.add_key_scopes(
            KEY,
            &["read:compliance_activities", "read:compliance_user_data"],
        );
        s.delay = Duration::from_millis(15);
        s.budget = 1_000_000;
    }
    let config = content_config("", "[content]\nunkeyed_hash = true\n");
    let kills = kill_sweep("content", 6, (400, 1200), || {
        p.cmd(&config)
            .args(["--once", "--output"])
            .arg(p.output_path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    });
    let out = p.once(&config);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(kills > 0, "no kill landed: the test proved nothing");
    let events = content_events(&p);
    assert_messages_exactly_once(&p, &events);
    assert_documents_exactly_once(&p, &events);
}

/// The checkpoint keeps a mark only for chats updated inside the overlap
/// window: with 120 chats and a 5 s window it holds a handful, and a chat
/// pruned long ago that gets new messages (or is deleted) gives exactly
/// its new events. A re-walk with nothing changed reads no messages.
#[test]
fn the_checkpoint_is_bounded_by_the_overlap_window_without_losing_exactly_once() {
    let p = Pull::new();
    {
        let mut s = p.fake.state();
        for c in 0..120 {
            let id = format!("claude_chat_n{c:03}");
            s.content.add_chat(&id, "org_1", "user_n", 2, text(&id));
        }
        // The oldest chat, updated last: listed at the end of the first
        // walk, all its messages still new.
        s.content
            .add_messages("claude_chat_n000", 2, text("n000-again"));
        s.add_key_scopes(
            KEY,
            &["read:compliance_activities", "read:compliance_user_data"],
        );
    }
    let config = "page_size = 1000\nrequest_timeout_secs = 60\noverlap_secs = 5\n\
                  [pull.content]\nfamilies = [\"chats\"]\nchat_page_size = 25\n\
                  [content]\nunkeyed_hash = true\n";
    let marks = |p: &Pull| -> usize {
        let state: Value =
            serde_json::from_slice(&std::fs::read(p.sandbox.path("state.json")).unwrap()).unwrap();
        state["content"]["chats"].as_object().unwrap().len()
    };
    let out = p.once(config);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_messages_exactly_once(&p, &content_events(&p));
    // Chats are 2 s apart: a 5 s window holds at most 4 of them.
    assert!(marks(&p) <= 4, "{} chat marks kept", marks(&p));

    {
        let mut s = p.fake.state();
        s.content
            .add_messages("claude_chat_n000", 3, text("n000-late"));
        s.content.soft_delete("claude_chat_n001");
        s.content.hard_delete_listed("claude_chat_n002");
    }
    let out = p.once(config);
    assert!(out.status.success(), "{}", stderr(&out));
    let events = content_events(&p);
    assert_messages_exactly_once(&p, &events);
    assert_eq!(of_type(&events, "claude_chat_soft_deleted").len(), 1);
    // n002 was not updated, so it is not listed again: no request, no event
    // (a hard deletion is seen only while the list still shows the chat).
    assert_eq!(of_type(&events, "claude_chat_hard_deleted").len(), 0);
    assert!(marks(&p) <= 4, "{} chat marks kept", marks(&p));

    let before = p.fake.state().paths.len();
    let out = p.once(config);
    assert!(out.status.success(), "{}", stderr(&out));
    let paths = p.fake.state().paths[before..].to_vec();
    assert!(
        !paths.iter().any(|q| q.ends_with("/messages")),
        "an unchanged chat was read again: {paths:?}"
    );
    assert_eq!(content_events(&p).len(), events.len());
}

/// Targets of issue 13: a 10,000-message chat and a 100 MiB file, both
/// through the real binary. The peak resident set is measured (and
/// printed) against a feed-only run of the same binary: start-up dominates
/// (Cranelift compiling the plugin, see memory.rs), the content walk must
/// add little, whatever the chat or file size.
#[test]
fn a_10k_message_chat_and_a_100_mib_file_stay_in_bounded_memory() {
    const FILE_BYTES: u64 = 100 << 20;
    let p = Pull::new();
    {
        let mut s = p.fake.state();
        s.content
            .add_chat("claude_chat_big", "org_1", "user_big", 10_000, text("big"));
        s.content
            .attach_file("claude_chat_big", 0, "claude_file_big", FILE_BYTES, false);
        s.add_key_scopes(
            KEY,
            &["read:compliance_activities", "read:compliance_user_data"],
        );
    }
    let config = content_config("message_page_size = 1000", "");
    let config = config.replace("message_page_size = 10\n", "");
    let started = std::time::Instant::now();
    let (peak, status, err) = run_measured(&p, &config);
    let took = started.elapsed();
    assert!(status.success(), "{err}");
    let events = content_events(&p);
    assert_eq!(of_type(&events, "claude_chat_message").len(), 10_000);
    let file = of_type(&events, "claude_chat_file");
    assert_eq!(file[0]["details"]["content_bytes"], FILE_BYTES);
    assert_eq!(file[0]["details"]["content_md5"], "verified");
    let baseline = Pull::new();
    let (base_peak, _, _) = run_measured(&baseline, "");
    eprintln!(
        "content pull: 10,000 messages + 100 MiB file in {:.1}s, peak RSS {peak} KiB \
         (feed-only pull: {base_peak} KiB)",
        took.as_secs_f64()
    );
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB");
    assert!(
        peak - base_peak < 64 * 1024,
        "content added {} KiB",
        peak - base_peak
    );
}

/// `pull --once` to the output file, polling the child's peak RSS:
/// `(peak KiB, exit status, stderr)`.
fn run_measured(p: &Pull, config: &str) -> (i64, std::process::ExitStatus, String) {
    let err_path = p.sandbox.path("measured-stderr.txt");
    let mut child = p
        .cmd(config)
        .args(["--once", "--output"])
        .arg(p.output_path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut peak = 0;
    let status = loop {
        peak = peak.max(crate::memory::high_water_kib(child.id()).unwrap_or(0));
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        peak,
        status,
        std::fs::read_to_string(err_path).unwrap_or_default(),
    )
}
