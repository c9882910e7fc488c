//! `slo-search`: the highest request rate whose own measured stage meets an SLO at a
//! percentile, and the goodput there (requests/s that meet it one by one).
//!
//! Each probe is a stage at one rate. From `start_rate` the rate doubles while probes
//! pass; after the first miss a binary search narrows the gap between the best pass and
//! the lowest miss to `tolerance`; then the best pass runs again as the knee stage
//! ([`search`]). The knee stage must itself meet the SLO — if it misses, its rate counts
//! as a miss and the search goes on below it — so the last report row is the answer, and
//! the last line is computed from that row: "knee: R req/s meets the SLO at p99 (TTFT p99
//! X ms <= B ms, N requests); goodput there G req/s (A % of requests within the SLO)".
//! Otherwise the run ends with "no rate met the SLO" (every probe missed, down to
//! `start_rate` / 64) or "inconclusive: why" (the data cannot decide).
//!
//! A probe is judged ([`verdict`]) on its measured requests (warm-up excluded):
//! - enough of them: percentile p needs at least 100 / (100 − p) (100 for p99) and at
//!   least 40. A probe at a rate too low to send that many in `stage_s` runs longer
//!   (warm-up + 1.25 × needed / rate: p99 at 1/s takes 125 s; past an hour the search
//!   stops, inconclusive); one that still measured too few is inconclusive and runs
//!   again twice as long (twice at most) — it is never a pass. A bound measured on too
//!   few requests is inconclusive too (TTFT needs `stream`, ITL two or more output
//!   tokens);
//! - errors at most `max_error_rate`;
//! - every bound in `slo` holds at `percentile`: TTFT, ITL (as each request's mean time
//!   per output token: the stage's TPOT, so the verdicts name it TPOT) and end-to-end
//!   latency;
//! - the server kept pace: a server that completes less than it is sent queues the rest,
//!   so each request waits longer than the one before. The median latency of the last
//!   quarter of the probe's requests (in send order) may exceed that of the first quarter
//!   by at most 0.25 s per second between them — completing at least 80 % of what is
//!   sent. (The scenario observes outcomes for this.)
//!
//! Parameters:
//! - `slo` (required): `{"ttft_ms": 500, "itl_ms": 50, "latency_ms": 5000}`, any subset
//! - `percentile` (50, 90, 95 or 99; default 99), `max_error_rate` (default 0.01)
//! - `start_rate` (default 1), `max_rate` (default 10000), `tolerance` (relative,
//!   default 0.05), `max_stages` (default 20)
//! - `stage_s` (default 10; longer at low rates, as above), `warmup_s` (default 0),
//!   `distribution` (poisson, default, or constant)
//! - the request: `api`, `prompt_tokens`, `output_tokens`, `stream`, `model`

mod search;
mod verdict;

use std::time::Duration;

use volley_sdk::{
    Load, Next, Outcome, Params, Plan, RequestContext, RequestShape, SHAPE_PARAMS, Scenario, Slo, Stage, StageResult, export_scenario, log,
};

use search::{Search, Step};
use verdict::{Judge, Sample, Verdict, latency_growth};

/// Times a probe runs at one rate, each twice as long as the last, while it measures
/// too few requests.
const MAX_TRIES: u32 = 3;
/// Longest probe, seconds: a rate that needs longer to give enough requests is not judged.
const MAX_PROBE_S: f64 = 3600.0;
/// A probe planned to give this many times the requests it needs, so Poisson chance
/// rarely leaves it short (1.25 × 100: short with probability about 1 %).
const MARGIN: f64 = 1.25;
/// Latencies kept per probe for the keeps-pace test; a faster probe keeps every k-th.
const MAX_SAMPLES: f64 = 1_000_000.0;

/// The stage under way.
#[derive(Debug, Clone)]
struct Probe {
    index: u32,
    rate: f64,
    knee: bool,
    /// 0 for the first run at this rate.
    attempt: u32,
    duration: Duration,
    /// Every `stride`-th request's latency is kept.
    stride: u64,
}

struct SloSearch {
    shape: RequestShape,
    judge: Judge,
    search: Search,
    stage_s: f64,
    warmup: Duration,
    poisson: bool,
    probe: Probe,
    /// Latencies of the probe's successful requests, from its outcomes.
    samples: Vec<Sample>,
}

impl SloSearch {
    /// The probe of `rate` as stage `index`: `stage_s` long, or as long as the rate
    /// needs to give enough requests (times two for each earlier try); an error when
    /// that is longer than [`MAX_PROBE_S`].
    fn probe_at(&self, index: u32, rate: f64, knee: bool, attempt: u32) -> Result<Probe, String> {
        let needed = self.judge.needed() as f64;
        let warmup = self.warmup.as_secs_f64();
        let secs = self.stage_s.max(warmup + MARGIN * needed / rate) * f64::from(1u32 << attempt.min(8));
        if !(secs.is_finite() && secs <= MAX_PROBE_S) {
            return Err(format!(
                "judging p{} at {rate:.2} req/s needs {needed} measured requests, about {secs:.0} s, longer than a probe may run ({MAX_PROBE_S} s)",
                self.judge.percentile
            ));
        }
        let stride = ((rate * secs / MAX_SAMPLES).ceil() as u64).max(1);
        Ok(Probe { index, rate, knee, attempt, duration: Duration::from_secs_f64(secs), stride })
    }

    fn stage(&self, p: &Probe) -> Stage {
        let load = if self.poisson { Load::poisson(p.rate) } else { Load::constant(p.rate) };
        let kind = if p.knee { "knee" } else { "probe" };
        let again = if p.attempt > 0 { format!(", try {}", p.attempt + 1) } else { String::new() };
        Stage::timed(format!("{kind} {:.2}/s{again}", p.rate), load, p.duration, self.warmup).slo(self.judge.slo)
    }

