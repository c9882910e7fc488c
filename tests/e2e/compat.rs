//! WIT versioning: components built against older `volley:scenario` versions (kept as
//! binary fixtures, built before the WIT moved on) still run on this host.

use std::time::Duration;

use crate::support::*;
use serde_json::json;
use volley::sim::SimConfig;

fn fixture(version: &str, name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(version).join(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v0_1_component_still_runs() {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(20), itl: Duration::from_millis(2), ..SimConfig::default() }).await;
    let params = json!({"rate": 20, "max_requests": 10, "duration_s": 10, "max_tokens": 5});
    for version in ["v0.1", "v0.2", "v0.3", "v0.4", "v0.5"] {
        let out = TempDir::new("compat");
        let args = run_args(&fixture(version, "chat-poisson.wasm"), &sim.url(), params.clone(), &out);
        run_volley_async(args, Duration::from_secs(60)).await.assert_success();
        let report = read_report(out.path());
        assert_eq!(report["scenario"]["wit"].as_str(), Some(&version[1..]).map(|v| format!("{v}.0")).as_deref());
        assert_eq!(report["stages"][0]["requests"]["ok"], 10);
        // The simulator centres its timer error on the planned instant: ±1 ms.
        assert!(ms(&report["stages"][0]["ttft_ms"]["p50"]) >= 19.0);
    }
    // The shipped builtin is built against the current WIT.
    let out = TempDir::new("compat-new");
    run_volley_async(run_args("builtin:chat-poisson", &sim.url(), json!({"max_requests": 2, "rate": 20}), &out), Duration::from_secs(60))
        .await
        .assert_success();
    let newest = volley::scenario::WitVersion::SUPPORTED[0].semver();
    assert_eq!(read_report(out.path())["scenario"]["wit"], newest);
}
