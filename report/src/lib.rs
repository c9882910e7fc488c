//! # volley-report
//!
//! What a run leaves behind, and the sinks that write it. The `report.json` schema
//! ([`schema`], [`server`]; serialized and read back), a stage's report made from its
//! statistics ([`stage`]), per-request lines ([`line`]), the [`Sink`] trait every
//! output implements and the sinks themselves: `requests.jsonl` ([`jsonl`]),
//! `requests.csv` ([`csv`]), `report.json` + `report.html` ([`files`], [`html`]), the
//! terminal ([`console`]) and memory ([`memory`]); `volley compare` ([`compare`]);
//! `volley coldstart`'s report ([`coldstart`], its page in [`html::coldstart`]).
//! `volley runs export` writes a run's stages as CSV ([`stages_csv`]) or in another
//! tool's format ([`exchange`]).
//! A report written by someone else is read back through [`read`] (bounded, typed and
//! checked by [`validate`]).
//! No WebAssembly and no network here.

pub mod coldstart;
pub mod compare;
pub mod console;
pub mod csv;
pub mod exchange;
pub mod files;
pub mod gpu;
pub mod html;
pub mod jsonl;
pub mod line;
mod lines;
pub mod memory;
pub mod merge;
pub mod metadata;
mod numbers;
pub mod points;
pub mod read;
pub mod schema;
pub mod server;
pub mod sink;
pub mod stage;
pub mod stages_csv;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod threshold;
pub mod trials;
pub mod validate;

pub use console::ConsoleSink;
pub use csv::CsvSink;
pub use files::ReportFiles;
pub use jsonl::JsonlSink;
pub use memory::{MemoryRecord, MemorySink};
pub use schema::{
    ErrorReport, GroupReport, HostReport, LaunchReport, PromptReport, Report, RequestCounts, RunInfo, ScenarioReport, StageReport,
    StartReport, TokenReport,
};
pub use sink::{RecordEvent, RunStart, Sink, SinkError, TaskEvent};

/// Bumped on any incompatible change to the layout of `report.json` (docs/report.md).
pub const SCHEMA_VERSION: u32 = 6;
