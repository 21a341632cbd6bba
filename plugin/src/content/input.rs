//! The content records `claude-audit pull` hands to the plugin: one NDJSON
//! line per content event, wrapping the Compliance API's own objects (SPEC
//! §10) as received. Only documented fields are read; anything else in
//! them is ignored on purpose, because an unknown field of a message may
//! hold conversation text that no policy was written for.

use serde::Deserialize;

/// The discriminating top-level key of a content record.
pub const DISCRIMINANT: &str = "content_event";

/// One content record.
#[derive(Debug, Deserialize)]
pub struct ContentRecord {
    /// The event type to emit (`claude_chat_message`, ...).
    pub content_event: String,
    /// The chat (messages, artifacts, files, deletions).
    #[serde(default)]
    pub chat: Option<Chat>,
    /// The message (messages; the message an artifact or file belongs to).
    #[serde(default)]
    pub message: Option<Message>,
    /// The artifact version (artifact events).
    #[serde(default)]
    pub artifact: Option<Artifact>,
    /// The artifact version's text, when it was fetched.
    #[serde(default)]
    pub text: Option<String>,
    /// The file's metadata (file events).
    #[serde(default)]
    pub file: Option<serde_json::Value>,
    /// `uploaded` (a message's `files[]`) or `generated` (`generated_files[]`).
    #[serde(default)]
    pub direction: Option<String>,
    /// `not_found`: the artifact version or file answered 404 (no text,
    /// no digest).
    #[serde(default)]
    pub status: Option<String>,
    /// When `pull` found a listed chat gone (hard deletions).
    #[serde(default)]
    pub observed_at: Option<String>,
    /// The host's streaming digest of the file's bytes.
    #[serde(default)]
    pub digest: Option<FileDigest>,
    /// The project (documents).
    #[serde(default)]
    pub project: Option<Project>,
    /// The project document (documents).
    #[serde(default)]
    pub document: Option<Document>,
}

/// A user reference `{id, email_address}` (chats) or `{id, email}`.
#[derive(Debug, Default, Deserialize)]
pub struct UserRef {
    /// `user_...`.
    #[serde(default)]
    pub id: Option<String>,
    /// The user's address.
    #[serde(default, alias = "email")]
    pub email_address: Option<String>,
}

/// Chat metadata (`GET /v1/compliance/apps/chats`).
#[derive(Debug, Deserialize)]
pub struct Chat {
    /// `claude_chat_...`.
    pub id: String,
    /// The chat's title.
    #[serde(default)]
    pub name: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Set when the user soft-deleted the chat.
    #[serde(default)]
    pub deleted_at: Option<String>,
    /// The model that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// The organization's UUID.
    #[serde(default)]
    pub organization_uuid: Option<String>,
    /// `org_...` (deprecated by the API, still sent).
    #[serde(default)]
    pub organization_id: Option<String>,
    /// `claude_proj_...`.
    #[serde(default)]
    pub project_id: Option<String>,
    /// The owner.
    #[serde(default)]
    pub user: Option<UserRef>,
}

/// One chat message.
#[derive(Debug, Deserialize)]
pub struct Message {
    /// `claude_chat_msg_...`.
    pub id: String,
    /// `user` or `assistant`.
    #[serde(default)]
    pub role: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Content blocks; the `text` of `type: text` blocks is the message text.
    #[serde(default)]
    pub content: Vec<Block>,
    /// Attached files (ids or objects with an `id`).
    #[serde(default)]
    pub files: Vec<serde_json::Value>,
    /// Files the model generated.
    #[serde(default)]
    pub generated_files: Vec<serde_json::Value>,
    /// Artifact versions created by the message.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
}

/// A content block.
#[derive(Debug, Deserialize)]
pub struct Block {
    /// `text`, or another kind (counted, not read).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The text of a text block.
    #[serde(default)]
    pub text: Option<String>,
}

/// An artifact version reference.
#[derive(Debug, Deserialize)]
pub struct Artifact {
    /// `claude_artifact_...`.
    pub id: String,
    /// `claude_artifact_version_...`: the event id.
    pub version_id: String,
    /// Title (free text: scanned).
    #[serde(default)]
    pub title: Option<String>,
    /// Kind (`text/markdown`, `application/vnd.ant.code`...).
    #[serde(default)]
    pub artifact_type: Option<String>,
}

/// What the host measured of a downloaded file.
#[derive(Debug, Deserialize)]
pub struct FileDigest {
    /// Keyed hash of the bytes (`content_hash::Streaming`).
    pub hmac: Option<String>,
    /// Unkeyed SHA-256 of the bytes.
    pub sha256: String,
    /// Length in bytes.
    pub bytes: u64,
    /// `verified`, `mismatch` or `absent` (no `Content-MD5` header).
    pub content_md5: String,
}

/// Project metadata.
#[derive(Debug, Deserialize)]
pub struct Project {
    /// `claude_proj_...`.
    pub id: String,
    /// `org_...`.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// The owner, or null.
    #[serde(default)]
    pub user: Option<UserRef>,
}

/// A project document (`GET .../projects/documents/{id}`).
#[derive(Debug, Deserialize)]
pub struct Document {
    /// `claude_proj_doc_...`.
    pub id: String,
    /// File name (free text: scanned).
    #[serde(default)]
    pub filename: Option<String>,
    /// The document's text.
    #[serde(default)]
    pub content: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Who uploaded it.
    #[serde(default)]
    pub user: Option<UserRef>,
}

/// The id of an attachment given as a string or as an object with `id`.
pub fn attachment_id(value: &serde_json::Value) -> Option<&str> {
    value
        .as_str()
        .or_else(|| value.get("id").and_then(serde_json::Value::as_str))
        .or_else(|| value.get("file_id").and_then(serde_json::Value::as_str))
}

impl Message {
    /// The message text: the `text` of its text blocks, concatenated in
    /// order with nothing between them (the hashed form; README).
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter(|b| b.kind == "text")
            .filter_map(|b| b.text.as_deref())
            .collect()
    }

    /// Blocks that are not text (images, tool use...): counted only.
    pub fn other_blocks(&self) -> usize {
        self.content.iter().filter(|b| b.kind != "text").count()
    }
}
