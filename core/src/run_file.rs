//! The grammar of a run file (`volley run --config run.toml`): its TOML text turned into
//! the `run` flags it stands for. Each key is a flag's long name (`target`, `start-at`
//! or `start_at`, `threshold`, …) and `scenario` the scenario; `params` may be a TOML
//! table (sent as the JSON object). Arrays repeat a repeatable flag; `true` sets a
//! switch. `${VAR}` in a `header` value is read from the environment. An unknown key
//! is an error naming it.
//!
//! Pure: the caller reads the file (bounded) and says which flags exist and what each
//! takes (the command line's own table, [`FlagKind`]), so the text is parsed without
//! the command line and can be fuzzed on its own (fuzz/, docs/fuzzing.md). Errors are
//! one line.

/// What a `run` flag takes, as the command line defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// A switch (`--abort-on-fail`): `true` or `false` in the file.
    Switch,
    /// One value (`--target URL`).
    Value,
    /// A value that may be given more than once (`--threshold`, `--header`).
    Repeatable,
    /// A flag only the operator gives, on the command line (one that runs a command, opens
    /// a socket, sets the policy, the run store or the source addresses): a run file naming
    /// it is refused ([`operator_only`]).
    OperatorOnly,
}

/// The one-line refusal of run-file key `key`, a flag only the operator gives.
pub fn operator_only(key: &str) -> String {
    format!(
        "'{}' is the operator's to give on the command line, not a run file's (it runs a command, opens a socket, sets the policy, the run store or the source addresses)",
        crate::text::printable(key, 80)
    )
}

/// One flag of a run file, as it goes on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    /// The scenario.
    Positional(String),
    /// `--NAME`.
    Switch(String),
    /// `--NAME VALUE`.
    Value(String, String),
}

/// The flags `text` stands for. `kind_of` says what the flag of a long name takes
/// (`None`: no such flag); `env` reads `${VAR}` in headers, or says why it may not
/// (`which is not set`, …), which ends the error naming the key.
pub fn parse(
    text: &str,
    kind_of: &dyn Fn(&str) -> Option<FlagKind>,
    env: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Vec<Flag>, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| one_line(e.message()))?;
    let mut out = Vec::new();
    for (key, value) in table {
        if key == "scenario" {
            out.push(Flag::Positional(scalar(&key, &value)?));
            continue;
        }
        let name = key.replace('_', "-");
        let Some(kind) = kind_of(&name) else {
            return Err(format!(
                "unknown key '{}' (keys are `volley run` flags, e.g. target, params, seed, threshold)",
                crate::text::printable(&key, 80)
            ));
        };
        if name == "config" {
            return Err("a run file cannot name another (`config`)".into());
        }
        if kind == FlagKind::OperatorOnly {
            return Err(operator_only(&key));
        }
        let shown = crate::text::printable(&key, 80);
        match (&value, kind) {
            (toml::Value::Boolean(true), FlagKind::Switch) => out.push(Flag::Switch(name)),
            (toml::Value::Boolean(false), FlagKind::Switch) => {}
            (_, FlagKind::Switch) => return Err(format!("'{shown}' is a switch: true or false")),
            (toml::Value::Table(t), _) if name == "params" => {
                let json = serde_json::to_string(t).map_err(|e| format!("'{shown}': {}", one_line(&e.to_string())))?;
                out.push(Flag::Value(name, json));
            }
            (toml::Value::Array(items), _) => {
                if kind != FlagKind::Repeatable && items.len() != 1 {
                    return Err(format!("'{shown}' takes one value, not a list"));
                }
                for item in items {
                    out.push(Flag::Value(name.clone(), value_of(&key, item, env)?));
                }
            }
            (v, _) => out.push(Flag::Value(name, value_of(&key, v, env)?)),
        }
    }
    Ok(out)
}

/// A value as its flag's argument; headers expand `${VAR}` from the environment.
fn value_of(key: &str, v: &toml::Value, env: &dyn Fn(&str) -> Result<String, String>) -> Result<String, String> {
    let s = scalar(key, v)?;
    if key != "header" {
        return Ok(s);
    }
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').ok_or_else(|| format!("'{key}': an unclosed ${{ in '{}'", crate::text::printable(&s, 80)))?;
        let var = &rest[at + 2..at + end];
        let value = env(var).map_err(|why| format!("'{key}' names ${{{}}}, {why}", crate::text::printable(var, 80)))?;
        out.push_str(&value);
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
        _ => Err(format!("'{}' must be a string, number or boolean", crate::text::printable(key, 80))),
    }
}

/// A parser's message on one printable line (TOML's may span several and quote the
/// file's text).
fn one_line(message: &str) -> String {
    crate::text::printable(&message.split_whitespace().collect::<Vec<_>>().join(" "), 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(name: &str) -> Option<FlagKind> {
        match name {
            "target" | "seed" | "params" | "config" => Some(FlagKind::Value),
            "threshold" | "header" => Some(FlagKind::Repeatable),
            "abort-on-fail" => Some(FlagKind::Switch),
            _ => None,
        }
    }

    fn env(k: &str) -> Result<String, String> {
        (k == "TOKEN").then(|| "s3cret".to_string()).ok_or_else(|| "which is not set".into())
    }

    #[test]
    fn keys_become_flags_by_their_kind() {
        let text = "scenario = 'builtin:burst'\nseed = 7\nthreshold = ['a<1', 'b<2']\nheader = 'A: ${TOKEN}'\nabort_on_fail = true\n[params]\nrate = 5\n";
        let v = |n: &str, x: &str| Flag::Value(n.into(), x.into());
        let flags = parse(text, &kind_of, &env).unwrap();
        let want = [
            Flag::Positional("builtin:burst".into()),
            v("seed", "7"),
            v("threshold", "a<1"),
            v("threshold", "b<2"),
            v("header", "A: s3cret"),
            Flag::Switch("abort-on-fail".into()),
            v("params", r#"{"rate":5}"#),
        ];
        assert!(flags.len() == want.len() && want.iter().all(|w| flags.contains(w)), "{flags:?}");
    }

    #[test]
    fn errors_are_one_printable_line_naming_the_key() {
        for (text, says) in [
            ("\"bad\\u001b[2Jkey\\n\" = 1", r"unknown key 'bad\u{1b}[2Jkey\n'"),
            ("seed = [1, 2]", "'seed' takes one value"),
            ("abort-on-fail = 'yes'", "'abort-on-fail' is a switch"),
            ("header = \"A: ${NOPE\\u001b\"", r"an unclosed ${ in 'A: ${NOPE\u{1b}'"),
            ("header = ['A: ${NOPE}']", "${NOPE}, which is not set"),
            ("config = 'other.toml'", "cannot name another"),
            ("target = {a = 1}", "must be a string, number or boolean"),
            ("a = 1\na = 2\n[x\n", ""),
        ] {
            let e = parse(text, &kind_of, &env).unwrap_err();
            assert!(e.contains(says) && crate::text::is_printable(&e), "{text}: {e}");
        }
    }
}
