//! Run summaries: at its end, every command that wrote to a store (`run`,
//! `pull`, `serve`) appends a signed record of what it did, so that a
//! report can state completeness figures the events alone cannot show:
//! records read, emitted, dead-lettered and filtered, and, for `pull`, the
//! poller's retries, rate limiting and time-to-ingest.
//!
//! The record (`kind` = `run_summary`, in `DIR/records/`, signed like the
//! retention records) names the leaves the run appended, `[leaves_from,
//! leaves_to)`, and its final checkpoint covers them. A run killed before
//! its end leaves no summary: the report counts the leaves no summary
//! covers, so that gap is visible too.

use serde::{Deserialize, Serialize};

use super::retention::Record;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSummary {
    /// `run`, `pull` or `serve`.
    pub command: String,
    /// When it opened the store (RFC 3339).
    pub started: String,
    /// When it wrote this record.
    pub finished: String,
    /// Store size when it started.
    pub leaves_from: u64,
    /// Store size at its final checkpoint.
    pub leaves_to: u64,
    /// Input records read (activities for `pull`, records posted for
    /// `serve`).
    pub read: u64,
    /// Events emitted (appended to the store).
    pub emitted: u64,
    /// Records dead-lettered.
    pub dead_lettered: u64,
    /// Records filtered by policy.
    pub filtered: u64,
    /// Poller figures, for `pull`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poller: Option<PollerFigures>,
}

/// What the poller of a `pull` run met.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollerFigures {
    /// Requests sent, retries included.
    pub requests: u64,
    /// Requests retried (429, 5xx, transport failures).
    pub retries: u64,
    /// Of which 429 (rate limited) answers.
    pub rate_limited: u64,
    /// Seconds spent waiting before retries (`retry-after` or backoff).
    pub retry_wait_seconds: f64,
    /// Activities dropped as already emitted (overlap re-poll).
    pub duplicates_dropped: u64,
    /// Time from an activity's `created_at` to its append to the store.
    pub time_to_ingest: LagHistogram,
}

/// Lower bound of the first bucket, in seconds.
const FIRST_BOUND: f64 = 0.01;
/// Buckets: upper bounds `0.01 s × 2^(i/2)`, the last one open (about a
/// year and up). Hand-written rather than a histogram crate: percentiles
/// at a factor √2 resolution are all a report needs, and the buckets must
/// merge across runs exactly.
const BUCKETS: usize = 64;

/// A log-scale histogram of lags (seconds): bounded memory whatever the
/// number of events, exact merging, percentiles within a factor √2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LagHistogram {
    /// Lags recorded.
    pub count: u64,
    /// Largest lag, seconds.
    pub max_seconds: f64,
    /// Count per bucket; bucket `i` holds lags up to `0.01 × 2^(i/2)` s.
    pub buckets: Vec<u64>,
}

impl Default for LagHistogram {
    fn default() -> Self {
        Self {
            count: 0,
            max_seconds: 0.0,
            buckets: vec![0; BUCKETS],
        }
    }
}

impl LagHistogram {
    /// Upper bound of bucket `i`, seconds.
    pub fn bound(i: usize) -> f64 {
        FIRST_BOUND * 2f64.powf(i as f64 / 2.0)
    }

    /// Record one lag (negative lags, from clock skew, count as 0).
    pub fn record(&mut self, seconds: f64) {
        let s = seconds.max(0.0);
        let i = (0..BUCKETS - 1)
            .find(|&i| s <= Self::bound(i))
            .unwrap_or(BUCKETS - 1);
        self.bump(i, 1);
        self.count += 1;
        self.max_seconds = self.max_seconds.max(s);
    }

    fn bump(&mut self, i: usize, n: u64) {
        if self.buckets.len() < BUCKETS {
            self.buckets.resize(BUCKETS, 0);
        }
        self.buckets[i] += n;
    }

    /// Add `other`'s counts.
    pub fn merge(&mut self, other: &LagHistogram) {
        for (i, n) in other.buckets.iter().enumerate().take(BUCKETS) {
            self.bump(i, *n);
        }
        self.count += other.count;
        self.max_seconds = self.max_seconds.max(other.max_seconds);
    }

