//! Datasets the operator granted (host capability `volley:scenario/datasets`):
//! `volley run --dataset NAME=PATH`. Rows come normalised to chat messages; a request
//! trace's rows (`--dataset NAME=mooncake:PATH`, `burstgpt:`, `azure:`, `otel:`) come
//! typed, as [`TraceRow`]s.
//!
//! ```no_run
//! let ds = volley_sdk::datasets::Dataset::open("sharegpt").map_err(|e| e.to_string())?;
//! if let Some(row) = ds.row(0) {
//!     let first = &row.messages[0].content;
//! }
//! # Ok::<(), String>(())
//! ```

pub use crate::bindings::volley::scenario::datasets::{Dataset, Row, TraceRow};
