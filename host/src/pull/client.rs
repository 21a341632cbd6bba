//! HTTP access to `GET /v1/compliance/activities`: one request, one
//! classified answer. Retrying and pacing are the caller's (see `retry`).
//!
//! The key travels only in the `x-api-key` header. It is never part of a
//! URL or a message, and any text the API sends back is scrubbed of it
//! before it is shown.

use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::config::PullConfig;
use crate::keys::Secret;

/// Path of the Activity Feed under the base URL.
pub const ACTIVITIES_PATH: &str = "/v1/compliance/activities";

/// What one page request asks for.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    /// `after_id`: continue after this cursor (ascending order: newer).
    pub after_id: Option<String>,
    /// `created_at.gte`, RFC 3339.
    pub created_at_gte: Option<String>,
    /// `created_at.lte`, RFC 3339.
    pub created_at_lte: Option<String>,
}

/// The rate-limit headers of a response (SPEC §7).
#[derive(Debug, Clone, Default)]
pub struct RateLimitHeaders {
    /// `anthropic-ratelimit-requests-limit`.
    pub limit: Option<u64>,
    /// `anthropic-ratelimit-requests-remaining`.
    pub remaining: Option<u64>,
    /// `anthropic-ratelimit-requests-reset`, RFC 3339.
    pub reset: Option<String>,
}

/// An HTTP answer, before interpretation.
#[derive(Debug)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// `retry-after`, in seconds.
    pub retry_after: Option<Duration>,
    /// `x-should-retry`, when present.
    pub should_retry: Option<bool>,
    /// `request-id`, for support tickets and provenance.
    pub request_id: Option<String>,
    /// Rate-limit headers.
    pub rate_limit: RateLimitHeaders,
    /// Body bytes (for a file download: only an error answer's).
    pub body: Vec<u8>,
    /// For a successful file download: what its bytes hashed to.
    pub digest: Option<FileDigest>,
}

/// A downloaded file's hashes, computed as it streamed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileDigest {
    /// Keyed content hash (`content_hash::Streaming`), when a key is set.
    pub hmac: Option<String>,
    /// `sha256:<hex>` of the bytes.
    pub sha256: String,
    /// Length in bytes.
    pub bytes: u64,
    /// `verified`, `mismatch` (then the download is retried) or `absent`.
    pub content_md5: String,
}

/// A page of the feed (`ActivityList`).
#[derive(Debug, Deserialize)]
pub struct ActivityPage {
    /// The activities, each kept as the exact JSON text the API sent.
    pub data: Vec<Box<RawValue>>,
    /// More results exist after this page.
    pub has_more: bool,
    /// Cursor of the last element: the next `after_id`.
    #[serde(default)]
    pub last_id: Option<String>,
}

/// The error body of the Compliance API: `{"error": {"type", "message"}}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

/// The API's own words about a failed request, scrubbed of the key.
#[derive(Debug, Clone)]
pub struct ApiMessage {
    /// `error.type` (`authentication_error`, ...), or empty.
    pub kind: String,
    /// `error.message`, or a prefix of the body when it is not the
    /// documented shape.
    pub message: String,
}

