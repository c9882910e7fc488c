//! Bad input ends in one clear line on stderr and a non-zero exit, never a panic.

use std::net::TcpListener;
use std::time::Duration;

use crate::support::*;

fn assert_one_line_error(args: &[&str], expect: &str) {
    let o = run_volley(args, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(1), "{args:?}: {}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{args:?} panicked: {}", o.stderr);
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: want exactly one line, got:\n{}", o.stderr);
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    assert!(lines[0].contains(expect), "{args:?}: {:?} does not mention {expect:?}", lines[0]);
}

#[test]
fn missing_file() {
    let target = format!("http://127.0.0.1:{}", free_port());
    assert_one_line_error(&["run", "/no/such/scenario.wasm", "--target", &target], "cannot read scenario");
}

#[test]
fn not_a_component() {
    let dir = TempDir::new("core");
    let core = dir.path().join("core.wasm");
    // The smallest valid core module: magic and version 1.
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let text = dir.path().join("text.wasm");
    std::fs::write(&text, b"hello").unwrap();
    let target = format!("http://127.0.0.1:{}", free_port());
    assert_one_line_error(&["run", core.to_str().unwrap(), "--target", &target], "core WebAssembly module, not a component");
    assert_one_line_error(&["run", text.to_str().unwrap(), "--target", &target], "not a WebAssembly file");
}

#[test]
fn component_of_another_world() {
    let target = format!("http://127.0.0.1:{}", free_port());
    assert_one_line_error(&["run", guest("other-world"), "--target", &target], "not a Volley scenario");
}

#[test]
fn unreachable_target() {
    let target = format!("http://127.0.0.1:{}", free_port());
    assert_one_line_error(&["run", "builtin:chat-poisson", "--target", &target], "cannot reach target");
}

#[test]
fn threads_outside_one_to_sixty_four_are_refused_by_the_argument_parser() {
    let target = format!("http://127.0.0.1:{}", free_port());
    for n in ["0", "65"] {
        let o = run_volley(&["run", "builtin:burst", "--target", &target, "--threads", n], Duration::from_secs(30));
        // Argument errors are clap's, folded into one line with a pointer to --help: exit 2.
        assert_eq!(o.status.code(), Some(2), "{}", o.stderr);
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
        let first = o.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error: ") && first.contains("--threads") && first.contains("1..=64"), "{}", o.stderr);
        assert!(first.ends_with("see `volley run --help`"), "{first}");
    }
}

#[test]
fn bad_parameters_and_urls() {
    let target = format!("http://127.0.0.1:{}", free_port());
    assert_one_line_error(&["run", "builtin:burst", "--target", &target, "--params", "{"], "--params is not valid JSON");
    assert_one_line_error(&["run", "builtin:nope", "--target", &target], "unknown builtin scenario");
    assert_one_line_error(&["run", "builtin:burst", "--target", "127.0.0.1:1"], "needs a scheme");
    assert_one_line_error(&["run", "builtin:burst", "--target", &target, "-H", "novalue"], "Name: value");
}

#[test]
fn scenario_rejects_its_parameters() {
    // The guest's own message reaches the operator. The target must be reachable for
    // configure to run, so start a listener that accepts and idles.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("http://{}", l.local_addr().unwrap());
    let dir = TempDir::new("rejected");
    let out = dir.path().join("results").join("never");
    assert_one_line_error(
        &["run", "builtin:chat-poisson", "--target", &target, "--params", r#"{"rate": -2}"#, "--out", out.to_str().unwrap()],
        "rejected its parameters: `rate` must be positive",
    );
    // Nothing was measured: the run leaves no empty output behind.
    assert!(!dir.path().join("results").exists(), "the directories it made are gone");
    assert!(dir.path().exists(), "but not one that was there before");
}

#[test]
fn check_shows_the_plan_and_first_requests_without_a_target() {
    let o =
        run_volley(&["check", "builtin:chat-poisson", "-n", "3", "--params", r#"{"rate": 8, "duration_s": 5}"#], Duration::from_secs(30));
    assert!(o.status.success(), "{}", o.stderr);
    assert!(o.stdout.contains("stage 0 'poisson': poisson 8/s for 5 s"), "{}", o.stdout);
    assert!(o.stdout.contains("arrivals:") && o.stdout.contains("planned; first at"), "{}", o.stdout);
    assert_eq!(o.stdout.matches("POST /v1/chat/completions (stream)").count(), 3, "{}", o.stdout);
    assert!(o.stdout.contains("nothing was sent"));
    // A hostile scenario fails the check the way it would fail a run.
    assert_one_line_error(&["check", guest("spin-forever")], "exceeded its time limit");
}

#[test]
fn a_pinned_digest_refuses_any_other_component() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("http://{}", l.local_addr().unwrap());
    let wrong = format!("sha256:{}", "0".repeat(64));
    assert_one_line_error(&["run", "builtin:burst", "--target", &target, "--digest", &wrong], "not the pinned");
    assert_one_line_error(&["run", "builtin:burst", "--target", &target, "--digest", "md5:abc"], "must look like sha256:");
}

/// Server hooks that cannot be made are one line each, before anything is sent.
#[test]
fn bad_server_hooks() {
    let target = format!("http://127.0.0.1:{}", free_port());
    let run = |more: &[&str], expect: &str| {
        let mut args = vec!["run", "builtin:chat-poisson", "--target", target.as_str()];
        args.extend_from_slice(more);
        assert_one_line_error(&args, expect);
    };
    run(&["--hook", "later:reset-prefix-cache"], "unknown moment");
    run(&["--hook", "before-run:BREW /pot"], "is not one of GET, POST");
    run(&["--reset-prefix-cache", "stage"], "name the server with --server-kind");
    run(&["--server-kind", "tgi", "--profile"], "unknown server kind 'tgi'");
    run(&["--server-kind", "llamacpp", "--profile"], "llamacpp has no profiler endpoint");
    run(&["--hook", "before-run:POST http://10.0.0.1:8000/flush_cache"], "is not on the target's origin");
}
