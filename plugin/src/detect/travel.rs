//! `travel`: impossible travel. Consecutive located events of one entity
//! whose great-circle distance over the time between them implies a speed no
//! airliner reaches, over a distance beyond the databases' own imprecision.
//!
//! The group remembers only the newest fix (time, coarse location, event
//! id), so its state is a few dozen bytes per user. An event older than
//! the remembered fix (out of order, or a re-read) is compared with it but
//! does not replace it, so a re-read raises the same alert id, not a new one.

use serde::{Deserialize, Serialize};

/// Mean Earth radius (km), as in the haversine formula's usual statement.
const EARTH_RADIUS_KM: f64 = 6371.0;

/// A located event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// Event time (ms).
    pub t: i64,
    /// Latitude (degrees).
    pub lat: f64,
    /// Longitude (degrees).
    pub lon: f64,
    /// Country code, when known (for the alert's evidence).
    pub country: Option<String>,
    /// Event id.
    pub id: String,
}

/// The state of one group: its newest fix.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TravelGroup {
    /// The newest located event.
    pub last: Option<Fix>,
}

/// The thresholds of one detection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Smallest distance that counts (km).
    pub min_km: f64,
    /// Smallest speed that counts (km/h).
    pub min_kmh: f64,
    /// Longest time between the two events (ms).
    pub window: i64,
}

/// An impossible journey: from `from` to the new fix.
#[derive(Debug, Clone)]
pub struct Journey {
    /// The earlier fix.
    pub from: Fix,
    /// Great-circle distance (km).
    pub km: f64,
    /// Implied speed (km/h); `None` when both events have the same time.
    pub kmh: Option<f64>,
}

impl TravelGroup {
    /// Compare `fix` with the remembered one; keep the newer. The journey
    /// between them when it is impossible under `limits`.
    pub fn add(&mut self, fix: Fix, limits: Limits) -> Option<Journey> {
        let journey = self
            .last
            .as_ref()
            .and_then(|last| judge(last, &fix, limits));
        if self.last.as_ref().is_none_or(|last| fix.t >= last.t) {
            self.last = Some(fix);
        }
        journey
    }
}

/// The journey between `a` and `b` (in either order) when it is too fast.
fn judge(a: &Fix, b: &Fix, limits: Limits) -> Option<Journey> {
    let ms = (b.t - a.t).abs();
    if ms > limits.window || a.id == b.id {
        return None;
    }
    let km = haversine_km(a.lat, a.lon, b.lat, b.lon);
    let kmh = (ms > 0).then(|| km / (ms as f64 / 3_600_000.0));
    let fast = kmh.is_none_or(|v| v >= limits.min_kmh);
    (km >= limits.min_km && fast).then(|| Journey {
        from: if a.t <= b.t { a.clone() } else { b.clone() },
        km,
        kmh,
    })
}

/// Great-circle distance between two points (haversine formula).
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        min_km: 500.0,
        min_kmh: 800.0,
        window: 90 * 60_000,
    };

    fn fix(t_min: i64, lat: f64, lon: f64) -> Fix {
        Fix {
            t: t_min * 60_000,
            lat,
            lon,
            country: None,
            id: format!("e{t_min}"),
        }
    }

    #[test]
    fn paris_to_new_york_is_about_5840_km() {
        let km = haversine_km(48.9, 2.4, 40.7, -74.0);
        assert!((km - 5840.0).abs() < 30.0, "{km}");
    }

    #[test]
    fn too_fast_too_far_and_too_slow() {
        let mut g = TravelGroup::default();
        assert!(g.add(fix(0, 48.9, 2.4), LIMITS).is_none());
        // Paris -> New York in 60 minutes: impossible.
        let j = g.add(fix(60, 40.7, -74.0), LIMITS).expect("impossible");
        assert!(j.kmh.unwrap() > 5000.0);
        // New York -> Boston (300 km) in 10 minutes: too short a distance.
        assert!(g.add(fix(70, 42.4, -71.1), LIMITS).is_none());
        // Boston -> London 100 minutes later: outside the window.
        assert!(g.add(fix(170, 51.5, -0.1), LIMITS).is_none());
        // Paris -> Berlin (880 km) in 89 minutes: about 590 km/h, a flight.
        let mut g = TravelGroup::default();
        g.add(fix(0, 48.9, 2.4), LIMITS);
        assert!(g.add(fix(89, 52.5, 13.4), LIMITS).is_none());
    }

    #[test]
    fn an_older_event_is_compared_but_not_kept() {
        let mut g = TravelGroup::default();
        g.add(fix(60, 40.7, -74.0), LIMITS);
        let j = g.add(fix(0, 48.9, 2.4), LIMITS).expect("impossible");
        assert_eq!(j.from.t, 0);
        assert_eq!(g.last.as_ref().unwrap().t, 60 * 60_000);
    }
}
