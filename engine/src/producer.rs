//! The producer: a dedicated thread that owns the workload and produces each stage's
//! requests ahead of their send time into a bounded queue, so no workload call (a Wasm
//! guest's or native code's) ever sits on the send path. It also delivers outcomes back
//! to the workload when the plan asks for them.
//!
//! A wasmtime `Store` is single-threaded, so one thread owns the workload and the rest
//! of the engine talks to it through channels; every wait on it is async, so the
//! engine runs on any tokio runtime, a current-thread one included. A workload fault (a
//! trap, a time or memory limit, an invalid request) is recorded and cancels the run.
//!
//! A stage's driver starts sending once the queue is [ready](StageFeed::ready): full (in
//! entries or bytes), or the scenario has nothing more for now (it waits on outcomes) or
//! for the stage — an event the producer signals, so a scenario that waits starts at
//! once. A stage whose scenario waits on nothing for the policy's `max_idle_s` (it
//! produces no request and has none out) is refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use volley_core::shard::CarriedGap;
use volley_core::workload::{validate_batch, validate_plan, validate_stage};
use volley_core::{
    Cancel, Checks, ErrorClass, Info, Outcome, Plan, Reaction, Refusal, ScenarioRequest, Shard, Stage, StageResult, TaskEnd, Workload,
    WorkloadError,
};

use crate::client::kept::KeptConversation;
use crate::client::request::{EncodeError, PreparedRequest, RequestEncoder, answer_items};
use crate::sessions::SessionBoard;

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
    /// Requests are encoded with this from now on (the target's model is known). Boxed:
    /// it is sent once, and the enum stays the size of its common variant.
    Begin(Box<RequestEncoder>),
    Stage(StageJob),
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
    /// The workload reacts to outcomes (follow-ups, task ends): stages track tasks.
    pub reacts: bool,
}

/// What a driver asks of the producer for a stage it starts.
pub(crate) struct StageOrder<'a> {
    pub index: u32,
    /// The stage's name (for a refusal).
    pub name: &'a str,
    /// Requests the queue holds.
    pub capacity: usize,
    /// Most requests of the global sequence.
    pub limit: Option<u64>,
    /// Bytes of requests the queue holds at once (the policy's `max_queue_bytes`).
    pub queue_bytes: usize,
    /// The policy's `max_idle_s`.
    pub max_idle: Duration,
    /// A shard queues only the requests it owns.
    pub shard: Option<Shard>,
    /// The stage sends on a clock, which goes first when cores are short (see
    /// `Worker::behind`).
    pub behind: bool,
    /// The stage's sessions, when its workload reacts to outcomes.
    pub board: Option<Arc<SessionBoard>>,
}

/// One stage's production, as the producer thread gets it. Dropped when production
/// ends (or never starts, the thread having ended), which makes the queue ready.
struct StageJob {
    index: u32,
    name: String,
    tx: flume::Sender<PreparedRequest>,
    stop: Arc<AtomicBool>,
    limit: Option<u64>,
    queue: QueueBytes,
    max_idle: Duration,
    shard: Option<Shard>,
    behind: bool,
    ready: Arc<Ready>,
    board: Option<Arc<SessionBoard>>,
}

impl Drop for StageJob {
    fn drop(&mut self) {
        self.ready.set();
    }
}

/// The event a stage's start waits for: its queue holds what the stage needs before the
/// first send. Set once per stage, by the producer thread.
#[derive(Default)]
struct Ready {
    set: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Ready {
    fn set(&self) {
        // The plain load keeps repeated calls (an empty batch every few ms) to a read.
        if !self.set.load(Ordering::Relaxed) && !self.set.swap(true, Ordering::AcqRel) {
            // A permit is stored if the driver is not waiting yet.
            self.notify.notify_one();
        }
    }
}

/// The receiving end of one stage's request queue. Dropping it ends production.
pub(crate) struct StageFeed {
    pub requests: flume::Receiver<PreparedRequest>,
    stop: Arc<AtomicBool>,
    queue: QueueBytes,
    ready: Arc<Ready>,
    /// The stage's sessions, when its workload reacts to outcomes.
    pub board: Option<Arc<SessionBoard>>,
}

impl StageFeed {
    /// A request was taken from the queue to be sent: its bytes no longer count against
    /// the queue, and a session's request is in play until its outcome is answered.
    pub fn took(&self, r: &PreparedRequest) {
        self.queue.remove(r);
        if let Some(b) = &self.board {
            b.sending(r);
        }
    }

