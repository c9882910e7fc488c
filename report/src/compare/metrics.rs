//! The figures `volley compare` puts side by side, and each one's estimate with its noise:
//! over trials, the mean of the trials' values; in a single run, the figure with the
//! interval its own sample allows (order statistics of its HDR histogram for
//! percentiles, a Poisson count for counts and rates, a binomial fraction for the error
//! rate).
//!
//! Schedule lag is left out: it is the generator's own timing, which each run's report
//! and warnings speak to, not a property of the server being compared.

use volley_core::stats::StatsWire;
use volley_core::{DurationHistogram, Summary};

use super::noise::{self, Estimate, Z95};
use super::side::StageView;
use crate::schema::StageReport;

/// Why a single run's figure has no interval.
const NO_HISTOGRAM: &str = "one run each, and no histogram to size the noise; use --repeat N";
const UNREADABLE: &str = "its histogram does not decode";
const NO_WINDOW: &str = "no elapsed time to rate over";

/// One line of the table.
pub(crate) struct Row {
    pub label: &'static str,
    /// The metric's name in `trials.json`; None where trials do not keep it.
    pub key: Option<&'static str>,
    pub lower_is_better: bool,
    /// A row left out where it repeats this one on both sides (TTFO is TTFT without
    /// reasoning; ITL per token is ITL at one token per chunk).
    pub echo_of: Option<&'static str>,
    figure: Figure,
}

#[derive(Clone, Copy)]
enum Figure {
    RequestsOk,
    ErrorRate,
    /// Events per second over the stage's elapsed time.
    Rate(fn(&StageReport) -> Option<f64>),
    OutputTokensPerS,
    Quantile(Quantile),
}

#[derive(Clone, Copy)]
struct Quantile {
    summary: fn(&StageReport) -> Option<Summary>,
    histogram: fn(&StatsWire) -> &str,
    pick: fn(&Summary) -> f64,
    q: f64,
    /// Samples are gaps between chunks: many per request and correlated within one, so
    /// the number of independent samples is taken as the successful requests.
    per_gap: bool,
}

const fn quantile(
    label: &'static str,
    key: &'static str,
    summary: fn(&StageReport) -> Option<Summary>,
    histogram: fn(&StatsWire) -> &str,
    p99: bool,
    per_gap: bool,
) -> Row {
    let (pick, q): (fn(&Summary) -> f64, f64) = if p99 { (|s| s.p99, 0.99) } else { (|s| s.p50, 0.5) };
    Row {
        label,
        key: Some(key),
        lower_is_better: true,
        echo_of: None,
        figure: Figure::Quantile(Quantile { summary, histogram, pick, q, per_gap }),
    }
}

impl Row {
    const fn echoing(mut self, of: &'static str) -> Row {
        self.echo_of = Some(of);
        self
    }
}

fn ttft(w: &StatsWire) -> &str {
    &w.ttft
}
fn ttfo(w: &StatsWire) -> &str {
    &w.ttfo
}
fn itl(w: &StatsWire) -> &str {
    &w.itl
}
fn itl_per_token(w: &StatsWire) -> &str {
    &w.itl_per_token
}
fn tpot(w: &StatsWire) -> &str {
    &w.tpot
}
fn latency(w: &StatsWire) -> &str {
    &w.latency
}

