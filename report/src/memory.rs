//! An in-memory sink for programs that embed Volley: every record of the run, kept as
//! it completes, readable from another thread while the run goes on or after it.

use std::sync::{Arc, Mutex};

use volley_core::RequestRecord;

use crate::sink::{RecordEvent, Sink, SinkError};

/// Keeps every record (warm-up and cool-down ones too, marked by their stage's window).
#[derive(Clone, Default)]
pub struct MemorySink {
    records: Arc<Mutex<Vec<MemoryRecord>>>,
}

/// One record and whether its stage's statistics left it out.
#[derive(Debug, Clone)]
pub struct MemoryRecord {
    pub record: RequestRecord,
    pub stage_name: String,
    pub excluded: bool,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    /// The records so far (a clone of this sink shares them).
    pub fn records(&self) -> Vec<MemoryRecord> {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many records have arrived.
    pub fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Sink for MemorySink {
    fn name(&self) -> &str {
        "memory"
    }

    fn record(&mut self, e: &RecordEvent<'_>) -> Result<(), SinkError> {
        let kept = MemoryRecord { record: e.record.clone(), stage_name: e.stage_name.to_string(), excluded: e.excluded };
        self.records.lock().unwrap_or_else(|p| p.into_inner()).push(kept);
        Ok(())
    }
}
