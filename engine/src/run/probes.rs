//! The operator's probes around a run, behind one type ([`RunProbes`]): the target's
//! model list, what the server says of itself (its metadata), Triton's statistics before
//! and after each stage, the server's Prometheus metrics (`--server-metrics`) and this
//! machine's GPUs (`--gpu-metrics`). The run calls it at its moments only — checked
//! before anything is sent, before the run, at the epoch, before and after each stage,
//! after the last one, at the end — and what the probes read annotates the stages'
//! reports and the run's ([`ProbeReadings`]).
//!
//! Every destination is allowed by the egress gate before anything is sent to it
//! ([`RunProbes::check`]); every answer is read by the bounded reader
//! (`crate::probe::answer`); a wrong `--server-metrics` URL is one line before anything
//! is sent.

use std::time::{Duration, Instant};

use volley_core::hooks::ServerKind;
use volley_core::text::printable;
use volley_net::{Checked, Egress, Kind};
use volley_report::gpu::{GpuReport, tokens_per_joule};
use volley_report::metadata::ServerMetadata;
use volley_report::server::{Scrapes, TritonStats};
use volley_report::{Report, StageReport};

use super::clock::SHUTDOWN_STEP;
use super::{Options, RunError, ServerMetrics};
use crate::events::{Event, EventTx};
use crate::probe::answer::{self, METRICS_BYTES};
use crate::probe::gpu::{GpuSampler, OnRound};
use crate::probe::prometheus::{DEFAULT_PREFIXES, Scraper};
use crate::probe::triton::{self, ModelRef};
use crate::probe::{models, server_info};

/// How long `--server-metrics` gets to answer its first look.
const FIRST_LOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a probe's destination cannot be used.
pub(super) enum ProbeError {
    /// The policy does not allow it: a refusal, reported like a refused target (one line
    /// naming the key, the report written).
    Refused(volley_core::Refusal),
    /// It is no destination (a dot segment, user info…): the operator's bad input.
    Unusable(RunError),
}

impl ProbeError {
    /// `e` for the probe named `flag`.
    fn from(e: volley_net::NetError, flag: String) -> ProbeError {
        match e {
            volley_net::NetError::Refused(r) => ProbeError::Refused(r),
            other => ProbeError::Unusable(RunError::Probe(format!("{flag}: {other}"))),
        }
    }
}

/// What the probes learnt before the run.
pub(super) struct BeforeRun {
    /// The model requests default to: the operator's, else the target's first.
    pub(super) model: Option<String>,
    /// A model lookup that failed (the run goes on without a default model).
    pub(super) warnings: Vec<String>,
    /// What the server said of itself, unless it is asked after the run.
    pub(super) server: Option<ServerMetadata>,
}

/// The run's probes: where each goes (checked), and what they have read so far.
pub(super) struct RunProbes {
    egress: Egress,
    /// The target's `/v1/models`.
    model_list: Checked,
    /// Each `--triton-stats` model and its statistics on the target.
    triton: Vec<(ModelRef, Checked)>,
    /// `--server-metrics`, and how to scrape it.
    metrics: Option<(Checked, ServerMetrics)>,
    gpu_interval: Option<Duration>,
    server_kind: Option<ServerKind>,
    /// A gRPC port has no HTTP endpoints to ask what it is.
    ask_server: bool,
    /// The model whose KServe configuration the server's metadata asks for.
    server_model: Option<String>,
    /// Whether the server has been asked what it is.
    asked_server: bool,
    scraper: Option<Scraper>,
    gpu: Option<GpuSampler>,
    /// Triton's statistics read before the running stage.
    triton_before: Vec<Result<TritonStats, String>>,
    /// Per stage run: Triton's differences over it, and the probes' errors.
    triton_stages: Vec<(Vec<TritonStats>, Vec<String>)>,
}

