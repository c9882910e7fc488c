//! Repeated trials (`--repeat N`): the same plan run N times, each trial a complete run
//! with its own report, and per stage and metric the trials' values, their mean and a
//! 95 % confidence interval of the mean (Student's t with N − 1 degrees of freedom), so
//! a difference between two configurations can be told from run-to-run noise.
//! Written as `trials.json` beside one directory per trial.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::schema::{Report, StageReport};

/// How a metric is read from a stage.
type MetricOf = fn(&StageReport) -> Option<f64>;

/// The metrics compared across trials, and how to read each from a stage.
const METRICS: &[(&str, MetricOf)] = &[
    ("achieved_rps", |s| Some(s.achieved_rps)),
    ("output_tokens_per_s", |s| Some(s.output_tokens_per_s)),
    ("error_rate", |s| (s.requests.sent > 0).then(|| s.requests.failed as f64 / s.requests.sent as f64)),
    ("goodput_rps", |s| s.goodput_rps),
    ("ttft_ms.p50", |s| s.ttft_ms.map(|x| x.p50)),
    ("ttft_ms.p99", |s| s.ttft_ms.map(|x| x.p99)),
    ("ttfo_ms.p50", |s| s.ttfo_ms.map(|x| x.p50)),
    ("itl_ms.p50", |s| s.itl_ms.map(|x| x.p50)),
    ("itl_ms.p99", |s| s.itl_ms.map(|x| x.p99)),
    ("tpot_ms.p50", |s| s.tpot_ms.map(|x| x.p50)),
    ("latency_ms.p50", |s| s.latency_ms.map(|x| x.p50)),
    ("latency_ms.p99", |s| s.latency_ms.map(|x| x.p99)),
    ("schedule_lag_ms.p99", |s| s.schedule_lag_ms.map(|x| x.p99)),
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialsReport {
    pub schema_version: u32,
    pub scenario: String,
    pub target: String,
    pub trials: Vec<TrialRow>,
    /// Per stage (in plan order), per metric.
    pub stages: Vec<StageTrials>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialRow {
    pub trial: u32,
    pub seed: u64,
    /// Where its full outputs are, relative to `trials.json`.
    pub dir: String,
    pub interrupted: bool,
    pub thresholds_failed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageTrials {
    pub name: String,
    pub metrics: BTreeMap<String, MetricTrials>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricTrials {
    /// One value per trial, in trial order (null where a trial had no sample).
    pub values: Vec<Option<f64>>,
    /// Over the trials that had a value.
    pub mean: f64,
    pub stddev: Option<f64>,
    /// The 95 % confidence interval of the mean; null with fewer than two values.
    pub ci95: Option<[f64; 2]>,
}

/// Trial `k`'s seed (k from 0): the first is the run's seed, so one trial is a plain
/// run; the others are fresh seeds derived from it (splitmix64), unless every trial
/// is to use the same seed.
pub fn trial_seed(seed: u64, k: u32, same: bool) -> u64 {
    if k == 0 || same {
        return seed;
    }
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(u64::from(k)));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The summary of `trials` (each with its row); stages are matched by position.
pub fn summarize(trials: &[(TrialRow, Report)]) -> TrialsReport {
    let first = trials.first().map(|(_, r)| r);
    let stage_count = trials.iter().map(|(_, r)| r.stages.len()).max().unwrap_or(0);
    let stages = (0..stage_count)
        .map(|i| {
            let name = trials.iter().find_map(|(_, r)| r.stages.get(i)).map(|s| s.name.clone()).unwrap_or_default();
            let metrics = METRICS
                .iter()
                .filter_map(|(metric, read)| {
                    let values: Vec<Option<f64>> =
                        trials.iter().map(|(_, r)| r.stages.get(i).and_then(read).filter(|v| v.is_finite())).collect();
                    across(values).map(|m| (metric.to_string(), m))
                })
                .collect();
            StageTrials { name, metrics }
        })
        .collect();
    TrialsReport {
        schema_version: 1,
        scenario: first.map(|r| r.scenario.info.name.clone()).unwrap_or_default(),
        target: first.map(|r| r.target.clone()).unwrap_or_default(),
        trials: trials.iter().map(|(row, _)| row.clone()).collect(),
        stages,
    }
}

/// Mean, standard deviation and 95 % interval of the values present; None if none is.
fn across(values: Vec<Option<f64>>) -> Option<MetricTrials> {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    if present.is_empty() {
        return None;
    }
    let (mean, spread) = mean_and_spread(&present);
    let stddev = spread.map(|(sd, _)| round6(sd));
    let ci95 = spread.map(|(_, half)| [round6(mean - half), round6(mean + half)]);
    Some(MetricTrials { values, mean: round6(mean), stddev, ci95 })
}

/// The mean of `values` (not empty) and, with two or more, their standard deviation and
/// the half-width of the mean's 95 % interval (Student's t, n − 1 degrees of freedom).
pub(crate) fn mean_and_spread(values: &[f64]) -> (f64, Option<(f64, f64)>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, None);
    }
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    (mean, Some((sd, t975(values.len() - 1) * sd / n.sqrt())))
}

/// The 97.5th percentile of Student's t with `df` degrees of freedom (two-sided 95 %).
fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101,
        2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        31..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_interval_of_three() {
        let m = across(vec![Some(10.0), Some(12.0), Some(14.0)]).unwrap();
        assert_eq!(m.mean, 12.0);
        assert_eq!(m.stddev, Some(2.0));
        // 4.303 × 2 / √3 = 4.9687…
        let [lo, hi] = m.ci95.unwrap();
        assert!((lo - 7.031_3).abs() < 1e-3 && (hi - 16.968_7).abs() < 1e-3, "{lo} {hi}");
    }

    #[test]
    fn missing_values_are_left_out_and_one_value_has_no_interval() {
        let m = across(vec![None, Some(5.0), None]).unwrap();
        assert_eq!((m.mean, m.stddev, m.ci95), (5.0, None, None));
        assert!(across(vec![None, None]).is_none());
    }

    #[test]
    fn trial_seeds_are_fresh_unless_asked_to_be_the_same() {
        let seeds: Vec<u64> = (0..4).map(|k| trial_seed(7, k, false)).collect();
        assert_eq!(seeds[0], 7);
        let distinct: std::collections::BTreeSet<_> = seeds.iter().collect();
        assert_eq!(distinct.len(), 4);
        assert!((0..4).all(|k| trial_seed(7, k, true) == 7));
        assert_eq!(trial_seed(7, 2, false), trial_seed(7, 2, false), "derived, not random");
    }
}
