//! Builders for [`Plan`], [`Stage`] and [`Load`].

use std::time::Duration;

use crate::{Load, Params, Plan, Slo, Stage};

impl Plan {
    /// An empty plan; add stages with [`Plan::stage`].
    pub fn new() -> Self {
        Plan { stages: Vec::new(), observe_outcomes: false, adaptive: false }
    }

    /// After the listed stages, ask [`Scenario::next_stage`](crate::Scenario::next_stage)
    /// for more, given the results so far (sweeps, searches).
    pub fn adaptive(mut self, yes: bool) -> Self {
        self.adaptive = yes;
        self
    }

    pub fn stage(mut self, stage: Stage) -> Self {
        self.stages.push(stage);
        self
    }

    /// Ask the host to call [`Scenario::on_outcome`](crate::Scenario::on_outcome).
    pub fn observe_outcomes(mut self, yes: bool) -> Self {
        self.observe_outcomes = yes;
        self
    }
}

impl Default for Plan {
    fn default() -> Self {
        Self::new()
    }
}

impl Stage {
    /// A stage that runs until the scenario runs out of requests; bound it with
    /// [`Stage::duration`] or [`Stage::max_requests`].
    pub fn new(name: impl Into<String>, load: Load) -> Self {
        Stage { name: name.into(), load, duration_ms: None, max_requests: None, warmup_ms: None, cooldown_ms: None, slo: None }
    }

    /// Leave requests planned in the first `d` out of the statistics (they are still
    /// sent and kept in `requests.jsonl`). A whole warm-up stage: its full duration.
    pub fn warmup(mut self, d: Duration) -> Self {
        self.warmup_ms = Some(d.as_millis().min(u128::from(u64::MAX)) as u64);
        self
    }

    /// Leave requests planned in the last `d` of the duration out of the statistics.
    pub fn cooldown(mut self, d: Duration) -> Self {
        self.cooldown_ms = Some(d.as_millis().min(u128::from(u64::MAX)) as u64);
        self
    }

    /// A timed stage of a sweep or search: `duration`, with `warmup` excluded when set.
    pub fn timed(name: impl Into<String>, load: Load, duration: Duration, warmup: Duration) -> Self {
        let s = Stage::new(name, load).duration(duration);
        if warmup.is_zero() { s } else { s.warmup(warmup) }
    }

    /// Count the requests meeting `slo` (goodput).
    pub fn slo(mut self, slo: Slo) -> Self {
        self.slo = Some(slo);
        self
    }

    pub fn duration(mut self, d: Duration) -> Self {
        self.duration_ms = Some(d.as_millis().min(u128::from(u64::MAX)) as u64);
        self
    }

    pub fn max_requests(mut self, n: u64) -> Self {
        self.max_requests = Some(n);
        self
    }
}

impl Load {
    /// Evenly spaced sends at `rate` requests per second.
    pub fn constant(rate: f64) -> Self {
        Load::Constant(rate)
    }
    /// Poisson arrivals at `rate` requests per second.
    pub fn poisson(rate: f64) -> Self {
        Load::Poisson(rate)
    }
    /// Gamma-distributed gaps; `cv` > 1 is burstier than Poisson.
    pub fn gamma(rate: f64, cv: f64) -> Self {
        Load::Gamma((rate, cv))
    }
    /// A linear ramp of the rate over the stage's duration.
    pub fn ramp(from: f64, to: f64) -> Self {
        Load::Ramp((from, to))
    }
    /// `n` requests at the same instant.
    pub fn burst(n: u32) -> Self {
        Load::Burst(n)
    }
    /// Closed loop with `n` requests in flight.
    pub fn concurrency(n: u32) -> Self {
        Load::Concurrency(n)
    }
    /// Closed loop whose concurrency moves linearly over the stage's duration.
    pub fn concurrency_ramp(from: u32, to: u32) -> Self {
        Load::ConcurrencyRamp((from, to))
    }
    /// Each request's own gap ([`Request::gap`](crate::Request::gap)): trace replay,
    /// or an arrival process of the scenario's own.
    pub fn custom() -> Self {
        Load::Custom
    }
    /// A closed loop of sessions: `n` tasks in flight. Each request the stage's
    /// [`next_request`](crate::Scenario::next_request) returns opens a session (give it
    /// one with [`Request::session`](crate::Request::session)) when fewer than `n` are
    /// open; the session's later requests come from [`react`](crate::Scenario::react),
    /// which also ends it. The stage's `max_requests` counts the sessions opened.
    pub fn sessions(n: u32) -> Self {
        Load::Sessions(n)
    }
}