pub(crate) const ROWS: &[Row] = &[
    Row { label: "requests ok", key: None, lower_is_better: false, echo_of: None, figure: Figure::RequestsOk },
    Row { label: "error rate", key: Some("error_rate"), lower_is_better: true, echo_of: None, figure: Figure::ErrorRate },
    Row {
        label: "achieved req/s",
        key: Some("achieved_rps"),
        lower_is_better: false,
        echo_of: None,
        figure: Figure::Rate(|s| Some(s.achieved_rps)),
    },
    Row {
        label: "goodput req/s",
        key: Some("goodput_rps"),
        lower_is_better: false,
        echo_of: None,
        figure: Figure::Rate(|s| s.goodput_rps),
    },
    Row {
        label: "output tok/s",
        key: Some("output_tokens_per_s"),
        lower_is_better: false,
        echo_of: None,
        figure: Figure::OutputTokensPerS,
    },
    quantile("TTFT p50 ms", "ttft_ms.p50", |s| s.ttft_ms, ttft, false, false),
    quantile("TTFT p99 ms", "ttft_ms.p99", |s| s.ttft_ms, ttft, true, false),
    quantile("TTFO p50 ms", "ttfo_ms.p50", |s| s.ttfo_ms, ttfo, false, false).echoing("TTFT p50 ms"),
    quantile("ITL p50 ms", "itl_ms.p50", |s| s.itl_ms, itl, false, true),
    quantile("ITL p99 ms", "itl_ms.p99", |s| s.itl_ms, itl, true, true),
    quantile("ITL/token p50 ms", "itl_per_token_ms.p50", |s| s.itl_per_token_ms, itl_per_token, false, true).echoing("ITL p50 ms"),
    quantile("TPOT p50 ms", "tpot_ms.p50", |s| s.tpot_ms, tpot, false, false),
    quantile("latency p50 ms", "latency_ms.p50", |s| s.latency_ms, latency, false, false),
    quantile("latency p99 ms", "latency_ms.p99", |s| s.latency_ms, latency, true, false),
];

impl Row {
    /// The figure in `stage` with its noise; None where the stage has no such figure.
    pub(crate) fn estimate(&self, stage: StageView<'_>) -> Option<Estimate> {
        match stage {
            StageView::Trials(t) => {
                let values: Vec<f64> = t.metrics.get(self.key?)?.values.iter().flatten().copied().collect();
                noise::trials_mean(&values)
            }
            StageView::Run(s) => self.in_run(s),
        }
    }

    fn in_run(&self, s: &StageReport) -> Option<Estimate> {
        let n = &s.requests;
        match self.figure {
            Figure::RequestsOk => {
                let (lo, hi) = noise::poisson(n.ok as f64);
                Estimate::within(n.ok as f64, lo, hi)
            }
            Figure::ErrorRate => {
                let (lo, hi) = noise::wilson(n.failed, n.sent)?;
                Estimate::within(n.failed as f64 / n.sent as f64, lo, hi)
            }
            Figure::Rate(read) => rate(read(s)?, s.elapsed_s),
            Figure::OutputTokensPerS => output_tokens_per_s(s),
            Figure::Quantile(q) => q.in_run(s),
        }
    }
}

/// A rate of events over `elapsed` seconds, its noise that of a Poisson count.
fn rate(per_s: f64, elapsed: f64) -> Option<Estimate> {
    if per_s.is_nan() || per_s < 0.0 {
        return None;
    }
    if !positive(elapsed) {
        return Estimate::unknown(per_s, NO_WINDOW);
    }
    let (lo, hi) = noise::poisson((per_s * elapsed).round());
    Estimate::within(per_s, lo / elapsed, hi / elapsed)
}

