//! The content endpoints of the fake Compliance API (SPEC §10): chats
//! listed by `updated_at` (oldest first, opaque cursors bound to the sort
//! key), a chat's messages with `after_id`, soft deletes (`deleted_at`),
//! file metadata and file content streamed in chunks with `Content-MD5`,
//! artifact version text, projects with their attachments and documents
//! (paged by `page` token), and hard deletions (a chat still listed whose
//! messages answer 404, as when the list index lags a deletion). Routed from `fake_api::respond` after
//! authentication and the shared rate-limit budget; a key without
//! `read:compliance_user_data` (an Admin key) gets 403 there.
//!
//! Files are generated, never stored: byte `i` of a file is a function of
//! `i` and the file's seed, so a 100 MiB file costs no memory.

use std::collections::HashMap;
use std::io::Read;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde_json::{Value, json};

/// The scope the content endpoints need.
pub const SCOPE_USER_DATA: &str = "read:compliance_user_data";

/// A chat the fake serves.
#[derive(Debug, Clone)]
pub struct FakeChat {
    /// The chat metadata object (`updated_at`, `deleted_at` kept current).
    pub meta: Value,
    /// `updated_at` in Unix nanoseconds (the sort key).
    updated: i128,
    /// Messages, oldest first.
    pub messages: Vec<Value>,
    /// Hard-deleted but still listed: its messages answer 404.
    pub gone: bool,
}

/// A project the fake serves.
#[derive(Debug, Clone)]
pub struct FakeProject {
    /// The project object of the list.
    pub meta: Value,
    /// Attachments `{type, id, created_at, filename, mime_type}`, oldest first.
    pub attachments: Vec<Value>,
}

/// A generated file.
#[derive(Debug, Clone)]
pub struct FakeFile {
    /// Length in bytes.
    pub size: u64,
    /// Varies the bytes.
    pub seed: u8,
    /// Send a wrong `Content-MD5`.
    pub corrupt_md5: bool,
    md5: Option<String>,
}

/// Byte `i` of a generated file.
pub fn file_byte(seed: u8, i: u64) -> u8 {
    (i.wrapping_mul(31).wrapping_add(i >> 13) as u8) ^ seed
}

/// The content the fake holds.
#[derive(Debug, Default)]
pub struct ContentStore {
    /// Chats by id.
    pub chats: Vec<FakeChat>,
    /// Files by id.
    pub files: HashMap<String, FakeFile>,
    /// Artifact version texts by version id.
    pub artifacts: HashMap<String, String>,
    /// Projects, in creation order.
    pub projects: Vec<FakeProject>,
    /// Project documents by id: `{id, filename, content, created_at, user}`.
    pub documents: HashMap<String, Value>,
    /// Timestamp clock for updates (Unix seconds).
    clock: i64,
}

fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

impl ContentStore {
    fn tick(&mut self) -> i64 {
        if self.clock == 0 {
            self.clock = 1_790_000_000; // 2026-09-21
        }
        self.clock += 1;
        self.clock
    }

    /// Add a chat with `messages` messages (alternating user/assistant;
    /// message text is `text(i)`), owned by `user`, in `org`.
    pub fn add_chat(
        &mut self,
        id: &str,
        org: &str,
        user: &str,
        messages: usize,
        text: impl Fn(usize) -> String,
    ) {
        let t = self.tick();
        let meta = json!({
            "id": id, "name": format!("chat {id}"), "created_at": rfc3339(t),
            "updated_at": rfc3339(t), "deleted_at": null,
            "href": format!("https://claude.ai/chat/{id}"), "model": "claude-opus-4-5",
            "organization_uuid": "8f3c0000-0000-4000-8000-000000000001",
            "organization_id": org, "project_id": null,
            "user": {"id": user, "email_address": format!("{user}@example.com")},
        });
        self.chats.push(FakeChat {
            meta,
            updated: i128::from(t) * 1_000_000_000,
            messages: Vec::new(),
            gone: false,
        });
        self.add_messages(id, messages, text);
    }

    /// Append `n` messages to a chat (moves its `updated_at`).
    pub fn add_messages(&mut self, id: &str, n: usize, text: impl Fn(usize) -> String) {
        let t = self.tick();
        let chat = self.chat_mut(id);
        let start = chat.messages.len();
        for i in start..start + n {
            let role = if i % 2 == 0 { "user" } else { "assistant" };
            chat.messages.push(json!({
                "id": format!("claude_chat_msg_{id}_{i:06}"), "role": role,
                "created_at": rfc3339(t), "content": [{"type": "text", "text": text(i)}],
                "files": [], "generated_files": [], "artifacts": [],
            }));
        }
        touch(chat, t);
    }

