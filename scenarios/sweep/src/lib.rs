//! `sweep`: GuideLLM's sweep profile. A synchronous stage (one request at a time) finds
//! the lowest useful rate, a throughput stage (many at once) the highest, and then
//! `benchmarks - 2` constant rates evenly spaced between the two each get a stage: one
//! report row per rate.
//!
//! Parameters (all optional):
//! - `benchmarks` (stages in all, default 10), `stage_s` (seconds per stage, default 10),
//!   `warmup_s` (excluded from each stage's statistics, default 0)
//! - `max_concurrency` (the throughput stage's requests in flight, default 64)
//! - `rate_type`: `constant` (default) or `poisson` for the in-between stages
//! - the request: `api`, `prompt_tokens`, `output_tokens`, `stream`, `model`
//!   (see `RequestShape`)

use std::time::Duration;

use volley_sdk::{
    Load, Next, Params, Plan, RequestContext, RequestShape, SHAPE_PARAMS, Scenario, Stage, StageResult, export_scenario, log,
};

struct Sweep {
    shape: RequestShape,
    benchmarks: u32,
    stage: Duration,
    warmup: Duration,
    max_concurrency: u32,
    poisson: bool,
    /// The in-between rates, once the first two stages have run.
    rates: Vec<f64>,
}

impl Sweep {
    fn stage(&self, name: String, load: Load) -> Stage {
        Stage::timed(name, load, self.stage, self.warmup)
    }
}

impl Scenario for Sweep {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("GuideLLM-style sweep: synchronous, throughput, then constant rates between")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        let mut known = vec!["benchmarks", "stage_s", "warmup_s", "max_concurrency", "rate_type"];
        known.extend_from_slice(SHAPE_PARAMS);
        params.allow_only(&known)?;
        let benchmarks = params.u32("benchmarks", 10)?;
        if benchmarks < 2 {
            return Err(format!("`benchmarks` must be at least 2 (synchronous and throughput), got {benchmarks}"));
        }
        let (stage, warmup) = params.stage_timing()?;
        let poisson = params.choice("rate_type", &["constant", "poisson"], "constant")? == "poisson";
        let max_concurrency = params.u32("max_concurrency", 64)?;
        if max_concurrency == 0 {
            return Err("`max_concurrency` must be at least 1".into());
        }
        Ok(Sweep { shape: RequestShape::from_params(params)?, benchmarks, stage, warmup, max_concurrency, poisson, rates: Vec::new() })
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(self.stage("synchronous".into(), Load::concurrency(1))).adaptive(true)
    }

    fn next_request(&mut self, _ctx: &RequestContext) -> Next {
        Next::Send(self.shape.request())
    }

    fn next_stage(&mut self, results: &[StageResult]) -> Option<Stage> {
        match results.len() {
            1 => Some(self.stage("throughput".into(), Load::concurrency(self.max_concurrency))),
            2 => {
                let (lo, hi) = (results[0].throughput, results[1].throughput);
                if !(lo > 0.0 && hi > 0.0) {
                    log::warn(&format!("no successful requests to size the sweep (synchronous {lo}/s, throughput {hi}/s)"));
                    return None;
                }
                let n = self.benchmarks - 2;
                self.rates = (1..=n).map(|k| lo + (hi - lo) * f64::from(k) / f64::from(n + 1)).collect();
                log::info(&format!("synchronous {lo:.2} req/s, throughput {hi:.2} req/s: {n} rates between"));
                self.next_rate(0)
            }
            k => self.next_rate(k - 2),
        }
    }
}

impl Sweep {
    fn next_rate(&self, i: usize) -> Option<Stage> {
        let rate = *self.rates.get(i)?;
        let load = if self.poisson { Load::poisson(rate) } else { Load::constant(rate) };
        Some(self.stage(format!("{} {rate:.2}/s", if self.poisson { "poisson" } else { "constant" }), load))
    }
}

export_scenario!(Sweep);
