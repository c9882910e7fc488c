//! Open-loop arrival processes as sequences of planned send offsets from the stage's
//! start. Random processes draw from the run's arrival stream for the stage, so the
//! schedule is a function of the seed alone.

use std::time::Duration;

use volley_core::rng::{Rng, Stream};
use volley_core::{Load, Shard};

pub(crate) struct ArrivalClock {
    kind: Kind,
    rng: Rng,
    /// Seconds since the stage's start of the last arrival.
    t: f64,
    n: u64,
    /// A shard takes only its arrivals of the global sequence.
    shard: Option<Shard>,
}

enum Kind {
    Constant {
        gap: f64,
    },
    Poisson {
        rate: f64,
    },
    /// Gamma gaps with shape k = 1/cv² and mean 1/rate.
    Gamma {
        shape: f64,
        scale: f64,
    },
    /// Deterministic arrivals whose rate moves linearly from `from` to `to` over
    /// `span` seconds: the i-th arrival is where the integrated rate reaches i.
    Ramp {
        from: f64,
        to: f64,
        span: f64,
    },
}

impl ArrivalClock {
    /// The clock of an open-loop load; bursts and closed loops have none.
    pub fn new(load: Load, seed: u64, stage: u32, duration: Option<Duration>) -> Self {
        let kind = match load {
            Load::Constant { rate } => Kind::Constant { gap: 1.0 / rate },
            Load::Poisson { rate } => Kind::Poisson { rate },
            Load::Gamma { rate, cv } => {
                let shape = 1.0 / (cv * cv);
                Kind::Gamma { shape, scale: 1.0 / (rate * shape) }
            }
            Load::Ramp { from, to } => Kind::Ramp { from, to, span: duration.map_or(1.0, |d| d.as_secs_f64()) },
            Load::Burst { .. } | Load::Concurrency { .. } | Load::ConcurrencyRamp { .. } | Load::Sessions { .. } | Load::Custom => {
                Kind::Constant { gap: 0.0 }
            }
        };
        ArrivalClock { kind, rng: Rng::new(seed, Stream::Arrivals(stage)), t: 0.0, n: 0, shard: None }
    }

    /// Only the arrivals of `shard` (k mod N = I of the global sequence).
    pub fn thinned(mut self, shard: Option<Shard>) -> Self {
        self.shard = shard;
        self
    }

    /// The offset of the next arrival (this shard's); `None` when the process has ended
    /// (a ramp past its span).
    pub fn next_offset(&mut self) -> Option<Duration> {
        loop {
            let k = self.n;
            let offset = self.next_global()?;
            if self.shard.is_none_or(|s| s.owns(k)) {
                return Some(offset);
            }
        }
    }