impl RunProbes {
    /// The probes' destinations, checked by `egress` (which has checked the target);
    /// one line for the first that is refused, before anything is sent.
    pub(super) fn check(egress: &Egress, options: &Options) -> Result<RunProbes, ProbeError> {
        let on_target = |what: &'static str, path: &str| egress.on_target(what, path);
        let model_list = on_target("the model list", "/v1/models").map_err(|e| ProbeError::from(e, "the model list".into()))?;
        let triton = options
            .triton_stats
            .iter()
            .map(|m| {
                let to = on_target("--triton-stats", &m.stats_path())
                    .map_err(|e| ProbeError::from(e, format!("--triton-stats {}", printable(&m.model, 128))))?;
                Ok((m.clone(), to))
            })
            .collect::<Result<_, ProbeError>>()?;
        let metrics = match &options.server_metrics {
            Some(m) => {
                Some((egress.check_url(Kind::Probe, &m.url).map_err(|e| ProbeError::from(e, "--server-metrics".into()))?, m.clone()))
            }
            None => None,
        };
        Ok(RunProbes {
            egress: egress.clone(),
            model_list,
            triton,
            metrics,
            gpu_interval: options.gpu_interval,
            server_kind: options.server_kind,
            ask_server: !options.target.grpc,
            server_model: None,
            asked_server: false,
            scraper: None,
            gpu: None,
            triton_before: Vec::new(),
            triton_stages: Vec::new(),
        })
    }

    /// Before the run, once the target answers: the model (the operator's, else the first
    /// the target lists), every probe the operator asked for answering, and what the
    /// server says of itself. A server launched with `--launch-at process` (`cold`) is
    /// neither looked up nor asked now, so no probe delays a send of its cold start; it is
    /// asked after the last stage instead.
    pub(super) async fn before_run(&mut self, options: &Options, cold: bool) -> Result<BeforeRun, RunError> {
        let mut warnings = Vec::new();
        let model = match (&options.model, cold) {
            (Some(m), _) => Some(m.clone()),
            // A gRPC port has no /v1/models: KServe requests name their model.
            // A lookup that fails is a warning, not an error: the run goes on without a model.
            (None, false) if !options.target.grpc => match models::lookup(&self.model_list, options.policy.max_name_bytes as usize).await {
                Ok(m) => Some(m),
                Err(warning) => {
                    warnings.push(warning);
                    None
                }
            },
            (None, _) => None,
        };
        self.answer().await?;
        self.server_model = model.clone().or(self.triton.first().map(|(m, _)| m.model.clone()));
        let server = match self.ask_server && !cold {
            true => Some(self.ask_server_now().await),
            false => None,
        };
        Ok(BeforeRun { model, warnings, server })
    }

    /// Every probe the operator asked for answers.
    async fn answer(&self) -> Result<(), RunError> {
        for (m, to) in &self.triton {
            triton::read(to, m).await.map_err(|e| RunError::Probe(format!("--triton-stats {}: {e}", printable(&m.model, 128))))?;
        }
        if let Some((to, _)) = &self.metrics {
            let url = printable(&to.to_string(), 200);
            match answer::fetch(to, FIRST_LOOK_TIMEOUT, METRICS_BYTES).await {
                Ok((200, _)) => {}
                Ok((status, _)) => return Err(RunError::Probe(format!("--server-metrics {url} answered HTTP {status}"))),
                Err(e) => return Err(RunError::Probe(format!("--server-metrics {e}"))),
            }
        }
        Ok(())
    }

    async fn ask_server_now(&mut self) -> ServerMetadata {
        self.asked_server = true;
        server_info::collect(&self.egress, self.server_kind, self.server_model.as_deref()).await
    }

    /// The run's clock starts: the samplers start (`--server-metrics`, `--gpu-metrics`),
    /// times from `epoch`; each round of GPU readings also goes to the run's outputs.
    pub(super) fn start(&mut self, epoch: Instant, events: &EventTx) {
        self.scraper = self.metrics.as_ref().map(|(to, m)| {
            let prefixes =
                if m.prefixes.is_empty() { DEFAULT_PREFIXES.iter().map(|p| p.to_string()).collect() } else { m.prefixes.clone() };
            Scraper::start(to.clone(), m.interval, prefixes, epoch)
        });
        self.gpu = self.gpu_interval.map(|every| {
            // A weak sender: a sampler stuck in a driver call cannot keep the collector open.
            let live = events.downgrade();
            let on_round: OnRound = Box::new(move |points| {
                if let Some(tx) = live.upgrade() {
                    let _ = tx.send(Event::Gpu(points.to_vec()));
                }
            });
            GpuSampler::start(every, epoch, Some(on_round))
        });
    }

