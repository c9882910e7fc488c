//! How much of a difference noise can make: a figure with the 95 % interval its noise
//! allows, built from what a report carries (trials' values, a histogram's order
//! statistics, a Poisson count, a binomial fraction), and the verdict on two of them.
//!
//! A difference is called a change only when the two 95 % intervals do not overlap. That
//! is stricter than a test of the difference at 5 % (a Welch test over trials' values),
//! on purpose: a table of a dozen figures tested at 5 % each would call something better
//! or worse in up to half of all comparisons of a configuration with itself, while
//! non-overlap keeps each figure near 0.5 % (three trials a side, or large samples).

/// The two-sided 95 % point of the normal distribution.
pub(crate) const Z95: f64 = 1.959_963_984_540_054;

/// A figure, and what its noise allows it to be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Estimate {
    pub value: f64,
    pub noise: Noise,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Noise {
    /// The 95 % interval, `lo <= value <= hi`; an end may be infinite (nothing bounds it).
    Interval { lo: f64, hi: f64 },
    /// Why no interval can be given, for the reader ("one trial; …").
    Unknown(&'static str),
}

impl Estimate {
    /// `value` within `[lo, hi]`, widened to hold `value` (a report whose summary and
    /// histogram disagree must not produce an interval that excludes its own figure).
    pub(crate) fn within(value: f64, lo: f64, hi: f64) -> Option<Estimate> {
        if !value.is_finite() || lo.is_nan() || hi.is_nan() {
            return None;
        }
        Some(Estimate { value, noise: Noise::Interval { lo: lo.min(value), hi: hi.max(value) } })
    }

    /// `value` with no interval, for `why`.
    pub(crate) fn unknown(value: f64, why: &'static str) -> Option<Estimate> {
        value.is_finite().then_some(Estimate { value, noise: Noise::Unknown(why) })
    }
}

/// What the data say about B against A.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Better,
    Worse,
    /// The intervals overlap: the difference may be noise.
    WithinNoise,
    CannotTell(&'static str),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Better => f.write_str("better"),
            Verdict::Worse => f.write_str("worse"),
            Verdict::WithinNoise => f.write_str("cannot tell (within noise)"),
            Verdict::CannotTell(why) => write!(f, "cannot tell ({why})"),
        }
    }
}

/// B against A: a change only where their intervals do not overlap.
pub(crate) fn verdict(a: &Estimate, b: &Estimate, lower_is_better: bool) -> Verdict {
    let (Noise::Interval { lo: a_lo, hi: a_hi }, Noise::Interval { lo: b_lo, hi: b_hi }) = (a.noise, b.noise) else {
        let why = [a.noise, b.noise].into_iter().find_map(|n| if let Noise::Unknown(why) = n { Some(why) } else { None });
        return Verdict::CannotTell(why.unwrap_or("no interval"));
    };
    let higher = if b_lo > a_hi {
        true
    } else if b_hi < a_lo {
        false
    } else {
        return Verdict::WithinNoise;
    };
    if higher != lower_is_better { Verdict::Better } else { Verdict::Worse }
}

/// The 95 % interval of a Poisson count's mean, given `count` events (the score
/// interval: sound near zero, where `count ± 1.96 √count` is not; 0 gives [0, 3.84]).
pub(crate) fn poisson(count: f64) -> (f64, f64) {
    let z2 = Z95 * Z95;
    let half = Z95 * (count + z2 / 4.0).sqrt();
    ((count + z2 / 2.0 - half).max(0.0), count + z2 / 2.0 + half)
}

/// The 95 % Wilson interval of a fraction `hits / n`; None without trials.
pub(crate) fn wilson(hits: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 || hits > n {
        return None;
    }
    let (n, p, z2) = (n as f64, hits as f64 / n as f64, Z95 * Z95);
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    // At the edges the interval ends exactly there (the arithmetic leaves a rounding hair).
    let lo = if hits == 0 { 0.0 } else { (centre - half).max(0.0) };
    let hi = if hits as f64 == n { 1.0 } else { (centre + half).min(1.0) };
    Some((lo, hi))
}

/// The order statistics (1-based ranks among `n` samples) that bound the `q`-quantile
/// with 95 % confidence, whatever the distribution (the rank of the true quantile is
/// binomial); None for an end that `n` samples cannot bound (a p99 of 20 samples has
/// no upper bound: the true p99 may lie above everything seen).
pub(crate) fn quantile_ranks(n: u64, q: f64) -> (Option<u64>, Option<u64>) {
    if n == 0 || q.is_nan() || q <= 0.0 || q >= 1.0 {
        return (None, None);
    }
    let nf = n as f64;
    let spread = Z95 * (nf * q * (1.0 - q)).sqrt();
    let lower = (nf * q - spread).floor();
    let upper = (nf * q + spread).ceil();
    let lower = (lower >= 1.0).then_some(lower as u64);
    let upper = (upper <= nf).then_some(upper as u64);
    (lower, upper)
}

