//! The producer: a dedicated thread that owns the workload and produces each stage's
//! requests ahead of their send time into a bounded queue, so no workload call (a Wasm
//! guest's or native code's) ever sits on the send path. It also delivers outcomes back
//! to the workload when the plan asks for them.
//!
//! A wasmtime `Store` is single-threaded, so one thread owns the workload and the rest
//! of the engine talks to it through channels; every wait on it is async, so the
//! engine runs on any tokio runtime, a current-thread one included. A workload fault (a
//! trap, a time or memory limit, an invalid request) is recorded and cancels the run.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use tokio::sync::oneshot;
use volley_core::shard::CarriedGap;
use volley_core::workload::{validate_batch, validate_plan, validate_stage};
use volley_core::{Cancel, Checks, ErrorClass, Info, Outcome, Plan, Shard, Stage, StageResult, Workload, WorkloadError};

use crate::client::request::{EncodeError, PreparedRequest, RequestEncoder};

/// Outcomes waiting for the workload's `on_outcome` before the run is stopped.
const MAX_PENDING_OUTCOMES: usize = 16_384;
/// Requests asked of the workload per call.
const BATCH: u32 = 32;
/// How long a blocked producer waits before checking for outcomes and stop requests.
const POLL: Duration = Duration::from_millis(5);
/// How long a producer with a full queue first naps before looking again. Queues hold
/// at least tens of milliseconds of requests at their rate (see `load::queue_capacity`).
const NAP: Duration = Duration::from_micros(500);
/// The longest nap. Each nap is a thread wake-up (tens of microseconds of CPU on a VM),
/// so at 1,000 requests/s a 4 ms cap cost a quarter of a wake-up per request.
const MAX_NAP: Duration = Duration::from_millis(20);

enum Command {
    /// Requests are encoded with this from now on (the target's model is known).
    Begin(RequestEncoder),
    /// `behind`: the stage sends on a clock, which goes first when cores are short.
    Stage {
        index: u32,
        tx: flume::Sender<PreparedRequest>,
        stop: Arc<AtomicBool>,
        limit: Option<u64>,
        queue: QueueBytes,
        shard: Option<Shard>,
        behind: bool,
    },
    NextStage {
        results: Vec<StageResult>,
        reply: oneshot::Sender<Result<Option<Stage>, WorkloadError>>,
    },
    Shutdown,
}

/// Handle to the producer thread.
pub(crate) struct Producer {
    commands: mpsc::Sender<Command>,
    /// Fires when the thread has ended.
    ended: Option<oneshot::Receiver<()>>,
    fault: Arc<Mutex<Option<WorkloadError>>>,
    /// The workload's checks, put here when its thread ends.
    checks: Arc<Mutex<Checks>>,
    outcomes: Option<flume::Sender<Outcome>>,
    pub info: Info,
    pub plan: Plan,
}

/// The receiving end of one stage's request queue. Dropping it ends production.
pub(crate) struct StageFeed {
    pub requests: flume::Receiver<PreparedRequest>,
    stop: Arc<AtomicBool>,
    queue: QueueBytes,
}

impl StageFeed {
    /// A request was taken from the queue: its bytes no longer count against the queue.
    pub fn took(&self, r: &PreparedRequest) {
        self.queue.remove(r);
    }

    /// The bytes of this stage's produced requests that may be held at once.
    pub fn budget(&self) -> usize {
        self.queue.budget
    }

    /// The producer waits for the driver to take requests: the queue is full in bytes.
    pub fn over_budget(&self) -> bool {
        self.queue.waiting.load(Ordering::Relaxed)
    }
}

/// The bytes of a stage's requests produced and not yet taken, against a budget: the
/// queue is bounded in bytes as well as in entries, so large bodies cannot fill memory.
#[derive(Clone)]
struct QueueBytes {
    queued: Arc<AtomicUsize>,
    budget: usize,
    /// The producer is waiting for room.
    waiting: Arc<AtomicBool>,
}

