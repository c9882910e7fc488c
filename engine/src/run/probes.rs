//! The operator's probes around a run: the target's model list, Triton's statistics
//! before and after each stage, and a first look at `--server-metrics` (a wrong URL is
//! one line before anything is sent). Every destination is allowed by the egress gate
//! before anything is sent to it ([`Probes::check`]); every answer is read by the
//! bounded reader (`crate::probe::answer`).

use volley_core::Policy;
use volley_core::text::printable;
use volley_net::{Checked, Egress, Kind};
use volley_report::server::TritonStats;

use super::RunError;
use crate::probe::answer::{self, METRICS_BYTES};
use crate::probe::models;
use crate::probe::triton::{self, ModelRef};

/// How long `--server-metrics` gets to answer its first look.
const FIRST_LOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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

/// Where the probes go, each destination checked.
pub(super) struct Probes {
    /// The target's `/v1/models`.
    pub(super) model_list: Checked,
    /// Each `--triton-stats` model and its statistics on the target.
    pub(super) triton: Vec<(ModelRef, Checked)>,
    /// `--server-metrics`.
    pub(super) metrics: Option<Checked>,
}

impl Probes {
    /// The probes' destinations, checked by `egress` (which has checked the target);
    /// one line for the first that is refused, before anything is sent.
    pub(super) fn check(egress: &Egress, triton: &[ModelRef], metrics: Option<&str>) -> Result<Probes, ProbeError> {
        let on_target = |what: &'static str, path: &str| egress.on_target(what, path);
        let model_list = on_target("the model list", "/v1/models").map_err(|e| ProbeError::from(e, "the model list".into()))?;
        let triton = triton
            .iter()
            .map(|m| {
                let to = on_target("--triton-stats", &m.stats_path())
                    .map_err(|e| ProbeError::from(e, format!("--triton-stats {}", printable(&m.model, 128))))?;
                Ok((m.clone(), to))
            })
            .collect::<Result<_, ProbeError>>()?;
        let metrics = match metrics {
            Some(url) => Some(egress.check_url(Kind::Probe, url).map_err(|e| ProbeError::from(e, "--server-metrics".into()))?),
            None => None,
        };
        Ok(Probes { model_list, triton, metrics })
    }

    /// The first model the target lists at `/v1/models`, or the warning to show: a
    /// lookup that fails is not an error, the run goes on without a default model.
    pub(super) async fn discover_model(&self, policy: &Policy) -> Result<String, String> {
        models::lookup(&self.model_list, policy.max_name_bytes as usize).await
    }

    /// Every probe the operator asked for answers.
    pub(super) async fn answer(&self) -> Result<(), RunError> {
        for (m, to) in &self.triton {
            triton::read(to, m).await.map_err(|e| RunError::Probe(format!("--triton-stats {}: {e}", printable(&m.model, 128))))?;
        }
        if let Some(to) = &self.metrics {
            let url = printable(&to.to_string(), 200);
            match answer::fetch(to, FIRST_LOOK_TIMEOUT, METRICS_BYTES).await {
                Ok((200, _)) => {}
                Ok((status, _)) => return Err(RunError::Probe(format!("--server-metrics {url} answered HTTP {status}"))),
                Err(e) => return Err(RunError::Probe(format!("--server-metrics {e}"))),
            }
        }
        Ok(())
    }

    /// Triton statistics of each model, or the error reading them.
    pub(super) async fn read_triton(&self) -> Vec<Result<TritonStats, String>> {
        let mut out = Vec::with_capacity(self.triton.len());
        for (m, to) in &self.triton {
            out.push(triton::read(to, m).await);
        }
        out
    }
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
