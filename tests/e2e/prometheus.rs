//! A real Prometheus (Debian's `prometheus`) scrapes `--prometheus-listen` during a run,
//! and a query returns the run's request count.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::{Value, json};
use volley::sim::SimConfig;

struct Prometheus(std::process::Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_run() {
    // Two distinct ports: both bound at once, so the second cannot be the first again.
    let (a, b) = (std::net::TcpListener::bind("127.0.0.1:0").unwrap(), std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let (volley_port, prom_port) = (a.local_addr().unwrap().port(), b.local_addr().unwrap().port());
    drop((a, b));
    let dir = TempDir::new("prometheus");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\nscrape_configs:\n  - job_name: volley\n    static_configs:\n      - targets: ['127.0.0.1:{volley_port}']\n"
        ),
    )
    .unwrap();
    let _prom = Prometheus(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (scripts/test.sh installs Debian's prometheus)"),
    );

    // Wait until Prometheus is up and has the target in its scrape pool.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = std::net::TcpStream::connect(("127.0.0.1", prom_port)).is_ok()
            && http_get(prom_port, "/api/v1/targets").contains(&format!("127.0.0.1:{volley_port}"));
        if up {
            break;
        }
        assert!(Instant::now() < deadline, "prometheus did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(20), itl: Duration::from_millis(2), ..SimConfig::default() }).await;
    let out = TempDir::new("prom-run");
    let listen = format!("127.0.0.1:{volley_port}");
    let args = with(
        run_args("builtin:chat-poisson", &sim.url(), json!({"rate": 20, "duration_s": 3, "max_tokens": 4}), &out),
        &["--prometheus-listen", &listen, "--prometheus-linger-s", "2"],
    );
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let sent = read_records(out.path()).len() as f64;

    // Prometheus keeps what it scraped. Once the endpoint is gone its series are stale
    // at "now", so ask for the highest value of the last minutes: the final count.
    let query = "sum(max_over_time(volley_requests_total[5m]))";
    let deadline = Instant::now() + Duration::from_secs(20);
    let value = loop {
        let encoded = query.replace('(', "%28").replace(')', "%29").replace('[', "%5B").replace(']', "%5D");
        let body = http_get(prom_port, &format!("/api/v1/query?query={encoded}"));
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if let Some(x) = v.pointer("/data/result/0/value/1").and_then(Value::as_str).and_then(|s| s.parse::<f64>().ok())
            && x == sent
        {
            break x;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw {sent} requests: {body}; targets: {}",
            http_get(prom_port, "/api/v1/targets")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(value, sent);
    // The GenAI histograms arrived with their conventional labels.
    let body = http_get(prom_port, "/api/v1/query?query=max_over_time%28gen_ai_client_operation_duration_seconds_count%5B5m%5D%29");
    assert!(body.contains("\"gen_ai_operation_name\":\"chat\"") && body.contains("\"volley_stage\":\"poisson\""), "{body}");
    assert!(body.contains("\"gen_ai_request_model\":\"volley-sim\""), "{body}");
}
