//! `volley run --repeat N`: the plan run N times, one complete output directory per
//! trial (`trial-1/`, …), then `trials.json` and a table of each metric's mean and 95 %
//! confidence interval across the trials.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result};
use volley::core::{Cancel, Policy};
use volley::report::trials::{self, TrialRow, TrialsReport};

use super::run::{RunArgs, THRESHOLDS_FAILED, run_once};

pub(super) async fn repeat(a: RunArgs, policy: Policy, cancel: Arc<Cancel>) -> Result<ExitCode> {
    let base = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(format!("repeat-{}", volley::core::time::utc_stamp(SystemTime::now()))));
    let mut done = Vec::with_capacity(a.repeat as usize);
    for k in 0..a.repeat {
        if cancel.is_cancelled() {
            break;
        }
        let seed = trials::trial_seed(a.seed, k, a.repeat_same_seed);
        let dir = format!("trial-{}", k + 1);
        if !a.quiet {
            eprintln!("volley: trial {} of {} (seed {seed})", k + 1, a.repeat);
        }
        let mut trial = a.clone();
        trial.seed = seed;
        trial.out = Some(base.join(&dir));
        let finished = run_once(trial, policy.clone(), cancel.clone()).await.with_context(|| format!("trial {}", k + 1))?;
        let row = TrialRow {
            trial: k + 1,
            seed,
            dir,
            interrupted: finished.report.interrupted,
            thresholds_failed: finished.report.thresholds_failed(),
        };
        done.push((row, finished.report));
    }
    let summary = trials::summarize(&done);
    let path = base.join("trials.json");
    let text = serde_json::to_string_pretty(&summary).context("cannot serialize trials.json")?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    print!("{}", render(&summary));
    if !a.quiet {
        eprintln!("wrote {} ({} trials, each in its own directory)", path.display(), done.len());
    }
    let interrupted = done.len() < a.repeat as usize || done.iter().any(|(row, _)| row.interrupted);
    Ok(if done.iter().any(|(row, _)| row.thresholds_failed) {
        ExitCode::from(THRESHOLDS_FAILED)
    } else if interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// Mean ± the half-width of the 95 % interval, per stage and metric.
fn render(t: &TrialsReport) -> String {
    let mut out = String::new();
    let seeds: Vec<String> = t.trials.iter().map(|r| r.seed.to_string()).collect();
    let _ = writeln!(out, "\n{} trials of {} against {} (seeds {})", t.trials.len(), t.scenario, t.target, seeds.join(", "));
    for stage in &t.stages {
        let _ = writeln!(out, "\nstage '{}' across trials", stage.name);
        let _ = writeln!(out, "  {:<22}{:>12}{:>14}   per trial", "metric", "mean", "± 95 % CI");
        for (name, m) in &stage.metrics {
            let half = m.ci95.map_or("-".to_string(), |[lo, hi]| format!("{:.3}", (hi - lo) / 2.0));
            let values: Vec<String> = m.values.iter().map(|v| v.map_or("-".into(), |v| format!("{v:.3}"))).collect();
            let _ = writeln!(out, "  {:<22}{:>12.3}{:>14}   {}", name, m.mean, half, values.join("  "));
        }
    }
    // Names come from the scenario: no control characters reach the terminal.
    out.lines().map(|l| volley::core::text::printable(l, 10_000) + "\n").collect()
}
