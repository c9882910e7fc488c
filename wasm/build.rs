//! Builds the guest components for `wasm32-wasip2` and hands them to the host.
//!
//! The scenarios in `scenarios/` are embedded in the binary (`volley run builtin:NAME`);
//! the hostile guests in `tests/guests/` are only built, and their paths exported for
//! the tests. The nested cargo uses its own target directory inside the outer one
//! (`<target>/guests`), so it neither waits on the outer build's lock nor needs a
//! second checkout — the approach of wasmtime's `test-programs/artifacts` build script.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (cargo package, embedded in the binary as `builtin:<package>`)
const GUESTS: &[(&str, bool)] = &[
    ("chat-poisson", true),
    ("burst", true),
    ("synthetic", true),
    ("sharegpt", true),
    ("shared-prefix", true),
    ("multi-turn", true),
    ("kserve", true),
    ("http", true),
    ("sweep", true),
    ("rate-range", true),
    ("slo-search", true),
    ("trace-replay", true),
    ("vision", true),
    ("spin-forever", false),
    ("memory-bomb", false),
    ("other-world", false),
    ("load-shapes", false),
    ("fault-late", false),
    ("hostile", false),
];

/// Environment the outer cargo sets for build scripts that must not leak into the
/// guest build (they name the host target, its flags and this script's output dir).
const SCRUB: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_PRIMARY_PACKAGE",
    "TARGET",
    "HOST",
    "OPT_LEVEL",
    "PROFILE",
    "DEBUG",
    "OUT_DIR",
    "NUM_JOBS",
    "RUSTC_WORKSPACE_WRAPPER",
];

fn main() {
    let started = std::time::SystemTime::now();
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host/ sits in the workspace root");
    for watched in ["sdk", "scenarios", "tests/guests", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/volley-<hash>/out.
    let target_dir = out_dir.ancestors().nth(4).expect("OUT_DIR inside a target directory");
    let guest_target = target_dir.join("guests");

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args(["build", "--profile", "guest", "--target", "wasm32-wasip2", "--target-dir"]).arg(&guest_target);
    for (package, _) in GUESTS {
        cmd.args(["-p", package]);
    }
    for var in SCRUB {
        cmd.env_remove(var);
    }
    let output = cmd.output().expect("failed to run cargo for the guest components");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
            "\nhint: run `rustup target add wasm32-wasip2`"
        } else {
            ""
        };
        panic!("building the guest components failed:\n{stderr}{hint}");
    }

    let wasm_dir = guest_target.join("wasm32-wasip2").join("guest");
    // Rebuild if a component goes missing (a cleaned or moved target directory). A
    // component the nested build just wrote is newer than this script's start, which
    // would make cargo run the script once more on the next build for nothing: date it
    // back to before the start.
    let before_start = started - std::time::Duration::from_secs(1);
    for (package, _) in GUESTS {
        let path = wasm_path(&wasm_dir, package);
        if let Ok(f) = std::fs::File::options().write(true).open(&path) {
            let _ = f.set_modified(before_start);
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let mut code = String::new();
    code.push_str("/// Scenarios embedded in the binary: (name, component bytes).\n");
    code.push_str("pub const BUILTIN: &[(&str, &[u8])] = &[\n");
    for (package, builtin) in GUESTS {
        if *builtin {
            let path = wasm_path(&wasm_dir, package);
            writeln!(code, "    ({package:?}, include_bytes!({:?})),", path.display().to_string()).unwrap();
        }
    }
    code.push_str("];\n\n");
    code.push_str("/// Every guest component built with this binary: (name, path). For tests and tools.\n");
    code.push_str("pub const BUILT: &[(&str, &str)] = &[\n");
    for (package, _) in GUESTS {
        let path = wasm_path(&wasm_dir, package);
        writeln!(code, "    ({package:?}, {:?}),", path.display().to_string()).unwrap();
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("guests.rs"), code).expect("write guests.rs");
}

fn wasm_path(dir: &Path, package: &str) -> PathBuf {
    let path = dir.join(format!("{}.wasm", package.replace('-', "_")));
    assert!(path.exists(), "guest build did not produce {}", path.display());
    path
}
