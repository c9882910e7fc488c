//! Hostile scenarios are stopped by the sandbox within a bounded time, with one clear
//! line naming the scenario and the cause, and a non-zero exit without a panic.

use std::time::Duration;

use crate::support::*;
use volley::sim::SimConfig;

async fn run_hostile(guest_name: &str) -> Output {
    let sim = start_sim(SimConfig::default()).await;
    let out = TempDir::new(guest_name);
    let args = vec![
        "run".to_string(),
        guest(guest_name).to_string(),
        "--target".into(),
        sim.url(),
        "--out".into(),
        out.path().display().to_string(),
        "--quiet".into(),
        "--guest-timeout-ms".into(),
        "500".into(),
        "--guest-memory-mib".into(),
        "64".into(),
    ];
    let o = run_volley_async(args, Duration::from_secs(30)).await;
    // Nothing was sent, but the run still left its (empty) records and report.
    assert!(out.path().join("report.json").exists());
    assert_eq!(sim.stats().requests, 0);
    o
}

fn assert_fault(o: &Output, expect: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    let errors = o.error_lines();
    assert_eq!(errors.len(), 1, "{}", o.stderr);
    assert!(errors[0].contains(expect), "{:?} lacks {expect:?}", errors[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_loop_is_stopped_by_the_time_limit() {
    let o = run_hostile("spin-forever").await;
    assert_fault(&o, "scenario 'spin_forever' exceeded its time limit of 500 ms in next-requests");
    // 500 ms budget, 10 ms epoch ticks; the rest is start-up. Generous for a busy box.
    assert!(o.elapsed < Duration::from_secs(15), "took {:?}", o.elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_allocation_is_stopped_by_the_memory_limit() {
    let o = run_hostile("memory-bomb").await;
    assert_fault(&o, "scenario 'memory_bomb' exceeded its memory limit of 64 MiB in next-requests");
    assert!(o.elapsed < Duration::from_secs(15), "took {:?}", o.elapsed);
}
