//! What a scenario does, whatever it is written in: the [`Workload`] trait. A Wasm
//! component (volley-wasm) and a plain Rust type implement it alike; the engine's
//! producer calls it ahead of send time and never on the send path.
//!
//! The calls follow the `volley:scenario` WIT: `describe`, `configure` (parameters →
//! plan), `next_requests` per stage, `on_outcome` when the plan observes outcomes, and
//! `next_stage` for adaptive plans, given every finished stage's [`StageResult`].

use serde::{Deserialize, Serialize};

use crate::histogram::Summary;
use crate::outcome::{Outcome, Reaction};
use crate::plan::{Info, Load, Plan, Stage};
use crate::request::Batch;

/// A benchmark workload: the stages of a run and the shape of every request.
///
/// Every method runs on the engine's producer thread, one call at a time. Errors stop
/// the run; the stages measured so far are still reported.
pub trait Workload: Send {
    /// Name, version and a one-line description.
    fn describe(&mut self) -> Result<Info, WorkloadError>;

    /// Reads the operator's parameters (a JSON object) and returns the plan.
    fn configure(&mut self, params: &serde_json::Value) -> Result<Plan, WorkloadError>;

    /// Stage `stage` is about to be produced: a workload with seeded streams re-derives
    /// them here, so a stage's requests do not depend on how far earlier stages got.
    fn start_stage(&mut self, _stage: u32) {}

    /// Up to `max` requests of `stage` from sequence number `seq` on. An empty batch
    /// that is not `done` means "nothing yet": the engine asks again after an outcome.
    fn next_requests(&mut self, stage: u32, seq: u64, max: u32) -> Result<Batch, WorkloadError>;

    /// A request completed; called only when the plan sets `observe_outcomes`. The
    /// reaction's requests continue the outcome's session, each sent its delay after
    /// the outcome; its `end` closes the session's task.
    fn on_outcome(&mut self, _outcome: Outcome) -> Result<Reaction, WorkloadError> {
        Ok(Reaction::none())
    }

    /// Whether `on_outcome` reacts: returns follow-ups and ends sessions' tasks (WIT 0.6
    /// on, and native workloads that say so). A stage then tracks its sessions as tasks.
    fn reacts(&self) -> bool {
        false
    }

    /// Adaptive plans: the stage after `results` (one per stage run so far), or `None`
    /// to end the run.
    fn next_stage(&mut self, _results: &[StageResult]) -> Result<Option<Stage>, WorkloadError> {
        Ok(None)
    }

    /// The run's cancellation: a workload whose calls can take long (a Wasm guest) stops
    /// them when it fires, so an interrupted run ends promptly.
    fn set_cancel(&mut self, _cancel: std::sync::Arc<crate::Cancel>) {}

    /// The checks it recorded (`check(name, passed)`), per stage and name: asked once,
    /// after the last outcome has been delivered.
    fn checks(&mut self) -> Checks {
        Checks::default()
    }

    /// Where the workload came from, for messages and the report; by default a native
    /// workload named after its type.
    fn identity(&self) -> WorkloadIdentity {
        let name = std::any::type_name_of_val(self);
        WorkloadIdentity::native(name.rsplit("::").next().unwrap_or(name))
    }
}

/// Where a workload came from.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadIdentity {
    /// How the operator named it: a path, `builtin:NAME`, `oci://…`, or `native:NAME`.
    pub source: String,
    /// A short name for messages ("scenario 'NAME' …").
    pub label: String,
    /// `sha256:…` of a Wasm component; `None` for native workloads.
    pub digest: Option<String>,
    /// The `volley:scenario` WIT version of a Wasm component.
    pub wit: Option<String>,
    /// Datasets granted to it, for the report.
    pub datasets: Vec<DatasetInfo>,
}

impl WorkloadIdentity {
    /// A workload written in Rust and linked into the program, named `name`.
    pub fn native(name: &str) -> Self {
        WorkloadIdentity { source: format!("native:{name}"), label: name.to_string(), digest: None, wit: None, datasets: Vec::new() }
    }
}

/// A dataset granted to a workload, as the report describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub name: String,
    pub path: String,
    /// `sharegpt`, `jsonl` or `text`.
    pub format: String,
    pub bytes: u64,
    pub rows: u64,
    pub skipped: u64,
}

/// How often one named check passed and failed in one stage (k6's `check()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTally {
    pub stage: u32,
    pub name: String,
    pub passes: u64,
    pub fails: u64,
}

/// Most distinct check names a workload's checks are counted under.
pub const MAX_CHECK_NAMES: usize = 256;

/// Every check a workload recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checks {
    pub tallies: Vec<CheckTally>,
    /// Calls not counted: past the bound on distinct names.
    pub dropped: u64,
}

/// Why a workload stopped the run, in one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    /// `configure` refused the operator's parameters; the message is the workload's own.
    #[error("scenario '{scenario}' rejected its parameters: {message}")]
    Rejected { scenario: String, message: String },
    /// It returned something the host does not accept (an invalid plan or request).
    #[error("{0}")]
    Invalid(String),
    /// It failed: a trap, a time or memory limit, a capability it was not granted.
    #[error("{0}")]
    Fault(String),
    /// It asked for something the operator's policy does not allow.
    #[error(transparent)]
    Refused(#[from] crate::policy::Refusal),
}

/// A finished stage as a workload sees it (`next-stage`): counts, rates and the main
/// percentiles, warm-up and cool-down excluded.
#[derive(Debug, Clone, PartialEq)]
pub struct StageResult {
    pub index: u32,
    pub name: String,
    pub load: Load,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub sending_s: f64,
    /// Sends per second.
    pub send_rate: f64,
    /// Successful requests per second.
    pub throughput: f64,
    pub output_tokens_per_s: f64,
    pub ttft: Option<Summary>,
    pub itl: Option<Summary>,
    pub tpot: Option<Summary>,
    pub latency: Option<Summary>,
    pub schedule_lag: Option<Summary>,
    pub goodput: Option<f64>,
    pub slo_attainment: Option<f64>,
}

/// `plan` checked for what the WIT cannot express; the error names the scenario.
pub fn validate_plan(label: &str, plan: &Plan) -> Result<(), WorkloadError> {
    plan.validate().map_err(|e| WorkloadError::Invalid(format!("scenario '{label}' returned an invalid plan: {e}")))
}

/// An adaptive plan's stage `index`, checked likewise.
pub fn validate_stage(label: &str, stage: &Stage, index: usize) -> Result<(), WorkloadError> {
    stage.validate(index).map_err(|e| WorkloadError::Invalid(format!("scenario '{label}' returned an invalid stage: {e}")))
}

/// A batch of at most `max` requests, as asked.
pub fn validate_batch(label: &str, batch: &Batch, max: u32) -> Result<(), WorkloadError> {
    if batch.requests.len() > max as usize {
        return Err(WorkloadError::Invalid(format!(
            "scenario '{label}' returned {} requests when asked for at most {max}",
            batch.requests.len()
        )));
    }
    Ok(())
}
