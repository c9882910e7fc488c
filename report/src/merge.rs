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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use volley_core::stats::StageStats;
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
pub const MAX_REPORT_BYTES: u64 = 512 << 20;

/// Reads `DIR/report.json`.
pub fn read_shard(dir: &Path) -> Result<ShardInput, MergeError> {
    let path = dir.join("report.json");
    let file = std::fs::File::open(&path).map_err(|e| MergeError(format!("cannot read {}: {e}", path.display())))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_REPORT_BYTES {
        return fail(format!("{} is larger than {} MiB", path.display(), MAX_REPORT_BYTES >> 20));
    }
    let report: Report = serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|e| MergeError(format!("{} is not a Volley report: {e}", path.display())))?;
    Ok(ShardInput { dir: dir.to_path_buf(), report })
}

/// Merges the shards' reports; `extra` thresholds are judged beside the shards' own.
pub fn merge(mut inputs: Vec<ShardInput>, allow_missing: bool, extra: &[Threshold]) -> Result<Report, MergeError> {
    if inputs.is_empty() {
        return fail("nothing to merge: give the shards' output directories".into());
    }
    let shard_of = |i: &ShardInput| -> Result<Shard, MergeError> {
        i.report.shard.ok_or_else(|| MergeError(format!("{} is not a shard's report (it was not run with --shard)", i.dir.display())))
    };
    let mut seen: BTreeMap<u32, PathBuf> = BTreeMap::new();
    let first = shard_of(&inputs[0])?;
    for i in &inputs {
        let s = shard_of(i)?;
        let r = &i.report;
        let f = &inputs[0].report;
        let (here, there) = (i.dir.display(), inputs[0].dir.display());
        if s.count != first.count {
            return fail(format!("{here} is shard {}/{} but {there} is of {} shards", s.index, s.count, first.count));
        }
        if r.scenario.digest != f.scenario.digest || r.scenario.source != f.scenario.source && r.scenario.digest.is_none() {
            return fail(format!(
                "{here} ran another scenario ({}) than {there} ({})",
                r.scenario.digest.as_deref().unwrap_or(&r.scenario.source),
                f.scenario.digest.as_deref().unwrap_or(&f.scenario.source)
            ));
        }
        if r.seed != f.seed {
            return fail(format!("{here} ran with seed {} but {there} with seed {}", r.seed, f.seed));
        }
        if r.params != f.params {
            return fail(format!("{here} ran with other parameters ({}) than {there} ({})", r.params, f.params));
        }
        if r.target != f.target {
            return fail(format!("{here} sent to {} but {there} to {}", r.target, f.target));
        }
        if let Some(other) = seen.insert(s.index, i.dir.clone()) {
            return fail(format!("shard {}/{} appears twice: {} and {here}", s.index, s.count, other.display()));
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
    let rows: Vec<ShardRow> = inputs.iter().map(row).collect();

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
                warnings.push(format!("shard {}, stage '{}': {w}", r.index, st.name));
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
    let started = inputs.iter().map(|i| i.report.started_unix_ms).min().unwrap_or(base.started_unix_ms);
    let ended = inputs.iter().map(|i| i.report.started_unix_ms as f64 + i.report.duration_s * 1000.0).fold(0.0, f64::max);
    Ok(Report {
        thresholds: threshold::evaluate_all(&thresholds, &stages),
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
            return fail(format!(
                "{} ran stages [{}] but {} ran [{}]",
                i.dir.display(),
                names.join(", "),
                first.dir.display(),
                want.join(", ")
            ));
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
    let whole = s0.shard_of.clone().ok_or_else(|| MergeError(format!("{}: stage '{}' has no shard plan", dir0.display(), s0.name)))?;
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
        let missing =
            |what: &str| MergeError(format!("{}: stage '{}' has no {what} (a report of an older Volley?)", dir.display(), s.name));
        if s.shard_of.as_ref().map(|w| (w.load, w.max_requests)) != Some((whole.load, whole.max_requests)) {
            return fail(format!("{}: stage '{}' is another plan's", dir.display(), s.name));
        }
        let wire = s.mergeable.as_ref().ok_or_else(|| missing("mergeable statistics"))?;
        let part = StageStats::from_wire(wire, stage.slo).map_err(|e| MergeError(format!("{}: stage '{}': {e}", dir.display(), s.name)))?;
        stats.merge(&part);
        windows.push(s.window.ok_or_else(|| missing("window"))?);
        for (name, c) in &s.checks {
            let t = checks.entry(name.clone()).or_default();
            t.0 += c.passes;
            t.1 += c.fails;
        }
    }
    // The windows on one clock: the earliest start is `base`.
    let t0 = windows.iter().map(|w| w.started_unix_ms).fold(f64::INFINITY, f64::min);
    let at = |unix_ms: f64| base + Duration::from_secs_f64(((unix_ms - t0) / 1000.0).max(0.0));
    let window = StageWindow {
        started: base,
        sending_ended: windows.iter().map(|w| at(w.started_unix_ms + w.sending_ms)).max().unwrap_or(base),
        finished: windows.iter().map(|w| at(w.started_unix_ms + w.finished_ms)).max().unwrap_or(base),
        sent: windows.iter().map(|w| w.sent).sum(),
    };
    let mut report = StageReport::build(&stage, &stats, &window);
    report.checks = checks.into_iter().map(|(k, (p, f))| (k, CheckReport::new(p, f))).collect();
    report.window = Some(crate::schema::WindowReport { started_unix_ms: t0, ..crate::schema::WindowReport::of(&window) });
    report.mergeable = Some(stats.to_wire());
    // The shards' generators together (each a process of its own).
    let cpu: Option<Vec<f64>> = parts.iter().map(|(_, p)| p.generator_cpu_s).collect();
    report.generator_cpu_s = cpu.map(|c| crate::stage::round3(c.iter().sum()));
    Ok(report)
}

fn row(i: &ShardInput) -> ShardRow {
    let r = &i.report;
    let (sent, ok, failed) =
        r.stages.iter().fold((0, 0, 0), |(s, o, f), st| (s + st.requests.sent, o + st.requests.ok, f + st.requests.failed));
    let elapsed: f64 = r.stages.iter().map(|s| s.elapsed_s).sum();
    ShardRow {
        index: r.shard.map_or(0, |s| s.index),
        dir: i.dir.display().to_string(),
        sent,
        ok,
        failed,
        start_skew_ms: r.start.as_ref().map(|s| s.skew_ms),
        lag_p99_ms: r.stages.iter().filter_map(|s| s.schedule_lag_ms.map(|l| l.p99)).reduce(f64::max),
        achieved_rps: if elapsed > 0.0 { (ok as f64 / elapsed * 1000.0).round() / 1000.0 } else { 0.0 },
    }
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
        assert!(e.contains("is larger than 512 MiB") && !e.contains('\n'), "{e}");
    }
}
