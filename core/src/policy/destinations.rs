//! The policy's pure checks of every destination besides the target itself: probes
//! (`probes`), OTLP endpoints (`exporters`), registries and their token realms
//! (`registries`), and the hops a registry sends the client on (upload locations and
//! blob redirects, `registry_redirect_hosts`).
//!
//! A destination arrives here already parsed by the egress gate (`volley-net`'s
//! `egress`): scheme and host in lower case, the port explicit, the path free of dot
//! segments and encoded slashes. These checks only match it against the keys; each
//! refusal is one line naming the key, its value and the destination.

use super::{AllowedTarget, Policy, PolicyError, Refusal, path_within, refuse};
use crate::text::printable;

/// A destination as the egress gate parsed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint<'a> {
    /// `http`, `https`, `grpc` or `grpcs`.
    pub scheme: &'a str,
    /// Lower case; an IPv6 address without brackets.
    pub host: &'a str,
    pub port: u16,
    /// `""` or `/…`, as it goes on the wire.
    pub path: &'a str,
}

impl Endpoint<'_> {
    /// `scheme://host:port/path`, printable (the host or path may be a tenant's).
    fn shown(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.to_string() };
        printable(&format!("{}://{host}:{}{}", self.scheme, self.port, self.path), 200)
    }

    fn origin(&self) -> String {
        Endpoint { path: "", ..*self }.shown()
    }

    fn same_origin(&self, other: &Endpoint) -> bool {
        self.scheme == other.scheme && self.host.eq_ignore_ascii_case(other.host) && self.port == other.port
    }

    fn web(&self) -> bool {
        matches!(self.scheme, "http" | "https")
    }

    /// At or below one of `list`'s base URLs (the form of `targets`).
    fn within(&self, list: &[String]) -> bool {
        list.iter().filter_map(|t| AllowedTarget::parse(t).ok()).any(|t| {
            t.scheme == self.scheme && t.host.eq_ignore_ascii_case(self.host) && t.port == self.port && path_within(self.path, &t.path)
        })
    }
}

/// `localhost`, `127.0.0.0/8` or `::1`: this machine, by name, without asking a resolver.
/// Other spellings of loopback (`2130706433`, `0x7f.1`, `localhost.`) are not loopback
/// here, so they need a policy entry (the check fails closed).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        || host.parse::<std::net::Ipv6Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// A `registries` entry or a registry's name: `(host, port)`, the port 443 when none.
fn registry_name(text: &str) -> Option<(String, u16)> {
    let t = AllowedTarget::parse(&format!("https://{text}")).ok()?;
    (t.path.is_empty() && !text.contains('/') && !text.contains('@')).then(|| (t.host.to_ascii_lowercase(), t.port))
}

fn list(l: &[String]) -> String {
    format!("[{}]", l.join(", "))
}

impl Policy {
    /// Every destination key parses.
    pub(super) fn validate_destinations(&self) -> Result<(), PolicyError> {
        for (key, entries) in [("probes", &self.probes), ("exporters", &self.exporters)] {
            for e in entries {
                AllowedTarget::parse(e).map_err(|e| PolicyError(format!("policy {key}: {e}")))?;
            }
        }
        for r in &self.registries {
            if registry_name(r).is_none() {
                return Err(PolicyError(format!("policy registries: '{r}' must be HOST or HOST:PORT, e.g. ghcr.io or 127.0.0.1:5000")));
            }
        }
        for h in &self.registry_redirect_hosts {
            if h.is_empty() || h.contains(['/', '@', ':']) && !h.starts_with('[') {
                return Err(PolicyError(format!("policy registry_redirect_hosts: '{h}' must be a host name, e.g. cdn.example.com")));
            }
        }
        Ok(())
    }

    /// `--server-metrics`: on the target's host (any port: Triton serves its metrics on
    /// 8002 beside 8000), or at or below a `probes` entry.
    pub fn check_probe(&self, probe: &Endpoint, target_host: &str) -> Result<(), Refusal> {
        if probe.web() && probe.host.eq_ignore_ascii_case(target_host) || probe.within(&self.probes) {
            return Ok(());
        }
        Err(refuse(
            "probes",
            list(&self.probes),
            format!(
                "--server-metrics {} is not on the target's host ({}) nor under one of them",
                probe.shown(),
                printable(target_host, 100)
            ),
        ))
    }

