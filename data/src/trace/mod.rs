//! Published request traces, read by the host into typed rows (a scenario shapes them):
//!
//! - [`mooncake`]: JSONL, one request a line: `timestamp` (ms), `input_length`,
//!   `output_length`, `hash_ids` (the prompt's blocks; equal ids are equal prefixes),
//!   and for multi-turn traces `session_id` and `delay` (ms after the session's previous
//!   answer);
//! - [`csv`]: BurstGPT (`Timestamp` in seconds, `Model`, `Request tokens`,
//!   `Response tokens`) and Azure's LLM inference traces (`TIMESTAMP` as a date and time,
//!   `ContextTokens`, `GeneratedTokens`), columns found by their header;
//! - [`otel`]: agent traces as OTLP JSON spans with GenAI attributes (Volley's own
//!   `--otlp-spans` recordings among them), turned into sessions whose requests wait
//!   for the ones they followed ([`links`]).
//!
//! Every trace is read once, streamed, into [`TraceRow`]s in replay order; a malformed
//! row is an error naming the file and row, or skipped and counted. Times are relative
//! to the trace's first request, so a trace starts at 0 whatever its clock said.

mod csv;
mod links;
mod mooncake;
mod otel;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::OnError;

/// The trace formats, named by the prefix that grants them (`--dataset NAME=mooncake:PATH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    Mooncake,
    BurstGpt,
    Azure,
    Otel,
}

impl TraceFormat {
    pub const ALL: [TraceFormat; 4] = [TraceFormat::Mooncake, TraceFormat::BurstGpt, TraceFormat::Azure, TraceFormat::Otel];

    /// The grant's prefix and the report's format name.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceFormat::Mooncake => "mooncake",
            TraceFormat::BurstGpt => "burstgpt",
            TraceFormat::Azure => "azure",
            TraceFormat::Otel => "otel",
        }
    }
}

/// One request of a trace, as the host read it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TraceRow {
    /// When it was sent, in microseconds after the trace's first request. For a row
    /// that follows others (`after`), when it was sent in the trace, if the trace says.
    pub at_us: u64,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// Mooncake's `hash_ids`: the prompt's blocks, in order; equal ids are equal blocks
    /// with equal prefixes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hash_ids: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<Arc<str>>,
    /// The conversation or agent task it belongs to, when the trace marks one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Arc<str>>,
    /// Earlier rows (indices) of its session it waits for; empty: sent at `at_us`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<u64>,
    /// After the last of `after` answered, how long it waited (think and tool time), µs.
    pub delay_us: u64,
    /// Tool calls the recorded answer made, when the trace says.
    pub tool_calls: u32,
}

/// A trace read into rows.
pub struct Trace {
    pub rows: Vec<TraceRow>,
    pub skipped: u64,
}

/// The largest trace line: far beyond any real row, a bound on one malformed line.
const MAX_LINE: usize = 16 << 20;

/// Reads the trace at `path` (already opened by the one reader for foreign files).
pub fn read(format: TraceFormat, file: &File, path: &Path, on_error: OnError) -> Result<Trace> {
    let reader = || -> Result<BufReader<File>> { Ok(BufReader::with_capacity(1 << 20, file.try_clone()?)) };
    let trace = match format {
        TraceFormat::Mooncake => mooncake::read(reader()?, path, on_error)?,
        TraceFormat::BurstGpt => csv::read(reader()?, path, csv::Columns::BURSTGPT, on_error)?,
        TraceFormat::Azure => csv::read(reader()?, path, csv::Columns::AZURE, on_error)?,
        TraceFormat::Otel => otel::read(file, path, on_error)?,
    };
    if trace.rows.is_empty() {
        bail!("{}: no requests in this {} trace", path.display(), format.as_str());
    }
    Ok(trace)
}

/// Calls `row` with each non-blank line (its number, its text without the line end),
/// streaming; a line past [`MAX_LINE`] or not UTF-8 is an error naming it.
fn each_line(mut reader: impl BufRead, path: &Path, mut row: impl FnMut(u64, &str) -> Result<()>) -> Result<()> {
    let mut line = Vec::with_capacity(4096);
    let mut lineno = 0u64;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        lineno += 1;
        if n > MAX_LINE + 1 {
            bail!("{}:{lineno}: line longer than {} MiB; refusing the trace", path.display(), MAX_LINE >> 20);
        }
        let text = std::str::from_utf8(&line).map_err(|_| anyhow!("{}:{lineno}: not UTF-8", path.display()))?;
        let text = text.trim_end_matches(['\n', '\r']);
        if !text.trim().is_empty() {
            row(lineno, text)?;
        }
    }
}

/// A malformed row: an error naming the file and line, or counted as skipped.
fn malformed(path: &Path, lineno: u64, why: &str, on_error: OnError, skipped: &mut u64) -> Result<()> {
    match on_error {
        OnError::Skip => {
            *skipped += 1;
            Ok(())
        }
        OnError::Fail => Err(anyhow!("{}:{lineno}: malformed row: {why}", path.display())),
    }
}

/// A count of tokens from a trace's number: whole, not negative, within u32.
fn tokens(v: f64, what: &str) -> Result<u32, String> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) {
        Ok(v as u32)
    } else {
        Err(format!("`{what}` must be a whole number of tokens, got {v}"))
    }
}

/// Microseconds from a trace's time in `unit_us` units (ms: 1,000; s: 1,000,000).
fn micros(v: f64, unit_us: f64, what: &str) -> Result<i128, String> {
    let us = v * unit_us;
    if v.is_finite() && us.abs() < 1e18 { Ok(us.round() as i128) } else { Err(format!("`{what}` is not a usable time: {v}")) }
}

/// Rows whose times are absolute (`at`, µs in the trace's clock) made relative to the
/// earliest; rows before it cannot exist, so none saturates.
fn relative(rows: &mut [TraceRow], absolute: &[i128]) {
    let first = absolute.iter().copied().min().unwrap_or(0);
    for (row, at) in rows.iter_mut().zip(absolute) {
        row.at_us = u64::try_from(at - first).unwrap_or(u64::MAX);
    }
}

// Reading files through `Dataset::open` is tested in `dataset/trace_tests.rs`.
