//! End to end against a real third-party server: llama.cpp's `llama-server` serving
//! SmolLM2-135M on loopback (see ../shared/realserver/README.md). `.ci/run` sets it up
//! and starts it; each test here has it to itself and stops it when done.

use std::time::Duration;

use crate::support::*;
use serde_json::json;

const PORT: u16 = 8100;

#[test]
fn streaming_chat_against_llama_server() {
    let server = Lease::take(PORT);
    let before = prometheus_value(&http_get(PORT, "/metrics"), "llamacpp:tokens_predicted_total")
        .expect("llama-server exposes llamacpp:tokens_predicted_total (started with --metrics)");

    let out = TempDir::new("llama");
    let params = json!({"rate": 2, "max_requests": 5, "duration_s": 60, "max_tokens": 16});
    let o = run_volley(
        &[
            "run",
            "builtin:chat-poisson",
            "--target",
            &server.server.url(),
            "--params",
            &params.to_string(),
            "--out",
            out.path().to_str().unwrap(),
            "--quiet",
        ],
        Duration::from_secs(240),
    );
    o.assert_success();

    let records = read_records(out.path());
    assert_eq!(records.len(), 5, "5 requests sent");
    let mut tokens = 0u64;
    for r in &records {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["stream"], true);
        assert!(ms(&r["ttft_ms"]) > 0.0, "{r}");
        assert!(ms(&r["latency_ms"]) >= ms(&r["ttft_ms"]), "{r}");
        assert_eq!(r["token_source"], "usage", "llama-server sends usage when asked: {r}");
        let n = r["output_tokens"].as_u64().unwrap();
        assert!((1..=16).contains(&n), "{r}");
        // The text arrived in at most n chunks (llama.cpp may pack several tokens in one).
        assert!(r["text_chunks"].as_u64().unwrap() <= n, "{r}");
        tokens += n;
    }
    // The server's own count of generated tokens moved by exactly what Volley recorded.
    let after = prometheus_value(&http_get(PORT, "/metrics"), "llamacpp:tokens_predicted_total").unwrap();
    assert_eq!((after - before) as u64, tokens, "server says {} tokens, Volley recorded {tokens}", after - before);

    let report = read_report(out.path());
    assert_eq!(report["stages"][0]["requests"]["ok"], 5);
    assert!(ms(&report["stages"][0]["ttft_ms"]["p50"]) > 0.0);
}

