//! Test guest: one stage of any load shape, chosen by parameters, sending tiny
//! completion requests. Lets the tests check each shape the host implements.
//!
//! Parameters: `load` (constant, poisson, gamma, ramp, burst, concurrency), `rate`,
//! `cv`, `from`, `to`, `n`, `duration_s`, `max_requests`, `max_tokens`, `stream`.

use std::time::Duration;

use volley_sdk::{Load, Next, Params, Plan, Request, RequestContext, Scenario, Stage, export_scenario};

struct LoadShapes {
    stage: Stage,
    max_tokens: u32,
    stream: bool,
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
            other => return Err(format!("unknown load {other:?}")),
        };
        let mut stage = Stage::new("shape", load);
        if let Some(d) = params.get("duration_s").and_then(|v| v.as_f64()) {
            stage = stage.duration(Duration::from_secs_f64(d));
        }
        if let Some(n) = params.opt_u64("max_requests")? {
            stage = stage.max_requests(n);
        }
        Ok(LoadShapes { stage, max_tokens: params.u32("max_tokens", 1)?, stream: params.bool("stream", false)? })
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(self.stage.clone())
    }

    fn next_request(&mut self, ctx: &RequestContext) -> Next {
        Next::Send(Request::completion(format!("request {}", ctx.seq)).max_tokens(self.max_tokens).stream(self.stream))
    }
}

export_scenario!(LoadShapes);
