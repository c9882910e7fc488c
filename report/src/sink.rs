//! Outputs are sinks: the engine's collector hands every sink the run's events in
//! order — the run's start, each stage's start, every request's record as it
//! completes, each session's task end, each stage's report, periodic flushes, and the
//! final report — and knows nothing about files, terminals or exporters (as k6
//! outputs, or ripgrep's `Sink`).
//!
//! Sinks run on the collector, off the send path. A sink that fails is reported once
//! and dropped; the run and the other sinks go on, and the report is still returned.

use std::cell::OnceCell;
use std::time::Instant;

use volley_core::{Plan, RequestRecord, Stage, StageWindow, TaskEnd};

use crate::line::RecordLine;
use crate::schema::{Report, ScenarioReport, StageReport};

/// What sinks learn when the run starts.
pub struct RunStart<'a> {
    /// A name for this run (exporters label their series with it).
    pub run_id: &'a str,
    /// Every time in the run is measured from this instant.
    pub epoch: Instant,
    pub scenario: &'a ScenarioReport,
    pub target: &'a str,
    /// The model requests default to, when known.
    pub model: Option<&'a str>,
    pub plan: &'a Plan,
    /// Warnings known before the first request (a model lookup that failed); the
    /// report's `warnings` carry them too.
    pub warnings: &'a [String],
    /// What the server said of itself and the load generator's machine (the report's
    /// `metadata`), when known.
    pub metadata: Option<&'a crate::metadata::Metadata>,
}

/// One completed request.
pub struct RecordEvent<'a> {
    pub record: &'a RequestRecord,
    pub stage_name: &'a str,
    /// Planned in the stage's warm-up or cool-down window: kept, but in no statistic.
    pub excluded: bool,
    /// The run's epoch, for times relative to its start.
    pub epoch: Instant,
    /// The record as a line of `requests.jsonl` (a row of `requests.csv`), made once for
    /// every sink that writes it.
    line: OnceCell<RecordLine<'a>>,
}

impl<'a> RecordEvent<'a> {
    pub fn new(record: &'a RequestRecord, stage_name: &'a str, excluded: bool, epoch: Instant) -> Self {
        RecordEvent { record, stage_name, excluded, epoch, line: OnceCell::new() }
    }

    /// The record's line, times relative to the epoch (without the texts; see
    /// [`RecordLine::with_text`]).
    pub fn line(&self) -> &RecordLine<'a> {
        self.line.get_or_init(|| {
            let mut line = RecordLine::new(self.record, self.stage_name, self.epoch);
            line.excluded = self.excluded;
            line
        })
    }
}

/// A session's task ended, as its scenario said (or failed: the scenario left it with
/// nothing out). It comes after the record whose outcome ended it; a request of the
/// session still out then completes later.
pub struct TaskEvent<'a> {
    pub stage: u32,
    pub stage_name: &'a str,
    pub session: u64,
    pub end: TaskEnd,
}

/// Where a run's events go. Every method but [`Sink::record`] has a default that
/// ignores the event.
pub trait Sink: Send {
    /// What this output is, for a message about it (a sink that failed or hung): by
    /// default the name of its type.
    fn name(&self) -> &str {
        let path = std::any::type_name::<Self>();
        // `volley_export::otlp::Otlp` → `Otlp` (generic arguments have paths too).
        let end = path.find('<').unwrap_or(path.len());
        path[..end].rsplit("::").next().unwrap_or(path)
    }

    fn run_started(&mut self, _run: &RunStart<'_>) -> Result<(), SinkError> {
        Ok(())
    }

    /// Stage `index` started its clock.
    fn stage_started(&mut self, _index: u32, _stage: &Stage) -> Result<(), SinkError> {
        Ok(())
    }

    fn record(&mut self, event: &RecordEvent<'_>) -> Result<(), SinkError>;

    /// A session's task ended (stages whose sessions are tasks).
    fn task_ended(&mut self, _event: &TaskEvent<'_>) -> Result<(), SinkError> {
        Ok(())
    }

    /// Stage `index` ended; its report, and when it ran.
    fn stage_finished(&mut self, _index: u32, _report: &StageReport, _window: &StageWindow) -> Result<(), SinkError> {
        Ok(())
    }

    /// A round of GPU readings (`--gpu-metrics`), one per device, as they are taken.
    fn gpu_sampled(&mut self, _points: &[crate::gpu::GpuPoint]) -> Result<(), SinkError> {
        Ok(())
    }

    /// Called at least every 100 ms while records arrive, and at the end: buffered
    /// output goes out now, so an interrupted run loses at most that much.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// The run ended (also when it was interrupted or its scenario faulted).
    fn run_finished(&mut self, _report: &Report) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A sink that could not do its job, in one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    pub message: String,
    /// A side channel (an exporter) failed: worth saying, not worth failing the run.
    /// Results the operator asked for (files) are not best effort.
    pub best_effort: bool,
}

impl SinkError {
    pub fn new(message: impl Into<String>) -> Self {
        SinkError { message: message.into(), best_effort: false }
    }

    /// A failure of a side channel, see [`SinkError::best_effort`](field@SinkError::best_effort).
    pub fn best_effort(message: impl Into<String>) -> Self {
        SinkError { message: message.into(), best_effort: true }
    }

    /// A failed write to `path`.
    pub fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        SinkError::new(format!("cannot write {}: {e}", path.display()))
    }
}
