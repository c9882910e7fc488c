//! Hostile files: what someone else chose for Volley to read (a shard's report, a run
//! file, the policy, a media file of a granted folder) cannot block it, fill its memory,
//! reach past the run file's folder, or panic it with numbers. Each case ends by itself
//! in bounded time with one error line and a non-zero exit; where size is the attack,
//! the volley process's peak RSS (`wait4`) stays under 512 MiB. Everything is made here,
//! on the local disk and loopback.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use volley::sim::SimConfig;

use crate::support::*;

/// The most a refusal may take: they are all immediate, so this is the machine's noise.
const QUICK: Duration = Duration::from_secs(20);
/// Where size is the attack: the volley process's peak RSS.
const RSS_KIB: u64 = 512 << 10;

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// One error line, a non-zero exit, no panic, quick; the line.
fn refused(o: &Output, says: &str) -> String {
    assert!(!o.status.success(), "accepted: {}\n{}", o.stdout, o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one line, got:\n{}", o.stderr);
    assert!(lines[0].starts_with("error: ") && lines[0].contains(says), "{:?} lacks {says:?}", lines[0]);
    assert!(o.elapsed < QUICK, "took {:?}", o.elapsed);
    assert!(o.peak_rss_kib < RSS_KIB, "peak RSS {} KiB", o.peak_rss_kib);
    lines[0].to_string()
}

/// A FIFO (no writer will come) and a link to `/dev/zero` (bytes without end), side by
/// side in a fresh folder, under the name `name`.
struct Traps {
    tmp: TempDir,
    fifo: PathBuf,
    zero: PathBuf,
}

fn traps(label: &str, name: &str) -> Traps {
    let tmp = TempDir::new(label);
    for d in ["fifo", "zero"] {
        std::fs::create_dir_all(tmp.path().join(d)).unwrap();
    }
    let (fifo, zero) = (tmp.path().join("fifo").join(name), tmp.path().join("zero").join(name));
    mkfifo(&fifo);
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    Traps { tmp, fifo, zero }
}

#[test]
fn merge_refuses_a_fifo_and_dev_zero_at_once() {
    let t = traps("merge-traps", "report.json");
    let out = s(&t.tmp.path().join("merged"));
    let fifo_dir = s(t.fifo.parent().unwrap());
    let zero_dir = s(t.zero.parent().unwrap());
    refused(&run_volley(&["merge", &fifo_dir, "--out", &out], QUICK), "report.json is a FIFO, not a regular file");
    // --wait-s does not wait on it either: it is there, and refused.
    refused(&run_volley(&["merge", &fifo_dir, "--wait-s", "60", "--out", &out], QUICK), "is a FIFO, not a regular file");
    refused(&run_volley(&["merge", &zero_dir, "--out", &out], QUICK), "report.json is a character device, not a regular file");
}

#[test]
fn compare_refuses_a_fifo_and_dev_zero_at_once() {
    let t = traps("compare-traps", "report.json");
    let (fifo, zero) = (s(&t.fifo), s(&t.zero));
    refused(&run_volley(&["compare", &fifo, &zero], QUICK), "report.json is a FIFO, not a regular file");
    refused(&run_volley(&["compare", &zero, &fifo], QUICK), "report.json is a character device, not a regular file");
    // A run directory whose report.json is a FIFO.
    refused(&run_volley(&["compare", &s(t.fifo.parent().unwrap()), &zero], QUICK), "is a FIFO, not a regular file");
    // A --repeat directory whose trials.json is a FIFO.
    let trials = t.tmp.path().join("trials");
    std::fs::create_dir_all(&trials).unwrap();
    mkfifo(&trials.join("trials.json"));
    refused(&run_volley(&["compare", &s(&trials), &zero], QUICK), "trials.json is a FIFO, not a regular file");
}

#[test]
fn run_config_refuses_a_fifo_and_dev_zero_at_once() {
    let t = traps("config-traps", "run.toml");
    refused(&run_volley(&["run", "--config", &s(&t.fifo)], QUICK), "run.toml is a FIFO, not a regular file");
    refused(&run_volley(&["run", "--config", &s(&t.zero)], QUICK), "run.toml is a character device, not a regular file");
}

#[test]
fn kube_render_refuses_a_fifo_and_dev_zero_at_once() {
    let t = traps("kube-traps", "run.toml");
    for (config, says) in [(&t.fifo, "is a FIFO, not a regular file"), (&t.zero, "is a character device, not a regular file")] {
        refused(&run_volley(&["kube", "render", "--config", &s(config), "--shards", "2"], QUICK), says);
    }
    // A run file whose scenario beside it is a FIFO.
    let dir = t.tmp.path().join("beside");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("run.toml"), "scenario = \"probe.wasm\"\ntarget = \"http://10.0.0.7:8000\"\n").unwrap();
    mkfifo(&dir.join("probe.wasm"));
    refused(&run_volley(&["kube", "render", "--config", &s(&dir.join("run.toml")), "--shards", "2"], QUICK), "probe.wasm is a FIFO");
}

