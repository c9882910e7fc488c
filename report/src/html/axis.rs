//! Axis ticks for the report's charts: round ("nice") numbers in steps of 1, 2 or 5
//! times a power of ten over a linear range, powers of ten (with their 2 and 5) over a
//! logarithmic one, and tick labels with as many decimals as the step needs.

/// A linear axis from `lo` to `hi` (both on a multiple of `step`) and its ticks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ticks {
    pub lo: f64,
    pub hi: f64,
    pub step: f64,
    pub values: Vec<f64>,
}

/// The round step (1, 2 or 5 × 10^k) that cuts `span` into at most `max_ticks` - 1 parts.
pub(crate) fn nice_step(span: f64, max_ticks: usize) -> f64 {
    let parts = max_ticks.saturating_sub(1).max(1) as f64;
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / parts;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * mag)
}

/// Round ticks covering `[lo, hi]`: the axis widens outwards to the nearest multiples of
/// the step, so the data's extremes sit on or inside the first and last tick.
pub(crate) fn nice_ticks(lo: f64, hi: f64, max_ticks: usize) -> Ticks {
    let (lo, hi) = match (lo.is_finite(), hi.is_finite()) {
        (true, true) if hi > lo => (lo, hi),
        (true, true) if lo == hi && lo == 0.0 => (0.0, 1.0),
        (true, true) if lo == hi => (lo - lo.abs() * 0.1, hi + hi.abs() * 0.1),
        _ => (0.0, 1.0),
    };
    let step = nice_step(hi - lo, max_ticks);
    // A hair of tolerance: 0.30000000000000004 / 0.1 must not round up to 4.
    let first = (lo / step + 1e-9).floor();
    let last = (hi / step - 1e-9).ceil();
    let values: Vec<f64> = (0..=((last - first) as i64)).map(|i| clean((first + i as f64) * step, step)).collect();
    Ticks { lo: first * step, hi: last * step, step, values }
}

/// Rounds away the float noise of `k × step` (0.1 × 3 = 0.30000000000000004).
fn clean(v: f64, step: f64) -> f64 {
    let decimals = decimals(step) as i32;
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// How many decimals a tick label needs for ticks `step` apart.
fn decimals(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) {
        return 0;
    }
    (-(step.log10() + 1e-9).floor()).max(0.0) as usize
}

/// A tick's label: the decimals its step needs, no more; thousands and up shortened
/// (`12k`, `1.5M`).
pub(crate) fn label(v: f64, step: f64) -> String {
    let a = v.abs();
    if a >= 1e6 && step >= 1e5 {
        return trim(format!("{:.*}", decimals(step / 1e6), v / 1e6)) + "M";
    }
    if a >= 1e4 && step >= 1e3 {
        return trim(format!("{:.*}", decimals(step / 1e3), v / 1e3)) + "k";
    }
    let text = format!("{:.*}", decimals(step), v);
    if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') { "0".into() } else { text }
}

fn trim(s: String) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// Ticks of a logarithmic axis over `[lo, hi]` (both > 0): the powers of ten, and their
/// 2 and 5 multiples when the range spans fewer than four decades.
pub(crate) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return Vec::new();
    }
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let multiples: &[f64] = if last - first < 4 { &[1.0, 2.0, 5.0] } else { &[1.0] };
    let mut out = Vec::new();
    for k in first..=last {
        for m in multiples {
            let v = m * 10f64.powi(k);
            if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                out.push(v);
            }
        }
    }
    out
}

/// The label of a tick on a logarithmic axis.
pub(crate) fn log_label(v: f64) -> String {
    label(v, 10f64.powf(v.log10().floor()))
}

/// A value as a hover or table shows it: three significant figures (more left of the
/// point), no trailing zeros, no exponent.
pub(crate) fn value(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        trim(format!("{v:.1}"))
    } else if a >= 1.0 {
        trim(format!("{v:.2}"))
    } else {
        trim(format!("{v:.*}", (2 - a.log10().floor() as i32).max(3) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(t: &Ticks) -> Vec<String> {
        t.values.iter().map(|v| label(*v, t.step)).collect()
    }

    #[test]
    fn ticks_are_round_and_cover_the_data() {
        // The axis: 0.279 … 2.6 reads 0.5 / 1 / 1.5 / … now.
        let t = nice_ticks(0.279, 2.6, 6);
        assert_eq!(t.step, 0.5);
        assert_eq!(labels(&t), ["0", "0.5", "1.0", "1.5", "2.0", "2.5", "3.0"]);
        assert!(t.lo <= 0.279 && t.hi >= 2.6);
        let t = nice_ticks(0.0, 97.0, 6);
        assert_eq!((t.step, t.lo, t.hi), (20.0, 0.0, 100.0));
        assert_eq!(labels(&t), ["0", "20", "40", "60", "80", "100"]);
        let t = nice_ticks(0.0, 0.3, 5);
        assert_eq!(t.step, 0.1);
        assert_eq!(t.values, [0.0, 0.1, 0.2, 0.3], "no float noise, and 0.3 is the last tick");
        let t = nice_ticks(1234.0, 98_765.0, 6);
        assert_eq!(t.step, 20_000.0);
        assert_eq!(labels(&t), ["0", "20k", "40k", "60k", "80k", "100k"]);
    }

    #[test]
    fn every_step_is_one_two_or_five_times_a_power_of_ten() {
        for (lo, hi) in [(0.0, 1.0), (3.0, 7.0), (0.001, 0.0042), (12.0, 12345.0), (-5.0, 5.0), (99.0, 101.0)] {
            for max in 3..10 {
                let t = nice_ticks(lo, hi, max);
                let m = t.step / 10f64.powf(t.step.log10().floor());
                assert!([1.0, 2.0, 5.0].iter().any(|x| (m - x).abs() < 1e-9), "{lo}..{hi}: step {}", t.step);
                assert!(t.values.len() <= max + 1, "{lo}..{hi} in {max}: {:?}", t.values);
                assert!(t.lo <= lo && t.hi >= hi);
            }
        }
    }

    #[test]
    fn a_flat_or_empty_range_still_has_an_axis() {
        let t = nice_ticks(5.0, 5.0, 5);
        assert!(t.lo < 5.0 && t.hi > 5.0, "{t:?}");
        assert_eq!(nice_ticks(0.0, 0.0, 5).hi, 1.0);
        assert_eq!(nice_ticks(f64::NAN, 1.0, 5).lo, 0.0);
    }

    #[test]
    fn log_ticks_are_decades_and_their_halves_and_fifths() {
        assert_eq!(log_ticks(3.0, 400.0), [5.0, 10.0, 20.0, 50.0, 100.0, 200.0]);
        assert_eq!(log_ticks(0.5, 50_000.0), [1.0, 10.0, 100.0, 1000.0, 10_000.0]);
        assert_eq!(log_label(20_000.0), "20k");
        assert_eq!(log_label(0.05), "0.05");
        assert!(log_ticks(0.0, 10.0).is_empty());
    }

    #[test]
    fn values_keep_three_significant_figures() {
        assert_eq!(value(1234.6), "1235");
        assert_eq!(value(31.25), "31.2");
        assert_eq!(value(2.3456), "2.35");
        assert_eq!(value(0.01234), "0.0123");
        assert_eq!(value(0.5), "0.5");
        assert_eq!(value(2.0), "2");
        assert_eq!(value(0.0), "0");
    }
}
