//! WIT versioning: a component built against `volley:scenario@0.1.0` (kept as a binary
//! fixture, built before the WIT moved to 0.2) still runs on this host.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;
use volley::sim::SimConfig;

fn fixture(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/v0.1").join(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v0_1_component_still_runs() {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(20), itl: Duration::from_millis(2), ..SimConfig::default() }).await;
    let out = TempDir::new("compat");
    let params = json!({"rate": 20, "max_requests": 10, "duration_s": 10, "max_tokens": 5});
    run_volley_async(run_args(&fixture("chat-poisson.wasm"), &sim.url(), params, &out), Duration::from_secs(60))
        .await
        .assert_success();
    let report = read_report(out.path());
    assert_eq!(report["scenario"]["wit"], "0.1.0");
    assert_eq!(report["stages"][0]["requests"]["ok"], 10);
    assert!(ms(&report["stages"][0]["ttft_ms"]["p50"]) >= 20.0);
    // The shipped builtin is built against the current WIT.
    let out = TempDir::new("compat-new");
    run_volley_async(run_args("builtin:chat-poisson", &sim.url(), json!({"max_requests": 2, "rate": 20}), &out), Duration::from_secs(60))
        .await
        .assert_success();
    assert_eq!(read_report(out.path())["scenario"]["wit"], "0.2.0");
}