#[test]
fn a_policy_that_is_a_fifo_or_dev_zero_is_refused_at_once() {
    let t = traps("policy-traps", "policy.toml");
    refused(&run_volley(&["check", "builtin:burst", "--policy", &s(&t.fifo)], QUICK), "policy.toml is a FIFO, not a regular file");
    let zero = s(&t.zero);
    let o = run_program(volley_bin(), &["check", "builtin:burst"], &[("VOLLEY_POLICY", zero.as_str())], QUICK);
    refused(&o, "policy.toml is a character device, not a regular file");
}

#[test]
fn paths_in_a_run_file_stay_under_its_folder() {
    let tmp = TempDir::new("run-paths");
    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    std::fs::write(tmp.path().join("secret"), "{\"auths\": {\"r.example\": {\"auth\": \"dXNlcjpzM2NyZXQ=\"}}}").unwrap();
    // Nothing listens here: a refusal sends nothing, and a run that got past it would fail.
    let target = format!("http://127.0.0.1:{}", free_port());
    for (line, key, says) in
        [("\"../secret\"", "scenario", "climbs out of the run file's folder"), ("\"/etc/hostname\"", "scenario", "an absolute path")]
    {
        std::fs::write(runs.join("run.toml"), format!("scenario = {line}\ntarget = \"{target}\"\n")).unwrap();
        let line = refused(&run_volley(&["run", "--config", &s(&runs.join("run.toml"))], QUICK), says);
        assert!(line.contains(&format!("'{key}'")), "{line}");
    }
    for (entry, key, says) in [
        ("tokenizer = \"../secret\"", "tokenizer", "climbs out"),
        ("tokenizer = \"/etc/hostname\"", "tokenizer", "an absolute path"),
        ("dataset = [\"chats=../secret\"]", "dataset", "climbs out"),
        ("dataset = [\"chats=/etc/hostname\"]", "dataset", "an absolute path"),
        ("ca-cert = [\"/etc/hostname\"]", "ca-cert", "an absolute path"),
        ("out = \"../elsewhere\"", "out", "climbs out"),
        // The policy is the operator's: a run file naming one is refused.
        ("policy = \"lax.toml\"", "policy", "the operator's to give on the command line"),
    ] {
        std::fs::write(runs.join("run.toml"), format!("scenario = \"builtin:burst\"\ntarget = \"{target}\"\n{entry}\n")).unwrap();
        let line = refused(&run_volley(&["run", "--config", &s(&runs.join("run.toml"))], QUICK), says);
        assert!(line.contains(&format!("'{key}'")), "{line}");
    }
    assert!(!tmp.path().join("elsewhere").exists(), "nothing written outside the folder");
}

