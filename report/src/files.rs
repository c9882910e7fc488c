//! `report.json` and `report.html` in the run's output directory, written when the run
//! ends (also when it was interrupted or its scenario faulted). The HTML's per-request
//! charts come from the records this sink saw, not from re-reading `requests.jsonl`.

use std::path::{Path, PathBuf};

use crate::points::ChartPoints;
use crate::schema::Report;
use crate::sink::{RecordEvent, Sink, SinkError};

/// Writes `DIR/report.json` and `DIR/report.html` at the end of the run.
pub struct ReportFiles {
    dir: PathBuf,
    points: ChartPoints,
}

impl ReportFiles {
    pub fn new(dir: &Path) -> Self {
        ReportFiles { dir: dir.to_path_buf(), points: ChartPoints::default() }
    }
}

/// Writes `report` as pretty JSON to `path`, whole or not at all (a temporary file
/// renamed over it), so a reader waiting for it (`volley merge --wait-s`) never sees
/// half a report.
pub fn write_json(report: &Report, path: &Path) -> Result<(), SinkError> {
    let json = serde_json::to_vec_pretty(report).map_err(|e| SinkError::io(path, e))?;
    let tmp = path.with_extension("json.partial");
    std::fs::write(&tmp, json).map_err(|e| SinkError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| SinkError::io(path, e))
}

impl Sink for ReportFiles {
    fn name(&self) -> &str {
        "report.json and report.html"
    }

    fn record(&mut self, e: &RecordEvent<'_>) -> Result<(), SinkError> {
        self.points.add(e.record, e.epoch);
        Ok(())
    }

    fn run_finished(&mut self, report: &Report) -> Result<(), SinkError> {
        write_json(report, &self.dir.join("report.json"))?;
        let html = self.dir.join("report.html");
        std::fs::write(&html, crate::html::render(report, &self.points)).map_err(|e| SinkError::io(&html, e))
    }
}