    /// The `q` quantile (0 < q <= 1): the upper bound of its bucket, never
    /// above the maximum; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let rank = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if *n > 0 && seen >= rank {
                return Some(Self::bound(i).min(self.max_seconds));
            }
        }
        None
    }
}

/// Time-to-ingest percentiles, seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LagPercentiles {
    /// Activities measured.
    pub count: u64,
    /// Median (upper bound of its bucket).
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

/// The report's figures from the run summaries of the runs that appended
/// the reported events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFigures {
    /// Runs counted, by command.
    pub runs: std::collections::BTreeMap<String, u64>,
    /// Input records those runs read.
    pub read: u64,
    /// Events they emitted.
    pub emitted: u64,
    /// Records they dead-lettered.
    pub dead_lettered: u64,
    /// Records they filtered by policy.
    pub filtered: u64,
    /// Leaves between the first and last reported event that no run
    /// summary covers (a run killed before its end, or written by a
    /// version without summaries).
    pub leaves_without_summary: u64,
    /// Poller figures summed over `pull` runs.
    pub poller: Option<PollerTotals>,
}

/// Poller figures summed over `pull` runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollerTotals {
    /// Requests sent, retries included.
    pub requests: u64,
    /// Requests retried.
    pub retries: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// Seconds waited before retries.
    pub retry_wait_seconds: f64,
    /// Activities dropped as already emitted.
    pub duplicates_dropped: u64,
    /// Time from `created_at` to the store.
    pub time_to_ingest_seconds: LagPercentiles,
}

/// Sum the summaries among `records` whose leaves meet `[first, last]`
/// (the leaves of the reported events; `None`: no event).
pub fn figures(records: &[Record], leaves: Option<(u64, u64)>) -> RunFigures {
    let mut out = RunFigures::default();
    let Some((first, last)) = leaves else {
        return out;
    };
    let mut lag = LagHistogram::default();
    let mut covered = 0;
    for r in records {
        let Record::RunSummary(s) = r else { continue };
        if s.leaves_to <= first || s.leaves_from > last {
            continue;
        }
        covered += s.leaves_to.min(last + 1) - s.leaves_from.max(first);
        *out.runs.entry(s.command.clone()).or_default() += 1;
        out.read += s.read;
        out.emitted += s.emitted;
        out.dead_lettered += s.dead_lettered;
        out.filtered += s.filtered;
        if let Some(p) = &s.poller {
            let t = out.poller.get_or_insert_with(PollerTotals::default);
            t.requests += p.requests;
            t.retries += p.retries;
            t.rate_limited += p.rate_limited;
            t.retry_wait_seconds += p.retry_wait_seconds;
            t.duplicates_dropped += p.duplicates_dropped;
            lag.merge(&p.time_to_ingest);
        }
    }
    out.leaves_without_summary = (last + 1 - first).saturating_sub(covered);
    if let Some(t) = &mut out.poller {
        t.time_to_ingest_seconds = LagPercentiles {
            count: lag.count,
            p50: lag.quantile(0.5),
            p90: lag.quantile(0.9),
            p99: lag.quantile(0.99),
            max: (lag.count > 0).then_some(lag.max_seconds),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_fall_within_a_factor_sqrt2_and_merge_exactly() {
        let mut a = LagHistogram::default();
        let mut b = LagHistogram::default();
        for i in 1..=90 {
            a.record(f64::from(i));
        }
        for i in 91..=100 {
            b.record(f64::from(i));
        }
        a.merge(&b);
        assert_eq!(a.count, 100);
        assert_eq!(a.max_seconds, 100.0);
        let p50 = a.quantile(0.5).unwrap();
        assert!((50.0..=50.0 * 2f64.sqrt()).contains(&p50), "{p50}");
        assert_eq!(a.quantile(1.0), Some(100.0));
        assert_eq!(LagHistogram::default().quantile(0.5), None);
        a.record(-3.0);
        assert_eq!(a.buckets[0], 1);
    }
}