/// What a queued request costs: its body and the rest of it, roughly.
pub(crate) fn queued_cost(r: &PreparedRequest) -> usize {
    r.body.len() + 512
}

impl QueueBytes {
    fn add(&self, r: &PreparedRequest) {
        self.queued.fetch_add(queued_cost(r), Ordering::Relaxed);
    }

    fn remove(&self, r: &PreparedRequest) {
        // Every removal matches an earlier `add` of the same request.
        self.queued.fetch_sub(queued_cost(r), Ordering::Relaxed);
    }

    /// Whether `r` fits now; the first request always does, however large.
    fn fits(&self, r: &PreparedRequest) -> bool {
        let queued = self.queued.load(Ordering::Relaxed);
        queued == 0 || queued + queued_cost(r) <= self.budget
    }
}

impl Drop for StageFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Producer {
    /// Moves `workload` to a new thread, runs `describe` and `configure` there, and
    /// returns once the plan is known and valid (or with the one-line reason it is not).
    pub async fn spawn(workload: Box<dyn Workload>, params: serde_json::Value, cancel: Arc<Cancel>) -> Result<Self, WorkloadError> {
        let (setup_tx, setup_rx) = oneshot::channel::<Result<(Info, Plan), WorkloadError>>();
        let (ended_tx, ended) = oneshot::channel();
        let (commands, command_rx) = mpsc::channel::<Command>();
        let (outcome_tx, outcome_rx) = flume::bounded::<Outcome>(MAX_PENDING_OUTCOMES);
        let fault: Arc<Mutex<Option<WorkloadError>>> = Arc::default();
        let checks: Arc<Mutex<Checks>> = Arc::default();

        let spawned = {
            let fault = fault.clone();
            let checks = checks.clone();
            let cancel_for_workload = cancel.clone();
            std::thread::Builder::new().name("volley-scenario".into()).spawn(move || {
                let mut workload = workload;
                workload.set_cancel(cancel_for_workload);
                let known_observes;
                match setup(workload.as_mut(), &params) {
                    Ok(known) => {
                        known_observes = known.1.observe_outcomes;
                        let _ = setup_tx.send(Ok(known));
                    }
                    Err(e) => {
                        let _ = setup_tx.send(Err(e));
                        let _ = ended_tx.send(());
                        return;
                    }
                }
                let label = workload.identity().label;
                let observe = known_observes;
                let mut worker = Worker { workload: workload.as_mut(), label, encoder: None, outcomes: outcome_rx, observe, behind: false };
                if let Err(e) = worker.serve(command_rx) {
                    *fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    cancel.cancel();
                }
                drop(worker);
                // Every outcome has been delivered: the checks are final.
                *checks.lock().unwrap_or_else(|p| p.into_inner()) = workload.checks();
                // The workload (a Wasm store, say) is dropped before the end is signalled.
                drop(workload);
                let _ = ended_tx.send(());
            })
        };
        spawned.map_err(|e| WorkloadError::Fault(format!("cannot start the scenario thread: {e}")))?;

        let (info, plan) = setup_rx.await.map_err(|_| WorkloadError::Fault("the scenario thread ended during set-up".into()))??;
        let outcomes = plan.observe_outcomes.then_some(outcome_tx);
        Ok(Producer { commands, ended: Some(ended), fault, checks, outcomes, info, plan })
    }

    /// Requests are encoded with `encoder` (before the first stage).
    pub fn begin(&self, encoder: RequestEncoder) {
        let _ = self.commands.send(Command::Begin(encoder));
    }

