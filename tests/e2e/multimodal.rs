//! WIT 0.5 end to end: chat messages with image parts (from a granted folder, read and
//! encoded by the host, or the scenario's own bytes), response text kept for checks,
//! and named checks counted per stage and gated by thresholds — from the shipped Rust
//! `vision` scenario and from a Python component built with componentize-py.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use volley::sim::SimConfig;

use crate::support::*;

/// Three small "images" (the simulator counts parts; it does not decode them).
fn image_folder(tmp: &TempDir) -> (PathBuf, Vec<(String, Vec<u8>)>) {
    let dir = tmp.path().join("images");
    std::fs::create_dir_all(&dir).unwrap();
    let files = vec![
        ("a.png".to_string(), b"\x89PNG\r\n\x1a\nfirst".to_vec()),
        ("b.jpg".to_string(), b"\xff\xd8\xffsecond".to_vec()),
        ("c.webp".to_string(), b"RIFF....WEBPthird".to_vec()),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    // Not media: skipped.
    std::fs::write(dir.join("README.txt"), b"not an image").unwrap();
    (dir, files)
}

fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The image URLs of each recorded request, by seq.
fn sent_images(records: &[Value]) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = records
        .iter()
        .map(|r| {
            let parts = &r["request_body"]["messages"][0]["content"];
            let url = parts.as_array().unwrap().iter().find(|p| p["type"] == "image_url").unwrap()["image_url"]["url"].clone();
            (r["seq"].as_u64().unwrap(), url.as_str().unwrap().to_string())
        })
        .collect();
    out.sort();
    out
}

fn sim() -> SimConfig {
    SimConfig { ttft: Duration::from_millis(5), itl: Duration::from_millis(1), ..SimConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vision_scenario_sends_granted_images_and_counts_its_check() {
    let s = start_sim(sim()).await;
    let tmp = TempDir::new("vision");
    let (dir, files) = image_folder(&tmp);
    let out = TempDir::new("vision-out");
    let params = json!({"load": "constant", "rate": 30, "requests": 9, "max_tokens": 4});
    let grant = format!("images={}", dir.display());
    let args = with(
        run_args("builtin:vision", &s.url(), params, &out),
        &["--dataset", &grant, "--record-text", "--threshold", "checks.answered.rate>=0.99", "--threshold", "checks.answered.fails>0"],
    );
    let o = run_volley_async(args, Duration::from_secs(60)).await;
    // The second threshold cannot hold when every answer passed: k6's exit code.
    assert_eq!(o.status.code(), Some(99), "{}", o.stderr);
    let report = read_report(out.path());
    assert_eq!(report["scenario"]["wit"], "0.6.0");
    let stage = &report["stages"][0];
    assert_eq!(stage["requests"]["ok"], 9);
    assert_eq!(stage["checks"]["answered"], json!({"passes": 9, "fails": 0, "rate": 1.0}));
    let verdicts: Vec<bool> = report["thresholds"].as_array().unwrap().iter().map(|t| t["passed"].as_bool().unwrap()).collect();
    assert_eq!(verdicts, [true, false]);
    assert_eq!(s.stats().image_parts, 9);

    // The folder's files in name order, cycled, each sent as its exact bytes.
    let mimes = ["image/png", "image/jpeg", "image/webp"];
    for (seq, url) in sent_images(&read_records(out.path())) {
        let k = (seq % 3) as usize;
        assert_eq!(url, data_url(mimes[k], &files[k].1), "request {seq}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_part_naming_a_file_dataset_is_one_line() {
    let s = start_sim(sim()).await;
    let tmp = TempDir::new("vision-bad");
    let rows = tmp.path().join("rows.txt");
    std::fs::write(&rows, "one\ntwo\n").unwrap();
    let out = TempDir::new("vision-bad-out");
    let grant = format!("images={}", rows.display());
    let args = with(run_args("builtin:vision", &s.url(), json!({"requests": 2}), &out), &["--dataset", &grant]);
    let o = run_volley_async(args, Duration::from_secs(60)).await;
    assert!(!o.status.success());
    assert!(o.stderr.contains("dataset 'images' is a text file, not a folder of media files"), "{}", o.stderr);
    assert_eq!(s.stats().requests, 0, "nothing sent");
}

/// A command of the guest toolchains (scripts/guest-toolchains.sh).
pub(crate) fn componentize_py() -> String {
    let path = std::env::var("COMPONENTIZE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/volley/toolchains/py/bin/componentize-py"));
    assert!(path.exists(), "{} not found: run scripts/guest-toolchains.sh", path.display());
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_scenario_against_0_5_sends_images_and_records_checks() {
    let tmp = TempDir::new("py-vision");
    let dir = tmp.path().join("py-vision");
    let dir_s = dir.display().to_string();
    run_volley(&["new", "py-vision", "--lang", "python", "--dir", &dir_s], Duration::from_secs(10)).assert_success();
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/guests/py-vision/app.py");
    std::fs::copy(app, dir.join("app.py")).unwrap();
    let tool = componentize_py();
    let build = tokio::task::block_in_place(|| {
        run_program("sh", &[&format!("{dir_s}/build.sh")], &[("COMPONENTIZE_PY", tool.as_str())], Duration::from_secs(300))
    });
    assert!(build.status.success(), "build failed:\n{}\n{}", build.stdout, build.stderr);
    let wasm = dir.join("py-vision.wasm").display().to_string();

    let s = start_sim(sim()).await;
    let (images, files) = image_folder(&tmp);
    let out = TempDir::new("py-vision-out");
    let grant = format!("images={}", images.display());
    let cache = tmp.path().join("cache").display().to_string();
    let args = with(run_args(&wasm, &s.url(), json!({}), &out), &["--dataset", &grant, "--record-text"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o =
        tokio::task::block_in_place(|| run_program(volley_bin(), &args, &[("VOLLEY_CACHE_DIR", cache.as_str())], Duration::from_secs(180)));
    o.assert_success();
    let report = read_report(out.path());
    assert_eq!(report["scenario"]["wit"], "0.5.0");
    let stage = &report["stages"][0];
    assert_eq!(stage["requests"]["ok"], 12);
    assert_eq!(stage["checks"]["answered"]["passes"], 12, "{}", stage["checks"]);
    assert_eq!(stage["checks"]["fast"]["passes"], 12);
    assert_eq!(s.stats().image_parts, 12);
    let pixel = hex("89504e470d0a1a0a0000000d4948445200000001000000010806000000\
                     1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f6d0\
                     3c0000000049454e44ae426082");
    let mimes = ["image/png", "image/jpeg", "image/webp"];
    for (seq, url) in sent_images(&read_records(out.path())) {
        let want = if seq % 4 == 3 {
            data_url("image/png", &pixel)
        } else {
            let k = (seq % 3) as usize;
            data_url(mimes[k], &files[k].1)
        };
        assert_eq!(url, want, "request {seq}");
    }
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}
