//! `volley merge`: the reports of a sharded run's shards joined into the report one
//! process would have written. Each stage's statistics are added up from the shards'
//! lossless histograms and counters (`mergeable`) and the report is built from them as
//! a single run's is — percentiles of one histogram over every shard's requests, never
//! an average of percentiles. Rates are over the union of the shards' windows, placed
//! by their wall-clock starts. A per-shard table says what each contributed.
//!
//! Shards that do not belong together are refused, one line each: another scenario
//! digest, other parameters or seed, another shard count, another plan, the same shard
//! twice; and a set with shards missing unless the caller allows it (the report then
//! says which are missing).
//!
//! A shard's report is someone else's file: it is read through the one reader for
//! foreign files and checked ([`crate::read`], [`Report::validate`]) before its numbers
//! are used, every sum is checked (counters that would pass 2^64 are refused, never
//! wrapped), and windows are placed on one clock with checked time arithmetic, so no
//! number in a report can panic the merge. Names from the reports reach messages
//! printable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use volley_core::stats::StageStats;
use volley_core::text::printable;
use volley_core::{Shard, Stage, StageWindow};

use crate::schema::{CheckReport, MergeReport, Report, ShardRow, StageReport};
use crate::threshold::{self, Threshold};

/// One shard's report, as read from its directory.
pub struct ShardInput {
    pub dir: PathBuf,
    pub report: Report,
}

/// Why shards cannot be merged, in one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MergeError(pub String);

fn fail<T>(msg: String) -> Result<T, MergeError> {
    Err(MergeError(msg))
}

/// A shard started more than this after `--start-at` is called late.
const LATE_MS: f64 = 5.0;
/// Reports larger than this are refused (a report is mostly its histograms).
pub const MAX_REPORT_BYTES: u64 = volley_core::foreign_file::Kind::REPORT.max_bytes;

/// Reads `DIR/report.json` (bounded, typed and checked: [`crate::read`]).
pub fn read_shard(dir: &Path) -> Result<ShardInput, MergeError> {
    let report = crate::read::read_report(&dir.join("report.json")).map_err(|e| MergeError(e.to_string()))?;
    Ok(ShardInput { dir: dir.to_path_buf(), report })
}

/// A directory as messages show it.
fn shown(dir: &Path) -> String {
    printable(&dir.to_string_lossy(), 256)
}

/// `a + b`, refused past 2^64 (`what` names the counter).
fn sum(a: u64, b: u64, what: impl FnOnce() -> String) -> Result<u64, MergeError> {
    a.checked_add(b).ok_or_else(|| MergeError(format!("{} sum past 2^64", what())))
}

