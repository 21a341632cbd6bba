//! Request pacing: at most `requests_per_minute`, and a pause until the
//! window resets when the shared budget runs low (the 600/minute limit is
//! per parent organization, shared with every other tool: SPEC §7).

use std::time::{Duration, Instant};

use super::client::RateLimitHeaders;
use super::time;
use crate::shutdown::Shutdown;

/// Longest pause taken on the word of a reset header (one window).
const MAX_RESET_WAIT: Duration = Duration::from_secs(60);

/// Spaces requests out.
#[derive(Debug)]
pub struct Pacer {
    min_gap: Duration,
    reserve: u64,
    next_at: Option<Instant>,
}

impl Pacer {
    /// At most `per_minute` requests a minute; pause when the API reports
    /// `reserve` or fewer requests left.
    pub fn new(per_minute: u32, reserve: u64) -> Self {
        Self {
            min_gap: Duration::from_secs(60) / per_minute.max(1),
            reserve,
            next_at: None,
        }
    }

    /// Sleep until the next request may go; `false` when a shutdown cut
    /// the sleep short (the request should not go).
    pub fn wait(&mut self, shutdown: &Shutdown) -> bool {
        let now = Instant::now();
        let wait = self
            .next_at
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(now));
        if !shutdown.sleep(wait) {
            return false;
        }
        self.next_at = Some(Instant::now() + self.min_gap);
        true
    }

    /// Delay the next request by at least `wait` (a `retry-after`, a backoff).
    pub fn defer(&mut self, wait: Duration) {
        let at = Instant::now() + wait;
        self.next_at = Some(self.next_at.map_or(at, |n| n.max(at)));
    }

    /// Take the API's rate-limit headers into account.
    pub fn observe(&mut self, headers: &RateLimitHeaders) {
        if let Some(wait) = reset_wait(headers, self.reserve, time::now()) {
            self.defer(wait);
        }
    }
}

/// How long to pause, if the remaining budget is at or below `reserve`:
/// until the reset time (at most one window), or one window when the reset
/// time is missing or unreadable.
fn reset_wait(headers: &RateLimitHeaders, reserve: u64, now: time::Nanos) -> Option<Duration> {
    let remaining = headers.remaining?;
    if remaining > reserve {
        return None;
    }
    let until_reset = headers
        .reset
        .as_deref()
        .and_then(|r| time::parse_rfc3339(r).ok())
        .map(|reset| Duration::from_nanos((reset - now).clamp(0, u64::MAX as i128) as u64));
    Some(until_reset.unwrap_or(MAX_RESET_WAIT).min(MAX_RESET_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_budget_waits_for_the_reset() {
        let now = time::parse_rfc3339("2026-11-26T10:00:00Z").unwrap();
        let h = |remaining, reset: &str| RateLimitHeaders {
            limit: Some(600),
            remaining: Some(remaining),
            reset: Some(reset.to_owned()),
        };
        assert_eq!(reset_wait(&h(100, "2026-11-26T10:00:30Z"), 20, now), None);
        assert_eq!(
            reset_wait(&h(20, "2026-11-26T10:00:30Z"), 20, now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            reset_wait(&h(0, "2026-11-26T11:00:00Z"), 20, now),
            Some(MAX_RESET_WAIT)
        );
        assert_eq!(
            reset_wait(&h(0, "2026-11-26T09:00:00Z"), 20, now),
            Some(Duration::ZERO)
        );
        assert_eq!(reset_wait(&RateLimitHeaders::default(), 20, now), None);
    }

    #[test]
    fn requests_are_spaced() {
        let mut p = Pacer::new(6000, 0); // 10 ms apart
        let shutdown = Shutdown::new(Duration::from_secs(1));
        assert!(p.wait(&shutdown));
        let start = Instant::now();
        assert!(p.wait(&shutdown));
        assert!(start.elapsed() >= Duration::from_millis(9));
        p.defer(Duration::from_secs(60));
        shutdown.request();
        assert!(!p.wait(&shutdown), "a shutdown cuts the wait short");
    }
}
