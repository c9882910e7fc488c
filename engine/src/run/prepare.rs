//! A run's first phase, before the target sees anything: its options checked, every
//! destination (the target, the probes, the hooks) allowed by the egress gate, and the
//! workload configured, its plan valid and within the policy.

use volley_core::{Info, Plan, Workload, WorkloadIdentity};
use volley_net::{Checked, Egress};

use super::clock::SHUTDOWN_STEP;
use super::probes::{ProbeError, RunProbes};
use super::stopped::StoppedEarly;
use super::{Options, RunError};
use crate::Fault;
use crate::hooks::{HookError, Hooks};
use crate::producer::Producer;

/// A run ready to start: everything checked, its workload configured.
pub(super) struct Prepared {
    pub(super) options: Options,
    pub(super) identity: WorkloadIdentity,
    pub(super) run_id: String,
    pub(super) egress: Egress,
    /// The run's target, allowed by the gate.
    pub(super) target: Checked,
    pub(super) probes: RunProbes,
    pub(super) hooks: Hooks,
    pub(super) producer: Producer,
    pub(super) plan: Plan,
    pub(super) info: Info,
}

/// Checks the run and configures its workload. A run the policy refuses, or whose
/// workload faults while setting up, is [`StoppedEarly`] (its report still goes to the
/// outputs); options it cannot use are an error.
pub(super) async fn prepare(
    options: Options,
    workload: Box<dyn Workload>,
    hooks: Vec<volley_core::hooks::ServerHook>,
) -> Result<Result<Prepared, StoppedEarly>, RunError> {
    if !options.params.is_object() {
        return Err(RunError::Options("--params must be a JSON object, e.g. '{\"rate\": 5}'".into()));
    }
    let identity = workload.identity();
    let run_id = options.run_id.clone().unwrap_or_else(|| super::default_run_id(&identity.label));
    // A refusal or a fault from here on is a run that stopped early, with its report.
    macro_rules! stopped {
        ($fault:expr, $info:expr, $plan:expr) => {{
            let info = $info.unwrap_or_else(|| Info::new(identity.label.clone(), "", ""));
            return Ok(Err(StoppedEarly::new($fault, &identity, info, options, $plan, run_id)));
        }};
    }

    // Where traffic may go, before anything at all: the target, then the probes.
    let mut egress = volley_net::Egress::new(options.policy.clone());
    let target = match egress.target(options.target.destination()) {
        Ok(c) => c,
        Err(volley_net::NetError::Refused(r)) => stopped!(Fault::Refused(r), None, Plan::new(Vec::new())),
        Err(e) => return Err(e.into()),
    };
    let probes = match RunProbes::check(&egress, &options) {
        Ok(p) => p,
        Err(ProbeError::Refused(r)) => stopped!(Fault::Refused(r), None, Plan::new(Vec::new())),
        Err(ProbeError::Unusable(e)) => return Err(e),
    };
    let hooks = match Hooks::check(&egress, options.target.destination(), options.server_kind, hooks, &options.headers) {
        Ok(h) => h,
        Err(HookError::Refused(r)) => stopped!(Fault::Refused(r), None, Plan::new(Vec::new())),
        Err(HookError::Options(e)) => return Err(RunError::Options(e)),
    };
    // The workload next: its plan is known, valid and within the policy before the
    // target sees anything (not even a model lookup).
    let producer = match Producer::spawn(workload, options.params.clone(), options.cancel.clone()).await {
        Ok(p) => p,
        // Parameters it refuses are the operator's bad input, not a run: one error.
        Err(e @ volley_core::WorkloadError::Rejected { .. }) => return Err(RunError::Workload(e)),
        Err(e) => stopped!(e.into(), None, Plan::new(Vec::new())),
    };
    let (plan, info) = (producer.plan.clone(), producer.info.clone());
    if let Err(r) = options.policy.check_plan(&info, &plan) {
        let _ = tokio::time::timeout(SHUTDOWN_STEP, producer.shutdown()).await;
        stopped!(Fault::Refused(r), Some(info), plan)
    }
    if options.shard.is_some() && plan.adaptive {
        let _ = tokio::time::timeout(SHUTDOWN_STEP, producer.shutdown()).await;
        return Err(RunError::Options(format!(
            "scenario '{}' decides its stages from the results so far (an adaptive plan); shards could not agree on them, so it cannot run with --shard",
            identity.label
        )));
    }
    Ok(Ok(Prepared { options, identity, run_id, egress, target, probes, hooks, producer, plan, info }))
}
