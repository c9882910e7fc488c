//! End-to-end checks of the foundation against the built-in simulator over loopback:
//! timing accuracy, arrival statistics, bursts, determinism and the run's outputs.

use std::time::Duration;

use crate::support::*;
use serde_json::json;
use volley::sim::SimConfig;

fn sim_config(ttft_ms: u64, itl_ms: u64) -> SimConfig {
    SimConfig { ttft: Duration::from_millis(ttft_ms), itl: Duration::from_millis(itl_ms), ..SimConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_and_itl_match_the_simulator_within_ten_percent() {
    let sim = start_sim(sim_config(200, 20)).await;
    let out = TempDir::new("timing");
    let params = json!({"rate": 4, "duration_s": 3, "max_tokens": 12});
    let o = run_volley_async(run_args("builtin:chat-poisson", &sim.url(), params, &out), Duration::from_secs(60)).await;
    o.assert_success();
    let report = read_report(out.path());
    let stage = &report["stages"][0];
    assert!(stage["requests"]["ok"].as_u64().unwrap() >= 3, "{stage}");
    assert_eq!(stage["requests"]["failed"], 0);
    let ttft = ms(&stage["ttft_ms"]["p50"]);
    let itl = ms(&stage["itl_ms"]["p50"]);
    assert!((180.0..=220.0).contains(&ttft), "median TTFT {ttft} ms, want 200 ± 10 %");
    assert!((18.0..=22.0).contains(&itl), "median ITL {itl} ms, want 20 ± 10 %");
    // 12 tokens per request, counted by the server's usage.
    assert_eq!(stage["output_tokens"]["max"], 12);
    assert_eq!(stage["output_tokens"]["source"]["usage"], stage["requests"]["ok"]);
    // Every report field the issue names is present.
    for metric in ["ttft_ms", "itl_ms", "tpot_ms", "latency_ms", "schedule_lag_ms"] {
        for p in ["p50", "p90", "p95", "p99", "p99.9", "mean"] {
            assert!(stage[metric][p].is_number(), "{metric}.{p} missing");
        }
    }
    assert!(stage["achieved_rps"].as_f64().unwrap() > 0.0);
    assert!(stage["output_tokens_per_s"].as_f64().unwrap() > 0.0);
    assert!(report["scenario"]["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(report["seed"], 1);
    // The console summary has the percentile table; no progress bar off a terminal.
    assert!(o.stdout.contains("TTFT") && o.stdout.contains("ITL"), "{}", o.stdout);
    assert!(!o.stderr.contains('\r') && !o.stderr.contains("[#"), "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poisson_sends_rate_times_duration_with_poisson_dispersion() {
    // R = 40/s for T = 5 s: N ~ Poisson(200), σ ≈ 14.1; accept ±4σ. Gaps of a Poisson
    // process are exponential: coefficient of variation 1 (its estimate from ~200 gaps
    // has a standard error near 0.07; accept ±0.3).
    let sim = start_sim(sim_config(0, 0)).await;
    let out = TempDir::new("poisson");
    let params = json!({"rate": 40, "duration_s": 5, "max_tokens": 2, "stream": false});
    let o = run_volley_async(run_args("builtin:chat-poisson", &sim.url(), params, &out), Duration::from_secs(60)).await;
    o.assert_success();
    let records = read_records(out.path());
    let n = records.len() as f64;
    assert!((n - 200.0).abs() <= 4.0 * 200f64.sqrt(), "sent {n}, expected 200 ± 57");
    assert_eq!(sim.stats().requests as usize, records.len(), "the server saw every request");
    let mut sent: Vec<f64> = records.iter().map(|r| ms(&r["sent_ms"])).collect();
    sent.sort_by(f64::total_cmp);
    let gaps: Vec<f64> = sent.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (gaps.len() - 1) as f64).sqrt();
    assert!((sd / mean - 1.0).abs() < 0.3, "gap CV {} (mean {mean} ms)", sd / mean);
    assert!(records.iter().all(|r| r["ok"] == true));
    // requests.csv has the same requests, one row each, under its header.
    let csv = std::fs::read_to_string(out.path().join("requests.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header.len(), 39);
    let sent_col = header.iter().position(|h| *h == "sent_ms").unwrap();
    let mut csv_sent: Vec<f64> = lines.map(|l| l.split(',').nth(sent_col).unwrap().parse().unwrap()).collect();
    csv_sent.sort_by(f64::total_cmp);
    assert_eq!(csv_sent, sent, "the CSV rows are the JSONL records");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_has_all_hundred_requests_in_flight_at_once() {
    // Each response takes ≥ 0.5 s, far longer than sending 100 requests takes.
    let sim = start_sim(sim_config(500, 10)).await;
    let out = TempDir::new("burst");
    let params = json!({"max_tokens": 8});
    // Pinned to its own digest, the component runs.
    let digest = volley::scenario::ScenarioSource::load("builtin:burst").unwrap().digest;
    let args = with(run_args("builtin:burst", &sim.url(), params, &out), &["--digest", &digest]);
    let o = run_volley_async(args, Duration::from_secs(60)).await;
    o.assert_success();
    let stats = sim.stats();
    assert_eq!(stats.requests, 100);
    assert_eq!(stats.max_in_flight, 100, "the server saw {} at once", stats.max_in_flight);
    // Client side: every request was sent before the first one got its first token.
    let records = read_records(out.path());
    assert_eq!(records.len(), 100);
    let last_send = records.iter().map(|r| ms(&r["sent_ms"])).fold(f64::MIN, f64::max);
    let first_token = records.iter().map(|r| ms(&r["sent_ms"]) + ms(&r["ttft_ms"])).fold(f64::MAX, f64::min);
    assert!(last_send < first_token, "last send at {last_send} ms, first token at {first_token} ms");
    let planned: Vec<f64> = records.iter().map(|r| ms(&r["planned_ms"])).collect();
    assert!(planned.iter().all(|p| *p == planned[0]), "one planned instant for the whole burst");
}

/// Against the simulator stamping each chunk with its send instant (`--stamp-chunks`):
/// every chunk Volley timestamped was one the server had sent by then, and each
/// record's chunks match its stamps one for one; the stage reports the generator's CPU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_timestamps_come_after_the_servers_send_stamps() {
    let sim = start_sim(SimConfig { stamp_chunks: true, ..sim_config(5, 2) }).await;
    let out = TempDir::new("stamps");
    let params = json!({"request_rate_range": "40", "distribution": "poisson", "stage_s": 1, "stream": true,
                        "prompt_tokens": 4, "output_tokens": 6});
    let args = with(run_args("builtin:rate-range", &sim.url(), params, &out), &["--record-text", "--threads", "1"]);
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let stage = &read_report(out.path())["stages"][0];
    assert!(stage["generator_cpu_s"].as_f64().unwrap() > 0.0, "{}", stage["generator_cpu_s"]);
    let w = &stage["window"];
    // The run's clock on the wall clock, as scripts/bench/stamps.py places it.
    let base = ms(&w["started_unix_ms"]) - ms(&w["started_ms"]);
    let mut chunks = 0;
    for r in read_records(out.path()).iter().filter(|r| r["ok"] == true) {
        let stamps: Vec<f64> =
            r["response_text"].as_str().unwrap().split_whitespace().map(|s| s.parse::<f64>().unwrap() / 1000.0).collect();
        let gaps: Vec<f64> = r["itl_ms"].as_array().unwrap().iter().map(ms).collect();
        assert_eq!(stamps.len(), gaps.len() + 1, "one stamp per timed chunk: {r}");
        let mut seen = base + ms(&r["sent_ms"]) + ms(&r["ttft_ms"]);
        for (i, stamp) in stamps.iter().enumerate() {
            if i > 0 {
                seen += gaps[i - 1];
            }
            // Microsecond rounding of the record's fields, and the clocks' placement.
            assert!(seen - stamp > -0.5, "chunk {i} seen {:.3} ms before it was sent: {r}", stamp - seen);
            assert!(seen - stamp < 2000.0, "chunk {i} seen {:.3} ms after it was sent", seen - stamp);
            chunks += 1;
        }
    }
    assert!(chunks >= 60, "{chunks} chunks checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_requests_and_schedule() {
    let sim = start_sim(sim_config(0, 0)).await;
    let mut runs = Vec::new();
    for seed in ["7", "7", "8"] {
        let out = TempDir::new("seed");
        let mut args = run_args(
            "builtin:chat-poisson",
            &sim.url(),
            json!({"rate": 50, "max_requests": 30, "duration_s": 10, "max_tokens": 1, "stream": false}),
            &out,
        );
        args.extend(["--seed".into(), seed.into()]);
        run_volley_async(args, Duration::from_secs(60)).await.assert_success();
        let records = read_records(out.path());
        let mut rows: Vec<(u64, f64, u64)> =
            records.iter().map(|r| (r["seq"].as_u64().unwrap(), ms(&r["planned_ms"]), r["prompt_tokens"].as_u64().unwrap())).collect();
        rows.sort_by_key(|r| r.0);
        assert_eq!(rows.len(), 30);
        // Planned times are relative to the run's start; compare them to the first.
        let t0 = rows[0].1;
        runs.push(rows.into_iter().map(|(_, t, p)| ((t - t0).round() as i64, p)).collect::<Vec<_>>());
    }
    assert_eq!(runs[0], runs[1], "seed 7 twice gives the same schedule and prompts");
    assert_ne!(runs[0], runs[2], "seed 8 differs");
}

fn shape_args(target: &str, params: serde_json::Value, out: &TempDir) -> Vec<String> {
    run_args(guest("load-shapes"), target, params, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_rate_sends_evenly_spaced() {
    let sim = start_sim(sim_config(0, 0)).await;
    let out = TempDir::new("constant");
    let params = json!({"load": "constant", "rate": 20, "duration_s": 2});
    run_volley_async(shape_args(&sim.url(), params, &out), Duration::from_secs(60)).await.assert_success();
    let mut sent: Vec<f64> = read_records(out.path()).iter().map(|r| ms(&r["sent_ms"])).collect();
    sent.sort_by(f64::total_cmp);
    assert_eq!(sent.len(), 40, "20/s for 2 s");
    let mut gaps: Vec<f64> = sent.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    let median = gaps[gaps.len() / 2];
    assert!((median - 50.0).abs() < 2.0, "median gap {median} ms, want 50");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_holds_its_concurrency() {
    // 4 workers against 100 ms responses for 2 s: the server never sees more than 4
    // at once, sees 4 at some point, and about 4 × 2 s / 0.1 s = 80 requests arrive.
    let sim = start_sim(sim_config(100, 0)).await;
    let out = TempDir::new("closed");
    let params = json!({"load": "concurrency", "n": 4, "duration_s": 2});
    run_volley_async(shape_args(&sim.url(), params, &out), Duration::from_secs(60)).await.assert_success();
    let stats = sim.stats();
    assert_eq!(stats.max_in_flight, 4);
    assert!((60..=84).contains(&stats.requests), "{} requests", stats.requests);
    let report = read_report(out.path());
    assert_eq!(report["stages"][0]["requests"]["ok"].as_u64(), Some(stats.requests));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_ends_at_max_requests() {
    let sim = start_sim(sim_config(0, 0)).await;
    let out = TempDir::new("maxreq");
    let params = json!({"load": "constant", "rate": 200, "max_requests": 25});
    run_volley_async(shape_args(&sim.url(), params, &out), Duration::from_secs(60)).await.assert_success();
    assert_eq!(read_records(out.path()).len(), 25);
    assert_eq!(sim.stats().requests, 25);
}

#[test]
fn progress_is_drawn_on_a_terminal() {
    // `script` gives the demo a pseudo-terminal, where the per-stage line is drawn.
    let out = TempDir::new("tty");
    let command = format!("{} demo --seconds 1.5 --out {}", volley_bin(), out.path().display());
    let o = std::process::Command::new("script").args(["-qc", &command, "/dev/null"]).output().expect("script(1) from util-linux");
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("poisson [") && text.contains("TTFT p50"), "{text}");
}
