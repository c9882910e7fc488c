//! Untrusted scenarios, packages and registries, tried as an attacker would: one case
//! per class of attack (docs/untrusted.md). Every case must end by itself within a few
//! seconds of its limit, keep Volley's peak RSS under 512 MiB, exit with one line that
//! names what was refused (or run safely where nothing needs refusing), leave its
//! report, send nothing beyond what the policy allows, and print no panic text.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use volley::sim::SimConfig;

use crate::support::*;

/// Peak RSS every case must stay under, MiB.
const RSS_LIMIT_MIB: f64 = 512.0;

fn hostile() -> &'static str {
    guest("hostile")
}

fn quick() -> SimConfig {
    SimConfig { ttft: Duration::from_millis(2), itl: Duration::from_millis(1), ..SimConfig::default() }
}

/// What one case expects.
struct Expect {
    /// Exit code (1: refused or faulted; 0: it ran, safely).
    code: i32,
    /// Text the error line must contain (refusals), if any.
    refused: Option<&'static str>,
    /// Longest the run may take.
    within: Duration,
    /// Most requests the server may see.
    max_sent: u64,
}

fn refused(text: &'static str) -> Expect {
    Expect { code: 1, refused: Some(text), within: Duration::from_secs(10), max_sent: 0 }
}

fn safe(max_sent: u64) -> Expect {
    Expect { code: 0, refused: None, within: Duration::from_secs(15), max_sent }
}

/// Runs the hostile guest with `params` (and a policy and extra arguments) against a
/// fresh simulator, and checks what every case must hold. Returns the output and the
/// run's directory.
async fn attack(params: Value, policy: &str, extra: &[&str], expect: Expect) -> (Output, TempDir) {
    attack_on(quick(), params, policy, extra, expect).await
}

async fn attack_on(sim: SimConfig, params: Value, policy: &str, extra: &[&str], expect: Expect) -> (Output, TempDir) {
    let sim = start_sim(sim).await;
    attack_sim(&sim, params, policy, extra, expect).await
}

