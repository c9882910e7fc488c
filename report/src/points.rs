//! What the HTML report's charts need of the individual requests, collected from the
//! records as they complete, in bounded memory: per stage, (send time, value) points
//! of TTFT, TPOT, latency and schedule lag, thinned evenly once there are many, and
//! completions and output tokens per second.

use std::collections::BTreeMap;
use std::time::Instant;

use volley_core::RequestRecord;

/// Points kept per series before it is thinned to half (and its stride doubled), so a
/// series holds between [`SERIES_CAP`]/2 and [`SERIES_CAP`] points however long the run.
const SERIES_CAP: usize = 8192;
/// Most one-second buckets of completions kept per stage.
const MAX_SECONDS: usize = 1 << 16;

/// Every `stride`-th point offered, thinned by halves: an even sample of any length.
#[derive(Debug, Clone, Default)]
pub struct Thinned {
    points: Vec<(f64, f64)>,
    stride: u64,
    offered: u64,
}

impl Thinned {
    fn push(&mut self, p: (f64, f64)) {
        let stride = self.stride.max(1);
        if self.offered.is_multiple_of(stride) {
            if self.points.len() >= SERIES_CAP {
                let mut i = 0;
                self.points.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride = stride * 2;
            }
            if self.offered.is_multiple_of(self.stride.max(1)) {
                self.points.push(p);
            }
        }
        self.offered += 1;
    }

    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }
}

/// One stage's points.
#[derive(Debug, Clone, Default)]
pub struct StagePoints {
    pub ttft: Thinned,
    pub latency: Thinned,
    pub lag: Thinned,
    /// Time per output token after the first, of requests with two tokens or more.
    pub tpot: Thinned,
    /// Second since the run's start → requests completed in it.
    pub completed: BTreeMap<i64, u64>,
    /// Second since the run's start → output tokens of the requests completed in it.
    pub output_tokens: BTreeMap<i64, u64>,
}

/// The points of every stage, by stage index.
#[derive(Debug, Clone, Default)]
pub struct ChartPoints {
    pub stages: BTreeMap<u32, StagePoints>,
}

impl ChartPoints {
    /// Adds what the charts show of one record (times relative to `epoch`).
    pub fn add(&mut self, r: &RequestRecord, epoch: Instant) {
        let p = self.stages.entry(r.stage).or_default();
        let Some(sent) = r.sent else { return };
        let sent = sent.saturating_duration_since(epoch).as_secs_f64();
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        if let Some(lag) = r.schedule_lag() {
            p.lag.push((sent, ms(lag)));
        }
        if !r.ok() {
            return;
        }
        if let Some(t) = r.ttft() {
            p.ttft.push((sent, ms(t)));
        }
        if let Some(t) = r.tpot() {
            p.tpot.push((sent, ms(t)));
        }
        if let Some(l) = r.latency() {
            p.latency.push((sent, ms(l)));
            let second = (sent + l.as_secs_f64()).floor() as i64;
            if p.completed.len() < MAX_SECONDS || p.completed.contains_key(&second) {
                *p.completed.entry(second).or_default() += 1;
                *p.output_tokens.entry(second).or_default() += u64::from(r.output_tokens);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_an_even_bounded_sample() {
        let mut t = Thinned::default();
        for i in 0..100_000u64 {
            t.push((i as f64, 0.0));
        }
        let n = t.points().len();
        assert!((SERIES_CAP / 2..=SERIES_CAP).contains(&n), "{n}");
        let gaps: Vec<f64> = t.points().windows(2).map(|w| w[1].0 - w[0].0).collect();
        assert!(gaps.iter().all(|g| *g == gaps[0]), "evenly spaced");
        assert_eq!(t.points()[0].0, 0.0);
        // Small series are kept whole.
        let mut s = Thinned::default();
        (0..10).for_each(|i| s.push((f64::from(i), 1.0)));
        assert_eq!(s.points().len(), 10);
    }
}
