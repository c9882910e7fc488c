//! Scenario authoring in every language, from nothing: `volley new` makes a project,
//! its own `build.sh` builds it with the language's real toolchain (cargo for
//! wasm32-wasip2, componentize-py, componentize-js — installed by
//! scripts/guest-toolchains.sh, and found there by `build.sh` without any variable),
//! `volley check` says it is compiling the component and shows the same requests as the
//! Rust builtin for the same seed, and `volley run` sends them to the simulator. A
//! `build.sh` without its toolchain says in one line how to get it; the toolchain
//! script's output can be `eval`'d.

use std::path::{Path, PathBuf};
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

/// The folder scripts/guest-toolchains.sh installed into, from the tool at `rel` in it.
fn toolchains_dir(var: &str, rel: &str) -> PathBuf {
    let tool = PathBuf::from(toolchain(var, rel));
    let dir = tool.ancestors().nth(Path::new(rel).components().count()).expect("a toolchains folder").to_path_buf();
    assert_eq!(dir.join(rel), tool, "{var} is not under a toolchains folder laid out as scripts/guest-toolchains.sh lays it out");
    dir
}

/// `PATH` without any folder that holds a guest toolchain command, so `build.sh` can
/// only find one where a test puts it.
fn path_without_toolchains() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    let kept: Vec<&str> =
        path.split(':').filter(|d| !["componentize-py", "componentize-js"].iter().any(|t| Path::new(d).join(t).exists())).collect();
    kept.join(":")
}

/// The environment of a `build.sh` that must find its toolchain in the default install
/// folder and nowhere else: the variable empty, `PATH` without the tool, and the
/// folder given as `VOLLEY_TOOLCHAINS` or, when `home` is given, as
/// `HOME/.cache/volley/toolchains` with `VOLLEY_TOOLCHAINS` empty.
fn default_place_env(var: &str, toolchains: &Path, home: Option<&Path>) -> Vec<(String, String)> {
    let mut env = vec![(var.to_string(), String::new()), ("PATH".into(), path_without_toolchains())];
    match home {
        Some(home) => {
            let cache = home.join(".cache/volley");
            std::fs::create_dir_all(&cache).unwrap();
            std::os::unix::fs::symlink(toolchains, cache.join("toolchains")).unwrap();
            env.push(("HOME".into(), home.display().to_string()));
            env.push(("VOLLEY_TOOLCHAINS".into(), String::new()));
        }
        None => env.push(("VOLLEY_TOOLCHAINS".into(), toolchains.display().to_string())),
    }
    env
}

/// The part of `volley check` output after the header (name, source, parameters).
fn requests_part(check_stdout: &str) -> String {
    check_stdout.lines().skip_while(|l| !l.starts_with("plan:")).collect::<Vec<_>>().join("\n")
}

/// The compile line `volley` prints before compiling `name` (stderr is not a terminal
/// here, so only for a large component), if it printed one.
fn compile_line<'a>(stderr: &'a str, name: &str) -> Option<&'a str> {
    stderr.lines().find(|l| l.starts_with(&format!("compiling scenario {name} (")))
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
    // The first check compiles: a Python or JS component (12–18 MB) says so in one line
    // before the seconds of silence; a small Rust one, off a terminal, does not.
    let size = std::fs::metadata(&wasm).unwrap().len();
    match compile_line(&ours.stderr, name) {
        Some(line) => {
            assert!(lang != "rust" && size >= 4 << 20, "a {size}-byte component announced its compile off a terminal: {line}");
            let mb = format!("({:.1} MB)", size as f64 / 1e6);
            assert!(line.contains(&mb) && line.ends_with("for this machine; cached for next time"), "{line}");
        }
        None => assert!(lang == "rust" && size < 4 << 20, "a {size}-byte {lang} component compiled in silence:\n{}", ours.stderr),
    }
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
    let run = tokio::task::block_in_place(|| run_program(volley_bin(), &args, &cache_env, Duration::from_secs(120)));
    run.assert_success();
    assert_eq!(compile_line(&run.stderr, name), None, "the second load came from the compile cache:\n{}", run.stderr);
    let report = read_report(out.path());
    assert_eq!(report["scenario"]["name"], name);
    assert_eq!(report["stages"][0]["requests"]["ok"], 12);
    assert_eq!(sim.stats().requests, 12);
}

