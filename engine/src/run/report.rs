//! The run's report, assembled by volley-report's constructor ([`Report::new`], which
//! lists its fields once) from what the phases left: who ran, against what, when and
//! for how long, and this process's footprint.

use std::time::Instant;

use volley_core::{DatasetInfo, Info, WorkloadIdentity};
use volley_report::{HostReport, RunInfo, ScenarioReport};

use super::Options;

/// The report's identity of the scenario.
pub(super) fn scenario_report(info: Info, identity: &WorkloadIdentity) -> ScenarioReport {
    ScenarioReport { info, source: identity.source.clone(), digest: identity.digest.clone(), wit: identity.wit.clone() }
}

/// What the report says of the run itself, as it ends: its duration is from `epoch` to
/// now, its footprint this process's peak so far.
pub(super) fn run_info(
    scenario: ScenarioReport,
    options: &Options,
    datasets: Vec<DatasetInfo>,
    started_unix_ms: u64,
    epoch: Instant,
    interrupted: bool,
) -> RunInfo {
    RunInfo {
        scenario,
        target: options.target.url.clone(),
        seed: options.seed,
        params: options.params.clone(),
        started_unix_ms,
        duration_s: (epoch.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        interrupted,
        datasets,
        host: HostReport { peak_rss_mib: crate::peak_rss_bytes() as f64 / (1 << 20) as f64 },
    }
}
