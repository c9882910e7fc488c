//! The store as one of a run's outputs: when the run ends (also when it was interrupted),
//! its report is saved with its labels. A store that cannot be written is said once and
//! does not fail the run: the directory outputs hold everything.

use volley_report::Report;
use volley_report::sink::{RecordEvent, RunStart, Sink, SinkError};

use crate::{Location, NewRun, Store};

pub struct StoreSink {
    location: Location,
    kind: &'static str,
    labels: Vec<(String, String)>,
    name: String,
    model: Option<String>,
    /// The id the run was saved under, once it was.
    pub saved: std::sync::Arc<std::sync::OnceLock<String>>,
}

impl StoreSink {
    pub fn new(location: Location, kind: &'static str, labels: Vec<(String, String)>) -> Self {
        StoreSink { location, kind, labels, name: String::new(), model: None, saved: Default::default() }
    }
}

impl Sink for StoreSink {
    fn name(&self) -> &str {
        "the run store"
    }

    fn run_started(&mut self, run: &RunStart<'_>) -> Result<(), SinkError> {
        self.name = run.run_id.to_string();
        self.model = run.model.map(str::to_string);
        Ok(())
    }

    fn record(&mut self, _event: &RecordEvent<'_>) -> Result<(), SinkError> {
        Ok(())
    }

    fn run_finished(&mut self, report: &Report) -> Result<(), SinkError> {
        let run = NewRun { kind: self.kind, name: &self.name, labels: &self.labels, model: self.model.as_deref(), report };
        let id = Store::open(&self.location).and_then(|mut s| s.save(&run)).map_err(|e| SinkError::best_effort(e.to_string()))?;
        let _ = self.saved.set(id);
        Ok(())
    }
}
