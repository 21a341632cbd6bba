//! `claude-audit pull`: reads the Compliance API Activity Feed continuously,
//! without gaps and without duplicates, across crashes, rate limits and
//! outages.
//!
//! The walk (SPEC §5, §11):
//! 1. **Forward**: `order=asc`, `after_id=<checkpoint cursor>` (or
//!    `created_at.gte=<start_time>` on the first run), page after page until
//!    `has_more` is false.
//! 2. **Overlap**: the feed can index an activity after the cursor moved past
//!    its `created_at`; every poll re-reads `[high_water - overlap,
//!    high_water]` with `created_at.gte`/`.lte` and keeps only ids it has
//!    not emitted (the recent-id set, persisted and bounded).
//!
//! Each page is written, flushed and fsynced, and only then is the
//! checkpoint (cursor, recent ids, committed output lengths) replaced
//! atomically. A crash at any point leaves a checkpoint that covers only
//! durable output; on restart the output files are cut back to their
//! committed length and the uncommitted pages are fetched again, so file
//! output is exactly-once. On stdout, lines written after the last checkpoint
//! can be written again after a crash (at-least-once; the event id
//! de-duplicates downstream).
//!
//! Shutdown (SIGTERM/SIGINT, `crate::shutdown`): no new request is sent; a
//! page already received is written and checkpointed as usual; a request
//! still in flight at the drain deadline is abandoned (its page was not
//! written, the checkpoint did not move, the next run asks again). Then the
//! output is flushed and the poller returns normally (exit 0).

pub mod checkpoint;
pub mod client;
pub mod config;
pub mod content;
pub mod health;
pub mod pace;
pub mod projects;
pub mod retry;
pub mod sink;
pub mod time;

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::value::RawValue;
use sha2::Digest as _;

use self::checkpoint::{Checkpoint, CommittedFile, StateFile};
use self::client::{ActivityPage, FeedClient, PageQuery, activity_key, parse_page};
use self::config::PullConfig;
use self::health::SharedHealth;
use self::pace::Pacer;
use self::retry::{Backoff, StopReason, Verdict, classify};
use self::sink::PageSink;
use crate::shutdown::Shutdown;

/// How often the poller looks at a shutdown while a request is in flight.
const POLL: Duration = Duration::from_millis(50);

/// A shutdown stopped the walk between pages (or abandoned the page in
/// flight): not a failure.
#[derive(Debug)]
struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped by a signal")
    }
}

impl std::error::Error for Interrupted {}

/// Why `pull` stopped on an answer of the API: carries the exit code.
#[derive(Debug)]
pub struct ApiStop {
    /// What the API said.
    pub reason: StopReason,
    /// Where the key came from ("environment variable X"), for messages.
    pub key_source: String,
    /// `request-id` of the failed request.
    pub request_id: Option<String>,
    /// The scope the refused endpoint needs, for the 403 message.
    pub scope: &'static str,
}

impl ApiStop {
    /// Exit code: 3 when the key or its scope was refused, 4 when the API
    /// refused the request itself.
    pub fn exit_code(&self) -> u8 {
        match self.reason {
            StopReason::Unauthenticated(_) | StopReason::Forbidden(_) => 3,
            StopReason::Rejected { .. } | StopReason::ServerRefused { .. } => 4,
        }
    }
}

