//! Thresholds (`--threshold EXPR`, k6's idea): pass/fail conditions over the metrics a
//! stage reports, checked on each finished stage so a CI pipeline can fail a run that
//! missed its objective. The grammar (docs/thresholds.md):
//!
//! ```text
//! threshold := [ "stage=" NAME ":" ] metric OP bound
//! metric    := SUMMARY "." STAT | SCALAR | "checks." CHECK "." ("rate" | "passes" | "fails")
//! OP        := "<" | "<=" | ">" | ">=" | "=="
//! bound     := NUMBER | "baseline" [ "*" NUMBER ]
//! ```
//!
//! A `baseline` bound is the same stage's value of the same metric in the run given with
//! `--baseline` (a stored run or a report), times the factor: `ttft_ms.p99 < baseline *
//! 1.10` fails a run more than 10 % slower. A stage the baseline lacks, or lacks a sample
//! of the metric in, fails such a threshold: nothing shows it holds.
//!
//! `SUMMARY` is a latency summary of the stage report (`ttft_ms`, `itl_ms`, …) and `STAT`
//! one of its statistics (`p50`, `p99`, `mean`, …); `SCALAR` is a rate or count
//! (`error_rate`, `goodput_rps`, …). Without a stage, a threshold holds for every
//! stage. A stage with no sample of the metric fails it: nothing shows it holds. A
//! check's counts are final only when the run has ended (the scenario may record
//! checks for a stage's last outcomes after the stage), so check thresholds are judged
//! then.

use serde::{Deserialize, Serialize};
use volley_core::Summary;

use crate::schema::StageReport;
pub use crate::schema::ThresholdResult;

/// How a named figure is read: from a stage, a summary or a check.
type SummaryOf = fn(&StageReport) -> Option<Summary>;
type StatOf = fn(&Summary) -> f64;
type ScalarOf = fn(&StageReport) -> Option<f64>;
type CheckStatOf = fn(&crate::schema::CheckReport) -> f64;

/// Latency summaries a threshold may name, and how to read each from a stage.
const SUMMARIES: &[(&str, SummaryOf)] = &[
    ("ttft_ms", |s| s.ttft_ms),
    ("ttfo_ms", |s| s.ttfo_ms),
    ("ttst_ms", |s| s.ttst_ms),
    ("itl_ms", |s| s.itl_ms),
    ("itl_per_token_ms", |s| s.itl_per_token_ms),
    ("tpot_ms", |s| s.tpot_ms),
    ("latency_ms", |s| s.latency_ms),
    ("latency_from_planned_ms", |s| s.latency_from_planned_ms),
    ("schedule_lag_ms", |s| s.schedule_lag_ms),
    // A stage whose sessions are tasks: per task.
    ("task_latency_ms", |s| s.tasks.as_ref()?.latency_ms),
    ("task_turns", |s| s.tasks.as_ref()?.turns),
    ("task_tool_calls", |s| s.tasks.as_ref()?.tool_calls),
    ("task_input_tokens", |s| s.tasks.as_ref()?.input_tokens),
    ("task_output_tokens", |s| s.tasks.as_ref()?.output_tokens),
    ("task_waited_ms", |s| s.tasks.as_ref()?.waited_ms),
    ("follow_up_lag_ms", |s| s.tasks.as_ref()?.follow_up_lag_ms),
];

const STATS: &[(&str, StatOf)] = &[
    ("count", |s| s.count as f64),
    ("mean", |s| s.mean),
    ("min", |s| s.min),
    ("max", |s| s.max),
    ("p50", |s| s.p50),
    ("p90", |s| s.p90),
    ("p95", |s| s.p95),
    ("p99", |s| s.p99),
    ("p99.9", |s| s.p99_9),
];

