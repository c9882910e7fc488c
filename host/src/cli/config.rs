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

use std::ffi::OsString;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use clap::CommandFactory;

/// Largest run file read.
const MAX_BYTES: u64 = 1 << 20;

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
    let mut from_file = flags(Path::new(&path), &|k| std::env::var(k).ok())?;
    // A scenario first on the command line overrides the file's.
    let cli_scenario = rest.first().is_some_and(|a| !a.to_string_lossy().starts_with('-'));
    if cli_scenario {
        from_file.retain(|f| !matches!(f, Flag::Positional(_)));
    }
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

#[derive(Debug, PartialEq)]
enum Flag {
    Positional(String),
    Switch(String),
    Value(String, String),
}

/// The flags a run file stands for.
fn flags(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Flag>> {
    let file = path.display();
    let len = std::fs::metadata(path).with_context(|| format!("cannot read run file {file}"))?.len();
    if len > MAX_BYTES {
        bail!("run file {file} is larger than 1 MiB");
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read run file {file}"))?;
    parse(&text, env).map_err(|e| anyhow!("run file {file}: {e}"))
}

fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Flag>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.message().to_string())?;
    let command = super::Cli::command();
    let run = command.find_subcommand("run").ok_or("no run command")?;
    let mut out = Vec::new();
    for (key, value) in table {
        if key == "scenario" {
            out.push(Flag::Positional(scalar(&key, &value)?));
            continue;
        }
        let name = key.replace('_', "-");
        let Some(arg) = run.get_arguments().find(|a| a.get_long() == Some(name.as_str())) else {
            return Err(format!("unknown key '{key}' (keys are `volley run` flags, e.g. target, params, seed, threshold)"));
        };
        if name == "config" {
            return Err("a run file cannot name another (`config`)".into());
        }
        let takes_value = arg.get_action().takes_values();
        let repeatable = matches!(arg.get_action(), clap::ArgAction::Append);
        match (&value, takes_value) {
            (toml::Value::Boolean(true), false) => out.push(Flag::Switch(name)),
            (toml::Value::Boolean(false), false) => {}
            (_, false) => return Err(format!("'{key}' is a switch: true or false")),
            (toml::Value::Table(t), true) if name == "params" => {
                let json = serde_json::to_string(t).map_err(|e| format!("'{key}': {e}"))?;
                out.push(Flag::Value(name, json));
            }
            (toml::Value::Array(items), true) => {
                if !repeatable && items.len() != 1 {
                    return Err(format!("'{key}' takes one value, not a list"));
                }
                for item in items {
                    out.push(Flag::Value(name.clone(), value_of(&key, item, env)?));
                }
            }
            (v, true) => out.push(Flag::Value(name, value_of(&key, v, env)?)),
        }
    }
    Ok(out)
}

/// A value as its flag's argument; headers expand `${VAR}` from the environment.
fn value_of(key: &str, v: &toml::Value, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let s = scalar(key, v)?;
    if key != "header" {
        return Ok(s);
    }
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').ok_or_else(|| format!("'{key}': an unclosed ${{ in '{s}'"))?;
        let var = &rest[at + 2..at + end];
        out.push_str(&env(var).ok_or_else(|| format!("'{key}' names ${{{var}}}, which is not set"))?);
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn scalar(key: &str, v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(format!("'{key}' must be a string, number or boolean")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        (k == "TOKEN").then(|| "s3cret".to_string())
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
        std::fs::File::create(&path).unwrap().set_len(MAX_BYTES + 1).unwrap();
        let e = flags(&path, &env).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(e.contains("is larger than 1 MiB") && !e.contains('\n'), "{e}");
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
}