    /// The next arrival of the global sequence.
    fn next_global(&mut self) -> Option<Duration> {
        let t = match self.kind {
            // The first constant arrival is at 0, the i-th at i·gap (no drift).
            Kind::Constant { gap } => self.n as f64 * gap,
            Kind::Poisson { rate } => self.t + self.rng.exp1() / rate,
            Kind::Gamma { shape, scale } => self.t + self.rng.gamma(shape) * scale,
            Kind::Ramp { from, to, span } => {
                // Solve from·t + (to−from)·t²/(2·span) = n for t.
                let target = self.n as f64;
                let a = (to - from) / (2.0 * span);
                let t = if a.abs() < 1e-12 {
                    target / from
                } else {
                    let disc = from * from + 4.0 * a * target;
                    (-from + disc.max(0.0).sqrt()) / (2.0 * a)
                };
                if !t.is_finite() || t > span {
                    return None;
                }
                t
            }
        };
        self.n += 1;
        self.t = t;
        // An offset past what a Duration holds (a tiny rate) never comes: the stage
        // ends by its duration first.
        Duration::try_from_secs_f64(t.max(0.0)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(load: Load, until: f64) -> Vec<f64> {
        let mut c = ArrivalClock::new(load, 42, 0, Some(Duration::from_secs_f64(until)));
        let mut out = Vec::new();
        while let Some(t) = c.next_offset() {
            if t.as_secs_f64() >= until {
                break;
            }
            out.push(t.as_secs_f64());
        }
        out
    }

    fn gaps_cv(xs: &[f64]) -> (f64, f64) {
        let gaps: Vec<f64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
        let m = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let sd = (gaps.iter().map(|g| (g - m).powi(2)).sum::<f64>() / (gaps.len() - 1) as f64).sqrt();
        (m, sd / m)
    }

    #[test]
    fn thinned_shards_partition_the_global_sequence() {
        for load in [Load::Poisson { rate: 500.0 }, Load::Gamma { rate: 300.0, cv: 3.0 }, Load::Ramp { from: 10.0, to: 400.0 }] {
            let all = offsets(load, 2.0);
            let mut union = Vec::new();
            for index in 0..3 {
                let mut c = ArrivalClock::new(load, 42, 0, Some(Duration::from_secs(2))).thinned(Shard::new(index, 3));
                while let Some(t) = c.next_offset().filter(|t| t.as_secs_f64() < 2.0) {
                    union.push(t.as_secs_f64());
                }
            }
            union.sort_by(f64::total_cmp);
            assert_eq!(union, all, "{load:?}");
        }
    }

    #[test]
    fn constant_is_exact() {
        let xs = offsets(Load::Constant { rate: 100.0 }, 1.0);
        assert_eq!(xs.len(), 100);
        assert!((xs[99] - 0.99).abs() < 1e-9);
    }

    #[test]
    fn poisson_count_and_dispersion() {
        // N ~ Poisson(20000): ±5σ ≈ ±707. Gap CV of an exponential is 1.
        let xs = offsets(Load::Poisson { rate: 1000.0 }, 20.0);
        assert!((xs.len() as f64 - 20_000.0).abs() < 707.0, "{}", xs.len());
        let (mean, cv) = gaps_cv(&xs);
        assert!((mean - 0.001).abs() < 0.00005, "{mean}");
        assert!((cv - 1.0).abs() < 0.05, "{cv}");
    }

    #[test]
    fn gamma_dispersion() {
        for want_cv in [0.5, 2.0, 4.0] {
            let xs = offsets(Load::Gamma { rate: 1000.0, cv: want_cv }, 50.0);
            let (mean, cv) = gaps_cv(&xs);
            assert!((mean - 0.001).abs() < 0.0001, "cv {want_cv}: mean {mean}");
            assert!((cv / want_cv - 1.0).abs() < 0.1, "cv {want_cv}: got {cv}");
        }
    }

    #[test]
    fn a_tiny_rate_plans_nothing_instead_of_overflowing() {
        let mut c = ArrivalClock::new(Load::Constant { rate: 1e-300 }, 1, 0, Some(Duration::from_secs(1)));
        assert_eq!(c.next_offset(), Some(Duration::ZERO));
        assert_eq!(c.next_offset(), None);
        let mut p = ArrivalClock::new(Load::Poisson { rate: 1e-300 }, 1, 0, Some(Duration::from_secs(1)));
        assert_eq!(p.next_offset(), None);
    }

    #[test]
    fn ramp_rate_moves_linearly() {
        // 0 → 200/s over 10 s: 1000 arrivals, 5× more in the last second than the first... roughly.
        let xs = offsets(Load::Ramp { from: 0.0, to: 200.0 }, 10.0);
        assert!((xs.len() as i64 - 1000).abs() <= 1, "{}", xs.len());
        let in_window = |a: f64, b: f64| xs.iter().filter(|&&t| t >= a && t < b).count() as f64;
        // Expected count in [a,b) is ∫ 20 t dt = 10 (b² − a²).
        assert!((in_window(0.0, 1.0) - 10.0).abs() <= 1.0);
        assert!((in_window(9.0, 10.0) - 190.0).abs() <= 1.0);
        let up = offsets(Load::Ramp { from: 50.0, to: 50.0 }, 2.0);
        assert_eq!(up.len(), 100);
    }
}