#[test]
fn kube_render_carries_no_file_from_outside_the_run_files_folder() {
    let tmp = TempDir::new("kube-paths");
    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let secret = tmp.path().join("config.json");
    std::fs::write(&secret, "{\"auths\": {\"r.example\": {\"auth\": \"dXNlcjpzM2NyZXQ=\"}}}").unwrap();
    // A link beside the run file that leads out of its folder.
    std::os::unix::fs::symlink(&secret, runs.join("linked.wasm")).unwrap();
    let config = s(&runs.join("run.toml"));
    for (scenario, says) in [
        ("../config.json".to_string(), "climbs out of the run file's folder"),
        (s(&secret), "an absolute path"),
        ("linked.wasm".to_string(), "through a symbolic link"),
    ] {
        std::fs::write(runs.join("run.toml"), format!("scenario = \"{scenario}\"\ntarget = \"http://10.0.0.7:8000\"\n")).unwrap();
        let o = run_volley(&["kube", "render", "--config", &config, "--shards", "2"], QUICK);
        let line = refused(&o, says);
        assert!(line.contains("'scenario'"), "{line}");
        assert!(!o.stdout.contains("auths") && !o.stdout.contains("dXNlcjpzM2NyZXQ"), "the secret was rendered");
    }
    // The operator may carry a file from anywhere, by naming it on the command line.
    std::fs::write(runs.join("run.toml"), "scenario = \"../config.json\"\ntarget = \"http://10.0.0.7:8000\"\n").unwrap();
    let own = tmp.path().join("mine.wasm");
    std::fs::write(&own, b"\0asm operator's bytes").unwrap();
    let o = run_volley(&["kube", "render", "--config", &config, "--shards", "2", "--scenario-file", &s(&own)], QUICK);
    o.assert_success();
    let list: Value = serde_json::from_str(&o.stdout).unwrap();
    let cm = list["items"].as_array().unwrap().iter().find(|i| i["kind"] == "ConfigMap").unwrap();
    assert!(cm["binaryData"]["mine.wasm"].is_string(), "{cm}");
    assert!(cm["data"]["run.toml"].as_str().unwrap().contains("scenario = \"mine.wasm\""), "{cm}");
}

/// Two shards of one short run against the simulator, and their reports.
async fn two_shards(label: &str) -> (TempDir, [PathBuf; 2], [Value; 2]) {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(2), itl: Duration::from_millis(1), ..SimConfig::default() }).await;
    let tmp = TempDir::new(label);
    let params = json!({"rate": 40, "duration_s": 0.5, "max_tokens": 3});
    let dirs = [tmp.path().join("shard-0"), tmp.path().join("shard-1")];
    for (i, dir) in dirs.iter().enumerate() {
        let shard = format!("{i}/2");
        let args = vec![
            "run".into(),
            "builtin:chat-poisson".into(),
            "--target".into(),
            sim.url(),
            "--params".into(),
            params.to_string(),
            "--seed".into(),
            "7".into(),
            "--shard".into(),
            shard,
            "--out".into(),
            s(dir),
            "--quiet".into(),
        ];
        run_volley_async(args, Duration::from_secs(60)).await.assert_success();
    }
    let reports = [read_report(&dirs[0]), read_report(&dirs[1])];
    (tmp, dirs, reports)
}

