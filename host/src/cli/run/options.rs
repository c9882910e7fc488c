//! `volley run`'s options resolved once (the high level, as ripgrep's `HiArgs` is to its
//! `LowArgs`): [`RunOptions::resolve`] checks every flag and turns it into the typed
//! value the library takes — the target, TLS settings, headers, the scenario to load,
//! grants, limits, outputs, exporters, probes, launch, thresholds, shard, start instant
//! and trials — in one function, before anything is loaded or sent. What runs afterwards
//! (one run, `--repeat`, the sinks) reads only these values, never a raw flag.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Result, anyhow, bail};
use volley::core::hooks::{HookAction, HookWhen, ServerHook, ServerKind};
use volley::core::{Policy, Shard};
use volley::data::OnError;
use volley::engine::{HeaderName, HeaderValue, Launch, LaunchAt, ModelRef, ServerMetrics};
use volley::export::{OtlpOptions, Transport};
use volley::net::{Target, Tls, TlsOptions};
use volley::report::threshold::Threshold;

use super::super::scenario::{ScenarioSpec, parse_params, sandbox_limits};
use super::args::{DatasetErrors, Http2Arg, LaunchArgs, LaunchAtArg, OutputArgs, ProbeArgs, ResetAt, RunArgs};

/// Most trials one `--repeat` runs.
pub(crate) const MAX_TRIALS: u32 = 1000;

/// Everything one `volley run` does, checked and typed.
#[derive(Clone)]
pub(crate) struct RunOptions {
    /// The scenario to load: source, parameters, digest pin, seed, sandbox limits.
    pub scenario: ScenarioSpec,
    pub target: Target,
    /// The process's TLS settings (targets and probes share them), built from the files.
    pub tls: Tls,
    /// Speak h2c to a plain-http target (`--http2 on`).
    pub http2_prior_knowledge: bool,
    /// `--source-addr`: the local addresses connections come from, in turn.
    pub source_addrs: Vec<std::net::IpAddr>,
    /// `--header`s, and `VOLLEY_API_KEY` as `Authorization: Bearer`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `--session-header`: the header each session request carries its session id in.
    pub session_header: Option<HeaderName>,
    pub model: Option<String>,
    pub request_timeout: Duration,
    pub threads: Option<usize>,
    /// What the scenario is granted: loaded once, before the first trial.
    pub grants: GrantOptions,
    pub thresholds: Vec<Threshold>,
    /// `--baseline`: the stages the thresholds' `baseline` bounds read.
    pub baseline: Option<Vec<volley::report::schema::StageReport>>,
    pub abort_on_fail: bool,
    pub outputs: Outputs,
    pub probes: Probes,
    pub launch: Option<LaunchOptions>,
    pub shard: Option<Shard>,
    pub start_at: Option<SystemTime>,
    pub trials: Trials,
    /// `--hook`s (and their shorthands), in order, and `--server-kind`.
    pub hooks: Vec<ServerHook>,
    pub server_kind: Option<ServerKind>,
}

/// `--tokenizer` and `--dataset`s, read when the run loads them.
#[derive(Clone)]
pub(crate) struct GrantOptions {
    pub tokenizer: Option<PathBuf>,
    pub datasets: Vec<String>,
    pub on_error: OnError,
}

/// Where the results go and who else hears of them.
#[derive(Clone)]
pub(crate) struct Outputs {
    /// `--out` as given (`{shard}` not yet replaced); None: `results/<scenario>-<time>`.
    pub dir: Option<PathBuf>,
    pub record_text: bool,
    /// The start, stage and end lines on stderr (not `--quiet`).
    pub progress: bool,
    pub prometheus: Option<(SocketAddr, Duration)>,
    pub otlp: Option<OtlpOptions>,
    /// The run store and the run's labels; None with `--no-store`.
    pub store: Option<crate::cli::runs::Kept>,
}

/// The server's and this machine's figures read beside the requests.
#[derive(Clone, Default)]
pub(crate) struct Probes {
    pub server_metrics: Option<ServerMetrics>,
    pub gpu_metrics: Option<Duration>,
    pub triton: Vec<ModelRef>,
}

/// `--launch`: everything but the log, which goes into the run's output directory.
#[derive(Clone)]
pub(crate) struct LaunchOptions {
    pub command: String,
    pub at: LaunchAt,
    pub ready_path: String,
    pub timeout: Duration,
}

/// `--repeat N`: how many times the plan runs, and with which seeds.
#[derive(Clone, Copy)]
pub(crate) struct Trials {
    pub count: u32,
    pub same_seed: bool,
}

