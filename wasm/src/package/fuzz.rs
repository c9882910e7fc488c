//! Property tests (bounded fuzzing) of what a shared package can put in front of the
//! host: the archive, the manifest in it, and the parameters checked against it. Whatever the bytes, reading answers with a verified
//! package or one line of refusal. `PROPTEST_CASES` fuzzes longer.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::archive::{Package, sha256};
use super::manifest::COMPONENT_FILE;
use super::manifest::{ComponentInfo, Manifest, Param, SCHEMA, params_schema};

/// 256 cases unless `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn package(component: &[u8]) -> Package {
    let params: BTreeMap<String, Param> =
        [("rate".to_string(), Param { kind: "number".into(), default: Some(json!(5)), description: "r".into() })].into();
    Package {
        manifest: Manifest {
            schema: SCHEMA.into(),
            name: "fuzz".into(),
            version: "0.1.0".into(),
            description: "a package to mutate".into(),
            wit: "0.4.0".into(),
            authors: vec![],
            license: None,
            params_schema: params_schema(&params),
            params,
            datasets: BTreeMap::new(),
            component: ComponentInfo { file: COMPONENT_FILE.into(), sha256: sha256(component), size: component.len() as u64 },
            created_by: "fuzz".into(),
        },
        component: Arc::from(component),
    }
}

fn one_line(e: &crate::WasmError) -> Result<(), TestCaseError> {
    prop_assert!(!e.to_string().contains('\n'), "a multi-line error: {}", e);
    Ok(())
}

/// What any successful read must hold: the component is the one the manifest names.
fn verified(p: &Package) -> Result<(), TestCaseError> {
    prop_assert_eq!(sha256(&p.component), p.manifest.component.sha256.to_ascii_lowercase());
    prop_assert_eq!(p.component.len() as u64, p.manifest.component.size);
    prop_assert!(p.manifest.check().is_ok());
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_are_a_package_or_one_refusal(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        match Package::read(&bytes, "fuzz") {
            Ok(p) => verified(&p)?,
            Err(e) => one_line(&e)?,
        }
    }

    /// Flipped bytes anywhere in a real package: refused, or (where they fell on padding
    /// or header fields that do not matter) the same verified component.
    #[test]
    fn a_changed_package_is_refused_or_unchanged(
        component in proptest::collection::vec(any::<u8>(), 0..1500),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let original = package(&component);
        let mut bytes = original.to_bytes().unwrap();
        for (at, value) in flips {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        match Package::read(&bytes, "fuzz") {
            Ok(p) => {
                verified(&p)?;
                prop_assert_eq!(&p.component[..], &component[..], "a changed component passed verification");
            }
            Err(e) => one_line(&e)?,
        }
    }

    /// Arbitrary parameters against a declared set: accepted or refused, never a panic.
    #[test]
    fn params_are_checked_without_panics(
        kind in prop_oneof![Just("number"), Just("integer"), Just("string"), Just("boolean"), Just("array"), Just("object"), Just("?")],
        value in prop_oneof![Just(json!(1)), Just(json!(1.5)), Just(json!("s")), Just(json!([1])), Just(json!({"a": null})), Just(Value::Null), any::<i64>().prop_map(Value::from)],
        key in prop_oneof![Just("rate".to_string()), "[a-z]{0,4}"],
    ) {
        let declared: BTreeMap<String, Param> =
            [("rate".to_string(), Param { kind: kind.into(), default: None, description: String::new() })].into();
        let _ = super::params::check("fuzz", &declared, &json!({ key: value }));
        let _ = super::params::check("fuzz", &declared, &value);
    }
}
