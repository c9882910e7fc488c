//! `volley compare A B`: two runs side by side, stage by stage, telling a change from
//! noise. Each side is a run's output directory, its `report.json`, or a `--repeat`
//! directory (its `trials.json`). Stages are matched by name, never by position, and
//! those without a partner are named. A difference is called better or worse only where
//! it exceeds the noise the data let us estimate ([`noise`]): the trials' 95 % intervals
//! when both sides have trials; each run's own sampling noise (its histograms' order
//! statistics, Poisson counts) when both are single runs; and no verdict otherwise.

mod deltas;
mod metrics;
mod noise;
mod side;
mod table;

use std::path::Path;

use crate::schema::Report;
use crate::trials::TrialsReport;
use side::Side;

pub use deltas::{Call, DeltaRow, Deltas, Figure, StageDeltas, deltas};

/// Why a report could not be read, in one line.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    // `cause`, not `source`: the cause is in this line once, not again as its source.
    #[error("cannot read {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{path} holds neither report.json nor trials.json: give a run's output directory, its report.json, or a --repeat directory")]
    NotARun { path: String },
    /// `--html` draws single runs: a `--repeat` directory has no one run's stages.
    #[error(
        "{path} is a --repeat directory: the HTML comparison draws single runs; give one trial's directory (trial-1 beside its trials.json)"
    )]
    Trials { path: String },
    /// The one reader for foreign files refused it (not a regular file, over its bound,
    /// not a valid report): its line names the file.
    #[error(transparent)]
    File(#[from] volley_core::foreign_file::ForeignFileError),
}

/// Reads a `report.json`: bounded, typed and checked ([`crate::read`]).
pub fn read(path: &Path) -> Result<Report, ReadError> {
    Ok(crate::read::read_report(path)?)
}

/// Reads a `trials.json` (`volley run --repeat N`), through the one reader for foreign
/// files (regular files only, opened without blocking, bounded).
pub fn read_trials(path: &Path) -> Result<TrialsReport, ReadError> {
    use volley_core::foreign_file::{self, Kind};
    Ok(foreign_file::read_json(path, Kind::TRIALS)?)
}

/// Why two runs could not be compared, in one line.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Names as the files have them: the caller's error line makes them printable.
    #[error("no stage of A has a partner in B (stages are matched by name): A has {a}; B has {b}")]
    NoCommonStages { a: String, b: String },
}

/// One side from what the operator named: a `--repeat` directory, a run's directory,
/// a `trials.json` or a `report.json`.
fn open(path: &Path) -> Result<Side, ReadError> {
    let shown = || path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|cause| ReadError::Io { path: shown(), cause })?;
    if meta.is_dir() {
        let (trials, report) = (path.join("trials.json"), path.join("report.json"));
        // exists(), not is_file(): whatever stands there is the reader's to accept or refuse.
        return if trials.exists() {
            read_trials(&trials).map(Side::Trials)
        } else if report.exists() {
            read(&report).map(|r| Side::Run(Box::new(r)))
        } else {
            Err(ReadError::NotARun { path: shown() })
        };
    }
    if path.file_name().is_some_and(|n| n == "trials.json") {
        read_trials(path).map(Side::Trials)
    } else {
        read(path).map(|r| Side::Run(Box::new(r)))
    }
}

/// A single run from what the operator named: a run's directory or its `report.json`
/// (a `--repeat` directory is refused, naming one of its trials instead).
pub fn open_run(path: &Path) -> Result<Report, ReadError> {
    let shown = || path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|cause| ReadError::Io { path: shown(), cause })?;
    let is_trials = if meta.is_dir() { path.join("trials.json").exists() } else { path.file_name().is_some_and(|n| n == "trials.json") };
    if is_trials {
        return Err(ReadError::Trials { path: shown() });
    }
    match open(path)? {
        Side::Run(r) => Ok(*r),
        Side::Trials(_) => Err(ReadError::Trials { path: shown() }),
    }
}

