//! The content walk of `claude-audit pull` (`[pull.content]`, SPEC §10):
//! after each Activity Feed poll, chats are listed by `updated_at` from the
//! saved cursor (the cursor is bound to that sort key), and each chat seen
//! has its messages read from the last one already written. Artifact
//! versions and chat files named by those messages are fetched and hashed;
//! a soft-deleted chat becomes an event of its own.
//!
//! Same guarantees as the feed walk, with the same machinery: one request
//! at a time through `Poller::fetch_with` (one pace and rate-limit budget,
//! the same retries), every page of messages written, flushed and fsynced
//! before the checkpoint (chat cursor and per-chat last message) moves, so a
//! crash at any point re-reads exactly what was not committed. Messages are
//! de-duplicated by id against the chat's committed position.
//!
//! Not owned here: turning the records into events (the plugin's
//! `content` module). The records written to the plugin wrap the API's
//! objects: `{"content_event": <type>, "chat": {...}, "message": {...}}`.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde::Deserialize;
use serde_json::{Value, json};

use super::checkpoint::ContentCheckpoint;
use super::client::{FeedClient, FileDigest, RawResponse};
use super::config::{ContentFamily, ContentPullConfig};
use super::{Poller, Request, append_line};
use claude_audit_plugin::HmacKey;
use claude_audit_plugin::content_hash::Streaming;

/// The scope of every content endpoint; Admin keys never have it.
const SCOPE_USER_DATA: &str = "read:compliance_user_data";
/// Chats and their messages.
const CHATS_PATH: &str = "/v1/compliance/apps/chats";
/// Artifact versions' text: `{ARTIFACTS_PATH}/{version_id}/content`.
const ARTIFACTS_PATH: &str = "/v1/compliance/apps/artifacts";

/// A page of `GET /v1/compliance/apps/chats`.
#[derive(Debug, Deserialize)]
struct ChatPage {
    data: Vec<Value>,
    has_more: bool,
    #[serde(default)]
    last_id: Option<String>,
}

/// A page of a chat's messages.
#[derive(Debug, Deserialize)]
struct MessagePage {
    #[serde(default)]
    chat_messages: Vec<Value>,
    #[serde(default)]
    has_more: bool,
}

fn json_body<T: serde::de::DeserializeOwned>(
    what: &'static str,
) -> impl Fn(&RawResponse) -> Result<T> {
    move |r| {
        serde_json::from_slice(&r.body)
            .with_context(|| format!("the API answered 200 with a body that is not {what}"))
    }
}

