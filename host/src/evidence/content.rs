//! The audit report's view of a sampled conversation-content event: its
//! hashes and how many values the detectors found and redaction replaced,
//! never its text. `report` calls [`summary`] for each sampled event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a report shows of one content event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentSummary {
    /// Keyed hash of what went to the model (user message, upload,
    /// project document).
    pub prompt_hash: Option<String>,
    /// Keyed hash of what came back (assistant message, artifact, generated
    /// file).
    pub response_hash: Option<String>,
    /// Unkeyed SHA-256 of the text (or the file's bytes), when published.
    pub sha256: Option<String>,
    /// Length of the text in bytes.
    pub content_bytes: Option<u64>,
    /// Values the detectors found in the text, per entity class
    /// (whatever the content policy did with the text).
    pub findings: BTreeMap<String, u64>,
    /// Values redaction replaced in the written event, per entity class.
    pub redacted: BTreeMap<String, u64>,
}

/// The content source name (the plugin's `content::SOURCE_NAME`).
const CONTENT_SOURCE: &str = "anthropic.compliance_api.content";

/// The summary of `line` when it is a content event; `None` otherwise
/// (or when it is not JSON: the report's own parse reports that).
pub fn summary(line: &[u8]) -> Option<ContentSummary> {
    let event: serde_json::Value = serde_json::from_slice(line).ok()?;
    if event["source"]["name"] != CONTENT_SOURCE {
        return None;
    }
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let counts = |v: &serde_json::Value| -> BTreeMap<String, u64> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, n)| Some((k.clone(), n.as_u64()?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let details = &event["details"];
    Some(ContentSummary {
        prompt_hash: text(&event["prompt_hash"]),
        response_hash: text(&event["response_hash"]),
        sha256: text(&details["content_sha256"]).or_else(|| text(&details["file_sha256"])),
        content_bytes: details["content_bytes"].as_u64(),
        findings: counts(&details["content_findings"]),
        redacted: counts(&event["redaction_metadata"]["counts"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_events_give_hashes_and_counts_and_never_text() {
        let line = br#"{"source":{"name":"anthropic.compliance_api.content"},"prompt_hash":"hmac-sha256:k1:ab","response_hash":null,"details":{"content":"secret words","content_bytes":12,"content_findings":{"mrn":1}},"redaction_metadata":{"counts":{"mrn":1}}}"#;
        let s = summary(line).unwrap();
        assert_eq!(s.prompt_hash.as_deref(), Some("hmac-sha256:k1:ab"));
        assert_eq!((s.findings["mrn"], s.redacted["mrn"]), (1, 1));
        assert!(!serde_json::to_string(&s).unwrap().contains("secret words"));
        let feed = br#"{"source":{"name":"anthropic.compliance_api.activity_feed"}}"#;
        assert!(summary(feed).is_none());
    }
}
