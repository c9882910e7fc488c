//! The operator's terminal: the end-of-run summary ([`summary`]) on stdout, and on
//! stderr, as the run goes, what it is doing ([`ConsoleSink`]): which scenario against
//! which target, each stage as it starts and ends, a live progress line on a terminal
//! ([`progress`]), and warnings, which are shown even when quiet. Every line goes
//! through the one [`ConsoleWriter`] ([`writer`]), which makes it printable.

pub mod progress;
pub mod summary;
pub mod writer;

use std::time::Duration;

use volley_core::text::clip;
use volley_core::{Load, Stage, StageWindow};

use crate::schema::StageReport;
use crate::sink::{RecordEvent, RunStart, Sink, SinkError};
use progress::StageProgress;
pub use writer::ConsoleWriter;

/// Writes the run's progress to stderr.
pub struct ConsoleSink {
    /// Say what happens (off: only warnings).
    verbose: bool,
    /// Draw the live progress line (only on a terminal).
    live: bool,
    stages_planned: usize,
    adaptive: bool,
    current: Option<StageProgress>,
}

impl ConsoleSink {
    /// `verbose`: the start, stage and end lines; `live`: the progress line too (pass
    /// [`progress::on_terminal`]).
    pub fn new(verbose: bool, live: bool) -> Self {
        ConsoleSink { verbose, live: verbose && live, stages_planned: 0, adaptive: false, current: None }
    }

    fn total_stages(&self, index: u32) -> String {
        let seen = self.stages_planned.max(index as usize + 1);
        if self.adaptive { format!("{seen}+") } else { self.stages_planned.to_string() }
    }
}

fn bound(stage: &Stage) -> String {
    match (stage.duration, stage.max_requests) {
        (Some(d), Some(n)) => format!(", {} s or {n} requests", d.as_secs_f64()),
        (Some(d), None) => format!(", {} s", d.as_secs_f64()),
        (None, Some(n)) => format!(", {n} requests"),
        (None, None) => String::new(),
    }
}

impl Sink for ConsoleSink {
    fn name(&self) -> &str {
        "console"
    }

    fn run_started(&mut self, run: &RunStart<'_>) -> Result<(), SinkError> {
        (self.stages_planned, self.adaptive) = (run.plan.stages.len(), run.plan.adaptive);
        if self.verbose {
            let s = run.scenario;
            let digest = s.digest.as_deref().map_or("native", |d| d.get(..19).unwrap_or(d));
            let model = run.model.map(|m| format!(", model {}", clip(m, 200))).unwrap_or_default();
            let (name, version) = (clip(&s.info.name, 128), clip(&s.info.version, 64));
            ConsoleWriter::stderr().line(&format!("volley: {name} {version} ({digest}) -> {}{model}", run.target));
            if let Some(m) = run.metadata {
                ConsoleWriter::stderr().lines(m.summary_lines().into_iter().map(|l| format!("  {l}")));
            }
        }
        for warning in run.warnings {
            ConsoleWriter::stderr().line(&format!("volley: WARNING: {}", clip(warning, 500)));
        }
        Ok(())
    }

    fn stage_started(&mut self, index: u32, stage: &Stage) -> Result<(), SinkError> {
        if !self.verbose {
            return Ok(());
        }
        let name = clip(&stage.name, 128);
        ConsoleWriter::stderr().line(&format!("stage {}/{} '{name}': {}{}", index + 1, self.total_stages(index), stage.load, bound(stage)));
        if self.live {
            let total = match stage.load {
                Load::Burst { n } => Some(u64::from(n)),
                _ => stage.max_requests,
            };
            self.current = Some(StageProgress::start(format!("  {name}"), total, stage.duration));
        }
        Ok(())
    }

    fn record(&mut self, e: &RecordEvent<'_>) -> Result<(), SinkError> {
        if let Some(p) = &self.current {
            p.record(e.record.ok(), e.record.ttft());
        }
        Ok(())
    }

    fn stage_finished(&mut self, _index: u32, report: &StageReport, w: &StageWindow) -> Result<(), SinkError> {
        if let Some(p) = self.current.take() {
            p.finish();
        }
        if self.verbose {
            let secs = |d: Duration| d.as_secs_f64();
            ConsoleWriter::stderr().line(&format!(
                "  sent {} in {:.2} s, all done after {:.2} s",
                w.sent,
                secs(w.sending_ended.duration_since(w.started)),
                secs(w.finished.duration_since(w.started))
            ));
        }
        let name = clip(&report.name, 128);
        ConsoleWriter::stderr().lines(report.warnings.iter().map(|w| format!("volley: WARNING: stage '{name}': {}", clip(w, 500))));
        Ok(())
    }
}
