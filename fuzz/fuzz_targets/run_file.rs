//! The run file (`volley run --config run.toml`, `core/src/run_file.rs`): TOML into the
//! `run` flags it stands for, with `${VAR}` in headers read from the environment. The
//! flag table below is a sample of `volley run`'s own (each kind of flag, and the names
//! the grammar treats apart: `scenario`, `params`, `header`, `config`).
//!
//! Holds: no panic; a refusal is one printable line; every flag is one the table names,
//! a switch only where the table has a switch, several values only where it repeats; no
//! more flags than the text has lines and list items can carry.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_core::run_file::{Flag, FlagKind, parse};

fn kind_of(name: &str) -> Option<FlagKind> {
    Some(match name {
        "quiet" | "insecure-skip-verify" | "abort-on-fail" | "record-text" | "otlp" | "repeat-same-seed" => FlagKind::Switch,
        "header" | "threshold" | "dataset" | "ca-cert" | "triton-stats" | "metrics-prefix" => FlagKind::Repeatable,
        "config" | "target" | "model" | "params" | "seed" | "timeout-s" | "tokenizer" | "out" | "start-at" | "shard" | "server-metrics"
        | "otlp-endpoint" | "launch" => FlagKind::Value,
        _ => return None,
    })
}

fn env(name: &str) -> Result<String, String> {
    match name {
        "TOKEN" => Ok("s3cret".into()),
        "EMPTY" => Ok(String::new()),
        "NESTED" => Ok("${TOKEN}".into()),
        _ => Err("which is not set".into()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let flags = match parse(text, &kind_of, &env) {
        Ok(flags) => flags,
        Err(e) => return volley_fuzz::printable("a run file", &e),
    };
    let mut values = std::collections::BTreeMap::<&str, usize>::new();
    for flag in &flags {
        match flag {
            Flag::Positional(_) => {}
            Flag::Switch(name) => assert_eq!(kind_of(name), Some(FlagKind::Switch), "a switch {name}"),
            Flag::Value(name, _) => {
                let kind = kind_of(name);
                assert!(matches!(kind, Some(FlagKind::Value | FlagKind::Repeatable)), "a value for {name}: {kind:?}");
                assert_ne!(name, "config", "a run file named another");
                *values.entry(name).or_default() += 1;
            }
        }
    }
    for (name, n) in values {
        assert!(n == 1 || kind_of(name) == Some(FlagKind::Repeatable), "{n} values for {name}");
    }
    // A flag needs a key and a value, or a list item: a few bytes each.
    assert!(flags.len() <= text.len(), "{} flags from {} bytes", flags.len(), text.len());
});
