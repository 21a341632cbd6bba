//! The content walk of `claude-audit pull` (`[pull.content]`, SPEC §10):
//! after each Activity Feed poll, chats are listed by `updated_at` from the
//! saved cursor (the cursor is bound to that sort key), then the overlap
//! window behind the newest chat committed is listed again (a chat indexed
//! late, behind the cursor), and each changed chat has its messages read
//! from the last one already written. Artifact versions and chat files
//! named by those messages are fetched and hashed; a soft-deleted chat
//! becomes an event of its own, and so does a listed chat whose messages
//! answer 404 (hard-deleted). Projects are walked by `projects`.
//!
//! Same guarantees as the feed walk, with the same machinery: one request
//! at a time through `Poller::fetch_with` (one pace and rate-limit budget,
//! the same retries), every page of messages written, flushed and fsynced
//! before the checkpoint (chat cursor and per-chat mark) moves, so a crash
//! at any point re-reads exactly what was not committed. Messages are
//! de-duplicated by id against the chat's committed position. The
//! per-chat marks are bounded by the overlap window
//! (`ContentCheckpoint::prune`): a chat whose mark was pruned is read only
//! from the floor the pruning left, so it re-emits nothing.
//!
//! Not owned here: turning the records into events (the plugin's
//! `content` module). The records written to the plugin wrap the API's
//! objects: `{"content_event": <type>, "chat": {...}, "message": {...}}`.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde::Deserialize;
use serde_json::{Value, json};

use super::checkpoint::{ChatMark, ContentCheckpoint};
use super::client::{FeedClient, FileDigest, RawResponse};
use super::config::{ContentFamily, ContentPullConfig};
use super::retry::StopReason;
use super::time::{Nanos, format_rfc3339, parse_rfc3339};
use super::{ApiStop, Poller, Request, Walk, append_line};
use claude_audit_plugin::HmacKey;
use claude_audit_plugin::content_hash::Streaming;

