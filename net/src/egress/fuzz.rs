//! Property tests of the egress gate's parser: whatever a tenant writes after an allowed
//! base path, what the gate accepts stays under it for any server that decodes the path
//! (once or repeatedly) and resolves dot segments, and the host is the one it looks like.

use proptest::prelude::*;

use super::Destination;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() }
}

/// Decodes `%XX` until nothing changes (a server or proxy that decodes more than once).
fn decode_fully(mut s: String) -> String {
    loop {
        let next = super::decode(&s);
        if next == s {
            return s;
        }
        s = next;
    }
}

/// RFC 3986's remove_dot_segments, with `;` parameters dropped first (as Tomcat does).
fn normalise(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for seg in path.split('/').skip(1) {
        let name = seg.split(';').next().unwrap_or("");
        match name {
            "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(name.to_string()),
        }
    }
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn accepted_paths_stay_under_their_base_however_decoded(
        tail in proptest::collection::vec(prop_oneof![
            Just("/"), Just("."), Just(".."), Just("%2e"), Just("%2E"), Just("%2f"), Just("%2F"), Just("%5c"), Just("%25"),
            Just("%"), Just("2e"), Just("a"), Just(";"), Just("tenant-b"), Just("\\"), Just("?"), Just("#"),
        ], 0..10).prop_map(|p| p.concat()),
    ) {
        let url = format!("http://h/tenant-a{tail}");
        let under = |p: &str| p == "/tenant-a" || p.starts_with("/tenant-a/");
        // What the gate accepts and a prefix check of `/tenant-a` lets through.
        if let Some(d) = Destination::parse(&url).ok().filter(|d| under(d.path())) {
            let segments = normalise(&decode_fully(d.path().to_string()));
            prop_assert_eq!(segments.first().map(String::as_str), Some("tenant-a"), "{} -> {:?}", url, segments);
            // Decoding never adds a segment, so resolving could never climb out.
            prop_assert_eq!(decode_fully(d.path().to_string()).matches('/').count(), d.path().matches('/').count(), "{}", url);
        }
    }

    #[test]
    fn the_host_is_the_one_it_looks_like(
        authority in proptest::collection::vec(prop_oneof![
            Just("good.example"), Just("evil.example"), Just("@"), Just(":"), Just("80"), Just("["), Just("]"), Just("::1"),
            Just("%2e"), Just("%40"), Just("."), Just("/"), Just("\\"), Just("#"), Just("?"),
        ], 1..6).prop_map(|p| p.concat()),
    ) {
        let url = format!("http://{authority}/x");
        if let Ok(d) = Destination::parse(&url) {
            let uri: hyper::Uri = url.parse().unwrap();
            let host = uri.host().unwrap().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
            prop_assert_eq!(d.host(), host.as_str(), "{}", url);
            prop_assert!(!url[7..].split(['/', '?']).next().unwrap_or("").contains('@'), "{}", url);
        }
    }
}
