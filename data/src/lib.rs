//! # volley-data
//!
//! The operator's local inputs a run may use, read from files and never fetched: the
//! model's `tokenizer.json` ([`tokenizer`]: counting, encoding, texts of an exact token
//! length) and datasets granted by name ([`dataset`]: ShareGPT JSON, JSONL, text,
//! indexed in one streaming pass and read back row by row).

pub mod dataset;
pub mod tokenizer;

pub use dataset::{Dataset, MediaBytes, OnError, Row};
pub use tokenizer::Tokenizer;

/// Why a tokenizer or dataset could not be used, in one line.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{0}")]
    Tokenizer(String),
    #[error("{0}")]
    Dataset(String),
}
