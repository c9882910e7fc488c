//! Cold-start timing: phases against a server with a known start-up time, timeouts and
//! interruptions that leave no process behind, and the GPU report on a machine without
//! one.

use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::Value;

/// These tests start servers and time them to a few milliseconds: one at a time, so
/// sibling tests do not compete for the two cores while a start is being timed.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Processes whose command line mentions `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle) && !c.contains("coldstart"))
        .collect()
}

fn sim_command(port: u16, delay_ms: u64) -> String {
    format!("{} sim --port {port} --startup-delay-ms {delay_ms}", volley_bin())
}

#[test]
fn time_to_ready_matches_the_servers_start_up_time() {
    let _one = exclusive();
    let (port, out) = (free_port(), TempDir::new("cs-ready"));
    let config = format!("sim={}", sim_command(port, 400));
    let args = ["coldstart", "--config", &config, "--port", &port.to_string(), "--repeat", "3", "--out", out.path().to_str().unwrap()];
    let o = run_volley(&args, Duration::from_secs(60));
    o.assert_success();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("coldstart.json")).unwrap()).unwrap();
    let runs = report["configs"][0]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for r in runs {
        let ready = ms(&r["ready_ms"]);
        // The simulator answers 503 until 400 ms after its process started.
        // Readiness is polled every 5 ms; a loaded 2-core machine (the whole suite at once)
        // adds tens of ms of scheduling to the child's start: 50 ms over, not 20.
        assert!((400.0..=450.0).contains(&ready), "ready after {ready} ms, want 400 + ≤ 50");
        assert!(ms(&r["port_ms"]) < ready);
        assert!(ms(&r["first_token_ms"]) > ready);
        assert!(ms(&r["peak_rss_mib"]) > 1.0);
    }
    assert!(o.stdout.contains("ready ms"), "{}", o.stdout);
    let html = std::fs::read_to_string(out.path().join("coldstart.html")).unwrap();
    assert!(html.contains("Cold-start phases") && html.contains("<rect class=\"bar\""), "phase chart with bars");
    assert!(processes_with(&format!("--port {port}")).is_empty(), "no server left behind");
}

#[test]
fn a_server_that_never_gets_ready_times_out_and_is_stopped() {
    let _one = exclusive();
    let (port, out) = (free_port(), TempDir::new("cs-never"));
    let config = format!("never={}", sim_command(port, 3_600_000));
    let args = [
        "coldstart",
        "--config",
        &config,
        "--port",
        &port.to_string(),
        "--repeat",
        "2",
        "--ready-timeout-s",
        "1",
        "--out",
        out.path().to_str().unwrap(),
    ];
    let started = Instant::now();
    let o = run_volley(&args, Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
    let errors = o.error_lines();
    assert_eq!(errors.len(), 1, "{}", o.stderr);
    assert!(errors[0].contains("was not ready in time") && errors[0].contains("Loading model"), "{}", errors[0]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(processes_with(&format!("--port {port}")).is_empty(), "no server left behind");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "its port is closed");
    // What was measured before the failure is still written.
    assert!(out.path().join("coldstart.json").exists());
}

#[test]
fn an_interrupted_volley_leaves_no_server_behind() {
    let _one = exclusive();
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        let (port, out) = (free_port(), TempDir::new("cs-int"));
        let config = format!("never={}", sim_command(port, 3_600_000));
        let mut child = std::process::Command::new(volley_bin())
            .args(["coldstart", "--config", &config, "--port", &port.to_string(), "--out", out.path().to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the server is up (its port accepts), then interrupt Volley.
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server never opened its port");
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: signalling the child we spawned.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        if signal == libc::SIGTERM {
            assert_eq!(status.code(), Some(1), "stops the server, then reports the interrupted start");
        }
        // SIGKILL gives Volley no chance to clean up: the parent-death signal does it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !processes_with(&format!("--port {port}")).is_empty() {
            assert!(Instant::now() < deadline, "server left behind after signal {signal}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn gpu_metrics_say_why_they_are_missing() {
    let _one = exclusive();
    let (port, out) = (free_port(), TempDir::new("cs-gpu"));
    let config = format!("sim={}", sim_command(port, 0));
    let args = [
        "coldstart",
        "--config",
        &config,
        "--port",
        &port.to_string(),
        "--repeat",
        "1",
        "--first-request",
        "none",
        "--out",
        out.path().to_str().unwrap(),
    ];
    run_volley(&args, Duration::from_secs(60)).assert_success();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("coldstart.json")).unwrap()).unwrap();
    let gpu = &report["gpu"];
    if gpu["available"] == true {
        assert!(report["configs"][0]["runs"][0]["gpu_series"].as_array().is_some_and(|s| !s.is_empty()));
    } else {
        let why = gpu["unavailable_reason"].as_str().unwrap();
        assert!(why.contains("NVML") && why.contains("nvidia-smi"), "{why}");
    }
}

#[test]
fn run_launch_sends_a_burst_at_a_cold_server() {
    let _one = exclusive();
    // The burst goes out as the server process starts; requests are held (refused
    // connections and 503 "Loading model" retried) until it can take them, so latency
    // from the planned send covers the whole cold start.
    let (port, out) = (free_port(), TempDir::new("launch"));
    let launch = sim_command(port, 300);
    let target = format!("http://127.0.0.1:{port}");
    let args = [
        "run",
        "builtin:burst",
        "--target",
        &target,
        "--model",
        "m",
        "--launch",
        &launch,
        "--launch-at",
        "process",
        "--params",
        r#"{"n": 20, "max_tokens": 2}"#,
        "--out",
        out.path().to_str().unwrap(),
        "--quiet",
    ];
    run_volley(&args, Duration::from_secs(60)).assert_success();
    let report = read_report(out.path());
    let st = &report["stages"][0];
    assert_eq!(st["requests"]["ok"], 20, "{st}");
    // The simulator's 300 ms count from its own start, at or after the spawn; the burst is
    // planned just after the spawn, so the least latency is 300 ms less that gap (a few ms
    // on a loaded machine). Without the launch it would be about one.
    assert!(ms(&st["latency_from_planned_ms"]["min"]) >= 290.0, "{}", st["latency_from_planned_ms"]);
    assert!(ms(&st["schedule_lag_ms"]["p50"]) >= 250.0, "the wait shows as schedule lag");
    assert_eq!(report["launch"]["at"], "process");
    // The metadata records the command line; at `process` the server is asked of itself
    // after the last stage, while it still runs.
    assert_eq!(report["metadata"]["launch"]["command"], launch.as_str());
    let asked = report["metadata"]["server"]["endpoints"].as_array().unwrap();
    assert!(asked.iter().any(|e| e["path"] == "/v1/models" && e["ok"] == true), "{asked:?}");
    assert!(processes_with(&format!("--port {port}")).is_empty(), "the launched server was stopped");
}