/// Rates and counts a threshold may name.
const SCALARS: &[(&str, ScalarOf)] = &[
    ("error_rate", |s| (s.requests.sent > 0).then(|| s.requests.failed as f64 / s.requests.sent as f64)),
    ("sent", |s| Some(s.requests.sent as f64)),
    ("ok", |s| Some(s.requests.ok as f64)),
    ("failed", |s| Some(s.requests.failed as f64)),
    ("offered_rps", |s| Some(s.offered_rps)),
    ("achieved_rps", |s| Some(s.achieved_rps)),
    ("goodput_rps", |s| s.goodput_rps),
    ("slo_attainment", |s| s.slo_attainment),
    ("output_tokens_per_s", |s| Some(s.output_tokens_per_s)),
    ("inferences_per_s", |s| Some(s.inferences_per_s)),
    ("prefix_cache_hit_ratio", |s| s.prefix_cache.hit_ratio),
    ("output_tokens_per_joule", |s| s.output_tokens_per_joule),
    ("tasks_started", |s| Some(s.tasks.as_ref()?.started as f64)),
    ("tasks_completed", |s| Some(s.tasks.as_ref()?.completed as f64)),
    ("tasks_failed", |s| Some(s.tasks.as_ref()?.failed as f64)),
    ("tasks_per_s", |s| Some(s.tasks.as_ref()?.tasks_per_s)),
    ("task_failure_rate", |s| {
        let t = s.tasks.as_ref()?;
        let ended = t.completed + t.failed + t.unfinished;
        (ended > 0).then(|| (t.failed + t.unfinished) as f64 / ended as f64)
    }),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
}

impl Op {
    fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Op::Lt => value < bound,
            Op::Le => value <= bound,
            Op::Gt => value > bound,
            Op::Ge => value >= bound,
            Op::Eq => value == bound,
        }
    }
}

/// Statistics of a named check.
const CHECK_STATS: &[(&str, CheckStatOf)] = &[("rate", |c| c.rate), ("passes", |c| c.passes as f64), ("fails", |c| c.fails as f64)];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Metric {
    Summary { summary: usize, stat: usize },
    Scalar(usize),
    Check { name: String, stat: usize },
}

impl Metric {
    fn value(&self, stage: &StageReport) -> Option<f64> {
        match self {
            Metric::Summary { summary, stat } => SUMMARIES[*summary].1(stage).map(|s| STATS[*stat].1(&s)),
            Metric::Scalar(i) => SCALARS[*i].1(stage),
            Metric::Check { name, stat } => stage.checks.get(name).map(CHECK_STATS[*stat].1),
        }
    }

    /// Whether a missing value means "no sample" (a failure) rather than "zero".
    fn sampled(&self) -> bool {
        !matches!(self, Metric::Scalar(_))
    }
}

/// One parsed `--threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The expression as the operator wrote it (whitespace trimmed).
    pub expr: String,
    /// The stage it is about (by name); None: every stage.
    pub stage: Option<String>,
    metric: Metric,
    pub op: Op,
    pub bound: f64,
    /// `baseline * FACTOR`: the bound comes from the baseline run (`bound` is unused).
    pub baseline_factor: Option<f64>,
}

/// A threshold that does not parse, with what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--threshold '{expr}': {reason}")]
pub struct ThresholdError {
    pub expr: String,
    pub reason: String,
}

/// Longest expression accepted: a threshold is a short formula, not a document.
const MAX_EXPR: usize = 512;

impl Threshold {
    pub fn parse(text: &str) -> Result<Threshold, ThresholdError> {
        let expr = text.trim();
        let fail = |reason: String| ThresholdError { expr: expr.chars().take(80).collect(), reason };
        if expr.len() > MAX_EXPR {
            return Err(fail(format!("longer than {MAX_EXPR} bytes")));
        }
        let (stage, condition) = match expr.strip_prefix("stage=") {
            Some(rest) => match rest.split_once(':') {
                Some((name, cond)) if !name.trim().is_empty() => (Some(name.trim().to_string()), cond),
                _ => return Err(fail("a stage scope is `stage=NAME:METRIC OP NUMBER`".into())),
            },
            None => (None, expr),
        };
        let at = condition.find(['<', '>', '=']).ok_or_else(|| fail("no comparison (one of < <= > >= ==)".into()))?;
        let (name, rest) = (condition[..at].trim(), &condition[at..]);
        let (op, number) = [("<=", Op::Le), (">=", Op::Ge), ("==", Op::Eq), ("<", Op::Lt), (">", Op::Gt)]
            .into_iter()
            .find_map(|(s, op)| rest.strip_prefix(s).map(|n| (op, n.trim())))
            .ok_or_else(|| fail("a comparison is one of < <= > >= ==".into()))?;
        let (bound, baseline_factor) = match number.strip_prefix("baseline") {
            Some(rest) => {
                let factor = match rest.trim() {
                    "" => 1.0,
                    f => f
                        .strip_prefix('*')
                        .and_then(|n| n.trim().parse::<f64>().ok())
                        .ok_or_else(|| fail(format!("'{number}': a baseline bound is `baseline` or `baseline * NUMBER`")))?,
                };
                if !factor.is_finite() {
                    return Err(fail("the baseline's factor must be a finite number".into()));
                }
                (0.0, Some(factor))
            }
            None => (number.parse::<f64>().map_err(|_| fail(format!("'{number}' is not a number (or `baseline * NUMBER`)")))?, None),
        };
        if !bound.is_finite() {
            return Err(fail("the bound must be a finite number".into()));
        }
        let metric = metric(name).map_err(fail)?;
        Ok(Threshold { expr: expr.to_string(), stage, metric, op, bound, baseline_factor })
    }