/// [`attack`] against a server the caller holds (so it can count what the run sent).
async fn attack_sim(sim: &volley::sim::Simulator, params: Value, policy: &str, extra: &[&str], expect: Expect) -> (Output, TempDir) {
    let before = sim.stats().requests;
    let out = TempDir::new("hostile");
    let policy_file = out.path().join("policy.toml");
    std::fs::write(&policy_file, policy).unwrap();
    let run_dir = out.path().to_path_buf();
    let mut args = vec![
        "run".to_string(),
        hostile().to_string(),
        "--target".into(),
        sim.url(),
        "--params".into(),
        params.to_string(),
        "--out".into(),
        run_dir.display().to_string(),
        "--policy".into(),
        policy_file.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = run_volley_async(args, expect.within + Duration::from_secs(20)).await;
    let all = format!("{}{}", o.stdout, o.stderr);
    assert_eq!(o.status.code(), Some(expect.code), "{params}: {all}");
    assert!(o.elapsed < expect.within, "{params} took {:?}", o.elapsed);
    assert!(!all.contains("panicked") && !all.contains("RUST_BACKTRACE"), "{params}: panic text: {all}");
    assert!(!all.contains('\u{1b}'), "{params}: an escape sequence reached the terminal: {all:?}");
    let errors = o.error_lines();
    match expect.refused {
        Some(text) => {
            assert_eq!(errors.len(), 1, "{params}: want one error line: {}", o.stderr);
            assert!(errors[0].contains(text), "{params}: {:?} lacks {text:?}", errors[0]);
        }
        None => assert!(errors.is_empty(), "{params}: {}", o.stderr),
    }
    let report = read_report(&run_dir);
    let rss = report["host"]["peak_rss_mib"].as_f64().unwrap();
    assert!(rss < RSS_LIMIT_MIB, "{params}: peak RSS {rss} MiB");
    let seen = sim.stats().requests - before;
    assert!(seen <= expect.max_sent, "{params}: the server saw {seen} requests (at most {})", expect.max_sent);
    (o, out)
}

// --- host memory in proportion to guest values ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_of_a_hundred_thousand_stages_is_refused() {
    attack(json!({"mode": "stages", "n": 100_000}), "", &[], refused("max_stages")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_four_billion_is_refused() {
    attack(json!({"mode": "burst", "n": 4_000_000_000u64}), "", &[], refused("max_burst")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_million_workers_are_refused() {
    attack(json!({"mode": "concurrency", "n": 10_000_000}), "", &[], refused("max_concurrency")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billion_requests_a_second_are_refused() {
    attack(json!({"mode": "rate", "rate": 1e9}), "", &[], refused("max_rate")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused() {
    // Each call produces a batch of 32: 2 MiB bodies fit the guest's memory, not the policy.
    attack(json!({"mode": "body", "bytes": 2 << 20}), "max_body_bytes = 1048576", &[], refused("max_body_bytes")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_are_queued_by_bytes_not_by_count() {
    // 2 MiB bodies at concurrency 1: a queue of 2,048 entries would hold 4 GiB; the
    // byte budget holds 16 MiB.
    let policy = "max_queue_bytes = 16777216";
    let (_, dir) = attack(json!({"mode": "body", "bytes": 2 << 20, "duration_s": 2}), policy, &[], safe(10_000)).await;
    assert!(read_report(dir.path())["stages"][0]["requests"]["ok"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_unique_tag_per_request_is_refused() {
    attack(json!({"mode": "tag", "bytes": 65_536}), "", &[], refused("max_tag_bytes")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_megabytes_for_the_tokenizer_are_refused() {
    let tok = tokenizer_path();
    attack(json!({"mode": "tokenizer", "bytes": 100 << 20}), "", &["--tokenizer", &tok], refused("max_tokenizer_input_bytes")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_stay_under_the_policy_against_a_slow_server() {
    // 2,000 sends a second to a server that answers after 2 s: without a cap, 4,000
    // tasks and connections; with it, 50.
    let slow = SimConfig { ttft: Duration::from_secs(2), ..quick() };
    let sim = start_sim(slow).await;
    let out = TempDir::new("inflight");
    std::fs::write(out.path().join("p.toml"), "max_in_flight = 50").unwrap();
    let args = with(
        run_args(hostile(), &sim.url(), json!({"mode": "rate", "rate": 2000, "n": 100_000, "duration_s": 2}), &out),
        &["--policy", &out.path().join("p.toml").display().to_string(), "--timeout-s", "5"],
    );
    let o = run_volley_async(args, Duration::from_secs(40)).await;
    o.assert_success();
    assert!(sim.stats().max_in_flight <= 50, "the server saw {} at once", sim.stats().max_in_flight);
    assert!(
        read_report(out.path())["stages"][0]["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("fell behind"))
    );
}

// --- hangs ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degenerate_gamma_load_is_refused_without_hanging() {
    attack(json!({"mode": "gamma", "cv": 1e-200}), "", &[], refused("cv from 0.01 to 100")).await;
    // `volley check`, the vetting command, refuses it too.
    let o = run_volley(&["check", hostile(), "--params", r#"{"mode": "gamma", "cv": 1e-200}"#], Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
    assert!(o.error_lines()[0].contains("cv from 0.01 to 100"), "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_sleeps_forever_is_stopped_by_its_time_limit() {
    attack(json!({"mode": "sleep-forever"}), "guest_call_ms = 500", &[], refused("exceeded its time limit of 500 ms")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_sleeps_passes_in_virtual_time() {
    // 86,400 one-second sleeps per request: the guest's clock is virtual, nothing waits.
    attack(json!({"mode": "sleep", "n": 3}), "", &[], safe(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_outcomes_use_up_the_runs_guest_time() {
    let policy = "guest_total_s = 1.0";
    attack(
        json!({"mode": "slow-outcome", "rate": 100, "duration_s": 10}),
        policy,
        &[],
        Expect { max_sent: 1000, ..refused("guest_total_s") },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_loop_stage_ends_on_time_whatever_its_producer() {
    // 25 ms of guest work per request, 100 requests/s planned for 1 s: the stage ends
    // at its end, and says the generator fell behind.
    let (_, dir) = attack(json!({"mode": "slow-producer", "rate": 100, "n": 1000, "duration_s": 1}), "", &[], safe(100)).await;
    let stage = &read_report(dir.path())["stages"][0];
    assert!(ms(&stage["sending_s"]) < 1.5, "{stage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_stage_without_end_is_stopped_at_max_stage_s() {
    let expect = Expect { max_sent: 400, ..refused("max_stage_s") };
    let (o, _) = attack(json!({"mode": "custom-forever"}), "max_stage_s = 2.0", &[], expect).await;
    assert!(o.elapsed > Duration::from_secs(2), "stopped at the limit, not before");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_stopped_at_max_run_s() {
    let expect = Expect { max_sent: 100, ..refused("max_run_s") };
    attack(json!({"mode": "rate", "rate": 20, "n": 1000, "duration_s": 30}), "max_run_s = 2.0", &[], expect).await;
}

// --- panics ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_rate_is_no_overflow() {
    attack(json!({"mode": "tiny-rate", "duration_s": 1}), "", &[], safe(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stderr_cut_inside_a_character_is_no_host_panic() {
    attack(json!({"mode": "stderr-utf8"}), "", &[], refused("stderr was cut inside a character")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_of_stderr_does_not_trap_the_guest() {
    attack(json!({"mode": "stderr-flood", "n": 3}), "", &[], safe(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tensor_whose_shape_overflows_is_refused() {
    attack(json!({"mode": "tensor", "n": 1}), "", &["--model", "m"], refused("has shape")).await;
}

// --- output injection ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_never_reach_the_terminal() {
    // `attack` checks no escape reached stdout or stderr; the names are kept, cleaned.
    let (o, _) = attack(json!({"mode": "escapes"}), "", &[], safe(3)).await;
    assert!(o.stdout.contains(r"stage\u{1b}]0;owned"), "{}", o.stdout);
    let check = run_volley(&["check", hostile(), "--params", r#"{"mode": "escapes"}"#], Duration::from_secs(20));
    check.assert_success();
    assert!(!check.stdout.contains('\u{1b}') && !check.stdout.contains('\r'), "{:?}", check.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spreadsheet_formulas_in_tags_are_text_in_the_csv() {
    let (_, dir) = attack(json!({"mode": "formula", "duration_s": 1}), "", &[], safe(10_000)).await;
    let csv = std::fs::read_to_string(dir.path().join("requests.csv")).unwrap();
    let mut rows = csv.lines();
    let tag = rows.next().unwrap().split(',').position(|h| h == "tag").unwrap();
    for row in rows.take(8) {
        let field = row.split(',').nth(tag).unwrap();
        assert!(field.starts_with('\'') || field.starts_with("\"'"), "{row}");
    }
}

// --- egress ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_that_leave_the_target_are_refused() {
    for path in ["/%2e%2e/admin", "/a/.%2E/b", "/a\\b", "/a@b", "/a%2fb", "/a%5Cb", "/%252e%252e/x", "/a/../b", "/a#frag"] {
        attack(json!({"mode": "path", "value": path, "n": 1}), "", &[], refused("must be relative to the target")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kserve_model_and_version_segments_are_checked() {
    attack(json!({"mode": "kserve-model", "value": "..", "n": 1}), "", &[], refused("cannot be used in a kserve-v2 path")).await;
    attack(json!({"mode": "kserve-version", "value": "..", "n": 1}), "", &["--model", "m"], refused("cannot be used in a kserve-v2 path"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_off_the_allow_list_are_refused() {
    let cases = [
        ("connection", "is set by the host"),
        ("keep-alive", "is set by the host"),
        ("te", "is set by the host"),
        ("trailer", "is set by the host"),
        ("expect", "is set by the host"),
        ("x-auth-token", "carries credentials"),
        ("authentication", "carries credentials"),
        ("forwarded", "routed"),
        ("x-forwarded-for", "routed"),
        ("x-http-method-override", "routed"),
        ("x-original-url", "routed"),
        ("x-anything", "not on the allow list"),
    ];
    for (name, why) in cases {
        attack(json!({"mode": "header", "value": name, "n": 1}), "", &[], refused(why)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_cannot_set_an_operator_header() {
    let policy = "allow_headers = [\"x-tenant\"]";
    attack(json!({"mode": "header", "value": "X-Tenant", "n": 1}), policy, &["-H", "x-tenant: operator"], refused("is the operator's"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_off_the_policy_is_refused_before_anything_is_sent() {
    attack(json!({"mode": "rate", "n": 5}), "targets = [\"http://127.0.0.1:1\"]", &[], refused("is not one of them")).await;
}

/// A guest that opens a socket of its own (past the host's client) traps: the sandbox
/// links no WASI sockets, only stubs, and the listener never sees a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_socket_of_its_own_traps_and_connects_nowhere() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    attack(json!({"mode": "socket", "value": addr, "n": 1}), "", &[], refused("the sandbox does not provide `wasi:sockets/")).await;
    assert!(listener.accept().is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock), "the guest reached the listener");
}

/// A policy of targets, rate and concurrency: another target and a plan over either
/// limit are refused before any server sees a request; a plan inside it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_of_targets_rate_and_concurrency_refuses_before_sending_and_allows_inside() {
    let (allowed, other) = (start_sim(quick()).await, start_sim(quick()).await);
    let policy = format!("targets = [\"{}\"]\nmax_rate = 100\nmax_concurrency = 4\n", allowed.url());
    attack_sim(&other, json!({"mode": "rate", "rate": 10, "n": 5}), &policy, &[], refused("is not one of them")).await;
    attack_sim(&allowed, json!({"mode": "rate", "rate": 1000, "n": 5}), &policy, &[], refused("max_rate = 100")).await;
    attack_sim(&allowed, json!({"mode": "concurrency", "n": 5, "duration_s": 0.5}), &policy, &[], refused("max_concurrency = 4")).await;
    assert_eq!((allowed.stats().requests, other.stats().requests), (0, 0), "nothing reached either server");
    attack_sim(&allowed, json!({"mode": "rate", "rate": 50, "n": 5}), &policy, &[], safe(5)).await;
    attack_sim(&allowed, json!({"mode": "concurrency", "n": 4, "duration_s": 0.5}), &policy, &[], safe(u64::MAX)).await;
    assert!(allowed.stats().requests >= 6, "the runs inside the policy sent: {}", allowed.stats().requests);
}

// --- time ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_clock_is_virtual_and_follows_the_seed() {
    let prompt = |dir: &Path| {
        let r = &read_records(dir)[0];
        r["request_body"]["messages"][0]["content"].as_str().unwrap().to_string()
    };
    let (_, a) = attack(json!({"mode": "clock", "n": 1}), "", &["--record-text", "--seed", "5"], safe(1)).await;
    let (_, b) = attack(json!({"mode": "clock", "n": 1}), "", &["--record-text", "--seed", "5"], safe(1)).await;
    let (pa, pb) = (prompt(a.path()), prompt(b.path()));
    assert_eq!(pa, pb, "the same seed reads the same time");
    let wall: u64 = pa.split_whitespace().nth(1).unwrap().parse().unwrap();
    // 2024-01-01 to 2025-01-01: a virtual wall clock, not the host's (2026 and later).
    assert!((1_704_067_200..1_735_689_600).contains(&wall), "{pa}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_a_run_whose_guest_is_stuck_within_five_seconds() {
    let sim = start_sim(quick()).await;
    let out = TempDir::new("sigterm");
    std::fs::write(out.path().join("p.toml"), "guest_call_ms = 120000").unwrap();
    let mut args = run_args(hostile(), &sim.url(), json!({"mode": "sleep-forever"}), &out);
    args.extend(["--policy".into(), out.path().join("p.toml").display().to_string(), "--guest-timeout-ms".into(), "120000".into()]);
    let mut child = std::process::Command::new(volley_bin())
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The guest is in its endless call (the run's report does not exist yet).
    std::thread::sleep(Duration::from_secs(2));
    assert!(child.try_wait().unwrap().is_none(), "still running");
    let asked = std::time::Instant::now();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(asked.elapsed() < Duration::from_secs(10), "SIGTERM did not end the run");
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = asked.elapsed();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(took < Duration::from_secs(5), "ended {took:?} after SIGTERM");
    assert_ne!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let report = read_report(out.path());
    assert_eq!(report["interrupted"], true);
}

// --- supply chain ---

/// A tar holding `volley-package.json` (from a real package) and `entries` after it.
fn package_with(dir: &Path, name: &str, tweak: impl FnOnce(&mut Vec<u8>)) -> String {
    let pkg = dir.join("good.volley");
    let o = run_volley(&["pack", "builtin:burst", "-o", &pkg.display().to_string()], Duration::from_secs(60));
    o.assert_success();
    let mut bytes = std::fs::read(&pkg).unwrap();
    tweak(&mut bytes);
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

/// A ustar header block for `name` of `size` bytes and entry type `kind`.
fn tar_header(name: &str, size: u64, kind: u8) -> Vec<u8> {
    let mut h = if kind == b'S' { tar::Header::new_gnu() } else { tar::Header::new_ustar() };
    h.set_path(name).unwrap();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::new(kind));
    if let Some(gnu) = h.as_gnu_mut() {
        // A sparse entry's real size: a well-formed header, so the refusal is ours, not tar's.
        let octal = format!("{size:012o}");
        gnu.realsize.copy_from_slice(octal.as_bytes());
        gnu.sparse[0].offset.copy_from_slice(format!("{:012o}", 0).as_bytes());
        gnu.sparse[0].numbytes.copy_from_slice(octal.as_bytes());
    }
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// Replaces the end of a tar (its two zero blocks) with `blocks` and a new end.
fn append_blocks(bytes: &mut Vec<u8>, blocks: &[u8]) {
    while bytes.len() >= 512 && bytes[bytes.len() - 512..].iter().all(|b| *b == 0) {
        bytes.truncate(bytes.len() - 512);
    }
    bytes.extend_from_slice(blocks);
    bytes.extend_from_slice(&[0u8; 1024]);
}

fn assert_refused(args: &[&str], text: &str) {
    let o = run_volley(args, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(1), "{args:?}: {}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    let errors = o.error_lines();
    assert_eq!(errors.len(), 1, "{}", o.stderr);
    assert!(errors[0].contains(text), "{:?} lacks {text:?}", errors[0]);
    assert!(o.elapsed < Duration::from_secs(20), "took {:?}", o.elapsed);
}

#[test]
fn an_eight_gigabyte_sparse_entry_is_refused_unread() {
    let dir = TempDir::new("sparse");
    let sparse = package_with(dir.path(), "sparse.volley", |b| append_blocks(b, &tar_header("scenario.wasm", 8 << 30, b'S')));
    assert_refused(&["inspect", &sparse], "not a regular file");
    let huge = package_with(dir.path(), "huge.volley", |b| append_blocks(b, &tar_header("extra.bin", 8 << 30, b'0')));
    assert_refused(&["inspect", &huge], "unexpected entry");
    assert_refused(&["check", &huge], "unexpected entry");
}

#[test]
fn links_and_duplicate_entries_are_refused() {
    let dir = TempDir::new("links");
    let link = package_with(dir.path(), "link.volley", |b| append_blocks(b, &tar_header("scenario.wasm", 0, b'2')));
    assert_refused(&["inspect", &link], "not a regular file");
    let twice = package_with(dir.path(), "twice.volley", |b| {
        let mut block = tar_header("volley-package.json", 2, b'0');
        block.extend_from_slice(b"{}");
        block.resize(1024, 0);
        append_blocks(b, &block)
    });
    assert_refused(&["inspect", &twice], "twice");
}

#[test]
fn a_manifest_name_that_is_a_path_is_refused() {
    let dir = TempDir::new("pathname");
    let evil = package_with(dir.path(), "evil.volley", |b| {
        let text = String::from_utf8_lossy(b).into_owned();
        let start = text.find("\"name\": \"burst\"").expect("the manifest's name");
        b[start..start + 15].copy_from_slice(b"\"name\": \"../..\"");
        // The header's checksum covers the header only; the manifest's content changed.
    });
    assert_refused(&["inspect", &evil], "invalid manifest: name");
}

/// A registry that answers every request with `answer` (then closes).
fn fake_registry(answer: impl Fn(&str) -> Vec<u8> + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut s) = stream else { continue };
            let mut head = [0u8; 4096];
            let n = s.read(&mut head).unwrap_or(0);
            let request = String::from_utf8_lossy(&head[..n]).into_owned();
            let reply = answer(request.lines().next().unwrap_or(""));
            let _ = s.write_all(&reply);
        }
    });
    port
}

#[test]
fn a_registry_manifest_that_never_ends_is_cut_off() {
    let port = fake_registry(|_| {
        let mut r =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 100000000000\r\n\r\n".to_vec();
        r.extend(std::iter::repeat_n(b' ', 8 << 20));
        r
    });
    let dir = TempDir::new("endless");
    let out = dir.path().join("x.volley").display().to_string();
    assert_refused(&["pull", &format!("oci://127.0.0.1:{port}/evil:1"), "-o", &out], "over 4 MiB");
}

#[test]
fn a_registry_redirect_to_another_host_is_refused() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let manifest = json!({"schemaVersion": 2, "layers": [{"mediaType": "application/wasm", "digest": digest, "size": 100}]}).to_string();
    let port = fake_registry(move |line| {
        if line.contains("/manifests/") {
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{manifest}", manifest.len()).into_bytes()
        } else {
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:9/stolen\r\nContent-Length: 0\r\n\r\n".to_vec()
        }
    });
    let dir = TempDir::new("redirect");
    let out = dir.path().join("x.volley").display().to_string();
    assert_refused(&["pull", &format!("oci://127.0.0.1:{port}/evil:1"), "-o", &out], "registry_redirect_hosts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_or_linked_compile_cache_entry_is_never_loaded() {
    let sim = start_sim(quick()).await;
    let dir = TempDir::new("cache");
    let cache = dir.path().join("cache");
    let env = [("VOLLEY_CACHE_DIR", cache.to_str().unwrap())];
    let run = |n: &str| {
        let out = dir.path().join(n).display().to_string();
        let params = json!({"mode": "rate", "n": 2}).to_string();
        run_program(
            volley_bin(),
            &["run", hostile(), "--target", &sim.url(), "--params", &params, "--out", &out, "--quiet"],
            &env,
            Duration::from_secs(60),
        )
    };
    run("first").assert_success();
    let entry = std::fs::read_dir(cache.join("compiled"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .expect("a compiled entry");
    // Garbage with the entry's name: refused (said in one line), recompiled, replaced.
    std::fs::write(&entry, vec![0xAB; 4096]).unwrap();
    let o = run("tampered");
    o.assert_success();
    assert_eq!(o.stderr.matches("compile-cache entry was refused").count(), 1, "{}", o.stderr);
    assert!(std::fs::metadata(&entry).unwrap().len() > 4096, "the entry was written anew");
    // A link planted at the entry's name: never followed.
    let elsewhere = dir.path().join("planted.cwasm");
    std::fs::copy(&entry, &elsewhere).unwrap();
    std::fs::remove_file(&entry).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
    let o = run("linked");
    o.assert_success();
    assert!(o.stderr.contains("compile-cache entry was refused"), "{}", o.stderr);
    assert!(!std::fs::symlink_metadata(&entry).unwrap().file_type().is_symlink(), "the link was replaced by a real entry");
    // A cache directory others may write is not used at all.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(cache.join("compiled"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = run("open-dir");
    o.assert_success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_cache_entry_renamed_to_another_component_is_refused() {
    // Two components, each compiled into the cache; then one's entry is copied over the
    // other's name, as someone who can write the cache would to run their code under
    // another component's digest pin. The MAC binds an entry to its component digest,
    // so the copy is refused (one line), the right component is compiled and runs.
    let sim = start_sim(quick()).await;
    let dir = TempDir::new("cache-swap");
    let cache = dir.path().join("cache");
    let compiled = cache.join("compiled");
    let env = [("VOLLEY_CACHE_DIR", cache.to_str().unwrap())];
    let run = |scenario: &str, params: Value, n: &str| {
        let out = dir.path().join(n);
        let (url, params, out_s) = (sim.url(), params.to_string(), out.display().to_string());
        let args = ["run", scenario, "--target", &url, "--params", &params, "--out", &out_s, "--quiet"];
        let o = tokio::task::block_in_place(|| run_program(volley_bin(), &args, &env, Duration::from_secs(60)));
        (o, out)
    };
    let entries = || -> Vec<std::path::PathBuf> {
        let mut e: Vec<_> = std::fs::read_dir(&compiled)
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "cwasm")).collect())
            .unwrap_or_default();
        e.sort();
        e
    };
    let burst = || json!({"n": 3, "max_tokens": 4});
    let (o, _) = run("builtin:burst", burst(), "burst-first");
    o.assert_success();
    let [burst_entry] = entries().try_into().expect("one entry after the first component");
    let (o, _) = run("builtin:chat-poisson", json!({"rate": 50, "max_requests": 3, "max_tokens": 4}), "chat-first");
    o.assert_success();
    let chat_entry = entries().into_iter().find(|p| *p != burst_entry).expect("a second entry");

    // chat-poisson's compiled code under burst's name.
    std::fs::copy(&chat_entry, &burst_entry).unwrap();
    let planted = std::fs::read(&burst_entry).unwrap();
    let sent_before = sim.stats().requests;
    let (o, out) = run("builtin:burst", burst(), "burst-swapped");
    o.assert_success();
    let refused: Vec<&str> = o.stderr.lines().filter(|l| l.contains("compile-cache entry was refused")).collect();
    assert_eq!(refused.len(), 1, "one line says the entry was refused:\n{}", o.stderr);
    assert!(refused[0].starts_with("compiling scenario burst ("), "{}", refused[0]);
    let report = read_report(&out);
    assert_eq!(report["scenario"]["name"], "burst", "burst's own code ran, not the planted one");
    assert_eq!(report["stages"][0]["name"], "burst");
    assert_eq!(report["stages"][0]["requests"]["ok"], 3);
    assert_eq!(sim.stats().requests - sent_before, 3);
    assert_ne!(std::fs::read(&burst_entry).unwrap(), planted, "the planted entry was replaced by burst's own");

    // The entry written in its place is burst's, and loads silently.
    let (o, out) = run("builtin:burst", burst(), "burst-again");
    o.assert_success();
    assert!(!o.stderr.contains("compiling scenario"), "loaded from the cache:\n{}", o.stderr);
    assert_eq!(read_report(&out)["scenario"]["name"], "burst");
}

// --- a server that attacks ---

/// A server that answers every completion with `prefix` and then `filler` bytes that
/// never end a line (up to 64 MiB, then it gives up), and every GET with a model list.
fn endless_server(prefix: &'static [u8], filler: u8) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(32) {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 && s.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                if head.starts_with(b"GET") {
                    let body = r#"{"object":"list","data":[{"id":"m","object":"model"}]}"#;
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    return;
                }
                let _ = s.write_all(prefix);
                let chunk = vec![filler; 64 << 10];
                for _ in 0..1024 {
                    if s.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Two requests to `port`: each fails as a protocol error saying `want`, soon, with the
/// records and report written and memory bounded.
fn refused_within_bounds(port: u16, want: &str) {
    let out = TempDir::new("endless-line");
    let args = [
        "run",
        "builtin:chat-poisson",
        "--target",
        &format!("http://127.0.0.1:{port}"),
        "--params",
        r#"{"rate": 5, "max_requests": 2}"#,
        "--out",
        &out.path().display().to_string(),
    ];
    let o = run_volley(&args, Duration::from_secs(60));
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    assert!(o.elapsed < Duration::from_secs(30), "took {:?}", o.elapsed);
    let records = read_records(out.path());
    assert_eq!(records.len(), 2, "{}", o.stderr);
    for r in &records {
        assert_eq!(r["error"], "protocol", "{r}");
        assert!(r["error_message"].as_str().unwrap().contains(want), "{want}: {r}");
    }
    let rss = read_report(out.path())["host"]["peak_rss_mib"].as_f64().unwrap();
    assert!(rss < RSS_LIMIT_MIB, "peak RSS {rss} MiB");
}

#[test]
fn a_server_line_that_never_ends_fails_the_request_with_bounded_memory() {
    let sse = endless_server(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: ", b'x');
    refused_within_bounds(sse, "over 4 MiB");
}

#[test]
fn a_response_head_or_chunk_size_that_never_ends_is_refused_at_its_bound() {
    refused_within_bounds(endless_server(b"HTTP/1.1 200 OK\r\nx-endless: ", b'x'), "the response head is over 64 KiB");
    let chunked = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n1";
    refused_within_bounds(endless_server(chunked, b' '), "chunk-size line of the response is over 4 KiB");
}
