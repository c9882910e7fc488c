//! What GenAI benchmark users expect of the timings: reasoning, tool calls and prefix
//! caching counted (against the simulator streaming each kind for known times), and
//! thresholds that gate CI with k6's exit code.

use std::time::Duration;

use serde_json::{Value, json};
use volley::sim::SimConfig;

use crate::support::*;

fn sim(ttft_ms: u64, itl_ms: u64) -> SimConfig {
    SimConfig { ttft: Duration::from_millis(ttft_ms), itl: Duration::from_millis(itl_ms), ..SimConfig::default() }
}

/// A few seconds of streamed chat at a modest rate, each request asking for `tokens`.
async fn chat(sim: &volley::sim::Simulator, tokens: u32, more: &[&str]) -> (TempDir, Value, Vec<Value>) {
    let out = TempDir::new("genai");
    let params = json!({"rate": 10, "duration_s": 2, "max_tokens": tokens});
    let args = with(run_args("builtin:chat-poisson", &sim.url(), params, &out), more);
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let (report, records) = (read_report(out.path()), read_records(out.path()));
    (out, report, records)
}

fn near(got: f64, want: f64, tolerance_ms: f64) -> bool {
    (got - want).abs() <= tolerance_ms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_first_then_the_answer_gives_ttft_and_ttfo() {
    // 12 reasoning tokens at 4 ms each after a 40 ms TTFT: the answer starts at 88 ms.
    let s = start_sim(SimConfig { reasoning_tokens: 12, ..sim(40, 4) }).await;
    let (_out, report, records) = chat(&s, 20, &[]).await;
    let st = &report["stages"][0];
    let ok = st["requests"]["ok"].as_u64().unwrap();
    assert!(ok >= 5, "{st}");
    let (ttft, ttfo) = (ms(&st["ttft_ms"]["p50"]), ms(&st["ttfo_ms"]["p50"]));
    assert!(near(ttft, 40.0, 2.0), "TTFT p50 {ttft} ms, configured 40");
    assert!(near(ttfo, 88.0, 2.0), "TTFO p50 {ttfo} ms, configured 40 + 12 × 4 = 88");
    // The second token is the second reasoning token, one ITL after the first.
    assert!(near(ms(&st["ttst_ms"]["p50"]), 44.0, 2.0), "{}", st["ttst_ms"]);
    let r = &st["reasoning"];
    assert_eq!((r["counted"].as_u64(), r["requests_reasoning"].as_u64()), (Some(ok), Some(ok)), "{r}");
    assert_eq!((r["reasoning_tokens"].as_u64(), r["answer_tokens"].as_u64()), (Some(12 * ok), Some(8 * ok)), "{r}");
    assert_eq!(r["source"]["usage"].as_u64(), Some(ok), "the server's completion_tokens_details: {r}");
    for rec in records.iter().filter(|r| r["ok"] == true) {
        assert_eq!(rec["reasoning_tokens"], 12, "{rec}");
        assert!(ms(&rec["ttfo_ms"]) > ms(&rec["ttft_ms"]) + 40.0, "{rec}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_usage_the_tokenizer_counts_the_reasoning() {
    let tokenizer = std::sync::Arc::new(volley::tokenizer::Tokenizer::from_file(std::path::Path::new(&tokenizer_path())).unwrap());
    let config = SimConfig { reasoning_tokens: 6, tokens_per_chunk: 2, usage: false, tokenizer: Some(tokenizer), ..sim(20, 3) };
    let s = start_sim(config).await;
    let (_out, report, _) = chat(&s, 10, &["--tokenizer", &tokenizer_path()]).await;
    let r = &report["stages"][0]["reasoning"];
    let ok = report["stages"][0]["requests"]["ok"].as_u64().unwrap();
    assert_eq!(r["source"]["tokenizer"].as_u64(), Some(ok), "{r}");
    assert_eq!((r["reasoning_tokens"].as_u64(), r["answer_tokens"].as_u64()), (Some(6 * ok), Some(4 * ok)), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_only_streams_have_ttft_itl_and_tpot() {
    let s = start_sim(SimConfig { tool_calls: true, ..sim(30, 5) }).await;
    let (_out, report, records) = chat(&s, 8, &[]).await;
    let st = &report["stages"][0];
    let ok = st["requests"]["ok"].as_u64().unwrap();
    assert!(ok >= 5, "{st}");
    assert!(near(ms(&st["ttft_ms"]["p50"]), 30.0, 2.0), "{}", st["ttft_ms"]);
    assert!(near(ms(&st["ttfo_ms"]["p50"]), ms(&st["ttft_ms"]["p50"]), 0.01), "a tool call is answer, not reasoning");
    assert!(near(ms(&st["itl_ms"]["p50"]), 5.0, 1.0), "{}", st["itl_ms"]);
    assert!(near(ms(&st["tpot_ms"]["p50"]), 5.0, 1.0), "{}", st["tpot_ms"]);
    assert_eq!(st["itl_ms"]["count"].as_u64(), Some(7 * ok), "7 gaps between 8 argument pieces");
    assert_eq!((st["tool_calls"]["requests"].as_u64(), st["tool_calls"]["calls"].as_u64()), (Some(ok), Some(ok)));
    assert_eq!(st["reasoning"]["reasoning_tokens"], 0);
    for rec in records.iter().filter(|r| r["ok"] == true) {
        assert_eq!((rec["tool_calls"].as_u64(), rec["text_chunks"].as_u64()), (Some(1), Some(8)), "{rec}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_cache_hits_are_the_ratio_of_what_servers_report() {
    let s = start_sim(SimConfig { cached_tokens: 3, ..sim(5, 1) }).await;
    let (_out, report, records) = chat(&s, 4, &[]).await;
    let pc = &report["stages"][0]["prefix_cache"];
    let ok: Vec<&Value> = records.iter().filter(|r| r["ok"] == true).collect();
    let cached: u64 = ok.iter().map(|r| r["cached_tokens"].as_u64().unwrap()).sum();
    let prompt: u64 = ok.iter().map(|r| r["prompt_tokens"].as_u64().unwrap()).sum();
    assert_eq!(cached, 3 * ok.len() as u64);
    assert_eq!((pc["cached_tokens"].as_u64(), pc["prompt_tokens"].as_u64()), (Some(cached), Some(prompt)), "{pc}");
    let want = (cached as f64 / prompt as f64 * 1000.0).round() / 1000.0;
    assert_eq!(pc["hit_ratio"].as_f64(), Some(want), "{pc}");
    assert_eq!(pc["reported_share"].as_f64(), Some(1.0), "{pc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_threshold_exits_99_with_every_output_written() {
    let s = start_sim(sim(50, 2)).await;
    let out = TempDir::new("threshold");
    let params = json!({"rate": 10, "duration_s": 1, "max_tokens": 4});
    let failing = with(
        run_args("builtin:chat-poisson", &s.url(), params.clone(), &out),
        &["--threshold", "ttft_ms.p99<10", "--threshold", "error_rate<0.01"],
    );
    let o = run_volley_async(failing, Duration::from_secs(60)).await;
    assert_eq!(o.status.code(), Some(99), "{}", o.stderr);
    assert!(o.stderr.contains("threshold failed: 'ttft_ms.p99<10' on stage 'poisson'"), "{}", o.stderr);
    for file in ["report.json", "report.html", "requests.jsonl", "requests.csv"] {
        assert!(out.path().join(file).exists(), "{file} written");
    }
    let report = read_report(out.path());
    let verdicts = report["thresholds"].as_array().unwrap();
    assert_eq!(verdicts.len(), 2);
    assert_eq!((verdicts[0]["passed"].as_bool(), verdicts[1]["passed"].as_bool()), (Some(false), Some(true)));
    assert!(verdicts[0]["value"].as_f64().unwrap() > 45.0, "the measured TTFT p99: {}", verdicts[0]);

    let holding = TempDir::new("threshold-ok");
    let args = with(run_args("builtin:chat-poisson", &s.url(), params, &holding), &["--threshold", "stage=poisson:ttft_ms.p50<5000"]);
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    assert_eq!(read_report(holding.path())["thresholds"][0]["passed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_threshold_is_one_line_before_anything_is_sent() {
    let s = start_sim(sim(5, 1)).await;
    let target = s.url();
    for (expr, says) in [("ttft_ms.p99", "no comparison"), ("ttft.p99<3", "unknown metric 'ttft.p99'"), ("itl_ms<3", "needs a statistic")] {
        let o = run_volley(&["run", "builtin:chat-poisson", "--target", &target, "--threshold", expr], Duration::from_secs(30));
        assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
        let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{}", o.stderr);
        assert!(lines[0].starts_with("error: --threshold") && lines[0].contains(says), "{}", lines[0]);
    }
    assert_eq!(s.stats().requests, 0, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_on_fail_stops_sending_once_a_maximum_is_over() {
    let s = start_sim(sim(30, 1)).await;
    let out = TempDir::new("abort");
    let params = json!({"rate": 20, "duration_s": 30, "max_tokens": 2});
    let args = with(run_args("builtin:chat-poisson", &s.url(), params, &out), &["--threshold", "ttft_ms.max<10", "--abort-on-fail"]);
    let o = run_volley_async(args, Duration::from_secs(60)).await;
    assert_eq!(o.status.code(), Some(99), "{}", o.stderr);
    assert!(o.elapsed < Duration::from_secs(15), "stopped at the first slow request, not after 30 s: {:?}", o.elapsed);
    let report = read_report(out.path());
    assert_eq!(report["aborted_by"], "ttft_ms.max<10");
    assert!(report["stages"][0]["requests"]["sent"].as_u64().unwrap() < 200, "{}", report["stages"][0]["requests"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_trials_give_three_rows_and_the_mean_of_their_values() {
    let s = start_sim(SimConfig { jitter: 0.3, ..sim(20, 2) }).await;
    let out = TempDir::new("repeat");
    let params = json!({"rate": 20, "duration_s": 1, "max_tokens": 4});
    let args = with(run_args("builtin:chat-poisson", &s.url(), params, &out), &["--repeat", "3"]);
    run_volley_async(args, Duration::from_secs(90)).await.assert_success();
    let trials: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("trials.json")).unwrap()).unwrap();
    let rows = trials["trials"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let seeds: std::collections::BTreeSet<u64> = rows.iter().map(|r| r["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds.len(), 3, "fresh seeds: {seeds:?}");
    assert_eq!(rows[0]["seed"], 1, "the first trial is the plain run");
    for metric in ["ttft_ms.p50", "achieved_rps", "latency_ms.p99"] {
        let m = &trials["stages"][0]["metrics"][metric];
        let (stat_of, field) = metric.split_once('.').map_or((metric, None), |(a, b)| (a, Some(b)));
        let values: Vec<f64> = rows
            .iter()
            .map(|r| {
                let report = read_report(&out.path().join(r["dir"].as_str().unwrap()));
                let v = &report["stages"][0][stat_of];
                field.map_or_else(|| v.as_f64().unwrap(), |f| v[f].as_f64().unwrap())
            })
            .collect();
        let listed: Vec<f64> = m["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(listed, values, "{metric}: each trial's own report");
        let mean = values.iter().sum::<f64>() / 3.0;
        assert!((m["mean"].as_f64().unwrap() - mean).abs() < 1e-5, "{metric}: {m} vs {mean}");
        let ci = m["ci95"].as_array().unwrap();
        assert!(ci[0].as_f64().unwrap() <= mean && mean <= ci[1].as_f64().unwrap(), "{metric}: {m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_telemetry_from_recorded_nvidia_smi_output() {
    // No GPU here: `nvidia-smi` is a script that answers what an H100 host answered
    // (NVML is absent, so the sampler falls back to it exactly as on such a host).
    let bin = TempDir::new("fake-smi");
    let smi = bin.path().join("nvidia-smi");
    std::fs::write(
        &smi,
        "#!/bin/sh\nprintf '0, 70213, 81559, 97, 600.00, 1980, NVIDIA H100 80GB HBM3\\n1, 3, 81559, 0, 70.00, 345, NVIDIA H100 80GB HBM3\\n'\n",
    )
    .unwrap();
    std::fs::set_permissions(&smi, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let s = start_sim(sim(5, 1)).await;
    let out = TempDir::new("gpu");
    let params = json!({"rate": 20, "duration_s": 2, "max_tokens": 8}).to_string();
    let args = vec![
        "run".into(),
        "builtin:chat-poisson".into(),
        "--target".into(),
        s.url(),
        "--params".into(),
        params,
        "--out".into(),
        out.path().display().to_string(),
        "--quiet".into(),
        "--gpu-metrics".into(),
        "100".into(),
    ];
    let o = run_with_env(args, vec![("PATH".into(), path)]).await;
    o.assert_success();
    let report = read_report(out.path());
    let gpu = &report["gpu"];
    assert_eq!((gpu["available"].as_bool(), gpu["source"].as_str()), (Some(true), Some("nvidia-smi")), "{gpu}");
    assert_eq!(gpu["devices"].as_array().unwrap().len(), 2);
    let st = &report["stages"][0];
    let devices = st["gpu"].as_array().unwrap();
    assert_eq!(devices.len(), 2, "{}", st["gpu"]);
    let busy = &devices[0];
    assert_eq!((busy["utilization_mean_pct"].as_f64(), busy["power_mean_w"].as_f64()), (Some(97.0), Some(600.0)), "{busy}");
    // 600 W over the stage's sampled span: at least 1.5 s of the 2 s stage at 100 ms.
    let joules = busy["energy_j"].as_f64().unwrap();
    assert!((900.0..=1400.0).contains(&joules), "{joules} J at 600 W: {busy}");
    assert_eq!(busy["energy_source"], "power");
    let idle = devices[1]["energy_j"].as_f64().unwrap();
    assert!((joules / idle - 600.0 / 70.0).abs() < 0.01, "same span for both devices: {joules} vs {idle}");
    let tokens = st["output_tokens"]["total"].as_f64().unwrap();
    let per_joule = st["output_tokens_per_joule"].as_f64().unwrap();
    assert!((per_joule - tokens / (joules + idle)).abs() < 0.001, "{per_joule}");
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(html.contains("GPU utilisation") && html.contains("GPU power"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_gpu_the_report_says_why_once() {
    let s = start_sim(sim(5, 1)).await;
    let out = TempDir::new("no-gpu");
    let params = json!({"rate": 10, "duration_s": 1, "max_tokens": 2}).to_string();
    // A PATH without nvidia-smi (and no libnvidia-ml on this machine's loader path).
    let args = vec![
        "run".into(),
        "builtin:chat-poisson".into(),
        "--target".into(),
        s.url(),
        "--params".into(),
        params,
        "--out".into(),
        out.path().display().to_string(),
        "--gpu-metrics".into(),
    ];
    let o = run_with_env(args, vec![("PATH".into(), "/nonexistent".into())]).await;
    if read_report(out.path())["gpu"]["available"] == true {
        return; // a machine with a GPU driver: nothing to say
    }
    o.assert_success();
    assert_eq!(o.stdout.matches("GPU metrics: none on this machine").count(), 1, "{}", o.stdout);
    let report = read_report(out.path());
    assert!(report["gpu"]["unavailable_reason"].as_str().unwrap().contains("nvidia-smi"), "{}", report["gpu"]);
    assert_eq!(report["stages"][0]["gpu"], json!([]));
}

/// `volley ARGS` with extra environment variables, from async code.
async fn run_with_env(args: Vec<String>, envs: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_program(volley_bin(), &args, &envs, Duration::from_secs(60))
    })
    .await
    .unwrap()
}
