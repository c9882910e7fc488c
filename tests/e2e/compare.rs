//! `volley compare`, end to end against the simulator: run directories and `--repeat`
//! directories are accepted, stages are matched by name with the unpaired ones named,
//! and a difference is called better or worse only where it exceeds the noise.
//!
//! Runs that must not differ are made alike on purpose: the same `--seed` (the same
//! arrivals, trial by trial) against a fresh simulator with the same seed (the same
//! jitter draws), so the only difference left is the machine's own timing noise, which a
//! loaded two-core machine adds to both. Jitter is wide, so the noise the verdicts must
//! allow for is the requests' own, not the machine's.

use std::time::Duration;

use crate::support::*;
use serde_json::json;
use volley::sim::SimConfig;

/// A simulator answering one token after `ttft_ms`, each delay scaled by a factor drawn
/// from [1 − jitter, 1 + jitter] with the simulator's seed.
fn sim_config(ttft_ms: u64, jitter: f64) -> SimConfig {
    SimConfig { ttft: Duration::from_millis(ttft_ms), itl: Duration::from_millis(1), jitter, seed: 7, ..SimConfig::default() }
}

fn compare(a: &TempDir, b: &TempDir) -> Output {
    run_volley(&["compare", &a.path().display().to_string(), &b.path().display().to_string()], Duration::from_secs(30))
}

/// The table's row for `label` (e.g. "TTFT p50 ms").
fn row<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no row {label}:\n{stdout}"))
}

/// Rows whose verdict is a change.
fn changes(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with("  ") && (l.ends_with("  better") || l.ends_with("  worse"))).collect()
}

/// B against A in per cent, as the row prints it.
fn change_pct(row: &str) -> f64 {
    let field = row.split_whitespace().find(|w| w.ends_with('%') && (w.starts_with('+') || w.starts_with('-'))).expect("a change");
    field.trim_end_matches('%').parse().unwrap()
}

