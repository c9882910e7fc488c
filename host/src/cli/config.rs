//! `volley run --config run.toml`: a run file holding any `run` option, for clusters
//! (a Kubernetes ConfigMap, a Slurm job's argument). Each key is a `run` flag's long
//! name (`target`, `start-at` or `start_at`, `threshold`, …) and `scenario` the
//! scenario; `params` may be a TOML table (sent as the JSON object). Arrays repeat a
//! repeatable flag; `true` sets a switch. `${VAR}` in a `header` value is read from the
//! environment (credentials stay out of the file). Flags on the command line override
//! the file (repeatable ones add to it). An unknown key is an error naming it.
//!
//! The file is turned into arguments before the command line is parsed, so it means
//! exactly what the same flags would.
//!
//! The file is read through the one reader for foreign files (a regular file, at most
//! 1 MiB; a FIFO or a device is refused without blocking). Paths it names (the
//! scenario, `tokenizer`, `dataset`, `ca-cert`, `client-cert`, `client-key`, `out`)
//! stay under the run file's folder: they are resolved against it, and an absolute path,
//! a `..` or a symbolic link that leads out of the folder is refused with one line
//! naming the key. The operator passes files elsewhere on the command line. The policy
//! is the operator's too: a run file cannot name one, nor the options that run a command
//! or open a listening socket on the host, nor the run store or the source addresses
//! ([`OPERATOR_ONLY`]). `${VAR}` reads only the
//! variables the operator names in `VOLLEY_RUN_FILE_ENV`: a run file may be a tenant's,
//! and its headers go to the target it chooses.

use std::ffi::OsString;
use std::path::{Component, Path};

use anyhow::{Result, anyhow};
use clap::CommandFactory;
use volley_core::foreign_file::{self, Kind};
use volley_core::run_file::{self, Flag, FlagKind};
use volley_core::text::printable;

/// The `run` flags whose values are paths (`dataset`'s after its `NAME=`); a test checks
/// that every path-typed flag of `run` is here.
pub(super) const PATH_KEYS: &[&str] = &["tokenizer", "dataset", "ca-cert", "client-cert", "client-key", "out"];

/// `run` options a run file cannot carry ([`FlagKind::OperatorOnly`]): the policy, and
/// what runs a command (`launch`) or opens a listening socket (`prometheus-listen`) on the
/// host. The operator gives them on the command line. `kube render` refuses them too.
/// `store` writes a database file or reaches a database wherever it points, and
/// `source-addr` chooses which of the host's addresses connections come from: the
/// operator's, like the policy.
pub(super) const OPERATOR_ONLY: &[&str] = &["policy", "launch", "prometheus-listen", "store", "source-addr"];

/// The variable naming, comma-separated, the environment variables a run file's
/// `${VAR}` may read; unset, none.
pub(super) const RUN_FILE_ENV: &str = "VOLLEY_RUN_FILE_ENV";

/// A run file's `${VAR}`: the variable's value when the operator allows run files to
/// read it, else why not.
fn operator_env(name: &str) -> Result<String, String> {
    let allowed = std::env::var(RUN_FILE_ENV).unwrap_or_default();
    if !allowed.split(',').any(|n| n.trim() == name) {
        return Err(format!(
            "which run files may not read: the operator names the variables they may read in {RUN_FILE_ENV} (e.g. {RUN_FILE_ENV}={})",
            printable(name, 80)
        ));
    }
    std::env::var(name).map_err(|_| "which is not set".to_string())
}

