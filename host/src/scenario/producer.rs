//! The producer: a dedicated thread that owns the scenario instance and produces each
//! stage's requests ahead of their send time into a bounded queue, so no guest call
//! ever sits on the send path. It also delivers outcomes back to the guest when the
//! plan asks for them.
//!
//! A wasmtime `Store` is single-threaded, so one thread owns it and the rest of the
//! host talks to it through channels. A guest fault (trap, time or memory limit, an
//! invalid request) is recorded and cancels the run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Result, anyhow};

use super::caps::Grants;
use super::engine::CompiledScenario;
use super::instance::ScenarioInstance;
use super::sandbox::SandboxLimits;
use crate::cancel::Cancel;
use crate::client::request::{PreparedRequest, RequestEncoder};
use crate::model::{GuestOutcome, Info, Plan, Stage};
use crate::report::StageReport;

/// Requests asked of the guest per call.
const BATCH: u32 = 32;
/// How long a blocked producer waits before checking for outcomes and stop requests.
const POLL: Duration = Duration::from_millis(5);
/// How long a producer with a full queue naps before looking again. Queues hold at
/// least tens of milliseconds of requests at their rate (see `load::queue_capacity`).
const NAP: Duration = Duration::from_micros(500);

enum Command {
    Stage { index: u32, tx: flume::Sender<PreparedRequest>, stop: Arc<AtomicBool>, limit: Option<u64> },
    NextStage { results: Vec<StageReport>, reply: mpsc::Sender<Result<Option<Stage>>> },
    Shutdown,
}

/// Handle to the producer thread.
pub struct Producer {
    commands: mpsc::Sender<Command>,
    thread: Option<JoinHandle<()>>,
    fault: Arc<Mutex<Option<anyhow::Error>>>,
    outcomes: Option<flume::Sender<GuestOutcome>>,
    pub info: Info,
    pub plan: Plan,
}

/// The receiving end of one stage's request queue. Dropping it ends production.
pub struct StageFeed {
    pub requests: flume::Receiver<PreparedRequest>,
    stop: Arc<AtomicBool>,
}

impl Drop for StageFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub struct ProducerConfig {
    pub limits: SandboxLimits,
    pub grants: Grants,
    pub seed: u64,
    pub params: String,
    pub show_debug: bool,
}

impl Producer {
    /// Instantiates the scenario on a new thread, runs `describe` and `configure`, and
    /// returns once the plan is known (or with the one-line reason it is not).
    pub fn spawn(
        compiled: CompiledScenario,
        config: ProducerConfig,
        encoder: RequestEncoder,
        cancel: Arc<Cancel>,
    ) -> Result<Self> {
        let (setup_tx, setup_rx) = mpsc::channel::<Result<(Info, Plan)>>();
        let (commands, command_rx) = mpsc::channel::<Command>();
        let (outcome_tx, outcome_rx) = flume::unbounded::<GuestOutcome>();
        let fault: Arc<Mutex<Option<anyhow::Error>>> = Arc::default();

        let thread = {
            let fault = fault.clone();
            std::thread::Builder::new().name("volley-scenario".into()).spawn(move || {
                let mut instance = match setup(&compiled, &config) {
                    Ok((instance, info, plan)) => {
                        let _ = setup_tx.send(Ok((info, plan)));
                        instance
                    }
                    Err(e) => {
                        let _ = setup_tx.send(Err(e));
                        return;
                    }
                };
                let mut worker = Worker { instance: &mut instance, encoder, outcomes: outcome_rx };
                if let Err(e) = worker.serve(command_rx) {
                    *fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    cancel.cancel();
                }
            })?
        };

        let (info, plan) = setup_rx
            .recv()
            .map_err(|_| anyhow!("the scenario thread ended during set-up"))??;
        let outcomes = plan.observe_outcomes.then_some(outcome_tx);
        Ok(Producer { commands, thread: Some(thread), fault, outcomes, info, plan })
    }