    /// Starts producing requests of stage `index` into a queue of `capacity`, at most
    /// `limit` of them (of the global sequence), holding at most `queue_bytes` of them at
    /// once; a shard queues only the requests it owns (see [`Shard`]). With `behind`,
    /// the thread yields to the send lanes from then on (see `Worker::behind`).
    pub fn start_stage(
        &self,
        index: u32,
        capacity: usize,
        limit: Option<u64>,
        queue_bytes: usize,
        shard: Option<Shard>,
        behind: bool,
    ) -> StageFeed {
        let (tx, requests) = flume::bounded(capacity.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let queue = QueueBytes { queued: Arc::default(), budget: queue_bytes, waiting: Arc::default() };
        let _ = self.commands.send(Command::Stage { index, tx, stop: stop.clone(), limit, queue: queue.clone(), shard, behind });
        StageFeed { requests, stop, queue }
    }

    /// Adaptive plans: asks the workload for the stage after `results`.
    pub async fn next_stage(&self, results: Vec<StageResult>) -> Result<Option<Stage>, WorkloadError> {
        let (reply, answer) = oneshot::channel();
        let ended = || WorkloadError::Fault("the scenario thread has ended".into());
        self.commands.send(Command::NextStage { results, reply }).map_err(|_| ended())?;
        match answer.await {
            Ok(r) => r,
            Err(_) => Err(self.take_fault().unwrap_or_else(ended)),
        }
    }

    /// Where completed requests go to reach the workload's `on_outcome`, if it asked.
    pub fn outcome_sink(&self) -> Option<flume::Sender<Outcome>> {
        self.outcomes.clone()
    }

    /// The workload fault that stopped production, if any.
    pub fn take_fault(&self) -> Option<WorkloadError> {
        self.fault.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Where the workload's checks will be once its thread has ended.
    pub fn checks(&self) -> Arc<Mutex<Checks>> {
        self.checks.clone()
    }

    /// Stops the thread after it has delivered pending outcomes.
    pub async fn shutdown(mut self) -> Option<WorkloadError> {
        self.outcomes = None;
        let _ = self.commands.send(Command::Shutdown);
        if let Some(ended) = self.ended.take() {
            let _ = ended.await;
        }
        self.take_fault()
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
    }
}

fn setup(workload: &mut dyn Workload, params: &serde_json::Value) -> Result<(Info, Plan), WorkloadError> {
    let info = workload.describe()?;
    let plan = workload.configure(params)?;
    validate_plan(&workload.identity().label, &plan)?;
    Ok((info, plan))
}

struct Worker<'a> {
    workload: &'a mut dyn Workload,
    label: String,
    encoder: Option<RequestEncoder>,
    outcomes: flume::Receiver<Outcome>,
    /// The plan observes outcomes.
    observe: bool,
    /// The thread runs at lowered priority, behind the send lanes. An open-loop stage
    /// lowers it: when cores are short, a lane that wakes for a send then runs first,
    /// which keeps schedule lag off the tail. Closed-loop stages before it keep the
    /// normal priority: there a niced producer starved on two busy cores and the queue
    /// ran dry (workers waited for requests, p99 ~5 ms). Raising it back needs
    /// privileges, so a closed loop after an open one runs behind the lanes too.
    behind: bool,
}

impl Worker<'_> {
    fn serve(&mut self, commands: mpsc::Receiver<Command>) -> Result<(), WorkloadError> {
        loop {
            match commands.recv_timeout(POLL) {
                Ok(Command::Begin(encoder)) => self.encoder = Some(encoder),
                Ok(Command::Stage { index, tx, stop, limit, queue, shard, behind }) => {
                    if behind && !self.behind {
                        crate::lanes::lower_priority();
                        self.behind = true;
                    }
                    self.produce(index, &tx, &stop, limit, &queue, shard)?
                }
                Ok(Command::NextStage { results, reply }) => {
                    self.deliver_outcomes()?;
                    let r = self.workload.next_stage(&results).and_then(|stage| {
                        if let Some(s) = &stage {
                            validate_stage(&self.label, s, results.len())?;
                        }
                        Ok(stage)
                    });
                    let failed = r.is_err();
                    let _ = reply.send(r);
                    if failed {
                        return Ok(());
                    }
                }
                Ok(Command::Shutdown) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return self.deliver_outcomes();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => self.deliver_outcomes()?,
            }
        }
    }