    /// Attach a generated file to message `index` of a chat.
    pub fn attach_file(&mut self, chat: &str, index: usize, id: &str, size: u64, corrupt: bool) {
        let seed = self.files.len() as u8 + 1;
        let md5 = (!corrupt).then(|| {
            let mut h = Md5::new();
            let mut buf = vec![0u8; 1 << 16];
            let mut at = 0u64;
            while at < size {
                let n = (size - at).min(buf.len() as u64) as usize;
                for (k, b) in buf[..n].iter_mut().enumerate() {
                    *b = file_byte(seed, at + k as u64);
                }
                h.update(&buf[..n]);
                at += n as u64;
            }
            base64::engine::general_purpose::STANDARD.encode(h.finalize())
        });
        self.files.insert(
            id.to_owned(),
            FakeFile {
                size,
                seed,
                corrupt_md5: corrupt,
                md5,
            },
        );
        let message = &mut self.chat_mut(chat).messages[index];
        message["files"]
            .as_array_mut()
            .expect("files")
            .push(json!({"id": id, "filename": "scan.pdf"}));
    }

    /// Attach an artifact version with `text` to message `index`.
    pub fn attach_artifact(&mut self, chat: &str, index: usize, version: &str, text: &str) {
        self.artifacts.insert(version.to_owned(), text.to_owned());
        let message = &mut self.chat_mut(chat).messages[index];
        message["artifacts"]
            .as_array_mut()
            .expect("artifacts")
            .push(json!({
                "id": format!("claude_artifact_{version}"), "version_id": version,
                "title": "Plan", "artifact_type": "text/markdown",
            }));
    }

    /// Soft-delete a chat (sets `deleted_at`, moves `updated_at`).
    pub fn soft_delete(&mut self, id: &str) {
        let t = self.tick();
        let chat = self.chat_mut(id);
        chat.meta["deleted_at"] = rfc3339(t).into();
        touch(chat, t);
    }

    /// Hard-delete a chat whose deletion the list has not caught up with:
    /// still listed, its messages answer 404.
    pub fn hard_delete_listed(&mut self, id: &str) {
        self.chat_mut(id).gone = true;
    }

    /// Add a project owned by `user` in `org`.
    pub fn add_project(&mut self, id: &str, org: &str, user: &str) {
        let t = rfc3339(self.tick());
        self.projects.push(FakeProject {
            meta: json!({"id": id, "name": format!("project {id}"), "created_at": t,
                         "updated_at": t, "is_private": true, "organization_id": org,
                         "user": {"id": user, "email_address": format!("{user}@example.com")}}),
            attachments: Vec::new(),
        });
    }

    /// Add a text document to a project (moves its `updated_at`), and a
    /// binary project file beside it every other time.
    pub fn add_document(&mut self, project: &str, id: &str, text: &str) {
        let t = rfc3339(self.tick());
        let p = self
            .projects
            .iter_mut()
            .find(|p| p.meta["id"] == project)
            .expect("known project");
        let user = p.meta["user"].clone();
        p.meta["updated_at"] = t.clone().into();
        p.attachments
            .push(json!({"type": "project_doc", "id": id, "created_at": t,
                                  "filename": format!("{id}.txt"), "mime_type": "text/plain"}));
        if p.attachments.len() % 3 == 1 {
            p.attachments.push(
                json!({"type": "project_file", "id": format!("claude_file_{id}"),
                                      "created_at": t, "filename": "scan.pdf",
                                      "mime_type": "application/pdf"}),
            );
        }
        self.documents.insert(
            id.to_owned(),
            json!({"id": id, "filename": format!("{id}.txt"), "content": text,
                   "created_at": t, "user": {"id": user["id"], "email": user["email_address"]}}),
        );
    }

    fn chat_mut(&mut self, id: &str) -> &mut FakeChat {
        self.chats
            .iter_mut()
            .find(|c| c.meta["id"] == id)
            .expect("known chat")
    }
}

fn touch(chat: &mut FakeChat, t: i64) {
    chat.meta["updated_at"] = rfc3339(t).into();
    chat.updated = i128::from(t) * 1_000_000_000;
}

