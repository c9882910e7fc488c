//! The collector task: receives every finished request, completes its token accounting
//! (see [`super::tokens`]), folds it into its stage's statistics, appends it to
//! `requests.jsonl`, and forwards outcomes to the scenario when it asked for them.
//!
//! Records are written as they arrive and the file is flushed at least every 100 ms, so
//! an interrupted run keeps everything that completed, while a busy run batches its
//! writes.
//!
//! One FIFO channel carries records and stage events, so ordering is free: a stage's
//! start (with its measurement window) arrives before its first record, and a request
//! for a stage's report arrives after its last record (the stage has finished).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::record::RequestRecord;
use super::stage::StageStats;
use super::tokens;
use crate::load::StageWindow;
use crate::model::{GuestOutcome, Slo, Stage};
use crate::report::StageReport;
use crate::tokenizer::Tokenizer;

/// Longest time a completed request's record waits in memory before it is written.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

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

/// A stage's start as its driver saw it: which planned sends it measures.
#[derive(Debug, Clone)]
pub struct StageClock {
    pub index: u32,
    pub name: String,
    /// Requests planned before this are warm-up.
    pub measure_from: Instant,
    /// Requests planned at or after this are cool-down.
    pub measure_until: Option<Instant>,
    pub slo: Option<Slo>,
}

/// What the collector receives.
// Records dominate and are not boxed: one allocation fewer per request.
#[allow(clippy::large_enum_variant)]
pub enum CollectorMsg {
    Record(RequestRecord),
    StageStarted(StageClock),
    /// The report of a finished stage.
    Report { stage: Stage, index: u32, window: StageWindow, reply: oneshot::Sender<StageReport> },
}

/// Starts the collector; returns the sender the send path uses and the task, which
/// ends (with the statistics) once every sender is dropped.
pub fn spawn(
    config: CollectorConfig,
    jsonl: &Path,
) -> Result<(mpsc::UnboundedSender<CollectorMsg>, JoinHandle<Result<Collector>>)> {
    let CollectorConfig { stage_names, epoch, outcomes, tokenizer, record_text, live, progress, otlp } = config;
    let file = File::create(jsonl).with_context(|| format!("cannot create {}", jsonl.display()))?;
    let mut out = BufWriter::with_capacity(256 << 10, file);
    let csv_path = jsonl.with_extension("csv");
    let csv_file = File::create(&csv_path).with_context(|| format!("cannot create {}", csv_path.display()))?;
    let mut csv_out = BufWriter::with_capacity(128 << 10, csv_file);
    csv_out.write_all(super::csv::HEADER.as_bytes())?;
    let (tx, mut rx) = mpsc::unbounded_channel::<CollectorMsg>();
    let path = jsonl.display().to_string();
    let mut stage_names = stage_names;
    let task = tokio::spawn(async move {
        let mut c = Collector { stages: stage_names.iter().map(|_| StageStats::new()).collect(), records_written: 0 };
        let mut clocks: Vec<Option<StageClock>> = Vec::new();
        let mut batch = Vec::with_capacity(256);
        let mut last_flush = Instant::now();
        loop {
            // Records are flushed when the queue has been idle for FLUSH_EVERY, and at
            // least that often while busy: an interrupted or crashed run loses at most
            // that much, and a fast run does not pay a write syscall per batch.
            match tokio::time::timeout(FLUSH_EVERY, rx.recv_many(&mut batch, 1024)).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => {
                    out.flush().with_context(|| format!("cannot write {path}"))?;
                    csv_out.flush().with_context(|| format!("cannot write {}", csv_path.display()))?;
                    last_flush = Instant::now();
                    continue;
                }
            }
            let mut live = live.as_ref().map(|l| l.lock().unwrap_or_else(|p| p.into_inner()));
            for msg in batch.drain(..) {
                let mut r = match msg {
                    CollectorMsg::Record(r) => r,
                    CollectorMsg::StageStarted(clock) => {
                        let i = clock.index as usize;
                        if stage_names.len() <= i {
                            stage_names.resize(i + 1, String::new());
                        }
                        stage_names[i] = clock.name.clone();
                        grow(&mut c.stages, i).slo = clock.slo;
                        if clocks.len() <= i {
                            clocks.resize(i + 1, None);
                        }
                        clocks[i] = Some(clock);
                        continue;
                    }
                    CollectorMsg::Report { stage, index, window, reply } => {
                        let stats = grow(&mut c.stages, index as usize);
                        let _ = reply.send(StageReport::build(&stage, stats, &window));
                        continue;
                    }
                };
                tokens::account(&mut r, tokenizer.as_deref());
                let stage_name = stage_names.get(r.stage as usize).map(String::as_str).unwrap_or("");
                if let Some(live) = live.as_mut() {
                    live.record(stage_name, &r);
                }
                if let Some(o) = &otlp {
                    o.record(stage_name, &r);
                }
                let excluded = clocks.get(r.stage as usize).and_then(Option::as_ref).is_some_and(|c| {
                    r.planned < c.measure_from || c.measure_until.is_some_and(|u| r.planned >= u)
                });
                let stats = grow(&mut c.stages, r.stage as usize);
                if excluded {
                    stats.excluded += 1;
                } else {
                    stats.record(&r);
                }
                if let Some(p) = &progress {
                    p.record(r.stage as usize, r.ok(), (stats.ttft.percentile_ms(50.0) * 1000.0) as u64);
                }
                let name = stage_names.get(r.stage as usize).map(String::as_str).unwrap_or("");
                let mut line = if record_text { r.line_with_text(name, epoch) } else { r.line(name, epoch) };
                line.excluded = excluded;
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
                super::csv::write_line(&mut csv_out, &line)?;
                c.records_written += 1;
                if let Some(sink) = &outcomes {
                    let _ = sink.send(r.guest_outcome());
                }
            }
            drop(live);
            if last_flush.elapsed() >= FLUSH_EVERY {
                out.flush().with_context(|| format!("cannot write {path}"))?;
                csv_out.flush().with_context(|| format!("cannot write {}", csv_path.display()))?;
                last_flush = Instant::now();
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

/// The statistics of stage `i`, created when an adaptive plan adds stages.
fn grow(stages: &mut Vec<StageStats>, i: usize) -> &mut StageStats {
    if stages.len() <= i {
        stages.resize_with(i + 1, StageStats::new);
    }
    &mut stages[i]
}
