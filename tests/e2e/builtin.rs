//! The shipped scenarios are committed artifacts (`wasm/builtin/`), so building the
//! binary needs no wasm32 target; here they are rebuilt from `scenarios/` and must be the
//! same bytes (docs/architecture.md, "Building").

use std::path::Path;
use std::process::Command;

#[test]
fn the_shipped_scenarios_are_what_their_sources_build_to() {
    // The test guests are built by the same script; build them first so this test and
    // others never run two builds of the same folder at once.
    let _ = crate::support::guests();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-guests.sh");
    let out = Command::new("bash").arg(&script).arg("--check").output().expect("run scripts/build-guests.sh --check");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