    /// An OTLP endpoint: on loopback (a collector beside Volley, the OpenTelemetry
    /// default), or at or below an `exporters` entry.
    pub fn check_export(&self, endpoint: &Endpoint) -> Result<(), Refusal> {
        if endpoint.web() && is_loopback_host(endpoint.host) || endpoint.within(&self.exporters) {
            return Ok(());
        }
        Err(refuse(
            "exporters",
            list(&self.exporters),
            format!("the OTLP endpoint {} is not on loopback nor under one of them", endpoint.shown()),
        ))
    }

    /// A registry to push to or pull from (`host[:port]`, as a reference names it).
    pub fn check_registry(&self, registry: &str) -> Result<(), Refusal> {
        if self.registries.is_empty() {
            return Ok(());
        }
        let name = registry_name(registry);
        if name.is_some() && self.registries.iter().any(|r| registry_name(r) == name) {
            return Ok(());
        }
        Err(refuse("registries", list(&self.registries), format!("registry {} is not one of them", printable(registry, 100))))
    }

    /// The token realm a registry announces. On the registry's own origin it is the
    /// registry; on another origin it must be https (plain http only when the registry and
    /// the realm are both on loopback, a registry under test on this machine) and, when
    /// `registries` is set, listed there too: the realm is given the registry's credentials.
    pub fn check_token_realm(&self, realm: &Endpoint, registry: &Endpoint) -> Result<(), Refusal> {
        if realm.same_origin(registry) {
            return Ok(());
        }
        let secure = realm.scheme == "https" || realm.scheme == "http" && is_loopback_host(realm.host) && is_loopback_host(registry.host);
        if !secure {
            return Err(refuse(
                "registries",
                list(&self.registries),
                format!(
                    "token realm {} of registry {} is on another origin and not https; credentials are not sent there",
                    realm.shown(),
                    registry.origin()
                ),
            ));
        }
        let listed = self.registries.is_empty()
            || self.registries.iter().any(|r| registry_name(r).is_some_and(|(h, p)| h.eq_ignore_ascii_case(realm.host) && p == realm.port));
        if !listed {
            return Err(refuse(
                "registries",
                list(&self.registries),
                format!("token realm {} of registry {} is not one of them", realm.shown(), registry.origin()),
            ));
        }
        Ok(())
    }

