//! Graceful shutdown of the long-running commands (`serve`, `pull`).
//!
//! The first SIGTERM or SIGINT starts a drain: the command stops taking new
//! work, finishes (or, past the drain deadline, abandons) what is in flight,
//! makes its files durable and exits 0. A second signal ends the process at
//! once (exit 128 + signal number): everything acknowledged so far is
//! already durable, because both commands fsync before they acknowledge.
//!
//! Signals are caught with `signal-hook`'s iterator on a dedicated thread,
//! so no work happens inside a signal handler.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Slice in which interruptible sleeps check for a shutdown.
const POLL: Duration = Duration::from_millis(50);

/// The shutdown state shared by a command's threads.
#[derive(Debug)]
pub struct Shutdown {
    requested: AtomicBool,
    deadline: OnceLock<Instant>,
    drain: Duration,
}

impl Shutdown {
    /// A shutdown state whose drain lasts at most `drain` once requested
    /// (not yet listening to signals: see [`Shutdown::on_signals`]).
    pub fn new(drain: Duration) -> Arc<Self> {
        Arc::new(Self {
            requested: AtomicBool::new(false),
            deadline: OnceLock::new(),
            drain,
        })
    }

    /// Start a thread that requests the shutdown on the first SIGTERM or
    /// SIGINT and exits the process at once on the second. `command` names
    /// the command in the messages.
    pub fn on_signals(self: &Arc<Self>, command: &'static str) -> Result<()> {
        let mut signals =
            Signals::new([SIGTERM, SIGINT]).context("installing the SIGTERM/SIGINT handlers")?;
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    if me.is_requested() {
                        eprintln!(
                            "claude-audit: {command}: second signal ({signal}): stopping now, \
                             without draining"
                        );
                        std::process::exit(128 + signal);
                    }
                    eprintln!(
                        "claude-audit: {command}: signal {signal}: draining (at most {}s; a \
                         second signal stops at once)",
                        me.drain.as_secs()
                    );
                    me.request();
                }
            })
            .context("starting the signal thread")?;
        Ok(())
    }

    /// Request the shutdown now (what the first signal does).
    pub fn request(&self) {
        let _ = self.deadline.set(Instant::now() + self.drain);
        self.requested.store(true, Ordering::SeqCst);
    }

    /// Whether a shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Time left to drain: `None` while no shutdown was requested.
    pub fn time_left(&self) -> Option<Duration> {
        if !self.is_requested() {
            return None;
        }
        let deadline = self.deadline.get()?;
        Some(deadline.saturating_duration_since(Instant::now()))
    }

    /// Whether the drain deadline has passed.
    pub fn expired(&self) -> bool {
        self.time_left().is_some_and(|left| left.is_zero())
    }

    /// Sleep for `period`, or less if a shutdown is requested meanwhile.
    /// Returns `false` when interrupted.
    pub fn sleep(&self, period: Duration) -> bool {
        let until = Instant::now() + period;
        loop {
            if self.is_requested() {
                return false;
            }
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return true;
            };
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(POLL));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_sets_the_deadline_and_cuts_sleeps_short() {
        let s = Shutdown::new(Duration::from_millis(200));
        assert_eq!(s.time_left(), None);
        assert!(s.sleep(Duration::from_millis(10)));
        s.request();
        assert!(s.time_left().unwrap() <= Duration::from_millis(200));
        assert!(!s.expired());
        let started = Instant::now();
        assert!(!s.sleep(Duration::from_secs(10)));
        assert!(started.elapsed() < Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(250));
        assert!(s.expired());
    }
}
