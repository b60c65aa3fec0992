//! Time as milliseconds since the Unix epoch, behind a trait so that window rules and the
//! scheduler can be tested at exact boundaries.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock a test sets by hand.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(ms)))
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// RFC 3339 with milliseconds in UTC, the API's one time format.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// A Graph time (`2026-11-21T10:00:00+0000`, or RFC 3339) as epoch ms.
pub fn parse_graph_time(t: Option<&str>) -> Option<i64> {
    let t = t?;
    chrono::DateTime::parse_from_rfc3339(t)
        .or_else(|_| chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%z"))
        .ok()
        .map(|d| d.timestamp_millis())
}

#[cfg(test)]
mod graph_time_tests {
    #[test]
    fn metas_times_and_rfc3339_both_parse() {
        let a = super::parse_graph_time(Some("2026-11-21T10:00:00+0000"));
        assert!(a.is_some());
        assert_eq!(a, super::parse_graph_time(Some("2026-11-21T10:00:00Z")));
        assert!(super::parse_graph_time(Some("yesterday")).is_none());
    }
}
