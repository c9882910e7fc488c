//! `rate-range`: perf_analyzer's `--concurrency-range` and `--request-rate-range`. One
//! stage per step, one report row per stage.
//!
//! Parameters (one of the two ranges; `start:end:step`, end inclusive, step default 1):
//! - `concurrency_range`, e.g. "1:16:2" — closed loop at each concurrency
//! - `request_rate_range`, e.g. "10:100:10" — open loop at each rate (requests/s), with
//!   `distribution`: `constant` (default) or `poisson`
//! - `stage_s` (seconds per stage, default 10; perf_analyzer's measurement interval),
//!   `warmup_s` (excluded from each stage's statistics, default 0)
//! - the request: `api`, `prompt_tokens`, `output_tokens`, `stream`, `model`

use volley_sdk::{Load, Next, Params, Plan, RequestContext, RequestShape, SHAPE_PARAMS, Scenario, Stage, export_scenario};

struct RateRange {
    shape: RequestShape,
    stages: Vec<Stage>,
}

/// "start:end[:step]" → the values, end included.
fn range(key: &str, text: &str) -> Result<Vec<f64>, String> {
    let parts: Vec<f64> = text
        .split(':')
        .map(|p| p.trim().parse::<f64>().map_err(|_| format!("`{key}` must look like start:end:step, got {text:?}")))
        .collect::<Result<_, _>>()?;
    let (start, end, step) = match parts[..] {
        [s] => (s, s, 1.0),
        [s, e] => (s, e, 1.0),
        [s, e, st] => (s, e, st),
        _ => return Err(format!("`{key}` must look like start:end:step, got {text:?}")),
    };
    if !(start > 0.0 && end >= start && step > 0.0) {
        return Err(format!("`{key}` needs 0 < start <= end and step > 0, got {text:?}"));
    }
    let steps = ((end - start) / step + 1e-9).floor() as usize;
    if steps >= 1000 {
        return Err(format!("`{key}` {text:?} has more than 1000 steps"));
    }
    Ok((0..=steps).map(|i| start + step * i as f64).collect())
}

impl Scenario for RateRange {
    fn describe() -> volley_sdk::Info {
        volley_sdk::info!("perf_analyzer-style concurrency or request-rate range, one stage per step")
    }

    fn configure(params: &Params) -> Result<Self, String> {
        let mut known = vec!["concurrency_range", "request_rate_range", "distribution", "stage_s", "warmup_s"];
        known.extend_from_slice(SHAPE_PARAMS);
        params.allow_only(&known)?;
        let (duration, warmup) = params.stage_timing()?;
        let poisson = params.choice("distribution", &["constant", "poisson"], "constant")? == "poisson";
        let (name, loads): (&str, Vec<Load>) = match (params.opt_string("concurrency_range")?, params.opt_string("request_rate_range")?) {
            (Some(c), None) => {
                let values = range("concurrency_range", &c)?;
                if values.iter().any(|v| v.fract() != 0.0) {
                    return Err(format!("`concurrency_range` must be whole numbers, got {c:?}"));
                }
                ("concurrency", values.into_iter().map(|v| Load::concurrency(v as u32)).collect())
            }
            (None, Some(r)) => {
                let values = range("request_rate_range", &r)?;
                let load = if poisson { Load::poisson } else { Load::constant };
                (if poisson { "poisson" } else { "constant" }, values.into_iter().map(load).collect())
            }
            _ => return Err("give exactly one of `concurrency_range` and `request_rate_range`".into()),
        };
        let stages = loads
            .into_iter()
            .map(|load| {
                let label = match load {
                    Load::Concurrency(n) => format!("{name} {n}"),
                    Load::Constant(r) | Load::Poisson(r) => format!("{name} {r}/s"),
                    _ => name.to_string(),
                };
                Stage::timed(label, load, duration, warmup)
            })
            .collect();
        Ok(RateRange { shape: RequestShape::from_params(params)?, stages })
    }

    fn plan(&self) -> Plan {
        self.stages.iter().cloned().fold(Plan::new(), Plan::stage)
    }

    fn next_request(&mut self, _ctx: &RequestContext) -> Next {
        Next::Send(self.shape.request())
    }
}

export_scenario!(RateRange);
