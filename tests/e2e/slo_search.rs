//! `builtin:slo-search` against a simulator whose answer is computable: 50 slots, each
//! request holding one for 50 ms to its first token plus 20 × 10 ms (21 tokens), 250 ms
//! in all, so the server completes at most 50 / 0.25 = 200 requests/s, and a request
//! that finds every slot busy waits in arrival order, the wait landing in its TTFT.
//!
//! The SLO is TTFT p99 <= 300 ms: the first token of a free slot plus a wait of about
//! one service time. Which rate meets that is the M/D/50 queue's answer, computed here by
//! simulating that queue exactly as a probe meets it — Poisson arrivals for one stage's
//! length into empty slots — 301 times at each rate: the knee is the rate at which a
//! probe's p99 wait is within the bound in half of them. With this machine's service time
//! (the least median latency of the run's stages, ~251 ms) and first token (~50 ms), that
//! is about 210/s for 4 s stages and 197/s for 20 s ones (a short stage ends before a
//! queue past capacity has grown long). A probe passes nearly always 5 % below that rate
//! and nearly never 5 % above (a Python model of the whole search against the same queue:
//! 300 runs of each test's search, none outside 10 %), so the search, whose bracket ends
//! within its tolerance, must land within 10 % of it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use serde_json::{Value, json};
use volley::sim::SimConfig;

use crate::support::*;

const SLOTS: u32 = 50;
const FIRST_TOKEN_MS: u64 = 50;
const ITL_MS: u64 = 10;
const OUTPUT_TOKENS: u32 = 21;
const TTFT_BOUND_MS: f64 = 300.0;
/// Measured requests a p99 needs (the scenario's rule: 100 / (100 − 99)).
const NEEDED: u64 = 100;

fn service_s() -> f64 {
    (FIRST_TOKEN_MS + u64::from(OUTPUT_TOKENS - 1) * ITL_MS) as f64 / 1000.0
}

fn capacity() -> f64 {
    f64::from(SLOTS) / service_s()
}

/// splitmix64: a small deterministic generator for the queue simulation.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The p99 wait (s) of one stage of `stage_s` at Poisson `rate` into empty slots, each
/// request holding one for `service` s.
fn p99_wait(rate: f64, stage_s: f64, service: f64, rng: &mut Rng) -> f64 {
    // When each slot is next free (non-negative f64s order as their bits); each arrival
    // takes the earliest, in arrival order, as the simulator's slots.
    let mut free: BinaryHeap<Reverse<u64>> = (0..SLOTS).map(|_| Reverse(0f64.to_bits())).collect();
    let mut waits = Vec::new();
    let mut t = 0.0;
    loop {
        t += -(1.0 - rng.unit()).ln() / rate;
        if t >= stage_s {
            break;
        }
        let Reverse(earliest) = free.pop().unwrap();
        let start = f64::from_bits(earliest).max(t);
        free.push(Reverse((start + service).to_bits()));
        waits.push(start - t);
    }
    waits.sort_by(f64::total_cmp);
    waits[((waits.len() as f64 * 0.99) as usize).min(waits.len() - 1)]
}

/// The rate at which a probe of `stage_s` has a p99 wait within `bound_s` in half of the
/// simulated stages (the same 301 seeds at every rate, so the median moves smoothly).
fn computed_knee(stage_s: f64, service: f64, bound_s: f64) -> f64 {
    let median_p99 = |rate: f64| {
        let mut p99s: Vec<f64> = (0..301).map(|seed| p99_wait(rate, stage_s, service, &mut Rng(seed * 7919 + 1))).collect();
        p99s.sort_by(f64::total_cmp);
        p99s[p99s.len() / 2]
    };
    let (mut lo, mut hi) = (0.7 * capacity(), 1.5 * capacity());
    for _ in 0..12 {
        let mid = (lo + hi) / 2.0;
        if median_p99(mid) <= bound_s { lo = mid } else { hi = mid }
    }
    (lo + hi) / 2.0
}

/// Runs the search with `params` (the SLO and request shape added) against a fresh
/// simulator of the module's capacity; the output, the report's stages, and the
/// scenario's lines.
async fn search(params: Value, limit: Duration) -> (Output, Vec<Value>) {
    let sim = start_sim(SimConfig {
        slots: SLOTS,
        ttft: Duration::from_millis(FIRST_TOKEN_MS),
        itl: Duration::from_millis(ITL_MS),
        ..SimConfig::default()
    })
    .await;
    let out = TempDir::new("slo-search");
    let mut params = params;
    let shape = json!({"slo": {"ttft_ms": TTFT_BOUND_MS}, "percentile": 99, "prompt_tokens": 8, "output_tokens": OUTPUT_TOKENS});
    params.as_object_mut().unwrap().extend(shape.as_object().unwrap().clone());
    let o = run_volley_async(run_args("builtin:slo-search", &sim.url(), params, &out), limit).await;
    o.assert_success();
    let stages = read_report(out.path())["stages"].as_array().unwrap().clone();
    (o, stages)
}

