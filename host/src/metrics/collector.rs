//! The collector task: receives every finished request, completes its token accounting
//! (see [`super::tokens`]), folds it into its stage's statistics, appends it to
//! `requests.jsonl`, and forwards outcomes to the scenario when it asked for them.
//!
//! Records are written as they arrive and the file is flushed whenever the queue runs
//! empty, so an interrupted run keeps everything that completed, while a busy run
//! batches its writes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::record::RequestRecord;
use super::stage::StageStats;
use super::tokens;
use crate::model::GuestOutcome;
use crate::tokenizer::Tokenizer;

/// What the collector needs besides the records.
pub struct CollectorConfig {
    pub stage_names: Vec<String>,
    pub epoch: Instant,
    pub outcomes: Option<flume::Sender<GuestOutcome>>,
    pub tokenizer: Option<Arc<Tokenizer>>,
    /// Write each request's body and response text into `requests.jsonl`.
    pub record_text: bool,
    /// Live aggregates for exporters, updated once per batch.
    pub live: Option<crate::export::live::SharedLive>,
    /// Counters for the terminal progress line.
    pub progress: Option<std::sync::Arc<super::progress::Progress>>,
    /// OpenTelemetry export; flushed and stopped when the collector ends.
    pub otlp: Option<crate::export::otlp::Otlp>,
}

pub struct Collector {
    pub stages: Vec<StageStats>,
    pub records_written: u64,
}

/// Starts the collector; returns the sender the send path uses and the task, which
/// ends (with the statistics) once every sender is dropped.
pub fn spawn(
    config: CollectorConfig,
    jsonl: &Path,
) -> Result<(mpsc::UnboundedSender<RequestRecord>, JoinHandle<Result<Collector>>)> {
    let CollectorConfig { stage_names, epoch, outcomes, tokenizer, record_text, live, progress, otlp } = config;
    let file = File::create(jsonl).with_context(|| format!("cannot create {}", jsonl.display()))?;
    let mut out = BufWriter::with_capacity(256 << 10, file);
    let csv_path = jsonl.with_extension("csv");
    let csv_file = File::create(&csv_path).with_context(|| format!("cannot create {}", csv_path.display()))?;
    let mut csv_out = BufWriter::with_capacity(128 << 10, csv_file);
    csv_out.write_all(super::csv::HEADER.as_bytes())?;
    let (tx, mut rx) = mpsc::unbounded_channel::<RequestRecord>();
    let path = jsonl.display().to_string();
    let task = tokio::spawn(async move {
        let mut c = Collector { stages: stage_names.iter().map(|_| StageStats::new()).collect(), records_written: 0 };
        let mut batch = Vec::with_capacity(256);
        while rx.recv_many(&mut batch, 256).await > 0 {
            let mut live = live.as_ref().map(|l| l.lock().unwrap_or_else(|p| p.into_inner()));
            for mut r in batch.drain(..) {
                tokens::account(&mut r, tokenizer.as_deref());
                let stage_name = stage_names.get(r.stage as usize).map(String::as_str).unwrap_or("");
                if let Some(live) = live.as_mut() {
                    live.record(stage_name, &r);
                }
                if let Some(o) = &otlp {
                    o.record(stage_name, &r);
                }
                if let Some(stats) = c.stages.get_mut(r.stage as usize) {
                    stats.record(&r);
                    if let Some(p) = &progress {
                        p.record(r.stage as usize, r.ok(), (stats.ttft.percentile_ms(50.0) * 1000.0) as u64);
                    }
                }
                let name = stage_names.get(r.stage as usize).map(String::as_str).unwrap_or("");
                let line = if record_text { r.line_with_text(name, epoch) } else { r.line(name, epoch) };
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
                super::csv::write_line(&mut csv_out, &line)?;
                c.records_written += 1;
                if let Some(sink) = &outcomes {
                    let _ = sink.send(r.guest_outcome());
                }
            }
            drop(live);
            if rx.is_empty() {
                out.flush().with_context(|| format!("cannot write {path}"))?;
                csv_out.flush().with_context(|| format!("cannot write {}", csv_path.display()))?;
            }
        }
        out.flush().with_context(|| format!("cannot write {path}"))?;
        csv_out.flush().with_context(|| format!("cannot write {}", csv_path.display()))?;
        if let Some(o) = otlp {
            // A failed export is reported, but does not cost the run its results.
            if let Err(e) = tokio::task::block_in_place(|| o.shutdown()) {
                eprintln!("volley: {e:#}");
            }
        }
        Ok(c)
    });
    Ok((tx, task))
}
