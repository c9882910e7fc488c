//! The command line as a person and a CI job meet it: `--help` grouped by topic with
//! examples, `--policy` only where a policy applies, a refused command line as one
//! `error:` line (exit 2), a run in which every request failed exiting 3 after writing
//! every output (and which exit wins when several hold, for `run`, `--repeat` and
//! `merge`), and names chosen by a scenario that cannot forge a line or drive the
//! terminal through any command's output (run, thresholds, check, merge, compare).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use volley::sim::SimConfig;

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

// --- help ---

#[test]
fn run_help_is_grouped_by_topic_with_examples_and_exit_codes() {
    let o = run_volley(&["run", "--help"], LIMIT);
    o.assert_success();
    for heading in [
        "Target and TLS:",
        "Scenario and load:",
        "Pass or fail (exit 99):",
        "Outputs and exporters:",
        "Server probes:",
        "Launching the server:",
        "Cluster:",
        "Sandbox and policy:",
        "Examples:",
    ] {
        assert!(o.stdout.lines().any(|l| l == heading), "no heading {heading:?} in:\n{}", o.stdout);
    }
    // Each flag under its topic, not in one list.
    let section = |heading: &str| -> String {
        let text = o.stdout.split(&format!("\n{heading}\n")).nth(1).unwrap_or_default();
        text.split("\n\n").next().unwrap_or_default().to_string()
    };
    assert!(section("Target and TLS:").contains("--ca-cert"), "{}", o.stdout);
    assert!(section("Server probes:").contains("--server-metrics"), "{}", o.stdout);
    assert!(section("Sandbox and policy:").contains("--policy"), "{}", o.stdout);
    assert!(!section("Options:").contains("--server-metrics"), "{}", o.stdout);
    assert!(o.stdout.matches("\n  volley run ").count() >= 3, "three examples: {}", o.stdout);
    assert!(o.stdout.contains("3 requests were\nsent and none succeeded"), "{}", o.stdout);
}

#[test]
fn every_command_has_examples_and_only_the_policy_commands_offer_policy() {
    for command in ["run", "check", "demo", "pack", "inspect", "push", "pull"] {
        let o = run_volley(&[command, "--help"], LIMIT);
        o.assert_success();
        assert!(o.stdout.contains("--policy <FILE>"), "{command} --help lacks --policy:\n{}", o.stdout);
        assert!(o.stdout.contains("Examples:"), "{command} --help has no examples");
    }
    for command in ["sim", "new", "compare", "merge", "coldstart", "kube"] {
        let o = run_volley(&[command, "--help"], LIMIT);
        o.assert_success();
        assert!(!o.stdout.contains("--policy"), "{command} --help offers --policy:\n{}", o.stdout);
        assert!(o.stdout.contains("Examples:"), "{command} --help has no examples");
    }
    let o = run_volley(&["--help"], LIMIT);
    assert!(o.stdout.contains("Examples:") && o.stdout.contains("Exit codes:") && !o.stdout.contains("--policy"), "{}", o.stdout);
}

