//! `[pull]`: how `claude-audit pull` reads the Compliance API Activity Feed.
//!
//! Every option has a visible default below and in the README. The API key
//! is named by source only (`{ env = "VAR" }` or `{ file = "/path" }`); the
//! file never holds it.
//!
//! ```toml
//! [pull]
//! api_key = { env = "ANTHROPIC_COMPLIANCE_KEY" }
//! state_file = "/var/lib/claude-audit/pull-state.json"
//! start_time = "2026-11-01T00:00:00Z"
//! exclude_activity_types = ["compliance_api_accessed"]
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail, ensure};
use serde::Deserialize;

use crate::keys::KeySource;

/// The real API host.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// Largest page the Activity Feed serves (SPEC §2).
pub const MAX_PAGE_SIZE: u32 = 5000;

/// The `[pull]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullConfig {
    /// API base URL. Default `https://api.anthropic.com`. Plain `http://` is
    /// accepted only for loopback hosts (tests, local proxies): the key
    /// must not cross a network in clear.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Where the Compliance Access Key (or Admin key) is read from:
    /// `{ env = "VAR" }` or `{ file = "/path" }`. Required.
    pub api_key: KeySource,
    /// `anthropic-version` header sent with every request. Default `2023-06-01`.
    #[serde(default = "default_anthropic_version")]
    pub anthropic_version: String,
    /// Checkpoint file: cursor, recent ids, committed output length.
    /// Written atomically after every page. Default `claude-audit.pull-state.json`.
    #[serde(default = "default_state_file")]
    pub state_file: PathBuf,
    /// Only these activity types (`activity_types[]`). Default: all.
    #[serde(default)]
    pub activity_types: Vec<String>,
    /// Leave out these activity types (`exclude_activity_types[]`); not
    /// together with `activity_types`. Default: none.
    #[serde(default)]
    pub exclude_activity_types: Vec<String>,
    /// Only these organizations (`organization_ids[]`, `org_...` or UUIDs).
    /// Default: the whole tenant.
    #[serde(default)]
    pub organization_ids: Vec<String>,
    /// Where the first run starts (RFC 3339 with a zone). Default: the
    /// beginning of the feed, so that nothing is missed. Ignored once a
    /// checkpoint exists.
    #[serde(default)]
    pub start_time: Option<String>,
    /// Seconds between polls once caught up. Default 60.
    #[serde(default = "default_poll_interval_secs")]
    pub poll_interval_secs: u64,
    /// Activities per page (`limit`, 1 to 5000). Default 1000.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Seconds behind the newest activity seen that every poll reads again
    /// with `created_at.gte`, to catch activities indexed late. Default 600.
    #[serde(default = "default_overlap_secs")]
    pub overlap_secs: u64,
    /// Most ids remembered for de-duplication (those inside the overlap
    /// window). Default 200000.
    #[serde(default = "default_max_recent_ids")]
    pub max_recent_ids: usize,
    /// Most requests per minute this poller sends. The 600/minute budget is
    /// shared by every key of the parent organization, so the default (120)
    /// leaves room for other tools.
    #[serde(default = "default_requests_per_minute")]
    pub requests_per_minute: u32,
    /// Pause when `anthropic-ratelimit-requests-remaining` falls to this
    /// many, until the window resets. Default 20.
    #[serde(default = "default_rate_limit_reserve")]
    pub rate_limit_reserve: u64,
    /// Seconds before a request is abandoned and retried. Default 60.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Retries of one request (after 429, 5xx or a timeout) before giving
    /// up. Default 10; with the backoff below that is several minutes.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// First backoff after a failure, in milliseconds; doubles each retry.
    /// Default 1000.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// Longest backoff, in seconds. Default 60.
    #[serde(default = "default_max_backoff_secs")]
    pub max_backoff_secs: u64,
    /// Seconds between health lines on stderr. Default 60.
    #[serde(default = "default_health_interval_secs")]
    pub health_interval_secs: u64,
    /// Largest response body accepted, in MiB. Default 256.
    #[serde(default = "default_max_page_mib")]
    pub max_page_mib: u64,
    /// `[pull.content]`: also collect conversation content (SPEC §10).
    /// Absent: the Activity Feed only.
    #[serde(default)]
    pub content: Option<ContentPullConfig>,
}

