//! `volley coldstart`: how long a server takes to become useful, and what loading costs.
//!
//! For each named configuration (a server command), repeated N times: process start →
//! port accepting → ready (a readiness URL answering 200) → first token of a first real
//! request, with the host RSS of the server's whole process tree and, where there is a
//! GPU, device memory and utilisation sampled throughout. The server is stopped cleanly
//! between runs (SIGTERM, SIGKILL after a grace period) and never left behind.
//! Optionally the page cache is dropped before each start, and each run says whether
//! it was cold or warm.
//!
//! It returns its report ([`ColdstartReport`], volley-report's) and prints nothing: the
//! caller hears of each start as it is measured ([`Progress`]), and writes
//! `coldstart.json`, `coldstart.html` and the console table.

mod memory;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use volley_core::Cancel;
pub use volley_report::coldstart::{ColdstartReport, ConfigReport, GpuInfo, RunRecord};

use crate::launch::process::ServerProcess;
use crate::launch::readiness;
use crate::probe::gpu;

#[derive(Debug, Clone)]
pub struct ColdstartOptions {
    /// (name, command) pairs.
    pub configs: Vec<(String, String)>,
    pub repeat: u32,
    /// Where the server listens.
    pub addr: SocketAddr,
    /// Readiness path, e.g. `/health` or `/v2/health/ready`.
    pub ready_path: String,
    pub ready_timeout: Duration,
    /// The first real request: None, or a streamed completion (chat or not).
    pub first_request: Option<FirstRequest>,
    pub model: Option<String>,
    pub drop_caches: bool,
    pub grace: Duration,
    /// Where each start's server log is written (`NAME-N.log`); it must exist.
    pub log_dir: PathBuf,
    pub sample_every: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstRequest {
    Completions,
    Chat,
}

/// What the caller hears while servers start.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// No GPU can be read here, and why (before the first start).
    GpuUnavailable(&'a str),
    /// A start of configuration `config` was measured.
    Measured { config: &'a str, run: &'a RunRecord },
}

/// Starts each configuration `repeat` times and times its phases, telling `progress` of
/// each start. A failed start ends the measurement: the report keeps the starts measured
/// before it, and its `error` says why.
pub async fn coldstart(opts: ColdstartOptions, cancel: Arc<Cancel>, progress: &mut (dyn FnMut(Progress<'_>) + Send)) -> ColdstartReport {
    let gpu = gpu::open();
    if let Err(why) = &gpu {
        progress(Progress::GpuUnavailable(why));
    }
    let gpu_info = GpuInfo {
        available: gpu.is_ok(),
        source: gpu.as_ref().ok().map(|g| g.name().to_string()),
        unavailable_reason: gpu.as_ref().err().cloned(),
    };
    let gpu = Arc::new(gpu.ok());
    let mut configs = Vec::new();
    let mut failure = None;
    'configs: for (name, command) in &opts.configs {
        let mut runs = Vec::new();
        for i in 0..opts.repeat {
            if cancel.is_cancelled() {
                break;
            }
            let run = match one_start(&opts, name, command, i, &gpu, &cancel).await {
                Ok(run) => run,
                Err(e) => {
                    // Keep what was measured so far, then report the failure.
                    configs.push(ConfigReport::new(name, command, runs));
                    failure = Some(e);
                    break 'configs;
                }
            };
            progress(Progress::Measured { config: name, run: &run });
            runs.push(run);
        }
        configs.push(ConfigReport::new(name, command, runs));
    }
    let mut report = ColdstartReport::new(opts.addr, &opts.ready_path, gpu_info, configs, cancel.is_cancelled());
    report.error = failure.as_ref().map(|e| format!("{e:#}"));
    report
}

/// What the sampler thread gathers while a server starts.
#[derive(Default)]
struct Samples {
    peak_rss: u64,
    rss_mib: Vec<(f64, f64)>,
    gpu_peak_mib: std::collections::BTreeMap<u32, f64>,
    gpu: Vec<(f64, gpu::GpuSample)>,
}

/// Samples memory in a thread until stopped: (peak RSS bytes, RSS series, GPU peaks).
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Samples>,
}

impl Sampler {
    fn start(pid: u32, started: Instant, every: Duration, gpu: Arc<Option<gpu::GpuSource>>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut s = Samples::default();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = started.elapsed().as_secs_f64() * 1000.0;
                    let rss = memory::tree_rss_bytes(pid);
                    s.peak_rss = s.peak_rss.max(rss);
                    s.rss_mib.push((round1(t), round1(rss as f64 / (1 << 20) as f64)));
                    // GPU queries cost more: every fifth sample.
                    if n.is_multiple_of(5)
                        && let Some(g) = gpu.as_ref()
                        && let Ok(devices) = g.sample()
                    {
                        for d in devices {
                            let peak = s.gpu_peak_mib.entry(d.index).or_insert(0.0);
                            *peak = peak.max(d.memory_used_mib);
                            s.gpu.push((round1(t), d));
                        }
                    }
                    n += 1;
                    std::thread::sleep(every);
                }
                s
            })
        };
        Sampler { stop, thread }
    }

    fn finish(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Drops the page cache (needs root); the run's label says whether it worked.
fn drop_page_cache() -> Result<(), String> {
    // SAFETY: sync(2) has no preconditions.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").map_err(|e| format!("cannot drop the page cache: {e}"))
}

async fn one_start(
    opts: &ColdstartOptions,
    name: &str,
    command: &str,
    index: u32,
    gpu: &Arc<Option<gpu::GpuSource>>,
    cancel: &Cancel,
) -> Result<RunRecord> {
    let to = readiness::Phases::check(opts.addr, &opts.ready_path, opts.first_request.map(|k| k == FirstRequest::Chat))?;
    if tokio::net::TcpStream::connect(opts.addr).await.is_ok() {
        bail!("{} is already accepting connections before the server starts; stop whatever listens there", opts.addr);
    }
    let label = match opts.drop_caches {
        true => match drop_page_cache() {
            Ok(()) => "cold".to_string(),
            Err(e) => format!("warm ({e})"),
        },
        false => "warm".to_string(),
    };
    let log = opts.log_dir.join(format!("{name}-{}.log", index + 1));
    let mut server = ServerProcess::spawn(command, &log)?;
    let sampler = Sampler::start(server.pid, server.started, opts.sample_every, gpu.clone());
    let deadline = server.started + opts.ready_timeout;
    let phases = async {
        let port = readiness::port_open(&to.server, &mut server, deadline).await?;
        let ready = readiness::url_ready(&to.ready, &mut server, deadline).await?;
        let first = match (&to.first, opts.first_request) {
            (Some(first), Some(kind)) => Some(readiness::first_token(first, opts.model.as_deref(), kind == FirstRequest::Chat).await?),
            _ => None,
        };
        Ok::<_, anyhow::Error>((port, ready, first))
    };
    let outcome = tokio::select! {
        r = phases => r,
        _ = cancel.cancelled() => Err(anyhow::anyhow!("interrupted")),
    };
    let stop_took = tokio::task::block_in_place(|| server.stop(opts.grace));
    let samples = sampler.finish();
    let (port, ready, first) = outcome.map_err(|e| {
        anyhow::anyhow!(
            "{name} start #{}: {e:#} (ready timeout {} s; server stopped; log: {})",
            index + 1,
            opts.ready_timeout.as_secs_f64(),
            server.log.display()
        )
    })?;
    let since = |t: Instant| round1(t.saturating_duration_since(server.started).as_secs_f64() * 1000.0);
    Ok(RunRecord {
        index: index + 1,
        label,
        port_ms: since(port),
        ready_ms: since(ready),
        first_token_ms: first.map(|(_, t)| since(t)),
        first_token_after_ready_ms: first.map(|(_, t)| round1(t.saturating_duration_since(ready).as_secs_f64() * 1000.0)),
        first_request_ttft_ms: first.map(|(sent, t)| round1(t.saturating_duration_since(sent).as_secs_f64() * 1000.0)),
        stop_ms: round1(stop_took.as_secs_f64() * 1000.0),
        peak_rss_mib: round1(samples.peak_rss as f64 / (1 << 20) as f64),
        peak_gpu_mib: samples.gpu_peak_mib.clone(),
        rss_series_mib: samples.rss_mib,
        gpu_series: samples.gpu,
    })
}