    /// Whether its bound comes from a baseline run.
    pub fn needs_baseline(&self) -> bool {
        self.baseline_factor.is_some()
    }

    /// Its verdict on each stage it is about; a named stage that did not run fails. A
    /// baseline bound reads the same stage of `baseline` (none given: it fails).
    pub fn evaluate(&self, stages: &[StageReport], baseline: Option<&[StageReport]>) -> Vec<ThresholdResult> {
        let verdict = |s: &StageReport| {
            let value = self.metric.value(s).filter(|v| v.is_finite());
            let sampled = !self.metric.sampled() || value.is_some();
            let (bound, base) = match self.baseline_factor {
                None => (Some(self.bound), None),
                Some(factor) => {
                    let base = baseline
                        .and_then(|b| b.iter().find(|b| b.name == s.name))
                        .and_then(|b| self.metric.value(b))
                        .filter(|v| v.is_finite());
                    (base.map(|b| b * factor), base)
                }
            };
            ThresholdResult {
                threshold: self.expr.clone(),
                stage: s.name.clone(),
                value,
                passed: sampled && matches!((value, bound), (Some(v), Some(b)) if self.op.holds(v, b)),
                baseline: base,
                bound: bound.filter(|_| self.baseline_factor.is_some()),
            }
        };
        match &self.stage {
            None => stages.iter().map(verdict).collect(),
            Some(name) => {
                let matching: Vec<_> = stages.iter().filter(|s| &s.name == name).map(verdict).collect();
                if matching.is_empty() {
                    vec![ThresholdResult {
                        threshold: self.expr.clone(),
                        stage: name.clone(),
                        value: None,
                        passed: false,
                        baseline: None,
                        bound: None,
                    }]
                } else {
                    matching
                }
            }
        }
    }
}

impl Threshold {
    /// Whether this threshold is about the stage named `stage`.
    pub fn applies_to(&self, stage: &str) -> bool {
        self.stage.as_deref().is_none_or(|s| s == stage)
    }

    /// Whether [`Threshold::failed_for_good`] can ever be true mid-stage: only those are
    /// worth watching while a stage runs.
    pub fn watchable(&self) -> bool {
        if self.baseline_factor.is_some() {
            return false;
        }
        match self.metric {
            Metric::Summary { stat, .. } => match STATS[stat].0 {
                "max" | "count" => matches!(self.op, Op::Lt | Op::Le | Op::Eq),
                "min" => matches!(self.op, Op::Gt | Op::Ge),
                _ => false,
            },
            Metric::Scalar(i) => matches!(SCALARS[i].0, "sent" | "ok" | "failed") && matches!(self.op, Op::Lt | Op::Le | Op::Eq),
            Metric::Check { .. } => false,
        }
    }

    /// Whether its metric is known when a stage ends, or only once the run has ended
    /// (GPU energy comes with the sampler's last reading).
    pub fn known_at_stage_end(&self) -> bool {
        match &self.metric {
            Metric::Scalar(i) => SCALARS[*i].0 != "output_tokens_per_joule",
            Metric::Check { .. } => false,
            Metric::Summary { .. } => true,
        }
    }

    /// Whether it fails on the stage *so far* in a way more requests cannot undo: a
    /// maximum above its bound, a minimum below, a count past it. Percentiles, means and
    /// rates can still move, so they are judged when the stage ends.
    pub fn failed_for_good(&self, so_far: &StageReport) -> bool {
        self.watchable() && self.fails_now(so_far)
    }

