//! `volley check SCENARIO`: instantiate a scenario in its sandbox and print who it is,
//! its plan, the arrival timeline of each stage and its first requests (as HTTP,
//! validated by the same encoder a run uses) — without sending anything.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use std::sync::Arc;

use volley::core::Policy;
use volley::core::text::printable;
use volley::data::OnError;
use volley::wasm::SandboxLimits;

use super::scenario::{ScenarioSpec, instantiate, load_grants, parse_params};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Scenario: builtin:NAME, a .wasm component, a .volley package or oci://REF
    pub scenario: String,
    /// Scenario parameters as a JSON object
    #[arg(long, default_value = "{}")]
    pub params: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Requests and arrivals shown per stage
    #[arg(long, short = 'n', default_value_t = 5)]
    pub show: u32,
    /// Local tokenizer.json, for scenarios that use one
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Grant a dataset, NAME=PATH (repeatable)
    #[arg(long = "dataset")]
    pub datasets: Vec<String>,
}

pub(super) async fn check(a: CheckArgs, policy: Policy) -> Result<ExitCode> {
    let params = parse_params(&a.params)?;
    let show = a.show.clamp(1, 1000);
    let spec = ScenarioSpec {
        source: a.scenario.clone(),
        params: params.clone(),
        digest: None,
        seed: a.seed,
        limits: SandboxLimits::from_policy(&policy),
        show_debug: true,
    };
    let loading_policy = policy.clone();
    let (workload, source) = super::blocking(move || {
        let grants = load_grants(a.tokenizer.as_ref(), &a.datasets, OnError::Fail, false)?;
        instantiate(&spec, &grants, &loading_policy)
    })
    .await?;
    let wit = volley::core::Workload::identity(&workload).wit.unwrap_or_default();
    let preview = volley::engine::preview::preview(Box::new(workload), params.clone(), a.seed, show, Arc::new(policy)).await?;
    let (info, plan) = (&preview.info, &preview.plan);

    let mut out = String::new();
    let _ = writeln!(out, "{} {} — {}", printable(&info.name, 128), printable(&info.version, 64), printable(&info.description, 300));
    let _ = writeln!(out, "source {} · {} · WIT {wit} · seed {}", source.origin, source.digest, a.seed);
    if let Some(m) = &source.manifest {
        let declared: Vec<&str> = m.params.keys().map(String::as_str).collect();
        let _ = writeln!(out, "package {} {} (verified) · declares parameters: {}", m.name, m.version, declared.join(", "));
    }
    let _ = writeln!(out, "parameters {params}");
    let _ = writeln!(
        out,
        "plan: {} stage(s){}{}",
        plan.stages.len(),
        if plan.observe_outcomes { ", observes outcomes" } else { "" },
        if plan.adaptive { ", adaptive: more stages are decided during the run from the results so far" } else { "" }
    );
    for (i, (stage, shown)) in plan.stages.iter().zip(&preview.stages).enumerate() {
        let bound = match (stage.duration, stage.max_requests) {
            (Some(d), Some(n)) => format!("{} s or {n} requests", d.as_secs_f64()),
            (Some(d), None) => format!("{} s", d.as_secs_f64()),
            (None, Some(n)) => format!("{n} requests"),
            (None, None) => "until the scenario is done".into(),
        };
        let mut extra = String::new();
        if let Some(w) = stage.warmup {
            extra.push_str(&format!(", warm-up {} s excluded", w.as_secs_f64()));
        }
        if let Some(c) = stage.cooldown {
            extra.push_str(&format!(", cool-down {} s excluded", c.as_secs_f64()));
        }
        if let Some(slo) = stage.slo {
            extra.push_str(&format!(", SLO {}", serde_json::to_string(&slo).unwrap_or_default()));
        }
        let _ = writeln!(out, "\nstage {i} '{}': {} for {bound}{extra}", printable(&stage.name, 128), stage.load);
        let _ = writeln!(out, "  arrivals: {}", shown.arrivals);
        for r in &shown.requests {
            let _ = writeln!(out, "  {}", printable(r, 400));
        }
        if let Some(why) = &shown.stopped {
            let _ = writeln!(out, "  ({why})");
        }
    }
    if plan.stages.len() > preview.stages.len() {
        let _ = writeln!(out, "\n({} more stages not shown)", plan.stages.len() - preview.stages.len());
    }
    if let Some(r) = &preview.refusal {
        let _ = writeln!(out, "\npolicy: REFUSED — a run would stop before sending anything");
        print!("{out}");
        anyhow::bail!("{r}");
    }
    let _ = writeln!(out, "\npolicy: ok — the plan and these requests are within the operator's policy");
    let _ = writeln!(out, "ok: the scenario instantiated, planned and produced valid requests; nothing was sent");
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
