//! Scenario authoring in every language, from nothing: `volley new` makes a project,
//! its own `build.sh` builds it with the language's real toolchain (cargo for
//! wasm32-wasip2, componentize-py, componentize-js — installed by
//! scripts/guest-toolchains.sh), `volley check` shows the same requests as the Rust
//! builtin for the same seed, and `volley run` sends them to the simulator.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::*;
use serde_json::json;
use volley::sim::SimConfig;

/// A guest toolchain command: `$VAR`, else where scripts/guest-toolchains.sh puts it.
fn toolchain(var: &str, default_rel: &str) -> String {
    let path = std::env::var(var)
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/volley/toolchains").join(default_rel));
    assert!(path.exists(), "{} not found: run scripts/guest-toolchains.sh (or set {var})", path.display());
    path.display().to_string()
}

/// The part of `volley check` output after the header (name, source, parameters).
fn requests_part(check_stdout: &str) -> String {
    check_stdout.lines().skip_while(|l| !l.starts_with("plan:")).collect::<Vec<_>>().join("\n")
}

async fn new_build_check_run(lang: &str, name: &str, build_env: Vec<(String, String)>) {
    let tmp = TempDir::new(&format!("new-{lang}"));
    let dir = tmp.path().join(name);
    let dir_s = dir.display().to_string();
    run_volley(&["new", name, "--lang", lang, "--dir", &dir_s], Duration::from_secs(10)).assert_success();
    for f in ["volley.json", "build.sh", "README.md"] {
        assert!(dir.join(f).is_file(), "volley new wrote no {f}");
    }

    let envs: Vec<(&str, &str)> = build_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let build = tokio::task::block_in_place(|| run_program("sh", &[&format!("{dir_s}/build.sh")], &envs, Duration::from_secs(300)));
    assert!(build.status.success(), "{lang} build failed:\n{}\n{}", build.stdout, build.stderr);
    let wasm = dir.join(format!("{name}.wasm")).display().to_string();

    // Same seed, same requests as the Rust builtin; compiled once into the cache.
    let cache = tmp.path().join("cache").display().to_string();
    let cache_env = [("VOLLEY_CACHE_DIR", cache.as_str())];
    let check_args = ["check", wasm.as_str(), "--seed", "7", "-n", "8", "--params", r#"{"rate": 9, "max_requests": 8}"#];
    let ours = tokio::task::block_in_place(|| run_program(volley_bin(), &check_args, &cache_env, Duration::from_secs(180)));
    ours.assert_success();
    assert!(ours.stdout.starts_with(&format!("{name} 0.1.0 — ")), "{}", ours.stdout);
    let mut builtin_args = check_args;
    builtin_args[1] = "builtin:chat-poisson";
    let theirs = run_volley(&builtin_args, Duration::from_secs(60));
    theirs.assert_success();
    assert!(requests_part(&ours.stdout).matches("POST /v1/chat/completions").count() == 8, "{}", ours.stdout);
    assert_eq!(requests_part(&ours.stdout), requests_part(&theirs.stdout), "{lang} scenario differs from the Rust one");
    let cached: Vec<_> = std::fs::read_dir(tmp.path().join("cache/compiled"))
        .expect("compile cache")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "cwasm")))
        .collect();
    assert_eq!(cached.len(), 1, "one compiled component in the cache");

    // And it runs.
    let sim = start_sim(SimConfig { ttft: Duration::from_millis(5), itl: Duration::from_millis(1), ..SimConfig::default() }).await;
    let out = TempDir::new(&format!("run-{lang}"));
    let args = run_args(&wasm, &sim.url(), json!({"rate": 40, "max_requests": 12, "max_tokens": 4}), &out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tokio::task::block_in_place(|| run_program(volley_bin(), &args, &cache_env, Duration::from_secs(120))).assert_success();
    let report = read_report(out.path());
    assert_eq!(report["scenario"]["name"], name);
    assert_eq!(report["stages"][0]["requests"]["ok"], 12);
    assert_eq!(sim.stats().requests, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_python_scenario_builds_checks_and_runs() {
    let env = vec![("COMPONENTIZE_PY".to_string(), toolchain("COMPONENTIZE_PY", "py/bin/componentize-py"))];
    new_build_check_run("python", "py-probe", env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_js_scenario_builds_checks_and_runs() {
    let env = vec![("COMPONENTIZE_JS".to_string(), toolchain("COMPONENTIZE_JS", "js/node_modules/.bin/componentize-js"))];
    new_build_check_run("js", "js-probe", env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_rust_scenario_builds_checks_and_runs() {
    // Its own target directory under the shared one, so later runs build incrementally.
    let base = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir().join("volley-target"));
    let env = vec![("CARGO_TARGET_DIR".to_string(), base.join("new-projects").display().to_string())];
    new_build_check_run("rust", "rs-probe", env).await;
}