    fn fails_now(&self, s: &StageReport) -> bool {
        match self.metric.value(s) {
            Some(v) => {
                // `==` fails for good only once a growing value is past the bound.
                if self.op == Op::Eq { v > self.bound } else { !self.op.holds(v, self.bound) }
            }
            None => false,
        }
    }
}

/// A metric a threshold may name (`ttft_ms.p99`, `goodput_rps`, `checks.NAME.rate`),
/// read from any stage report: what `volley runs trend` plots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRef(Metric);

impl MetricRef {
    pub fn parse(name: &str) -> Result<MetricRef, String> {
        metric(name.trim()).map(MetricRef)
    }

    /// Its value on `stage`; None when the stage has no sample of it.
    pub fn value(&self, stage: &StageReport) -> Option<f64> {
        self.0.value(stage).filter(|v| v.is_finite())
    }
}

fn metric(name: &str) -> Result<Metric, String> {
    if let Some(i) = SCALARS.iter().position(|(n, _)| *n == name) {
        return Ok(Metric::Scalar(i));
    }
    if let Some(check) = name.strip_prefix("checks.") {
        let stats: Vec<&str> = CHECK_STATS.iter().map(|(n, _)| *n).collect();
        let Some((check, stat)) = check.rsplit_once('.').filter(|(c, _)| !c.is_empty()) else {
            return Err(format!("a check threshold is checks.NAME.STAT, STAT one of {}", stats.join(", ")));
        };
        let Some(stat) = CHECK_STATS.iter().position(|(n, _)| *n == stat) else {
            return Err(format!("unknown statistic '{stat}' of check '{check}'; one of {}", stats.join(", ")));
        };
        return Ok(Metric::Check { name: check.to_string(), stat });
    }
    let names = |list: &[&str]| list.join(", ");
    let summaries: Vec<&str> = SUMMARIES.iter().map(|(n, _)| *n).collect();
    let stats: Vec<&str> = STATS.iter().map(|(n, _)| *n).collect();
    let scalars: Vec<&str> = SCALARS.iter().map(|(n, _)| *n).collect();
    let (base, stat) = match name.split_once('.') {
        Some((b, s)) => (b, Some(s)),
        None => (name, None),
    };
    let Some(summary) = SUMMARIES.iter().position(|(n, _)| *n == base) else {
        return Err(format!("unknown metric '{name}'; metrics are {}.STAT, {} and checks.NAME.rate", names(&summaries), names(&scalars)));
    };
    let Some(stat) = stat else {
        return Err(format!("'{name}' needs a statistic: {name}.p99, one of {}", names(&stats)));
    };
    let stat = STATS
        .iter()
        .position(|(n, _)| *n == stat)
        .ok_or_else(|| format!("unknown statistic '{stat}' of {base}; one of {}", names(&stats)))?;
    Ok(Metric::Summary { summary, stat })
}

