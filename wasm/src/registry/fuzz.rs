//! Property tests (bounded fuzzing) of what a registry and a reference to it can put
//! in front of the host: OCI references, the manifest of a pulled artifact, and blob
//! redirects. Whatever the text, the answer names only the registry (or an allowed
//! host), within the policy, or is one line of refusal. `PROPTEST_CASES` fuzzes longer.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::artifact;
use super::reference::{Reference, is_sha256};

/// 256 cases unless `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn one_line(e: &dyn std::fmt::Display) -> Result<(), TestCaseError> {
    let text = e.to_string();
    prop_assert!(!text.contains('\n'), "a multi-line error: {}", text);
    Ok(())
}

/// Reference-shaped text (scheme, registry, repository, tag, digest), each part from
/// pieces that include the characters that could move a URL's host or path.
fn reference_like() -> impl Strategy<Value = String> {
    let part = |pieces: Vec<&'static str>| proptest::collection::vec(proptest::sample::select(pieces), 0..4).prop_map(|p| p.concat());
    let hostile = vec!["@", "#", "?", "%40", "..", " ", "\u{0}", "A", "/", ":"];
    let registry = part([vec!["127.0.0.1", ":5000", "[::1]", "evil.example", "-", "."], hostile.clone()].concat());
    let repository = part([vec!["repo", "volley", "/", "_", "."], hostile.clone()].concat());
    let tag = proptest::option::of(part([vec!["tag", "0.1", "-"], hostile].concat()));
    let digest = proptest::option::of(Just(format!("sha256:{}", "0123456789abcdef".repeat(4))));
    (any::<bool>(), registry, repository, tag, digest).prop_map(|(scheme, registry, repository, tag, digest)| {
        let mut text = format!("{}{registry}/{repository}", if scheme { "oci://" } else { "" });
        if let Some(t) = tag {
            text = format!("{text}:{t}");
        }
        if let Some(d) = digest {
            text = format!("{text}@{d}");
        }
        text
    })
}

proptest! {
    #![proptest_config(config())]

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
            let uri: hyper::Uri = r.api_url(&format!("https://{}", r.registry)).parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
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
                prop_assert!(is_sha256(&l.component.digest));
            }
            Err(e) => one_line(&format!("{e:#}"))?,
        }
    }

    /// A redirect or upload location the egress gate allows leads to the registry's own
    /// origin or to an allowed https host, never to one named in user info.
    #[test]
    fn registry_redirects_stay_within_what_is_allowed(
        location in proptest::collection::vec(prop_oneof![
            Just("http://"), Just("https://"), Just("127.0.0.1"), Just(":5000"), Just(":5001"), Just("cdn.example"),
            Just("evil.example"), Just("@"), Just("/"), Just("#"), Just("?"), Just("%40"), Just("[::1]"), Just("\\"),
            Just(".."), Just("%2e"), Just("%2f"),
        ], 0..8).prop_map(|p| p.concat()),
    ) {
        let policy = volley_core::Policy { registry_redirect_hosts: vec!["cdn.example".into()], ..volley_core::Policy::default() };
        let egress = volley_net::Egress::new(std::sync::Arc::new(policy));
        let registry = egress.check_url(volley_net::Kind::Registry, "http://127.0.0.1:5000").unwrap();
        let from = egress.check_url(volley_net::Kind::RegistryHop(&registry, "registry request"), "http://127.0.0.1:5000/v2/volley/x").unwrap();
        let hop = from.destination().resolve(&location).and_then(|d| egress.check(volley_net::Kind::RegistryHop(&registry, "blob redirect"), &d));
        match hop {
            Ok(to) => {
                let url = to.to_string();
                let uri: hyper::Uri = url.parse().unwrap();
                let a = uri.authority().unwrap();
                let on_registry = uri.scheme_str() == Some("http") && a.host() == "127.0.0.1" && a.port_u16() == Some(5000);
                prop_assert!(!a.as_str().contains('@'), "{} -> {}", location, url);
                prop_assert!(on_registry || uri.scheme_str() == Some("https") && a.host() == "cdn.example", "{} -> {}", location, url);
                prop_assert_eq!(to.same_origin(&registry), on_registry, "{} -> {}", location, url);
            }
            Err(e) => one_line(&e)?,
        }
    }
}
