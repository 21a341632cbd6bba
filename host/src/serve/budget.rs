//! The memory budget of the hop (`--buffer-kib`): every byte the hop holds
//! for a request is counted here, from the moment its body starts being read
//! until it is answered: the body being read, the queued NDJSON, the
//! transformed events and the dead letters waiting for the downstream's
//! answer.
//!
//! New bodies are admitted only while what is counted plus the new body fits
//! the limit ([`Budget::try_reserve`]). Output of the request being
//! transformed is counted unconditionally ([`Budget::add`]): the worker
//! cannot refuse a request it has already accepted, so the counted total
//! can exceed the limit by that one request's output, and no new body is
//! admitted until it falls back. The README states the resulting bound.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes held for requests, against a limit.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    held: AtomicUsize,
    high_water: AtomicUsize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            held: AtomicUsize::new(0),
            high_water: AtomicUsize::new(0),
        }
    }

    /// Count `bytes` if they fit under the limit; `false` (nothing counted)
    /// when they do not.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        let fits = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|total| *total <= self.limit)
            });
        match fits {
            Ok(before) => {
                self.high_water.fetch_max(before + bytes, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Count `bytes` whether or not they fit (output of an accepted request).
    pub fn add(&self, bytes: usize) {
        let before = self.held.fetch_add(bytes, Ordering::AcqRel);
        self.high_water.fetch_max(before + bytes, Ordering::Relaxed);
    }

    /// Stop counting `bytes`.
    pub fn release(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes counted now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Most bytes ever counted at once.
    pub fn high_water(&self) -> usize {
        self.high_water.load(Ordering::Relaxed)
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_stops_at_the_limit_and_output_counts_against_it() {
        let b = Budget::new(100);
        assert!(b.try_reserve(60));
        assert!(!b.try_reserve(41), "60 + 41 > 100");
        assert!(b.try_reserve(40));
        assert_eq!(b.held(), 100);
        b.release(60);
        b.add(150); // output of an accepted request
        assert!(!b.try_reserve(1), "output counts against the buffer");
        b.release(150);
        assert!(b.try_reserve(60));
        assert_eq!(b.high_water(), 190);
    }
}
