//! Completeness and lag figures of the poller: a one-line JSON summary on
//! stderr and, optionally, a Prometheus text endpoint.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use super::time::{self, Nanos};
use crate::evidence::runs::{LagHistogram, PollerFigures, RunSummary};

/// Counters since start, and lag figures.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Health {
    /// Requests sent (including retried ones).
    pub requests: u64,
    /// Pages received and committed.
    pub pages: u64,
    /// Activities received from the API.
    pub activities: u64,
    /// Events written (or raw activities with `--raw`).
    pub emitted: u64,
    /// Activities dead-lettered.
    pub dead_lettered: u64,
    /// Activities dropped by the plugin's type filter.
    pub filtered: u64,
    /// Activities dropped because their id was already emitted.
    pub duplicates_dropped: u64,
    /// Activities first seen by the overlap re-poll (indexed late).
    pub late_arrivals: u64,
    /// Content records (`[pull.content]`: messages, artifact versions,
    /// files, soft deletions) received, messages skipped by id included.
    /// With `activities`:
    /// `activities + content_records = emitted + dead_lettered + filtered
    /// + duplicates_dropped` (duplicates counting messages skipped by id).
    pub content_records: u64,
    /// Requests retried (429, 5xx, transport failures).
    pub retries: u64,
    /// Of which 429 answers.
    pub rate_limited: u64,
    /// Ids forgotten before their overlap window closed because
    /// `max_recent_ids` was reached: duplicates become possible.
    pub dedupe_evictions: u64,
    /// Seconds between now and the newest committed `created_at`.
    pub cursor_lag_seconds: Option<f64>,
    /// Time-to-ingest of the last activity written: now minus `created_at`.
    pub ingest_lag_seconds_last: Option<f64>,
    /// Largest time-to-ingest seen.
    pub ingest_lag_seconds_max: Option<f64>,
    /// Sum of time-to-ingest over written activities (for an average).
    pub ingest_lag_seconds_sum: f64,
    /// `anthropic-ratelimit-requests-limit` of the last answer.
    pub rate_limit_limit: Option<u64>,
    /// `anthropic-ratelimit-requests-remaining` of the last answer.
    pub rate_limit_remaining: Option<u64>,
    /// Whether the last walk reached the end of the feed (`has_more: false`).
    pub caught_up: bool,
    /// `request-id` of the last successful page (provenance).
    pub last_request_id: Option<String>,
    /// `created_at` of the newest committed activity.
    pub high_water: Option<String>,
    /// Seconds waited before retries (for the evidence run summary).
    #[serde(skip)]
    pub retry_wait_seconds: f64,
    /// Time-to-ingest distribution (for the evidence run summary).
    #[serde(skip)]
    pub time_to_ingest: LagHistogram,
}

impl Health {
    /// Record the time-to-ingest of activities created at `created`.
    pub fn record_ingest(&mut self, created: &[Nanos], now: Nanos) {
        for &c in created {
            let lag = time::seconds_between(c, now);
            self.ingest_lag_seconds_last = Some(lag);
            self.ingest_lag_seconds_max =
                Some(self.ingest_lag_seconds_max.map_or(lag, |m| m.max(lag)));
            self.ingest_lag_seconds_sum += lag;
            self.time_to_ingest.record(lag);
        }
    }

    /// `run` completed with this poller's figures, for the evidence store.
    pub fn run_summary(&self, run: RunSummary) -> RunSummary {
        RunSummary {
            read: self.activities,
            emitted: self.emitted,
            dead_lettered: self.dead_lettered,
            filtered: self.filtered,
            poller: Some(PollerFigures {
                requests: self.requests,
                retries: self.retries,
                rate_limited: self.rate_limited,
                retry_wait_seconds: self.retry_wait_seconds,
                duplicates_dropped: self.duplicates_dropped,
                time_to_ingest: self.time_to_ingest.clone(),
            }),
            ..run
        }
    }

    /// Refresh the cursor lag against `now`.
    pub fn set_high_water(&mut self, high_water: Option<Nanos>, now: Nanos) {
        self.cursor_lag_seconds = high_water.map(|h| time::seconds_between(h, now));
        self.high_water = high_water.map(time::format_rfc3339);
    }

    /// The one-line JSON summary for stderr.
    pub fn json_line(&self) -> String {
        let body = serde_json::to_string(self).unwrap_or_default();
        format!(
            "{{\"claude_audit_pull\":{body},\"at\":\"{}\"}}",
            time::format_rfc3339(time::now())
        )
    }

