//! What a scenario declares: its identity, and a plan of stages, each with a load
//! (an arrival process or a closed loop), bounds, warm-up/cool-down windows and an
//! optional per-request objective. [`Plan::validate`] checks what the WIT cannot
//! express, for every workload alike.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::text::num;

/// An arrival process; rates in requests per second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Load {
    Constant {
        rate: f64,
    },
    Poisson {
        rate: f64,
    },
    Gamma {
        rate: f64,
        cv: f64,
    },
    Ramp {
        from: f64,
        to: f64,
    },
    Burst {
        n: u32,
    },
    Concurrency {
        n: u32,
    },
    /// Closed loop whose concurrency moves linearly over the stage's duration.
    ConcurrencyRamp {
        from: u32,
        to: u32,
    },
    /// Open loop on the scenario's clock: each request carries its gap.
    Custom,
    /// Closed loop of sessions: N sessions (tasks) open at once; a request from the
    /// scenario's `next_requests` opens one when fewer are open, and it stays open until
    /// the scenario ends it.
    Sessions {
        n: u32,
    },
}

impl Load {
    /// The rate an open-loop load aims at, on average over `duration` (requests/s).
    pub fn target_rate(&self) -> Option<f64> {
        match *self {
            Load::Constant { rate } | Load::Poisson { rate } | Load::Gamma { rate, .. } => Some(rate),
            Load::Ramp { from, to } => Some((from + to) / 2.0),
            _ => None,
        }
    }

    /// A closed loop: each send waits for a free worker, not for a clock.
    pub fn is_closed_loop(&self) -> bool {
        matches!(self, Load::Concurrency { .. } | Load::ConcurrencyRamp { .. } | Load::Sessions { .. })
    }

    /// The highest rate an open-loop load asks for at any instant (a ramp's larger end);
    /// `None` for loads without a rate (closed loops, bursts, custom traces).
    pub fn peak_rate(&self) -> Option<f64> {
        match *self {
            Load::Ramp { from, to } => Some(from.max(to)),
            _ => self.target_rate(),
        }
    }
}

