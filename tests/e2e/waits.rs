//! Scenarios that wait on outcomes, end to end against the simulator: a stage starts as
//! soon as its scenario has said it has nothing more for now (no fixed prefill wait), and
//! a stage whose scenario waits on nothing is stopped at the policy's `max_idle_s` —
//! while one that waits on a request still out is not.

use std::time::Duration;

use serde_json::{Value, json};
use volley::sim::SimConfig;

use crate::support::*;

fn sim_config(ttft_ms: u64) -> SimConfig {
    SimConfig { ttft: Duration::from_millis(ttft_ms), itl: Duration::from_millis(5), ..SimConfig::default() }
}

/// The record planned first (planned_ms counts from the run's start, not the stage's).
fn first_planned(records: &[Value]) -> &Value {
    records.iter().min_by(|a, b| ms(&a["planned_ms"]).total_cmp(&ms(&b["planned_ms"]))).expect("a request was sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_turn_conversations_start_at_once() {
    // Four conversations of two turns, four at once: the first turns go out together,
    // then the scenario waits for their answers. The queue never fills; the stage must
    // not wait for it to (it waited 5 s).
    let sim = start_sim(sim_config(20)).await;
    let out = TempDir::new("multi-turn-start");
    let params = json!({"conversations": 4, "turns": 2, "concurrency": 4, "output_tokens": 4});
    let o = run_volley_async(run_args("builtin:multi-turn", &sim.url(), params, &out), Duration::from_secs(60)).await;
    o.assert_success();
    let records = read_records(out.path());
    assert_eq!(records.len(), 8, "4 conversations × 2 turns");
    assert!(records.iter().all(|r| r["ok"] == true), "{records:?}");
    let first = first_planned(&records);
    let planned = ms(&first["planned_ms"]);
    assert!(planned < 300.0, "the first request was planned {planned} ms after the run's start");
    let lag = ms(&first["schedule_lag_ms"]);
    assert!(lag < 5.0, "the first send was {lag} ms late");
    // Two turns of ~40 ms each: nothing near the old five-second wait.
    let last_done = records.iter().map(|r| ms(&r["planned_ms"]) + ms(&r["latency_from_planned_ms"])).fold(0.0, f64::max);
    assert!(last_done < 2000.0, "the last answer came {last_done} ms after the start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_loop_on_its_own_clock_starts_at_once() {
    // Open loop on the scenario's own gaps, each request only after the previous one's
    // answer: the scenario says "nothing yet" after its first request.
    let sim = start_sim(sim_config(20)).await;
    let out = TempDir::new("agent-start");
    let params = json!({"load": "custom", "gaps_ms": [0], "max_requests": 3, "after_outcome": true});
    let o = run_volley_async(run_args(guest("load-shapes"), &sim.url(), params, &out), Duration::from_secs(60)).await;
    o.assert_success();
    let records = read_records(out.path());
    assert_eq!(records.len(), 3, "{records:?}");
    let first = first_planned(&records);
    let planned = ms(&first["planned_ms"]);
    assert!(planned < 300.0, "the first request was planned {planned} ms after the run's start");
    let lag = ms(&first["schedule_lag_ms"]);
    assert!(lag < 5.0, "the first send was {lag} ms late");
}

/// Runs the hostile guest's `wait-forever` mode (`n` requests, then "nothing yet" for
/// ever, in a stage without end) under `policy`.
async fn wait_forever(sim: &volley::sim::Simulator, n: u32, policy: &str) -> (Output, TempDir) {
    let out = TempDir::new("idle");
    let policy_file = out.path().join("policy.toml");
    std::fs::write(&policy_file, policy).unwrap();
    let params = json!({"mode": "wait-forever", "n": n});
    let args = with(run_args(guest("hostile"), &sim.url(), params, &out), &["--policy", &policy_file.display().to_string()]);
    (run_volley_async(args, Duration::from_secs(60)).await, out)
}

fn assert_refused_idle(o: &Output) {
    assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
    let errors = o.error_lines();
    assert_eq!(errors.len(), 1, "one error line: {}", o.stderr);
    assert!(errors[0].contains("max_idle_s = 1") && errors[0].contains("'waits'"), "{}", errors[0]);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_whose_scenario_never_produces_is_stopped_at_max_idle_s() {
    // Without the bound the stage would idle until max_stage_s (a day by default).
    let sim = start_sim(sim_config(1)).await;
    let (o, out) = wait_forever(&sim, 0, "max_idle_s = 1.0").await;
    assert_refused_idle(&o);
    assert!(o.error_lines()[0].contains("produced no request for 1 s"), "{}", o.stderr);
    assert!(o.elapsed >= Duration::from_secs(1) && o.elapsed < Duration::from_secs(15), "took {:?}", o.elapsed);
    assert_eq!(sim.stats().requests, 0);
    // The report is written, with its stage.
    let report = read_report(out.path());
    assert_eq!(report["stages"][0]["requests"]["sent"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_waiting_on_a_request_still_out_is_not_idle() {
    // One request that takes 2.5 s, then nothing: the wait for its answer is longer than
    // max_idle_s and is no idling; the second after it is.
    let sim = start_sim(sim_config(2500)).await;
    let (o, out) = wait_forever(&sim, 1, "max_idle_s = 1.0").await;
    assert_refused_idle(&o);
    assert!(o.elapsed >= Duration::from_millis(3500), "stopped {:?} into the run, before the answer plus a second", o.elapsed);
    let records = read_records(out.path());
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["ok"], true, "the request out was answered, not cancelled: {}", records[0]);
}