impl std::fmt::Display for ApiStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = &self.key_source;
        match &self.reason {
            StopReason::Unauthenticated(m) => write!(
                f,
                "the Compliance API refused the API key read from {key} (401 {}: {}). Use a \
                 Compliance Access Key (sk-ant-api01-...) or an Admin API key created after the \
                 Compliance API was enabled; check that it was not deleted",
                m.kind, m.message
            )?,
            StopReason::Forbidden(m) => write!(
                f,
                "the API key read from {key} lacks the scope {scope} (403 {}: {}). Scopes are \
                 fixed when a key is created, and Admin keys reach only the Activity Feed: \
                 create a Compliance Access Key with {scope}",
                m.kind,
                m.message,
                scope = self.scope
            )?,
            StopReason::Rejected { status, message } => write!(
                f,
                "the Compliance API rejected the request ({status} {}: {}); check the [pull] \
                 options",
                message.kind, message.message
            )?,
            StopReason::ServerRefused { status, message } => write!(
                f,
                "the Compliance API failed with {status} and x-should-retry: false, a failure \
                 that retrying cannot fix ({}: {})",
                message.kind, message.message
            )?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request-id {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiStop {}

/// The scope of the Activity Feed.
const SCOPE_ACTIVITIES: &str = "read:compliance_activities";

/// One request the poller sends (on its own thread, see `Poller::send`).
#[derive(Clone)]
enum Request {
    /// A page of the Activity Feed.
    Activities(PageQuery),
    /// A JSON `GET` of a content endpoint: path and query.
    Get(String, Vec<(String, String)>),
    /// A file's content, hashed as it streams (`content::download`).
    Download(String, claude_audit_plugin::HmacKey),
}

impl Request {
    fn send(&self, client: &FeedClient) -> Result<client::RawResponse, ureq::Error> {
        match self {
            Self::Activities(query) => client.fetch(query),
            Self::Get(path, params) => client.get(path, params),
            Self::Download(path, key) => content::download(client, path, key),
        }
    }
}

/// Which walk a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    Forward,
    Overlap,
}

/// The files whose committed length the checkpoint records.
#[derive(Debug, Default)]
pub struct TrackedFiles {
    /// `--output`, when not stdout.
    pub output: Option<PathBuf>,
    /// The dead-letter file (plugin path only).
    pub dead_letter: Option<PathBuf>,
    /// The vault, when one is open.
    pub vault: Option<PathBuf>,
    /// The evidence store, when one is open.
    pub evidence: Option<crate::evidence::sink::SharedStore>,
}

/// The feed to read: its options, a client, and where the key came from.
pub struct Source {
    /// `[pull]`.
    pub config: PullConfig,
    /// The HTTP client (shared with the thread that sends each request).
    pub client: Arc<FeedClient>,
    /// Where the key came from ("environment variable X"), for messages.
    pub key_source: String,
    /// The pseudonymization key files are hashed under (`[pull.content]`
    /// with `files`); `None` without content or with `--raw`.
    pub content_key: Option<claude_audit_plugin::HmacKey>,
}

/// Where to resume: the locked state file and the checkpoint read from it
/// (the tracked files already cut back to it).
pub struct Resume {
    /// The state file.
    pub state: StateFile,
    /// The checkpoint.
    pub checkpoint: Checkpoint,
}

/// The poller.
pub struct Poller<'s> {
    config: PullConfig,
    client: Arc<FeedClient>,
    key_source: String,
    content_key: Option<claude_audit_plugin::HmacKey>,
    pacer: Pacer,
    backoff: Backoff,
    state: StateFile,
    checkpoint: Checkpoint,
    sink: PageSink<'s>,
    files: TrackedFiles,
    health: SharedHealth,
    last_health_line: Instant,
    shutdown: Arc<Shutdown>,
}

impl<'s> Poller<'s> {
    /// A poller reading `source` from `resume` into `sink`.
    pub fn new(
        source: Source,
        resume: Resume,
        sink: PageSink<'s>,
        files: TrackedFiles,
        health: SharedHealth,
        shutdown: Arc<Shutdown>,
    ) -> Self {
        let Source {
            config,
            client,
            key_source,
            content_key,
        } = source;
        Self {
            pacer: Pacer::new(config.requests_per_minute, config.rate_limit_reserve),
            backoff: Backoff {
                initial: Duration::from_millis(config.initial_backoff_ms),
                max: Duration::from_secs(config.max_backoff_secs),
            },
            config,
            client,
            key_source,
            content_key,
            state: resume.state,
            checkpoint: resume.checkpoint,
            sink,
            files,
            health,
            last_health_line: Instant::now(),
            shutdown,
        }
    }

    /// Poll until the feed is exhausted (`once`), a signal stops it, or
    /// forever.
    pub fn run(mut self, once: bool) -> Result<()> {
        loop {
            match self.poll() {
                Ok(()) => {}
                Err(e) if e.is::<Interrupted>() => break,
                Err(e) if once || e.is::<ApiStop>() => {
                    self.health_line();
                    return Err(e);
                }
                // Retries exhausted (an outage): the cursor did not move;
                // try again at the next poll rather than die.
                Err(e) => eprintln!("claude-audit: pull: {e:#}; trying again at the next poll"),
            }
            if once || !self.idle(self.config.poll_interval()) {
                break;
            }
        }
        if self.shutdown.is_requested() {
            eprintln!(
                "claude-audit: pull: stopped by a signal; checkpoint at {}",
                self.checkpoint.cursor.as_deref().unwrap_or("the start")
            );
        }
        self.health_line();
        self.sink.finish()
    }

    /// One poll: the forward walk to the end, then the overlap re-read.
    fn poll(&mut self) -> Result<()> {
        self.walk_forward()?;
        self.walk_overlap()?;
        if self.config.content.is_some() {
            self.walk_content()?;
        }
        Ok(())
    }

