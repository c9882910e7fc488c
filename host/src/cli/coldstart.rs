//! `volley coldstart`: time server starts (process, port, ready, first token) and what
//! loading costs in memory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use volley::engine::coldstart;
use volley::report::console::ConsoleWriter;

use super::exit::Exit;

#[derive(Args, Debug)]
pub struct ColdstartArgs {
    /// A configuration to start, NAME=COMMAND (repeatable), e.g.
    /// default='llama-server -m model.gguf --port 8200'
    #[arg(long = "config", required = true)]
    pub configs: Vec<String>,
    /// Starts per configuration
    #[arg(long, default_value_t = 5)]
    pub repeat: u32,
    /// The port the server listens on
    #[arg(long)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Readiness URL path, answering 200 when ready (/health, /v2/health/ready, ...)
    #[arg(long, default_value = "/health")]
    pub ready_path: String,
    /// Longest wait from process start to ready, seconds
    #[arg(long, default_value_t = 120.0)]
    pub ready_timeout_s: f64,
    /// The first real request once ready, timed to its first token
    #[arg(long, value_enum, default_value = "completions")]
    pub first_request: FirstRequestArg,
    /// Model for the first request
    #[arg(long)]
    pub model: Option<String>,
    /// Drop the page cache before each start (needs root) and label runs cold
    #[arg(long)]
    pub drop_caches: bool,
    /// After SIGTERM, seconds before SIGKILL
    #[arg(long, default_value_t = 10.0)]
    pub grace_s: f64,
    /// Output directory [default: results/coldstart-<time>]
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum FirstRequestArg {
    Completions,
    Chat,
    None,
}

pub(super) async fn coldstart(a: ColdstartArgs) -> Result<Exit> {
    let cancel = super::signals::cancel_on_signals();
    let (opts, out_dir) = coldstart_options(a)?;
    std::fs::create_dir_all(&opts.log_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    // The configurations' names are the operator's own, and the writer shows any control
    // character in them anyway.
    let mut stderr = ConsoleWriter::stderr();
    let mut progress = |p: coldstart::Progress<'_>| match p {
        coldstart::Progress::GpuUnavailable(why) => stderr.line(&format!("volley coldstart: GPU metrics unavailable: {why}")),
        coldstart::Progress::Measured { config, run } => stderr.line(&format!(
            "  {config} #{}: port {:.1} ms, ready {:.1} ms, first token {}, peak RSS {:.0} MiB ({})",
            run.index,
            run.port_ms,
            run.ready_ms,
            run.first_token_ms.map(|t| format!("{t:.1} ms")).unwrap_or_else(|| "-".into()),
            run.peak_rss_mib,
            run.label
        )),
    };
    let report = coldstart::coldstart(opts, cancel, &mut progress).await;
    // What was measured is written also when a start failed (which is then the error).
    let json = out_dir.join("coldstart.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&report)?).with_context(|| format!("cannot write {}", json.display()))?;
    let html = out_dir.join("coldstart.html");
    std::fs::write(&html, volley::report::html::coldstart::render(&report)).with_context(|| format!("cannot write {}", html.display()))?;
    ConsoleWriter::stderr().line(&format!("wrote {} and coldstart.html", json.display()));
    if let Some(e) = &report.error {
        bail!("{e}");
    }
    ConsoleWriter::stdout().lines(report.table());
    Ok(if report.interrupted { Exit::Interrupted } else { Exit::Ok })
}

/// The engine's options, and the folder the report goes to.
fn coldstart_options(a: ColdstartArgs) -> Result<(coldstart::ColdstartOptions, PathBuf)> {
    let configs = a
        .configs
        .iter()
        .map(|c| {
            let (name, cmd) = c.split_once('=').ok_or_else(|| anyhow::anyhow!("--config '{c}' must look like NAME=COMMAND"))?;
            if name.is_empty() || cmd.trim().is_empty() {
                bail!("--config '{c}' must look like NAME=COMMAND");
            }
            Ok((name.to_string(), cmd.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    if a.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    if !(a.ready_timeout_s > 0.0 && a.grace_s >= 0.0) {
        bail!("--ready-timeout-s must be positive and --grace-s non-negative");
    }
    if !a.ready_path.starts_with('/') {
        bail!("--ready-path must start with '/'");
    }
    let addr: SocketAddr = format!("{}:{}", a.host, a.port).parse().with_context(|| format!("invalid address {}:{}", a.host, a.port))?;
    let out_dir = a.out.unwrap_or_else(|| {
        PathBuf::from("results").join(format!("coldstart-{}", volley::core::time::utc_stamp(std::time::SystemTime::now())))
    });
    let options = coldstart::ColdstartOptions {
        configs,
        repeat: a.repeat,
        addr,
        ready_path: a.ready_path,
        ready_timeout: Duration::from_secs_f64(a.ready_timeout_s),
        first_request: match a.first_request {
            FirstRequestArg::Completions => Some(coldstart::FirstRequest::Completions),
            FirstRequestArg::Chat => Some(coldstart::FirstRequest::Chat),
            FirstRequestArg::None => None,
        },
        model: a.model,
        drop_caches: a.drop_caches,
        grace: Duration::from_secs_f64(a.grace_s),
        log_dir: out_dir.join("logs"),
        sample_every: Duration::from_millis(20),
    };
    Ok((options, out_dir))
}
