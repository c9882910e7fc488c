//! `volley new NAME --lang rust|python|js [--template chat|agent]`: a ready-to-build
//! scenario project.
//!
//! Each template is one of the repository's example scenarios. `chat` (the default) is
//! `scenarios/chat-poisson`, `scenarios/python-chat` or `scenarios/js-chat`: the same
//! workload in all three, so a new project runs and its requests match the Rust
//! scenario's for the same seed. `agent` is `scenarios/python-agent` or
//! `scenarios/js-agent` (WIT 0.6 agent sessions: tools, tool calls, follow-ups after a
//! delay, the `sessions` load); it has no Rust template yet. The project gets its
//! template's WIT, a `volley.json` (package metadata and parameters), a `build.sh` and a
//! README; a Rust project also gets the SDK this binary carries (`volley-sdk/`), so the
//! installed binary is all an author needs.
//!
//! A Python or JS `build.sh` finds its toolchain where an author is likely to have it:
//! the variable `scripts/guest-toolchains.sh` prints (`COMPONENTIZE_PY`,
//! `COMPONENTIZE_JS`), `PATH`, and the folder that script installs into; failing that,
//! it says in one line how to install it (pip or npm, which need no Volley checkout).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// The workload a new project starts from.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// Streaming chat requests with Poisson arrivals (rust, python, js)
    Chat,
    /// Agent sessions with tool calls: tools, follow-ups after tool and think time, the
    /// sessions load (WIT 0.6; python, js)
    Agent,
}

/// The WIT the Python and JavaScript chat templates target.
const WIT: &str = include_str!("../../../wit/v0.5/scenario.wit");
/// The WIT of the agent templates (the first with agent sessions), and of Rust projects:
/// the one the SDK is generated from.
const AGENT_WIT: &str = include_str!("../../../wit/v0.6/scenario.wit");
const SDK_WIT: &str = AGENT_WIT;
/// Where the SDK's bindings find that WIT in this repository, and in a project.
const SDK_WIT_PATH: (&str, &str) = ("\"../wit/v0.6\"", "\"wit\"");

const RUST_LIB: &str = include_str!("../../../scenarios/chat-poisson/src/lib.rs");
const PYTHON_APP: &str = include_str!("../../../scenarios/python-chat/app.py");
const JS_APP: &str = include_str!("../../../scenarios/js-chat/app.js");
const VOLLEY_JSON: &str = include_str!("../../../scenarios/chat-poisson/volley.json");
const PYTHON_AGENT_APP: &str = include_str!("../../../scenarios/python-agent/app.py");
const PYTHON_AGENT_JSON: &str = include_str!("../../../scenarios/python-agent/volley.json");
const JS_AGENT_APP: &str = include_str!("../../../scenarios/js-agent/app.js");
const JS_AGENT_JSON: &str = include_str!("../../../scenarios/js-agent/volley.json");

/// The Rust SDK's sources, carried in the binary so `volley new --lang rust` needs
/// nothing but the binary: written into the project as `volley-sdk/`.
const SDK_SOURCES: &[(&str, &str)] = &[
    ("bindings.rs", include_str!("../../../sdk/src/bindings.rs")),
    ("checks.rs", include_str!("../../../sdk/src/checks.rs")),
    ("datasets.rs", include_str!("../../../sdk/src/datasets.rs")),
    ("dist.rs", include_str!("../../../sdk/src/dist.rs")),
    ("export.rs", include_str!("../../../sdk/src/export.rs")),
    ("lib.rs", include_str!("../../../sdk/src/lib.rs")),
    ("log.rs", include_str!("../../../sdk/src/log.rs")),
    ("params.rs", include_str!("../../../sdk/src/params.rs")),
    ("plan.rs", include_str!("../../../sdk/src/plan.rs")),
    ("random.rs", include_str!("../../../sdk/src/random.rs")),
    ("request.rs", include_str!("../../../sdk/src/request.rs")),
    ("shape.rs", include_str!("../../../sdk/src/shape.rs")),
    ("tokenizer.rs", include_str!("../../../sdk/src/tokenizer.rs")),
];

/// The SDK's manifest as a project of its own (the repository's inherits from the
/// workspace); its dependencies are the repository SDK's.
const SDK_CARGO: &str = r#"[package]
name = "volley-sdk"
description = "Write Volley benchmark scenarios in Rust (guest side of the volley:scenario WIT)"
version = "0.1.0"
edition = "2024"
license = "Apache-2.0"
publish = false

[dependencies]
wit-bindgen = { version = "0.63", default-features = false, features = ["macros", "realloc", "std"] }
serde_json = { version = "1", default-features = false, features = ["alloc"] }
"#;

