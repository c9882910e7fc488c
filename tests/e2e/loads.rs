//! Load models and sweeps, end to end against the simulator: each load shape produces the
//! arrival statistics it promises (rate, dispersion, ramp slope, concurrency over time,
//! the scenario's own gaps, a replayed trace), warm-up and cool-down are excluded from
//! the statistics but kept in requests.jsonl, and sweeps yield one report row per step
//! (the SLO search has its own module, slo_search.rs).
//!
//! Tolerances are statistical (several standard deviations) or generous bounds on
//! timing, so they hold on a loaded two-core machine.

use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};
use volley::sim::SimConfig;

fn sim_config(ttft_ms: u64, itl_ms: u64) -> SimConfig {
    SimConfig { ttft: Duration::from_millis(ttft_ms), itl: Duration::from_millis(itl_ms), default_output_tokens: 1, ..SimConfig::default() }
}

fn shape_args(target: &str, params: Value, out: &TempDir) -> Vec<String> {
    run_args(guest("load-shapes"), target, params, out)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn gaps(times: &[f64]) -> Vec<f64> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

fn mean_cv(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt() / mean)
}

fn field(records: &[Value], key: &str) -> Vec<f64> {
    records.iter().map(|r| ms(&r[key])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gamma_arrivals_have_the_rate_and_dispersion_asked() {
    let sim = start_sim(sim_config(0, 0)).await;
    let out = TempDir::new("gamma");
    let params = json!({"load": "gamma", "rate": 200, "cv": 2.0, "duration_s": 3});
    run_volley_async(shape_args(&sim.url(), params, &out), Duration::from_secs(60)).await.assert_success();
    let sent = sorted(field(&read_records(out.path()), "sent_ms"));
    // Counts of a gamma renewal process have variance ≈ cv² · mean: 4σ ≈ 4 · 2 · √600.
    let n = sent.len() as f64;
    assert!((n - 600.0).abs() < 200.0, "{n} requests, want about 600");
    let (mean, cv) = mean_cv(&gaps(&sent));
    assert!((mean - 5.0).abs() < 1.5, "mean gap {mean} ms, want 5");
    assert!((1.5..2.6).contains(&cv), "gap CV {cv}, want 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_ramp_rises_with_the_slope_asked() {
    let sim = start_sim(sim_config(0, 0)).await;
    let out = TempDir::new("ramp");
    let params = json!({"load": "ramp", "from": 20, "to": 120, "duration_s": 3});
    run_volley_async(shape_args(&sim.url(), params, &out), Duration::from_secs(60)).await.assert_success();
    let sent = sorted(field(&read_records(out.path()), "sent_ms"));
    let start = sent[0];
    // Rate 20 + 100 t / 3: 210 in all, 67.5 in the first half, 142.5 in the second.
    let n = sent.len() as f64;
    assert!((n - 210.0).abs() < 10.0, "{n} requests, want 210");
    let first = sent.iter().filter(|t| **t - start < 1500.0).count() as f64;
    let ratio = (n - first) / first;
    assert!((1.8..2.5).contains(&ratio), "second half / first half = {ratio}, want 2.11");
    // Rate over the last half second: 120 - 100/12 ≈ 112 requests/s.
    let last = sent.iter().filter(|t| **t - start >= 2500.0).count() as f64 * 2.0;
    assert!((90.0..135.0).contains(&last), "final rate {last}/s, want about 112");
}

/// How many requests were in flight at `t` (ms since the run started).
fn in_flight_at(records: &[Value], t: f64) -> usize {
    records.iter().filter(|r| ms(&r["sent_ms"]) <= t && t < ms(&r["sent_ms"]) + ms(&r["latency_ms"])).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_ramp_holds_the_concurrency_of_each_moment() {
    // 50 ms requests; concurrency 1 -> 8 over 3 s, i.e. 1 + 7t/3.
    let sim = start_sim(sim_config(50, 0)).await;
    let out = TempDir::new("cramp");
    let params = json!({"load": "concurrency-ramp", "from": 1, "to": 8, "duration_s": 3});
    run_volley_async(shape_args(&sim.url(), params, &out), Duration::from_secs(60)).await.assert_success();
    // Worker i sends while 1 + 7t/3 >= i + 1: the eighth would start as the stage ends.
    assert_eq!(sim.stats().max_in_flight, 7);
    let records = read_records(out.path());
    let start = sorted(field(&records, "sent_ms"))[0];
    let mean_over = |from_s: f64, to_s: f64| {
        let samples: Vec<usize> =
            (0..20).map(|i| start + 1000.0 * (from_s + (to_s - from_s) * i as f64 / 20.0)).map(|t| in_flight_at(&records, t)).collect();
        samples.iter().sum::<usize>() as f64 / samples.len() as f64
    };
    let early = mean_over(0.05, 0.4); // the ramp is at 1.1 .. 1.9: one worker
    let middle = mean_over(1.35, 1.65); // 4.15 .. 4.85: four
    let late = mean_over(2.65, 2.95); // 7.2 .. 7.9: seven
    assert!(early <= 1.5, "in flight early {early}, want 1");
    assert!((3.0..=5.0).contains(&middle), "in flight mid-way {middle}, want 4");
    assert!(late >= 6.0, "in flight late {late}, want 7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_gaps_are_the_scenarios_own() {
    let sim = start_sim(sim_config(0, 0)).await;
    let out = TempDir::new("custom");
    let params = json!({"load": "custom", "gaps_ms": [5, 40], "max_requests": 40});
    run_volley_async(shape_args(&sim.url(), params, &out), Duration::from_secs(60)).await.assert_success();
    let mut records = read_records(out.path());
    records.sort_by_key(|r| r["seq"].as_u64());
    assert_eq!(records.len(), 40);
    let planned = field(&records, "planned_ms");
    let sent = field(&records, "sent_ms");
    // Request k's gap is gaps[k % 2] after request k-1's planned send.
    for k in 1..40 {
        let want = if k % 2 == 0 { 5.0 } else { 40.0 };
        let got = planned[k] - planned[k - 1];
        assert!((got - want).abs() < 0.01, "planned gap {k} is {got} ms, want {want}");
    }
    let late = sorted(sent.iter().zip(&planned).map(|(s, p)| s - p).collect());
    assert!(late[late.len() / 2] < 2.0, "median send lag {} ms", late[late.len() / 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_up_and_cool_down_are_recorded_but_not_counted() {
    let sim = start_sim(sim_config(0, 0)).await;
    let out = TempDir::new("warmup");
    let params = json!({"load": "constant", "rate": 50, "duration_s": 2, "warmup_s": 0.5, "cooldown_s": 0.5});
    run_volley_async(shape_args(&sim.url(), params, &out), Duration::from_secs(60)).await.assert_success();
    let records = read_records(out.path());
    assert_eq!(records.len(), 100, "every request is in requests.jsonl");
    let excluded = records.iter().filter(|r| r["excluded"] == true).count() as u64;
    // The first 0.5 s and the last 0.5 s at 50/s: 25 each (one either way at the edges).
    assert!((48..=52).contains(&excluded), "{excluded} excluded");
    let stage = &read_report(out.path())["stages"][0];
    assert_eq!(stage["excluded"].as_u64(), Some(excluded));
    assert_eq!(stage["requests"]["sent"].as_u64(), Some(100 - excluded));
    assert_eq!(stage["latency_ms"]["count"].as_u64(), Some(100 - excluded));
    let offered = stage["offered_rps"].as_f64().unwrap();
    assert!((offered - 50.0).abs() < 3.0, "offered {offered}/s over the measured second");
    assert!(stage["warnings"].as_array().unwrap().is_empty(), "{}", stage["warnings"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_is_replayed_at_its_timestamps_with_its_lengths() {
    let sim = start_sim(sim_config(0, 0)).await;
    let dir = TempDir::new("trace");
    // An Azure-style CSV: a header, then timestamp (s), input and output tokens.
    let rows = [(0.0, 30, 3), (0.05, 10, 1), (0.30, 20, 5), (0.31, 5, 2), (0.70, 8, 4), (1.00, 12, 2)];
    let mut csv = String::from("TIMESTAMP,ContextTokens,GeneratedTokens\n");
    for (t, i, o) in rows {
        csv.push_str(&format!("{t},{i},{o}\n"));
    }
    let trace = dir.path().join("trace.csv");
    std::fs::write(&trace, csv).unwrap();
    let out = TempDir::new("trace-run");
    let grant = format!("trace={}", trace.display());
    let args = with(run_args("builtin:trace-replay", &sim.url(), json!({"speedup": 2}), &out), &["--dataset", &grant]);
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let mut records = read_records(out.path());
    records.sort_by_key(|r| r["seq"].as_u64());
    assert_eq!(records.len(), rows.len());
    let planned = field(&records, "planned_ms");
    for k in 1..rows.len() {
        // Twice as fast: half the trace's gaps.
        let want = (rows[k].0 - rows[k - 1].0) * 1000.0 / 2.0;
        assert!((planned[k] - planned[k - 1] - want).abs() < 0.01, "gap {k}: {} ms, want {want}", planned[k] - planned[k - 1]);
        assert_eq!(records[k]["max_tokens"].as_u64(), Some(rows[k].2));
        assert_eq!(records[k]["output_tokens"].as_u64(), Some(rows[k].2));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guidellm_sweep_has_one_row_per_rate_between_sync_and_throughput() {
    let sim = start_sim(sim_config(20, 2)).await;
    let out = TempDir::new("sweep");
    let params = json!({"benchmarks": 4, "stage_s": 1.5, "max_concurrency": 8, "output_tokens": 4, "prompt_tokens": 8});
    run_volley_async(run_args("builtin:sweep", &sim.url(), params, &out), Duration::from_secs(90)).await.assert_success();
    let stages = read_report(out.path())["stages"].as_array().unwrap().clone();
    let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(&names[..2], ["synchronous", "throughput"]);
    let sync = stages[0]["achieved_rps"].as_f64().unwrap();
    let max = stages[1]["achieved_rps"].as_f64().unwrap();
    assert!(max > 3.0 * sync, "throughput {max}/s against synchronous {sync}/s");
    let rates: Vec<f64> = stages[2..].iter().map(|s| s["target_rps"].as_f64().unwrap()).collect();
    assert!(sync < rates[0] && rates[0] < rates[1] && rates[1] < max, "{sync} < {rates:?} < {max}");
    let (step1, step2) = (rates[0] - sync, rates[1] - rates[0]);
    assert!((step1 - step2).abs() < 1e-6 * max, "evenly spaced: {sync}, {rates:?}, {max}");
    for s in &stages[2..] {
        assert_eq!(s["load"]["type"], "constant");
        assert!(s["requests"]["ok"].as_u64().unwrap() > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perf_analyzer_ranges_give_one_row_per_step() {
    let sim = start_sim(sim_config(30, 0)).await;
    let out = TempDir::new("crange");
    let params = json!({"concurrency_range": "1:4:1", "stage_s": 1, "output_tokens": 1, "prompt_tokens": 4});
    run_volley_async(run_args("builtin:rate-range", &sim.url(), params, &out), Duration::from_secs(60)).await.assert_success();
    let stages = read_report(out.path())["stages"].as_array().unwrap().clone();
    assert_eq!(stages.len(), 4);
    // 30 ms requests: each added worker adds about 33 requests/s.
    for (i, s) in stages.iter().enumerate() {
        assert_eq!(s["load"]["n"].as_u64(), Some(i as u64 + 1));
        let per_worker = s["achieved_rps"].as_f64().unwrap() / (i + 1) as f64;
        assert!((20.0..36.0).contains(&per_worker), "stage {i}: {per_worker}/s per worker");
    }
    assert_eq!(sim.stats().max_in_flight, 4);

    let out = TempDir::new("rrange");
    let params = json!({"request_rate_range": "20:60:20", "distribution": "poisson", "stage_s": 1.5, "output_tokens": 1});
    run_volley_async(run_args("builtin:rate-range", &sim.url(), params, &out), Duration::from_secs(60)).await.assert_success();
    let stages = read_report(out.path())["stages"].as_array().unwrap().clone();
    let targets: Vec<f64> = stages.iter().map(|s| s["target_rps"].as_f64().unwrap()).collect();
    assert_eq!(targets, [20.0, 40.0, 60.0]);
    for s in &stages {
        assert_eq!(s["load"]["type"], "poisson");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_requests_that_outlive_the_timeout_fail_at_it() {
    // The server answers after 1.5 s; each request may take 0.3 s. A worker's timer is
    // armed once and moved on lazily, so this checks that every request still ends at its
    // own deadline: not before it, and not at the server's answer.
    let sim = start_sim(sim_config(1500, 0)).await;
    let out = TempDir::new("timeouts");
    let params = json!({"concurrency_range": "2", "stage_s": 1.2, "output_tokens": 1, "prompt_tokens": 4});
    let args = with(run_args("builtin:rate-range", &sim.url(), params, &out), &["--timeout-s", "0.3"]);
    run_volley_async(args, Duration::from_secs(60)).await;
    let records = read_records(out.path());
    // Two workers, each a request every 0.3 s for 1.2 s.
    assert!((6..=12).contains(&records.len()), "{} requests", records.len());
    for r in &records {
        assert_eq!(r["error"], "timeout", "{r}");
        let took = r["latency_from_planned_ms"].as_f64().unwrap();
        assert!((300.0..1400.0).contains(&took), "a request ended after {took} ms");
    }
}
