//! What the stage drivers tell the collector, on one FIFO channel, so ordering is free:
//! a stage's start (with its measurement window) arrives before its first record, and
//! the request for a stage's report arrives after its last record.

use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use volley_core::{RequestRecord, Slo, Stage, StageWindow};
use volley_report::StageReport;

/// A stage's start as its driver saw it: which planned sends it measures.
#[derive(Debug, Clone)]
pub(crate) struct StageClock {
    pub index: u32,
    pub stage: Stage,
    pub started: Instant,
    /// Requests planned before this are warm-up.
    pub measure_from: Instant,
    /// Requests planned at or after this are cool-down.
    pub measure_until: Option<Instant>,
    pub slo: Option<Slo>,
    /// The stage's sessions are tasks (its scenario reacts to outcomes): the collector
    /// keeps task statistics for it.
    pub tasks: bool,
}

impl StageClock {
    /// The clock of stage `index` started at `started`.
    pub fn new(index: u32, stage: &Stage, started: Instant) -> Self {
        let cooldown_from = stage.cooldown.zip(stage.duration).map(|(c, d)| d.saturating_sub(c));
        StageClock {
            index,
            stage: stage.clone(),
            started,
            measure_from: started + stage.warmup.unwrap_or_default(),
            measure_until: cooldown_from.map(|c| started + c),
            slo: stage.slo,
            tasks: false,
        }
    }

    /// Whether a request planned at `planned` is left out of the statistics.
    pub fn excludes(&self, planned: Instant) -> bool {
        planned < self.measure_from || self.measure_until.is_some_and(|u| planned >= u)
    }
}

/// What the collector receives.
// Records dominate and are not boxed: one allocation fewer per request.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Event {
    Record(RequestRecord),
    StageStarted(StageClock),
    /// A round of GPU readings, for the sinks that show them live.
    Gpu(Vec<volley_report::gpu::GpuPoint>),
    /// A session's task ended, as its scenario said (or failed: left with nothing out).
    TaskEnded {
        stage: u32,
        session: u64,
        end: volley_core::TaskEnd,
    },
    /// Stage `index` ended: its report, please.
    StageEnded {
        index: u32,
        stage: Stage,
        window: StageWindow,
        reply: oneshot::Sender<StageReport>,
    },
}

pub(crate) type EventTx = mpsc::UnboundedSender<Event>;
pub(crate) type EventRx = mpsc::UnboundedReceiver<Event>;

pub(crate) fn channel() -> (EventTx, EventRx) {
    mpsc::unbounded_channel()
}