/// Creates the project in `dir` (default `./NAME`); returns the directory and the
/// version of the WIT it targets (e.g. "0.6.0").
pub fn create(name: &str, lang: Lang, template: Template, dir: Option<&Path>, sdk: Option<&Path>) -> Result<(PathBuf, &'static str)> {
    if !valid_name(name) {
        bail!("scenario name '{name}' must start with a lowercase letter and use only a-z, 0-9 and '-'");
    }
    if template == Template::Agent && lang == Lang::Rust {
        bail!("the agent template is in Python and JavaScript for now: --lang python or --lang js");
    }
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("'{}' already exists and is not empty; choose another name or --dir", dir.display());
    }
    let wit = match (lang, template) {
        (Lang::Rust, _) => SDK_WIT,
        (_, Template::Agent) => AGENT_WIT,
        (_, Template::Chat) => WIT,
    };
    // The template's source, its example's name, and its volley.json with that name.
    let (app, example, json, json_name) = match (lang, template) {
        (Lang::Rust, _) => ("", "", VOLLEY_JSON, "chat-poisson"),
        (Lang::Python, Template::Chat) => (PYTHON_APP, "python-chat", VOLLEY_JSON, "chat-poisson"),
        (Lang::Js, Template::Chat) => (JS_APP, "js-chat", VOLLEY_JSON, "chat-poisson"),
        (Lang::Python, Template::Agent) => (PYTHON_AGENT_APP, "python-agent", PYTHON_AGENT_JSON, "python-agent"),
        (Lang::Js, Template::Agent) => (JS_AGENT_APP, "js-agent", JS_AGENT_JSON, "js-agent"),
    };
    let mut files = match lang {
        Lang::Rust => rust_files(name, sdk)?,
        Lang::Python => vec![
            ("app.py".into(), rename(app, example, name)),
            ("wit/scenario.wit".into(), wit.into()),
            ("build.sh".into(), build_script(name, &PYTHON_TOOL.build_body())),
        ],
        Lang::Js => vec![
            ("app.js".into(), rename(app, example, name)),
            ("wit/scenario.wit".into(), wit.into()),
            ("build.sh".into(), build_script(name, &JS_TOOL.build_body())),
        ],
    };
    files.push(("volley.json".into(), json.replace(&format!("{json_name:?}"), &format!("{name:?}"))));
    files.push(("README.md".into(), readme(name, lang, template)));
    let ignored = if lang == Lang::Js { "/target\n/node_modules\n*.wasm\n*.volley\n" } else { "/target\n*.wasm\n*.volley\n" };
    files.push((".gitignore".into(), ignored.into()));

    for (rel, text) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create '{}'", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write '{}'", path.display()))?;
        if rel == "build.sh" {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    Ok((dir, wit_semver(wit)))
}

/// The version a WIT file's `package volley:scenario@X;` line names.
fn wit_semver(wit: &'static str) -> &'static str {
    wit.lines()
        .find_map(|l| l.trim().strip_prefix("package volley:scenario@"))
        .and_then(|v| v.strip_suffix(';'))
        .expect("an embedded WIT names its package version")
}

/// A template's source with the example's name (`"python-chat"`, the docstring's
/// `python-chat:` and `python-chat.wasm`) replaced by the project's.
fn rename(source: &str, example: &str, name: &str) -> String {
    source
        .replace(&format!("\"{example}\""), &format!("{name:?}"))
        .replace(&format!("{example}:"), &format!("{name}:"))
        .replace(&format!("{example}.wasm"), &format!("{name}.wasm"))
}

fn valid_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn rust_files(name: &str, sdk: Option<&Path>) -> Result<Vec<(String, String)>> {
    // The SDK is not on crates.io yet: the project gets the copy this binary carries,
    // unless the author points at one.
    let mut files = Vec::new();
    let sdk = match sdk {
        Some(p) => {
            let p = p.to_path_buf();
            p.canonicalize().unwrap_or(p).display().to_string()
        }
        None => {
            files.extend(embedded_sdk()?);
            "volley-sdk".to_string()
        }
    };
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
volley-sdk = {{ path = {sdk:?} }}

[profile.release]
opt-level = "s"
strip = true

# A project of its own, even when created inside another Cargo workspace.
[workspace]
"#
    );
    files.extend([
        ("Cargo.toml".into(), cargo),
        ("src/lib.rs".into(), RUST_LIB.replace("`chat-poisson`", &format!("`{name}`"))),
        ("build.sh".into(), build_script(name, RUST_BUILD)),
    ]);
    Ok(files)
}

