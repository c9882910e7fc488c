//! Property tests (bounded fuzzing) of what a shared package can put in front of the
//! host: the archive, the manifest in it, the parameters checked against it, and the
//! OCI reference it is pulled by, and the registry's answers (manifests, redirects). Whatever the bytes, reading answers with a verified
//! package or one line of refusal. `PROPTEST_CASES` fuzzes longer.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::archive::{COMPONENT_FILE, Package, sha256};
use super::manifest::{ComponentInfo, Manifest, Param, SCHEMA, params_schema};
use crate::registry::artifact;
use crate::registry::reference::Reference;

/// 256 cases unless `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn package(component: &[u8]) -> Package {
    let params: BTreeMap<String, Param> = [(
        "rate".to_string(),
        Param {
            kind: "number".into(),
            default: Some(json!(5)),
            description: "r".into(),
        },
    )]
    .into();
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
            component: ComponentInfo {
                file: COMPONENT_FILE.into(),
                sha256: sha256(component),
                size: component.len() as u64,
            },
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
    prop_assert_eq!(
        sha256(&p.component),
        p.manifest.component.sha256.to_ascii_lowercase()
    );
    prop_assert_eq!(p.component.len() as u64, p.manifest.component.size);
    prop_assert!(p.manifest.check().is_ok());
    Ok(())
}

/// Reference-shaped text (scheme, registry, repository, tag, digest), each part from
/// pieces that include the characters that could move a URL's host or path.
fn reference_like() -> impl Strategy<Value = String> {
    let part = |pieces: Vec<&'static str>| {
        proptest::collection::vec(proptest::sample::select(pieces), 0..4).prop_map(|p| p.concat())
    };
    let hostile = vec!["@", "#", "?", "%40", "..", " ", "\u{0}", "A", "/", ":"];
    let registry = part(
        [
            vec!["127.0.0.1", ":5000", "[::1]", "evil.example", "-", "."],
            hostile.clone(),
        ]
        .concat(),
    );
    let repository = part([vec!["repo", "volley", "/", "_", "."], hostile.clone()].concat());
    let tag = proptest::option::of(part([vec!["tag", "0.1", "-"], hostile].concat()));
    let digest = proptest::option::of(Just(format!("sha256:{}", "0123456789abcdef".repeat(4))));
    (any::<bool>(), registry, repository, tag, digest).prop_map(
        |(scheme, registry, repository, tag, digest)| {
            let mut text = format!(
                "{}{registry}/{repository}",
                if scheme { "oci://" } else { "" }
            );
            if let Some(t) = tag {
                text = format!("{text}:{t}");
            }
            if let Some(d) = digest {
                text = format!("{text}@{d}");
            }
            text
        },
    )
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

    /// A reference that parses names exactly the registry it says: the URL built from
    /// it has that authority, whatever characters the text held.
    #[test]
    fn references_name_only_their_registry(
        text in reference_like(),
    ) {
        let parsed = Reference::parse(&text);
        if let Err(e) = &parsed {
            one_line(e)?;
        }
        if let Ok(r) = parsed {
            let uri: hyper::Uri = r.base_url().parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            // Host and port, nothing else (no user info that would move the host).
            let named = uri.authority().map(|a| match a.port_u16() {
                Some(port) => format!("{}:{port}", a.host()),
                None => a.host().to_string(),
            });
            prop_assert_eq!(named.as_deref(), Some(r.registry.as_str()), "{}", text);
            prop_assert!(uri.path().starts_with("/v2/") && !uri.path().contains(".."), "{}", text);
            prop_assert_eq!(Reference::parse(&r.to_string()).ok(), Some(r.clone()), "display round trip");
        }
    }

    /// Any manifest body: layers within the policy, or one line of refusal.
    #[test]
    fn registry_manifests_are_layers_within_the_policy_or_refused(
        layers in proptest::collection::vec((
            prop_oneof![Just("application/wasm"), Just("application/vnd.volley.scenario.manifest.v1+json"), Just("x")],
            prop_oneof![Just(format!("sha256:{}", "ab".repeat(32))), Just("sha256:12".to_string()), Just("md5:x".to_string())],
            prop_oneof![Just(json!(10)), Just(json!(1u64 << 40)), Just(json!(-1)), Just(json!("5")), Just(json!(1.5)), any::<u64>().prop_map(Value::from)],
        ), 0..4),
        junk in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        max_package in 1u64..1u64 << 30,
    ) {
        let policy = volley_core::Policy { max_package_bytes: max_package, ..volley_core::Policy::default() };
        let body = match junk {
            Some(bytes) => bytes,
            None => json!({ "layers": layers.iter().map(|(m, d, s)| json!({"mediaType": m, "digest": d, "size": s})).collect::<Vec<_>>() }).to_string().into_bytes(),
        };
        let reference = Reference::parse("127.0.0.1:5000/volley/x:1").unwrap();
        match artifact::layers(&body, &reference, &policy) {
            Ok(l) => {
                prop_assert!(l.component.size <= policy.max_component_bytes);
                prop_assert!(l.component.size + l.volley.as_ref().map_or(0, |v| v.size) <= max_package);
                prop_assert!(crate::registry::reference::is_sha256(&l.component.digest));
            }
            Err(e) => {
                let text = format!("{e:#}");
                prop_assert!(!text.contains('\n'), "{}", text);
            }
        }
    }

    /// A redirect leads to the registry's own origin or to an allowed host, never to
    /// one named in user info.
    #[test]
    fn registry_redirects_stay_within_what_is_allowed(
        location in proptest::collection::vec(prop_oneof![
            Just("http://"), Just("https://"), Just("127.0.0.1"), Just(":5000"), Just(":5001"), Just("cdn.example"),
            Just("evil.example"), Just("@"), Just("/"), Just("#"), Just("?"), Just("%40"), Just("[::1]"), Just("\\"),
        ], 0..8).prop_map(|p| p.concat()),
    ) {
        let policy = volley_core::Policy { registry_redirect_hosts: vec!["cdn.example".into()], ..volley_core::Policy::default() };
        let reference = Reference::parse("127.0.0.1:5000/volley/x:1").unwrap();
        if let Ok(url) = artifact::redirect("http://127.0.0.1:5000/v2/volley/x", &location, &policy, &reference) {
            let uri: hyper::Uri = url.parse().unwrap();
            let a = uri.authority().unwrap();
            let registry = uri.scheme_str() == Some("http") && a.host() == "127.0.0.1" && a.port_u16() == Some(5000);
            prop_assert!(!a.as_str().contains('@'), "{} -> {}", location, url);
            prop_assert!(registry || a.host() == "cdn.example", "{} -> {}", location, url);
        }
    }
}