/// What a content request answers: JSON, or a streamed file.
pub enum ContentAnswer {
    /// Status and JSON body (or an error fixture name for `Err`).
    Json(u16, Value),
    /// 404 with this error fixture.
    NotFound(&'static str),
    /// 200 with a body streamed in chunks of unknown total length.
    Stream {
        /// Response headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: Box<dyn Read + Send>,
    },
    /// 200 text/plain.
    Text(String),
}

/// Route one content request (`path` under `/v1/compliance/apps/`).
pub fn respond(store: &ContentStore, path: &str, params: &[(String, String)]) -> ContentAnswer {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["chats"] => list_chats(store, params),
        ["chats", "files", id, "content"] => file_content(store, id),
        ["chats", "files", id] => match store.files.get(*id) {
            Some(f) => ContentAnswer::Json(
                200,
                json!({"id": id, "filename": "scan.pdf", "mime_type": "application/pdf",
                       "size_bytes": f.size, "created_at": rfc3339(1_790_000_000)}),
            ),
            None => ContentAnswer::NotFound("404-file-not-found.json"),
        },
        ["chats", id, "messages"] => messages(store, id, params),
        ["projects"] => token_page(
            &store
                .projects
                .iter()
                .map(|p| p.meta.clone())
                .collect::<Vec<_>>(),
            params,
        ),
        ["projects", "documents", id] => match store.documents.get(*id) {
            Some(d) => ContentAnswer::Json(200, d.clone()),
            None => ContentAnswer::NotFound("404-chat-not-found.json"),
        },
        ["projects", id, "attachments"] => {
            match store.projects.iter().find(|p| p.meta["id"] == *id) {
                Some(p) => token_page(&p.attachments, params),
                None => ContentAnswer::NotFound("404-chat-not-found.json"),
            }
        }
        ["artifacts", version, "content"] => match store.artifacts.get(*version) {
            Some(text) => ContentAnswer::Text(text.clone()),
            None => ContentAnswer::NotFound("404-file-not-found.json"),
        },
        _ => ContentAnswer::NotFound("404-chat-not-found.json"),
    }
}

fn invalid(message: &str) -> ContentAnswer {
    ContentAnswer::Json(
        400,
        json!({"error": {"type": "invalid_request_error", "message": message}}),
    )
}

/// Chat cursors name their sort key, so that one used under another
/// `order_by` is refused (SPEC §8, §10).
fn chat_cursor(order_by: &str, chat: &FakeChat) -> String {
    let key = if order_by == "updated_at" {
        chat.updated
    } else {
        0
    };
    format!(
        "chatcur_{order_by}_{key}_{}",
        chat.meta["id"].as_str().unwrap_or("")
    )
}

fn list_chats(store: &ContentStore, params: &[(String, String)]) -> ContentAnswer {
    let one = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let order_by = one("order_by").unwrap_or("created_at");
    if order_by != "updated_at" && order_by != "created_at" {
        return invalid("order_by must be created_at or updated_at");
    }
    let users: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "user_ids[]")
        .map(|(_, v)| v.as_str())
        .collect();
    if order_by == "updated_at" && !users.is_empty() {
        return invalid("user_ids cannot be combined with order_by=updated_at");
    }
    let orgs: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "organization_ids[]")
        .map(|(_, v)| v.as_str())
        .collect();
    let limit = match one("limit").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        _ => return invalid("The limit parameter must be between 1 and 1000, inclusive."),
    };
    let key = |c: &FakeChat| -> (i128, String) {
        let t = if order_by == "updated_at" {
            c.updated
        } else {
            0
        };
        (t, c.meta["id"].as_str().unwrap_or("").to_owned())
    };
    let mut chats: Vec<&FakeChat> = store
        .chats
        .iter()
        .filter(|c| orgs.is_empty() || orgs.iter().any(|o| c.meta["organization_id"] == *o))
        .filter(|c| users.is_empty() || users.iter().any(|u| c.meta["user"]["id"] == *u))
        .collect();
    // Time bounds must match the sort key (SPEC §8).
    let other = if order_by == "updated_at" {
        "created_at"
    } else {
        "updated_at"
    };
    if params
        .iter()
        .any(|(k, _)| k.starts_with(&format!("{other}.")))
    {
        return invalid("time bounds must match the sort key");
    }
    let bound = |name: &str, default: i128| one(name).map_or(Ok(default), nanos);
    let (Ok(gte), Ok(lte)) = (
        bound("updated_at.gte", i128::MIN),
        bound("updated_at.lte", i128::MAX),
    ) else {
        return invalid("Invalid `updated_at` bound.");
    };
    chats.retain(|c| (gte..=lte).contains(&c.updated));
    chats.sort_by_key(|c| key(c));
    if let Some(after) = one("after_id") {
        let Some(rest) = after.strip_prefix(&format!("chatcur_{order_by}_")) else {
            return invalid("Invalid `after_id`: the cursor belongs to another order_by.");
        };
        let Some((t, id)) = rest.split_once('_') else {
            return invalid("Invalid `after_id`.");
        };
        let Ok(t) = t.parse::<i128>() else {
            return invalid("Invalid `after_id`.");
        };
        let cursor = (t, id.to_owned());
        chats.retain(|c| key(c) > cursor);
    }
    let has_more = chats.len() > limit;
    chats.truncate(limit);
    ContentAnswer::Json(
        200,
        json!({
            "data": chats.iter().map(|c| c.meta.clone()).collect::<Vec<_>>(),
            "has_more": has_more,
            "first_id": chats.first().map(|c| chat_cursor(order_by, c)),
            "last_id": chats.last().map(|c| chat_cursor(order_by, c)),
        }),
    )
}

