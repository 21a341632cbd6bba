//! The hop's counters, served as JSON on `GET /health` and as Prometheus
//! text on `GET /metrics`, from one table so that both always agree.
//!
//! Record counters (`records`, `forwarded`, `dead_lettered`, `filtered`)
//! count only requests answered `200`: those are the records the hop took
//! responsibility for, so `dead_lettered` equals the dead-letter file's line
//! count (dead letters are written only for such requests) and `forwarded`
//! equals what the downstream acknowledged for them. Every request answered
//! counts in exactly one `requests_*` counter.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::budget::Budget;

/// Counters since start.
#[derive(Debug, Default)]
pub struct ServeStats {
    /// Requests answered 200.
    pub requests_ok: AtomicU64,
    /// Requests answered 503 because the buffer was full.
    pub requests_busy: AtomicU64,
    /// Requests answered 503 because the hop was shutting down.
    pub requests_draining: AtomicU64,
    /// Requests answered 503 because the downstream stayed down.
    pub requests_unavailable: AtomicU64,
    /// Requests answered 502: the downstream refused their events (4xx).
    pub requests_refused_downstream: AtomicU64,
    /// Requests answered 4xx: bad framing, body too large, unknown path.
    pub requests_invalid: AtomicU64,
    /// Records in requests answered 200.
    pub records: AtomicU64,
    /// Events forwarded for requests answered 200.
    pub forwarded: AtomicU64,
    /// Records dead-lettered (written to the dead-letter file).
    pub dead_lettered: AtomicU64,
    /// Records filtered by policy in requests answered 200.
    pub filtered: AtomicU64,
    /// Downstream requests sent, retries included.
    pub forward_attempts: AtomicU64,
    /// Downstream requests that failed (non-2xx or transport error).
    pub forward_failures: AtomicU64,
    /// Failed downstream requests that were sent again.
    pub forward_retries: AtomicU64,
    /// Whether a shutdown is draining the hop.
    pub draining: AtomicBool,
}

/// `(name, value, Prometheus help)` of one counter.
type Row = (&'static str, u64, &'static str);

impl ServeStats {
    /// Add one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn counters(&self) -> [Row; 13] {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            (
                "requests_ok",
                get(&self.requests_ok),
                "Requests answered 200.",
            ),
            (
                "requests_busy",
                get(&self.requests_busy),
                "Requests answered 503: buffer full.",
            ),
            (
                "requests_draining",
                get(&self.requests_draining),
                "Requests answered 503: shutting down.",
            ),
            (
                "requests_unavailable",
                get(&self.requests_unavailable),
                "Requests answered 503: downstream down.",
            ),
            (
                "requests_refused_downstream",
                get(&self.requests_refused_downstream),
                "Requests answered 502: downstream refused.",
            ),
            (
                "requests_invalid",
                get(&self.requests_invalid),
                "Requests answered 4xx.",
            ),
            (
                "records",
                get(&self.records),
                "Records in requests answered 200.",
            ),
            (
                "forwarded",
                get(&self.forwarded),
                "Events forwarded for requests answered 200.",
            ),
            (
                "dead_lettered",
                get(&self.dead_lettered),
                "Records written to the dead-letter file.",
            ),
            (
                "filtered",
                get(&self.filtered),
                "Records filtered by policy in requests answered 200.",
            ),
            (
                "forward_attempts",
                get(&self.forward_attempts),
                "Downstream requests sent, retries included.",
            ),
            (
                "forward_failures",
                get(&self.forward_failures),
                "Downstream requests that failed.",
            ),
            (
                "forward_retries",
                get(&self.forward_retries),
                "Failed downstream requests sent again.",
            ),
        ]
    }

    fn gauges(&self, budget: &Budget) -> [(&'static str, u64, &'static str); 4] {
        [
            (
                "buffered_bytes",
                budget.held() as u64,
                "Bytes held for requests now.",
            ),
            (
                "buffered_bytes_high_water",
                budget.high_water() as u64,
                "Most bytes held at once.",
            ),
            (
                "buffer_limit_bytes",
                budget.limit() as u64,
                "The --buffer-kib limit in bytes.",
            ),
            (
                "draining",
                u64::from(self.draining.load(Ordering::Relaxed)),
                "1 while shutting down.",
            ),
        ]
    }

    /// The `GET /health` body: every counter and gauge by name.
    pub fn json(&self, budget: &Budget) -> String {
        let mut map = serde_json::Map::new();
        let rows = self.counters().into_iter().chain(self.gauges(budget));
        for (name, value, _) in rows {
            map.insert(name.to_owned(), value.into());
        }
        serde_json::Value::Object(map).to_string()
    }

    /// The `GET /metrics` body: counters as `claude_audit_serve_<name>_total`,
    /// gauges as `claude_audit_serve_<name>`.
    pub fn prometheus(&self, budget: &Budget) -> String {
        let mut out = String::new();
        let kinds = [("counter", "_total")].into_iter().cycle();
        let counters = self.counters().into_iter().zip(kinds);
        let gauges = self
            .gauges(budget)
            .into_iter()
            .map(|row| (row, ("gauge", "")));
        for ((name, value, help), (kind, suffix)) in counters.chain(gauges) {
            let _ = writeln!(out, "# HELP claude_audit_serve_{name}{suffix} {help}");
            let _ = writeln!(out, "# TYPE claude_audit_serve_{name}{suffix} {kind}");
            let _ = writeln!(out, "claude_audit_serve_{name}{suffix} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_prometheus_show_the_same_figures() {
        let stats = ServeStats::default();
        ServeStats::bump(&stats.requests_ok);
        stats.dead_lettered.fetch_add(3, Ordering::Relaxed);
        let budget = Budget::new(1024);
        let json: serde_json::Value = serde_json::from_str(&stats.json(&budget)).unwrap();
        assert_eq!(json["dead_lettered"], 3);
        assert_eq!(json["buffer_limit_bytes"], 1024);
        let text = stats.prometheus(&budget);
        assert!(
            text.contains("claude_audit_serve_dead_lettered_total 3\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE claude_audit_serve_requests_ok_total counter\n"));
        assert!(text.contains("claude_audit_serve_buffer_limit_bytes 1024\n"));
    }
}