/// `volley-sdk/`: the SDK's sources, manifest and WIT.
fn embedded_sdk() -> Result<Vec<(String, String)>> {
    let mut files =
        vec![("volley-sdk/Cargo.toml".to_string(), SDK_CARGO.to_string()), ("volley-sdk/wit/scenario.wit".into(), SDK_WIT.into())];
    for (file, text) in SDK_SOURCES {
        let text = if *file == "bindings.rs" {
            let (here, there) = SDK_WIT_PATH;
            if text.matches(here).count() != 1 {
                bail!("this Volley's embedded SDK does not name its WIT as {here}; it cannot make a Rust project");
            }
            text.replace(here, there)
        } else {
            text.to_string()
        };
        files.push((format!("volley-sdk/src/{file}"), text));
    }
    Ok(files)
}

const RUST_BUILD: &str = r#"# Needs the wasm32-wasip2 target: rustup target add wasm32-wasip2
cargo build --release --target wasm32-wasip2
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/$(echo "$NAME" | tr - _).wasm" "$NAME.wasm"
"#;

/// A guest toolchain a `build.sh` looks for, and how to get it.
struct GuestTool {
    /// The command's name on `PATH`.
    command: &'static str,
    /// The variable that names it (what `scripts/guest-toolchains.sh` exports).
    var: &'static str,
    /// Where `scripts/guest-toolchains.sh` installs it, under its toolchains folder.
    installed: &'static str,
    /// Also looked for in the project (a local `npm install`), when set.
    local: Option<&'static str>,
    /// The install command that needs nothing but the language's package manager.
    install: &'static str,
    /// The build command after the tool, and a comment on its flags.
    args: &'static str,
    note: &'static str,
}

const PYTHON_TOOL: GuestTool = GuestTool {
    command: "componentize-py",
    var: "COMPONENTIZE_PY",
    installed: "py/bin/componentize-py",
    local: None,
    install: "pip install componentize-py==0.25.1",
    args: "-d wit -w scenario componentize app -o \"$NAME.wasm\"",
    note: "",
};

const JS_TOOL: GuestTool = GuestTool {
    command: "componentize-js",
    var: "COMPONENTIZE_JS",
    installed: "js/node_modules/.bin/componentize-js",
    local: Some("node_modules/.bin/componentize-js"),
    install: "npm install @bytecodealliance/componentize-js@0.23.0 (here, or -g)",
    args: "app.js --wit wit --world-name scenario -d http -d fetch-event -o \"$NAME.wasm\"",
    note: "# `-d http -d fetch-event` leave out the wasi:http imports a scenario cannot use.\n",
};