fn messages(store: &ContentStore, id: &str, params: &[(String, String)]) -> ContentAnswer {
    let one = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(chat) = store.chats.iter().find(|c| c.meta["id"] == id && !c.gone) else {
        return ContentAnswer::NotFound("404-chat-not-found.json");
    };
    let start = match one("after_id") {
        None => 0,
        Some(after) => match chat.messages.iter().position(|m| m["id"] == after) {
            Some(i) => i + 1,
            None => return invalid("Invalid `after_id`. No message found."),
        },
    };
    let limit = match one("limit").map(str::parse::<usize>) {
        None => usize::MAX,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        _ => return invalid("The limit parameter must be between 1 and 1000, inclusive."),
    };
    let Ok(from) = one("created_at.gte").map_or(Ok(i128::MIN), nanos) else {
        return invalid("Invalid `created_at.gte`.");
    };
    let rest: Vec<&Value> = chat.messages[start.min(chat.messages.len())..]
        .iter()
        .filter(|m| nanos(m["created_at"].as_str().unwrap_or("")).is_ok_and(|t| t >= from))
        .collect();
    let page = &rest[..rest.len().min(limit)];
    let mut body = chat.meta.clone();
    body["chat_messages"] = Value::Array(page.iter().map(|m| (*m).clone()).collect());
    body["has_more"] = (rest.len() > page.len()).into();
    body["last_id"] = json!(page.last().map(|m| m["id"].clone()));
    ContentAnswer::Json(200, body)
}

/// An RFC 3339 time as Unix nanoseconds.
fn nanos(text: &str) -> Result<i128, ()> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(time::OffsetDateTime::unix_timestamp_nanos)
        .map_err(|_| ())
}

/// A list paged by `page` token (`next_page`, null on the last page);
/// `limit` default 20, max 100 (SPEC §10).
fn token_page(items: &[Value], params: &[(String, String)]) -> ContentAnswer {
    let one = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let limit = match one("limit").map(str::parse::<usize>) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        _ => return invalid("The limit parameter must be between 1 and 100, inclusive."),
    };
    let start = match one("page").map(|p| p.strip_prefix("pagetok_").map(str::parse::<usize>)) {
        None => 0,
        Some(Some(Ok(n))) => n,
        _ => return invalid("Invalid `page`."),
    };
    let end = items.len().min(start + limit);
    let next = (end < items.len()).then(|| format!("pagetok_{end}"));
    ContentAnswer::Json(
        200,
        json!({"data": items[start.min(end)..end].to_vec(), "next_page": next}),
    )
}

/// A generated file as a reader.
struct FileReader {
    seed: u8,
    at: u64,
    size: u64,
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.size - self.at).min(buf.len() as u64) as usize;
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = file_byte(self.seed, self.at + k as u64);
        }
        self.at += n as u64;
        Ok(n)
    }
}

fn file_content(store: &ContentStore, id: &str) -> ContentAnswer {
    let Some(f) = store.files.get(id) else {
        return ContentAnswer::NotFound("404-file-not-found.json");
    };
    let md5 = match (&f.md5, f.corrupt_md5) {
        (Some(m), false) => m.clone(),
        _ => "AAAAAAAAAAAAAAAAAAAAAA==".to_owned(),
    };
    ContentAnswer::Stream {
        headers: vec![
            ("content-type".into(), "application/pdf".into()),
            (
                "content-disposition".into(),
                "attachment; filename*=utf-8''scan.pdf".into(),
            ),
            ("content-md5".into(), md5),
        ],
        body: Box::new(FileReader {
            seed: f.seed,
            at: 0,
            size: f.size,
        }),
    }
}