/// The comparison of `a` (the baseline) and `b`, one line per entry, names as the files
/// have them: write them through the console writer.
pub fn compare(a_path: &Path, b_path: &Path) -> Result<Vec<String>, CompareError> {
    let (a, b) = (open(a_path)?, open(b_path)?);
    let (a_names, b_names) = (a.stage_names(), b.stage_names());
    let pairing = table::pair(&a_names, &b_names);
    if pairing.pairs.is_empty() {
        let list = |names: &[&str]| {
            let all: Vec<usize> = (0..names.len()).collect();
            if all.is_empty() { "no stages".to_string() } else { table::name_list(names, &all) }
        };
        return Err(CompareError::NoCommonStages { a: list(&a_names), b: list(&b_names) });
    }
    Ok(table::render(&a_path.display().to_string(), &a, &b_path.display().to_string(), &b, &pairing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one_run, stage_with_ttfts};

    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new(label: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("volley-compare-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write(path: &Path, report: &Report) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_string(report).unwrap()).unwrap();
    }

    #[test]
    fn a_run_directory_or_its_report_json_is_a_side() {
        let dir = Dir::new("dirs");
        let report = one_run(vec![stage_with_ttfts("s", &[10, 20, 30])]);
        write(&dir.0.join("a/report.json"), &report);
        write(&dir.0.join("b/report.json"), &report);
        let lines = compare(&dir.0.join("a"), &dir.0.join("b/report.json")).unwrap();
        assert!(lines.iter().any(|l| l.starts_with("stage 's'")), "{lines:#?}");
        std::fs::create_dir_all(dir.0.join("empty")).unwrap();
        let e = compare(&dir.0.join("empty"), &dir.0.join("a")).unwrap_err().to_string();
        assert!(e.contains("neither report.json nor trials.json"), "{e}");
    }

    #[test]
    fn a_missing_file_is_one_line_with_its_cause_once() {
        let dir = Dir::new("missing");
        let e = compare(&dir.0.join("nope"), &dir.0.join("nope")).unwrap_err();
        let line = format!("{:#}", anyhow_like(&e));
        assert_eq!(line.matches("No such file").count(), 1, "{line}");
    }

    /// The error and its sources, as the binary prints them (`{:#}` of anyhow).
    fn anyhow_like(e: &dyn std::error::Error) -> String {
        let mut line = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            line.push_str(&format!(": {s}"));
            source = s.source();
        }
        line
    }

    #[test]
    fn no_common_stage_is_an_error_naming_both_sides() {
        let dir = Dir::new("disjoint");
        write(&dir.0.join("a.json"), &one_run(vec![stage_with_ttfts("poisson", &[10])]));
        write(&dir.0.join("b.json"), &one_run(vec![stage_with_ttfts("constant 1/s", &[10]), stage_with_ttfts("constant 2/s", &[10])]));
        let e = compare(&dir.0.join("a.json"), &dir.0.join("b.json")).unwrap_err().to_string();
        assert!(e.contains("A has 'poisson'; B has 'constant 1/s', 'constant 2/s'"), "{e}");
    }

    #[test]
    fn a_repeat_directory_is_read_through_its_trials_json() {
        let dir = Dir::new("trials");
        let row = |k: u32| crate::trials::TrialRow {
            trial: k,
            seed: u64::from(k),
            dir: format!("trial-{k}"),
            interrupted: false,
            thresholds_failed: false,
        };
        let fast = one_run(vec![stage_with_ttfts("s", &[10, 11, 12, 13])]);
        let slow = one_run(vec![stage_with_ttfts("s", &[100, 110, 120, 130])]);
        for (name, r) in [("a", &fast), ("b", &slow)] {
            let t = crate::trials::summarize(&[(row(1), r.clone()), (row(2), r.clone()), (row(3), r.clone())]);
            std::fs::create_dir_all(dir.0.join(name)).unwrap();
            std::fs::write(dir.0.join(name).join("trials.json"), serde_json::to_string(&t).unwrap()).unwrap();
        }
        let lines = compare(&dir.0.join("a"), &dir.0.join("b/trials.json")).unwrap();
        assert!(lines[0].ends_with("3 trials)"), "{lines:#?}");
        let ttft = lines.iter().find(|l| l.trim_start().starts_with("TTFT p50 ms")).unwrap();
        assert!(ttft.ends_with("worse"), "{ttft}");
    }
}
