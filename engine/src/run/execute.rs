//! The body of [`Run::execute`], as its phases: prepare (check the run against the
//! policy and configure its workload, before the target sees anything), start (launch
//! and reach the target, ask the probes, start the clock, the outputs and the send
//! path), the stages, and finish (collect every record and assemble the report — also
//! when the run is interrupted, its workload faults or the policy stops it). Once
//! anything has been sent, every wait is bounded, so an interrupted run ends within
//! seconds with its report.
//!
//! The outputs' lifecycle is [`Sinks`]'s, the probes' [`RunProbes`](super::probes::RunProbes)'s,
//! and the report's field list volley-report's ([`volley_report::Report::new`]).

use super::{Run, RunError, RunOutcome, finish, prepare, stages, start};
use crate::sinks::Sinks;

pub(super) async fn execute(run: Run) -> Result<RunOutcome, RunError> {
    let Run { workload, sinks, hooks, options } = run;
    let sinks = Sinks::new(sinks);
    let prepared = match prepare::prepare(options, workload, hooks).await? {
        Ok(p) => p,
        // Refused by the policy, or its workload faulted while setting up: the report
        // still goes to every output.
        Err(stopped) => return Ok(stopped.outcome(sinks).await),
    };
    let mut running = start::start(prepared, sinks).await?;
    let stages = stages::run_stages(&mut running).await?;
    finish::finish(running, stages).await
}