impl GuestTool {
    /// The part of `build.sh` that finds the tool — `$VAR` (which must then run),
    /// `PATH`, the project's `node_modules` (JS), the folder
    /// `scripts/guest-toolchains.sh` installs into — or says in one line how to get it
    /// and exits 1; then runs it.
    fn build_body(&self) -> String {
        let GuestTool { command, var, installed, local, install, args, note } = self;
        let local = local.map(|l| format!("\"$PWD/{l}\" ")).unwrap_or_default();
        format!(
            r#"# {command} is looked for in order: ${var}, PATH{local_doc},
# and where Volley's scripts/guest-toolchains.sh installs it
# (${{VOLLEY_TOOLCHAINS:-~/.cache/volley/toolchains}}).
TOOLCHAINS="${{VOLLEY_TOOLCHAINS:-${{HOME:-}}/.cache/volley/toolchains}}"
runs() {{ case "$1" in */*) [ -f "$1" ] && [ -x "$1" ] ;; *) command -v "$1" >/dev/null 2>&1 ;; esac; }}
if [ -n "${{{var}:-}}" ]; then
  runs "${var}" || {{ echo "$0: {var}=${var} is not a program; unset it or point it at {command}" >&2; exit 1; }}
  TOOL="${var}"
else
  TOOL=
  for candidate in {command} {local}"$TOOLCHAINS/{installed}"; do
    if runs "$candidate"; then TOOL="$candidate"; break; fi
  done
  if [ -z "$TOOL" ]; then
    echo "$0: {command} not found (looked in \${var}, PATH{local_doc}, $TOOLCHAINS); install it: {install}, or run scripts/guest-toolchains.sh from a Volley checkout" >&2
    exit 1
  fi
fi
{note}"$TOOL" {args}
"#,
            local_doc = if self.local.is_some() { ", ./node_modules/.bin" } else { "" },
        )
    }
}

fn build_script(name: &str, body: &str) -> String {
    format!(
        "#!/bin/sh\n# Builds {name}.wasm, a Volley scenario component.\nset -eu\ncd \"$(dirname \"$0\")\"\nNAME={name}\n{body}echo \"built $NAME.wasm\"\n"
    )
}

fn readme(name: &str, lang: Lang, template: Template) -> String {
    let (source, tool, setup) = match lang {
        Lang::Rust => {
            ("src/lib.rs", "Rust and the wasm32-wasip2 target", "It needs the target once: `rustup target add wasm32-wasip2`.".to_string())
        }
        Lang::Python => ("app.py", "componentize-py", toolchain_setup(&PYTHON_TOOL)),
        Lang::Js => ("app.js", "componentize-js", toolchain_setup(&JS_TOOL)),
    };
    let (kind, guide, params) = match template {
        Template::Chat => ("", "", r#"{"rate": 10, "duration_s": 5}"#),
        Template::Agent => {
            (", agent sessions with tool calls", " (its \"Agents\" section for this template)", r#"{"tasks": 20, "sessions": 4}"#)
        }
    };
    format!(
        "# {name}\n\nA Volley scenario ({tool}{kind}). The workload is in `{source}`; its parameters and package\n\
         metadata in `volley.json`. The scenario guide is docs/authoring.md in the Volley repository{guide}.\n\n\
         {setup}\n\n\
         ```sh\n./build.sh                                   # -> {name}.wasm\n\
         volley check {name}.wasm                     # plan, first requests, arrivals; sends nothing\n\
         volley sim --port 8000 &                     # a simulated server to try it on\n\
         volley run {name}.wasm --target http://127.0.0.1:8000 --params '{params}'\n\
         volley pack {name}.wasm                      # -> {name}-0.1.0.volley, to share\n```\n"
    )
}

/// The README's paragraph on where `build.sh` finds a guest toolchain.
fn toolchain_setup(tool: &GuestTool) -> String {
    let GuestTool { command, var, installed, install, .. } = tool;
    let local = if tool.local.is_some() { ", `./node_modules/.bin`" } else { "" };
    format!(
        "`build.sh` runs {command}, found as `${var}`, on `PATH`{local}, or where Volley's\n\
         `scripts/guest-toolchains.sh` installs it (`~/.cache/volley/toolchains/{installed}`,\n\
         or under `$VOLLEY_TOOLCHAINS`). Install it with `{install}`, or in a Volley\n\
         checkout with `eval \"$(scripts/guest-toolchains.sh)\"` (which also exports `{var}`)."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_takes_the_project_name_everywhere_the_example_named_itself() {
        let app = rename(PYTHON_APP, "python-chat", "my-chat");
        assert!(!app.contains("python-chat"), "{app}");
        assert!(app.contains("NAME = \"my-chat\"") && app.contains("-o my-chat.wasm"), "{app}");
        let app = rename(JS_APP, "js-chat", "my-chat");
        assert!(!app.contains("js-chat"), "{app}");
        assert!(app.contains("const NAME = \"my-chat\"") && app.contains("-o my-chat.wasm"), "{app}");
    }

    #[test]
    fn an_agent_template_takes_the_project_name_and_targets_wit_0_6() {
        let app = rename(PYTHON_AGENT_APP, "python-agent", "my-agent");
        assert!(!app.contains("python-agent"), "{app}");
        assert!(app.contains("NAME = \"my-agent\"") && app.contains("-o my-agent.wasm"), "{app}");
        let app = rename(JS_AGENT_APP, "js-agent", "my-agent");
        assert!(!app.contains("js-agent"), "{app}");
        assert!(app.contains("const NAME = \"my-agent\"") && app.contains("-o my-agent.wasm"), "{app}");
        assert!(app.contains("\"volley:scenario/random@0.6.0\""), "{app}");
        assert_eq!(wit_semver(AGENT_WIT), "0.6.0");
        assert_eq!(wit_semver(WIT), "0.5.0");
        for json in [PYTHON_AGENT_JSON, JS_AGENT_JSON] {
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            let params: Vec<&String> = v["params"].as_object().unwrap().keys().collect();
            for p in ["tasks", "sessions", "max_tokens", "system_tokens", "tool_ms_min", "tool_ms_max", "think_ms", "steps", "model"] {
                assert!(params.iter().any(|k| *k == p), "{json} lacks {p}");
            }
        }
    }

    #[test]
    fn the_agent_template_has_no_rust_version_and_writes_nothing_for_it() {
        let dir = std::env::temp_dir().join(format!("volley-agent-rust-{}", std::process::id()));
        let err = create("my-agent", Lang::Rust, Template::Agent, Some(&dir), None).unwrap_err();
        assert!(err.to_string().contains("--lang python or --lang js"), "{err}");
        assert!(!dir.exists());
    }

    #[test]
    fn a_build_script_looks_in_every_place_and_names_the_install_command() {
        for tool in [&PYTHON_TOOL, &JS_TOOL] {
            let body = tool.build_body();
            for want in
                [format!("${{{}:-}}", tool.var), tool.command.to_string(), format!("$TOOLCHAINS/{}", tool.installed), tool.install.into()]
            {
                assert!(body.contains(&want), "build.sh for {} lacks {want}:\n{body}", tool.command);
            }
        }
    }
}