/// Merges the shards' reports; `extra` thresholds are judged beside the shards' own.
pub fn merge(
    mut inputs: Vec<ShardInput>,
    allow_missing: bool,
    extra: &[Threshold],
    baseline: Option<&[StageReport]>,
) -> Result<Report, MergeError> {
    if inputs.is_empty() {
        return fail("nothing to merge: give the shards' output directories".into());
    }
    // Inputs may come from anywhere (a library caller, not only read_shard): checked here too.
    for i in &inputs {
        i.report.validate().map_err(|e| MergeError(format!("{}/report.json is not a valid report: {e}", shown(&i.dir))))?;
    }
    let shard_of = |i: &ShardInput| -> Result<Shard, MergeError> {
        i.report.shard.ok_or_else(|| MergeError(format!("{} is not a shard's report (it was not run with --shard)", shown(&i.dir))))
    };
    let mut seen: BTreeMap<u32, PathBuf> = BTreeMap::new();
    let first = shard_of(&inputs[0])?;
    for i in &inputs {
        let s = shard_of(i)?;
        let r = &i.report;
        let f = &inputs[0].report;
        let (here, there) = (shown(&i.dir), shown(&inputs[0].dir));
        if s.count != first.count {
            return fail(format!("{here} is shard {}/{} but {there} is of {} shards", s.index, s.count, first.count));
        }
        if r.scenario.digest != f.scenario.digest || r.scenario.source != f.scenario.source && r.scenario.digest.is_none() {
            return fail(format!(
                "{here} ran another scenario ({}) than {there} ({})",
                printable(r.scenario.digest.as_deref().unwrap_or(&r.scenario.source), 100),
                printable(f.scenario.digest.as_deref().unwrap_or(&f.scenario.source), 100)
            ));
        }
        if r.seed != f.seed {
            return fail(format!("{here} ran with seed {} but {there} with seed {}", r.seed, f.seed));
        }
        if r.params != f.params {
            return fail(format!(
                "{here} ran with other parameters ({}) than {there} ({})",
                printable(&r.params.to_string(), 200),
                printable(&f.params.to_string(), 200)
            ));
        }
        if r.target != f.target {
            return fail(format!("{here} sent to {} but {there} to {}", printable(&r.target, 200), printable(&f.target, 200)));
        }
        if let Some(other) = seen.insert(s.index, i.dir.clone()) {
            return fail(format!("shard {}/{} appears twice: {} and {here}", s.index, s.count, shown(&other)));
        }
    }
    let missing: Vec<u32> = (0..first.count).filter(|k| !seen.contains_key(k)).collect();
    if !missing.is_empty() && !allow_missing {
        let list: Vec<String> = missing.iter().map(u32::to_string).collect();
        return fail(format!(
            "shard{} {} of {} missing (merge the rest with --allow-missing)",
            if missing.len() == 1 { "" } else { "s" },
            list.join(", "),
            first.count
        ));
    }
    inputs.sort_by_key(|i| i.report.shard.map_or(0, |s| s.index));
    let stages = merge_stages(&inputs)?;
    let rows: Vec<ShardRow> = inputs.iter().map(row).collect::<Result<_, _>>()?;

    let base = &inputs[0].report;
    let mut warnings: Vec<String> = Vec::new();
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(u32::to_string).collect();
        warnings.push(format!("shards {} of {} are missing: these numbers are of the others only", list.join(", "), first.count));
    }
    for (i, r) in inputs.iter().zip(&rows) {
        if let Some(skew) = r.start_skew_ms.filter(|s| s.abs() > LATE_MS) {
            warnings.push(format!("shard {} started {skew:.1} ms off --start-at", r.index));
        }
        for st in &i.report.stages {
            for w in st.warnings.iter().filter(|w| w.contains("fell behind") || w.contains("late")) {
                warnings.push(format!("shard {}, stage '{}': {}", r.index, printable(&st.name, 64), printable(w, 300)));
            }
        }
        if i.report.interrupted {
            warnings.push(format!("shard {} was interrupted", r.index));
        }
    }
    // The shards' own thresholds (each judged only its share), and any given here.
    let mut thresholds: Vec<Threshold> = Vec::new();
    for expr in base.thresholds.iter().map(|t| t.threshold.as_str()) {
        if let Ok(t) = Threshold::parse(expr)
            && !thresholds.iter().any(|k| k.expr == t.expr)
        {
            thresholds.push(t);
        }
    }
    for t in extra {
        if !thresholds.iter().any(|k| k.expr == t.expr) {
            thresholds.push(t.clone());
        }
    }
    // Validated: starts before the year 10000, durations under ten years, so these sums
    // are far inside f64's exact range.
    let started = inputs.iter().map(|i| i.report.started_unix_ms).min().unwrap_or(base.started_unix_ms);
    let ended = inputs.iter().map(|i| i.report.started_unix_ms as f64 + i.report.duration_s * 1000.0).fold(0.0, f64::max);
    Ok(Report {
        thresholds: threshold::evaluate_all(&thresholds, &stages, baseline),
        stages,
        started_unix_ms: started,
        duration_s: (ended - started as f64).round() / 1000.0,
        interrupted: inputs.iter().any(|i| i.report.interrupted),
        shard: None,
        start: None,
        aborted_by: inputs.iter().find_map(|i| i.report.aborted_by.clone()),
        warnings: base.warnings.iter().cloned().chain(warnings).collect(),
        merged: Some(MergeReport { count: first.count, shards: rows, missing }),
        // Server-side series and GPU telemetry are per process: see each shard's report.
        server_metrics: None,
        gpu: None,
        launch: None,
        // The server is the same for every shard: the first's account of it; each shard
        // ran on a machine of its own.
        metadata: crate::metadata::Metadata {
            shard_hosts: inputs.iter().map(|i| i.report.metadata.host.clone().unwrap_or_default()).collect(),
            ..base.metadata.clone()
        },
        ..base.clone()
    })
}

/// Each stage, its statistics added up over the shards.
fn merge_stages(inputs: &[ShardInput]) -> Result<Vec<StageReport>, MergeError> {
    let first = &inputs[0];
    let n = first.report.stages.len();
    for i in inputs {
        let names: Vec<&str> = i.report.stages.iter().map(|s| s.name.as_str()).collect();
        let want: Vec<&str> = first.report.stages.iter().map(|s| s.name.as_str()).collect();
        if names != want {
            let list = |names: &[&str]| printable(&names.join(", "), 300);
            return fail(format!("{} ran stages [{}] but {} ran [{}]", shown(&i.dir), list(&names), shown(&first.dir), list(&want)));
        }
    }
    let base = Instant::now();
    (0..n)
        .map(|k| {
            let parts: Vec<(&Path, &StageReport)> = inputs.iter().map(|i| (i.dir.as_path(), &i.report.stages[k])).collect();
            merge_stage(&parts, base)
        })
        .collect()
}