/// Tokens per second: a sum over a Poisson count of requests of each one's tokens
/// (compound Poisson: the sum's variance is the requests' sum of squared counts).
fn output_tokens_per_s(s: &StageReport) -> Option<Estimate> {
    let per_s = s.output_tokens_per_s;
    if per_s.is_nan() || per_s < 0.0 {
        return None;
    }
    let Some(wire) = &s.mergeable else { return Estimate::unknown(per_s, NO_HISTOGRAM) };
    let Ok(tokens) = volley_core::histogram::decode(&wire.output_tokens) else { return Estimate::unknown(per_s, UNREADABLE) };
    let elapsed = s.elapsed_s;
    if !positive(elapsed) {
        return Estimate::unknown(per_s, NO_WINDOW);
    }
    let (n, mean, sd) = (tokens.len() as f64, tokens.mean(), tokens.stdev());
    let half = Z95 * (n * (mean * mean + sd * sd)).sqrt() / elapsed;
    Estimate::within(per_s, (per_s - half).max(0.0), per_s + half)
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

impl Quantile {
    fn in_run(&self, s: &StageReport) -> Option<Estimate> {
        let value = (self.pick)(&(self.summary)(s)?);
        let Some(wire) = &s.mergeable else { return Estimate::unknown(value, NO_HISTOGRAM) };
        let Ok(h) = DurationHistogram::decode((self.histogram)(wire)) else { return Estimate::unknown(value, UNREADABLE) };
        let n = if self.per_gap { h.count().min(s.requests.ok) } else { h.count() };
        let (lower, upper) = noise::quantile_ranks(n, self.q);
        let at = |rank: f64| h.percentile_ms(100.0 * rank / n as f64);
        // Half a rank below lands on the lower order statistic itself (the histogram
        // rounds a count up); durations are never below 0, nor is an unseen tail bounded.
        let lo = lower.map_or(0.0, |r| at(r as f64 - 0.5));
        let hi = upper.map_or(f64::INFINITY, |r| at(r as f64));
        Estimate::within(value, lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::noise::Noise;
    use crate::testing::{one_run, stage_with_ttfts};

    fn row(label: &str) -> &'static Row {
        ROWS.iter().find(|r| r.label == label).unwrap()
    }

    fn interval(e: Estimate) -> (f64, f64) {
        match e.noise {
            Noise::Interval { lo, hi } => (lo, hi),
            Noise::Unknown(why) => panic!("no interval: {why}"),
        }
    }

    #[test]
    fn every_trials_metric_but_schedule_lag_has_a_row() {
        let report = one_run(vec![stage_with_ttfts("s", &[10, 20, 30])]);
        let trials = crate::trials::summarize(&[(
            crate::trials::TrialRow { trial: 1, seed: 1, dir: "trial-1".into(), interrupted: false, thresholds_failed: false },
            report,
        )]);
        for key in trials.stages[0].metrics.keys() {
            let kept = ROWS.iter().any(|r| r.key == Some(key.as_str()));
            assert!(kept || key.starts_with("schedule_lag"), "{key} has no row");
        }
    }

    #[test]
    fn a_median_of_many_samples_is_tight_and_of_few_is_wide() {
        let many: Vec<u64> = (0..1000).map(|i| 100 + i % 100).collect();
        let stage = stage_with_ttfts("s", &many);
        let (lo, hi) = interval(row("TTFT p50 ms").estimate(StageView::Run(&stage)).unwrap());
        // Uniform over 100..199 ms: the median 150 ± about 3 ms.
        assert!((145.0..150.0).contains(&lo) && (150.0..155.0).contains(&hi), "{lo} {hi}");
        let few = stage_with_ttfts("s", &[100, 120, 140, 160, 180]);
        let (lo, hi) = interval(row("TTFT p50 ms").estimate(StageView::Run(&few)).unwrap());
        assert!(lo <= 100.1 && hi >= 179.9, "five samples bound a median only by their extremes: {lo} {hi}");
        let (_, hi) = interval(row("TTFT p99 ms").estimate(StageView::Run(&few)).unwrap());
        assert_eq!(hi, f64::INFINITY, "five samples do not bound a p99 from above");
    }

    #[test]
    fn without_histograms_a_single_run_says_why() {
        let mut stage = stage_with_ttfts("s", &[10, 20, 30]);
        stage.mergeable = None;
        let e = row("TTFT p50 ms").estimate(StageView::Run(&stage)).unwrap();
        assert_eq!(e.noise, Noise::Unknown(NO_HISTOGRAM));
        // Counts need no histogram.
        assert!(matches!(row("requests ok").estimate(StageView::Run(&stage)).unwrap().noise, Noise::Interval { .. }));
    }

    #[test]
    fn rates_carry_poisson_noise() {
        let mut stage = stage_with_ttfts("s", &[10; 100]);
        stage.achieved_rps = 10.0;
        stage.elapsed_s = 10.0;
        let (lo, hi) = interval(row("achieved req/s").estimate(StageView::Run(&stage)).unwrap());
        // 100 ± 1.96 √100 events over 10 s, about.
        assert!((7.9..8.3).contains(&lo) && (11.9..12.3).contains(&hi), "{lo} {hi}");
        stage.achieved_rps = f64::NAN;
        assert!(row("achieved req/s").estimate(StageView::Run(&stage)).is_none());
    }
}
