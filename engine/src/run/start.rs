//! A run's second phase: the server launched (`--launch`) and the target reached, the
//! probes asked before the run, the run's context described (its metadata), its clock
//! started (at `--start-at`), its outputs told, and the send path, the collector and the
//! samplers started.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use volley_core::hooks::HookWhen;
use volley_core::{DatasetInfo, Plan};
use volley_report::metadata::{LaunchMetadata, Metadata};
use volley_report::{LaunchReport, RunStart, ScenarioReport};

use super::clock::{RunClock, RunLimit, SHUTDOWN_STEP, wait_until};
use super::prepare::Prepared;
use super::probes::RunProbes;
use super::report::scenario_report;
use super::{Options, RunError};
use crate::client::exchange::SendContext;
use crate::client::pool::Pool;
use crate::client::request::RequestEncoder;
use crate::client::source::SourceAddrs;
use crate::collector::{self, Collected, CollectorConfig};
use crate::events;
use crate::hooks::Hooks;
use crate::lanes::Lanes;
use crate::launch::process::ServerProcess;
use crate::launch::{self, LaunchAt};
use crate::load::Driver;
use crate::producer::Producer;
use crate::sinks::Sinks;

/// How long the target gets to accept a first connection.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept for reuse.
const MAX_IDLE_CONNECTIONS: usize = 16_384;

/// A run under way: what its stages and its end need.
pub(super) struct Running {
    pub(super) options: Options,
    pub(super) producer: Producer,
    pub(super) plan: Plan,
    pub(super) hooks: Hooks,
    pub(super) probes: RunProbes,
    /// The send path; the last sender of events, so dropping it ends the collector.
    pub(super) driver: Driver,
    pub(super) collector: JoinHandle<Collected>,
    /// The server `--launch` started, and what its start took.
    pub(super) server: Option<(ServerProcess, LaunchReport)>,
    pub(super) clock: RunClock,
    pub(super) limit: RunLimit,
    pub(super) scenario: ScenarioReport,
    pub(super) datasets: Vec<DatasetInfo>,
    /// Known before the first request: shown at once, and in the report.
    pub(super) warnings: Vec<String>,
    pub(super) metadata: Metadata,
    /// TLS without verifying certificates (`--insecure-skip-verify`).
    pub(super) insecure_tls: bool,
}

/// What the start found out before the clock started.
struct Described {
    server: Option<(ServerProcess, LaunchReport)>,
    addr: SocketAddr,
    model: Option<String>,
    warnings: Vec<String>,
    metadata: Metadata,
    /// Whether sends are retried while a server launched with `--launch-at process` refuses
    /// them, and until when.
    refused_until: Option<Instant>,
}

/// Starts the run: nothing is measured before this returns, everything after it.
pub(super) async fn start(p: Prepared, mut sinks: Sinks) -> Result<Running, RunError> {
    let Prepared { options, identity, run_id, egress, target, mut probes, mut hooks, producer, plan, info } = p;
    let described = describe(&options, &egress, &target, &mut probes).await?;
    // The operator's hooks before the run (a reset prefix cache, a started profiler):
    // before its clock starts, and their failures shown with the start's warnings.
    hooks.fire(HookWhen::BeforeRun, None).await;
    let operator_headers: Vec<_> = options.headers.iter().map(|(n, _)| n.clone()).collect();
    let encoder = RequestEncoder::new(&options.target, described.model.clone(), options.policy.clone(), &operator_headers);
    producer.begin(encoder.with_session_header(options.session_header.clone()));

    if let Some(at) = options.start_at {
        wait_until(at, &options.cancel).await;
    }
    let clock = RunClock::start(described.server.as_ref().map(|(s, _)| s.started), options.start_at);
    let scenario = scenario_report(info, &identity);
    hooks.set_epoch(clock.epoch);
    let mut warnings = described.warnings;
    warnings.extend(hooks.take_warnings());
    sinks.start(&RunStart {
        run_id: &run_id,
        epoch: clock.epoch,
        scenario: &scenario,
        target: &options.target.url,
        model: described.model.as_deref(),
        plan: &plan,
        warnings: &warnings,
        metadata: Some(&described.metadata),
    });
    let (driver, collector, insecure_tls) =
        start_sending(&options, &producer, &mut probes, clock.epoch, sinks, described.addr, described.refused_until)?;
    let limit = RunLimit::start(&options.policy, options.cancel.clone());
    Ok(Running {
        producer,
        plan,
        hooks,
        probes,
        driver,
        collector,
        server: described.server,
        clock,
        limit,
        scenario,
        datasets: identity.datasets,
        warnings,
        metadata: described.metadata,
        insecure_tls,
        options,
    })
}

