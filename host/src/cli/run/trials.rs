//! `volley run --repeat N`: the plan run N times, one complete output directory per
//! trial (`trial-1/`, …), then `trials.json` and a table of each metric's mean and 95 %
//! confidence interval across the trials. The exit is the worst of the trials'
//! (`exit.rs`), and 130 if the trials were cut short.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result};
use volley::core::{Cancel, Policy};
use volley::report::console::ConsoleWriter;
use volley::report::trials::{self, TrialRow, TrialsReport};
use volley::wasm::Grants;

use super::super::exit::Exit;
use super::once::run_once;
use super::options::RunOptions;

pub(crate) async fn repeat(o: &RunOptions, grants: &Grants, policy: &Policy, cancel: Arc<Cancel>) -> Result<Exit> {
    let base = o
        .outputs
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join(format!("repeat-{}", volley::core::time::utc_stamp(SystemTime::now()))));
    let count = o.trials.count;
    let mut done = Vec::with_capacity(count as usize);
    let mut exit = Exit::Ok;
    for k in 0..count {
        if cancel.is_cancelled() {
            break;
        }
        let trial = o.trial(k, &base);
        if o.outputs.progress {
            ConsoleWriter::stderr().line(&format!("volley: trial {} of {count} (seed {})", k + 1, trial.scenario.seed));
        }
        let finished = run_once(&trial, grants, policy, cancel.clone()).await.with_context(|| format!("trial {}", k + 1))?;
        exit = exit.worst(finished.exit);
        let row = TrialRow {
            trial: k + 1,
            seed: trial.scenario.seed,
            dir: format!("trial-{}", k + 1),
            interrupted: finished.report.interrupted,
            thresholds_failed: finished.report.thresholds_failed(),
        };
        done.push((row, finished.report));
    }
    let summary = trials::summarize(&done);
    let path = base.join("trials.json");
    let text = serde_json::to_string_pretty(&summary).context("cannot serialize trials.json")?;
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    ConsoleWriter::stdout().lines(lines(&summary));
    if o.outputs.progress {
        ConsoleWriter::stderr().line(&format!("wrote {} ({} trials, each in its own directory)", path.display(), done.len()));
    }
    if done.len() < count as usize {
        exit = exit.worst(Exit::Interrupted);
    }
    Ok(exit)
}

/// Mean ± the half-width of the 95 % interval, per stage and metric, a line each.
fn lines(t: &TrialsReport) -> Vec<String> {
    let mut out = Vec::new();
    let seeds: Vec<String> = t.trials.iter().map(|r| r.seed.to_string()).collect();
    out.push(String::new());
    out.push(format!("{} trials of {} against {} (seeds {})", t.trials.len(), t.scenario, t.target, seeds.join(", ")));
    for stage in &t.stages {
        out.push(String::new());
        out.push(format!("stage '{}' across trials", stage.name));
        out.push(format!("  {:<22}{:>12}{:>14}   per trial", "metric", "mean", "± 95 % CI"));
        for (name, m) in &stage.metrics {
            let half = m.ci95.map_or("-".to_string(), |[lo, hi]| format!("{:.3}", (hi - lo) / 2.0));
            let values: Vec<String> = m.values.iter().map(|v| v.map_or("-".into(), |v| format!("{v:.3}"))).collect();
            out.push(format!("  {:<22}{:>12.3}{:>14}   {}", name, m.mean, half, values.join("  ")));
        }
    }
    out
}
