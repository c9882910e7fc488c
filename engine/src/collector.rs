//! The collector task: receives every finished request, completes its token accounting,
//! folds it into its stage's statistics, hands it to every sink, and forwards outcomes
//! to the workload when it asked for them; a session's task end goes to its stage's task
//! statistics and to every sink. At a stage's end it makes the stage's report from the
//! statistics, so the report, the sinks and an adaptive workload all see the same
//! numbers.
//!
//! Sinks are flushed at least every 100 ms while records arrive (plus one gather, at most
//! 50 ms), so an interrupted run keeps everything that completed, while a busy run
//! batches its writes. A sink that fails is reported once and dropped ([`Sinks`]); the
//! others and the statistics go on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TryRecvError;
use tokio::task::JoinHandle;
use volley_core::{Cancel, Outcome, RequestRecord, StageStats, StageWindow, TokenSource};
use volley_data::Tokenizer;
use volley_report::threshold::Threshold;
use volley_report::{RecordEvent, StageReport, TaskEvent};

use crate::Fault;
use crate::events::{Event, EventRx, StageClock};
use crate::sinks::Sinks;

/// Longest time a completed request's record waits before sinks flush it.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Events handled per batch.
const BATCH: usize = 1024;
/// The longest the busy collector lets events gather between batches when the workload
/// waits on outcomes (a conversation's next turn waits on its last answer).
const GATHER_OUTCOMES: Duration = Duration::from_millis(10);
/// The same when nothing waits on the records but the sinks. Each gather is a thread
/// wake-up, which on a VM costs tens of microseconds of CPU, so at low rates fewer and
/// larger batches save a measurable share of the run's CPU.
const GATHER: Duration = Duration::from_millis(50);
/// The shortest gather.
const MIN_GATHER: Duration = Duration::from_millis(1);
/// Records a gather aims at. At high rates more would make a batch outgrow the cache
/// before the collector reads it (50 ms of records at 40,000/s cost ~8 % more CPU per
/// request than 10 ms did).
const GATHER_RECORDS: f64 = 256.0;

/// What the collector needs besides the events.
pub(crate) struct CollectorConfig {
    pub epoch: Instant,
    /// Where outcomes go to the workload; bounded, so a workload that cannot keep up
    /// stops the run rather than growing a backlog.
    pub outcomes: Option<flume::Sender<Outcome>>,
    pub tokenizer: Option<Arc<Tokenizer>>,
    /// The run's outputs, started.
    pub sinks: Sinks,
    /// Distinct tags and models kept per stage (the policy's `max_tags`, `max_models`).
    pub max_tags: usize,
    pub max_models: usize,
    pub cancel: Arc<Cancel>,
    /// With `--abort-on-fail`: thresholds watched while a stage runs.
    pub watch: Vec<Threshold>,
}

/// What the collector hands back when the run's last event has arrived.
pub(crate) struct Collected {
    pub records: u64,
    /// The outputs still working, and the errors of those that failed.
    pub sinks: Sinks,
    /// What made the collector stop the run, if anything did.
    pub fault: Option<Fault>,
    /// The threshold that failed for good mid-stage and stopped the run.
    pub aborted_by: Option<String>,
}

