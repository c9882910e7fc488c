//! Builders for [`Plan`], [`Stage`] and [`Load`].

use std::time::Duration;

use crate::{Load, Plan, Stage};

impl Plan {
    /// An empty plan; add stages with [`Plan::stage`].
    pub fn new() -> Self {
        Plan { stages: Vec::new(), observe_outcomes: false }
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
        Stage { name: name.into(), load, duration_ms: None, max_requests: None }
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
}