    fn produce(
        &mut self,
        stage: u32,
        tx: &flume::Sender<PreparedRequest>,
        stop: &AtomicBool,
        limit: Option<u64>,
        queue: &QueueBytes,
        shard: Option<Shard>,
    ) -> Result<(), WorkloadError> {
        let Some(mut encoder) = self.encoder.take() else {
            return Err(WorkloadError::Fault("the engine started a stage before its encoder".into()));
        };
        let r = self.produce_with(&mut encoder, stage, tx, stop, limit, queue, shard);
        self.encoder = Some(encoder);
        r
    }

    fn produce_with(
        &mut self,
        encoder: &mut RequestEncoder,
        stage: u32,
        tx: &flume::Sender<PreparedRequest>,
        stop: &AtomicBool,
        limit: Option<u64>,
        queue: &QueueBytes,
        shard: Option<Shard>,
    ) -> Result<(), WorkloadError> {
        self.workload.start_stage(stage);
        let mut seq = 0u64;
        let mut carried = CarriedGap::default();
        loop {
            let want = match limit {
                Some(l) if seq >= l => return Ok(()),
                Some(l) => (l - seq).min(u64::from(BATCH)) as u32,
                None => BATCH,
            };
            self.deliver_outcomes()?;
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let batch = self.workload.next_requests(stage, seq, want)?;
            validate_batch(&self.label, &batch, want)?;
            if batch.requests.is_empty() && !batch.done {
                // Nothing yet (a session waits for its previous turn): ask again once
                // an outcome has arrived, or after a short while.
                match self.outcomes.recv_timeout(POLL) {
                    Ok(outcome) => self.workload.on_outcome(outcome)?,
                    Err(flume::RecvTimeoutError::Disconnected) => std::thread::sleep(POLL),
                    Err(flume::RecvTimeoutError::Timeout) => {}
                }
                continue;
            }
            for mut request in batch.requests {
                // Every shard produces the global sequence and keeps its own requests.
                if let Some(s) = shard
                    && !s.owns_request(seq, request.session)
                {
                    carried.skip(request.gap);
                    if request.session.is_some() && self.observe {
                        // Another shard's conversation: not sent here, so the scenario
                        // does not wait for its answer.
                        self.workload.on_outcome(not_sent_here(stage, seq, request.session))?;
                    }
                    seq += 1;
                    continue;
                }
                request.gap = carried.take(request.gap);
                let prepared = encoder.encode(request, stage, seq).map_err(|e| match e {
                    EncodeError::Refused(r) => WorkloadError::Refused(r),
                    EncodeError::Invalid(e) => WorkloadError::Invalid(format!(
                        "scenario '{}' produced an invalid request (stage {stage}, seq {seq}): {e}",
                        self.label
                    )),
                })?;
                seq += 1;
                if !self.send(tx, prepared, stop, queue)? {
                    return Ok(());
                }
            }
            if batch.done {
                return Ok(());
            }
        }
    }

