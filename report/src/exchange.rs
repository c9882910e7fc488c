//! Reports in other tools' formats, for `volley runs export --format`: llm-d-benchmark's
//! "benchmark report" ([`llmd`], typed in [`llmd_schema`]). Each conversion reads a
//! [`crate::Report`] and writes only what the report measured: a figure that cannot be
//! derived from it is left out, never estimated (docs/metrics.md says which).

pub mod llmd;
pub mod llmd_schema;
