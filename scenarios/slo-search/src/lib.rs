//! `slo-search`: the highest request rate whose latency percentiles meet an SLO, and the
//! goodput there (requests/s that meet it one by one). Each probe is a stage at one
//! rate: the rate doubles until a probe fails, then a binary search narrows the gap
//! between the best pass and the first failure to `tolerance`; a last stage re-runs the
//! knee, so the final report row is the answer.
//!
//! A probe passes when, over its measured requests: every bound in `slo` holds at
//! `percentile` (TTFT, ITL as mean time per output token, end-to-end latency); errors
//! are at most `max_error_rate`; and the server completed requests at no less than 80 %
//! of the pace they were sent (a server that falls behind queues without bound).
//!
//! Parameters:
//! - `slo` (required): `{"ttft_ms": 500, "itl_ms": 50, "latency_ms": 5000}`, any subset
//! - `percentile` (50, 90, 95 or 99; default 99), `max_error_rate` (default 0.01)
//! - `start_rate` (default 1), `max_rate` (default 10000), `tolerance` (relative,
//!   default 0.05), `max_stages` (default 20)
//! - `stage_s` (default 10), `warmup_s` (default 0), `distribution` (poisson, default,
//!   or constant)
//! - the request: `api`, `prompt_tokens`, `output_tokens`, `stream`, `model`

use std::time::Duration;

use volley_sdk::{
    Load, Next, Params, Percentiles, Plan, RequestContext, RequestShape, SHAPE_PARAMS, Scenario, Slo, Stage, StageResult, export_scenario,
    log,
};

struct SloSearch {
    shape: RequestShape,
    slo: Slo,
    percentile: u32,
    max_error_rate: f64,
    start_rate: f64,
    max_rate: f64,
    tolerance: f64,
    max_stages: usize,
    stage: Duration,
    warmup: Duration,
    poisson: bool,
    /// Highest passing rate and lowest failing rate so far.
    best_pass: Option<f64>,
    first_fail: Option<f64>,
    knee_run: bool,
}

impl SloSearch {
    fn probe(&self, name: String, rate: f64) -> Stage {
        let load = if self.poisson { Load::poisson(rate) } else { Load::constant(rate) };
        Stage::timed(name, load, self.stage, self.warmup).slo(self.slo)
    }

    fn at(&self, p: &Percentiles) -> f64 {
        match self.percentile {
            50 => p.p50,
            90 => p.p90,
            95 => p.p95,
            _ => p.p99,
        }
    }

    /// Whether a probe met the SLO; the reason when not.
    fn verdict(&self, r: &StageResult) -> Result<(), String> {
        let q = self.percentile;
        let checks = [("TTFT", self.slo.ttft_ms, &r.ttft), ("ITL", self.slo.itl_ms, &r.tpot), ("latency", self.slo.latency_ms, &r.latency)];
        for (what, bound, p) in checks {
            if let Some(b) = bound
                && p.count > 0
                && self.at(p) > b
            {
                return Err(format!("{what} p{q} {:.1} ms > {b} ms", self.at(p)));
            }
        }
        let total = (r.ok + r.failed).max(1) as f64;
        if r.failed as f64 / total > self.max_error_rate {
            return Err(format!("{} of {} requests failed", r.failed, r.ok + r.failed));
        }
        // Against what was actually sent (a short Poisson stage sends more or less than
        // its rate): a server that keeps up completes at the pace it is sent to.
        if r.throughput < 0.8 * r.send_rate {
            return Err(format!("completed {:.2} req/s of {:.2} sent", r.throughput, r.send_rate));
        }
        Ok(())
    }
}

fn rate_of(r: &StageResult) -> f64 {
    match r.load {
        Load::Poisson(x) | Load::Constant(x) => x,
        _ => 0.0,
    }
}

