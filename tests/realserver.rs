//! End to end against a real third-party server: llama.cpp's `llama-server` serving
//! SmolLM2-135M on loopback (see ../shared/realserver/README.md). `.ci/run` sets it up
//! and starts it; this test stops it when done.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

const PORT: u16 = 8100;

struct StopAtEnd<'a>(&'a RealServer);

impl Drop for StopAtEnd<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

#[test]
fn streaming_chat_against_llama_server() {
    let server = RealServer::ensure(PORT);
    let _stop = StopAtEnd(&server);
    let before = prometheus_value(&http_get(PORT, "/metrics"), "llamacpp:tokens_predicted_total")
        .expect("llama-server exposes llamacpp:tokens_predicted_total (started with --metrics)");

    let out = TempDir::new("llama");
    let params = json!({"rate": 2, "max_requests": 5, "duration_s": 60, "max_tokens": 16});
    let o = run_volley(
        &[
            "run",
            "builtin:chat-poisson",
            "--target",
            &server.url(),
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