/// Sends page requests.
pub struct FeedClient {
    agent: ureq::Agent,
    /// The base URL, without a trailing slash.
    base: String,
    key: Secret,
    anthropic_version: String,
    filters: Vec<(&'static str, String)>,
    page_size: u32,
    max_body_bytes: u64,
}

impl FeedClient {
    /// A client for the feed described by `config`, authenticating with `key`.
    pub fn new(config: &PullConfig, key: Secret) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(config.request_timeout_secs)))
            // A redirect could carry the key header to another host.
            .max_redirects(0)
            .user_agent(concat!("claude-audit/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut filters = Vec::new();
        for t in &config.activity_types {
            filters.push(("activity_types[]", t.clone()));
        }
        for t in &config.exclude_activity_types {
            filters.push(("exclude_activity_types[]", t.clone()));
        }
        for o in &config.organization_ids {
            filters.push(("organization_ids[]", o.clone()));
        }
        Self {
            agent,
            base: config.base_url.trim_end_matches('/').to_owned(),
            key,
            anthropic_version: config.anthropic_version.clone(),
            filters,
            page_size: config.page_size,
            max_body_bytes: config.max_page_mib << 20,
        }
    }

    /// Send one Activity Feed request. `Err` is a transport failure
    /// (connection, timeout, truncated body): the caller retries it like a 5xx.
    pub fn fetch(&self, query: &PageQuery) -> Result<RawResponse, ureq::Error> {
        let mut params: Vec<(String, String)> = vec![
            ("order".into(), "asc".into()),
            ("limit".into(), self.page_size.to_string()),
        ];
        params.extend(
            self.filters
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone())),
        );
        let bounds = [
            ("created_at.gte", &query.created_at_gte),
            ("created_at.lte", &query.created_at_lte),
            ("after_id", &query.after_id),
        ];
        for (name, value) in bounds {
            if let Some(v) = value {
                params.push((name.to_owned(), v.clone()));
            }
        }
        self.get(ACTIVITIES_PATH, &params)
    }

    /// `GET <base>/<path>?<params>` with the key and version headers; the
    /// whole body is read (up to `max_page_mib`).
    pub fn get(&self, path: &str, params: &[(String, String)]) -> Result<RawResponse, ureq::Error> {
        let mut response = self.call(path, params, "application/json")?;
        let raw = head(&response);
        let body = response
            .body_mut()
            .with_config()
            .limit(self.max_body_bytes)
            .read_to_vec()?;
        Ok(RawResponse { body, ..raw })
    }

    /// `GET` a file's content and hand it to `consume` chunk by chunk,
    /// never holding it whole. Error answers are read as usual (their body
    /// is small). The `content-md5` header is returned in `content_md5`.
    pub fn download(
        &self,
        path: &str,
        consume: &mut dyn FnMut(&[u8]),
    ) -> Result<(RawResponse, Option<String>), ureq::Error> {
        let mut response = self.call(path, &[], "*/*")?;
        let raw = head(&response);
        let md5 = response
            .headers()
            .get("content-md5")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned());
        if !(200..300).contains(&raw.status) {
            let body = response
                .body_mut()
                .with_config()
                .limit(1 << 20)
                .read_to_vec()?;
            return Ok((RawResponse { body, ..raw }, md5));
        }
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = std::io::Read::read(&mut reader, &mut buf).map_err(ureq::Error::Io)?;
            if n == 0 {
                break;
            }
            consume(&buf[..n]);
        }
        Ok((raw, md5))
    }

    fn call(
        &self,
        path: &str,
        params: &[(String, String)],
        accept: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let key = std::str::from_utf8(self.key.bytes()).unwrap_or_default();
        let mut request = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("x-api-key", key)
            .header("anthropic-version", &self.anthropic_version)
            .header("accept", accept);
        for (name, value) in params {
            request = request.query(name, value);
        }
        request.call()
    }

    /// The API's error message in `body`, with the key scrubbed out.
    pub fn api_message(&self, body: &[u8]) -> ApiMessage {
        let (kind, message) = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => (b.error.kind, b.error.message),
            Err(_) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
                (String::new(), text.trim().to_owned())
            }
        };
        ApiMessage {
            kind: self.scrub(&kind),
            message: self.scrub(&message),
        }
    }

    /// `text` with every occurrence of the key replaced.
    fn scrub(&self, text: &str) -> String {
        match std::str::from_utf8(self.key.bytes()) {
            Ok(key) if !key.is_empty() => text.replace(key, "<api key>"),
            _ => text.to_owned(),
        }
    }
}

/// The status and headers of a response (body not read yet).
fn head(response: &ureq::http::Response<ureq::Body>) -> RawResponse {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .map(str::to_owned)
    };
    let number = |name: &str| header(name).and_then(|v| v.parse::<u64>().ok());
    RawResponse {
        status: response.status().as_u16(),
        retry_after: header("retry-after")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64),
        should_retry: header("x-should-retry").map(|v| v.eq_ignore_ascii_case("true")),
        request_id: header("request-id"),
        rate_limit: RateLimitHeaders {
            limit: number("anthropic-ratelimit-requests-limit"),
            remaining: number("anthropic-ratelimit-requests-remaining"),
            reset: header("anthropic-ratelimit-requests-reset"),
        },
        body: Vec::new(),
        digest: None,
    }
}

/// Parse a successful response body.
pub fn parse_page(body: &[u8]) -> Result<ActivityPage> {
    serde_json::from_slice(body)
        .context("the API answered 200 with a body that is not an ActivityList")
}

/// The `id` and `created_at` of an activity, for de-duplication. Either may
/// be missing in a malformed record: such records are never de-duplicated,
/// the plugin dead-letters them.
#[derive(Debug, Deserialize)]
pub struct ActivityKey {
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `created_at`.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// Read the key fields of one activity; `None` if it is not an object.
pub fn activity_key(raw: &RawValue) -> Option<ActivityKey> {
    serde_json::from_str(raw.get()).ok()
}