    /// A stage is about to start: Triton's statistics and a scrape, so the stage's
    /// differences cover it exactly.
    pub(super) async fn before_stage(&mut self) {
        self.triton_before = self.read_triton().await;
        if let Some(s) = &self.scraper {
            s.sample().await;
        }
    }

    /// The stage ended (`cancelled`: the run was interrupted, so nothing more is asked).
    pub(super) async fn after_stage(&mut self, cancelled: bool) {
        if let Some(s) = self.scraper.as_ref().filter(|_| !cancelled) {
            s.sample().await;
        }
        let after = if cancelled { Vec::new() } else { self.read_triton().await };
        self.triton_stages.push(triton_deltas(&self.triton_before, &after));
    }

    /// After the last stage, while a launched server still runs: what the server says
    /// of itself, if it was not asked before the run.
    pub(super) async fn after_run(&mut self) -> Option<ServerMetadata> {
        match self.ask_server && !self.asked_server {
            true => Some(self.ask_server_now().await),
            false => None,
        }
    }

    /// Stops the samplers and returns all the probes read. Each wait is bounded: NVML
    /// stuck in the driver, or a server that does not answer, costs its readings only.
    pub(super) async fn finish(self) -> ProbeReadings {
        let gpu = match self.gpu {
            Some(g) => tokio::time::timeout(SHUTDOWN_STEP, tokio::task::spawn_blocking(move || g.finish()))
                .await
                .map_or_else(|_| None, |joined| joined.ok()),
            None => None,
        };
        let scrapes = match self.scraper {
            Some(s) => tokio::time::timeout(SHUTDOWN_STEP, s.finish()).await.ok(),
            None => None,
        };
        ProbeReadings { triton: self.triton_stages, gpu, scrapes }
    }

    /// Triton statistics of each model, or the error reading them.
    async fn read_triton(&self) -> Vec<Result<TritonStats, String>> {
        let mut out = Vec::with_capacity(self.triton.len());
        for (m, to) in &self.triton {
            out.push(triton::read(to, m).await);
        }
        out
    }
}

/// What the probes read over the run.
pub(super) struct ProbeReadings {
    /// Per stage: Triton's differences and the probes' errors.
    triton: Vec<(Vec<TritonStats>, Vec<String>)>,
    gpu: Option<GpuReport>,
    scrapes: Option<Scrapes>,
}

impl ProbeReadings {
    /// Stage `index`'s report gets what the probes read while it ran, from `from_ms` to
    /// `to_ms` after the epoch.
    pub(super) fn annotate_stage(&mut self, index: usize, r: &mut StageReport, from_ms: f64, to_ms: f64) {
        if let Some(s) = &self.scrapes {
            r.server_metrics = s.window(from_ms, to_ms);
        }
        if let Some((triton, probe_errors)) = self.triton.get_mut(index) {
            r.triton = std::mem::take(triton);
            r.probe_errors = std::mem::take(probe_errors);
        }
        if let Some(g) = &self.gpu {
            r.gpu = g.window(from_ms, to_ms);
            r.output_tokens_per_joule = tokens_per_joule(r.output_tokens.total, &r.gpu);
        }
    }

    /// The run's report gets the whole series, and the scrapes' warnings after its own.
    pub(super) fn annotate_run(self, report: &mut Report) {
        report.warnings.extend(self.scrapes.as_ref().map(crate::probe::prometheus::warnings).unwrap_or_default());
        report.server_metrics = self.scrapes;
        report.gpu = self.gpu;
    }
}

/// Per-model differences between two reads, and the errors of either.
fn triton_deltas(before: &[Result<TritonStats, String>], after: &[Result<TritonStats, String>]) -> (Vec<TritonStats>, Vec<String>) {
    let (mut deltas, mut errors) = (Vec::new(), Vec::new());
    for (b, a) in before.iter().zip(after) {
        match (b, a) {
            (Ok(b), Ok(a)) => deltas.push(a.since(b)),
            (Err(e), _) | (_, Err(e)) => errors.push(e.clone()),
        }
    }
    (deltas, errors)
}