/// Starts the collector; it ends once every sender of `events` is dropped.
pub(crate) fn spawn(config: CollectorConfig, mut events: EventRx) -> JoinHandle<Collected> {
    tokio::spawn(async move {
        let longest = if config.outcomes.is_some() { GATHER_OUTCOMES } else { GATHER };
        let mut gather = longest;
        let mut c = Collector::new(config);
        let mut batch = Vec::with_capacity(BATCH);
        let mut last_flush = Instant::now();
        loop {
            // What has queued, taken without waiting.
            let mut closed = false;
            while batch.len() < BATCH {
                match events.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            let drained = batch.len();
            if drained == 0 && !closed {
                // Nothing queued: wait for a sender to wake the collector. Sinks flush when
                // the queue has been idle for FLUSH_EVERY, and at least that often while
                // busy: an interrupted or crashed run loses at most that much, and a
                // fast run does not pay a write per batch.
                match tokio::time::timeout(FLUSH_EVERY, events.recv_many(&mut batch, BATCH)).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(_) => {
                        c.flush();
                        c.watch();
                        last_flush = Instant::now();
                        continue;
                    }
                }
            }
            for event in batch.drain(..) {
                c.handle(event);
            }
            if closed {
                break;
            }
            if last_flush.elapsed() >= FLUSH_EVERY {
                c.flush();
                c.watch();
                last_flush = Instant::now();
            }
            if drained > 0 && drained < BATCH {
                // Busy: let records queue for a moment. A sender wakes the collector only
                // when it waits on an empty queue, so under load records come in batches
                // instead of a cross-thread wake-up each; the gather is sized to the rate.
                gather = gather.mul_f64(GATHER_RECORDS / drained as f64).clamp(MIN_GATHER, longest);
                tokio::time::sleep(gather).await;
            }
        }
        c.flush();
        Collected { records: c.records, sinks: c.sinks, fault: c.fault, aborted_by: c.aborted_by }
    })
}

struct Collector {
    epoch: Instant,
    outcomes: Option<flume::Sender<Outcome>>,
    tokenizer: Option<Arc<Tokenizer>>,
    sinks: Sinks,
    /// Per stage: its clock (once started) and statistics, freed once it has reported.
    stages: Vec<Option<(Option<StageClock>, StageStats)>>,
    /// Stages whose sessions are tasks: their open tasks and task statistics.
    tasks: std::collections::HashMap<u32, volley_core::stats::TaskTracker>,
    max_tags: usize,
    max_models: usize,
    cancel: Arc<Cancel>,
    fault: Option<Fault>,
    records: u64,
    /// Thresholds that can fail for good mid-stage (only those are watched).
    watch: Vec<Threshold>,
    aborted_by: Option<String>,
}

impl Collector {
    fn new(c: CollectorConfig) -> Self {
        Collector {
            epoch: c.epoch,
            outcomes: c.outcomes,
            tokenizer: c.tokenizer,
            sinks: c.sinks,
            stages: Vec::new(),
            tasks: std::collections::HashMap::new(),
            max_tags: c.max_tags,
            max_models: c.max_models,
            cancel: c.cancel,
            fault: None,
            records: 0,
            watch: c.watch,
            aborted_by: None,
        }
    }

