//! Test guest: one stage of any load shape, chosen by parameters, sending tiny
//! completion requests. Lets the tests check each shape the host implements.
//!
//! Parameters: `load` (constant, poisson, gamma, ramp, burst, concurrency,
//! concurrency-ramp, custom), `rate`, `cv`, `from`, `to`, `n`, `gaps_ms` (custom: the
//! gaps, cycled), `duration_s`, `max_requests`, `warmup_s`, `cooldown_s`, `max_tokens`,
//! `stream`, `after_outcome` (as an agent's loop: each request only once the previous
//! one's outcome has arrived; the scenario waits on outcomes in between).

use std::time::Duration;

use volley_sdk::{Load, Next, Outcome, Params, Plan, Request, RequestContext, Scenario, Stage, export_scenario};

struct LoadShapes {
    stage: Stage,
    gaps_ms: Vec<f64>,
    max_tokens: u32,
    stream: bool,
    after_outcome: bool,
    /// A request is out whose outcome has not arrived (`after_outcome`).
    waiting: bool,
}

impl Scenario for LoadShapes {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("test guest: one stage of a chosen load shape")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        let load = match params.string("load", "constant")?.as_str() {
            "constant" => Load::constant(params.f64("rate", 10.0)?),
            "poisson" => Load::poisson(params.f64("rate", 10.0)?),
            "gamma" => Load::gamma(params.f64("rate", 10.0)?, params.f64("cv", 2.0)?),
            "ramp" => Load::ramp(params.f64("from", 1.0)?, params.f64("to", 10.0)?),
            "burst" => Load::burst(params.u32("n", 10)?),
            "concurrency" => Load::concurrency(params.u32("n", 4)?),
            "concurrency-ramp" => Load::concurrency_ramp(params.u32("from", 1)?, params.u32("to", 8)?),
            "custom" => Load::custom(),
            other => return Err(format!("unknown load {other:?}")),
        };
        let mut stage = Stage::new("shape", load);
        if let Some(d) = params.get("duration_s").and_then(|v| v.as_f64()) {
            stage = stage.duration(Duration::from_secs_f64(d));
        }
        if let Some(n) = params.opt_u64("max_requests")? {
            stage = stage.max_requests(n);
        }
        if let Some(w) = params.get("warmup_s").and_then(|v| v.as_f64()) {
            stage = stage.warmup(Duration::from_secs_f64(w));
        }
        if let Some(c) = params.get("cooldown_s").and_then(|v| v.as_f64()) {
            stage = stage.cooldown(Duration::from_secs_f64(c));
        }
        let gaps_ms = match params.get("gaps_ms") {
            Some(v) => v
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_f64()).collect::<Vec<f64>>())
                .filter(|g| !g.is_empty())
                .ok_or("`gaps_ms` must be a non-empty list of numbers")?,
            None => vec![10.0],
        };
        Ok(LoadShapes {
            stage,
            gaps_ms,
            max_tokens: params.u32("max_tokens", 1)?,
            stream: params.bool("stream", false)?,
            after_outcome: params.bool("after_outcome", false)?,
            waiting: false,
        })
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(self.stage.clone()).observe_outcomes(self.after_outcome)
    }

    fn on_outcome(&mut self, _outcome: Outcome) {
        self.waiting = false;
    }

    fn next_request(&mut self, ctx: &RequestContext) -> Next {
        if self.waiting {
            return Next::Wait;
        }
        self.waiting = self.after_outcome;
        let gap = self.gaps_ms[(ctx.seq % self.gaps_ms.len() as u64) as usize];
        let r = Request::completion(format!("request {}", ctx.seq)).max_tokens(self.max_tokens).stream(self.stream);
        Next::Send(r.gap(Duration::from_secs_f64(gap / 1000.0)))
    }
}

export_scenario!(LoadShapes);