/// `argv` with a `run` subcommand's `--config FILE` replaced by the file's flags,
/// placed before the command line's own so those override them.
pub fn expand(argv: Vec<OsString>) -> Result<Vec<OsString>> {
    let Some(run) = argv.iter().position(|a| a == "run") else { return Ok(argv) };
    let mut path = None;
    let mut rest = Vec::new();
    let mut it = argv[run + 1..].iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--config" {
            path = Some(it.next().ok_or_else(|| anyhow!("--config needs a file"))?.clone());
        } else if let Some(p) = s.strip_prefix("--config=") {
            path = Some(OsString::from(p));
        } else {
            rest.push(a.clone());
        }
    }
    let Some(path) = path else { return Ok(argv) };
    // A scenario first on the command line overrides the file's.
    let cli_scenario = rest.first().is_some_and(|a| !a.to_string_lossy().starts_with('-'));
    // The scenario and single-valued path flags the operator gives on the command line
    // replace the file's, which are then not checked (repeatable ones add to the file's).
    let on_cli = |name: &str| {
        (name == "scenario" && cli_scenario)
            || rest.iter().any(|a| {
                let a = a.to_string_lossy();
                a.strip_prefix("--").is_some_and(|f| f == name || f.strip_prefix(name).is_some_and(|v| v.starts_with('=')))
            })
    };
    // The file's scenario is left out when the command line gives one (`on_cli`).
    let from_file = flags(Path::new(&path), &operator_env, &on_cli)?;
    let mut out: Vec<OsString> = argv[..=run].to_vec();
    let (positional, named): (Vec<Flag>, Vec<Flag>) = from_file.into_iter().partition(|f| matches!(f, Flag::Positional(_)));
    if cli_scenario {
        out.push(rest.remove(0));
    }
    for f in positional.into_iter().chain(named) {
        match f {
            Flag::Positional(v) => out.push(v.into()),
            Flag::Switch(name) => out.push(format!("--{name}").into()),
            Flag::Value(name, v) => {
                out.push(format!("--{name}").into());
                out.push(v.into());
            }
        }
    }
    out.extend(rest);
    Ok(out)
}

/// The flags a run file stands for, its paths resolved against its folder; `on_cli`
/// says which flags the command line gives too.
fn flags(path: &Path, env: &dyn Fn(&str) -> Result<String, String>, on_cli: &dyn Fn(&str) -> bool) -> Result<Vec<Flag>> {
    let text = foreign_file::read_text(path, Kind::RUN_FILE)?;
    let file = foreign_file::shown(path);
    let parsed = parse(&text, env).map_err(|e| anyhow!("run file {file}: {e}"))?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut out = Vec::with_capacity(parsed.len());
    for flag in parsed {
        out.push(match flag {
            Flag::Positional(_) if on_cli("scenario") => continue,
            Flag::Positional(v) => Flag::Positional(local("scenario", &v, dir).map_err(|e| anyhow!("run file {file}: {e}"))?),
            // The command line's own value replaces this one: not the file's to answer for.
            Flag::Value(name, _)
                if PATH_KEYS.contains(&name.as_str()) && !matches!(name.as_str(), "dataset" | "ca-cert") && on_cli(&name) =>
            {
                continue;
            }
            Flag::Value(name, v) if PATH_KEYS.contains(&name.as_str()) => {
                let v = local(&name, &v, dir).map_err(|e| anyhow!("run file {file}: {e}"))?;
                Flag::Value(name, v)
            }
            other => other,
        });
    }
    Ok(out)
}

/// `value` of run-file key `key` with its path resolved against `dir`, the run file's
/// folder; refused when the path is absolute, climbs out with `..`, or leads out
/// through a symbolic link. A scenario named `builtin:` or `oci://` is no path; a
/// dataset's path follows its `NAME=` (and a reading such as `lines:` or `mooncake:`).
/// Also used by `kube render`.
pub(super) fn local(key: &str, value: &str, dir: &Path) -> Result<String, String> {
    if key == "scenario" && (value.starts_with("builtin:") || value.starts_with("oci://")) {
        return Ok(value.to_string());
    }
    let (prefix, path) = match key {
        "dataset" => match value.split_once('=') {
            Some((name, rest)) => {
                let (_, p) = volley::data::Reading::split(rest);
                (format!("{name}={}", &rest[..rest.len() - p.len()]), p)
            }
            // Not NAME=PATH: the grant's own parser says so.
            None => return Ok(value.to_string()),
        },
        _ => (String::new(), value),
    };
    let flag = if key == "scenario" { "the scenario as the first argument".to_string() } else { format!("--{key}") };
    let refuse = |why: &str| {
        Err(format!(
            "'{key}' names '{}', {why}: a run file names files below its own folder (pass others on the command line: {flag})",
            printable(path, 200)
        ))
    };
    let p = Path::new(path);
    if path.is_empty() {
        return Err(format!("'{key}' names an empty path"));
    }
    if p.is_absolute() {
        return refuse("an absolute path");
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return refuse("which climbs out of the run file's folder with '..'");
    }
    let joined = dir.join(p);
    // A link inside the folder may lead anywhere: what it resolves to must be inside too.
    // (Absent files are the reader's to report; `out` may not exist yet.)
    if let Ok(real) = std::fs::canonicalize(&joined) {
        let base = std::fs::canonicalize(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })
            .map_err(|e| format!("cannot resolve the run file's folder: {e}"))?;
        if !real.starts_with(&base) {
            return refuse("which leads out of the run file's folder through a symbolic link");
        }
    }
    Ok(format!("{prefix}{}", joined.display()))
}