async fn run(target: &str, scenario: &str, params: serde_json::Value, out: &TempDir, more: &[&str]) {
    let mut extra = vec!["--seed", "3"];
    extra.extend_from_slice(more);
    let args = with(run_args(scenario, target, params, out), &extra);
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_directories_pair_stages_by_name_and_name_the_unpaired() {
    let sim = start_sim(sim_config(2, 0.0)).await;
    let (four, one) = (TempDir::new("cmp-four"), TempDir::new("cmp-one"));
    let shape = |range: &str| json!({"request_rate_range": range, "stage_s": 0.5, "output_tokens": 1});
    run(&sim.url(), "builtin:rate-range", shape("10:40:10"), &four, &[]).await;
    run(&sim.url(), "builtin:rate-range", shape("20"), &one, &[]).await;

    let o = compare(&four, &one);
    o.assert_success();
    assert!(
        o.stdout.contains("stages only in A, not compared: 'constant 10/s', 'constant 30/s', 'constant 40/s'"),
        "the three unpaired stages by name:\n{}",
        o.stdout
    );
    let headings: Vec<&str> = o.stdout.lines().filter(|l| l.starts_with("stage '")).collect();
    assert_eq!(headings, ["stage 'constant 20/s' (constant 20/s vs constant 20/s)"], "{}", o.stdout);
    // The other way round, the same stages are B's.
    let o = compare(&one, &four);
    assert!(o.stdout.contains("stages only in B, not compared: 'constant 10/s', 'constant 30/s', 'constant 40/s'"), "{}", o.stdout);

    // A directory with no run in it: one line, the cause once, exit 1.
    let empty = TempDir::new("cmp-empty");
    let o = compare(&empty, &one);
    assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.starts_with("error: ") && o.stderr.contains("holds neither report.json nor trials.json"), "{}", o.stderr);
    let missing = one.path().join("nope");
    let o = run_volley(&["compare", &missing.display().to_string(), &one.path().display().to_string()], Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
    assert_eq!(o.stderr.matches("No such file or directory").count(), 1, "the cause once: {}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_of_one_configuration_are_not_called_better_or_worse() {
    let params = json!({"rate": 20, "duration_s": 1, "max_tokens": 1});
    let (a, b) = (TempDir::new("cmp-rep-a"), TempDir::new("cmp-rep-b"));
    for out in [&a, &b] {
        // A fresh simulator each time: the same jitter draws, request by request.
        let sim = start_sim(sim_config(100, 0.5)).await;
        run(&sim.url(), "builtin:chat-poisson", params.clone(), out, &["--repeat", "3"]).await;
    }
    let o = compare(&a, &b);
    o.assert_success();
    assert!(o.stdout.lines().next().unwrap_or("").ends_with("3 trials)"), "{}", o.stdout);
    assert!(changes(&o.stdout).is_empty(), "a configuration against itself:\n{}", o.stdout);
    for label in ["TTFT p50 ms", "TTFT p99 ms", "latency p50 ms", "achieved req/s"] {
        assert!(row(&o.stdout, label).ends_with("cannot tell (within noise)"), "{label}:\n{}", o.stdout);
    }
    assert!(o.stdout.contains("95 % for the mean over each side's trials"), "{}", o.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_times_slower_first_token_is_called_worse_from_trials_and_from_single_runs() {
    let params = json!({"rate": 20, "duration_s": 1, "max_tokens": 1});
    let (fast, slow) = (start_sim(sim_config(20, 0.3)).await, start_sim(sim_config(200, 0.3)).await);
    let (a, b) = (TempDir::new("cmp-fast"), TempDir::new("cmp-slow"));
    run(&fast.url(), "builtin:chat-poisson", params.clone(), &a, &["--repeat", "3"]).await;
    run(&slow.url(), "builtin:chat-poisson", params, &b, &["--repeat", "3"]).await;

    let o = compare(&a, &b);
    o.assert_success();
    for label in ["TTFT p50 ms", "latency p50 ms"] {
        let line = row(&o.stdout, label);
        assert!(line.ends_with("  worse"), "{label}:\n{}", o.stdout);
        assert!(change_pct(line) > 500.0, "{line}");
    }
    assert!(!changes(&o.stdout).iter().any(|l| l.ends_with("better")), "{}", o.stdout);

    // One trial of each, as single runs: their histograms say as much.
    let o = run_volley(
        &["compare", &a.path().join("trial-1").display().to_string(), &b.path().join("trial-1").display().to_string()],
        Duration::from_secs(30),
    );
    o.assert_success();
    assert!(row(&o.stdout, "TTFT p50 ms").ends_with("  worse"), "{}", o.stdout);
    assert!(o.stdout.contains("each from its own run's sample"), "{}", o.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_runs_twenty_per_cent_apart_within_their_noise_cannot_tell() {
    // Twelve requests 100 ms apart (the stage ends between two sends, not on one), first
    // tokens spread ±90 % by the same draws on both sides, so B's are A's × 1.2 request
    // by request. Around 300 ms (seed 2 draws a median factor near 0.85): the few
    // milliseconds a loaded machine adds stay small beside the 20 %.
    let params = json!({"request_rate_range": "10", "stage_s": 1.15, "output_tokens": 1});
    let (a, b) = (TempDir::new("cmp-20-a"), TempDir::new("cmp-20-b"));
    for (out, ttft_ms) in [(&a, 300), (&b, 360)] {
        let sim = start_sim(SimConfig { seed: 2, ..sim_config(ttft_ms, 0.9) }).await;
        run(&sim.url(), "builtin:rate-range", params.clone(), out, &[]).await;
    }
    let sent = |out: &TempDir| read_report(out.path())["stages"][0]["requests"]["ok"].clone();
    assert_eq!((sent(&a), sent(&b)), (json!(12), json!(12)));
    let o = compare(&a, &b);
    o.assert_success();
    let ttft = row(&o.stdout, "TTFT p50 ms");
    let pct = change_pct(ttft);
    assert!((10.0..30.0).contains(&pct), "a difference of about 20 %: {ttft}");
    assert!(ttft.ends_with("cannot tell (within noise)"), "{}", o.stdout);
    assert!(changes(&o.stdout).is_empty(), "{}", o.stdout);
    let verdicts = o.stdout.lines().last().unwrap_or("");
    assert!(verdicts.starts_with("verdicts: 0 better, 0 worse, "), "{}", o.stdout);
}
