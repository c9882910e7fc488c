//! A run that stopped before anything was sent (the policy refused it, or its workload
//! faulted while setting up): its (empty) report still goes to every output, so the
//! reason is on record.

use std::time::Instant;

use volley_core::{Info, Plan, WorkloadIdentity};
use volley_report::{Report, RunStart, ScenarioReport};

use super::clock::{FINISH_OUTPUTS, unix_ms};
use super::report::{run_info, scenario_report};
use super::{Options, RunOutcome};
use crate::Fault;
use crate::sinks::Sinks;

/// Why the run stopped, and what its report says.
pub(super) struct StoppedEarly {
    fault: Fault,
    scenario: ScenarioReport,
    options: Options,
    plan: Plan,
    run_id: String,
}

impl StoppedEarly {
    pub(super) fn new(fault: Fault, identity: &WorkloadIdentity, info: Info, options: Options, plan: Plan, run_id: String) -> Self {
        StoppedEarly { fault, scenario: scenario_report(info, identity), options, plan, run_id }
    }

    /// The outputs hear of the run's start and get its report; the fault is the outcome's.
    pub(super) async fn outcome(self, mut sinks: Sinks) -> RunOutcome {
        let StoppedEarly { fault, scenario, options, plan, run_id } = self;
        let epoch = Instant::now();
        sinks.start(&RunStart {
            run_id: &run_id,
            epoch,
            scenario: &scenario,
            target: &options.target.url,
            model: None,
            plan: &plan,
            warnings: &[],
            metadata: None,
        });
        let report = Report::new(run_info(scenario, &options, Vec::new(), unix_ms(), epoch, true));
        let (report, sink_errors) = sinks.finish(report, FINISH_OUTPUTS).await;
        RunOutcome { report, fault: Some(fault), records: 0, connections_opened: 0, stale_retries: 0, sink_errors }
    }
}