impl Poller<'_> {
    /// Walk the chats changed since the saved cursor, to the end.
    pub(super) fn walk_content(&mut self) -> Result<()> {
        let Some(config) = self.config.content.clone() else {
            return Ok(());
        };
        loop {
            let mut params = vec![
                ("order_by".to_owned(), "updated_at".to_owned()),
                ("limit".to_owned(), config.chat_page_size.to_string()),
            ];
            for org in &config.organization_ids {
                params.push(("organization_ids[]".to_owned(), org.clone()));
            }
            if let Some(cursor) = &self.content_state().chats_cursor {
                params.push(("after_id".to_owned(), cursor.clone()));
            }
            let request = Request::Get(CHATS_PATH.to_owned(), params);
            let page: ChatPage =
                self.fetch_with(&request, SCOPE_USER_DATA, json_body("a chat list"))?;
            for chat in &page.data {
                if wanted(&config, chat) {
                    self.content_chat(&config, chat)?;
                }
            }
            if let Some(last) = &page.last_id {
                self.content_state().chats_cursor = Some(last.clone());
                self.save_checkpoint()?;
            }
            match (page.has_more, &page.last_id) {
                (false, _) => return Ok(()),
                (true, None) => bail!("the chat list said has_more: true but gave no last_id"),
                (true, Some(_)) => {}
            }
        }
    }

    /// The content checkpoint, created on first use.
    fn content_state(&mut self) -> &mut ContentCheckpoint {
        self.checkpoint.content.get_or_insert_with(Default::default)
    }

    /// Write one chat's new messages (page by page, each committed), then
    /// its soft deletion if it has one not yet written.
    fn content_chat(&mut self, config: &ContentPullConfig, chat: &Value) -> Result<()> {
        let id = chat["id"]
            .as_str()
            .context("the chat list holds a chat without an id")?
            .to_owned();
        loop {
            let last = self
                .content_state()
                .chats
                .get(&id)
                .and_then(|m| m.last_message.clone());
            let mut params = vec![("limit".to_owned(), config.message_page_size.to_string())];
            if let Some(after) = &last {
                params.push(("after_id".to_owned(), after.clone()));
            }
            let request = Request::Get(format!("{CHATS_PATH}/{id}/messages"), params);
            let page: MessagePage =
                self.fetch_with(&request, SCOPE_USER_DATA, json_body("a chat's messages"))?;
            let (ndjson, lines, newest, duplicates) =
                self.message_records(config, chat, &page.chat_messages, last.as_deref())?;
            {
                let mut h = self.health.lock();
                h.duplicates_dropped += duplicates;
                h.content_records += duplicates;
            }
            let source = format!("compliance-api chat {id} messages");
            self.write_committed(&source, &ndjson, lines)?;
            if newest.is_some() {
                self.content_state()
                    .chats
                    .entry(id.clone())
                    .or_default()
                    .last_message = newest;
            }
            self.save_checkpoint()?;
            if !page.has_more || page.chat_messages.is_empty() {
                break;
            }
        }
        let deleted = self
            .content_state()
            .chats
            .get(&id)
            .is_some_and(|m| m.deleted);
        if chat["deleted_at"].is_string() && !deleted {
            let mut ndjson = Vec::new();
            let record = json!({"content_event": "claude_chat_soft_deleted", "chat": chat});
            append_line(&mut ndjson, &record.to_string());
            self.write_committed(&format!("compliance-api chat {id}"), &ndjson, 1)?;
            self.content_state().chats.entry(id).or_default().deleted = true;
            self.save_checkpoint()?;
        }
        Ok(())
    }

    /// The records of one page of messages (and of their artifacts and
    /// files): `(ndjson, lines, id of the newest message, duplicates)`.
    fn message_records(
        &mut self,
        config: &ContentPullConfig,
        chat: &Value,
        messages: &[Value],
        committed: Option<&str>,
    ) -> Result<(Vec<u8>, u64, Option<String>, u64)> {
        let mut ndjson = Vec::new();
        let (mut lines, mut duplicates) = (0u64, 0u64);
        let mut newest: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for m in messages {
            let mid = m["id"].as_str().context("a message without an id")?;
            // An overlapping page (or a repeat within one) is skipped by id.
            if Some(mid) == committed || !seen.insert(mid.to_owned()) {
                duplicates += 1;
                continue;
            }
            let record =
                json!({"content_event": "claude_chat_message", "chat": chat, "message": m});
            append_line(&mut ndjson, &record.to_string());
            lines += 1;
            let head = json!({"id": m["id"], "created_at": m["created_at"], "role": m["role"]});
            if config.has(ContentFamily::Artifacts) {
                lines += self.artifact_records(chat, &head, m, &mut ndjson)?;
            }
            if config.has(ContentFamily::Files) {
                lines += self.file_records(chat, &head, m, &mut ndjson)?;
            }
            newest = Some(mid.to_owned());
        }
        Ok((ndjson, lines, newest, duplicates))
    }

    fn artifact_records(
        &mut self,
        chat: &Value,
        head: &Value,
        message: &Value,
        out: &mut Vec<u8>,
    ) -> Result<u64> {
        let mut lines = 0;
        for artifact in message["artifacts"].as_array().into_iter().flatten() {
            let version = artifact["version_id"]
                .as_str()
                .context("an artifact without a version_id")?;
            let request = Request::Get(format!("{ARTIFACTS_PATH}/{version}/content"), Vec::new());
            let text = self.fetch_with(&request, SCOPE_USER_DATA, |r| {
                String::from_utf8(r.body.clone()).context("an artifact version that is not UTF-8")
            })?;
            let record = json!({"content_event": "claude_artifact_version", "chat": chat,
                                "message": head, "artifact": artifact, "text": text});
            append_line(out, &record.to_string());
            lines += 1;
        }
        Ok(lines)
    }

    fn file_records(
        &mut self,
        chat: &Value,
        head: &Value,
        message: &Value,
        out: &mut Vec<u8>,
    ) -> Result<u64> {
        let mut lines = 0;
        for (list, direction) in [("files", "uploaded"), ("generated_files", "generated")] {
            for file in message[list].as_array().into_iter().flatten() {
                let id = file
                    .as_str()
                    .or_else(|| file["id"].as_str())
                    .context("a file without an id")?;
                let digest = self.download_file(id)?;
                let metadata = if file.is_string() {
                    json!({"id": id})
                } else {
                    file.clone()
                };
                let record = json!({"content_event": "claude_chat_file", "chat": chat,
                                    "message": head, "file": metadata,
                                    "direction": direction, "digest": digest});
                append_line(out, &record.to_string());
                lines += 1;
            }
        }
        Ok(lines)
    }

    /// Download a file and hash it as it streams.
    fn download_file(&mut self, id: &str) -> Result<FileDigest> {
        let key = self
            .content_key
            .clone()
            .context("hashing files needs the pseudonymization key")?;
        let request = Request::Download(format!("{CHATS_PATH}/files/{id}/content"), key);
        let digest = self.fetch_with(&request, SCOPE_USER_DATA, |r| {
            r.digest.clone().context("a file answer without a digest")
        })?;
        if digest.content_md5 == "mismatch" {
            eprintln!(
                "claude-audit: pull: warning: file {id}: Content-MD5 does not match the bytes \
                 received; recorded as details.content_md5 = \"mismatch\""
            );
        }
        Ok(digest)
    }

    /// Write records through the sink and make them durable.
    fn write_committed(&mut self, source: &str, ndjson: &[u8], lines: u64) -> Result<()> {
        if lines == 0 {
            return Ok(());
        }
        let counts = self.sink.write(source, ndjson, lines)?;
        self.sink.commit()?;
        let mut h = self.health.lock();
        h.content_records += lines;
        h.emitted += counts.emitted;
        h.dead_lettered += counts.dead_lettered;
        h.filtered += counts.filtered;
        Ok(())
    }
}

