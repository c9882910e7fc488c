//! The [`Scenario`] trait and the glue that exports an implementation as the
//! `volley:scenario/workload` interface.

use std::cell::RefCell;

use crate::bindings::volley::scenario::types::Batch;
use crate::{Info, Outcome, Params, Plan, Reaction, Request, Stage, StageResult};

/// What a scenario has to send next.
// Returned once per request and moved straight into the batch: boxing the request
// would add an allocation per request for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Next {
    /// This request.
    Send(Request),
    /// Nothing yet — e.g. every conversation waits for its previous turn. The host asks
    /// again after the next outcome (or shortly after).
    Wait,
    /// Nothing more in this stage.
    Done,
}

impl From<Option<Request>> for Next {
    fn from(r: Option<Request>) -> Self {
        r.map_or(Next::Done, Next::Send)
    }
}

/// Where a request sits in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestContext {
    /// Index of the stage in the plan.
    pub stage: u32,
    /// Sequence number of the request within its stage, from 0.
    pub seq: u64,
}

/// A benchmark scenario. One value lives for the whole run: the host creates it with
/// [`Scenario::configure`] and then asks it for requests, ahead of their send time.
pub trait Scenario: Sized + 'static {
    /// Name, version and a one-line description; see [`info!`](crate::info).
    fn describe() -> Info;

    /// Build the scenario from the operator's parameters. Return a one-line message on
    /// bad input; it is shown to the operator as is.
    fn configure(params: &Params) -> Result<Self, String>;

    /// The stages of the run.
    fn plan(&self) -> Plan;

    /// The next request of a stage; [`Next::Wait`] when nothing can be sent until an
    /// outcome arrives; [`Next::Done`] when the stage has nothing more to send.
    fn next_request(&mut self, ctx: &RequestContext) -> Next;

    /// A request completed. Called only when the plan sets `observe_outcomes`, by the
    /// default [`react`](Scenario::react).
    fn on_outcome(&mut self, _outcome: Outcome) {}

    /// A request completed (only when the plan sets `observe_outcomes`): what follows
    /// it. The reaction's requests continue the outcome's session — the next turn with
    /// the tool results, sub-agents fanned out — each sent its
    /// [`delay`](crate::Request::delay) after this outcome by the host's clock; its
    /// `end` closes the session's task ([`Reaction::end`]). A session left with nothing
    /// out and nothing following ends as failed. By default: [`on_outcome`]
    /// (Scenario::on_outcome), and nothing follows.
    fn react(&mut self, outcome: Outcome) -> Reaction {
        self.on_outcome(outcome);
        Reaction::none()
    }

    /// Adaptive plans ([`Plan::adaptive`](crate::Plan::adaptive)): the stage after
    /// `results` (one per stage run so far, warm-up and cool-down excluded), or `None`
    /// to end the run.
    fn next_stage(&mut self, _results: &[StageResult]) -> Option<Stage> {
        None
    }
}

/// Holds the configured scenario between guest calls.
///
/// A component instance is single-threaded and the host never re-enters a guest, so
/// the `Sync` claim holds; the `RefCell` still catches a violation instead of allowing
/// aliasing.
pub struct Slot<T>(RefCell<Option<T>>);

// SAFETY: wasm32 components run on one thread; see the type's docs.
unsafe impl<T> Sync for Slot<T> {}

impl<T> Slot<T> {
    pub const fn new() -> Self {
        Slot(RefCell::new(None))
    }

    /// Runs `f` on the configured scenario; `None` before `configure`.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.0.borrow_mut().as_mut().map(f)
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// `configure` export: parse the parameters, build the scenario, keep it, return its plan.
pub fn configure<S: Scenario>(slot: &Slot<S>, params: &str) -> Result<Plan, String> {
    let params = Params::parse(params)?;
    let scenario = S::configure(&params)?;
    let plan = scenario.plan();
    *slot.0.borrow_mut() = Some(scenario);
    Ok(plan)
}

/// `next-requests` export: up to `max` requests from `seq` on.
pub fn next_requests<S: Scenario>(slot: &Slot<S>, stage: u32, seq: u64, max: u32) -> Batch {
    slot.with(|s| {
        let mut requests = Vec::with_capacity(max as usize);
        for i in 0..u64::from(max) {
            match s.next_request(&RequestContext { stage, seq: seq + i }) {
                Next::Send(r) => requests.push(r),
                Next::Wait => return Batch { requests, done: false },
                Next::Done => return Batch { requests, done: true },
            }
        }
        Batch { requests, done: false }
    })
    .unwrap_or(Batch { requests: Vec::new(), done: true })
}

/// `next-stage` export.
pub fn next_stage<S: Scenario>(slot: &Slot<S>, results: Vec<StageResult>) -> Option<Stage> {
    slot.with(|s| s.next_stage(&results)).flatten()
}

/// Exports a [`Scenario`] implementation as this component's `workload`.
///
/// Use it once per crate, at the top level: `volley_sdk::export_scenario!(MyScenario);`
#[macro_export]
macro_rules! export_scenario {
    ($ty:ty) => {
        const _: () = {
            static SLOT: $crate::__private::Slot<$ty> = $crate::__private::Slot::new();

            struct VolleyWorkload;

            impl $crate::__private::Guest for VolleyWorkload {
                fn describe() -> $crate::Info {
                    <$ty as $crate::Scenario>::describe()
                }
                fn configure(params: String) -> Result<$crate::Plan, String> {
                    $crate::__private::configure::<$ty>(&SLOT, &params)
                }
                fn next_requests(stage: u32, seq: u64, max: u32) -> $crate::__private::Batch {
                    $crate::__private::next_requests::<$ty>(&SLOT, stage, seq, max)
                }
                fn on_outcome(outcome: $crate::Outcome) -> $crate::Reaction {
                    SLOT.with(|s| $crate::Scenario::react(s, outcome)).unwrap_or_else($crate::Reaction::none)
                }
                fn next_stage(results: Vec<$crate::StageResult>) -> Option<$crate::Stage> {
                    $crate::__private::next_stage::<$ty>(&SLOT, results)
                }
            }

    $crate::bindings::__export_scenario_world!(VolleyWorkload with_types_in $crate::bindings);
        };
    };
}