    /// The clock and statistics of stage `i`; statistics are made when a stage first
    /// shows up, never ahead for a planned count.
    fn stage(&mut self, i: u32) -> &mut (Option<StageClock>, StageStats) {
        let i = i as usize;
        if self.stages.len() <= i {
            self.stages.resize_with(i + 1, || None);
        }
        let (tags, models) = (self.max_tags, self.max_models);
        self.stages[i].get_or_insert_with(|| (None, StageStats::with_caps(tags, models)))
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Record(r) => self.record(r),
            Event::StageStarted(clock) => {
                let (index, stage) = (clock.index, clock.stage.clone());
                if clock.tasks {
                    self.tasks.insert(index, Default::default());
                }
                let entry = self.stage(index);
                entry.1.slo = clock.slo;
                entry.0 = Some(clock);
                self.sinks.each(|s| s.stage_started(index, &stage));
            }
            Event::Gpu(points) => self.sinks.each(|s| s.gpu_sampled(&points)),
            Event::TaskEnded { stage, session, end } => {
                if let Some(t) = self.tasks.get_mut(&stage) {
                    t.end(session, end);
                }
                let stage_name = self.stages.get(stage as usize).and_then(|s| s.as_ref()?.0.as_ref()).map_or("", |c| c.stage.name.as_str());
                let event = TaskEvent { stage, stage_name, session, end };
                self.sinks.each(|s| s.task_ended(&event));
            }
            Event::StageEnded { index, stage, window, reply } => {
                let tasks = self.tasks.remove(&index).map(volley_core::stats::TaskTracker::finish);
                let stats = &mut self.stage(index).1;
                stats.tasks = tasks;
                let stats = &*stats;
                let mut report = StageReport::build(&stage, stats, &window);
                // Lossless, so shards' reports merge exactly (`volley merge`).
                report.mergeable = Some(stats.to_wire());
                // Its report has all of it: a stage's statistics are not kept for the run.
                self.stages[index as usize] = None;
                self.sinks.each(|s| s.stage_finished(index, &report, &window));
                let _ = reply.send(report);
            }
        }
    }

    fn record(&mut self, mut r: RequestRecord) {
        account_tokens(&mut r, self.tokenizer.as_deref());
        self.stage(r.stage);
        let Some((clock, stats)) = self.stages[r.stage as usize].as_mut() else { return };
        let excluded = clock.as_ref().is_some_and(|c| c.excludes(r.planned));
        if excluded {
            stats.excluded += 1;
        } else {
            stats.record(&r);
            if let Some(t) = self.tasks.get_mut(&r.stage) {
                t.record(&r);
            }
        }
        let stage_name = clock.as_ref().map_or("", |c| c.stage.name.as_str());
        let event = RecordEvent::new(&r, stage_name, excluded, self.epoch);
        self.sinks.each(|s| s.record(&event));
        self.records += 1;
        if let Some(o) = &self.outcomes
            && let Err(flume::TrySendError::Full(_)) = o.try_send(r.outcome())
        {
            // The workload's on-outcome cannot keep up: stop rather than queue without end.
            let pending = o.len();
            self.outcomes = None;
            self.fault.get_or_insert(Fault::Workload(volley_core::WorkloadError::Fault(format!(
                "the scenario fell behind its outcomes: {pending} completed requests waited for on-outcome; the run was stopped"
            ))));
            self.cancel.cancel();
        }
    }

    fn flush(&mut self) {
        self.sinks.each(|s| s.flush());
    }

    /// Checks the watched thresholds on the running stages so far (at each flush, so at
    /// most every 100 ms); one that has failed for good stops the run.
    fn watch(&mut self) {
        if self.watch.is_empty() || self.aborted_by.is_some() {
            return;
        }
        let now = Instant::now();
        for (clock, stats) in self.stages.iter().flatten() {
            let Some(clock) = clock else { continue };
            let window = StageWindow { started: clock.started, sending_ended: now, finished: now, sent: stats.requests };
            let so_far = StageReport::build(&clock.stage, stats, &window);
            if let Some(t) = self.watch.iter().find(|t| t.applies_to(&so_far.name) && t.failed_for_good(&so_far)) {
                self.aborted_by = Some(t.expr.clone());
                self.cancel.cancel();
                return;
            }
        }
    }
}

/// Counts output tokens where the server did not, and tokens per chunk, when the run
/// has a tokenizer: from the server's `usage` when it sent one, else the tokenizer over
/// the received text (else the exchange counted chunks).
fn account_tokens(rec: &mut RequestRecord, tokenizer: Option<&Tokenizer>) {
    let (Some(tok), Some(text)) = (tokenizer, rec.text.as_deref()) else { return };
    if rec.token_source != TokenSource::Usage {
        rec.output_tokens = tok.count(text) as u32;
        rec.token_source = TokenSource::Tokenizer;
    }
    if rec.stream && !rec.chunk_ends.is_empty() && rec.chunk_ends.len() == rec.text_chunks as usize {
        let counts = tok.tokens_per_chunk(text, &rec.chunk_ends);
        if rec.reasoning_source != TokenSource::Usage && !rec.chunk_reasoning.is_empty() {
            let reasoning = counts.iter().zip(&rec.chunk_reasoning).filter(|(_, r)| **r).map(|(n, _)| *n).sum::<u32>();
            rec.reasoning_tokens = Some(reasoning.min(rec.output_tokens));
            rec.reasoning_source = TokenSource::Tokenizer;
        }
        rec.chunk_tokens = Some(counts);
    }
}