/// Whether a chat passes the `user_ids` filter.
fn wanted(config: &ContentPullConfig, chat: &Value) -> bool {
    config.user_ids.is_empty()
        || chat["user"]["id"]
            .as_str()
            .is_some_and(|u| config.user_ids.iter().any(|w| w == u))
}

/// `GET` a file's content, hashing it as it streams: keyed and unkeyed
/// (`content_hash::Streaming`) and MD5, checked against `Content-MD5`
/// (RFC 1864). Only the hash states are held, never the file.
pub(super) fn download(
    client: &FeedClient,
    path: &str,
    key: &HmacKey,
) -> Result<RawResponse, ureq::Error> {
    let mut hashes = Streaming::new(key);
    let mut md5 = Md5::new();
    let (mut raw, header) = client.download(path, &mut |piece| {
        hashes.update(piece);
        md5.update(piece);
    })?;
    if (200..300).contains(&raw.status) {
        let computed = base64::engine::general_purpose::STANDARD.encode(md5.finalize());
        let content_md5 = match header {
            None => "absent",
            Some(h) if h == computed => "verified",
            Some(_) => "mismatch",
        };
        let (hmac, sha256, bytes) = hashes.finish();
        raw.digest = Some(FileDigest {
            hmac: Some(hmac),
            sha256,
            bytes,
            content_md5: content_md5.to_owned(),
        });
    }
    Ok(raw)
}