/// Mean and 95 % interval of the mean of trials' values (Student's t, n − 1 degrees of
/// freedom), or why there is none.
pub(crate) fn trials_mean(values: &[f64]) -> Option<Estimate> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    match crate::trials::mean_and_spread(values) {
        (mean, None) => Estimate::unknown(mean, "one trial; use --repeat N with N of 2 or more"),
        (mean, Some((_, half))) => Estimate::within(mean, mean - half, mean + half),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(lo: f64, hi: f64) -> Estimate {
        Estimate { value: (lo + hi) / 2.0, noise: Noise::Interval { lo, hi } }
    }

    #[test]
    fn a_change_needs_intervals_apart() {
        let (a, b) = (interval(10.0, 12.0), interval(12.5, 14.0));
        assert_eq!(verdict(&a, &b, true), Verdict::Worse, "higher latency");
        assert_eq!(verdict(&a, &b, false), Verdict::Better, "higher throughput");
        assert_eq!(verdict(&b, &a, true), Verdict::Better);
        assert_eq!(verdict(&a, &interval(11.9, 20.0), true), Verdict::WithinNoise, "touching is overlapping");
        let unbounded = interval(13.0, f64::INFINITY);
        assert_eq!(verdict(&a, &unbounded, true), Verdict::Worse, "a lower bound alone can tell");
        let one = Estimate { value: 30.0, noise: Noise::Unknown("one trial") };
        assert_eq!(verdict(&a, &one, true), Verdict::CannotTell("one trial"));
        assert_eq!(verdict(&a, &one, true).to_string(), "cannot tell (one trial)");
    }

    #[test]
    fn poisson_interval_is_sound_at_zero_and_near_sqrt_n_when_large() {
        let (lo, hi) = poisson(0.0);
        assert_eq!(lo, 0.0);
        assert!((hi - Z95 * Z95).abs() < 1e-9, "{hi}");
        let (lo, hi) = poisson(10_000.0);
        assert!((lo - (10_000.0 - 196.0)).abs() < 3.0 && (hi - (10_000.0 + 196.0)).abs() < 3.0, "{lo} {hi}");
    }

    #[test]
    fn wilson_interval_of_no_failures_is_not_a_point() {
        let (lo, hi) = wilson(0, 100).unwrap();
        assert_eq!(lo, 0.0);
        assert!((0.03..0.04).contains(&hi), "{hi}");
        let (lo, hi) = wilson(10, 100).unwrap();
        // Wilson's 10 of 100: [0.0552, 0.1744].
        assert!((0.055..0.056).contains(&lo) && (0.174..0.175).contains(&hi), "{lo} {hi}");
        assert_eq!(wilson(7, 7).unwrap().1, 1.0);
        assert_eq!(wilson(1, 0), None);
        assert_eq!(wilson(3, 2), None, "more hits than trials");
    }

    #[test]
    fn quantile_ranks_widen_with_few_samples_and_leave_an_unseen_tail_open() {
        // n = 1000, median: 500 ± 1.96 √250 = 500 ± 31.
        assert_eq!(quantile_ranks(1000, 0.5), (Some(469), Some(531)));
        // p99 of 20 samples: nothing seen bounds it from above.
        let (lo, hi) = quantile_ranks(20, 0.99);
        assert_eq!(hi, None);
        assert!(lo.is_some_and(|r| r < 20));
        assert_eq!(quantile_ranks(1, 0.5), (None, None));
        assert_eq!(quantile_ranks(0, 0.5), (None, None));
    }

    #[test]
    fn trials_mean_uses_students_t() {
        // 4.303 × 2 / √3 = 4.9687…
        let e = trials_mean(&[10.0, 12.0, 14.0]).unwrap();
        assert_eq!(e.value, 12.0);
        let Noise::Interval { lo, hi } = e.noise else { panic!("{e:?}") };
        assert!((lo - 7.0313).abs() < 1e-3 && (hi - 16.9687).abs() < 1e-3, "{lo} {hi}");
        assert!(matches!(trials_mean(&[5.0]).unwrap().noise, Noise::Unknown(_)));
        assert_eq!(trials_mean(&[]), None);
        assert_eq!(trials_mean(&[1.0, f64::INFINITY]), None);
    }
}