    /// A request taken with [`took`](Self::took) was not sent after all (the stage
    /// ended first): no outcome will come for it.
    pub fn unsent(&self, r: &PreparedRequest) {
        if let (Some(b), Some(_)) = (&self.board, r.session) {
            b.dropped(1);
        }
    }

    /// The bytes of this stage's produced requests that may be held at once.
    pub fn budget(&self) -> usize {
        self.queue.budget
    }

    /// Returns once the queue holds what the stage needs before its first send: it is
    /// full (in entries or bytes), or the scenario has nothing more for now (it waits on
    /// outcomes) or for this stage.
    pub async fn ready(&self) {
        while !self.ready.set.load(Ordering::Acquire) {
            self.ready.notify.notified().await;
        }
    }
}

/// The bytes of a stage's requests produced and not yet taken, against a budget: the
/// queue is bounded in bytes as well as in entries, so large bodies cannot fill memory.
#[derive(Clone)]
struct QueueBytes {
    queued: Arc<AtomicUsize>,
    budget: usize,
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
        let (reacts_tx, reacts_rx) = oneshot::channel::<bool>();
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
                let _ = reacts_tx.send(workload.reacts());
                let mut worker = Worker {
                    workload: workload.as_mut(),
                    label,
                    encoder: None,
                    outcomes: outcome_rx,
                    observe,
                    behind: false,
                    stage: 0,
                    stage_outcomes: 0,
                    outcomes_seen: 0,
                    seq: 0,
                    asked: 0,
                    board: None,
                    sessions: HashMap::new(),
                };
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
        let reacts = plan.observe_outcomes && reacts_rx.await.unwrap_or(false);
        Ok(Producer { commands, ended: Some(ended), fault, checks, outcomes, info, plan, reacts })
    }

    /// Requests are encoded with `encoder` (before the first stage).
    pub fn begin(&self, encoder: RequestEncoder) {
        let _ = self.commands.send(Command::Begin(Box::new(encoder)));
    }

