//! `volley check SCENARIO`: instantiate a scenario in its sandbox and print who it is,
//! its plan, the arrival timeline of each stage and its first requests (as HTTP,
//! validated by the same encoder a run uses) — without sending anything.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use volley::core::text::clip;
use volley::data::OnError;
use volley::report::console::ConsoleWriter;
use volley::wasm::SandboxLimits;

use super::exit::Exit;
use super::policy::PolicyArg;
use super::scenario::{ScenarioSpec, instantiate, load_grants, parse_params};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Scenario: builtin:NAME, a .wasm component, a .volley package or oci://REF
    pub scenario: String,
    /// Scenario parameters as a JSON object
    #[arg(long, default_value = "{}", value_name = "JSON")]
    pub params: String,
    /// Seed of every random choice (scenario, arrivals)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Requests and arrivals shown per stage
    #[arg(long, short = 'n', default_value_t = 5)]
    pub show: u32,
    /// Agent scenarios (WIT 0.6): sessions run against the built-in simulator in this
    /// process and shown turn by turn (0: none)
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub sessions: u32,
    /// Local tokenizer.json, for scenarios that use one
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Grant a dataset, NAME=PATH (repeatable)
    #[arg(long = "dataset", value_name = "NAME=PATH")]
    pub datasets: Vec<String>,
    #[command(flatten)]
    pub policy: PolicyArg,
}

pub(super) async fn check(a: CheckArgs, policy_before_command: Option<&Path>) -> Result<Exit> {
    let policy = a.policy.load(policy_before_command)?;
    let params = parse_params(&a.params)?;
    let show = a.show.clamp(1, 1000);
    let spec = ScenarioSpec {
        source: a.scenario.clone(),
        params: params.clone(),
        digest: None,
        seed: a.seed,
        limits: SandboxLimits::from_policy(&policy),
        show_debug: true,
        quiet: false,
    };
    let loading_policy = policy.clone();
    let want_sessions = a.sessions.min(100);
    let (workload, source, second) = super::blocking(move || {
        let grants = load_grants(a.tokenizer.as_ref(), &a.datasets, OnError::Fail, false)?;
        let (workload, source) = instantiate(&spec, &grants, &loading_policy)?;
        // A second instance for the session preview, of a scenario that reacts.
        let second = if want_sessions > 0 && volley::core::Workload::reacts(&workload) {
            Some(instantiate(&ScenarioSpec { quiet: true, ..spec }, &grants, &loading_policy)?.0)
        } else {
            None
        };
        Ok::<_, anyhow::Error>((workload, source, second))
    })
    .await?;
    let wit = volley::core::Workload::identity(&workload).wit.unwrap_or_default();
    let preview = volley::engine::preview::preview(Box::new(workload), params.clone(), a.seed, show, Arc::new(policy.clone())).await?;
    let (info, plan) = (&preview.info, &preview.plan);

    // A line each; names from the scenario and its package are shown by the writer,
    // control characters made visible.
    let mut out: Vec<String> = Vec::new();
    out.push(format!("{} {} — {}", clip(&info.name, 128), clip(&info.version, 64), clip(&info.description, 300)));
    out.push(format!("source {} · {} · WIT {wit} · seed {}", source.origin, source.digest, a.seed));
    if let Some(m) = &source.manifest {
        let declared: Vec<&str> = m.params.keys().map(String::as_str).collect();
        out.push(format!("package {} {} (verified) · declares parameters: {}", m.name, m.version, declared.join(", ")));
    }
    out.push(format!("parameters {params}"));
    out.push(format!(
        "plan: {} stage(s){}{}",
        plan.stages.len(),
        if plan.observe_outcomes { ", observes outcomes" } else { "" },
        if plan.adaptive { ", adaptive: more stages are decided during the run from the results so far" } else { "" }
    ));
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
        out.push(String::new());
        out.push(format!("stage {i} '{}': {} for {bound}{extra}", clip(&stage.name, 128), stage.load));
        out.push(format!("  arrivals: {}", shown.arrivals));
        for r in &shown.requests {
            out.push(format!("  {}", clip(r, 400)));
        }
        if let Some(why) = &shown.stopped {
            out.push(format!("  ({why})"));
        }
    }
    if plan.stages.len() > preview.stages.len() {
        out.push(String::new());
        out.push(format!("({} more stages not shown)", plan.stages.len() - preview.stages.len()));
    }
    if let Some(r) = &preview.refusal {
        out.push(String::new());
        out.push("policy: REFUSED — a run would stop before sending anything".into());
        ConsoleWriter::stdout().lines(out);
        anyhow::bail!("{r}");
    }
    if let Some(w) = second
        && preview.plan.observe_outcomes
    {
        out.extend(super::check_sessions::preview(Box::new(w), params.clone(), a.seed, want_sessions, policy).await?);
    }
    out.push(String::new());
    out.push("policy: ok — the plan and these requests are within the operator's policy".into());
    out.push("ok: the scenario instantiated, planned and produced valid requests; nothing was sent".into());
    ConsoleWriter::stdout().lines(out);
    Ok(Exit::Ok)
}