    /// Starts producing requests of stage `index` into a queue of `capacity`, at most
    /// `limit` of them.
    pub fn start_stage(&self, index: u32, capacity: usize, limit: Option<u64>) -> StageFeed {
        let (tx, requests) = flume::bounded(capacity.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let _ = self.commands.send(Command::Stage { index, tx, stop: stop.clone(), limit });
        StageFeed { requests, stop }
    }

    /// Adaptive plans: asks the scenario for the stage after `results` (blocking).
    pub fn next_stage(&self, results: Vec<StageReport>) -> Result<Option<Stage>> {
        let (reply, answer) = mpsc::channel();
        self.commands.send(Command::NextStage { results, reply }).map_err(|_| anyhow!("the scenario thread has ended"))?;
        match answer.recv() {
            Ok(r) => r,
            Err(_) => Err(self.take_fault().unwrap_or_else(|| anyhow!("the scenario thread has ended"))),
        }
    }

    /// Where completed requests go to reach the guest's `on-outcome`, if it asked.
    pub fn outcome_sink(&self) -> Option<flume::Sender<GuestOutcome>> {
        self.outcomes.clone()
    }

    /// The guest fault that stopped production, if any.
    pub fn take_fault(&self) -> Option<anyhow::Error> {
        self.fault.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Stops the thread after it has delivered pending outcomes.
    pub fn shutdown(mut self) -> Option<anyhow::Error> {
        self.outcomes = None;
        let _ = self.commands.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.take_fault()
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
    }
}

fn setup(compiled: &CompiledScenario, config: &ProducerConfig) -> Result<(ScenarioInstance, Info, Plan)> {
    let mut instance = ScenarioInstance::instantiate(compiled, config.limits, config.seed, &config.grants)?;
    instance.set_show_debug(config.show_debug);
    let info = instance.describe()?;
    let plan = instance.configure(&config.params)?;
    Ok((instance, info, plan))
}

struct Worker<'a> {
    instance: &'a mut ScenarioInstance,
    encoder: RequestEncoder,
    outcomes: flume::Receiver<GuestOutcome>,
}

impl Worker<'_> {
    fn serve(&mut self, commands: mpsc::Receiver<Command>) -> Result<()> {
        loop {
            match commands.recv_timeout(POLL) {
                Ok(Command::Stage { index, tx, stop, limit }) => self.produce(index, &tx, &stop, limit)?,
                Ok(Command::NextStage { results, reply }) => {
                    self.deliver_outcomes()?;
                    let r = self.instance.next_stage(&results);
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
    ) -> Result<()> {
        self.instance.enter_stage(stage);
        let mut seq = 0u64;
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
            let batch = self.instance.next_requests(stage, seq, want)?;
            if batch.requests.is_empty() && !batch.done {
                // Nothing yet (a session waits for its previous turn): ask again once
                // an outcome has arrived, or after a short while.
                match self.outcomes.recv_timeout(POLL) {
                    Ok(outcome) => self.instance.on_outcome(outcome)?,
                    Err(flume::RecvTimeoutError::Disconnected) => std::thread::sleep(POLL),
                    Err(flume::RecvTimeoutError::Timeout) => {}
                }
                continue;
            }
            for request in batch.requests {
                let prepared = self.encoder.encode(request, stage, seq).map_err(|e| {
                    anyhow!("scenario '{}' produced an invalid request (stage {stage}, seq {seq}): {e}", self.instance.label())
                })?;
                seq += 1;
                if !self.send(tx, prepared, stop)? {
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
    fn send(&mut self, tx: &flume::Sender<PreparedRequest>, mut item: PreparedRequest, stop: &AtomicBool) -> Result<bool> {
        loop {
            match tx.try_send(item) {
                Ok(()) => return Ok(true),
                Err(flume::TrySendError::Disconnected(_)) => return Ok(false),
                Err(flume::TrySendError::Full(back)) => {
                    item = back;
                    let half = tx.capacity().unwrap_or(1) / 2;
                    while tx.len() > half && !tx.is_disconnected() {
                        if stop.load(Ordering::Relaxed) {
                            return Ok(false);
                        }
                        self.deliver_outcomes()?;
                        std::thread::sleep(NAP);
                    }
                }
            }
        }
    }

    fn deliver_outcomes(&mut self) -> Result<()> {
        while let Ok(outcome) = self.outcomes.try_recv() {
            self.instance.on_outcome(outcome)?;
        }
        Ok(())
    }
}