/// What content `pull` collects, walked after each Activity Feed poll
/// with the same rate budget and checkpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentPullConfig {
    /// Which families: `chats` (messages, soft and hard deletions),
    /// `artifacts` (artifact versions, their text hashed), `files` (chat
    /// files, downloaded and hashed streaming, content never kept),
    /// `projects` (project documents). Default all four. Artifacts and
    /// files are found through chat messages, so they need `chats`.
    #[serde(default = "default_families")]
    pub families: Vec<ContentFamily>,
    /// Only chats and projects of these organizations
    /// (`organization_ids[]`). Default: every organization the key reaches.
    #[serde(default)]
    pub organization_ids: Vec<String>,
    /// Only chats and projects of these users (`user_...`, the owner).
    /// Applied by the poller: the API refuses `user_ids[]` with
    /// `order_by=updated_at` (SPEC §8).
    #[serde(default)]
    pub user_ids: Vec<String>,
    /// Chats per page (`limit`, 1 to 1000). Default 100.
    #[serde(default = "default_chat_page_size")]
    pub chat_page_size: u32,
    /// Messages per page (`limit`, 1 to 1000). Default 1000: a 10,000
    /// message chat is read in ten bounded pages.
    #[serde(default = "default_message_page_size")]
    pub message_page_size: u32,
}

/// A content family of `[pull.content] families`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentFamily {
    /// Chat messages and deleted (soft or hard) chats.
    Chats,
    /// Artifact versions.
    Artifacts,
    /// Chat files.
    Files,
    /// Project documents.
    Projects,
}

fn default_families() -> Vec<ContentFamily> {
    vec![
        ContentFamily::Chats,
        ContentFamily::Artifacts,
        ContentFamily::Files,
        ContentFamily::Projects,
    ]
}
const fn default_chat_page_size() -> u32 {
    100
}
const fn default_message_page_size() -> u32 {
    1000
}

impl ContentPullConfig {
    /// Whether `family` is collected.
    pub fn has(&self, family: ContentFamily) -> bool {
        self.families.contains(&family)
    }

    fn validate(&self) -> Result<()> {
        let needs_chats = self.has(ContentFamily::Artifacts) || self.has(ContentFamily::Files);
        ensure!(
            self.has(ContentFamily::Chats) || !needs_chats,
            "pull.content.families must include \"chats\" with \"artifacts\" or \"files\": \
             they are found through chat messages"
        );
        ensure!(
            !self.families.is_empty(),
            "pull.content.families is empty: remove [pull.content] to collect no content"
        );
        for (name, n) in [
            ("chat_page_size", self.chat_page_size),
            ("message_page_size", self.message_page_size),
        ] {
            ensure!(
                (1..=1000).contains(&n),
                "pull.content.{name} must be between 1 and 1000, not {n}"
            );
        }
        Ok(())
    }
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}
fn default_anthropic_version() -> String {
    "2023-06-01".to_owned()
}
fn default_state_file() -> PathBuf {
    "claude-audit.pull-state.json".into()
}
const fn default_poll_interval_secs() -> u64 {
    60
}
const fn default_page_size() -> u32 {
    1000
}
const fn default_overlap_secs() -> u64 {
    600
}
const fn default_max_recent_ids() -> usize {
    200_000
}
const fn default_requests_per_minute() -> u32 {
    120
}
const fn default_rate_limit_reserve() -> u64 {
    20
}
const fn default_request_timeout_secs() -> u64 {
    60
}
const fn default_max_retries() -> u32 {
    10
}
const fn default_initial_backoff_ms() -> u64 {
    1000
}
const fn default_max_backoff_secs() -> u64 {
    60
}
const fn default_health_interval_secs() -> u64 {
    60
}
const fn default_max_page_mib() -> u64 {
    256
}