    /// The Prometheus text exposition.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
            let _ = writeln!(out, "# HELP claude_audit_pull_{name} {help}");
            let _ = writeln!(out, "# TYPE claude_audit_pull_{name} {kind}");
            let _ = writeln!(out, "claude_audit_pull_{name} {value}");
        };
        let counters = [
            (
                "requests_total",
                self.requests,
                "Requests sent, retries included.",
            ),
            ("pages_total", self.pages, "Pages received and committed."),
            (
                "activities_total",
                self.activities,
                "Activities received from the API.",
            ),
            ("emitted_total", self.emitted, "Events written."),
            (
                "dead_lettered_total",
                self.dead_lettered,
                "Activities dead-lettered.",
            ),
            (
                "filtered_total",
                self.filtered,
                "Activities dropped by the type filter.",
            ),
            (
                "duplicates_dropped_total",
                self.duplicates_dropped,
                "Activities dropped as already emitted.",
            ),
            (
                "late_arrivals_total",
                self.late_arrivals,
                "Activities found by the overlap re-poll.",
            ),
            (
                "content_records_total",
                self.content_records,
                "Content records (messages, artifacts, files, deletions) processed.",
            ),
            ("retries_total", self.retries, "Requests retried."),
            ("rate_limited_total", self.rate_limited, "429 answers."),
            (
                "dedupe_evictions_total",
                self.dedupe_evictions,
                "Ids forgotten early (max_recent_ids).",
            ),
        ];
        for (name, value, help) in counters {
            metric(name, "counter", help, value as f64);
        }
        let gauges = [
            (
                "cursor_lag_seconds",
                self.cursor_lag_seconds,
                "Now minus the newest committed created_at.",
            ),
            (
                "ingest_lag_seconds_last",
                self.ingest_lag_seconds_last,
                "Time-to-ingest of the last activity.",
            ),
            (
                "ingest_lag_seconds_max",
                self.ingest_lag_seconds_max,
                "Largest time-to-ingest seen.",
            ),
            (
                "rate_limit_limit",
                self.rate_limit_limit.map(|v| v as f64),
                "Requests per window of the shared budget.",
            ),
            (
                "rate_limit_remaining",
                self.rate_limit_remaining.map(|v| v as f64),
                "Requests left in the shared budget.",
            ),
        ];
        for (name, value, help) in gauges {
            if let Some(v) = value {
                metric(name, "gauge", help, v);
            }
        }
        metric(
            "ingest_lag_seconds_sum",
            "counter",
            "Sum of time-to-ingest over written activities.",
            self.ingest_lag_seconds_sum,
        );
        metric(
            "caught_up",
            "gauge",
            "1 when the last walk reached the end of the feed.",
            f64::from(u8::from(self.caught_up)),
        );
        out
    }
}

/// Health shared between the poller and the metrics endpoint.
#[derive(Debug, Clone, Default)]
pub struct SharedHealth(Arc<Mutex<Health>>);

impl SharedHealth {
    /// Lock for reading or updating. A poisoned lock still holds valid
    /// counters (they are plain numbers), so it is used anyway.
    pub fn lock(&self) -> MutexGuard<'_, Health> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serve `GET /metrics` on `addr` from a background thread. Binds
    /// before returning, so that a bad address fails at start-up.
    pub fn serve_metrics(&self, addr: SocketAddr) -> Result<SocketAddr> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("listening on --metrics-addr {addr}"))?;
        let bound = server
            .server_addr()
            .to_ip()
            .context("the metrics endpoint has no IP address")?;
        let health = self.clone();
        thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for request in server.incoming_requests() {
                    let response = if request.url() == "/metrics" {
                        let text = health.lock().prometheus();
                        tiny_http::Response::from_string(text).with_header(
                            tiny_http::Header::from_bytes(
                                "content-type",
                                "text/plain; version=0.0.4",
                            )
                            .expect("static header is valid"),
                        )
                    } else {
                        tiny_http::Response::from_string("see /metrics\n").with_status_code(404)
                    };
                    // A client that hung up is not the poller's problem.
                    let _ = request.respond(response);
                }
            })
            .context("starting the metrics thread")?;
        Ok(bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_counters_and_lag() {
        let mut h = Health {
            pages: 3,
            ..Health::default()
        };
        h.record_ingest(&[0, 1_000_000_000], 3_000_000_000);
        let text = h.prometheus();
        assert!(text.contains("claude_audit_pull_pages_total 3\n"), "{text}");
        assert!(
            text.contains("claude_audit_pull_ingest_lag_seconds_max 3\n"),
            "{text}"
        );
        assert!(
            text.contains("claude_audit_pull_ingest_lag_seconds_last 2\n"),
            "{text}"
        );
        assert!(
            h.json_line()
                .starts_with("{\"claude_audit_pull\":{\"requests\":0,")
        );
    }
}