    /// Starts producing the requests of a stage as `order` says (see [`StageOrder`]).
    pub fn start_stage(&self, order: StageOrder<'_>) -> StageFeed {
        let (tx, requests) = flume::bounded(order.capacity.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let queue = QueueBytes { queued: Arc::default(), budget: order.queue_bytes };
        let ready = Arc::new(Ready::default());
        let job = StageJob {
            index: order.index,
            name: order.name.to_string(),
            tx,
            stop: stop.clone(),
            limit: order.limit,
            queue: queue.clone(),
            max_idle: order.max_idle,
            shard: order.shard,
            behind: order.behind,
            ready: ready.clone(),
            board: order.board.clone(),
        };
        // A thread that has ended drops the job, which sets `ready`.
        let _ = self.commands.send(Command::Stage(job));
        StageFeed { requests, stop, queue, ready, board: order.board }
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
    /// The stage being produced, and how many outcomes of its requests were delivered.
    stage: u32,
    stage_outcomes: u64,
    /// Outcomes delivered in all (the idle clock counts one as activity).
    outcomes_seen: u64,
    /// The stage's next sequence number: its queued requests and its follow-ups share it
    /// (records and outcomes carry it).
    seq: u64,
    /// Requests the workload's `next_requests` returned in the stage (what it is asked
    /// from, what `max_requests` and a shard's share count): follow-ups are not among them.
    asked: u64,
    /// The stage's sessions, while its workload reacts; kept after its production ends,
    /// as follow-ups go on until its sessions are over.
    board: Option<Arc<SessionBoard>>,
    sessions: HashMap<u64, SessionTally>,
}

/// One open session, as the producer counts it.
#[derive(Default)]
struct SessionTally {
    /// Its requests produced whose outcome has not arrived.
    out: u32,
    /// Its requests produced so far (the next one's turn is this plus one).
    turns: u32,
    /// The conversations kept for its requests' `history`, by number (a few: a task's
    /// main thread and its sub-agents).
    kept: Vec<(u32, KeptConversation)>,
}

/// Most conversations one session may keep.
const MAX_HISTORIES: usize = 256;

impl SessionTally {
    /// The conversation kept as `history`, started empty the first time.
    fn conversation(&mut self, history: u32) -> Result<&mut KeptConversation, String> {
        match self.kept.iter().position(|(h, _)| *h == history) {
            Some(i) => Ok(&mut self.kept[i].1),
            None if self.kept.len() >= MAX_HISTORIES => {
                Err(format!("a session may keep at most {MAX_HISTORIES} histories; this request asks for one more ({history})"))
            }
            None => {
                self.kept.push((history, KeptConversation::default()));
                Ok(&mut self.kept.last_mut().expect("just pushed").1)
            }
        }
    }

    /// Keeps the answer of `outcome` in the conversation that awaits it, if one does, as
    /// its API writes it.
    fn keep_answer(&mut self, outcome: &Outcome) {
        if let Some((_, k)) = self.kept.iter_mut().find(|(_, k)| k.awaits(outcome.seq)) {
            let answer = match (outcome.ok, k.api()) {
                (true, Some(api)) => answer_items(api, outcome.text.as_deref().unwrap_or_default(), &outcome.tool_calls),
                _ => None,
            };
            k.keep_answer(answer);
        }
    }
}

impl Worker<'_> {
    fn serve(&mut self, commands: mpsc::Receiver<Command>) -> Result<(), WorkloadError> {
        loop {
            // Between stages' production, a reacting workload's follow-ups still come
            // from outcomes: wait on those, and look at the commands in between.
            let next = if self.board.is_some() {
                match commands.try_recv() {
                    Ok(c) => Ok(c),
                    Err(mpsc::TryRecvError::Disconnected) => Err(mpsc::RecvTimeoutError::Disconnected),
                    Err(mpsc::TryRecvError::Empty) => {
                        self.wait_for_outcome(POLL)?;
                        continue;
                    }
                }
            } else {
                commands.recv_timeout(POLL)
            };
            match next {
                Ok(Command::Begin(encoder)) => self.encoder = Some(*encoder),
                Ok(Command::Stage(job)) => {
                    if job.behind && !self.behind {
                        crate::lanes::lower_priority();
                        self.behind = true;
                    }
                    self.produce(&job)?
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

    fn produce(&mut self, job: &StageJob) -> Result<(), WorkloadError> {
        if self.encoder.is_none() {
            return Err(WorkloadError::Fault("the engine started a stage before its encoder".into()));
        }
        let StageJob { index: stage, tx, stop, limit, queue, shard, .. } = job;
        let (stage, limit, shard) = (*stage, *limit, *shard);
        self.workload.start_stage(stage);
        (self.stage, self.stage_outcomes, self.seq, self.asked) = (stage, 0, 0, 0);
        self.board = job.board.clone();
        self.sessions.clear();
        // This shard's requests queued so far.
        let mut owned = 0u64;
        let mut idle = IdleClock::new();
        let mut carried = CarriedGap::default();
        loop {
            let want = match limit {
                Some(l) if self.asked >= l => return Ok(()),
                Some(l) => (l - self.asked).min(u64::from(BATCH)) as u32,
                None => BATCH,
            };
            self.deliver_outcomes()?;
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let batch = self.workload.next_requests(stage, self.asked, want)?;
            validate_batch(&self.label, &batch, want)?;
            if batch.requests.is_empty() && !batch.done {
                // Nothing for now (a session waits for its previous turn): the stage
                // need not wait for more before it starts.
                job.ready.set();
                // Requests of its own still out (queued or in flight), whose outcomes
                // can change its mind; without outcomes it waits on nothing.
                let out = self.observe && owned > self.stage_outcomes;
                if idle.idle_for(self.asked.wrapping_add(self.outcomes_seen), out) >= job.max_idle {
                    return Err(WorkloadError::Refused(self.idle_refusal(job)));
                }
                // Ask again once an outcome has arrived, or after a short while.
                self.wait_for_outcome(POLL)?;
                continue;
            }
            for mut request in batch.requests {
                // Every shard produces the global sequence and keeps its own requests.
                if let Some(s) = shard
                    && !s.owns_request(self.asked, request.session)
                {
                    carried.skip(request.gap);
                    if request.session.is_some() && self.observe {
                        // Another shard's conversation: not sent here, so the scenario
                        // does not wait for its answer (and nothing it returns is sent).
                        self.workload.on_outcome(not_sent_here(stage, self.seq, request.session))?;
                    }
                    self.seq += 1;
                    self.asked += 1;
                    continue;
                }
                request.gap = carried.take(request.gap);
                // A queued request is paced by the load, not by a delay.
                request.delay = None;
                let prepared = self.encode(request, stage)?;
                self.asked += 1;
                if !self.send(tx, prepared, stop, queue, &job.ready)? {
                    return Ok(());
                }
                owned += 1;
            }
            if batch.done {
                return Ok(());
            }
        }
    }

    /// Encodes `request` as the stage's next in sequence, numbering its turn in its
    /// session.
    fn encode(&mut self, request: ScenarioRequest, stage: u32) -> Result<PreparedRequest, WorkloadError> {
        let seq = self.seq;
        let session = request.session;
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(WorkloadError::Fault("the engine started a stage before its encoder".into()));
        };
        let invalid = |e: String| {
            WorkloadError::Invalid(format!("scenario '{}' produced an invalid request (stage {stage}, seq {seq}): {e}", self.label))
        };
        // The conversation the host keeps for the request, when it asks for one.
        let mut scratch = KeptConversation::default();
        let kept = match (session, request.history, &self.board) {
            (Some(s), Some(h), Some(_)) => Some(self.sessions.entry(s).or_default().conversation(h).map_err(invalid)?),
            // A preview's stage (`volley check`) has no board: encoded as a first turn.
            (Some(_), Some(_), None) if self.workload.reacts() => Some(&mut scratch),
            _ => None,
        };
        let mut prepared = encoder.encode_kept(request, stage, seq, kept).map_err(|e| match e {
            EncodeError::Refused(r) => WorkloadError::Refused(r),
            EncodeError::Invalid(e) => invalid(e),
        })?;
        self.seq += 1;
        if let (Some(s), Some(_)) = (session, &self.board) {
            let tally = self.sessions.entry(s).or_default();
            tally.out = tally.out.saturating_add(1);
            tally.turns = tally.turns.saturating_add(1);
            prepared.turn = Some(tally.turns);
        }
        Ok(prepared)
    }

    /// Waits up to `at_most` for an outcome and hands it over (at once when one comes,
    /// so a follow-up's delay starts from an outcome handled promptly).
    fn wait_for_outcome(&mut self, at_most: Duration) -> Result<(), WorkloadError> {
        match self.outcomes.recv_timeout(at_most) {
            Ok(outcome) => self.on_outcome(outcome),
            Err(flume::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(at_most);
                Ok(())
            }
            Err(flume::RecvTimeoutError::Timeout) => Ok(()),
        }
    }

    /// What a reacting workload answered to an outcome of the current stage's session
    /// `session`: its follow-ups go to the board, due at the outcome's completion plus
    /// their delay, and the task ends when the workload says so, or when nothing of the
    /// session is out and nothing follows (a failed task: the scenario left it).
    fn react(&mut self, board: &SessionBoard, session: u64, seq: u64, completed: Instant, reaction: Reaction) -> Result<(), WorkloadError> {
        let Reaction { requests, end } = reaction;
        let follows = requests.len();
        let stage = self.stage;
        if let Some(t) = self.sessions.get_mut(&session) {
            t.out = t.out.saturating_sub(1);
        }
        for mut request in requests {
            match request.session {
                None => request.session = Some(session),
                Some(s) if s != session => {
                    return Err(WorkloadError::Invalid(format!(
                        "scenario '{}' answered the outcome of session {session} (stage {stage}, seq {seq}) with a request of session {s}; follow-ups continue their outcome's session",
                        self.label
                    )));
                }
                Some(_) => {}
            }
            let wait = request.delay.unwrap_or_default().total();
            let Some(planned) = completed.checked_add(wait) else {
                return Err(WorkloadError::Invalid(format!(
                    "scenario '{}' asked for a follow-up delay of {} s (stage {stage}, session {session})",
                    self.label,
                    wait.as_secs()
                )));
            };
            let prepared = self.encode(request, stage)?;
            board.follow_up(planned, prepared);
        }
        let out = self.sessions.get(&session).map_or(0, |t| t.out);
        let end = match end {
            Some(end) => Some(end),
            None if follows == 0 && out == 0 => Some(TaskEnd::Failed),
            None => None,
        };
        if let Some(end) = end {
            self.sessions.remove(&session);
            board.ended(session, end);
        }
        // Last: once nothing is in play the stage may end and ask for its report, which
        // must come after the task's end on the collector's channel.
        board.answered();
        Ok(())
    }

    /// The refusal of a stage whose scenario waited on nothing for `max_idle_s`.
    fn idle_refusal(&self, job: &StageJob) -> Refusal {
        let secs = job.max_idle.as_secs_f64();
        let name = volley_core::text::printable(&job.name, 64);
        let why = if self.observe { "and had none of its requests out" } else { "and observes no outcomes, so it waits on nothing" };
        Refusal {
            limit: "max_idle_s",
            allowed: secs.to_string(),
            what: format!(
                "in stage '{name}' scenario '{}' produced no request for {secs} s {why}",
                volley_core::text::printable(&self.label, 128)
            ),
        }
    }

    /// Waits until the queue takes the request; `false` when the stage is over.
    ///
    /// A full queue is not waited on with a blocking send: that would have every
    /// request taken by the driver wake this thread (a futex wake and a context switch
    /// per request). Instead the producer naps until the queue has drained to half and
    /// then refills it in one go.
    /// A full queue, in entries or bytes, makes the stage `ready` to start.
    fn send(
        &mut self,
        tx: &flume::Sender<PreparedRequest>,
        mut item: PreparedRequest,
        stop: &AtomicBool,
        queue: &QueueBytes,
        ready: &Ready,
    ) -> Result<bool, WorkloadError> {
        // Over the byte budget: wait (as for a full queue) until the driver takes some.
        while !queue.fits(&item) {
            ready.set();
            if stop.load(Ordering::Relaxed) || tx.is_disconnected() {
                return Ok(false);
            }
            self.nap(NAP)?;
        }
        queue.add(&item);
        loop {
            match tx.try_send(item) {
                Ok(()) => return Ok(true),
                Err(flume::TrySendError::Disconnected(back)) => {
                    queue.remove(&back);
                    return Ok(false);
                }
                Err(flume::TrySendError::Full(back)) => {
                    ready.set();
                    item = back;
                    let half = tx.capacity().unwrap_or(1) / 2;
                    // Naps lengthen while the queue drains slowly (a low rate), so a
                    // waiting producer costs a few wake-ups per second, not per request.
                    let (full, mut nap, mut napped) = (tx.len(), NAP, Duration::ZERO);
                    while tx.len() > half && !tx.is_disconnected() {
                        if stop.load(Ordering::Relaxed) {
                            return Ok(false);
                        }
                        self.nap(nap)?;
                        napped += nap;
                        let left = tx.len();
                        nap = next_nap(nap, napped, full.saturating_sub(left), left.saturating_sub(half));
                    }
                }
            }
        }
    }

    /// Naps for `d` while the queue is full; a reacting workload's outcomes cut the nap
    /// short, so follow-ups are not held up by a full queue of first requests.
    fn nap(&mut self, d: Duration) -> Result<(), WorkloadError> {
        self.deliver_outcomes()?;
        if self.board.is_some() {
            self.wait_for_outcome(d)
        } else {
            std::thread::sleep(d);
            Ok(())
        }
    }

    fn deliver_outcomes(&mut self) -> Result<(), WorkloadError> {
        while let Ok(outcome) = self.outcomes.try_recv() {
            self.on_outcome(outcome)?;
        }
        Ok(())
    }

    /// Hands the workload an outcome from the collector, counting it, and acts on its
    /// reaction: follow-ups and task ends of the current stage's sessions. An earlier
    /// stage's sessions are over (its stage waited for them): nothing follows them.
    fn on_outcome(&mut self, outcome: Outcome) -> Result<(), WorkloadError> {
        self.outcomes_seen = self.outcomes_seen.wrapping_add(1);
        let current = outcome.stage == self.stage;
        if current {
            self.stage_outcomes += 1;
        }
        let (session, seq, completed) = (outcome.session, outcome.seq, outcome.completed);
        if let Some(t) = session.filter(|_| current).and_then(|s| self.sessions.get_mut(&s)) {
            t.keep_answer(&outcome);
        }
        let reaction = self.workload.on_outcome(outcome)?;
        let board = match (&self.board, session) {
            (Some(b), Some(_)) if current => b.clone(),
            _ => {
                if current && !reaction.requests.is_empty() {
                    let why = if self.board.is_none() {
                        "but it does not react to outcomes (a native workload says so with `reacts`)"
                    } else {
                        "for a request without a session; give the request a session"
                    };
                    return Err(WorkloadError::Invalid(format!(
                        "scenario '{}' returned follow-ups to an outcome (stage {}, seq {seq}) {why}",
                        self.label, self.stage
                    )));
                }
                return Ok(());
            }
        };
        self.react(&board, session.unwrap_or_default(), seq, completed, reaction)
    }
}

/// How long a scenario has waited on nothing: it answered "nothing yet" while nothing
/// happened (no request produced, no outcome delivered) and none of its requests was out.
/// Read only while it waits, so ordinary production never reads the clock for it.
struct IdleClock {
    /// The activity count when the clock last started.
    seen: u64,
    since: Instant,
}

impl IdleClock {
    fn new() -> Self {
        IdleClock { seen: 0, since: Instant::now() }
    }

    /// The idle time so far, given the activity count (requests produced and outcomes
    /// delivered) and whether requests are out; either restarts the clock.
    fn idle_for(&mut self, activity: u64, out: bool) -> Duration {
        let now = Instant::now();
        if activity != self.seen || out {
            (self.seen, self.since) = (activity, now);
        }
        now.saturating_duration_since(self.since)
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
        key: None,
        ok: false,
        status: 0,
        error: Some(ErrorClass::Cancelled),
        ttft: None,
        latency: Duration::ZERO,
        output_tokens: 0,
        prompt_tokens: None,
        text: None,
        tool_calls: Vec::new(),
        finish_reason: None,
        cached_tokens: None,
        completed: Instant::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_core::{Batch, Load, Message, ScenarioRequest};

    const MS: Duration = Duration::from_millis(1);

    /// A scenario that sends `first` requests, then answers "nothing yet" for ever.
    struct Waiter {
        first: u64,
        observe: bool,
    }

    impl Workload for Waiter {
        fn describe(&mut self) -> Result<Info, WorkloadError> {
            Ok(Info::new("waiter", "0", "waits"))
        }

        fn configure(&mut self, _params: &serde_json::Value) -> Result<Plan, WorkloadError> {
            let mut plan = Plan::new(vec![Stage::new("waits", Load::Custom, None, None)]);
            plan.observe_outcomes = self.observe;
            Ok(plan)
        }

        fn next_requests(&mut self, _stage: u32, seq: u64, max: u32) -> Result<Batch, WorkloadError> {
            let n = self.first.saturating_sub(seq).min(u64::from(max));
            let requests = (0..n).map(|_| ScenarioRequest::chat(vec![Message::user("hi")])).collect();
            Ok(Batch { requests, done: false })
        }
    }

    /// A producer of `waiter`, its stage 0 started with `max_idle`, and the run's cancel.
    async fn waiting(waiter: Waiter, max_idle: Duration) -> (Producer, StageFeed, Arc<Cancel>) {
        let cancel = Arc::new(Cancel::new());
        let producer = Producer::spawn(Box::new(waiter), serde_json::json!({}), cancel.clone()).await.unwrap();
        let target = volley_net::Target::parse("http://127.0.0.1:1").unwrap();
        producer.begin(RequestEncoder::new(&target, Some("m".into()), Arc::default(), &[]));
        let order = StageOrder {
            index: 0,
            name: "waits",
            capacity: 256,
            limit: None,
            queue_bytes: 1 << 20,
            max_idle,
            shard: None,
            behind: false,
            board: None,
        };
        let feed = producer.start_stage(order);
        (producer, feed, cancel)
    }

    fn outcome(seq: u64) -> Outcome {
        Outcome { ok: true, ..not_sent_here(0, seq, None) }
    }

    #[tokio::test]
    async fn a_stage_is_ready_once_its_scenario_has_nothing_more_for_now() {
        // Two requests of a queue of 256, then "nothing yet": the event, not a timer
        // (the backstop is seconds away).
        let (producer, feed, _) = waiting(Waiter { first: 2, observe: true }, Duration::from_secs(60)).await;
        tokio::time::timeout(Duration::from_secs(2), feed.ready()).await.expect("the stage is ready");
        assert_eq!(feed.requests.len(), 2);
        drop(feed);
        assert!(producer.shutdown().await.is_none());
    }

    #[tokio::test]
    async fn a_scenario_that_waits_on_nothing_is_refused_at_max_idle() {
        let (producer, _feed, cancel) = waiting(Waiter { first: 0, observe: false }, 100 * MS).await;
        tokio::time::timeout(Duration::from_secs(5), cancel.cancelled()).await.expect("the run is stopped");
        let Some(WorkloadError::Refused(r)) = producer.take_fault() else { panic!("not refused") };
        assert_eq!(r.limit, "max_idle_s");
        assert!(r.what.contains("stage 'waits'") && r.what.contains("observes no outcomes"), "{}", r.what);
    }

    #[tokio::test]
    async fn a_scenario_waiting_on_a_request_out_is_idle_only_once_it_is_answered() {
        let (producer, feed, cancel) = waiting(Waiter { first: 1, observe: true }, 100 * MS).await;
        feed.ready().await;
        // Its one request is out (taken, never answered): three idle bounds pass unrefused.
        let taken = feed.requests.recv_async().await.unwrap();
        feed.took(&taken);
        assert!(tokio::time::timeout(300 * MS, cancel.cancelled()).await.is_err(), "refused with a request out");
        // Answered: now it waits on nothing.
        producer.outcome_sink().unwrap().send(outcome(0)).unwrap();
        tokio::time::timeout(Duration::from_secs(5), cancel.cancelled()).await.expect("the run is stopped");
        let Some(WorkloadError::Refused(r)) = producer.take_fault() else { panic!("not refused") };
        assert!(r.what.contains("had none of its requests out"), "{}", r.what);
    }

    #[test]
    fn a_session_keeps_at_most_its_bound_of_histories() {
        let mut tally = SessionTally::default();
        for h in 0..MAX_HISTORIES as u32 {
            tally.conversation(h).unwrap();
        }
        // The same ones again are found, not added.
        tally.conversation(0).unwrap();
        tally.conversation(MAX_HISTORIES as u32 - 1).unwrap();
        assert_eq!(tally.kept.len(), MAX_HISTORIES);
        let err = tally.conversation(MAX_HISTORIES as u32).unwrap_err();
        assert!(err.contains(&format!("at most {MAX_HISTORIES} histories")), "{err}");
        assert_eq!(tally.kept.len(), MAX_HISTORIES);
    }

    #[test]
    fn the_idle_clock_restarts_on_activity_and_while_requests_are_out() {
        let mut clock = IdleClock::new();
        std::thread::sleep(5 * MS);
        assert!(clock.idle_for(0, false) >= 5 * MS);
        assert!(clock.idle_for(1, false) < 5 * MS, "a request or an outcome restarts it");
        std::thread::sleep(5 * MS);
        assert!(clock.idle_for(1, true) < 5 * MS, "a request out restarts it");
    }

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
