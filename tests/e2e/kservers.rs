//! KServe v1 and v2 against real third-party servers (../shared/kservers): NVIDIA
//! Triton 2.51 via PyTriton (dynamic batching, statistics, Prometheus metrics) and
//! KServe's own Python ModelServer. `.ci/run` starts them; each test stops its server.

use std::time::Duration;

use crate::support::*;
use serde_json::json;

const TRITON: u16 = 18000;
const KSERVE: u16 = 18080;

#[test]
fn triton_batches_poisson_load_dynamically() {
    let server = KServer::take("triton", TRITON);
    let out = TempDir::new("triton");
    let metrics = format!("http://127.0.0.1:{}/metrics", TRITON + 2);
    let params = json!({"model": "sum_fp32", "version": "1", "shape": [4], "rate": 300, "duration_s": 4});
    let args = with(
        run_args("builtin:kserve", &server.url(), params, &out),
        &["--triton-stats", "sum_fp32:1", "--server-metrics", &metrics, "--metrics-interval-ms", "500"],
    );
    run_volley_args(&args, Duration::from_secs(120)).assert_success();
    let st = &read_report(out.path())["stages"][0];
    let ok = st["requests"]["ok"].as_u64().unwrap();
    assert!(ok > 500 && st["requests"]["failed"] == 0, "{}", st["requests"]);
    // The tutorial's check: the server's batch-size breakdown grows beyond 1.
    let t = &st["triton"][0];
    assert_eq!(t["inference_count"].as_u64(), Some(ok), "{t}");
    let sizes: Vec<u64> = t["batch_sizes"].as_object().unwrap().keys().map(|k| k.parse().unwrap()).collect();
    assert!(sizes.iter().any(|s| *s > 1), "batch sizes {t}");
    assert!(t["execution_count"].as_u64() < Some(ok));
    // Triton's own Prometheus counter agrees with Volley's count.
    let counter = &st["server_metrics"][r#"nv_inference_count{model="sum_fp32",version="1"}"#];
    assert_eq!(counter["delta"].as_f64(), Some(ok as f64), "{counter}");
}

#[test]
fn triton_bytes_tensors_and_client_batches() {
    let server = KServer::take("triton", TRITON);
    let out = TempDir::new("triton-bytes");
    let params = json!({"model": "echo_bytes", "datatype": "BYTES", "shape": [1], "batch": 4, "rate": 50, "requests": 20});
    run_volley_args(&run_args("builtin:kserve", &server.url(), params, &out), Duration::from_secs(120)).assert_success();
    let st = &read_report(out.path())["stages"][0];
    assert_eq!(st["requests"]["ok"], 20, "{st}");
    // A wrong shape is a 400 from Triton, counted as an http-status error with its message.
    let out = TempDir::new("triton-bad");
    let params = json!({"model": "sum_fp32", "shape": [5], "rate": 50, "requests": 3});
    // No request succeeded: exit 3, every output written.
    let o = run_volley_args(&run_args("builtin:kserve", &server.url(), params, &out), Duration::from_secs(120));
    assert_eq!(o.status.code(), Some(3), "{}", o.stderr);
    let st = &read_report(out.path())["stages"][0];
    assert_eq!(st["requests"]["errors"]["http-status"]["count"], 3, "{st}");
    assert!(st["requests"]["errors"]["http-status"]["example"].as_str().unwrap().contains("unexpected shape"));
}

#[test]
fn kserve_model_server_v1_and_v2() {
    let server = KServer::take("kserve", KSERVE);
    for (protocol, shape) in [("v1", json!([3])), ("v2", json!([4]))] {
        let out = TempDir::new("kserve");
        let params = json!({"protocol": protocol, "model": "sum", "shape": shape, "batch": 2, "rate": 100, "requests": 30});
        let args = with(run_args("builtin:kserve", &server.url(), params, &out), &["--record-text"]);
        run_volley_args(&args, Duration::from_secs(120)).assert_success();
        let st = &read_report(out.path())["stages"][0];
        assert_eq!(st["requests"]["ok"], 30, "{protocol}: {st}");
        let r = &read_records(out.path())[0];
        assert_eq!(r["status"], 200);
    }
}

/// Triton's own count of successful inferences of `model` version 1 (HTTP statistics),
/// once the model is loaded (a Triton just started may not have it yet).
fn triton_inferences(model: &str) -> u64 {
    let start = std::time::Instant::now();
    loop {
        let body = http_get(TRITON, &format!("/v2/models/{model}/versions/1/stats"));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if let Some(n) = v["model_stats"][0]["inference_count"].as_u64() {
            return n;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "Triton has no statistics of {model}: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn triton_over_grpc_model_infer_counts_match_and_errors_are_classified() {
    let server = KServer::take("triton", TRITON);
    let grpc = format!("grpc://127.0.0.1:{}", server.port + 1);
    let before = triton_inferences("sum_fp32");
    let out = TempDir::new("triton-grpc");
    let params = json!({"model": "sum_fp32", "version": "1", "shape": [4], "load": "constant", "rate": 100, "duration_s": 3});
    run_volley_args(&run_args("builtin:kserve", &grpc, params, &out), Duration::from_secs(120)).assert_success();
    let report = read_report(out.path());
    let st = &report["stages"][0];
    let ok = st["requests"]["ok"].as_u64().unwrap();
    assert!(ok >= 280 && st["requests"]["failed"] == 0, "{}", st["requests"]);
    assert_eq!(report["protocol"], "h2");
    // Triton's own inference count moved by exactly Volley's ok count.
    assert_eq!(triton_inferences("sum_fp32") - before, ok);
    assert!(st["latency_ms"]["p50"].as_f64().unwrap() > 0.0);

    // ModelStreamInfer: each response is timed as it arrives.
    let out = TempDir::new("triton-grpc-stream");
    let params = json!({"model": "sum_fp32", "shape": [4], "stream": true, "rate": 50, "requests": 20});
    run_volley_args(&run_args("builtin:kserve", &grpc, params, &out), Duration::from_secs(120)).assert_success();
    let st = &read_report(out.path())["stages"][0];
    assert_eq!(st["requests"]["ok"], 20, "{st}");
    assert_eq!(st["ttft_ms"]["count"], 20, "first response timed: {st}");
    assert_eq!(st["output_tokens"]["total"], 20, "one response each");

    // A wrong shape is Triton's INVALID_ARGUMENT, classified as HTTP 400 with its message.
    let out = TempDir::new("triton-grpc-bad");
    let params = json!({"model": "sum_fp32", "shape": [5], "rate": 50, "requests": 3});
    // No request succeeded: exit 3, every output written.
    let o = run_volley_args(&run_args("builtin:kserve", &grpc, params, &out), Duration::from_secs(120));
    assert_eq!(o.status.code(), Some(3), "{}", o.stderr);
    let st = &read_report(out.path())["stages"][0];
    let e = &st["requests"]["errors"]["http-status"];
    assert_eq!(e["count"], 3, "{st}");
    let example = e["example"].as_str().unwrap();
    assert!(example.contains("gRPC 3 INVALID_ARGUMENT") && example.contains("shape"), "{example}");
    let records = read_records(out.path());
    assert!(records.iter().all(|r| r["status"] == 400), "{:?}", records[0]);
}