/// The run file's text as flags (`volley_core::run_file`, the grammar), with each key
/// looked up in `volley run`'s own flags.
fn parse(text: &str, env: &dyn Fn(&str) -> Result<String, String>) -> Result<Vec<Flag>, String> {
    let command = super::Cli::command();
    let run = command.find_subcommand("run").ok_or("no run command")?;
    let kind_of = |name: &str| {
        if OPERATOR_ONLY.contains(&name) {
            return Some(FlagKind::OperatorOnly);
        }
        let arg = run.get_arguments().find(|a| a.get_long() == Some(name))?;
        Some(match arg.get_action() {
            action if !action.takes_values() => FlagKind::Switch,
            clap::ArgAction::Append => FlagKind::Repeatable,
            _ => FlagKind::Value,
        })
    };
    run_file::parse(text, &kind_of, env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn env(k: &str) -> Result<String, String> {
        (k == "TOKEN").then(|| "s3cret".to_string()).ok_or_else(|| "which is not set".into())
    }

    #[test]
    fn keys_become_the_flags_they_name() {
        let flags = parse(
            r#"
            scenario = "builtin:chat-poisson"
            target = "http://127.0.0.1:8000"
            seed = 7
            start_at = "2026-12-01T10:00:00Z"
            threshold = ["ttft_ms.p99<500", "error_rate<0.01"]
            header = ["Authorization: Bearer ${TOKEN}"]
            abort-on-fail = true
            record-text = false
            [params]
            rate = 5
            "#,
            &env,
        )
        .unwrap();
        let v = |n: &str, x: &str| Flag::Value(n.into(), x.into());
        for want in [
            Flag::Positional("builtin:chat-poisson".into()),
            v("target", "http://127.0.0.1:8000"),
            v("seed", "7"),
            v("start-at", "2026-12-01T10:00:00Z"),
            v("threshold", "ttft_ms.p99<500"),
            v("threshold", "error_rate<0.01"),
            v("header", "Authorization: Bearer s3cret"),
            Flag::Switch("abort-on-fail".into()),
            v("params", r#"{"rate":5}"#),
        ] {
            assert!(flags.contains(&want), "{want:?} in {flags:?}");
        }
        assert!(!flags.iter().any(|f| matches!(f, Flag::Switch(n) if n == "record-text")));
    }

    #[test]
    fn a_run_file_past_1_mib_is_refused_unread() {
        let path = std::env::temp_dir().join(format!("volley-big-run-{}.toml", std::process::id()));
        std::fs::File::create(&path).unwrap().set_len(Kind::RUN_FILE.max_bytes + 1).unwrap();
        let e = flags(&path, &env, &|_| false).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(e.ends_with("is over the 1 MiB bound for a run file") && !e.contains('\n'), "{e}");
    }

    /// A folder with a run file, a file beside it and a secret outside it.
    struct Folder(PathBuf);

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn folder(run_toml: &str) -> Folder {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("volley-run-paths-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("runs/data")).unwrap();
        std::fs::write(root.join("secret"), "{}").unwrap();
        std::fs::write(root.join("runs/tokenizer.json"), "{}").unwrap();
        std::fs::write(root.join("runs/run.toml"), run_toml).unwrap();
        Folder(root)
    }

    #[test]
    fn paths_in_a_run_file_resolve_below_its_folder() {
        let f = folder(
            "scenario = 'my.wasm'\ntokenizer = 'tokenizer.json'\ndataset = ['chats=data/a.jsonl', 'trace=lines:data/t.csv']\nout = 'results/x'\ntarget = 'http://127.0.0.1:1'\n",
        );
        let dir = f.0.join("runs");
        let got = flags(&dir.join("run.toml"), &env, &|_| false).unwrap();
        let at = |p: &str| dir.join(p).display().to_string();
        for want in [
            Flag::Positional(at("my.wasm")),
            Flag::Value("tokenizer".into(), at("tokenizer.json")),
            Flag::Value("dataset".into(), format!("chats={}", at("data/a.jsonl"))),
            Flag::Value("dataset".into(), format!("trace=lines:{}", at("data/t.csv"))),
            Flag::Value("out".into(), at("results/x")),
            Flag::Value("target".into(), "http://127.0.0.1:1".into()),
        ] {
            assert!(got.contains(&want), "{want:?} in {got:?}");
        }
        // builtin: and oci:// are no paths.
        assert_eq!(local("scenario", "builtin:burst", &dir).unwrap(), "builtin:burst");
    }

    #[test]
    fn paths_that_leave_the_folder_are_refused_naming_the_key() {
        for (line, key, says) in [
            ("scenario = '../secret'", "scenario", "climbs out of the run file's folder with '..'"),
            ("tokenizer = '/etc/passwd'", "tokenizer", "an absolute path"),
            ("dataset = ['x=data/../../secret']", "dataset", "climbs out"),
            ("dataset = ['x=lines:/etc/hostname']", "dataset", "an absolute path"),
            ("ca-cert = ['../secret']", "ca-cert", "climbs out"),
            ("out = '/tmp/elsewhere'", "out", "an absolute path"),
            ("scenario = 'link.wasm'", "scenario", "through a symbolic link"),
            // The policy is the operator's: a run file naming one is refused.
            ("policy = 'lax.toml'", "policy", "the operator's to give on the command line"),
        ] {
            let f = folder(line);
            std::os::unix::fs::symlink(f.0.join("secret"), f.0.join("runs/link.wasm")).unwrap();
            let e = flags(&f.0.join("runs/run.toml"), &env, &|_| false).unwrap_err().to_string();
            assert!(e.contains(&format!("'{key}'")) && e.contains(says) && !e.contains('\n'), "{line}: {e}");
        }
        // The operator's own --tokenizer replaces the file's, which is then not refused.
        let f = folder("tokenizer = '/etc/passwd'");
        let got = flags(&f.0.join("runs/run.toml"), &env, &|name| name == "tokenizer").unwrap();
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn every_path_flag_of_run_is_checked() {
        let mut command = super::super::Cli::command();
        command.build();
        let run = command.find_subcommand("run").unwrap();
        for arg in run.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if arg.get_value_hint() == clap::ValueHint::AnyPath && !["config", "policy"].contains(&long) {
                assert!(PATH_KEYS.contains(&long), "--{long} takes a path: add it to PATH_KEYS");
            }
        }
    }

    #[test]
    fn mistakes_name_the_key() {
        for (text, says) in [
            ("targte = 'x'", "unknown key 'targte'"),
            ("seed = [1, 2]", "'seed' takes one value"),
            ("abort-on-fail = 'yes'", "'abort-on-fail' is a switch"),
            ("header = ['A: ${NOPE}']", "${NOPE}, which is not set"),
            ("config = 'other.toml'", "cannot name another"),
            ("target = ", "string"),
        ] {
            let e = parse(text, &env).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    /// What runs a command, opens a socket, sets the policy, the store or the source
    /// addresses is the operator's alone,
    /// in any spelling of its key.
    #[test]
    fn a_run_file_cannot_carry_operator_only_options() {
        for (text, key) in [
            ("launch = 'sh -c id'", "launch"),
            ("prometheus-listen = '0.0.0.0:9000'", "prometheus-listen"),
            ("prometheus_listen = '0.0.0.0:9000'", "prometheus_listen"),
            ("policy = 'lax.toml'", "policy"),
            ("store = '/home/someone/runs.sqlite'", "store"),
            ("source-addr = ['10.0.0.2-10.0.0.9']", "source-addr"),
        ] {
            let e = parse(&format!("scenario = 'builtin:burst'\n{text}\n"), &env).unwrap_err();
            assert!(e.contains(&format!("'{key}' is the operator's")) && !e.contains('\n'), "{text}: {e}");
        }
        // Every name in the list is a flag of `run` (a renamed flag would slip through).
        let command = super::super::Cli::command();
        let run = command.find_subcommand("run").unwrap();
        for name in OPERATOR_ONLY {
            assert!(run.get_arguments().any(|a| a.get_long() == Some(name)), "--{name} is no flag of run");
        }
    }

    /// `${VAR}` reads only what VOLLEY_RUN_FILE_ENV names: not the registry's password.
    #[test]
    fn a_run_file_reads_only_the_variables_the_operator_names() {
        let e = operator_env("VOLLEY_TEST_NEVER_ALLOWED").unwrap_err();
        assert!(e.contains("run files may not read") && e.contains("VOLLEY_RUN_FILE_ENV=VOLLEY_TEST_NEVER_ALLOWED"), "{e}");
        let e = parse("header = ['X: ${VOLLEY_TEST_NEVER_ALLOWED}']", &operator_env).unwrap_err();
        assert!(e.contains("'header' names ${VOLLEY_TEST_NEVER_ALLOWED}, which run files may not read"), "{e}");
    }
}
