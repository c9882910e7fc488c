//! # volley-core
//!
//! The model every other Volley crate speaks, with no I/O and no WebAssembly: what a
//! scenario declares ([`plan`], [`request`]), what happened to each request
//! ([`record`], [`outcome`]), the [`Workload`] trait a scenario implements, seeded
//! random streams ([`rng`]), run-wide cancellation ([`cancel`]), the statistics a
//! stage folds its records into ([`histogram`], [`stats`]), the operator's [`policy`]
//! and guest text made safe to show ([`text`]). The one exception to "no I/O" is
//! [`foreign_file`], the reader every crate uses for files someone else chose.
//!
//! Layering: `volley-core` ← `volley-data`, `volley-net`, `volley-report` ←
//! `volley-engine`, `volley-wasm`, `volley-sim`, `volley-export` ← `volley`. See
//! docs/architecture.md ("Crates").

pub mod cancel;
pub mod foreign_file;
pub mod histogram;
pub mod hooks;
pub mod outcome;
pub mod panics;
pub mod plan;
pub mod policy;
pub mod record;
pub mod request;
pub mod rng;
pub mod run_file;
pub mod shard;
pub mod stats;
pub mod text;
pub mod time;
pub mod window;
pub mod workload;

pub use cancel::Cancel;
pub use histogram::{DurationHistogram, Summary};
pub use outcome::{ErrorClass, Outcome, Reaction, TaskEnd};
pub use plan::{Info, Load, Plan, Slo, Stage};
pub use policy::{Policy, Refusal};
pub use record::{RequestRecord, TokenSource};
pub use request::{
    Api, Batch, ContentPart, Delay, Media, Message, Prompt, ScenarioRequest, Tensor, TensorData, Tool, ToolCall, ToolChoice,
};
pub use shard::Shard;
pub use stats::StageStats;
pub use window::StageWindow;
pub use workload::{CheckTally, Checks, DatasetInfo, StageResult, Workload, WorkloadError, WorkloadIdentity};
