//! Measurements: per-request records ([`record`]), HDR histograms ([`histogram`]),
//! token accounting ([`tokens`]),
//! per-stage aggregates ([`stage`]) and the collector task that folds records into them
//! and appends `requests.jsonl` and `requests.csv` ([`csv`]) as requests complete
//! ([`collector`]).

pub mod collector;
pub mod csv;
pub mod histogram;
pub mod progress;
pub mod record;
pub mod stage;
pub mod tokens;