impl Scenario for SloSearch {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("Saturation search: the highest rate meeting an SLO, with goodput")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        let mut known = vec![
            "slo",
            "percentile",
            "max_error_rate",
            "start_rate",
            "max_rate",
            "tolerance",
            "max_stages",
            "stage_s",
            "warmup_s",
            "distribution",
        ];
        known.extend_from_slice(SHAPE_PARAMS);
        params.allow_only(&known)?;
        let Some(slo_value) = params.get("slo").and_then(|v| v.as_object()) else {
            return Err("give the SLO: `slo` {\"ttft_ms\": .., \"itl_ms\": .., \"latency_ms\": ..} (any of them)".into());
        };
        let mut slo = Slo::new();
        for (k, v) in slo_value {
            let Some(x) = v.as_f64().filter(|x| *x > 0.0) else {
                return Err(format!("`slo.{k}` must be a positive number of milliseconds"));
            };
            slo = match k.as_str() {
                "ttft_ms" => slo.ttft_ms(x),
                "itl_ms" => slo.itl_ms(x),
                "latency_ms" => slo.latency_ms(x),
                other => return Err(format!("unknown SLO bound `{other}` (ttft_ms, itl_ms, latency_ms)")),
            };
        }
        if slo.ttft_ms.is_none() && slo.itl_ms.is_none() && slo.latency_ms.is_none() {
            return Err("`slo` needs at least one of ttft_ms, itl_ms, latency_ms".into());
        }
        let percentile = params.u32("percentile", 99)?;
        if ![50, 90, 95, 99].contains(&percentile) {
            return Err(format!("`percentile` must be 50, 90, 95 or 99, got {percentile}"));
        }
        let (start_rate, max_rate) = (params.f64("start_rate", 1.0)?, params.f64("max_rate", 10_000.0)?);
        if !(start_rate > 0.0 && max_rate >= start_rate) {
            return Err(format!("need 0 < start_rate <= max_rate, got {start_rate} and {max_rate}"));
        }
        let tolerance = params.f64("tolerance", 0.05)?;
        if !(tolerance > 0.0 && tolerance < 1.0) {
            return Err(format!("`tolerance` must be between 0 and 1, got {tolerance}"));
        }
        let (stage, warmup) = params.stage_timing()?;
        let poisson = params.choice("distribution", &["poisson", "constant"], "poisson")? == "poisson";
        Ok(SloSearch {
            shape: RequestShape::from_params(params)?,
            slo,
            percentile,
            max_error_rate: params.f64("max_error_rate", 0.01)?,
            start_rate,
            max_rate,
            tolerance,
            max_stages: params.u64("max_stages", 20)?.max(2) as usize,
            stage,
            warmup,
            poisson,
            best_pass: None,
            first_fail: None,
            knee_run: false,
        })
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(self.probe(format!("probe {:.2}/s", self.start_rate), self.start_rate)).adaptive(true)
    }

    fn next_request(&mut self, _ctx: &RequestContext) -> Next {
        Next::Send(self.shape.request())
    }

    fn next_stage(&mut self, results: &[StageResult]) -> Option<Stage> {
        let last = results.last()?;
        if self.knee_run {
            let goodput = last.goodput.unwrap_or(0.0);
            log::info(&format!(
                "knee: {:.2} req/s meets the SLO at p{}; goodput there {goodput:.2} req/s ({:.1} % of requests within the SLO)",
                rate_of(last),
                self.percentile,
                100.0 * last.slo_attainment.unwrap_or(0.0)
            ));
            return None;
        }
        let rate = rate_of(last);
        match self.verdict(last) {
            Ok(()) => {
                self.best_pass = Some(self.best_pass.map_or(rate, |b| b.max(rate)));
                log::info(&format!("{rate:.2} req/s: meets the SLO"));
            }
            Err(why) => {
                self.first_fail = Some(self.first_fail.map_or(rate, |f| f.min(rate)));
                log::info(&format!("{rate:.2} req/s: misses the SLO ({why})"));
            }
        }
        let next = match (self.best_pass, self.first_fail) {
            (Some(p), None) if p >= self.max_rate => None,
            (Some(p), None) => Some((p * 2.0).min(self.max_rate)),
            (None, Some(f)) if f / 2.0 < self.start_rate / 64.0 => {
                log::warn("no rate meets the SLO");
                return None;
            }
            (None, Some(f)) => Some(f / 2.0),
            (Some(p), Some(f)) if (f - p) / p > self.tolerance => Some((p + f) / 2.0),
            _ => None,
        };
        match next {
            Some(r) if results.len() + 1 < self.max_stages => Some(self.probe(format!("probe {r:.2}/s"), r)),
            _ => {
                let knee = self.best_pass?;
                self.knee_run = true;
                Some(self.probe(format!("knee {knee:.2}/s"), knee))
            }
        }
    }
}

export_scenario!(SloSearch);