/// A rate or a coefficient as a label shows it: four significant digits at most (a sweep's
/// computed rate reads `69.6/s`, not `69.6041999999999/s`), no trailing zeros.
fn label(x: f64) -> String {
    let a = x.abs();
    let decimals = if a >= 1000.0 || !x.is_finite() {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 10.0 {
        2
    } else {
        3
    };
    let s = format!("{x:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Load::Constant { rate } => write!(f, "constant {}/s", label(rate)),
            Load::Poisson { rate } => write!(f, "poisson {}/s", label(rate)),
            Load::Gamma { rate, cv } => write!(f, "gamma {}/s cv {}", label(rate), label(cv)),
            Load::Ramp { from, to } => write!(f, "ramp {}/s -> {}/s", label(from), label(to)),
            Load::Burst { n } => write!(f, "burst of {n}"),
            Load::Concurrency { n } => write!(f, "concurrency {n}"),
            Load::ConcurrencyRamp { from, to } => write!(f, "concurrency {from} -> {to}"),
            Load::Custom => write!(f, "custom gaps"),
            Load::Sessions { n } => write!(f, "{n} sessions"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    pub name: String,
    pub load: Load,
    #[serde(serialize_with = "crate::time::serialize_opt_duration_s", rename = "duration_s")]
    pub duration: Option<Duration>,
    pub max_requests: Option<u64>,
    /// Requests planned in the first `warmup` of the stage are excluded from statistics.
    #[serde(serialize_with = "crate::time::serialize_opt_duration_s", rename = "warmup_s", skip_serializing_if = "Option::is_none")]
    pub warmup: Option<Duration>,
    /// Likewise for the last `cooldown` of the stage's duration.
    #[serde(serialize_with = "crate::time::serialize_opt_duration_s", rename = "cooldown_s", skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<Slo>,
}

impl Stage {
    /// A stage with no warm-up, cool-down or SLO.
    pub fn new(name: impl Into<String>, load: Load, duration: Option<Duration>, max_requests: Option<u64>) -> Stage {
        Stage { name: name.into(), load, duration, max_requests, warmup: None, cooldown: None, slo: None }
    }
}

/// A per-request service-level objective (bounds in milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Slo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub itl_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub stages: Vec<Stage>,
    pub observe_outcomes: bool,
    /// Ask the scenario for more stages (`next-stage`) after the listed ones.
    pub adaptive: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Info {
    pub name: String,
    pub version: String,
    pub description: String,
}

impl Info {
    pub fn new(name: impl Into<String>, version: impl Into<String>, description: impl Into<String>) -> Self {
        Info { name: name.into(), version: version.into(), description: description.into() }
    }
}

/// The range of a gamma load's coefficient of variation.
pub const MIN_CV: f64 = 0.01;
pub const MAX_CV: f64 = 100.0;

impl Plan {
    /// These stages, in order, without outcomes or adaptive stages.
    pub fn new(stages: Vec<Stage>) -> Self {
        Plan { stages, observe_outcomes: false, adaptive: false }
    }

    /// Checks what the WIT cannot express: positive finite rates, bounded stages.
    pub fn validate(&self) -> Result<(), String> {
        if self.stages.is_empty() && !self.adaptive {
            return Err("the plan has no stages".into());
        }
        for (i, s) in self.stages.iter().enumerate() {
            s.validate(i)?;
            if matches!(s.load, Load::Sessions { .. }) && !self.observe_outcomes {
                return Err(format!(
                    "stage {i} ('{}'): a sessions load needs observe-outcomes, as sessions end in on-outcome",
                    crate::text::printable(&s.name, 64)
                ));
            }
        }
        Ok(())
    }
}

impl Stage {
    /// Checks stage `i` for what the WIT cannot express.
    pub fn validate(&self, i: usize) -> Result<(), String> {
        let s = self;
        let at = format!("stage {i} ('{}')", crate::text::printable(&s.name, 64));
        let rate_ok = |r: f64| r.is_finite() && r > 0.0;
        match s.load {
            Load::Constant { rate } | Load::Poisson { rate } if !rate_ok(rate) => {
                return Err(format!("{at}: rate must be a positive number, got {}", num(rate)));
            }
            // Outside this range the gamma sampler's shape (1/cv²) under- or overflows.
            Load::Gamma { rate, cv } if !(rate_ok(rate) && (MIN_CV..=MAX_CV).contains(&cv)) => {
                return Err(format!(
                    "{at}: gamma needs a positive rate and a cv from {MIN_CV} to {MAX_CV}, got {} and {}",
                    num(rate),
                    num(cv)
                ));
            }
            Load::Ramp { from, to } => {
                if !(from.is_finite() && to.is_finite() && from >= 0.0 && to >= 0.0 && from + to > 0.0) {
                    return Err(format!("{at}: ramp rates must be non-negative and not both 0"));
                }
                if s.duration.is_none() {
                    return Err(format!("{at}: a ramp needs a duration"));
                }
            }
            Load::Burst { n: 0 } | Load::Concurrency { n: 0 } | Load::Sessions { n: 0 } => {
                return Err(format!("{at}: {} must be at least 1", s.load));
            }
            Load::ConcurrencyRamp { from, to } => {
                if from.max(to) == 0 {
                    return Err(format!("{at}: a concurrency ramp needs a positive end"));
                }
                if s.duration.is_none() {
                    return Err(format!("{at}: a concurrency ramp needs a duration"));
                }
            }
            _ => {}
        }
        if let (Some(d), Some(w), Some(c)) = (s.duration, s.warmup, s.cooldown)
            && w.checked_add(c).is_none_or(|wc| wc > d)
        {
            return Err(format!("{at}: warm-up and cool-down together are longer than the stage"));
        }
        if s.cooldown.is_some() && s.duration.is_none() {
            return Err(format!("{at}: a cool-down needs a duration"));
        }
        if let Some(slo) = s.slo {
            let bad = |b: Option<f64>| b.is_some_and(|x| !(x.is_finite() && x > 0.0));
            if bad(slo.ttft_ms) || bad(slo.itl_ms) || bad(slo.latency_ms) {
                return Err(format!("{at}: SLO bounds must be positive numbers"));
            }
        }
        // A custom (trace) stage may end when the scenario says so.
        let bounded = s.duration.is_some() || s.max_requests.is_some();
        if !bounded && !matches!(s.load, Load::Burst { .. } | Load::Custom) {
            return Err(format!("{at}: set a duration or max-requests, or the stage never ends"));
        }
        if s.duration == Some(Duration::ZERO) || s.max_requests == Some(0) {
            return Err(format!("{at}: duration and max-requests must be positive"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_labels_round_computed_rates() {
        assert_eq!(Load::Poisson { rate: 69.6041999999999 }.to_string(), "poisson 69.6/s");
        assert_eq!(Load::Constant { rate: 40.0 }.to_string(), "constant 40/s");
        assert_eq!(Load::Constant { rate: 2.5 }.to_string(), "constant 2.5/s");
        assert_eq!(Load::Gamma { rate: 0.123456, cv: 1.0 }.to_string(), "gamma 0.123/s cv 1");
        assert_eq!(Load::Ramp { from: 1234.56, to: 150.26 }.to_string(), "ramp 1235/s -> 150.3/s");
    }
}