const PY_TOOL: (&str, &str) = ("COMPONENTIZE_PY", "py/bin/componentize-py");
const JS_TOOL: (&str, &str) = ("COMPONENTIZE_JS", "js/node_modules/.bin/componentize-js");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_python_scenario_builds_checks_and_runs() {
    // build.sh finds componentize-py with COMPONENTIZE_PY unset and not on PATH: in the
    // folder scripts/guest-toolchains.sh installed it into, named by VOLLEY_TOOLCHAINS.
    let toolchains = toolchains_dir(PY_TOOL.0, PY_TOOL.1);
    new_build_check_run("python", "py-probe", default_place_env(PY_TOOL.0, &toolchains, None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_js_scenario_builds_checks_and_runs() {
    // Likewise componentize-js, found under HOME/.cache/volley/toolchains (the default,
    // VOLLEY_TOOLCHAINS empty).
    let toolchains = toolchains_dir(JS_TOOL.0, JS_TOOL.1);
    let home = TempDir::new("js-home");
    new_build_check_run("js", "js-probe", default_place_env(JS_TOOL.0, &toolchains, Some(home.path()))).await;
}

/// `volley new` a project in `lang` and run its `build.sh` with `env`.
fn new_and_build(lang: &str, name: &str, env: &[(&str, &str)]) -> (TempDir, Output) {
    let tmp = TempDir::new(&format!("build-{lang}"));
    let dir = tmp.path().join(name).display().to_string();
    run_volley(&["new", name, "--lang", lang, "--dir", &dir], Duration::from_secs(10)).assert_success();
    let build = run_program("sh", &[&format!("{dir}/build.sh")], env, Duration::from_secs(60));
    (tmp, build)
}

#[test]
fn a_build_without_its_toolchain_says_in_one_line_how_to_get_it() {
    let path = path_without_toolchains();
    for (lang, var, tool, install) in [
        ("python", "COMPONENTIZE_PY", "componentize-py", "pip install componentize-py==0.25.1"),
        ("js", "COMPONENTIZE_JS", "componentize-js", "npm install @bytecodealliance/componentize-js@0.23.0"),
    ] {
        // Nowhere: not in the variable, not on PATH, an empty toolchains folder.
        let empty = TempDir::new("no-toolchains");
        let toolchains = empty.path().display().to_string();
        let env = [(var, ""), ("PATH", path.as_str()), ("VOLLEY_TOOLCHAINS", toolchains.as_str())];
        let (tmp, build) = new_and_build(lang, "lacks-tool", &env);
        assert_eq!(build.status.code(), Some(1), "{lang}: {}\n{}", build.stdout, build.stderr);
        let lines: Vec<&str> = build.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{lang}: one line, got:\n{}", build.stderr);
        for want in [&format!("{tool} not found"), install, "scripts/guest-toolchains.sh", toolchains.as_str()] {
            assert!(lines[0].contains(want), "{lang}: the line lacks {want:?}: {}", lines[0]);
        }
        assert!(!tmp.path().join("lacks-tool/lacks-tool.wasm").exists(), "{lang}: nothing built");

        // A variable that names no program is refused by name, not skipped.
        let missing = empty.path().join("gone").display().to_string();
        let env = [(var, missing.as_str()), ("PATH", path.as_str()), ("VOLLEY_TOOLCHAINS", toolchains.as_str())];
        let (_tmp, build) = new_and_build(lang, "bad-var", &env);
        assert_eq!(build.status.code(), Some(1), "{lang}: {}", build.stderr);
        assert_eq!(build.stderr.lines().count(), 1, "{lang}: {}", build.stderr);
        assert!(build.stderr.contains(&format!("{var}={missing} is not a program")), "{lang}: {}", build.stderr);
    }
}

#[test]
fn the_toolchain_script_output_can_be_evald_into_a_shell() {
    // The installed toolchains, seen through a folder whose name has a space and a quote:
    // the script finds them installed (it installs nothing) and its export lines must
    // quote the paths so that eval reads them back exactly.
    let toolchains = toolchains_dir(PY_TOOL.0, PY_TOOL.1);
    assert_eq!(toolchains, toolchains_dir(JS_TOOL.0, JS_TOOL.1), "both toolchains in one folder");
    let tmp = TempDir::new("eval-toolchains");
    let odd = tmp.path().join("it's here");
    std::os::unix::fs::symlink(&toolchains, &odd).unwrap();
    let odd_s = odd.display().to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/guest-toolchains.sh").display().to_string();

    let printed = run_program("bash", &[&script], &[("VOLLEY_TOOLCHAINS", &odd_s)], Duration::from_secs(60));
    assert!(printed.status.success(), "{}", printed.stderr);
    assert!(printed.stdout.lines().all(|l| l.starts_with("export COMPONENTIZE_")), "only export lines on stdout:\n{}", printed.stdout);

    // A child shell of the one that ran the eval sees both variables, exactly.
    let shell = r#"eval "$(bash "$1")" && sh -c 'printf "%s\n" "$COMPONENTIZE_PY" "$COMPONENTIZE_JS"'"#;
    let seen = run_program("bash", &["-c", shell, "eval-test", &script], &[("VOLLEY_TOOLCHAINS", &odd_s)], Duration::from_secs(60));
    assert!(seen.status.success(), "{}", seen.stderr);
    let want = format!("{}\n{}\n", odd.join(PY_TOOL.1).display(), odd.join(JS_TOOL.1).display());
    assert_eq!(seen.stdout, want);
    for line in seen.stdout.lines() {
        assert!(Path::new(line).is_file(), "{line} is not the installed tool");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_rust_scenario_builds_checks_and_runs() {
    // Its own target directory under the shared one, so later runs build incrementally.
    let base = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| std::env::temp_dir().join("volley-target"));
    let env = vec![("CARGO_TARGET_DIR".to_string(), base.join("new-projects").display().to_string())];
    new_build_check_run("rust", "rs-probe", env).await;
}
