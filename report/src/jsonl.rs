//! `requests.jsonl`: one line per request, appended as it completes (see
//! docs/report.md), flushed at least every 100 ms so an interrupted run keeps what it
//! measured.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::sink::{RecordEvent, Sink, SinkError};

/// Writes `requests.jsonl` as requests complete.
pub struct JsonlSink {
    out: BufWriter<File>,
    path: PathBuf,
    /// With each request's body and response text (`--record-text`).
    with_text: bool,
    /// The line being written (reused).
    line: Vec<u8>,
}

impl JsonlSink {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path, with_text: bool) -> Result<Self, SinkError> {
        let file = File::create(path).map_err(|e| SinkError::new(format!("cannot create {}: {e}", path.display())))?;
        Ok(JsonlSink { out: BufWriter::with_capacity(256 << 10, file), path: path.to_path_buf(), with_text, line: Vec::with_capacity(1024) })
    }
}

impl Sink for JsonlSink {
    fn record(&mut self, e: &RecordEvent<'_>) -> Result<(), SinkError> {
        self.line.clear();
        if self.with_text {
            e.line().clone().with_text(e.record).write_json(&mut self.line);
        } else {
            e.line().write_json(&mut self.line);
        }
        self.line.push(b'\n');
        self.out.write_all(&self.line).map_err(|err| SinkError::io(&self.path, err))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(|e| SinkError::io(&self.path, e))
    }
}
