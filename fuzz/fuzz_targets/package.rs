//! A scenario package (`wasm/src/package/`): a POSIX tar holding `volley-package.json`
//! and the component it names, read with each entry's type, name, count and size
//! checked before anything is read into memory, then the manifest parsed and checked and
//! the component verified against its sha256 and size.
//!
//! Holds: no panic; a refusal is one line; a package that reads is verified
//! (its component is the one its manifest names, by digest and size), and written back
//! it reads again as the same package.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley_fuzz::package::Package;
use volley_fuzz::package::archive::sha256;

fuzz_target!(|data: &[u8]| {
    let package = match Package::read(data, "fuzz.volley") {
        Ok(package) => package,
        Err(e) => return volley_fuzz::one_line("a package", &e.to_string()),
    };
    let want = &package.manifest.component;
    assert!(sha256(&package.component).eq_ignore_ascii_case(&want.sha256), "a component that is not the manifest's");
    assert_eq!(package.component.len() as u64, want.size, "a component of another size than the manifest's");
    let bytes = package.to_bytes().expect("a package read writes back");
    let again = Package::read(&bytes, "again").unwrap_or_else(|e| panic!("a package read and written back does not read: {e}"));
    assert_eq!(again.component, package.component);
    assert_eq!(
        serde_json::to_value(&again.manifest).expect("a manifest writes"),
        serde_json::to_value(&package.manifest).expect("a manifest writes"),
        "a round trip changed the manifest"
    );
});