/// Every threshold's verdicts on a run's stages, in the order given; `baseline`: the
/// stages of the run given with `--baseline`.
pub fn evaluate_all(thresholds: &[Threshold], stages: &[StageReport], baseline: Option<&[StageReport]>) -> Vec<ThresholdResult> {
    thresholds.iter().flat_map(|t| t.evaluate(stages, baseline)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_grammar() {
        let t = Threshold::parse(" ttft_ms.p99 < 500 ").unwrap();
        assert_eq!((t.expr.as_str(), t.stage.as_deref(), t.op, t.bound), ("ttft_ms.p99 < 500", None, Op::Lt, 500.0));
        let t = Threshold::parse("stage=steady:itl_ms.p90<=40").unwrap();
        assert_eq!((t.stage.as_deref(), t.op, t.bound), (Some("steady"), Op::Le, 40.0));
        assert_eq!(Threshold::parse("error_rate<0.01").unwrap().op, Op::Lt);
        assert_eq!(Threshold::parse("goodput_rps>=20").unwrap().op, Op::Ge);
        assert_eq!(Threshold::parse("ttft_ms.p99.9>1e3").unwrap().bound, 1000.0);
        assert_eq!(Threshold::parse("failed==0").unwrap().op, Op::Eq);
    }

    #[test]
    fn only_growing_maxima_and_counts_and_falling_minima_are_watched() {
        for (expr, watched) in [
            ("ttft_ms.max<10", true),
            ("ttft_ms.count<=100", true),
            ("failed==0", true),
            ("ttft_ms.min>5", true),
            ("ttft_ms.max>10", false),
            ("ttft_ms.p99<10", false),
            ("error_rate<0.01", false),
            ("achieved_rps>=20", false),
        ] {
            assert_eq!(Threshold::parse(expr).unwrap().watchable(), watched, "{expr}");
        }
        assert!(!Threshold::parse("output_tokens_per_joule>1").unwrap().known_at_stage_end());
        assert!(Threshold::parse("ttft_ms.p99<10").unwrap().known_at_stage_end());
        assert!(!Threshold::parse("checks.ok.fails==0").unwrap().known_at_stage_end());
    }

    #[test]
    fn check_thresholds_read_the_stage_checks() {
        let now = std::time::Instant::now();
        let window = volley_core::StageWindow { started: now, sending_ended: now, finished: now, sent: 0 };
        let plan = volley_core::Stage::new("s", volley_core::Load::Concurrency { n: 1 }, None, Some(1));
        let mut stage = StageReport::build(&plan, &volley_core::StageStats::new(), &window);
        stage.checks.insert("has.dots".into(), crate::schema::CheckReport::new(9, 1));
        let t = Threshold::parse("checks.has.dots.rate >= 0.9").unwrap();
        let v = &t.evaluate(std::slice::from_ref(&stage), None)[0];
        assert_eq!((v.value, v.passed), (Some(0.9), true));
        assert!(!Threshold::parse("checks.has.dots.fails == 0").unwrap().evaluate(std::slice::from_ref(&stage), None)[0].passed);
        // A check the stage never recorded has no sample: it fails.
        let v = &Threshold::parse("checks.other.rate > 0").unwrap().evaluate(std::slice::from_ref(&stage), None)[0];
        assert_eq!((v.value, v.passed), (None, false));
    }

    #[test]
    fn baseline_bounds_read_the_same_stage_of_the_baseline() {
        use crate::testing::stage_with_ttfts;
        let base = vec![stage_with_ttfts("s", &[100, 100, 100])];
        let t = Threshold::parse("ttft_ms.p50 < baseline * 1.10").unwrap();
        assert!(t.needs_baseline() && !t.watchable());
        let slower = t.evaluate(&[stage_with_ttfts("s", &[120, 120, 120])], Some(&base));
        assert!(!slower[0].passed);
        let (value, b, bound) = (slower[0].value.unwrap(), slower[0].baseline.unwrap(), slower[0].bound.unwrap());
        assert!((value / b - 1.2).abs() < 0.02 && (bound - b * 1.10).abs() < 1e-9, "{value} {b} {bound}");
        assert!(t.evaluate(&[stage_with_ttfts("s", &[105, 105])], Some(&base))[0].passed);
        // No baseline, or no such stage in it: nothing shows it holds.
        assert!(!t.evaluate(&[stage_with_ttfts("s", &[1])], None)[0].passed);
        assert!(!t.evaluate(&[stage_with_ttfts("other", &[1])], Some(&base))[0].passed);
        assert_eq!(Threshold::parse("goodput_rps >= baseline").unwrap().baseline_factor, Some(1.0));
        let e = Threshold::parse("ttft_ms.p99 < baseline + 3").unwrap_err().to_string();
        assert!(e.contains("`baseline` or `baseline * NUMBER`"), "{e}");
    }

    #[test]
    fn malformed_expressions_say_what_is_wrong() {
        for (expr, says) in [
            ("ttft_ms.p99", "no comparison"),
            ("ttft_ms.p99 <", "is not a number"),
            ("ttft_ms.p99 < fast", "'fast' is not a number"),
            ("ttft_ms.p99 =< 3", "one of < <= > >= =="),
            ("ttft_ms < 3", "needs a statistic"),
            ("ttft_ms.p42 < 3", "unknown statistic 'p42'"),
            ("speed > 3", "unknown metric 'speed'"),
            ("stage=:ttft_ms.p99<3", "stage=NAME:"),
            ("error_rate < inf", "finite"),
            ("error_rate < NaN", "finite"),
            ("checks.rate > 0.9", "checks.NAME.STAT"),
            ("checks.answered.ratio > 0.9", "unknown statistic 'ratio' of check 'answered'"),
        ] {
            let e = Threshold::parse(expr).unwrap_err().to_string();
            assert!(e.contains(says), "{expr}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
        assert!(Threshold::parse(&"x".repeat(10_000)).unwrap_err().to_string().len() < 200);
    }
}