impl RunOptions {
    /// Checks every flag of `a` against `policy` and resolves it; the first mistake is
    /// one line naming the flag.
    pub(crate) fn resolve(a: RunArgs, policy: &Policy) -> Result<RunOptions> {
        let target = Target::parse(&a.server.target)?;
        let tls = Tls::new(&TlsOptions {
            ca_certs: a.server.ca_certs.clone(),
            client_cert: a.server.client_cert.clone(),
            client_key: a.server.client_key.clone(),
            insecure_skip_verify: a.server.insecure_skip_verify,
            alpn: match a.server.http2 {
                Http2Arg::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
                Http2Arg::On => vec![b"h2".to_vec()],
                Http2Arg::Off => vec![b"http/1.1".to_vec()],
            },
        })?;
        let headers = headers(&a.server.headers)?;
        let session_header = match &a.server.session_header {
            None => None,
            Some(name) => {
                let h = HeaderName::from_bytes(name.trim().as_bytes())
                    .map_err(|_| anyhow!("--session-header: '{}' is not a header name", volley::core::text::printable(name, 64)))?;
                if headers.iter().any(|(n, _)| *n == h) {
                    bail!("--session-header {h} is also given with --header; name another header");
                }
                Some(h)
            }
        };
        let t = a.server.timeout_s;
        if !(t.is_finite() && t > 0.0 && t <= MAX_SECONDS) {
            bail!("--timeout-s must be a positive number of seconds (at most a day)");
        }
        let params = parse_params(&a.load.params)?;
        let limits = sandbox_limits(a.sandbox.guest_timeout_ms, a.sandbox.guest_memory_mib, policy)?;
        if let Some(d) = &a.load.digest
            && !(d.starts_with("sha256:") && d.len() == 71 && d[7..].bytes().all(|b| b.is_ascii_hexdigit()))
        {
            bail!("--digest '{d}' must look like sha256:<64 hex digits>");
        }
        let trials = Trials { count: a.load.repeat, same_seed: a.load.repeat_same_seed };
        if trials.count == 0 || trials.count > MAX_TRIALS {
            bail!("--repeat must be from 1 to {MAX_TRIALS}");
        }
        let thresholds = a.pass.thresholds.iter().map(|t| Threshold::parse(t)).collect::<Result<Vec<_>, _>>()?;
        if a.pass.abort_on_fail && thresholds.is_empty() {
            bail!("--abort-on-fail needs at least one --threshold");
        }
        let baseline = baseline_stages(&thresholds, a.pass.baseline.as_deref(), a.outputs.keep.store.as_deref(), policy)?;
        let launch = launch(&a.launch)?;
        let start_at = a.cluster.start_at.as_deref().map(start_instant).transpose()?;
        if start_at.is_some() && (launch.is_some() || trials.count > 1) {
            bail!("--start-at does not go with --launch or --repeat");
        }
        let shard = match a.cluster.shard.as_deref() {
            None => None,
            Some("auto") => Some(Shard::from_env(|k| std::env::var(k).ok()).map_err(|e| anyhow!(e))?),
            Some(spec) => Some(Shard::parse(spec).map_err(|e| anyhow!(e))?),
        };
        if shard.is_some() && (launch.is_some() || trials.count > 1) {
            bail!("--shard does not go with --launch or --repeat");
        }
        let (hooks, server_kind) = hooks(&a.probes)?;
        Ok(RunOptions {
            hooks,
            server_kind,
            scenario: ScenarioSpec {
                source: a.scenario,
                params,
                digest: a.load.digest,
                seed: a.load.seed,
                limits,
                show_debug: a.load.scenario_debug,
                quiet: a.quiet,
            },
            target,
            tls,
            http2_prior_knowledge: a.server.http2 == Http2Arg::On,
            source_addrs: super::source_addrs::flatten(a.server.source_addrs)?,
            headers,
            session_header,
            model: a.server.model,
            request_timeout: Duration::from_secs_f64(t),
            threads: a.server.threads.map(|n| n as usize),
            grants: GrantOptions {
                tokenizer: a.load.tokenizer,
                datasets: a.load.datasets,
                on_error: match a.load.dataset_errors {
                    DatasetErrors::Fail => OnError::Fail,
                    DatasetErrors::Skip => OnError::Skip,
                },
            },
            thresholds,
            baseline,
            abort_on_fail: a.pass.abort_on_fail,
            outputs: outputs(a.outputs, !a.quiet)?,
            probes: probes(a.probes)?,
            launch,
            shard,
            start_at,
            trials,
        })
    }

