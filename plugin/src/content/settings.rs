//! `[content]`: what happens to conversation text (chat messages, artifact
//! versions, project documents; Claude Code prompts read the same table).
//!
//! Secure by default: the text is dropped, only its hashes, lengths and the
//! detectors' findings are written. `redact` writes it with every detected
//! value replaced. `keep` writes it verbatim, and is accepted only per field
//! and only when the operator declares the destination restricted.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{ConfigError, ConfigErrorKind};

/// What to do with a piece of conversation text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentPolicy {
    /// Leave the text out (hashes, lengths and findings only). The default.
    #[default]
    Drop,
    /// Write it with every detected value replaced per `[plugin.redaction]`.
    Redact,
    /// Write it verbatim (still scanned: flags and data classes are set).
    Keep,
}

/// The kinds of text a content event can carry, named in `fields`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentField {
    /// The text of a chat message (`details.content`).
    Message,
    /// The text of an artifact version.
    Artifact,
    /// The text of a project document.
    Document,
    /// A chat's name (its title), free text typed or generated.
    ChatName,
    /// Claude Code's prompt and response texts and raw API bodies
    /// (`claude_code.user_prompt`, `api_request_body`, `api_response_body`).
    Prompt,
}

impl ContentField {
    /// The field's name in `[content] fields` and in the event.
    pub fn name(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Artifact => "artifact",
            Self::Document => "document",
            Self::ChatName => "chat_name",
            Self::Prompt => "prompt",
        }
    }
}

/// The `[content]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentSettings {
    /// Policy for every field not named in `fields`: `drop` (default) or
    /// `redact`. `keep` is refused here: it must be chosen field by field.
    #[serde(default)]
    pub policy: ContentPolicy,
    /// Per-field policy, e.g. `{ message = "keep" }`.
    #[serde(default)]
    pub fields: BTreeMap<ContentField, ContentPolicy>,
    /// Also write the unkeyed SHA-256 of the exact UTF-8 text
    /// (`details.content_sha256`), for third parties who hold the text but
    /// not the key. Default false: it lets anyone confirm a guessed text.
    #[serde(default)]
    pub unkeyed_hash: bool,
    /// The operator's declaration that this output goes only to an
    /// access-restricted destination (the evidence store, or a SIEM index
    /// cleared for conversation text). Required by `keep`. Default false.
    #[serde(default)]
    pub restricted_output: bool,
}

impl ContentSettings {
    /// The policy of `field`.
    pub fn policy_for(&self, field: ContentField) -> ContentPolicy {
        self.fields.get(&field).copied().unwrap_or(self.policy)
    }

    /// Whether any field writes text (then redaction must be on).
    pub fn writes_text(&self) -> bool {
        self.policy != ContentPolicy::Drop
            || self.fields.values().any(|p| *p != ContentPolicy::Drop)
    }

    /// Refuse a global `keep`, and a per-field `keep` without a restricted
    /// destination.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |path: String, message: &str| ConfigError {
            kind: ConfigErrorKind::InvalidValue,
            path,
            message: message.to_owned(),
        };
        if self.policy == ContentPolicy::Keep {
            return Err(invalid(
                "content.policy".to_owned(),
                "`keep` writes conversation text verbatim and is accepted only field by field \
                 (content.fields.message = \"keep\"), never for all content",
            ));
        }
        let kept = self.fields.iter().find(|(_, p)| **p == ContentPolicy::Keep);
        if let Some((field, _)) = kept
            && !self.restricted_output
        {
            return Err(invalid(
                format!("content.fields.{}", field.name()),
                "`keep` writes conversation text verbatim; it is refused unless the output goes \
                 only to a restricted destination: declare it with content.restricted_output = \
                 true",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ContentSettings, ConfigError> {
        let s: ContentSettings = serde_json::from_str(json).unwrap();
        s.validate().map(|()| s)
    }

    #[test]
    fn drop_is_the_default_and_keep_needs_a_field_and_a_restricted_output() {
        let s = parse("{}").unwrap();
        assert_eq!(s.policy_for(ContentField::Message), ContentPolicy::Drop);
        assert!(!s.writes_text());
        let e = parse(r#"{"policy":"keep","restricted_output":true}"#).unwrap_err();
        assert_eq!(e.path, "content.policy");
        let e = parse(r#"{"fields":{"message":"keep"}}"#).unwrap_err();
        assert_eq!(e.path, "content.fields.message");
        let s =
            parse(r#"{"policy":"redact","fields":{"message":"keep"},"restricted_output":true}"#)
                .unwrap();
        assert_eq!(s.policy_for(ContentField::Message), ContentPolicy::Keep);
        assert_eq!(s.policy_for(ContentField::Artifact), ContentPolicy::Redact);
    }
}