    /// Where a registry sends the client (`what`: an upload location, a blob redirect):
    /// its own origin, or https to a host in `registry_redirect_hosts`. Only the registry's
    /// own origin is given its credentials.
    pub fn check_registry_hop(&self, hop: &Endpoint, registry: &Endpoint, what: &str) -> Result<(), Refusal> {
        if hop.same_origin(registry)
            || hop.scheme == "https"
                && self.registry_redirect_hosts.iter().any(|h| h.trim_matches(['[', ']']).eq_ignore_ascii_case(hop.host))
        {
            return Ok(());
        }
        Err(refuse(
            "registry_redirect_hosts",
            list(&self.registry_redirect_hosts),
            format!("{what} {} is not the registry's origin ({}) nor an https host among them", hop.shown(), registry.origin()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at<'a>(scheme: &'a str, host: &'a str, port: u16, path: &'a str) -> Endpoint<'a> {
        Endpoint { scheme, host, port, path }
    }

    #[test]
    fn probes_stay_on_the_target_host_unless_listed() {
        let p = Policy::default();
        p.check_probe(&at("http", "127.0.0.1", 8002, "/metrics"), "127.0.0.1").unwrap();
        p.check_probe(&at("https", "gpu-box", 9400, "/metrics"), "GPU-box").unwrap();
        let r = p.check_probe(&at("http", "10.0.0.9", 9400, "/metrics"), "127.0.0.1").unwrap_err();
        assert_eq!(r.limit, "probes");
        assert!(r.to_string().contains("--server-metrics http://10.0.0.9:9400/metrics"), "{r}");
        let p = Policy::from_toml("probes = [\"http://dcgm.svc:9400/metrics\"]").unwrap();
        p.check_probe(&at("http", "dcgm.svc", 9400, "/metrics"), "vllm.svc").unwrap();
        assert!(p.check_probe(&at("http", "dcgm.svc", 9400, "/other"), "vllm.svc").is_err());
        assert!(p.check_probe(&at("http", "dcgm.svc", 9401, "/metrics"), "vllm.svc").is_err());
    }

    #[test]
    fn exporters_are_loopback_unless_listed() {
        let p = Policy::default();
        for host in ["127.0.0.1", "127.3.2.1", "localhost", "LOCALHOST", "::1"] {
            p.check_export(&at("http", host, 4318, "/v1/metrics")).unwrap();
        }
        for host in ["10.0.0.1", "2130706433", "localhost.", "localhost.evil.example", "0.0.0.0", "::ffff:127.0.0.1"] {
            assert_eq!(p.check_export(&at("http", host, 4318, "/v1/metrics")).unwrap_err().limit, "exporters", "{host}");
        }
        let p = Policy::from_toml("exporters = [\"https://otel.example:4318\"]").unwrap();
        p.check_export(&at("https", "otel.example", 4318, "/v1/traces")).unwrap();
        assert!(p.check_export(&at("http", "otel.example", 4318, "/v1/traces")).is_err());
    }

    #[test]
    fn registries_realms_and_hops() {
        let open = Policy::default();
        open.check_registry("anything.example:5000").unwrap();
        let p = Policy::from_toml("registries = [\"ghcr.io\", \"127.0.0.1:5000\", \"auth.example\"]").unwrap();
        p.check_registry("GHCR.io").unwrap();
        p.check_registry("ghcr.io:443").unwrap();
        p.check_registry("127.0.0.1:5000").unwrap();
        assert_eq!(p.check_registry("127.0.0.1:5001").unwrap_err().limit, "registries");
        assert!(Policy::from_toml("registries = [\"https://x/y\"]").is_err());

        let reg = at("https", "ghcr.io", 443, "");
        p.check_token_realm(&at("https", "ghcr.io", 443, "/token"), &reg).unwrap();
        p.check_token_realm(&at("https", "auth.example", 443, "/token"), &reg).unwrap();
        assert!(p.check_token_realm(&at("https", "harvest.example", 443, "/token"), &reg).is_err());
        open.check_token_realm(&at("https", "harvest.example", 443, "/token"), &reg).unwrap();
        let plain = open.check_token_realm(&at("http", "auth.example", 80, "/token"), &reg).unwrap_err();
        assert!(plain.to_string().contains("not https"), "{plain}");
        // Plain http only between two loopback origins.
        let local = at("https", "127.0.0.1", 5000, "");
        open.check_token_realm(&at("http", "127.0.0.1", 5001, "/token"), &local).unwrap();
        assert!(open.check_token_realm(&at("http", "127.0.0.1", 5001, "/token"), &reg).is_err());

        let p = Policy::from_toml("registry_redirect_hosts = [\"cdn.example\"]").unwrap();
        p.check_registry_hop(&at("https", "ghcr.io", 443, "/v2/x/blobs/uploads/1"), &reg, "upload location").unwrap();
        p.check_registry_hop(&at("https", "cdn.example", 443, "/b"), &reg, "blob redirect").unwrap();
        for hop in [at("http", "cdn.example", 80, "/b"), at("https", "evil.example", 443, "/b"), at("http", "ghcr.io", 443, "/b")] {
            let r = p.check_registry_hop(&hop, &reg, "upload location").unwrap_err();
            assert_eq!(r.limit, "registry_redirect_hosts");
            assert!(r.to_string().contains("upload location") && r.to_string().contains("https://ghcr.io:443"), "{r}");
        }
        assert!(Policy::from_toml("registry_redirect_hosts = [\"a@b\"]").is_err());
    }
}