#[test]
fn the_policy_comes_from_the_command_from_before_it_or_from_volley_policy() {
    let dir = TempDir::new("policy-places");
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "max_burst = 2").unwrap();
    let policy = policy.display().to_string();
    let check = |args: &[&str], envs: &[(&str, &str)]| {
        let mut all = args.to_vec();
        all.extend(["check", "builtin:burst", "--params", r#"{"n": 5}"#]);
        run_program(volley_bin(), &all, envs, LIMIT)
    };
    // After the command, before it (as earlier releases took it), and from the variable.
    for o in [
        run_volley(&["check", "builtin:burst", "--params", r#"{"n": 5}"#, "--policy", &policy], LIMIT),
        check(&["--policy", &policy], &[]),
        check(&[], &[("VOLLEY_POLICY", &policy)]),
    ] {
        assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
        assert!(o.stdout.contains("policy: REFUSED"), "{}", o.stdout);
        assert!(o.error_lines()[0].contains("max_burst"), "{}", o.stderr);
    }
    // Without one, the built-in policy allows it.
    check(&[], &[]).assert_success();
    // A command no policy applies to refuses it, in one line.
    let o = run_volley(&["--policy", &policy, "sim", "--port", "1"], LIMIT);
    assert_eq!(o.status.code(), Some(2), "{}", o.stderr);
    assert_one_line(&o.stderr, "--policy applies to run, demo, check");
    // A run file cannot choose the policy it runs under.
    let run_file = dir.path().join("run.toml");
    std::fs::write(&run_file, format!("scenario = 'builtin:burst'\ntarget = 'http://127.0.0.1:1'\npolicy = '{policy}'\n")).unwrap();
    let o = run_volley(&["run", "--config", &run_file.display().to_string()], LIMIT);
    assert_eq!(o.status.code(), Some(1), "{}", o.stderr);
    assert_one_line(&o.stderr, "'policy' is the operator's to give on the command line");
}

// --- usage errors ---

/// `stderr` is exactly one line, an `error:` line holding `want`.
fn assert_one_line(stderr: &str, want: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "want one line, got:\n{stderr}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains(want), "{:?} lacks {want:?}", lines[0]);
}

#[test]
fn a_command_line_the_parser_refuses_is_one_error_line_and_exit_2() {
    let target = format!("http://127.0.0.1:{}", free_port());
    for (args, says) in [
        // A typo: clap's message and its tip on one line.
        (
            vec!["run", "builtin:burst", "--target", &target, "--thread", "2"],
            "unexpected argument '--thread' found; tip: a similar argument exists: '--threads'; see `volley run --help`",
        ),
        (vec!["run", "builtin:burst", "--target", &target, "--threads", "0"], "0 is not in 1..=64; see `volley run --help`"),
        (vec!["run", "builtin:burst"], "the following required arguments were not provided: --target <TARGET>; see `volley run --help`"),
        (vec!["run", "builtin:burst", "--target", &target, "--http2", "maybe"], "invalid value 'maybe' for '--http2 <HTTP2>'"),
        (vec!["kube", "render", "--shards", "2"], "--config <CONFIG>; see `volley kube render --help`"),
        (vec!["frobnicate"], "unrecognized subcommand 'frobnicate'; see `volley --help`"),
    ] {
        let o = run_volley(&args, LIMIT);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", o.stderr);
        assert!(o.stdout.is_empty(), "{args:?}: {}", o.stdout);
        assert_one_line(&o.stderr, says);
    }
    // Help and the version are not errors.
    assert!(run_volley(&["--version"], LIMIT).stdout.starts_with("volley "));
}

// --- exit codes ---

/// A loopback server that answers every request with `501 Not Implemented`, keeping
/// the connection; it serves `connections` connections, then stops accepting.
fn answers_501(connections: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                loop {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                        match s.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    let mut body = vec![0u8; length.min(1 << 20)];
                    if s.read_exact(&mut body).is_err() {
                        return;
                    }
                    let answer = "not implemented";
                    let reply = format!("HTTP/1.1 501 Not Implemented\r\nContent-Length: {}\r\n\r\n{answer}", answer.len());
                    if s.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// The stderr lines that are the run's verdict (`volley: …` after the outputs).
fn verdict_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("volley: no request") || l.starts_with("volley: threshold")).collect()
}

#[test]
fn a_run_in_which_every_request_failed_exits_3_after_writing_every_output() {
    let target = format!("http://127.0.0.1:{}", answers_501(256));
    let dir = TempDir::new("all-failed");
    let out = dir.path().join("run");
    let run = |out: &Path, more: &[&str]| {
        let mut args = vec!["run", "builtin:burst", "--target", &target, "--model", "m", "--params", r#"{"n": 4}"#, "--quiet"];
        let out = out.display().to_string();
        args.extend(["--out", &out]);
        args.extend(more);
        run_volley(&args, LIMIT)
    };
    let o = run(&out, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", o.stderr);
    assert!(o.stdout.contains("4 sent, 0 ok, 4 failed"), "{}", o.stdout);
    let verdict = verdict_lines(&o.stderr);
    assert_eq!(verdict.len(), 1, "{}", o.stderr);
    assert!(verdict[0].contains("no request succeeded: 4 sent, 0 ok (http-status 4)") && verdict[0].contains("(exit 3)"), "{}", verdict[0]);
    assert!(o.error_lines().is_empty(), "not an error of Volley's: {}", o.stderr);
    // Every output is there.
    assert_eq!(read_report(&out)["stages"][0]["requests"]["failed"], 4);
    assert_eq!(read_records(&out).len(), 4);
    for f in ["requests.csv", "report.html"] {
        assert!(out.join(f).is_file(), "{f}");
    }

    // A failed threshold wins over nothing right: 99, with its own line.
    let o = run(&dir.path().join("threshold"), &["--threshold", "error_rate<0.5"]);
    assert_eq!(o.status.code(), Some(99), "{}", o.stderr);
    assert_eq!(verdict_lines(&o.stderr).len(), 2, "{}", o.stderr);

    // --repeat: every trial written, then 3.
    let repeat = dir.path().join("repeat");
    let o = run(&repeat, &["--repeat", "2"]);
    assert_eq!(o.status.code(), Some(3), "{}", o.stderr);
    assert!(repeat.join("trials.json").is_file() && repeat.join("trial-2/report.json").is_file());

    // merge: the shards' joined numbers are judged the same way.
    let shards: Vec<String> = (0..2).map(|i| dir.path().join(format!("shard-{i}")).display().to_string()).collect();
    for (i, shard) in shards.iter().enumerate() {
        let o = run(Path::new(shard), &["--shard", &format!("{i}/2")]);
        assert_eq!(o.status.code(), Some(3), "{}", o.stderr);
    }
    let merged = dir.path().join("merged").display().to_string();
    let o = run_volley(&["merge", &shards[0], &shards[1], "--out", &merged, "--quiet"], LIMIT);
    assert_eq!(o.status.code(), Some(3), "{}", o.stderr);
    assert!(verdict_lines(&o.stderr)[0].contains("no request succeeded: 4 sent"), "{}", o.stderr);
    assert!(Path::new(&merged).join("report.json").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_one_success_exits_0() {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(1), ..SimConfig::default() }).await;
    let out = TempDir::new("one-ok");
    let o = run_volley_async(run_args("builtin:burst", &sim.url(), json!({"n": 2}), &out), LIMIT).await;
    o.assert_success();
    assert!(verdict_lines(&o.stderr).is_empty(), "{}", o.stderr);
}

// --- names that try to drive the terminal ---

/// A stage name and tag with a newline that would forge a verdict, an OSC 52 clipboard
/// write, an OSC 8 hyperlink, a C1 CSI, a carriage return and a screen erase.
const HOSTILE_NAME: &str =
    "x\nALL CHECKS PASSED\x1b]52;c;aGVsbG8=\x07\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\\u{9b}31m\r\x1b[2J";

/// No control character but the line ends reached the terminal, and no line starts
/// with the text after the name's newline.
fn assert_clean(what: &str, text: &str) {
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{what}: a control character reached the terminal: {text:?}");
    assert!(!text.lines().any(|l| l.trim_start().starts_with("ALL CHECKS PASSED")), "{what}: a forged line:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_newlines_and_escape_sequences_cannot_forge_a_line_or_drive_the_terminal() {
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(1), ..SimConfig::default() }).await;
    let dir = TempDir::new("hostile-names");
    let params = json!({"mode": "names", "value": HOSTILE_NAME, "n": 4, "rate": 50, "duration_s": 1}).to_string();
    let hostile = guest("hostile");
    let shown = r"x\nALL CHECKS PASSED\u{1b}]52;c;aGVsbG8=\u{7}";

    // A run whose threshold fails on the stage: the summary, the stage lines and the
    // verdict all carry the name.
    let mut shards = Vec::new();
    for i in 0..2 {
        let out = dir.path().join(format!("shard-{i}")).display().to_string();
        let args: Vec<String> = [
            "run",
            hostile,
            "--target",
            &sim.url(),
            "--params",
            &params,
            "--out",
            &out,
            "--shard",
            &format!("{i}/2"),
            "--threshold",
            "ttft_ms.p99<0.000001",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let o = run_volley_async(args, LIMIT).await;
        assert_eq!(o.status.code(), Some(99), "{}", o.stderr);
        assert_clean("run stdout", &o.stdout);
        assert_clean("run stderr", &o.stderr);
        assert!(o.stdout.contains(&format!("stage '{shown}")), "{}", o.stdout);
        let verdict = verdict_lines(&o.stderr);
        assert!(verdict.len() == 1 && verdict[0].contains(&format!("on stage '{shown}")), "{}", o.stderr);
        shards.push(out);
    }

    // The report files carry the name: merge and compare read it back.
    let merged = dir.path().join("merged").display().to_string();
    let o = run_volley(&["merge", &shards[0], &shards[1], "--out", &merged], LIMIT);
    assert_eq!(o.status.code(), Some(99), "{}", o.stderr);
    assert_clean("merge stdout", &o.stdout);
    assert_clean("merge stderr", &o.stderr);
    assert!(verdict_lines(&o.stderr)[0].contains(shown), "{}", o.stderr);
    let o = run_volley(&["compare", &shards[0], &shards[1]], LIMIT);
    assert_clean("compare stdout", &o.stdout);
    assert_clean("compare stderr", &o.stderr);

    // `volley check`, the vetting command, shows it the same way.
    let o = run_volley(&["check", hostile, "--params", &params], LIMIT);
    o.assert_success();
    assert_clean("check stdout", &o.stdout);
    assert!(o.stdout.contains(&format!("stage 0 '{shown}")), "{}", o.stdout);
}