    /// The options of trial `k` (0-based) of `--repeat`: its seed, and its directory
    /// `trial-K` under `base`.
    pub(crate) fn trial(&self, k: u32, base: &Path) -> RunOptions {
        let mut trial = self.clone();
        trial.scenario.seed = volley::report::trials::trial_seed(self.scenario.seed, k, self.trials.same_seed);
        trial.outputs.dir = Some(base.join(format!("trial-{}", k + 1)));
        trial
    }

    /// The run's output directory, once the scenario's label is known: `--out` (with
    /// `{shard}` replaced by this shard's index), else `results/<label>-<UTC time>`.
    pub(crate) fn out_dir(&self, label: &str) -> PathBuf {
        let dir = self
            .outputs
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(format!("{label}-{}", volley::core::time::utc_stamp(SystemTime::now()))));
        // `{shard}` in --out is this shard's index: one directory per shard from one flag.
        match (self.shard, dir.to_str()) {
            (Some(s), Some(text)) if text.contains("{shard}") => PathBuf::from(text.replace("{shard}", &s.index.to_string())),
            _ => dir,
        }
    }

    /// `--launch`, with the server's log in the output directory.
    pub(crate) fn launch_in(&self, out_dir: &Path) -> Option<Launch> {
        let l = self.launch.as_ref()?;
        Some(Launch {
            command: l.command.clone(),
            at: l.at,
            ready_path: l.ready_path.clone(),
            timeout: l.timeout,
            log: out_dir.join("server.log"),
        })
    }
}

/// Longest of the durations given in seconds (a day): a larger one is a mistake, and
/// `Duration::from_secs_f64` would panic on an absurd one.
const MAX_SECONDS: f64 = 86_400.0;

/// The baseline's stages when a threshold compares with one: `--baseline` is then
/// required, and read once, before anything runs.
pub(crate) fn baseline_stages(
    thresholds: &[Threshold],
    reference: Option<&str>,
    store: Option<&str>,
    policy: &Policy,
) -> Result<Option<Vec<volley::report::schema::StageReport>>> {
    match (thresholds.iter().find(|t| t.needs_baseline()), reference) {
        (Some(t), None) => {
            bail!("--threshold '{}' compares with a baseline: name one with --baseline REF (a run directory or a stored run)", t.expr)
        }
        (_, Some(r)) => Ok(Some(super::super::runs::baseline(r, store, policy)?.stages)),
        (None, None) => Ok(None),
    }
}

fn outputs(a: OutputArgs, progress: bool) -> Result<Outputs> {
    let linger = a.prometheus_linger_s;
    if !(linger.is_finite() && (0.0..=MAX_SECONDS).contains(&linger)) {
        bail!("--prometheus-linger-s must be a non-negative number of seconds (at most a day)");
    }
    let otlp = if a.otlp || a.otlp_endpoint.is_some() {
        let headers = a
            .otlp_headers
            .iter()
            .map(|h| {
                h.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| anyhow!("--otlp-header '{h}' must look like NAME=VALUE"))
            })
            .collect::<Result<Vec<_>>>()?;
        let transport = Transport::choose(a.otlp_protocol.as_deref())?;
        if let Some(e) = &a.otlp_endpoint {
            if !e.starts_with("http://") && !e.starts_with("https://") {
                bail!("--otlp-endpoint '{e}' must be an http:// or https:// URL");
            }
            if e.starts_with("https://") && transport == Transport::Grpc {
                bail!("--otlp-endpoint '{e}': OTLP/gRPC over TLS is not supported; use --otlp-protocol http/protobuf for https");
            }
        }
        Some(OtlpOptions {
            transport,
            endpoint: a.otlp_endpoint,
            headers,
            spans: a.otlp_spans,
            interval: Duration::from_millis(a.otlp_interval_ms.max(100)),
        })
    } else {
        None
    };
    let store = a.keep.resolve()?;
    Ok(Outputs {
        dir: a.out,
        record_text: a.record_text,
        progress,
        prometheus: a.prometheus_listen.map(|addr| (addr, Duration::from_secs_f64(linger))),
        otlp,
        store,
    })
}