#[test]
fn synthetic_prompt_lengths_arrive_exactly() {
    let server = Lease::take(PORT);
    let tokenizer = tokenizer_path();
    // 50 completions prompts of 16 to 1000 tokens: llama.cpp's usage.prompt_tokens must
    // equal each requested length (the completions API sends the prompt verbatim and
    // SmolLM2 adds no BOS token).
    let out = TempDir::new("lengths");
    let params = json!({
        "prompt_tokens": {"dist": "uniform", "min": 16, "max": 1000}, "output_tokens": 2,
        "load": "concurrency", "n": 4, "requests": 50, "duration_s": 900,
    });
    let o = run_volley(
        &with(run_args("builtin:synthetic", &server.server.url(), params, &out), &["--tokenizer", &tokenizer, "--seed", "11"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        Duration::from_secs(900),
    );
    o.assert_success();
    let records = read_records(out.path());
    assert_eq!(records.len(), 50);
    let (mut lo, mut hi) = (u64::MAX, 0);
    for r in &records {
        assert_eq!(r["ok"], true, "{r}");
        let want = r["requested_prompt_tokens"].as_u64().unwrap();
        assert_eq!(r["prompt_tokens"].as_u64(), Some(want), "{r}");
        assert!((16..=1000).contains(&want));
        lo = lo.min(want);
        hi = hi.max(want);
        assert_eq!(r["output_tokens"], 2, "exact output length enforced with ignore_eos: {r}");
    }
    assert!(lo < 100 && hi > 900, "lengths spread over 16..1000 (got {lo}..{hi})");
    assert_eq!(read_report(out.path())["stages"][0]["prompt_tokens"]["mismatched"], 0);

    // Through the chat API the template adds a fixed number of tokens: state it, and
    // check it is the same for every prompt.
    let out = TempDir::new("lengths-chat");
    let params = json!({
        "prompt_tokens": {"dist": "uniform", "min": 16, "max": 200}, "output_tokens": 2, "api": "chat",
        "load": "concurrency", "n": 4, "requests": 10, "duration_s": 300,
    });
    let o = run_volley(
        &with(run_args("builtin:synthetic", &server.server.url(), params, &out), &["--tokenizer", &tokenizer])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        Duration::from_secs(300),
    );
    o.assert_success();
    let offsets: std::collections::BTreeSet<i64> = read_records(out.path())
        .iter()
        .map(|r| r["prompt_tokens"].as_i64().unwrap() - r["requested_prompt_tokens"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets.len(), 1, "one constant chat-template offset, got {offsets:?}");
    let offset = *offsets.iter().next().unwrap();
    eprintln!("SmolLM2 chat template adds {offset} tokens to each prompt");
    assert!(offset > 0);
}

#[test]
fn llama_server_metrics_beside_client_timings() {
    // 8 streams at once against 4 slots: the server defers 4, and its own series
    // (requests processing and deferred, tokens predicted) land in the report.
    let server = Lease::take(PORT);
    let out = TempDir::new("llama-metrics");
    let metrics = format!("{}/metrics", server.server.url());
    let args = with(
        run_args("builtin:burst", &server.server.url(), json!({"n": 8, "max_tokens": 32}), &out),
        &["--server-metrics", &metrics, "--metrics-interval-ms", "100"],
    );
    run_volley_args(&args, Duration::from_secs(240)).assert_success();
    let report = read_report(out.path());
    let st = &report["stages"][0];
    assert_eq!(st["requests"]["ok"], 8);
    assert!(ms(&st["ttft_ms"]["p50"]) > 0.0 && st["itl_ms"]["count"].as_u64().unwrap() > 0);
    let series = report["server_metrics"]["series"].as_object().unwrap();
    for name in ["llamacpp:requests_processing", "llamacpp:requests_deferred", "llamacpp:tokens_predicted_total"] {
        assert!(series.get(name).is_some_and(|s| !s.as_array().unwrap().is_empty()), "{name} missing");
    }
    let window = &st["server_metrics"];
    assert_eq!(window["llamacpp:requests_processing"]["max"], 4.0, "4 slots busy: {window}");
    assert!(window["llamacpp:requests_deferred"]["max"].as_f64().unwrap() >= 1.0, "{window}");
    assert_eq!(
        window["llamacpp:tokens_predicted_total"]["delta"].as_f64().map(|d| d as u64),
        st["output_tokens"]["total"].as_u64(),
        "the server's token counter moved by what Volley counted"
    );
}

#[test]
fn plain_http_against_llama_server_tokenize() {
    // A non-OpenAI endpoint of a real server through the plain-HTTP template.
    let server = Lease::take(PORT);
    let out = TempDir::new("llama-http");
    let params = json!({"method": "POST", "path": "/tokenize", "body": {"content": "hello {word}"}, "words": ["world", "there"], "rate": 20, "requests": 10});
    run_volley_args(&run_args("builtin:http", &server.server.url(), params, &out), Duration::from_secs(120)).assert_success();
    let st = &read_report(out.path())["stages"][0];
    assert_eq!(st["requests"]["ok"], 10, "{st}");
    assert!(read_records(out.path()).iter().all(|r| r["status"] == 200));
}

#[test]
fn cold_starts_of_llama_server_in_two_configurations() {
    // Five starts each of two load modes, readiness from /health (503 while loading).
    let rs = std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/realserver");
    let model = rs.join("model/SmolLM2-135M-Instruct.Q4_1.gguf");
    let base = format!(
        "{} --model {} --host 127.0.0.1 --port 8200 --threads 1 --threads-batch 1 --no-webui --ctx-size 2048",
        rs.join("bin/llama-server").display(),
        model.display()
    );
    let out = TempDir::new("llama-cold");
    let (mmap, read) = (format!("mmap={base} --load-mode mmap"), format!("read={base} --load-mode none"));
    let args = [
        "coldstart",
        "--config",
        &mmap,
        "--config",
        &read,
        "--port",
        "8200",
        "--repeat",
        "5",
        "--drop-caches",
        "--out",
        out.path().to_str().unwrap(),
    ];
    let o = run_volley(&args, Duration::from_secs(300));
    o.assert_success();
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("coldstart.json")).unwrap()).unwrap();
    let configs = report["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 2);
    for c in configs {
        let runs = c["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 5, "{}", c["name"]);
        for r in runs {
            let (port, ready, first) = (ms(&r["port_ms"]), ms(&r["ready_ms"]), ms(&r["first_token_ms"]));
            assert!(0.0 < port && port <= ready && ready < first, "{r}");
            // SmolLM2-135M Q4_1 is ~100 MB: the server's RSS peak holds the model.
            assert!(ms(&r["peak_rss_mib"]) > 80.0, "{r}");
        }
        assert!(c["ready_ms"]["median"].is_number());
    }
    // One table, both configurations.
    assert!(o.stdout.contains("mmap") && o.stdout.contains("read"), "{}", o.stdout);
    assert!(std::net::TcpStream::connect(("127.0.0.1", 8200)).is_err(), "the server was stopped");
}
