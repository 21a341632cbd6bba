//! What to do with an answer: use it, retry it (after how long), or stop.
//!
//! SPEC §7–8: 429 waits for `retry-after` (exponential backoff when it is
//! missing); 5xx and transport failures back off exponentially with jitter
//! unless `x-should-retry: false` says the failure is deterministic; other
//! statuses are not retried unless `x-should-retry: true`. A failed request
//! never moves the cursor: the same request is sent again.

use std::time::Duration;

use super::client::{ApiMessage, RawResponse};

/// The decision about one answer.
#[derive(Debug)]
pub enum Verdict {
    /// A 2xx answer: parse the page.
    Success,
    /// Send the same request again after `wait`.
    Retry {
        /// How long to wait first.
        wait: Duration,
        /// Why, for the health line (`429`, `503`, `timeout`...).
        reason: String,
        /// Whether it was a 429 (counted apart).
        rate_limited: bool,
    },
    /// Stop: retrying the same request cannot help.
    Fatal(StopReason),
}

/// Why the poller stops. Each maps to an exit code (see `cli::pull`).
#[derive(Debug, Clone)]
pub enum StopReason {
    /// 401: the key was not accepted.
    Unauthenticated(ApiMessage),
    /// 403: the key lacks a scope.
    Forbidden(ApiMessage),
    /// 400 and other 4xx: the API refused the request as made.
    Rejected {
        /// Status code.
        status: u16,
        /// The API's message.
        message: ApiMessage,
    },
    /// 5xx with `x-should-retry: false`: a deterministic server failure.
    ServerRefused {
        /// Status code.
        status: u16,
        /// The API's message.
        message: ApiMessage,
    },
}

/// Exponential backoff with jitter.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before retry number `attempt` (1-based): `initial *
    /// 2^(attempt-1)`, capped, then scaled by a random factor in [0.5, 1]
    /// so that many pollers do not retry in step.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.max);
        capped.mul_f64(0.5 + 0.5 * random_unit())
    }
}

/// Classify an answer. `attempt` is the retry number this would be
/// (1-based), for the backoff; `message` reads the error body on demand.
pub fn classify(
    response: &RawResponse,
    attempt: u32,
    backoff: &Backoff,
    message: impl Fn() -> ApiMessage,
) -> Verdict {
    let status = response.status;
    let retry = |reason: String, wait: Duration, rate_limited: bool| Verdict::Retry {
        wait,
        reason,
        rate_limited,
    };
    match status {
        200..=299 => Verdict::Success,
        429 => {
            let wait = response
                .retry_after
                .unwrap_or_else(|| backoff.delay(attempt));
            retry("429 rate limited".into(), wait, true)
        }
        500..=599 if response.should_retry == Some(false) => {
            Verdict::Fatal(StopReason::ServerRefused {
                status,
                message: message(),
            })
        }
        500..=599 => retry(
            format!("{status} server error"),
            backoff.delay(attempt),
            false,
        ),
        _ if response.should_retry == Some(true) => retry(
            format!("{status} (x-should-retry)"),
            backoff.delay(attempt),
            false,
        ),
        401 => Verdict::Fatal(StopReason::Unauthenticated(message())),
        403 => Verdict::Fatal(StopReason::Forbidden(message())),
        _ => Verdict::Fatal(StopReason::Rejected {
            status,
            message: message(),
        }),
    }
}

/// A uniform random number in [0, 1).
fn random_unit() -> f64 {
    let mut bytes = [0u8; 4];
    // Jitter only spreads retries; a failed draw just means no jitter.
    if getrandom::fill(&mut bytes).is_err() {
        return 1.0;
    }
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pull::client::RateLimitHeaders;

    fn response(status: u16) -> RawResponse {
        RawResponse {
            status,
            retry_after: None,
            should_retry: None,
            request_id: None,
            rate_limit: RateLimitHeaders::default(),
            body: Vec::new(),
            digest: None,
        }
    }

    const BACKOFF: Backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
    };

    fn msg() -> ApiMessage {
        ApiMessage {
            kind: "x".into(),
            message: "y".into(),
        }
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        for attempt in 1..30 {
            let d = BACKOFF.delay(attempt);
            let full = Duration::from_secs((1u64 << (attempt - 1).min(20)).min(60));
            assert!(d <= full && d >= full / 2, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn statuses_map_to_the_documented_actions() {
        let mut r = response(429);
        r.retry_after = Some(Duration::from_secs(7));
        assert!(matches!(
            classify(&r, 1, &BACKOFF, msg),
            Verdict::Retry { wait, rate_limited: true, .. } if wait == Duration::from_secs(7)
        ));
        assert!(matches!(
            classify(&response(503), 1, &BACKOFF, msg),
            Verdict::Retry { .. }
        ));
        let mut r = response(500);
        r.should_retry = Some(false);
        assert!(matches!(
            classify(&r, 1, &BACKOFF, msg),
            Verdict::Fatal(StopReason::ServerRefused { status: 500, .. })
        ));
        assert!(matches!(
            classify(&response(401), 1, &BACKOFF, msg),
            Verdict::Fatal(StopReason::Unauthenticated(_))
        ));
        assert!(matches!(
            classify(&response(403), 1, &BACKOFF, msg),
            Verdict::Fatal(StopReason::Forbidden(_))
        ));
        assert!(matches!(
            classify(&response(400), 1, &BACKOFF, msg),
            Verdict::Fatal(StopReason::Rejected { status: 400, .. })
        ));
        let mut r = response(409);
        r.should_retry = Some(true);
        assert!(matches!(
            classify(&r, 1, &BACKOFF, msg),
            Verdict::Retry { .. }
        ));
        assert!(matches!(
            classify(&response(200), 1, &BACKOFF, msg),
            Verdict::Success
        ));
    }
}