/// The scope of every content endpoint; Admin keys never have it.
pub(super) const SCOPE_USER_DATA: &str = "read:compliance_user_data";
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
    /// Walk the chats changed since the saved cursor to the end, re-read
    /// the overlap window behind them, then the projects.
    pub(super) fn walk_content(&mut self) -> Result<()> {
        let Some(config) = self.config.content.clone() else {
            return Ok(());
        };
        if config.has(ContentFamily::Chats) {
            self.walk_chats(&config, Walk::Forward)?;
            self.walk_chats(&config, Walk::Overlap)?;
        }
        if config.has(ContentFamily::Projects) {
            self.walk_projects(&config)?;
        }
        Ok(())
    }

    /// The overlap window, in nanoseconds.
    pub(super) fn overlap_nanos(&self) -> Nanos {
        Nanos::from(self.config.overlap_secs) * 1_000_000_000
    }

    /// One pass over the chat list by `updated_at`: forward from the saved
    /// cursor, or over the overlap window behind the newest chat committed
    /// (a chat indexed late, behind the cursor, is found there).
    fn walk_chats(&mut self, config: &ContentPullConfig, walk: Walk) -> Result<()> {
        let window = match (walk, self.content_state().chats_high_water) {
            (Walk::Forward, _) => None,
            (Walk::Overlap, Some(high)) => Some((high - self.overlap_nanos(), high)),
            (Walk::Overlap, None) => return Ok(()),
        };
        let mut after = match walk {
            Walk::Forward => self.content_state().chats_cursor.clone(),
            Walk::Overlap => None,
        };
        loop {
            let mut params = vec![
                ("order_by".to_owned(), "updated_at".to_owned()),
                ("limit".to_owned(), config.chat_page_size.to_string()),
            ];
            for org in &config.organization_ids {
                params.push(("organization_ids[]".to_owned(), org.clone()));
            }
            // Bounds must match the sort key (SPEC §8).
            if let Some((from, to)) = window {
                params.push(("updated_at.gte".to_owned(), format_rfc3339(from)));
                params.push(("updated_at.lte".to_owned(), format_rfc3339(to)));
            }
            if let Some(cursor) = &after {
                params.push(("after_id".to_owned(), cursor.clone()));
            }
            let request = Request::Get(CHATS_PATH.to_owned(), params);
            let page: ChatPage =
                self.fetch_with(&request, SCOPE_USER_DATA, json_body("a chat list"))?;
            for chat in &page.data {
                if wanted(config, chat) {
                    self.content_chat(config, chat)?;
                }
            }
            if let Some(last) = &page.last_id {
                after = Some(last.clone());
                if walk == Walk::Forward {
                    self.content_state().chats_cursor = Some(last.clone());
                }
                self.save_checkpoint()?;
            }
            match (page.has_more, &page.last_id) {
                // Only after a complete forward walk: every chat created
                // before the new floor has then been listed at least once.
                (false, _) if walk == Walk::Forward => {
                    self.prune_chat_marks();
                    return self.save_checkpoint();
                }
                (false, _) => return Ok(()),
                (true, None) => bail!("the chat list said has_more: true but gave no last_id"),
                (true, Some(_)) => {}
            }
        }
    }

    /// Bound the chat marks (`ContentCheckpoint::prune`).
    fn prune_chat_marks(&mut self) {
        let (overlap, max) = (self.overlap_nanos(), self.config.max_recent_ids);
        let evicted = self.content_state().prune(overlap, max);
        if evicted > 0 {
            self.health.lock().dedupe_evictions += evicted as u64;
            eprintln!(
                "claude-audit: pull: warning: more than {max} chats updated inside the overlap \
                 window; forgot the marks of the {evicted} least recently updated (raise \
                 pull.max_recent_ids or lower pull.overlap_secs)"
            );
        }
    }

    /// The content checkpoint, created on first use.
    pub(super) fn content_state(&mut self) -> &mut ContentCheckpoint {
        self.checkpoint.content.get_or_insert_with(Default::default)
    }

    /// Write one chat's new messages (page by page, each committed), then
    /// its soft deletion if it has one not yet written; a chat whose
    /// messages answer 404 is hard-deleted. A chat listed with the same
    /// `updated_at` as committed, or pruned and not updated since, is
    /// skipped without a request.
    fn content_chat(&mut self, config: &ContentPullConfig, chat: &Value) -> Result<()> {
        let id = chat["id"]
            .as_str()
            .context("the chat list holds a chat without an id")?
            .to_owned();
        let updated = nanos(&chat["updated_at"]);
        let state = self.content_state();
        let pruned_before = state.pruned_before;
        let mark = state.chats.get(&id).cloned();
        let floor = match &mark {
            Some(m) if m.gone || (m.updated_at.is_some() && m.updated_at == updated) => {
                return Ok(());
            }
            Some(_) => None,
            None if updated.zip(pruned_before).is_some_and(|(u, p)| u < p) => return Ok(()),
            // Created before the floor: listed before, its mark pruned,
            // what was committed of it is older than the floor. Created
            // since (or of unknown age): read whole.
            None => pruned_before.filter(|p| nanos(&chat["created_at"]).is_some_and(|c| c < *p)),
        };
        if self.chat_messages(config, chat, &id, floor)? {
            self.chat_soft_deleted(chat, &id, floor)?;
        } else {
            self.chat_gone(chat, &id)?;
        }
        let state = self.content_state();
        state.chats.entry(id).or_default().updated_at = updated;
        if let Some(u) = updated {
            state.chats_high_water = Some(state.chats_high_water.map_or(u, |h| h.max(u)));
        }
        self.save_checkpoint()
    }

    /// Write a chat's messages after its mark (or created from `floor`),
    /// page by page; `false` when the chat answered 404.
    fn chat_messages(
        &mut self,
        config: &ContentPullConfig,
        chat: &Value,
        id: &str,
        floor: Option<Nanos>,
    ) -> Result<bool> {
        loop {
            let last = self
                .content_state()
                .chats
                .get(id)
                .and_then(|m| m.last_message.clone());
            let mut params = vec![("limit".to_owned(), config.message_page_size.to_string())];
            if let Some(after) = &last {
                params.push(("after_id".to_owned(), after.clone()));
            }
            if let Some(floor) = floor {
                params.push(("created_at.gte".to_owned(), format_rfc3339(floor)));
            }
            let request = Request::Get(format!("{CHATS_PATH}/{id}/messages"), params);
            let Some(page) =
                self.fetch_unless_gone(&request, json_body::<MessagePage>("a chat's messages"))?
            else {
                return Ok(false);
            };
            let mark = Committed {
                last: last.as_deref(),
                floor,
            };
            let (ndjson, lines, newest, duplicates) =
                self.message_records(config, chat, &page.chat_messages, mark)?;
            {
                let mut h = self.health.lock();
                h.duplicates_dropped += duplicates;
                h.content_records += duplicates;
            }
            let source = format!("compliance-api chat {id} messages");
            self.write_committed(&source, &ndjson, lines)?;
            if newest.is_some() {
                let state = self.content_state();
                state.chats.entry(id.to_owned()).or_default().last_message = newest;
            }
            self.save_checkpoint()?;
            if !page.has_more || page.chat_messages.is_empty() {
                return Ok(true);
            }
        }
    }

    /// A chat with `deleted_at` gives one `claude_chat_soft_deleted` event.
    fn chat_soft_deleted(&mut self, chat: &Value, id: &str, floor: Option<Nanos>) -> Result<()> {
        let written = self
            .content_state()
            .chats
            .get(id)
            .is_some_and(|m| m.deleted);
        if !chat["deleted_at"].is_string() {
            return Ok(());
        }
        // A pruned chat's deletion older than the floor was written then.
        let before_floor = floor
            .zip(nanos(&chat["deleted_at"]))
            .is_some_and(|(f, d)| d < f);
        if written || before_floor {
            return Ok(());
        }
        let record = json!({"content_event": "claude_chat_soft_deleted", "chat": chat});
        self.write_chat_event(id, &record, |m| m.deleted = true)
    }

    /// A listed chat whose messages answer 404 was deleted for good (by
    /// the Compliance API or by retention) after the list was indexed: one
    /// `claude_chat_hard_deleted` event, observed now, then never again.
    fn chat_gone(&mut self, chat: &Value, id: &str) -> Result<()> {
        let observed = format_rfc3339(super::time::now());
        let record = json!({"content_event": "claude_chat_hard_deleted", "chat": chat,
                            "observed_at": observed});
        self.write_chat_event(id, &record, |m| m.gone = true)
    }

    /// Write a chat's event, then record it in the chat's mark, durably.
    fn write_chat_event(
        &mut self,
        id: &str,
        record: &Value,
        written: impl FnOnce(&mut ChatMark),
    ) -> Result<()> {
        self.write_one(&format!("compliance-api chat {id}"), record)?;
        written(self.content_state().chats.entry(id.to_owned()).or_default());
        self.save_checkpoint()
    }

    /// `fetch_with` for an object that may have been deleted: 404 is
    /// `None`, not a stop.
    pub(super) fn fetch_unless_gone<T>(
        &mut self,
        request: &Request,
        parse: impl Fn(&RawResponse) -> Result<T>,
    ) -> Result<Option<T>> {
        match self.fetch_with(request, SCOPE_USER_DATA, parse) {
            Ok(v) => Ok(Some(v)),
            Err(e)
                if e.downcast_ref::<ApiStop>().is_some_and(|s| {
                    matches!(s.reason, StopReason::Rejected { status: 404, .. })
                }) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Write one record and make it durable.
    pub(super) fn write_one(&mut self, source: &str, record: &Value) -> Result<()> {
        let mut ndjson = Vec::new();
        append_line(&mut ndjson, &record.to_string());
        self.write_committed(source, &ndjson, 1)
    }

    /// The records of one page of messages (and of their artifacts and
    /// files): `(ndjson, lines, id of the newest message, duplicates)`.
    fn message_records(
        &mut self,
        config: &ContentPullConfig,
        chat: &Value,
        messages: &[Value],
        committed: Committed<'_>,
    ) -> Result<(Vec<u8>, u64, Option<String>, u64)> {
        let mut ndjson = Vec::new();
        let (mut lines, mut duplicates) = (0u64, 0u64);
        let mut newest: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for m in messages {
            let mid = m["id"].as_str().context("a message without an id")?;
            // An overlapping page (or a repeat within one) is skipped by
            // id; a pruned chat's messages from before the floor by time.
            let old = committed
                .floor
                .zip(nanos(&m["created_at"]))
                .is_some_and(|(f, t)| t < f);
            if old || Some(mid) == committed.last || !seen.insert(mid.to_owned()) {
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
            let text = self.fetch_unless_gone(&request, |r| {
                String::from_utf8(r.body.clone()).context("an artifact version that is not UTF-8")
            })?;
            let mut record = json!({"content_event": "claude_artifact_version", "chat": chat,
                                    "message": head, "artifact": artifact, "text": text});
            if text.is_none() {
                record["status"] = NOT_FOUND.into();
            }
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
                let mut record = json!({"content_event": "claude_chat_file", "chat": chat,
                                        "message": head, "file": metadata,
                                        "direction": direction, "digest": digest});
                if digest.is_none() {
                    record["status"] = NOT_FOUND.into();
                }
                append_line(out, &record.to_string());
                lines += 1;
            }
        }
        Ok(lines)
    }

    /// Download a file and hash it as it streams; `None` when it was
    /// deleted since the message listed it (404).
    fn download_file(&mut self, id: &str) -> Result<Option<FileDigest>> {
        let key = self
            .content_key
            .clone()
            .context("hashing files needs the pseudonymization key")?;
        let request = Request::Download(format!("{CHATS_PATH}/files/{id}/content"), key);
        let digest = self.fetch_unless_gone(&request, |r| {
            r.digest.clone().context("a file answer without a digest")
        })?;
        if digest.as_ref().is_some_and(|d| d.content_md5 == "mismatch") {
            eprintln!(
                "claude-audit: pull: warning: file {id}: Content-MD5 does not match the bytes \
                 received; recorded as details.content_md5 = \"mismatch\""
            );
        }
        Ok(digest)
    }

    /// Write records through the sink and make them durable.
    pub(super) fn write_committed(
        &mut self,
        source: &str,
        ndjson: &[u8],
        lines: u64,
    ) -> Result<()> {
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

/// What of a chat is already committed: its last message, and for a
/// chat whose mark was pruned, the time before which every message was.
#[derive(Clone, Copy)]
struct Committed<'a> {
    last: Option<&'a str>,
    floor: Option<Nanos>,
}

/// `details.content_status` of an artifact or file deleted between the
/// message listing it and its download.
const NOT_FOUND: &str = "not_found";

/// An RFC 3339 field as Unix nanoseconds.
pub(super) fn nanos(value: &Value) -> Option<Nanos> {
    value.as_str().and_then(|t| parse_rfc3339(t).ok())
}

/// Whether a chat (or project) passes the `user_ids` filter.
pub(super) fn wanted(config: &ContentPullConfig, chat: &Value) -> bool {
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