    fn walk_forward(&mut self) -> Result<()> {
        self.health.lock().caught_up = false;
        loop {
            let query = PageQuery {
                after_id: self.checkpoint.cursor.clone(),
                created_at_gte: self.config.start_time.clone(),
                created_at_lte: None,
            };
            let page = self.fetch(&query)?;
            let (has_more, last_id) = (page.has_more, page.last_id.clone());
            self.take_page(page, Walk::Forward)?;
            if !has_more {
                self.health.lock().caught_up = true;
                return Ok(());
            }
            if last_id.is_none() {
                bail!("the API said has_more: true but gave no last_id to continue from");
            }
        }
    }

    fn walk_overlap(&mut self) -> Result<()> {
        let Some(high_water) = self.checkpoint.high_water else {
            return Ok(());
        };
        let overlap = i128::from(self.config.overlap_secs) * 1_000_000_000;
        let mut from = high_water - overlap;
        if let Some(start) = &self.config.start_time {
            from = from.max(time::parse_rfc3339(start)?);
        }
        let mut query = PageQuery {
            after_id: None,
            created_at_gte: Some(time::format_rfc3339(from)),
            // Up to where the forward walk has been: activities past it are
            // the forward walk's, not late arrivals.
            created_at_lte: Some(time::format_rfc3339(high_water)),
        };
        loop {
            let page = self.fetch(&query)?;
            let (has_more, last_id) = (page.has_more, page.last_id.clone());
            self.take_page(page, Walk::Overlap)?;
            match (has_more, last_id) {
                (true, Some(last)) => query.after_id = Some(last),
                (true, None) => {
                    bail!("the API said has_more: true but gave no last_id to continue from")
                }
                (false, _) => return Ok(()),
            }
        }
    }

    /// Send `query` until it succeeds, retrying per SPEC §7–8.
    fn fetch(&mut self, query: &PageQuery) -> Result<ActivityPage> {
        let request = Request::Activities(query.clone());
        self.fetch_with(&request, SCOPE_ACTIVITIES, |r| parse_page(&r.body))
    }

