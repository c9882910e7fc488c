//! # volley-data
//!
//! The operator's local inputs a run may use, read from files and never fetched: the
//! model's `tokenizer.json` ([`tokenizer`]: counting, encoding, texts of an exact token
//! length) and datasets granted by name ([`dataset`]: ShareGPT JSON, JSONL, text,
//! indexed in one streaming pass and read back row by row; and request traces,
//! [`trace`]: Mooncake, BurstGPT, Azure, OTLP JSON spans, read into typed rows).

pub mod dataset;
pub mod tokenizer;
pub mod trace;

pub use dataset::{Dataset, MediaBytes, Reading, Row};
pub use tokenizer::Tokenizer;
pub use trace::{TraceFormat, TraceRow};

/// What a malformed dataset or trace row does: fail the run, or skip it (and count it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    Fail,
    Skip,
}

/// Why a tokenizer or dataset could not be used, in one line.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{0}")]
    Tokenizer(String),
    #[error("{0}")]
    Dataset(String),
}
