//! The operator's probes around a run: the target's model list, Triton's statistics
//! before and after each stage, and a first look at `--server-metrics` (a wrong URL is
//! one line before anything is sent).

use std::net::SocketAddr;
use std::time::Duration;

use volley_net::Target;
use volley_net::http::get;
use volley_report::server::TritonStats;

use super::RunError;
use crate::probe::triton::{self, ModelRef};

/// The first model the target lists at `/v1/models`, if it answers quickly.
pub(super) async fn discover_model(target: &Target, addr: SocketAddr) -> Option<String> {
    let url = format!("http://{addr}{}", target.path("/v1/models"));
    let (status, body) = get(&url, Duration::from_secs(3)).await.ok()?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    v.get("data")?.get(0)?.get("id")?.as_str().map(str::to_string)
}

/// Every probe the operator asked for answers.
pub(super) async fn check(base: &str, triton: &[ModelRef], server_metrics: Option<&str>) -> Result<(), RunError> {
    for m in triton {
        triton::read(base, m).await.map_err(|e| RunError::Probe(format!("--triton-stats {}: {e:#}", m.model)))?;
    }
    if let Some(url) = server_metrics {
        match get(url, Duration::from_secs(5)).await {
            Ok((200, _)) => {}
            Ok((status, _)) => return Err(RunError::Probe(format!("--server-metrics {url} answered HTTP {status}"))),
            Err(e) => return Err(RunError::Probe(format!("--server-metrics {url}: {e}"))),
        }
    }
    Ok(())
}

/// Triton statistics of each model, or the error reading them.
pub(super) async fn read_triton(base: &str, models: &[ModelRef]) -> Vec<Result<TritonStats, String>> {
    let mut out = Vec::with_capacity(models.len());
    for m in models {
        out.push(triton::read(base, m).await.map_err(|e| format!("{e:#}")));
    }
    out
}

/// Per-model differences between two reads, and the errors of either.
pub(super) fn triton_deltas(
    before: &[Result<TritonStats, String>],
    after: &[Result<TritonStats, String>],
) -> (Vec<TritonStats>, Vec<String>) {
    let (mut deltas, mut errors) = (Vec::new(), Vec::new());
    for (b, a) in before.iter().zip(after) {
        match (b, a) {
            (Ok(b), Ok(a)) => deltas.push(a.since(b)),
            (Err(e), _) | (_, Err(e)) => errors.push(e.clone()),
        }
    }
    (deltas, errors)
}
