//! Delivery of transformed events to the downstream HTTP endpoint, with
//! retries: 5xx, 408, 429 and transport failures are retried with capped
//! exponential backoff for up to `retry_for`; other statuses are a refusal.
//! During a shutdown, retries and each attempt's timeout are cut to the
//! drain deadline.

use std::time::{Duration, Instant};

use crate::keys::Secret;
use crate::pull::retry::Backoff;
use crate::shutdown::Shutdown;

use super::stats::ServeStats;

/// Why events were not delivered.
#[derive(Debug)]
pub enum ForwardError {
    /// The downstream kept failing (or was unreachable) for the whole retry
    /// period: the agent should retry later (503).
    Unavailable(String),
    /// The downstream refused the events (a 4xx other than 408/429):
    /// retrying the same events cannot help (502).
    Refused(String),
    /// A local failure (writing dead letters): the hop stops.
    Local(anyhow::Error),
}

/// Sends NDJSON to the downstream URL.
pub struct Forwarder {
    agent: ureq::Agent,
    url: String,
    authorization: Option<Secret>,
    timeout: Duration,
    retry_for: Duration,
    backoff: Backoff,
}

impl Forwarder {
    /// A forwarder to `url`; `authorization` is the whole `Authorization`
    /// header value (e.g. `Splunk <token>`), read from the environment.
    pub fn new(
        url: String,
        authorization: Option<Secret>,
        timeout: Duration,
        retry_for: Duration,
    ) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            // A redirect could carry the Authorization header elsewhere.
            .max_redirects(0)
            .user_agent(concat!("claude-audit/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self {
            agent,
            url,
            authorization,
            timeout,
            retry_for,
            backoff: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(5),
            },
        }
    }

    /// Deliver `ndjson`, retrying transient failures, until `retry_for` or
    /// the drain deadline of `shutdown` runs out.
    pub fn send(
        &self,
        ndjson: &[u8],
        stats: &ServeStats,
        shutdown: &Shutdown,
    ) -> Result<(), ForwardError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let drain_left = shutdown.time_left();
            let timeout = drain_left.map_or(self.timeout, |left| left.min(self.timeout));
            ServeStats::bump(&stats.forward_attempts);
            let failure = match self.post(ndjson, timeout) {
                Ok(status) if (200..300).contains(&status) => return Ok(()),
                Ok(status) if status == 408 || status == 429 || status >= 500 => {
                    format!("HTTP {status}")
                }
                Ok(status) => {
                    ServeStats::bump(&stats.forward_failures);
                    return Err(ForwardError::Refused(format!("HTTP {status}")));
                }
                Err(e) => format!("request failed: {e}"),
            };
            ServeStats::bump(&stats.forward_failures);
            attempt += 1;
            let mut left = self.retry_for.saturating_sub(started.elapsed());
            if let Some(drain) = shutdown.time_left() {
                left = left.min(drain);
            }
            if left.is_zero() {
                return Err(ForwardError::Unavailable(format!(
                    "{failure} (after {attempt} attempts in {:.1}s)",
                    started.elapsed().as_secs_f64()
                )));
            }
            ServeStats::bump(&stats.forward_retries);
            std::thread::sleep(self.backoff.delay(attempt).min(left));
        }
    }

    fn post(&self, ndjson: &[u8], timeout: Duration) -> Result<u16, ureq::Error> {
        let mut request = self
            .agent
            .post(&self.url)
            .config()
            .timeout_global(Some(timeout.max(Duration::from_millis(1))))
            .build()
            .header("content-type", "application/x-ndjson");
        if let Some(auth) = &self.authorization {
            request = request.header(
                "authorization",
                std::str::from_utf8(auth.bytes()).unwrap_or_default(),
            );
        }
        let mut response = request.send(ndjson)?;
        // Read the body so the connection can be reused; its content is not needed.
        let _ = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec();
        Ok(response.status().as_u16())
    }
}
