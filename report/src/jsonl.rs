//! `requests.jsonl`: one line per request, appended as it completes (see
//! docs/report.md), flushed at least every 100 ms so an interrupted run keeps what it
//! measured.

use std::path::Path;

use crate::lines::LineFile;
use crate::sink::{RecordEvent, Sink, SinkError};

/// Writes `requests.jsonl` as requests complete.
pub struct JsonlSink {
    out: LineFile,
    /// With each request's body and response text (`--record-text`).
    with_text: bool,
}

impl JsonlSink {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path, with_text: bool) -> Result<Self, SinkError> {
        Ok(JsonlSink { out: LineFile::create(path)?, with_text })
    }
}

impl Sink for JsonlSink {
    fn name(&self) -> &str {
        "requests.jsonl"
    }

    fn record(&mut self, e: &RecordEvent<'_>) -> Result<(), SinkError> {
        self.out.line(|out| {
            if self.with_text {
                e.line().clone().with_text(e.record).write_json(out);
            } else {
                e.line().write_json(out);
            }
            out.push(b'\n');
        })
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush()
    }
}
