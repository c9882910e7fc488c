//! The sessions of one stage, as its driver and the producer share them: the follow-ups
//! the scenario returned from `on_outcome` (each to be sent at its outcome's completion
//! plus its delay), how many session requests are still in play, the open sessions of a
//! `sessions` load (one slot each), and the end of each session's task.
//!
//! "In play" counts follow-ups waiting to be sent plus session requests sent whose
//! outcome the scenario has not yet answered. The producer adds a reaction's follow-ups
//! before it takes away the outcome that caused them, and a follow-up moves from waiting
//! to sent without a change, so the count is 0 only when nothing of the stage's sessions
//! can still happen (given no more first requests): that is when a stage with sessions
//! is over.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use volley_core::TaskEnd;

use crate::client::request::PreparedRequest;
use crate::events::{Event, EventTx};

/// Returns once `holds` is true, re-checked each time `notify` wakes its waiters (the
/// wait is registered before the check, so a wake-up between the two is not lost).
pub(crate) async fn wait_until(notify: &Notify, holds: impl Fn() -> bool) {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if holds() {
            return;
        }
        notified.await;
    }
}

/// A request that continues a session, due at `planned`.
pub(crate) struct FollowUp {
    pub planned: Instant,
    pub request: PreparedRequest,
}

pub(crate) struct SessionBoard {
    stage: u32,
    tx: flume::Sender<FollowUp>,
    rx: flume::Receiver<FollowUp>,
    live: AtomicI64,
    settled: Notify,
    /// A `sessions` load: a permit per open session, held until its task ends.
    slots: Option<Arc<Semaphore>>,
    held: Mutex<HashMap<u64, OwnedSemaphorePermit>>,
    /// Weak: the producer keeps the board after its stage, and the collector ends when
    /// the last strong sender is gone (the driver holds one while the stage runs).
    events: tokio::sync::mpsc::WeakUnboundedSender<Event>,
}

impl SessionBoard {
    /// The board of stage `stage`; `slots` is a `sessions` load's N.
    pub fn new(stage: u32, slots: Option<u32>, events: EventTx) -> Arc<Self> {
        let (tx, rx) = flume::unbounded();
        Arc::new(SessionBoard {
            stage,
            tx,
            rx,
            live: AtomicI64::new(0),
            settled: Notify::new(),
            slots: slots.map(|n| Arc::new(Semaphore::new(n as usize))),
            held: Mutex::default(),
            events: events.downgrade(),
        })
    }

    // The driver's side.

    /// A `sessions` load's slots.
    pub fn slots(&self) -> Option<Arc<Semaphore>> {
        self.slots.clone()
    }

    /// `session` opened, holding `slot` until its task ends; `false` if it is open
    /// already (the slot is then given back).
    pub fn open(&self, session: u64, slot: OwnedSemaphorePermit) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.contains_key(&session) {
            return false;
        }
        held.insert(session, slot);
        true
    }

    /// A request taken from the stage's own queue is being sent: a session's counts in
    /// play until the scenario has answered its outcome.
    pub fn sending(&self, req: &PreparedRequest) {
        if req.session.is_some() {
            self.live.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Follow-ups as they come.
    pub fn follow_ups(&self) -> &flume::Receiver<FollowUp> {
        &self.rx
    }

    /// `n` follow-ups will never be sent (the run was cancelled, or the policy's longest
    /// stage passed).
    pub fn dropped(&self, n: usize) {
        self.settle_by(n as i64);
    }

    /// Returns once nothing is in play.
    pub async fn settled(&self) {
        wait_until(&self.settled, || self.is_settled()).await;
    }

    /// Nothing in play now.
    pub fn is_settled(&self) -> bool {
        self.live.load(Ordering::Acquire) <= 0
    }

    // The producer's side.

    /// A reaction's follow-up, due at `planned`.
    pub fn follow_up(&self, planned: Instant, request: PreparedRequest) {
        self.live.fetch_add(1, Ordering::AcqRel);
        if self.tx.send(FollowUp { planned, request }).is_err() {
            self.settle_by(1);
        }
    }

    /// The scenario answered the outcome of one of this stage's session requests.
    pub fn answered(&self) {
        self.settle_by(1);
    }

    /// `session`'s task ended: its slot is free and the collector closes its task.
    pub fn ended(&self, session: u64, end: TaskEnd) {
        let slot = self.held.lock().unwrap_or_else(|p| p.into_inner()).remove(&session);
        drop(slot);
        if let Some(events) = self.events.upgrade() {
            let _ = events.send(Event::TaskEnded { stage: self.stage, session, end });
        }
    }

    fn settle_by(&self, n: i64) {
        if self.live.fetch_sub(n, Ordering::AcqRel) - n <= 0 {
            self.settled.notify_waiters();
        }
    }
}
