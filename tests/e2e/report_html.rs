//! The HTML report in a real browser: headless Chromium (Debian's `chromium`) loads it
//! without errors, every chart has data, and a screenshot is taken.

use std::process::Command;
use std::time::Duration;

use crate::support::*;
use serde_json::json;
use volley::sim::SimConfig;

const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

fn chromium(args: &[String]) -> std::process::Output {
    Command::new("chromium")
        .args(CHROMIUM_FLAGS)
        .args(args)
        .output()
        .expect("chromium is installed (scripts/test.sh installs Debian's chromium)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_report_renders_every_chart_with_data() {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(30), itl: Duration::from_millis(3), ..SimConfig::default() }).await;
    let out = TempDir::new("html");
    let metrics = format!("{}/metrics", sim.url());
    let args = with(
        run_args("builtin:chat-poisson", &sim.url(), json!({"rate": 20, "duration_s": 2, "max_tokens": 8}), &out),
        &["--server-metrics", &metrics, "--metrics-interval-ms", "200"],
    );
    run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    let html = out.path().join("report.html");
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(!text.contains("http://") || !text.contains("<script src"), "self-contained: no external scripts");
    assert!(!text.contains("<link"), "self-contained: no external stylesheets");

    let url = format!("file://{}", html.display());
    let profile = TempDir::new("chromium-profile");
    let dom = chromium(&[
        format!("--user-data-dir={}", profile.path().display()),
        "--enable-logging=stderr".into(),
        "--v=0".into(),
        "--dump-dom".into(),
        url.clone(),
    ]);
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let stderr = String::from_utf8_lossy(&dom.stderr);
    assert!(!stderr.contains("Uncaught"), "console errors: {stderr}");
    // The page's own check ran in the browser: how many charts, and how many are empty.
    let attr = |name: &str| -> u32 {
        let key = format!("{name}=\"");
        let i = dom_text.find(&key).unwrap_or_else(|| panic!("{name} missing: the page script did not run")) + key.len();
        dom_text[i..].split('"').next().unwrap().parse().unwrap()
    };
    assert!(attr("data-charts") >= 9, "charts: {}", attr("data-charts"));
    assert_eq!(attr("data-empty-charts"), 0, "every chart has data");
    assert!(dom_text.contains("volley_sim:requests_total"), "server metrics are charted");

    let png = out.path().join("report.png");
    let shot = chromium(&[
        format!("--user-data-dir={}", profile.path().display()),
        "--window-size=1400,2400".into(),
        format!("--screenshot={}", png.display()),
        url,
    ]);
    assert!(shot.status.success());
    assert!(std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0) > 20_000, "a screenshot with content");
}