    /// Send `request` until it succeeds and `parse` accepts the answer,
    /// retrying per SPEC §7–8, within the one rate budget of the poller.
    fn fetch_with<T>(
        &mut self,
        request: &Request,
        scope: &'static str,
        parse: impl Fn(&client::RawResponse) -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            if self.shutdown.is_requested() || !self.pacer.wait(&self.shutdown) {
                return Err(Interrupted.into());
            }
            self.health.lock().requests += 1;
            let result = self.send(request)?;
            let verdict = match &result {
                Ok(response) => {
                    self.pacer.observe(&response.rate_limit);
                    let mut h = self.health.lock();
                    h.rate_limit_limit = response.rate_limit.limit.or(h.rate_limit_limit);
                    h.rate_limit_remaining =
                        response.rate_limit.remaining.or(h.rate_limit_remaining);
                    drop(h);
                    classify(response, attempt + 1, &self.backoff, || {
                        self.client.api_message(&response.body)
                    })
                }
                Err(e) => Verdict::Retry {
                    wait: self.backoff.delay(attempt + 1),
                    reason: format!("request failed: {e}"),
                    rate_limited: false,
                },
            };
            let (wait, reason, rate_limited) = match (verdict, result) {
                (Verdict::Success, Ok(response)) => match parse(&response) {
                    Ok(page) => {
                        self.health.lock().last_request_id = response.request_id;
                        return Ok(page);
                    }
                    // A cut or garbled body: the same request again.
                    Err(e) => (self.backoff.delay(attempt + 1), format!("{e:#}"), false),
                },
                (Verdict::Fatal(reason), Ok(response)) => {
                    return Err(ApiStop {
                        reason,
                        key_source: self.key_source.clone(),
                        request_id: response.request_id,
                        scope,
                    }
                    .into());
                }
                (
                    Verdict::Retry {
                        wait,
                        reason,
                        rate_limited,
                    },
                    _,
                ) => (wait, reason, rate_limited),
                (_, Err(_)) => unreachable!("transport errors are always retried"),
            };
            attempt += 1;
            if attempt > self.config.max_retries {
                bail!(
                    "giving up on a page after {} retries (last: {reason}); the checkpoint did \
                     not move, so nothing is lost",
                    self.config.max_retries
                );
            }
            {
                let mut h = self.health.lock();
                h.retries += 1;
                h.rate_limited += u64::from(rate_limited);
                h.retry_wait_seconds += wait.as_secs_f64();
            }
            eprintln!(
                "claude-audit: pull: {reason}; retry {attempt}/{} in {:.1}s",
                self.config.max_retries,
                wait.as_secs_f64()
            );
            self.pacer.defer(wait);
        }
    }

    /// Send one request on its own thread, so that a shutdown can abandon
    /// it at the drain deadline (the thread then ends with the process).
    fn send(&self, request: &Request) -> Result<Result<client::RawResponse, ureq::Error>> {
        let (tx, rx) = mpsc::channel();
        let (client, request) = (Arc::clone(&self.client), request.clone());
        std::thread::Builder::new()
            .name("request".into())
            .spawn(move || {
                let _ = tx.send(request.send(&client));
            })
            .context("starting the request thread")?;
        loop {
            match rx.recv_timeout(POLL) {
                Ok(result) => return Ok(result),
                Err(mpsc::RecvTimeoutError::Timeout) if self.shutdown.expired() => {
                    eprintln!(
                        "claude-audit: pull: drain time over: abandoning the request in flight \
                         (its page is asked for again on the next run)"
                    );
                    return Err(Interrupted.into());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the request thread died"),
            }
        }
    }

    /// Write a page's new activities, make them durable, then move the
    /// checkpoint past them.
    fn take_page(&mut self, page: ActivityPage, walk: Walk) -> Result<()> {
        let mut ndjson = Vec::new();
        let mut lines = 0u64;
        let mut duplicates = 0u64;
        let mut created = Vec::new();
        // Activities without a readable created_at are remembered as if
        // created at the high-water mark: for one overlap window.
        let fallback_time = self.checkpoint.high_water.unwrap_or_else(time::now);
        for raw in &page.data {
            let (id, created_at) = dedupe_key(raw);
            if self.checkpoint.recent.contains(&id) {
                duplicates += 1;
                continue;
            }
            // Remembered now (also catches a repeat within the page);
            // saved only with the checkpoint below.
            self.checkpoint
                .recent
                .insert(id, created_at.unwrap_or(fallback_time));
            if let Some(t) = created_at {
                created.push(t);
            }
            append_line(&mut ndjson, raw.get());
            lines += 1;
        }
        let source = self.page_source(walk);
        let counts = if lines > 0 {
            self.sink.write(&source, &ndjson, lines)?
        } else {
            sink::PageCounts::default()
        };
        self.sink.commit()?;
        self.advance(&page, walk, &created)?;
        let now = time::now();
        let mut h = self.health.lock();
        h.pages += 1;
        h.activities += page.data.len() as u64;
        h.duplicates_dropped += duplicates;
        h.emitted += counts.emitted;
        h.dead_lettered += counts.dead_lettered;
        h.filtered += counts.filtered;
        if walk == Walk::Overlap {
            h.late_arrivals += lines;
        }
        h.record_ingest(&created, now);
        h.set_high_water(self.checkpoint.high_water, now);
        drop(h);
        if self.last_health_line.elapsed() >= self.health_interval() {
            self.health_line();
        }
        Ok(())
    }

    /// Move the checkpoint past a committed page and save it.
    fn advance(&mut self, page: &ActivityPage, walk: Walk, created: &[time::Nanos]) -> Result<()> {
        let c = &mut self.checkpoint;
        if walk == Walk::Forward
            && let Some(last) = &page.last_id
        {
            c.cursor = Some(last.clone());
        }
        if let Some(newest) = created.iter().max() {
            c.high_water = Some(c.high_water.map_or(*newest, |h| h.max(*newest)));
        }
        if let Some(high_water) = c.high_water {
            let horizon = high_water - i128::from(self.config.overlap_secs) * 1_000_000_000;
            let evicted = c.recent.prune(horizon, self.config.max_recent_ids);
            if evicted > 0 {
                self.health.lock().dedupe_evictions += evicted as u64;
                eprintln!(
                    "claude-audit: pull: warning: more than {} ids inside the overlap window; \
                     forgot the {evicted} oldest (raise pull.max_recent_ids or lower \
                     pull.overlap_secs)",
                    self.config.max_recent_ids
                );
            }
        }
        self.save_checkpoint()
    }

    /// Record the committed lengths of the tracked files and save the
    /// checkpoint (after a commit).
    fn save_checkpoint(&mut self) -> Result<()> {
        let c = &mut self.checkpoint;
        c.output = committed(self.files.output.as_deref(), "output file")?;
        c.dead_letter = committed(self.files.dead_letter.as_deref(), "dead-letter file")?;
        c.vault = committed(self.files.vault.as_deref(), "vault")?;
        c.detections = self.sink.detection_state()?;
        c.evidence = self.files.evidence.as_ref().map(|s| s.borrow().size());
        self.state.save(&self.checkpoint)
    }

    /// How a page is named in dead letters.
    fn page_source(&self, walk: Walk) -> String {
        match (walk, &self.checkpoint.cursor) {
            (Walk::Forward, Some(cursor)) => format!("compliance-api page after_id={cursor}"),
            (Walk::Forward, None) => "compliance-api first page".to_owned(),
            (Walk::Overlap, _) => "compliance-api overlap re-poll".to_owned(),
        }
    }

    fn health_interval(&self) -> Duration {
        Duration::from_secs(self.config.health_interval_secs)
    }

    /// Print the health line now.
    fn health_line(&mut self) {
        let line = {
            let mut h = self.health.lock();
            h.set_high_water(self.checkpoint.high_water, time::now());
            h.json_line()
        };
        eprintln!("{line}");
        self.last_health_line = Instant::now();
    }

    /// Wait `period`, printing health lines when due; `false` when a
    /// shutdown cut the wait short.
    fn idle(&mut self, period: Duration) -> bool {
        let until = Instant::now() + period;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            let to_health = self
                .health_interval()
                .saturating_sub(self.last_health_line.elapsed());
            if to_health.is_zero() {
                self.health_line();
                continue;
            }
            if !self.shutdown.sleep(left.min(to_health)) {
                return false;
            }
            if left <= to_health {
                return true;
            }
        }
        !self.shutdown.is_requested()
    }
}