    /// Runs `probe` next.
    fn next(&mut self, probe: Result<Probe, String>) -> Option<Stage> {
        match probe {
            Ok(p) => {
                let stage = self.stage(&p);
                self.probe = p;
                Some(stage)
            }
            Err(why) => {
                log::warn(&format!("inconclusive: {why}"));
                None
            }
        }
    }

    /// How fast the probe's latency grew (see [`latency_growth`]), its warm-up left out.
    fn growth(&mut self) -> Option<f64> {
        let p = &self.probe;
        let warmup_share = self.warmup.as_secs_f64() / p.duration.as_secs_f64();
        let last_seq = self.samples.iter().map(|s| s.seq).max().unwrap_or(0);
        let first_seq = (last_seq as f64 * warmup_share) as u64;
        latency_growth(&mut self.samples, first_seq, p.rate)
    }

    /// The last line, from the knee stage's own result.
    fn knee_line(&self, r: &StageResult, measured: &str) -> String {
        format!(
            "knee: {:.2} req/s meets the SLO at p{} ({measured}); goodput there {:.2} req/s ({:.1} % of requests within the SLO)",
            self.probe.rate,
            self.judge.percentile,
            r.goodput.unwrap_or(0.0),
            100.0 * r.slo_attainment.unwrap_or(0.0)
        )
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
            let Some(x) = v.as_f64().filter(|x| x.is_finite() && *x > 0.0) else {
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
        let max_error_rate = params.f64("max_error_rate", 0.01)?;
        if !(0.0..1.0).contains(&max_error_rate) {
            return Err(format!("`max_error_rate` must be at least 0 and below 1, got {max_error_rate}"));
        }
        let (start_rate, max_rate) = (params.f64("start_rate", 1.0)?, params.f64("max_rate", 10_000.0)?);
        if !(start_rate > 0.0 && max_rate >= start_rate && max_rate.is_finite()) {
            return Err(format!("need 0 < start_rate <= max_rate, got {start_rate} and {max_rate}"));
        }
        let tolerance = params.f64("tolerance", 0.05)?;
        if !(tolerance > 0.0 && tolerance < 1.0) {
            return Err(format!("`tolerance` must be between 0 and 1, got {tolerance}"));
        }
        let (stage, warmup) = params.stage_timing()?;
        let poisson = params.choice("distribution", &["poisson", "constant"], "poisson")? == "poisson";
        let max_stages = params.u64("max_stages", 20)?.clamp(2, 10_000) as usize;
        let mut s = SloSearch {
            shape: RequestShape::from_params(params)?,
            judge: Judge { slo, percentile, max_error_rate },
            search: Search::new(start_rate, max_rate, tolerance, max_stages),
            stage_s: stage.as_secs_f64(),
            warmup,
            poisson,
            probe: Probe { index: 0, rate: start_rate, knee: false, attempt: 0, duration: stage, stride: 1 },
            samples: Vec::new(),
        };
        s.probe = s.probe_at(0, start_rate, false, 0).map_err(|why| format!("`start_rate` is too low: {why}"))?;
        Ok(s)
    }

    fn plan(&self) -> Plan {
        Plan::new().stage(self.stage(&self.probe)).adaptive(true).observe_outcomes(true)
    }

    fn next_request(&mut self, _ctx: &RequestContext) -> Next {
        Next::Send(self.shape.request())
    }

    fn on_outcome(&mut self, o: Outcome) {
        if o.stage == self.probe.index && o.ok && o.seq.is_multiple_of(self.probe.stride) {
            self.samples.push(Sample { seq: o.seq, latency_ms: (o.latency_ns as f64 / 1e6) as f32 });
        }
    }

    fn next_stage(&mut self, results: &[StageResult]) -> Option<Stage> {
        let last = results.last()?;
        let index = u32::try_from(results.len()).ok()?;
        let growth = self.growth();
        self.samples = Vec::new();
        let p = self.probe.clone();
        match self.judge.verdict(last, growth) {
            Verdict::Pass(measured) => {
                if p.knee {
                    log::info(&self.knee_line(last, &measured));
                    return None;
                }
                log::info(&format!("{}: meets the SLO ({measured})", last.name));
                self.search.passed(p.rate);
            }
            Verdict::Miss(why) => {
                log::info(&format!("{}: misses the SLO ({why})", last.name));
                self.search.missed(p.rate);
            }
            Verdict::Inconclusive { why, retry } => {
                log::info(&format!("{}: inconclusive ({why})", last.name));
                // Room for this try, and for a knee after a probe.
                let room = results.len() + if p.knee { 1 } else { 2 } <= self.search.max_stages;
                if retry && p.attempt + 1 < MAX_TRIES && room {
                    return self.next(self.probe_at(index, p.rate, p.knee, p.attempt + 1));
                }
                log::warn(&format!("inconclusive: at {:.2} req/s, {why}; no knee", p.rate));
                return None;
            }
        }
        match self.search.next(results.len()) {
            Step::Probe(r) => self.next(self.probe_at(index, r, false, 0)),
            Step::Knee(r) => self.next(self.probe_at(index, r, true, 0)),
            Step::NoRate(lowest) => {
                log::warn(&format!("no rate met the SLO: every probe missed it, down to {lowest:.2} req/s"));
                None
            }
            Step::OutOfStages => {
                log::warn(&format!("inconclusive: max_stages ({}) were spent before a knee was confirmed", self.search.max_stages));
                None
            }
        }
    }
}

export_scenario!(SloSearch);
