//! Every protocol client against the simulator over loopback, the simulator's queueing
//! and batching models, and per-model breakdowns.

use std::time::Duration;

use crate::support::*;
use serde_json::{Value, json};
use volley::sim::{BatchConfig, SimConfig};

fn quick() -> SimConfig {
    SimConfig { ttft: Duration::from_millis(5), itl: Duration::from_millis(1), ..SimConfig::default() }
}

async fn run_ok(args: Vec<String>) {
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
}

fn stage(out: &TempDir) -> Value {
    read_report(out.path())["stages"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tgi_native_streams_and_not() {
    let sim = start_sim(quick()).await;
    for stream in [true, false] {
        let out = TempDir::new("tgi");
        let params = json!({"api": "tgi", "prompt_tokens": 20, "output_tokens": 7, "stream": stream, "rate": 50, "requests": 6});
        run_ok(with(run_args("builtin:synthetic", &sim.url(), params, &out), &["--tokenizer", &tokenizer_path()])).await;
        let st = stage(&out);
        assert_eq!(st["requests"]["ok"], 6, "{st}");
        assert_eq!(st["output_tokens"]["received_mean"], 7.0, "TGI details.generated_tokens: {st}");
        assert_eq!(st["output_tokens"]["source"]["usage"], 6);
        if stream {
            // The simulator centres its timer error on the planned 5 ms: ±1 ms.
            assert!(ms(&st["ttft_ms"]["p50"]) >= 4.0);
            assert_eq!(st["itl_ms"]["count"], 6 * 6, "one event per token, 7 tokens");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings() {
    let sim = start_sim(quick()).await;
    let out = TempDir::new("emb");
    let params = json!({"api": "embeddings", "prompt_tokens": 33, "rate": 50, "requests": 5});
    run_ok(with(run_args("builtin:synthetic", &sim.url(), params, &out), &["--tokenizer", &tokenizer_path()])).await;
    let st = stage(&out);
    assert_eq!(st["requests"]["ok"], 5);
    assert_eq!(st["prompt_tokens"]["received_mean"], 33.0, "usage.prompt_tokens of /v1/embeddings");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kserve_v1_and_v2_with_a_client_batch() {
    let sim = start_sim(SimConfig { batching: BatchConfig { max_batch: 16, ..quick().batching }, ..quick() }).await;
    for protocol in ["v1", "v2"] {
        let out = TempDir::new("kserve");
        let params = json!({"protocol": protocol, "model": "sum", "shape": [4], "batch": 16, "rate": 100, "requests": 10});
        run_ok(with(run_args("builtin:kserve", &sim.url(), params, &out), &["--record-text"])).await;
        let st = stage(&out);
        assert_eq!(st["requests"]["ok"], 10, "{protocol}: {st}");
        let r = &read_records(out.path())[0];
        assert_eq!(r["batch_size"], 16);
        match protocol {
            "v1" => assert_eq!(r["request_body"]["instances"].as_array().unwrap().len(), 16),
            _ => assert_eq!(r["request_body"]["inputs"][0]["shape"], json!([16, 4])),
        }
        assert!(st["inferences_per_s"].as_f64().unwrap() > 15.0 * st["achieved_rps"].as_f64().unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_templates() {
    let sim = start_sim(quick()).await;
    // The Flask seed: GET /predict/<text>.
    let out = TempDir::new("http-get");
    let params = json!({"method": "GET", "path": "/predict/{word}", "words": ["alpha", "beta"], "rate": 100, "requests": 8});
    run_ok(run_args("builtin:http", &sim.url(), params, &out)).await;
    assert_eq!(stage(&out)["requests"]["ok"], 8);
    // The FastAPI seed: POST /predict with a base64 image in JSON.
    let out = TempDir::new("http-post");
    let params = json!({"method": "POST", "path": "/predict", "body": {"image": "{b64}"}, "b64_bytes": 3000, "rate": 100, "requests": 4});
    run_ok(with(run_args("builtin:http", &sim.url(), params, &out), &["--record-text"])).await;
    let r = &read_records(out.path())[0];
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["request_body"]["image"].as_str().unwrap().len(), 4000, "3000 bytes in base64");
    // A path that would leave the target is refused before anything is sent.
    let out = TempDir::new("http-bad");
    let params = json!({"path": "//evil.example/x", "requests": 1});
    let o = run_volley_async(run_args("builtin:http", &sim.url(), params, &out), Duration::from_secs(60)).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(o.error_lines()[0].contains("must be relative to the target"), "{}", o.stderr);
    assert_eq!(sim.stats().requests, 0, "only the /predict requests reached the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_batching_shows_in_triton_style_stats() {
    let batching = BatchConfig { max_batch: 8, max_queue_delay: Duration::from_millis(5), service: Duration::from_millis(10) };
    let sim = start_sim(SimConfig { batching, ..quick() }).await;
    let out = TempDir::new("batching");
    let params = json!({"model": "sum", "shape": [4], "rate": 200, "duration_s": 2});
    run_ok(with(run_args("builtin:kserve", &sim.url(), params, &out), &["--triton-stats", "sum"])).await;
    let st = stage(&out);
    let t = &st["triton"][0];
    assert_eq!(t["inference_count"], st["requests"]["ok"]);
    let sizes: Vec<u64> = t["batch_sizes"].as_object().unwrap().keys().map(|k| k.parse().unwrap()).collect();
    assert!(sizes.iter().any(|s| *s > 1), "batches larger than 1 under Poisson load: {t}");
    assert!(t["execution_count"].as_u64() < t["inference_count"].as_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_queue_requests_and_metrics_show_it() {
    // 2 slots, 8 requests at once, 200 ms each: the later ones wait, and the simulator's
    // own gauge (scraped every 50 ms over the 800 ms stage) shows requests waiting.
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(200), itl: Duration::ZERO, slots: 2, ..SimConfig::default() }).await;
    let out = TempDir::new("slots");
    let metrics = format!("{}/metrics", sim.url());
    let args = with(
        run_args("builtin:burst", &sim.url(), json!({"n": 8, "max_tokens": 1}), &out),
        &["--server-metrics", &metrics, "--metrics-interval-ms", "50"],
    );
    run_ok(args).await;
    let st = stage(&out);
    assert!(ms(&st["ttft_ms"]["max"]) >= 750.0, "the last pair waited for three before it: {}", st["ttft_ms"]);
    assert!(ms(&st["ttft_ms"]["min"]) < 400.0);
    let waiting = &st["server_metrics"]["volley_sim:requests_waiting"];
    assert!(waiting["max"].as_f64().unwrap() >= 2.0, "{waiting}");
    assert_eq!(st["server_metrics"]["volley_sim:requests_total"]["delta"], 8.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_model_rows_add_up_to_the_total() {
    let sim = start_sim(quick()).await;
    let out = TempDir::new("models");
    let params =
        json!({"models": {"base": 3, "lora-a": 1, "lora-b": 1}, "prompt_tokens": 8, "output_tokens": 4, "rate": 200, "requests": 100});
    run_ok(with(run_args("builtin:synthetic", &sim.url(), params, &out), &["--tokenizer", &tokenizer_path()])).await;
    let st = stage(&out);
    let models = st["models"].as_object().unwrap();
    assert_eq!(models.len(), 3, "{models:?}");
    let sum: u64 = models.values().map(|m| m["requests"].as_u64().unwrap()).sum();
    assert_eq!(sum, st["requests"]["sent"].as_u64().unwrap());
    assert_eq!(sum, 100);
    // The server saw the same split.
    let seen = sim.stats().by_model;
    for (name, m) in models {
        assert_eq!(seen.get(name).copied(), m["requests"].as_u64(), "{name}");
    }
    assert!(models["base"]["requests"].as_u64() > models["lora-a"]["requests"].as_u64(), "weights 3:1:1");
}