fn merge_stage(parts: &[(&Path, &StageReport)], base: Instant) -> Result<StageReport, MergeError> {
    let (dir0, s0) = parts[0];
    let name = printable(&s0.name, 64);
    let whole = s0.shard_of.clone().ok_or_else(|| MergeError(format!("{}: stage '{name}' has no shard plan", shown(dir0))))?;
    let stage = Stage {
        load: whole.load,
        max_requests: whole.max_requests,
        warmup: s0.warmup_s,
        cooldown: s0.cooldown_s,
        slo: s0.slo,
        ..Stage::new(s0.name.clone(), whole.load, s0.planned_duration, whole.max_requests)
    };
    let mut stats = StageStats::new();
    let mut windows = Vec::new();
    let mut checks: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (dir, s) in parts {
        let here = || format!("{}: stage '{name}'", shown(dir));
        let missing = |what: &str| MergeError(format!("{} has no {what} (a report of an older Volley?)", here()));
        if s.shard_of.as_ref().map(|w| (w.load, w.max_requests)) != Some((whole.load, whole.max_requests)) {
            return fail(format!("{} is another plan's", here()));
        }
        let wire = s.mergeable.as_ref().ok_or_else(|| missing("mergeable statistics"))?;
        let part = StageStats::from_wire(wire, stage.slo).map_err(|e| MergeError(format!("{}: {e}", here())))?;
        stats.merge(&part).map_err(|e| MergeError(format!("stage '{name}': the shards' {e}")))?;
        windows.push(s.window.ok_or_else(|| missing("window"))?);
        for (check, c) in &s.checks {
            let t = checks.entry(check.clone()).or_default();
            let what = || format!("stage '{name}': check '{}'", printable(check, 64));
            t.0 = sum(t.0, c.passes, || format!("{}: passes", what()))?;
            t.1 = sum(t.1, c.fails, || format!("{}: fails", what()))?;
        }
    }
    // The windows on one clock: the earliest start is `base`. Each offset is checked
    // into a Duration and onto the Instant (a window of 1e300 ms is refused, not a panic).
    let t0 = windows.iter().map(|w| w.started_unix_ms).fold(f64::INFINITY, f64::min);
    let at = |unix_ms: f64| -> Result<Instant, MergeError> {
        Duration::try_from_secs_f64(((unix_ms - t0) / 1000.0).max(0.0)).ok().and_then(|d| base.checked_add(d)).ok_or_else(|| {
            MergeError(format!("stage '{name}': a window ends {} ms after the first starts, past the clock's range", unix_ms - t0))
        })
    };
    let mut window = StageWindow { started: base, sending_ended: base, finished: base, sent: 0 };
    for w in &windows {
        window.sending_ended = window.sending_ended.max(at(w.started_unix_ms + w.sending_ms)?);
        window.finished = window.finished.max(at(w.started_unix_ms + w.finished_ms)?);
        window.sent = sum(window.sent, w.sent, || format!("stage '{name}': window.sent"))?;
    }
    let mut report = StageReport::build(&stage, &stats, &window);
    report.checks = checks.into_iter().map(|(k, (p, f))| (k, CheckReport::new(p, f))).collect();
    report.window = Some(crate::schema::WindowReport { started_unix_ms: t0, ..crate::schema::WindowReport::of(&window) });
    report.mergeable = Some(stats.to_wire());
    // The shards' generators together (each a process of its own).
    let cpu: Option<Vec<f64>> = parts.iter().map(|(_, p)| p.generator_cpu_s).collect();
    report.generator_cpu_s = cpu.map(|c| crate::stage::round3(c.iter().sum()));
    Ok(report)
}

fn row(i: &ShardInput) -> Result<ShardRow, MergeError> {
    let r = &i.report;
    let (mut sent, mut ok, mut failed) = (0u64, 0u64, 0u64);
    for st in &r.stages {
        let what = |counter: &'static str| move || format!("{}: the stages' {counter}", shown(&i.dir));
        sent = sum(sent, st.requests.sent, what("requests sent"))?;
        ok = sum(ok, st.requests.ok, what("requests ok"))?;
        failed = sum(failed, st.requests.failed, what("requests failed"))?;
    }
    let elapsed: f64 = r.stages.iter().map(|s| s.elapsed_s).sum();
    Ok(ShardRow {
        index: r.shard.map_or(0, |s| s.index),
        dir: i.dir.display().to_string(),
        sent,
        ok,
        failed,
        start_skew_ms: r.start.as_ref().map(|s| s.skew_ms),
        lag_p99_ms: r.stages.iter().filter_map(|s| s.schedule_lag_ms.map(|l| l.p99)).reduce(f64::max),
        achieved_rps: if elapsed > 0.0 { (ok as f64 / elapsed * 1000.0).round() / 1000.0 } else { 0.0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_past_the_bound_is_refused_unread() {
        let dir = std::env::temp_dir().join(format!("volley-merge-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Sparse: no disk is used.
        std::fs::File::create(dir.join("report.json")).unwrap().set_len(MAX_REPORT_BYTES + 1).unwrap();
        let e = read_shard(&dir).err().unwrap().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(e.ends_with("report.json is over the 512 MiB bound for a report"), "{e}");
    }
}