/// What every search must hold: the last stage re-ran the knee and met the SLO itself on
/// enough requests, the last line is that row's, no probe short of requests passed, and
/// the knee is within 10 % of the computed one. The knee's rate.
fn check_knee(o: &Output, stages: &[Value], stage_s: f64) -> f64 {
    let knee = stages.last().unwrap();
    let name = knee["name"].as_str().unwrap();
    assert!(name.starts_with("knee "), "the last stage re-runs the knee: {name}\n{}", o.stderr);
    let rate = knee["target_rps"].as_f64().unwrap();
    let p99 = ms(&knee["ttft_ms"]["p99"]);
    assert!(p99 <= TTFT_BOUND_MS, "the knee's own row misses the SLO: TTFT p99 {p99} ms");
    assert!(knee["requests"]["sent"].as_u64().unwrap() >= NEEDED, "{knee}");
    // The last line says what the row says.
    let last = o.stderr.lines().rfind(|l| l.contains("knee: ")).unwrap_or_else(|| panic!("no knee line:\n{}", o.stderr));
    assert!(last.contains(&format!("knee: {rate:.2} req/s meets the SLO at p99")), "{last}");
    assert!(last.contains(&format!("TTFT p99 {p99:.1} ms <= 300 ms")), "{last} (row: {p99})");
    let goodput = knee["goodput_rps"].as_f64().unwrap();
    assert!(last.contains(&format!("goodput there {goodput:.2} req/s")), "{last} (row: {goodput})");
    // Every probe called a pass had the requests a p99 needs.
    for s in stages {
        let name = s["name"].as_str().unwrap();
        let passed = o.stderr.lines().any(|l| l.contains(&format!("{name}: meets the SLO")));
        let measured = s["requests"]["sent"].as_u64().unwrap();
        assert!(!passed || measured >= NEEDED, "{name} passed on {measured} requests");
    }
    // The queue's answer with the service time and first token this machine gave: the
    // least loaded stage's medians (a median request waits for no slot).
    let least = |key: &str| stages.iter().map(|s| ms(&s[key]["p50"])).fold(f64::INFINITY, f64::min) / 1000.0;
    let (service, first_token) = (least("latency_ms"), least("ttft_ms"));
    assert!((service - service_s()).abs() < 0.02, "the simulator's service time was {service} s");
    let expected = computed_knee(stage_s, service, TTFT_BOUND_MS / 1000.0 - first_token);
    assert!(
        (rate - expected).abs() <= 0.1 * expected,
        "knee at {rate:.1}/s, computed {expected:.1}/s (capacity {:.0}/s)\n{}",
        capacity(),
        o.stderr
    );
    // Shown with --nocapture: the figures the issue asks for.
    eprintln!("slo-search, {stage_s} s stages: knee {rate:.1}/s, computed {expected:.1}/s (capacity {:.0}/s)", capacity());
    rate
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_knee_of_a_server_of_known_capacity_with_4_s_stages() {
    // From 20/s, doubling: 4 s at 20/s would be 80 requests, short of the 100 a p99
    // needs, so that probe runs longer rather than be judged on too few.
    let params = json!({"start_rate": 20, "stage_s": 4, "tolerance": 0.03});
    let (o, stages) = search(params, Duration::from_secs(200)).await;
    let first = &stages[0];
    assert_eq!(first["target_rps"], 20.0);
    assert!(first["planned_duration_s"].as_f64().unwrap() >= 6.0, "{first}");
    assert!(first["requests"]["sent"].as_u64().unwrap() >= NEEDED, "{first}");
    let knee = check_knee(&o, &stages, 4.0);
    // And the search saw the SLO missed above the knee.
    assert!(stages.iter().any(|s| s["target_rps"].as_f64().unwrap() > knee && ms(&s["ttft_ms"]["p99"]) > TTFT_BOUND_MS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_knee_of_a_server_of_known_capacity_with_20_s_stages() {
    // Started near the answer to keep the test to a few stages (five most often): 180/s,
    // then 210/s (the highest allowed), then halving the gap to 6 %.
    let params = json!({"start_rate": 180, "max_rate": 210, "stage_s": 20, "tolerance": 0.06});
    let (o, stages) = search(params, Duration::from_secs(400)).await;
    check_knee(&o, &stages, 20.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_that_cannot_be_measured_is_inconclusive_not_a_pass() {
    // Not streamed: there is no TTFT to judge, whatever the count (it used to pass on
    // no values at all).
    let params = json!({"start_rate": 200, "stage_s": 1, "stream": false});
    let (o, stages) = search(params, Duration::from_secs(60)).await;
    assert_eq!(stages.len(), 1, "{stages:?}");
    assert!(stages[0]["requests"]["sent"].as_u64().unwrap() >= NEEDED);
    assert!(!o.stderr.contains("meets the SLO") && !o.stderr.contains("knee: "), "{}", o.stderr);
    let last = o.stderr.lines().rfind(|l| l.contains("inconclusive: ")).unwrap_or_else(|| panic!("{}", o.stderr));
    assert!(last.contains("TTFT was measured on 0 of"), "{last}");
}
