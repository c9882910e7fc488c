//! HDR histograms of durations, kept in microseconds with 3 significant digits (0.1 %
//! relative error), and their percentile summaries in milliseconds.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub struct DurationHistogram {
    h: Histogram<u64>,
}

impl Default for DurationHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub mean: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    pub max: f64,
}

impl DurationHistogram {
    /// 3 significant digits (0.1 % relative error).
    pub fn new() -> Self {
        Self::with_precision(3)
    }

    /// `digits` significant digits; memory grows tenfold per digit.
    pub fn with_precision(digits: u8) -> Self {
        // Starts at 1 µs to 1 s and grows as larger values arrive.
        let mut h = Histogram::new_with_bounds(1, 1_000_000, digits).expect("valid histogram bounds");
        h.auto(true);
        DurationHistogram { h }
    }

    pub fn record(&mut self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        // auto-resize makes this infallible for any u64 ≥ 1
        let _ = self.h.record(us.max(1));
    }

    pub fn record_us(&mut self, us: u32) {
        let _ = self.h.record(u64::from(us).max(1));
    }

    /// Records `us` microseconds `n` times.
    pub fn record_us_n(&mut self, us: u32, n: u32) {
        let _ = self.h.record_n(u64::from(us).max(1), u64::from(n));
    }

    pub fn count(&self) -> u64 {
        self.h.len()
    }

    /// A percentile (0–100) in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        self.h.value_at_percentile(p) as f64 / 1000.0
    }

    pub fn summary(&self) -> Option<Summary> {
        if self.h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Summary {
            count: self.h.len(),
            mean: (self.h.mean() / 1000.0 * 1000.0).round() / 1000.0,
            min: ms(self.h.min()),
            p50: ms(self.h.value_at_quantile(0.50)),
            p90: ms(self.h.value_at_quantile(0.90)),
            p95: ms(self.h.value_at_quantile(0.95)),
            p99: ms(self.h.value_at_quantile(0.99)),
            p99_9: ms(self.h.value_at_quantile(0.999)),
            max: ms(self.h.max()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_within_precision() {
        let mut h = DurationHistogram::new();
        for i in 1..=1000u64 {
            h.record(Duration::from_micros(i * 1000)); // 1..1000 ms
        }
        let s = h.summary().unwrap();
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 500.0).abs() <= 0.5, "{s:?}");
        assert!((s.p99 - 990.0).abs() <= 1.0, "{s:?}");
        assert!((s.mean - 500.5).abs() <= 0.5, "{s:?}");
        assert!(DurationHistogram::new().summary().is_none());
    }
}