/// Launches the server (`--launch`; the run's clock then starts with its process),
/// reaches the target, asks the probes, and describes the run's context: what the
/// server says of itself, the launch command, and the load generator's machine.
async fn describe(
    options: &Options,
    egress: &volley_net::Egress,
    target: &volley_net::Checked,
    probes: &mut RunProbes,
) -> Result<Described, RunError> {
    let (server, refused_until) = match &options.launch {
        Some(l) => {
            let server = launch::start(l, egress, target).await.map_err(|e| RunError::Launch(format!("{e:#}")))?;
            let until = (l.at == LaunchAt::Process).then(|| server.0.started + l.timeout);
            (Some(server), until)
        }
        None => (None, None),
    };
    // The load generator's machine, read while the target is reached (NVML may take a
    // moment to load).
    let host_info = tokio::task::spawn_blocking(crate::probe::host::collect);
    let addr = match refused_until {
        Some(_) => target.resolve().await?,
        None => target.reach(REACH_TIMEOUT).await?,
    };
    let before = probes.before_run(options, refused_until.is_some()).await?;
    let metadata = Metadata {
        server: before.server,
        launch: options.launch.as_ref().map(|l| LaunchMetadata { command: l.command.clone() }),
        // NVML stuck in the driver costs the host's description, not the run.
        host: tokio::time::timeout(SHUTDOWN_STEP * 2, host_info).await.ok().and_then(Result::ok),
        shard_hosts: Vec::new(),
    };
    Ok(Described { server, addr, model: before.model, warnings: before.warnings, metadata, refused_until })
}

/// The collector (with the run's outputs), the samplers, and the send path, from `epoch`;
/// `refused_until`: sends are retried while a server launched with `--launch-at process`
/// refuses them. Returns the driver, the collector, and whether TLS goes unverified.
fn start_sending(
    options: &Options,
    producer: &Producer,
    probes: &mut RunProbes,
    epoch: Instant,
    sinks: Sinks,
    addr: SocketAddr,
    refused_until: Option<Instant>,
) -> Result<(Driver, JoinHandle<Collected>, bool), RunError> {
    // Before anything starts: an address that cannot be bound is the operator's bad input.
    let sources = SourceAddrs::new(options.source_addrs.clone());
    sources.check(addr).map_err(RunError::Options)?;
    let (events, events_rx) = events::channel();
    let collector = collector::spawn(
        CollectorConfig {
            epoch,
            outcomes: producer.outcome_sink(),
            tokenizer: options.tokenizer.clone(),
            sinks,
            max_tags: options.policy.max_tags as usize,
            max_models: options.policy.max_models as usize,
            cancel: options.cancel.clone(),
            watch: match options.abort_on_fail {
                true => options.thresholds.iter().filter(|t| t.watchable()).cloned().collect(),
                false => Vec::new(),
            },
        },
        events_rx,
    );
    let tls = match options.target.tls {
        true => Some((options.target.host.clone(), volley_net::Tls::operator()?)),
        false => None,
    };
    probes.start(epoch, &events);
    let lanes = Arc::new(Lanes::start(options.lanes).map_err(|e| RunError::Internal(format!("cannot start the send lanes: {e}")))?);
    let ctx = Arc::new(SendContext {
        // gRPC is HTTP/2 only: h2c by prior knowledge, or h2 by ALPN over TLS.
        pool: Pool::new(
            tls.clone(),
            addr,
            MAX_IDLE_CONNECTIONS,
            lanes.count(),
            (options.h2_prior_knowledge || options.target.grpc) && !options.target.tls,
            sources,
        ),
        authority: options.target.authority.clone(),
        headers: options.headers.clone(),
        timeout: options.request_timeout,
        cancel: options.cancel.clone(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(options.policy.max_in_flight as usize)),
        keep_text: options.tokenizer.is_some() || options.record_text,
        keep_body: options.record_text,
        retry_refused_until: refused_until,
    });
    let driver = Driver {
        ctx,
        lanes,
        events,
        max_stage: options.policy.max_stage(),
        max_queue_bytes: options.policy.max_queue_bytes as usize,
        max_idle: options.policy.max_idle(),
    };
    let insecure_tls = tls.is_some_and(|(_, t)| t.insecure);
    Ok((driver, collector, insecure_tls))
}
