//! `volley check SCENARIO`: instantiate a scenario in its sandbox, print who it is, its
//! plan, the first requests of each stage (as HTTP, validated by the same encoder a run
//! uses) and the arrival timeline it asks for — without sending anything.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::cancel::Cancel;
use crate::client::request::RequestEncoder;
use crate::load::arrivals::ArrivalClock;
use crate::model::Load;
use crate::scenario::caps::Grants;
use crate::scenario::producer::{Producer, ProducerConfig};
use crate::scenario::{SandboxLimits, ScenarioEngine, ScenarioSource};
use crate::target::Target;

pub struct CheckOptions {
    pub scenario: String,
    pub params: String,
    pub seed: u64,
    /// Requests and arrivals shown per stage.
    pub show: u32,
    pub grants: Grants,
    pub limits: SandboxLimits,
}

/// How long to wait for a stage's first requests (a multi-turn scenario may wait for
/// outcomes that never come here).
const WAIT: Duration = Duration::from_secs(2);

pub fn check(opts: CheckOptions) -> Result<String> {
    let params: serde_json::Value = serde_json::from_str(if opts.params.trim().is_empty() { "{}" } else { &opts.params })
        .map_err(|e| anyhow::anyhow!("--params is not valid JSON: {e}"))?;
    let source = ScenarioSource::load(&opts.scenario)?;
    crate::package::check_params(&source, &params)?;
    crate::package::check_datasets(&source, &opts.grants)?;
    let engine = ScenarioEngine::new()?;
    let compiled = engine.compile(&source)?;
    let wit = compiled.version.semver();
    // Requests are encoded against a placeholder target: only their paths matter here.
    let target = Target::parse("http://target.invalid")?;
    let config = ProducerConfig { limits: opts.limits, seed: opts.seed, params: params.to_string(), show_debug: true, grants: opts.grants };
    let producer = Producer::spawn(compiled, config, RequestEncoder::new(&target, None), Arc::new(Cancel::new()))?;
    let (info, plan) = (producer.info.clone(), producer.plan.clone());

    let mut out = String::new();
    let _ = writeln!(out, "{} {} — {}", info.name, info.version, info.description);
    let _ = writeln!(out, "source {} · {} · WIT {wit} · seed {}", source.origin, source.digest, opts.seed);
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
    for (i, stage) in plan.stages.iter().enumerate() {
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
        let _ = writeln!(out, "\nstage {i} '{}': {} for {bound}{extra}", stage.name, stage.load);
        let _ = writeln!(out, "  arrivals: {}", timeline(&stage.load, stage.duration, stage.max_requests, opts.seed, i as u32, opts.show));
        let shown = stage.max_requests.unwrap_or(u64::MAX).min(u64::from(opts.show));
        let feed = producer.start_stage(i as u32, opts.show as usize, Some(shown));
        for n in 0..shown {
            match feed.requests.recv_timeout(WAIT) {
                Ok(r) => {
                    let body = String::from_utf8_lossy(&r.body);
                    let excerpt: String = body.chars().take(160).collect();
                    let more = if body.chars().count() > 160 { format!("… ({} bytes)", r.body.len()) } else { String::new() };
                    let _ = writeln!(
                        out,
                        "  #{n}{} {} {}{}{}{} {excerpt}{more}",
                        r.gap.map(|g| format!(" +{:.3} s", g.as_secs_f64())).unwrap_or_default(),
                        r.method,
                        r.uri,
                        if r.stream { " (stream)" } else { "" },
                        r.tag.as_deref().map(|t| format!(" tag={t}")).unwrap_or_default(),
                        r.session.map(|s| format!(" session={s}")).unwrap_or_default(),
                    );
                }
                Err(flume::RecvTimeoutError::Disconnected) => {
                    let _ = writeln!(out, "  (the scenario has no more requests in this stage)");
                    break;
                }
                Err(flume::RecvTimeoutError::Timeout) => {
                    let _ = writeln!(out, "  (the scenario waits: its next requests depend on outcomes)");
                    break;
                }
            }
        }
        if let Some(e) = producer.take_fault() {
            bail!("{e:#}");
        }
    }
    if let Some(e) = producer.shutdown() {
        bail!("{e:#}");
    }
    let _ = writeln!(out, "\nok: the scenario instantiated, planned and produced valid requests; nothing was sent");
    Ok(out)
}

/// The first planned sends of an open-loop stage and how many it plans in all.
fn timeline(load: &Load, duration: Option<Duration>, max: Option<u64>, seed: u64, stage: u32, show: u32) -> String {
    match *load {
        Load::Burst { n } => format!("{n} at once at 0 s"),
        Load::Concurrency { n } => format!("closed loop: {n} in flight, each sent when one completes"),
        Load::ConcurrencyRamp { from, to } => format!("closed loop: {from} -> {to} in flight, linearly over the stage"),
        Load::Custom => "the scenario's own gaps (shown with each request below)".into(),
        l => {
            let mut clock = ArrivalClock::new(l, seed, stage, duration);
            let end = duration.map(|d| d.as_secs_f64()).unwrap_or(f64::INFINITY);
            let cap = max.unwrap_or(u64::MAX).min(1_000_000);
            let mut first = Vec::new();
            let mut count = 0u64;
            while count < cap {
                let Some(t) = clock.next_offset() else { break };
                if t.as_secs_f64() >= end {
                    break;
                }
                if first.len() < show as usize {
                    first.push(format!("{:.3}", t.as_secs_f64()));
                }
                count += 1;
            }
            format!("{count} planned; first at {} s", first.join(", "))
        }
    }
}