fn write_report(dir: &Path, v: &Value) {
    std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

fn merge(dirs: &[PathBuf], out: &Path) -> Output {
    let mut args: Vec<String> = vec!["merge".into()];
    args.extend(dirs.iter().map(|d| s(d)));
    args.extend(["--out".into(), s(out), "--quiet".into()]);
    run_volley_args(&args, QUICK)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_refuses_foreign_numbers_that_would_panic_wrap_or_lie() {
    let (tmp, dirs, reports) = two_shards("merge-numbers").await;
    let out = tmp.path().join("merged");
    // As written, the shards merge.
    merge(&dirs, &out).assert_success();

    // A stage window of 1e300 (it panicked a worker thread and wrote no report).
    let mut bad = reports[1].clone();
    bad["stages"][0]["window"]["started_unix_ms"] = json!(1e300);
    write_report(&dirs[1], &bad);
    let line = refused(&merge(&dirs, &out), "window.started_unix_ms is 1e300");
    assert!(line.contains("shard-1/report.json is not a valid report: stage 'poisson'"), "{line}");

    // Counters that sum past 2^64 (they wrapped: the merged report said "sent": 0).
    let mut huge = reports.clone();
    for r in &mut huge {
        let wire = &mut r["stages"][0]["mergeable"];
        wire["requests"] = json!(u64::MAX - 5);
        wire["ok"] = json!(u64::MAX - 5);
        wire["errors"] = json!({});
        wire["slo_met"] = json!(0);
    }
    write_report(&dirs[0], &huge[0]);
    write_report(&dirs[1], &huge[1]);
    refused(&merge(&dirs, &out), "stage 'poisson': the shards' requests sum past 2^64");

    // A tag with more ok than requests (the merge said 18446744073709551612 failed).
    let mut tagged = reports.clone();
    let wire = tagged[1]["stages"][0]["mergeable"].clone();
    let group = json!({"requests": 1, "ok": 5, "ttft": wire["ttft"], "itl": wire["itl"], "latency": wire["latency"],
                       "output_tokens": 0, "prefix_cache": [0, 0, 0]});
    tagged[1]["stages"][0]["mergeable"]["tags"] = json!({"forged": group});
    write_report(&dirs[0], &reports[0]);
    write_report(&dirs[1], &tagged[1]);
    refused(&merge(&dirs, &out), "mergeable: tag 'forged' has 5 ok of 1 requests");

    // More ok than sent in the stage's own counts.
    let mut lying = reports[1].clone();
    let sent = lying["stages"][0]["requests"]["sent"].as_u64().unwrap();
    lying["stages"][0]["requests"]["ok"] = json!(sent + 3);
    write_report(&dirs[1], &lying);
    refused(&merge(&dirs, &out), &format!("requests: {} ok of {sent} requests", sent + 3));
}

/// `report` as JSON text with the value `"__BULK__"` of `key` replaced by `bulk`.
fn with_bulk(report: &Value, key: &str, bulk: &str) -> String {
    let mut v = report.clone();
    v[key] = json!("__BULK__");
    serde_json::to_string(&v).unwrap().replacen("\"__BULK__\"", bulk, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40_mb_report_costs_a_small_multiple_of_its_size() {
    let (_tmp, dirs, reports) = two_shards("merge-40mb").await;
    let out = dirs[0].parent().unwrap().join("merged");
    const SIZE: usize = 40 << 20;

    // 40 MB of generic JSON in the parameters: 1.8 GB of memory as a generic value. Now
    // refused past its bound, in little more memory than the file.
    let empties = format!("[{}[]]", "[],".repeat(SIZE / 3));
    std::fs::write(dirs[1].join("report.json"), with_bulk(&reports[1], "params", &empties)).unwrap();
    let o = merge(&dirs, &out);
    refused(&o, "over its bound of 1048576");
    eprintln!("40 MB of generic parameters: peak RSS {} MiB", o.peak_rss_kib >> 10);
    assert!(o.peak_rss_kib < 4 * (SIZE as u64 >> 10) + (64 << 10), "peak RSS {} KiB for a 40 MB report", o.peak_rss_kib);

    // The same amount of unknown fields is skipped without being kept.
    let mut v = reports[1].clone();
    v["junk"] = json!("__BULK__");
    std::fs::write(dirs[1].join("report.json"), serde_json::to_string(&v).unwrap().replacen("\"__BULK__\"", &empties, 1)).unwrap();
    let o = merge(&dirs, &out);
    o.assert_success();
    eprintln!("40 MB of unknown fields: peak RSS {} MiB", o.peak_rss_kib >> 10);
    assert!(o.peak_rss_kib < 4 * (SIZE as u64 >> 10) + (64 << 10), "peak RSS {} KiB for a 40 MB report", o.peak_rss_kib);

    // A valid 40 MB report (a long run's server series): merged, memory a small multiple.
    let mut points = String::with_capacity(SIZE + 64);
    points.push('[');
    let mut t = 0u64;
    while points.len() < SIZE {
        t += 1;
        points.push_str(&format!("[{t}.5,0.25],"));
    }
    points.push_str("[0,0]]");
    let series = format!(
        "{{\"url\":\"http://127.0.0.1:1/metrics\",\"interval_ms\":1000,\"scrapes\":{t},\"errors\":0,\"last_error\":null,\
         \"series\":{{\"vllm:num_requests_running\":{points}}},\"scrape_times\":[]}}"
    );
    for (dir, r) in dirs.iter().zip(&reports) {
        std::fs::write(dir.join("report.json"), with_bulk(r, "server_metrics", &series)).unwrap();
    }
    let o = merge(&dirs, &out);
    o.assert_success();
    eprintln!("two valid 40 MB reports merged: peak RSS {} MiB", o.peak_rss_kib >> 10);
    // Two reports of 40 MB, read one after the other and kept: 80 MB of points.
    // Measured: 248 MiB (3 times the input; the points' vectors grow by doubling).
    assert!(o.peak_rss_kib < 8 * (SIZE as u64 >> 10) + (64 << 10), "peak RSS {} KiB for two 40 MB reports", o.peak_rss_kib);
    assert!(o.peak_rss_kib < RSS_KIB);
    let merged = read_report(&out);
    assert_eq!(
        merged["stages"][0]["requests"]["sent"].as_u64(),
        Some(reports.iter().map(|r| r["stages"][0]["requests"]["sent"].as_u64().unwrap()).sum())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_media_file_that_becomes_a_fifo_is_refused_without_blocking() {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(2), itl: Duration::from_millis(1), ..SimConfig::default() }).await;
    let tmp = TempDir::new("media-fifo");
    let dir = tmp.path().join("images");
    std::fs::create_dir_all(&dir).unwrap();
    const FILES: usize = 1000;
    for i in 0..FILES {
        std::fs::write(dir.join(format!("img-{i:04}.png")), format!("\u{89}PNG image {i}")).unwrap();
    }
    let out = TempDir::new("media-fifo-out");
    // Files are read in order, once each: the last is first read ~3.7 s in (1000 at
    // 200/s, produced at most 256 ahead); it becomes a FIFO as soon as the run is sending.
    let params = json!({"load": "constant", "rate": 200, "requests": FILES, "max_tokens": 2});
    let grant = format!("images={}", s(&dir));
    let args = with(run_args("builtin:vision", &sim.url(), params, &out), &["--dataset", &grant]);
    let run = tokio::spawn(run_volley_async(args, Duration::from_secs(60)));
    let jsonl = out.path().join("requests.jsonl");
    let started = Instant::now();
    while std::fs::read(&jsonl).map(|b| b.is_empty()).unwrap_or(true) {
        assert!(started.elapsed() < Duration::from_secs(30), "the run sent nothing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let last = dir.join(format!("img-{:04}.png", FILES - 1));
    std::fs::remove_file(&last).unwrap();
    mkfifo(&last);
    let o = run.await.unwrap();
    // The run ends at once with one line naming the file; it was not left waiting on the
    // FIFO until the stage's deadline.
    assert!(!o.status.success() && o.status.code() != Some(99), "{}", o.stderr);
    let errors = o.error_lines();
    assert_eq!(errors.len(), 1, "{}", o.stderr);
    assert!(errors[0].contains("img-0999.png is a FIFO, not a regular file"), "{}", errors[0]);
    assert!(o.elapsed < Duration::from_secs(30), "took {:?}", o.elapsed);
    // Every request sent is accounted for: in the report and in requests.jsonl.
    let report = read_report(out.path());
    let stage = &report["stages"][0]["requests"];
    let sent = stage["sent"].as_u64().unwrap();
    assert_eq!(sent, read_records(out.path()).len() as u64);
    assert_eq!(sent, stage["ok"].as_u64().unwrap() + stage["failed"].as_u64().unwrap());
    assert!(sent > 0 && sent < FILES as u64, "sent {sent}");
    // The simulator saw no request Volley did not count.
    assert!(sim.stats().requests <= sent, "{} at the simulator, {sent} counted", sim.stats().requests);
}