    /// Waits until the queue takes the request; `false` when the stage is over.
    ///
    /// A full queue is not waited on with a blocking send: that would have every
    /// request taken by the driver wake this thread (a futex wake and a context switch
    /// per request). Instead the producer naps until the queue has drained to half and
    /// then refills it in one go.
    fn send(
        &mut self,
        tx: &flume::Sender<PreparedRequest>,
        mut item: PreparedRequest,
        stop: &AtomicBool,
        queue: &QueueBytes,
    ) -> Result<bool, WorkloadError> {
        // Over the byte budget: wait (as for a full queue) until the driver takes some.
        while !queue.fits(&item) {
            queue.waiting.store(true, Ordering::Relaxed);
            if stop.load(Ordering::Relaxed) || tx.is_disconnected() {
                return Ok(false);
            }
            self.deliver_outcomes()?;
            std::thread::sleep(NAP);
        }
        queue.waiting.store(false, Ordering::Relaxed);
        queue.add(&item);
        loop {
            match tx.try_send(item) {
                Ok(()) => return Ok(true),
                Err(flume::TrySendError::Disconnected(back)) => {
                    queue.remove(&back);
                    return Ok(false);
                }
                Err(flume::TrySendError::Full(back)) => {
                    item = back;
                    let half = tx.capacity().unwrap_or(1) / 2;
                    // Naps lengthen while the queue drains slowly (a low rate), so a
                    // waiting producer costs a few wake-ups per second, not per request.
                    let (full, mut nap, mut napped) = (tx.len(), NAP, Duration::ZERO);
                    while tx.len() > half && !tx.is_disconnected() {
                        if stop.load(Ordering::Relaxed) {
                            return Ok(false);
                        }
                        self.deliver_outcomes()?;
                        std::thread::sleep(nap);
                        napped += nap;
                        let left = tx.len();
                        nap = next_nap(nap, napped, full.saturating_sub(left), left.saturating_sub(half));
                    }
                }
            }
        }
    }

    fn deliver_outcomes(&mut self) -> Result<(), WorkloadError> {
        while let Ok(outcome) = self.outcomes.try_recv() {
            self.workload.on_outcome(outcome)?;
        }
        Ok(())
    }
}

/// The nap after one of `nap`: twice as long, but at most half the time the queue takes
/// to drain the `above_half` requests left above half, at the pace it drained `drained`
/// in `napped` (a nap's nominal length, shorter than the sleep: the estimate errs fast),
/// so a refill starts before the driver can run dry.
fn next_nap(nap: Duration, napped: Duration, drained: usize, above_half: usize) -> Duration {
    let doubled = (nap * 2).min(MAX_NAP);
    if drained == 0 {
        return doubled;
    }
    let to_half = napped.mul_f64(above_half as f64 / drained as f64);
    doubled.min(to_half / 2).max(NAP)
}

/// The outcome of a request another shard sends: cancelled, from this process's view.
fn not_sent_here(stage: u32, seq: u64, session: Option<u64>) -> Outcome {
    Outcome {
        stage,
        seq,
        session,
        ok: false,
        status: 0,
        error: Some(ErrorClass::Cancelled),
        ttft: None,
        latency: Duration::ZERO,
        output_tokens: 0,
        prompt_tokens: None,
        text: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn naps_double_up_to_the_cap_while_nothing_drains() {
        let mut nap = NAP;
        let mut napped = Duration::ZERO;
        for _ in 0..12 {
            napped += nap;
            let next = next_nap(nap, napped, 0, 1000);
            assert!(next == (nap * 2).min(MAX_NAP), "{nap:?} -> {next:?}");
            nap = next;
        }
        assert_eq!(nap, MAX_NAP);
    }

    #[test]
    fn a_nap_is_at_most_half_the_time_left_before_the_queue_is_half_empty() {
        // 1,000 requests/s: 128 above half takes 128 ms, so naps grow to the cap.
        assert_eq!(next_nap(16 * MS, 100 * MS, 100, 128), MAX_NAP);
        // 50,000/s against 1,024 above half: 20 ms left, so a nap of at most 10 ms.
        assert_eq!(next_nap(8 * MS, 10 * MS, 500, 1024), Duration::from_micros(10_240));
        // Close to half: naps shrink, but not below the first one.
        assert_eq!(next_nap(8 * MS, 10 * MS, 500, 30), Duration::from_micros(300).max(NAP));
        assert_eq!(next_nap(MS, 2 * MS, 200, 0), NAP);
        // Never more than twice the last nap.
        assert_eq!(next_nap(MS, 50 * MS, 1, 1000), 2 * MS);
    }
}