/// The de-duplication key of an activity: its `id`, and its `created_at`
/// when readable. A malformed activity without an id (the plugin
/// dead-letters it) is keyed by the SHA-256 of its text, so that overlap
/// re-reads do not dead-letter it again on every poll.
fn dedupe_key(raw: &RawValue) -> (String, Option<time::Nanos>) {
    let key = activity_key(raw);
    let created_at = key
        .as_ref()
        .and_then(|k| k.created_at.as_deref())
        .and_then(|t| time::parse_rfc3339(t).ok());
    let id = key.and_then(|k| k.id).unwrap_or_else(|| {
        let digest = sha2::Sha256::digest(raw.get().as_bytes());
        format!("sha256:{}", hex::encode(digest))
    });
    (id, created_at)
}

/// Append one activity as an NDJSON line. JSON strings cannot hold raw
/// line breaks, so any in the text are insignificant white space from a
/// pretty-printed body; they are dropped to keep one activity per line.
fn append_line(out: &mut Vec<u8>, json: &str) {
    if memchr::memchr2(b'\n', b'\r', json.as_bytes()).is_some() {
        out.extend(json.bytes().filter(|b| *b != b'\n' && *b != b'\r'));
    } else {
        out.extend_from_slice(json.as_bytes());
    }
    out.push(b'\n');
}

/// The path and length of a tracked file after a commit.
fn committed(path: Option<&Path>, what: &str) -> Result<Option<CommittedFile>> {
    let Some(path) = path else {
        return Ok(None);
    };
    Ok(Some(CommittedFile {
        path: std::path::absolute(path)
            .with_context(|| format!("resolving {what} {}", path.display()))?,
        bytes: crate::output::file_len(path, what)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activities_without_an_id_are_keyed_by_their_text() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let (id, t) = dedupe_key(&raw(
            r#"{"id":"activity_1","created_at":"2026-05-18T00:00:00Z"}"#,
        ));
        assert_eq!(id, "activity_1");
        assert_eq!(
            t,
            Some(time::parse_rfc3339("2026-05-18T00:00:00Z").unwrap())
        );
        let (a, t) = dedupe_key(&raw(r#"{"type":"x"}"#));
        let (b, _) = dedupe_key(&raw(r#"{"type":"x"}"#));
        let (c, _) = dedupe_key(&raw(r#"{"type":"y"}"#));
        assert!(a.starts_with("sha256:") && a == b && a != c && t.is_none());
        let (d, _) = dedupe_key(&raw("[1]"));
        assert!(d.starts_with("sha256:"));
    }

    #[test]
    fn pretty_printed_activities_become_one_line() {
        let mut out = Vec::new();
        append_line(&mut out, "{\n  \"id\": \"a\\nb\",\r\n  \"x\": 1\n}");
        assert_eq!(out, b"{  \"id\": \"a\\nb\",  \"x\": 1}\n");
    }
}