impl Slo {
    /// No bounds yet; add them with the builders.
    pub fn new() -> Self {
        Slo { ttft_ms: None, itl_ms: None, latency_ms: None }
    }
    pub fn ttft_ms(mut self, ms: f64) -> Self {
        self.ttft_ms = Some(ms);
        self
    }
    pub fn itl_ms(mut self, ms: f64) -> Self {
        self.itl_ms = Some(ms);
        self
    }
    pub fn latency_ms(mut self, ms: f64) -> Self {
        self.latency_ms = Some(ms);
        self
    }
}

impl Default for Slo {
    fn default() -> Self {
        Self::new()
    }
}

/// Parameter keys read by [`Load::from_params`] and [`Stage::from_params`], to list in
/// [`Params::allow_only`].
pub const STAGE_PARAMS: &[&str] = &["load", "rate", "cv", "from", "to", "n", "duration_s", "requests", "warmup_s", "cooldown_s"];

impl Load {
    /// A load from parameters: `load` is one of constant, poisson, gamma, ramp, burst,
    /// concurrency (default `default`); `rate` (requests/s, default 5), `cv` (gamma,
    /// default 2), `from`/`to` (ramp), `n` (burst size or concurrency, default 4).
    pub fn from_params(params: &Params, default: &str) -> Result<Load, String> {
        let rate = || -> Result<f64, String> {
            let r = params.f64("rate", 5.0)?;
            if r > 0.0 { Ok(r) } else { Err(format!("`rate` must be positive, got {r}")) }
        };
        let n = || -> Result<u32, String> {
            let n = params.u32("n", 4)?;
            if n > 0 { Ok(n) } else { Err("`n` must be at least 1".into()) }
        };
        Ok(match params.string("load", default)?.as_str() {
            "constant" => Load::constant(rate()?),
            "poisson" => Load::poisson(rate()?),
            "gamma" => Load::gamma(rate()?, params.f64("cv", 2.0)?),
            "ramp" => Load::ramp(params.f64("from", 1.0)?, params.f64("to", rate()?)?),
            "burst" => Load::burst(n()?),
            "concurrency" => Load::concurrency(n()?),
            "concurrency-ramp" => Load::concurrency_ramp(params.u32("from", 1)?, params.u32("to", n()?)?),
            other => {
                return Err(format!("unknown load {other:?} (constant, poisson, gamma, ramp, burst, concurrency, concurrency-ramp)"));
            }
        })
    }
}

impl Stage {
    /// A stage named `name` with [`Load::from_params`], ending after `duration_s`
    /// (default `default_duration_s`) or `requests` requests, whichever comes first.
    pub fn from_params(name: &str, params: &Params, default_load: &str, default_duration_s: Option<f64>) -> Result<Stage, String> {
        let mut stage = Stage::new(name, Load::from_params(params, default_load)?);
        let duration = match params.get("duration_s") {
            Some(_) => Some(params.f64("duration_s", 0.0)?),
            None => default_duration_s,
        };
        if let Some(d) = duration {
            if d <= 0.0 {
                return Err(format!("`duration_s` must be positive, got {d}"));
            }
            stage = stage.duration(Duration::from_secs_f64(d));
        }
        if let Some(n) = params.opt_u64("requests")? {
            stage = stage.max_requests(n);
        }
        for (key, set) in [("warmup_s", Stage::warmup as fn(Stage, Duration) -> Stage), ("cooldown_s", Stage::cooldown)] {
            if params.get(key).is_some() {
                let s = params.f64(key, 0.0)?;
                if s < 0.0 {
                    return Err(format!("`{key}` must not be negative, got {s}"));
                }
                stage = set(stage, Duration::from_secs_f64(s));
            }
        }
        Ok(stage)
    }
}
