//! Servers Volley starts itself: `volley run --launch` (scale from zero) and `volley
//! coldstart`. [`process`] starts a command in a process group of its own and stops it
//! without leaving anything behind; [`readiness`] waits for its port, its readiness
//! path and its first token.

pub mod process;
pub mod readiness;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use volley_net::{Checked, Egress};
use volley_report::LaunchReport;

use process::ServerProcess;

/// `--launch`: the server command and when to start sending.
#[derive(Debug, Clone)]
pub struct Launch {
    pub command: String,
    pub at: LaunchAt,
    /// Readiness path for [`LaunchAt::Ready`].
    pub ready_path: String,
    /// Longest wait for the port (or readiness), and for connections refused while
    /// the server starts ([`LaunchAt::Process`]).
    pub timeout: Duration,
    /// Where the server's output goes.
    pub log: PathBuf,
}

/// When sending begins, counted from the server's process start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchAt {
    /// As soon as the process has started: requests wait for the port, and their
    /// latency from the planned send shows the whole cold start.
    Process,
    /// Once the port accepts connections.
    Port,
    /// Once the readiness path answers 200.
    Ready,
}

/// Starts the server and waits as `l.at` says. `target` is the run's, allowed by
/// `egress`; the readiness path is checked on it before the server starts.
pub(crate) async fn start(l: &Launch, egress: &Egress, target: &Checked) -> Result<(ServerProcess, LaunchReport)> {
    let ready_url = match l.at {
        LaunchAt::Ready => Some(egress.on_target("--launch-ready-path", &l.ready_path)?),
        _ => None,
    };
    let mut server = ServerProcess::spawn(&l.command, &l.log)?;
    let deadline = server.started + l.timeout;
    let mut report = LaunchReport { command: l.command.clone(), at: format!("{:?}", l.at).to_lowercase(), ..LaunchReport::default() };
    let since = |t: Instant, s: &ServerProcess| (t.saturating_duration_since(s.started).as_secs_f64() * 1e4).round() / 10.0;
    if l.at != LaunchAt::Process {
        let port = readiness::port_open(target, &mut server, deadline).await.map_err(|e| anyhow!("--launch: {e:#}"))?;
        report.port_open_ms = Some(since(port, &server));
    }
    if let Some(url) = &ready_url {
        let ready = readiness::url_ready(url, &mut server, deadline).await.map_err(|e| anyhow!("--launch: {e:#}"))?;
        report.ready_ms = Some(since(ready, &server));
    }
    Ok((server, report))
}

/// Stops a launched server off the async workers; how long the stop took, in ms.
pub(crate) async fn stop(mut server: ServerProcess, grace: Duration) -> f64 {
    let took = tokio::task::spawn_blocking(move || server.stop(grace)).await.unwrap_or_default();
    (took.as_secs_f64() * 1000.0).round()
}
