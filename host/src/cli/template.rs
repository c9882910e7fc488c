//! `volley new NAME --lang rust|python|js`: a ready-to-build scenario project.
//!
//! Each template is the repository's example scenario for that language
//! (`scenarios/chat-poisson`, `scenarios/python-chat`, `scenarios/js-chat`): the same
//! workload in all three, so a new project runs and its requests match the Rust
//! scenario's for the same seed. The project gets the current WIT, a `volley.json`
//! (package metadata and parameters), a `build.sh` and a README; a Rust project also
//! gets the SDK this binary carries (`volley-sdk/`), so the installed binary is all an
//! author needs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// The WIT new projects target: the one the SDK is generated from.
const WIT: &str = include_str!("../../../wit/v0.5/scenario.wit");
/// Where the SDK's bindings find that WIT in this repository, and in a project.
const SDK_WIT_PATH: (&str, &str) = ("\"../wit/v0.5\"", "\"wit\"");

const RUST_LIB: &str = include_str!("../../../scenarios/chat-poisson/src/lib.rs");
const PYTHON_APP: &str = include_str!("../../../scenarios/python-chat/app.py");
const JS_APP: &str = include_str!("../../../scenarios/js-chat/app.js");
const VOLLEY_JSON: &str = include_str!("../../../scenarios/chat-poisson/volley.json");

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

/// Creates the project in `dir` (default `./NAME`); returns the directory.
pub fn create(name: &str, lang: Lang, dir: Option<&Path>, sdk: Option<&Path>) -> Result<PathBuf> {
    if !valid_name(name) {
        bail!("scenario name '{name}' must start with a lowercase letter and use only a-z, 0-9 and '-'");
    }
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("'{}' already exists and is not empty; choose another name or --dir", dir.display());
    }
    let files = match lang {
        Lang::Rust => rust_files(name, sdk)?,
        Lang::Python => vec![
            ("app.py".into(), PYTHON_APP.replace("\"python-chat\"", &format!("{name:?}")).replace("python-chat:", &format!("{name}:"))),
            ("wit/scenario.wit".into(), WIT.into()),
            ("build.sh".into(), build_script(name, PY_BUILD)),
        ],
        Lang::Js => vec![
            ("app.js".into(), JS_APP.replace("\"js-chat\"", &format!("{name:?}")).replace("js-chat:", &format!("{name}:"))),
            ("wit/scenario.wit".into(), WIT.into()),
            ("build.sh".into(), build_script(name, JS_BUILD)),
        ],
    };
    let mut files = files;
    files.push(("volley.json".into(), VOLLEY_JSON.replace("\"chat-poisson\"", &format!("{name:?}"))));
    files.push(("README.md".into(), readme(name, lang)));
    files.push((".gitignore".into(), "/target\n*.wasm\n*.volley\n".into()));

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
    Ok(dir)
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
    let mut files = vec![("volley-sdk/Cargo.toml".to_string(), SDK_CARGO.to_string()), ("volley-sdk/wit/scenario.wit".into(), WIT.into())];
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

const PY_BUILD: &str = r#"# Needs componentize-py: pip install componentize-py==0.25.1 (or set COMPONENTIZE_PY)
"${COMPONENTIZE_PY:-componentize-py}" -d wit -w scenario componentize app -o "$NAME.wasm"
"#;

const JS_BUILD: &str = r#"# Needs componentize-js: npm install @bytecodealliance/componentize-js@0.23.0 (or set
# COMPONENTIZE_JS). `-d http -d fetch-event` leave out the wasi:http imports a scenario
# cannot use.
"${COMPONENTIZE_JS:-componentize-js}" app.js --wit wit --world-name scenario -d http -d fetch-event -o "$NAME.wasm"
"#;

fn build_script(name: &str, body: &str) -> String {
    format!(
        "#!/bin/sh\n# Builds {name}.wasm, a Volley scenario component.\nset -eu\ncd \"$(dirname \"$0\")\"\nNAME={name}\n{body}echo \"built $NAME.wasm\"\n"
    )
}

fn readme(name: &str, lang: Lang) -> String {
    let (source, tool) = match lang {
        Lang::Rust => ("src/lib.rs", "Rust and the wasm32-wasip2 target"),
        Lang::Python => ("app.py", "componentize-py"),
        Lang::Js => ("app.js", "componentize-js"),
    };
    format!(
        "# {name}\n\nA Volley scenario ({tool}). The workload is in `{source}`; its parameters and package\n\
         metadata in `volley.json`. The scenario guide is docs/authoring.md in the Volley repository.\n\n\
         ```sh\n./build.sh                                   # -> {name}.wasm\n\
         volley check {name}.wasm                     # plan, first requests, arrivals; sends nothing\n\
         volley sim --port 8000 &                     # a simulated server to try it on\n\
         volley run {name}.wasm --target http://127.0.0.1:8000 --params '{{\"rate\": 10, \"duration_s\": 5}}'\n\
         volley pack {name}.wasm                      # -> {name}-0.1.0.volley, to share\n```\n"
    )
}