impl PullConfig {
    /// Check every option; errors name the option.
    pub fn validate(&self) -> Result<()> {
        check_base_url(&self.base_url)?;
        ensure!(
            (1..=MAX_PAGE_SIZE).contains(&self.page_size),
            "pull.page_size must be between 1 and {MAX_PAGE_SIZE}, not {}",
            self.page_size
        );
        ensure!(
            self.activity_types.is_empty() || self.exclude_activity_types.is_empty(),
            "pull.activity_types and pull.exclude_activity_types cannot both be set \
             (the API treats them as mutually exclusive)"
        );
        ensure!(
            (1..=60_000).contains(&self.requests_per_minute),
            "pull.requests_per_minute must be between 1 and 60000"
        );
        ensure!(
            self.poll_interval_secs >= 1,
            "pull.poll_interval_secs must be at least 1"
        );
        ensure!(
            self.request_timeout_secs >= 1,
            "pull.request_timeout_secs must be at least 1"
        );
        ensure!(
            self.max_recent_ids >= 1,
            "pull.max_recent_ids must be at least 1"
        );
        ensure!(
            self.initial_backoff_ms >= 1,
            "pull.initial_backoff_ms must be at least 1"
        );
        ensure!(
            self.max_page_mib >= 1,
            "pull.max_page_mib must be at least 1"
        );
        if let Some(content) = &self.content {
            content.validate()?;
        }
        if let Some(start) = &self.start_time {
            crate::pull::time::parse_rfc3339(start).map_err(|e| {
                anyhow::anyhow!("pull.start_time must be RFC 3339 with a time zone: {e}")
            })?;
        }
        Ok(())
    }

    /// The `[pull]` durations as `Duration`s.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_interval_secs)
    }
}

/// `https://` anywhere, `http://` only to a loopback host.
fn check_base_url(url: &str) -> Result<()> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("pull.base_url must start with https:// (got {url:?})");
    };
    let loopback = is_loopback_authority(rest);
    ensure!(
        loopback,
        "pull.base_url {url:?} is plain http: the API key would cross the network in clear; \
         use https:// (http:// is only for loopback test servers)"
    );
    Ok(())
}

/// Whether the authority at the start of `rest` (what follows `http://`)
/// is a loopback host: `localhost`, `127.x.x.x` or `[::1]`, any port.
pub fn is_loopback_authority(rest: &str) -> bool {
    let host_port = rest.split('/').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<PullConfig> {
        let text = format!("api_key = {{ env = \"K\" }}\n{extra}");
        let c: PullConfig = toml::from_str(&text)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = config("").unwrap();
        assert_eq!(c.base_url, "https://api.anthropic.com");
        assert_eq!(c.page_size, 1000);
        assert_eq!(c.requests_per_minute, 120);
        assert_eq!(c.overlap_secs, 600);
    }

    #[test]
    fn bad_options_are_named() {
        let e = config("page_size = 5001").unwrap_err().to_string();
        assert!(e.contains("page_size"), "{e}");
        let e = config("activity_types = [\"a\"]\nexclude_activity_types = [\"b\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mutually exclusive"), "{e}");
        let e = config("start_time = \"2026-05-18\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("start_time"), "{e}");
        assert!(config("api_kye = 1").is_err());
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(check_base_url("http://127.0.0.1:8080").is_ok());
        assert!(check_base_url("http://[::1]:8080/x").is_ok());
        assert!(check_base_url("http://localhost").is_ok());
        assert!(check_base_url("http://api.example.com").is_err());
        assert!(check_base_url("ftp://x").is_err());
    }
}