fn probes(a: ProbeArgs) -> Result<Probes> {
    if a.metrics_interval_ms < 50 {
        bail!("--metrics-interval-ms must be at least 50");
    }
    if a.gpu_metrics.is_some_and(|ms| !(50..=3_600_000).contains(&ms)) {
        bail!("--gpu-metrics interval must be from 50 ms to an hour");
    }
    Ok(Probes {
        server_metrics: a.server_metrics.map(|url| ServerMetrics {
            url,
            interval: Duration::from_millis(a.metrics_interval_ms),
            prefixes: a.metrics_prefixes,
        }),
        gpu_metrics: a.gpu_metrics.map(Duration::from_millis),
        triton: a.triton_stats.iter().map(|m| ModelRef::parse(m)).collect(),
    })
}

fn launch(a: &LaunchArgs) -> Result<Option<LaunchOptions>> {
    let Some(command) = &a.launch else { return Ok(None) };
    let t = a.launch_timeout_s;
    if !(t.is_finite() && t > 0.0 && t <= MAX_SECONDS) {
        bail!("--launch-timeout-s must be a positive number of seconds (at most a day)");
    }
    Ok(Some(LaunchOptions {
        command: command.clone(),
        at: match a.launch_at {
            LaunchAtArg::Process => LaunchAt::Process,
            LaunchAtArg::Port => LaunchAt::Port,
            LaunchAtArg::Ready => LaunchAt::Ready,
        },
        ready_path: a.launch_ready_path.clone(),
        timeout: Duration::from_secs_f64(t),
    }))
}

/// `--start-at`: an instant at most a day ahead and at most a minute behind (a clock
/// that far off is a mistake, not a late start).
fn start_instant(text: &str) -> Result<SystemTime> {
    let at = volley::core::time::parse_instant(text).map_err(|e| anyhow!("--start-at {e}"))?;
    let now = SystemTime::now();
    match at.duration_since(now) {
        Ok(ahead) if ahead > Duration::from_secs(86_400) => bail!("--start-at {text} is more than a day ahead"),
        Ok(_) => Ok(at),
        Err(e) if e.duration() > Duration::from_secs(60) => {
            bail!("--start-at {text} was {:.0} s ago; check the clocks (or the time zone)", e.duration().as_secs_f64())
        }
        Err(_) => Ok(at),
    }
}

/// `--header 'Name: value'`s, and `VOLLEY_API_KEY` as `Authorization: Bearer` unless the
/// operator set Authorization explicitly.
fn headers(raw: &[String]) -> Result<Vec<(HeaderName, HeaderValue)>> {
    let mut headers = raw
        .iter()
        .map(|h| {
            let (name, value) = h.split_once(':').ok_or_else(|| anyhow!("--header '{h}' must look like 'Name: value'"))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| anyhow!("--header '{h}': invalid name"))?;
            let value = HeaderValue::from_str(value.trim()).map_err(|_| anyhow!("--header '{}': invalid value", name))?;
            Ok((name, value))
        })
        .collect::<Result<Vec<_>>>()?;
    if let Ok(key) = std::env::var("VOLLEY_API_KEY")
        && !key.is_empty()
        && !headers.iter().any(|(n, _)| n.as_str() == "authorization")
    {
        let value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| anyhow!("VOLLEY_API_KEY has invalid characters"))?;
        headers.push((HeaderName::from_static("authorization"), value));
    }
    Ok(headers)
}

/// `--hook`s, `--reset-prefix-cache` and `--profile` as hooks in the order a run makes
/// them, and `--server-kind`.
fn hooks(a: &ProbeArgs) -> Result<(Vec<ServerHook>, Option<ServerKind>)> {
    let kind = a.server_kind.as_deref().map(str::parse::<ServerKind>).transpose().map_err(|e| anyhow!("--server-kind: {e}"))?;
    let mut hooks = Vec::new();
    match a.reset_prefix_cache {
        Some(ResetAt::Run) => hooks.push(ServerHook { when: HookWhen::BeforeRun, action: HookAction::ResetPrefixCache }),
        Some(ResetAt::Stage) => hooks.push(ServerHook { when: HookWhen::BeforeStage, action: HookAction::ResetPrefixCache }),
        None => {}
    }
    if a.profile {
        hooks.push(ServerHook { when: HookWhen::BeforeRun, action: HookAction::StartProfile });
        hooks.push(ServerHook { when: HookWhen::AfterRun, action: HookAction::StopProfile });
    }
    for h in &a.hooks {
        hooks.push(h.parse::<ServerHook>().map_err(|e| anyhow!(e))?);
    }
    if kind.is_none()
        && let Some(h) = hooks.iter().find(|h| !matches!(h.action, HookAction::Call { .. }))
    {
        bail!("--hook {h} calls a built-in action: name the server with --server-kind vllm, sglang or llamacpp");
    }
    Ok((hooks, kind))
}
