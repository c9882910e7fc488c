//! Released WIT versions are frozen by a test, not by convention: the SHA-256 of each
//! released `wit/v0.X/scenario.wit`, and of each released version's host module
//! `wasm/src/wit/v0_X.rs`, is written here, and any change to one of those files fails
//! `cargo test -p volley-wasm`.
//!
//! Why the WIT files: a released package is what components people share were built
//! against; an edit (even a comment, which the bindings carry as docs) means the host no
//! longer describes what those components import and export. A change a component could
//! see belongs in a new version's folder.
//!
//! Why the host modules too: a released version's behaviour is its module (how a 0.1
//! short list ends a stage, which loads a 0.3 plan may name, how 0.5 resolves media), and
//! old components keep running only while that behaviour stays. Each module is
//! self-contained (nothing in it is shared with another version), so adding a version
//! never needs to touch one. Some edits are still legitimate — `volley_core` gains a
//! variant that a released module must map to its nearest older form (a compile error
//! points there), or the `Exports` trait changes — and then the digest is updated in the
//! same commit, deliberately, where a reviewer sees that a released module changed and
//! why. Formatting is part of the digest: run `cargo fmt` before updating one.
//!
//! Releasing a draft version (0.7, when there is one): remove "draft" from its WIT
//! header and docs/wit-versions.md, then add a row to [`RELEASED`] with `sha256sum
//! wit/v0.7/scenario.wit wasm/src/wit/v0_7.rs`, and its fixture stays in
//! `tests/guests/fixture-v0_7`. From then on that version is frozen too.

use sha2::{Digest, Sha256};

/// A released version: its WIT file and host module, with their SHA-256 digests.
struct Released {
    version: &'static str,
    wit: (&'static str, &'static [u8], &'static str),
    module: (&'static str, &'static [u8], &'static str),
}

macro_rules! released {
    ($version:literal, $wit:literal, $wit_sha:literal, $module:literal, $module_sha:literal) => {
        Released {
            version: $version,
            wit: ($wit, include_bytes!(concat!("../../../", $wit)), $wit_sha),
            module: ($module, include_bytes!(concat!("../../../", $module)), $module_sha),
        }
    };
}

/// Every released version, oldest first. A draft is not listed until it is released.
const RELEASED: &[Released] = &[
    released!(
        "0.1.0",
        "wit/v0.1/scenario.wit",
        "efcaef9905b951d33417c38093946e2de2c2448bcc9298784c45c0db456dc7b6",
        "wasm/src/wit/v0_1.rs",
        "47d2d423376099e3ff38e40127409485de613960789b3924e2659f76e311309d"
    ),
    released!(
        "0.2.0",
        "wit/v0.2/scenario.wit",
        "827ca8aa998ed6e6ad764521f5010806ec46042feaeddb1b1c6cf2c7d007f543",
        "wasm/src/wit/v0_2.rs",
        "aa372870caaea54c33c1544129a867790313e094bb7bbbbd07d76e2ecc26c9f5"
    ),
    released!(
        "0.3.0",
        "wit/v0.3/scenario.wit",
        "f34125a1dbebde8189ecb1b130edd722275220d98b5fd97e60c0719c6aac451f",
        "wasm/src/wit/v0_3.rs",
        "d2206a9be2d5971b6a444ca0865923262178197da9075d020325d4ab5a31c8c9"
    ),
    released!(
        "0.4.0",
        "wit/v0.4/scenario.wit",
        "744e8f5a4e8862b6504d2accd458c12dc76c71e384e82f89bd5d57769688ba60",
        "wasm/src/wit/v0_4.rs",
        "9fe440e11ce451bcd4aa6ac20c0a0f60c45eb2826c42c64fa4744d968016ce3e"
    ),
    released!(
        "0.5.0",
        "wit/v0.5/scenario.wit",
        "af1aef1e669225eda5f488328355f69caa0ca7aa7f6e2379e8a49df3b889118c",
        "wasm/src/wit/v0_5.rs",
        "9fff9958da70243867d8148b17a62fa80960457b83169e45b39092d5afbacc79"
    ),
    released!(
        "0.6.0",
        "wit/v0.6/scenario.wit",
        "72a9aa5870d16f5771a0edcbcfbfd81212ae14eda102e077e4bd71cac287af16",
        "wasm/src/wit/v0_6.rs",
        "6a34aafc612c0f7303ce51ed940d8f94b4aa768d4a7bbb9bfc885da05175e001"
    ),
];

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn released_wit_files_are_unchanged() {
    let changed: Vec<String> = RELEASED
        .iter()
        .filter(|r| sha256(r.wit.1) != r.wit.2)
        .map(|r| format!("{} (volley:scenario@{}) has SHA-256 {}, released as {}", r.wit.0, r.version, sha256(r.wit.1), r.wit.2))
        .collect();
    assert!(
        changed.is_empty(),
        "a released WIT file changed; released versions are frozen: put the change in a new version's folder \
         (docs/wit-versions.md).\n{}",
        changed.join("\n")
    );
}

#[test]
fn released_host_modules_are_unchanged() {
    let changed: Vec<String> = RELEASED
        .iter()
        .filter(|r| sha256(r.module.1) != r.module.2)
        .map(|r| format!("{} (volley:scenario@{}) has SHA-256 {}, pinned as {}", r.module.0, r.version, sha256(r.module.1), r.module.2))
        .collect();
    assert!(
        changed.is_empty(),
        "a released version's host module changed. Only a change that keeps the version's behaviour is allowed \
         (a new volley_core variant mapped to its nearest older form, a changed Exports trait); if this is one, \
         update the digest here in the same commit (see this file's comment).\n{}",
        changed.join("\n")
    );
}

/// The registry lists every released version, and the newest first.
#[test]
fn every_released_version_is_supported() {
    let supported: Vec<&str> = super::WitVersion::SUPPORTED.iter().map(|v| v.semver()).collect();
    for r in RELEASED {
        assert!(supported.contains(&r.version), "{} is released but not in WitVersion::SUPPORTED", r.version);
    }
    let mut sorted = supported.clone();
    sorted.sort_by_key(|v| std::cmp::Reverse(v.split('.').map(|n| n.parse::<u32>().unwrap()).collect::<Vec<_>>()));
    assert_eq!(supported, sorted, "WitVersion::SUPPORTED is newest first");
}
