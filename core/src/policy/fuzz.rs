//! Property tests (bounded fuzzing) of the policy: any file text is a policy or one
//! line of error, a policy read is always usable, and no allow-list makes a host-owned,
//! credential or routing header settable. `PROPTEST_CASES` fuzzes longer.

use proptest::prelude::*;

use super::*;

/// 256 cases unless `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

const KEYS: &[&str] = &[
    "targets",
    "max_rate",
    "max_concurrency",
    "max_in_flight",
    "max_requests",
    "max_stages",
    "max_stage_s",
    "min_gap_ms",
    "max_body_bytes",
    "allow_headers",
    "guest_memory_mib",
    "guest_call_ms",
    "max_package_bytes",
    "compile_cache",
    "registry_redirect_hosts",
    "max_queue_bytes",
    "max_ratee",
];

fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0u32..100).prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-0.0".to_string()),
        Just("true".to_string()),
        Just("\"x\"".to_string()),
        Just("[\"http://127.0.0.1:8000\", \"https://[::1]:9/v1\"]".to_string()),
        Just("[\"127.0.0.1\"]".to_string()),
        Just("[\"*\", \"x-*\", \"host\"]".to_string()),
        Just("[1, \"a\"]".to_string()),
        Just("{ a = 1 }".to_string()),
        ".{0,8}",
    ]
}

fn policy_text() -> impl Strategy<Value = String> {
    proptest::collection::vec((proptest::sample::select(KEYS), toml_value()), 0..6)
        .prop_map(|lines| lines.into_iter().map(|(k, v)| format!("{k} = {v}\n")).collect())
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(CONNECTION_HEADERS).prop_map(str::to_string),
        proptest::sample::select(CREDENTIAL_HEADERS).prop_map(str::to_string),
        proptest::sample::select(ROUTING_HEADERS).prop_map(str::to_string),
        proptest::sample::select(ROUTING_PREFIXES).prop_map(|p| format!("{p}x")),
        "[A-Za-z-]{1,12}",
    ]
    .prop_flat_map(|name| (Just(name.clone()), proptest::collection::vec(any::<bool>(), name.len())))
    .prop_map(|(name, upper)| name.chars().zip(upper).map(|(c, u)| if u { c.to_ascii_uppercase() } else { c }).collect())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_is_a_policy_or_one_line(text in prop_oneof![policy_text(), ".{0,64}"]) {
        match Policy::from_toml(&text) {
            Ok(p) => {
                // What was read is usable: every limit valid, and it reads back the same.
                prop_assert!(p.validate().is_ok());
                prop_assert!(p.max_rate.is_finite() && p.max_rate > 0.0 && p.min_gap_ms >= 0.0);
                let again = Policy::from_toml(&toml::to_string(&p).unwrap()).unwrap();
                prop_assert_eq!(again, p);
            }
            Err(e) => prop_assert!(!e.to_string().contains('\n'), "{}", e),
        }
    }

    /// Whatever the allow list says (`*` included), never-allowed headers stay refused.
    #[test]
    fn no_allow_list_opens_a_never_allowed_header(
        name in header_name(),
        allow in proptest::collection::vec(prop_oneof![Just("*".to_string()), Just("x-*".to_string()), header_name()], 0..4),
    ) {
        let p = Policy { allow_headers: allow, ..Policy::default() };
        if never_allowed(&name.to_ascii_lowercase()).is_some() {
            prop_assert!(!p.allows_header(&name), "{} allowed", name);
        }
    }

    /// A target the list allows matches one entry exactly: scheme, host, port, and a
    /// base path at or below the entry's, segment by segment.
    #[test]
    fn an_allowed_target_matches_an_entry(
        scheme in prop_oneof![Just("http"), Just("https")],
        host in prop_oneof![Just("127.0.0.1"), Just("localhost"), Just("::1"), Just("10.0.0.1")],
        port in prop_oneof![Just(80u16), Just(8000), Just(443), Just(9)],
        path in prop_oneof![Just(""), Just("/v1"), Just("/a"), Just("/ab"), Just("/a/b")],
    ) {
        let p = Policy::from_toml("targets = [\"http://127.0.0.1:8000/a\", \"https://[::1]:9\"]").unwrap();
        let allowed = p.check_target(scheme, host, port, path).is_ok();
        let expected = (scheme == "http" && host == "127.0.0.1" && port == 8000 && (path == "/a" || path == "/a/b"))
            || (scheme == "https" && host == "::1" && port == 9);
        prop_assert_eq!(allowed, expected, "{}://{}:{}{}", scheme, host, port, path);
    }
}
