//! The server's side of the report: its Prometheus series as scraped during the run
//! (`--server-metrics`), windows of them per stage, and Triton's statistics per stage.
//! The probes that collect them live in volley-engine; these are the records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scrapes {
    pub url: String,
    pub interval_ms: u64,
    pub scrapes: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    /// Series key → [(ms since the run's start when the scrape was sent, value)].
    /// Read back from a file, at most 100,000 series (runs keep far fewer): an empty
    /// series is a few bytes of text and a hundred of memory.
    #[serde(deserialize_with = "volley_core::foreign_file::bounded::map_at_most::<_, _, _, 100_000>")]
    pub series: BTreeMap<String, Vec<(f64, f64)>>,
    /// Each successful scrape: (sent, answered), ms since the run's start. The server
    /// took its values somewhere in between.
    pub scrape_times: Vec<(f64, f64)>,
    /// Samples not kept, over the run: of series past the run's bound on distinct series,
    /// with keys past the bound on a key's length, or past a scrape's bound (the bounds
    /// are in volley-engine's scraper; docs/report.md).
    #[serde(default)]
    pub dropped_samples: u64,
    /// How many times the kept samples were halved to stay within the bound on points
    /// (every other periodic scrape dropped, the interval doubled; the scrapes at stage
    /// boundaries are kept): periodic samples are `interval_ms × 2^thinned` apart.
    #[serde(default)]
    pub thinned: u32,
}

/// A series over one stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesWindow {
    pub first: f64,
    pub last: f64,
    /// last − first (the increase of a counter).
    pub delta: f64,
    /// Over the finite samples; None when there were none (NaN quantiles of an idle
    /// summary).
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    pub samples: usize,
}

impl SeriesWindow {
    /// The series moved during the window.
    pub fn changed(&self) -> bool {
        self.min.zip(self.max).is_some_and(|(lo, hi)| hi > lo) || (self.delta.is_finite() && self.delta != 0.0)
    }
}

impl Scrapes {
    /// When the scrape sent at `sent` was answered.
    fn answered(&self, sent: f64) -> f64 {
        match self.scrape_times.binary_search_by(|(s, _)| s.total_cmp(&sent)) {
            Ok(i) => self.scrape_times[i].1,
            Err(_) => sent,
        }
    }

    /// Each series over a stage from `from_ms` to `to_ms` (ms since the run's start):
    /// from the last sample answered before the stage began (the baseline) to the first
    /// sample sent after it ended, so a counter's delta covers exactly the stage even
    /// when a scrape is slow.
    pub fn window(&self, from_ms: f64, to_ms: f64) -> BTreeMap<String, SeriesWindow> {
        let mut out = BTreeMap::new();
        for (key, points) in &self.series {
            let start = points.iter().rposition(|(t, _)| self.answered(*t) <= from_ms).unwrap_or(0);
            let end = points.iter().position(|(t, _)| *t >= to_ms).unwrap_or(points.len().saturating_sub(1));
            let inside: Vec<f64> = points.get(start..=end).unwrap_or(&[]).iter().map(|p| p.1).collect();
            let (Some(first), Some(last)) = (inside.first(), inside.last()) else { continue };
            let finite: Vec<f64> = inside.iter().copied().filter(|v| v.is_finite()).collect();
            let (min, max, mean) = match finite.is_empty() {
                true => (None, None, None),
                false => (
                    Some(finite.iter().copied().fold(f64::INFINITY, f64::min)),
                    Some(finite.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
                    Some(finite.iter().sum::<f64>() / finite.len() as f64),
                ),
            };
            out.insert(
                key.clone(),
                SeriesWindow { first: *first, last: *last, delta: last - first, min, max, mean, samples: inside.len() },
            );
        }
        out
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TritonStats {
    pub model: String,
    pub version: String,
    pub inference_count: u64,
    pub execution_count: u64,
    /// Batch size → batches executed at that size.
    pub batch_sizes: BTreeMap<u64, u64>,
}

impl TritonStats {
    /// What happened between `before` and `self`.
    pub fn since(&self, before: &TritonStats) -> TritonStats {
        let mut batch_sizes = BTreeMap::new();
        for (size, n) in &self.batch_sizes {
            let d = n.saturating_sub(before.batch_sizes.get(size).copied().unwrap_or(0));
            if d > 0 {
                batch_sizes.insert(*size, d);
            }
        }
        TritonStats {
            model: self.model.clone(),
            version: self.version.clone(),
            inference_count: self.inference_count.saturating_sub(before.inference_count),
            execution_count: self.execution_count.saturating_sub(before.execution_count),
            batch_sizes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let mut s = Scrapes::default();
        s.series.insert("c".into(), vec![(0.0, 1.0), (100.0, 5.0), (200.0, 9.0), (300.0, 10.0)]);
        // Baseline at 0 (last before 50), end at 300 (first after 250).
        let w = &s.window(50.0, 250.0)["c"];
        assert_eq!((w.first, w.last, w.delta, w.max, w.samples), (1.0, 10.0, 9.0, Some(10.0), 4));
        let w = &s.window(100.0, 200.0)["c"];
        assert_eq!((w.first, w.last, w.delta), (5.0, 9.0, 4.0));
        // A scrape sent at 100 but answered at 130, after a stage began at 120, may
        // already count the stage's work: the baseline is the one before it.
        s.scrape_times = vec![(0.0, 5.0), (100.0, 130.0), (200.0, 205.0), (300.0, 301.0)];
        let w = &s.window(120.0, 250.0)["c"];
        assert_eq!((w.first, w.last), (1.0, 10.0));
        assert!(w.changed());
    }
}
