//! The egress gate: every destination Volley talks to — the target, its model list, Triton's
//! statistics and launch readiness, `--server-metrics`, OTLP endpoints, registries, their
//! token realms and every upload location or redirect they answer with — is parsed once
//! into a [`Destination`] and checked against the operator's [`Policy`] by
//! [`Egress::target`] or [`Egress::check`] before the first byte. What the check returns, a [`Checked`], is the
//! only thing Volley's network clients accept ([`crate::http`], [`Checked::connect`] and
//! [`Checked::reach`] for the target, the OTLP exporter, the registry client), and only
//! this module can make one.
//!
//! Parsing refuses rather than resolves: a dot segment (`.`, `..`, also percent-encoded as
//! `%2e`, `%2E` or mixed, also before a `;` parameter), an encoded slash or backslash
//! (`%2f`, `%5c`) or an encoded percent (`%25`, which a second decoding would turn into
//! one of those) in the path, an empty segment, user info, a fragment, a backslash or a
//! control character is one line of error, so a prefix check on the path means what it
//! says whatever a proxy or server in front of the destination normalises. The policy's
//! matching itself is pure and lives in `volley-core` (`Policy::check_target`, `check_probe`, `check_export`,
//! `check_registry`, `check_token_realm`, `check_registry_hop`).

use std::fmt;
use std::sync::Arc;

use volley_core::Policy;
use volley_core::policy::Endpoint;
use volley_core::text::printable;

use crate::NetError;

/// The schemes Volley speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
    /// KServe v2 over gRPC (plain HTTP/2).
    Grpc,
    /// KServe v2 over gRPC with TLS.
    Grpcs,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Grpc => "grpc",
            Scheme::Grpcs => "grpcs",
        }
    }

    /// Connections are TLS.
    pub fn tls(self) -> bool {
        matches!(self, Scheme::Https | Scheme::Grpcs)
    }

    fn default_port(self) -> u16 {
        if self.tls() { 443 } else { 80 }
    }

    fn parse(text: &str) -> Option<Scheme> {
        match text.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            "grpc" => Some(Scheme::Grpc),
            "grpcs" => Some(Scheme::Grpcs),
            _ => None,
        }
    }
}

/// A URL parsed once, normalised (scheme and host in lower case, the port explicit) and
/// free of anything that a normalising server or proxy could resolve elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    scheme: Scheme,
    /// Lower case; an IPv6 address without its brackets.
    host: String,
    port: u16,
    /// `""` or `/…`, as it goes on the wire (percent-encoding kept).
    path: String,
    query: Option<String>,
}

/// Why a URL is not a destination, in one line (the URL shown printable).
fn invalid(url: &str, why: impl fmt::Display) -> NetError {
    NetError::Destination(format!("'{}': {why}", printable(url, 200)))
}

impl Destination {
    /// Parses `scheme://host[:port][/path][?query]` (http, https, grpc, grpcs).
    pub fn parse(url: &str) -> Result<Destination, NetError> {
        if let Some(c) = url.chars().find(|c| c.is_control() || c.is_whitespace() || !c.is_ascii()) {
            return Err(invalid(url, format!("{} is not allowed in a URL", printable(&c.to_string(), 8))));
        }
        if url.contains('\\') {
            return Err(invalid(url, "a backslash is not allowed in a URL (some servers read it as '/')"));
        }
        if url.contains('#') {
            return Err(invalid(url, "a fragment ('#') is not allowed in a destination"));
        }
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid(url, "needs a scheme, e.g. http://"))?;
        let scheme = Scheme::parse(scheme)
            .ok_or_else(|| invalid(url, format!("unsupported scheme '{}' (http, https, grpc or grpcs)", printable(scheme, 20))))?;
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(invalid(url, "user info ('@') is not allowed: it hides which host is meant"));
        }
        let (host, port) = split_authority(authority).map_err(|why| invalid(url, why))?;
        let port = port.unwrap_or(scheme.default_port());
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (path_and_query, None),
        };
        check_path(path).map_err(|why| invalid(url, why))?;
        if let Some(q) = &query {
            check_query(q).map_err(|why| invalid(url, why))?;
        }
        // The HTTP stack must read it the same way.
        url.parse::<hyper::Uri>().map_err(|e| invalid(url, e))?;
        Ok(Destination { scheme, host, port, path: path.to_string(), query })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `""` or `/…`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The request target: the path (`/` when empty) and the query.
    pub fn path_and_query(&self) -> String {
        let path = if self.path.is_empty() { "/" } else { &self.path };
        match &self.query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        }
    }

    /// `host[:port]` for the `Host` header (the port left out when it is the scheme's).
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == self.scheme.default_port() { host } else { format!("{host}:{}", self.port) }
    }

    /// `scheme://host[:port]`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.authority())
    }

    /// Same scheme, host and port.
    pub fn same_origin(&self, other: &Destination) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    /// This destination's path followed by `more` (`/v1/models`, `/v2/models/m/stats`),
    /// parsed again: what is added is held to the same rules.
    pub fn join(&self, more: &str) -> Result<Destination, NetError> {
        if self.query.is_some() {
            return Err(invalid(&self.to_string(), "a URL with a query cannot be extended"));
        }
        if !more.is_empty() && !more.starts_with('/') {
            return Err(invalid(more, "a path must start with '/'"));
        }
        Destination::parse(&format!("{}{}{more}", self.origin(), self.path.trim_end_matches('/')))
    }

    /// The view the policy's pure checks take.
    pub fn endpoint(&self) -> Endpoint<'_> {
        Endpoint { scheme: self.scheme.as_str(), host: &self.host, port: self.port, path: &self.path }
    }

    /// A new path on this destination's origin (a `Location` a server answered with).
    pub fn resolve(&self, location: &str) -> Result<Destination, NetError> {
        if location.contains("://") {
            return Destination::parse(location);
        }
        if location.starts_with("//") {
            return Err(invalid(location, "a scheme-relative location is not followed"));
        }
        let sep = if location.starts_with('/') { "" } else { "/" };
        Destination::parse(&format!("{}{sep}{location}", self.origin()))
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin(), self.path)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

/// `host[:port]` → (lower-case host without brackets, port).
fn split_authority(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (addr, rest) = v6.split_once(']').ok_or("an IPv6 address needs its closing ']'")?;
            addr.parse::<std::net::Ipv6Addr>().map_err(|_| format!("'{}' is not an IPv6 address", printable(addr, 60)))?;
            let port = match rest {
                "" => None,
                r => Some(r.strip_prefix(':').ok_or("only ':PORT' may follow an IPv6 address")?),
            };
            (addr.to_ascii_lowercase(), port)
        }
        None => match authority.split_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        },
    };
    if !host.bytes().any(|b| b.is_ascii_alphanumeric()) {
        return Err("no host".into());
    }
    if !authority.starts_with('[') && !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_') {
        return Err(format!("host '{}' must be letters, digits, '.', '-' or '_'", printable(&host, 60)));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(format!("port '{}' must be a number from 1 to 65535", printable(p, 20))),
        },
    };
    Ok((host, port))
}

/// Every `%` starts a valid escape, and none encodes a slash, backslash, percent or
/// control character.
fn check_escapes(text: &str) -> Result<(), String> {
    let b = text.as_bytes();
    for (i, _) in text.match_indices('%') {
        let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            None => return Err("a '%' that starts no escape".into()),
            Some(b'/') => return Err("an encoded slash ('%2f') is not allowed: it would move the path's segments".into()),
            Some(b'\\') => return Err("an encoded backslash ('%5c') is not allowed".into()),
            Some(b'%') => return Err("an encoded percent ('%25') is not allowed: decoded twice it hides a dot or a slash".into()),
            Some(c) if c.is_ascii_control() => return Err("an encoded control character is not allowed".into()),
            Some(_) => {}
        }
    }
    Ok(())
}

/// A query is no part of any prefix check: encoded slashes and percents are its own
/// business there (a presigned blob URL's `X-Amz-Credential=…%2F…`); every `%` must still
/// start a valid escape.
fn check_query(query: &str) -> Result<(), String> {
    let b = query.as_bytes();
    let valid = |i: usize| b.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
    match query.match_indices('%').all(|(i, _)| valid(i)) {
        true => Ok(()),
        false => Err("a '%' in the query that starts no escape".into()),
    }
}

/// Decodes `%XX` escapes (already checked by [`check_escapes`]).
fn decode(segment: &str) -> String {
    let b = segment.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex =
            (b[i] == b'%').then(|| b.get(i + 1..i + 3)).flatten().and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match hex {
            Some(c) => {
                out.push(c);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A path that a prefix check can trust: empty or absolute, no dot segment (raw or
/// encoded, also before a `;` parameter), no empty segment but a trailing one.
fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    if !path.starts_with('/') {
        return Err("the path must start with '/'".into());
    }
    check_escapes(path)?;
    let segments: Vec<&str> = path[1..].split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() && i + 1 < segments.len() {
            return Err("an empty path segment ('//') is not allowed".into());
        }
        let decoded = decode(segment);
        let name = decoded.split(';').next().unwrap_or("");
        if name == "." || name == ".." {
            return Err(format!(
                "the path has a dot segment ('{}'), which could climb out of it; Volley refuses it rather than resolving it",
                printable(segment, 40)
            ));
        }
    }
    Ok(())
}

/// What a destination is for: which rule of the policy it is checked by.
#[derive(Debug, Clone, Copy)]
pub enum Kind<'a> {
    /// One of the target's own endpoints (the model list, Triton's statistics, the launch
    /// readiness path), named for the error: the target's origin, at or below its base path.
    OnTarget(&'static str),
    /// `--server-metrics` (`probes`): the target's host, or a listed base URL.
    Probe,
    /// A server hook (`--hook`): one of the policy's `targets`; without a `targets` list,
    /// the run's target's origin only.
    Hook,
    /// An OTLP endpoint (`exporters`): loopback, or a listed base URL.
    Export,
    /// A registry (`registries`): its origin, as the client chose the scheme.
    Registry,
    /// The token realm a registry announced (`registries`).
    TokenRealm(&'a Checked),
    /// Anywhere a registry sends the client besides its API (an upload location, a blob
    /// redirect: named for the error), `registry_redirect_hosts`.
    RegistryHop(&'a Checked, &'static str),
}

/// The gate: the operator's policy, and the run's target once it has been checked.
#[derive(Debug, Clone)]
pub struct Egress {
    policy: Arc<Policy>,
    target: Option<Destination>,
}

/// A destination the gate allowed: what the network clients take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    destination: Destination,
}

impl Checked {
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// Same scheme, host and port as `other`: e.g. whether a registry's credentials may
    /// go with a request.
    pub fn same_origin(&self, other: &Checked) -> bool {
        self.destination.same_origin(&other.destination)
    }
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.destination.fmt(f)
    }
}

impl Egress {
    pub fn new(policy: Arc<Policy>) -> Egress {
        Egress { policy, target: None }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The run's target (`targets`): once allowed, it is the target that
    /// [`Kind::OnTarget`] and [`Kind::Probe`] are judged by.
    pub fn target(&mut self, d: &Destination) -> Result<Checked, NetError> {
        let e = d.endpoint();
        self.policy.check_target(e.scheme, e.host, e.port, e.path)?;
        self.target = Some(d.clone());
        Ok(Checked { destination: d.clone() })
    }

    /// `path` on the run's target, [`Egress::check`]ed as [`Kind::OnTarget`] (`what` names
    /// it in a refusal): the model list, Triton statistics, a readiness path.
    pub fn on_target(&self, what: &'static str, path: &str) -> Result<Checked, NetError> {
        let t = self.target.as_ref().ok_or_else(|| NetError::Destination(format!("{what} {path}: no target was checked")))?;
        self.check(Kind::OnTarget(what), &t.join(path)?)
    }

    /// Parses `url` and [`Egress::check`]s it.
    pub fn check_url(&self, kind: Kind<'_>, url: &str) -> Result<Checked, NetError> {
        self.check(kind, &Destination::parse(url)?)
    }

    /// Whether the policy allows `d` for `kind`; one line naming the key and the value
    /// (or the rule) if not. Nothing has been sent to `d` either way.
    pub fn check(&self, kind: Kind<'_>, d: &Destination) -> Result<Checked, NetError> {
        let p = &self.policy;
        let e = d.endpoint();
        let web = matches!(d.scheme, Scheme::Http | Scheme::Https);
        if !web && !matches!(kind, Kind::OnTarget(_)) {
            return Err(NetError::Destination(format!("{d}: only http:// and https:// are spoken here")));
        }
        match kind {
            Kind::OnTarget(what) => {
                let t = self.target.as_ref().ok_or_else(|| NetError::Destination(format!("{what} {d}: no target was checked")))?;
                let under = d.path == t.path || t.path.is_empty() || d.path.strip_prefix(&t.path).is_some_and(|r| r.starts_with('/'));
                if !(d.same_origin(t) && under) {
                    return Err(NetError::Destination(format!("{what} {d} is not on the target ({t})")));
                }
            }
            Kind::Probe => p.check_probe(&e, self.target.as_ref().map_or("", |t| t.host.as_str()))?,
            Kind::Hook => {
                let t = self.target.as_ref().ok_or_else(|| NetError::Destination(format!("server hook {d}: no target was checked")))?;
                p.check_target(e.scheme, e.host, e.port, e.path)?;
                if p.targets.is_empty() && !d.same_origin(t) {
                    return Err(NetError::Destination(format!(
                        "server hook {d} is not on the target's origin ({}); a policy listing it in `targets` allows it",
                        t.origin()
                    )));
                }
            }
            Kind::Export => p.check_export(&e)?,
            Kind::Registry => p.check_registry(&d.authority())?,
            Kind::TokenRealm(registry) => p.check_token_realm(&e, &registry.destination.endpoint())?,
            Kind::RegistryHop(registry, what) => p.check_registry_hop(&e, &registry.destination.endpoint(), what)?,
        }
        Ok(Checked { destination: d.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> String {
        Destination::parse(url).unwrap_err().to_string()
    }

    #[test]
    fn parses_and_normalises() {
        let d = Destination::parse("HTTP://Example.COM/tenant-a/v1?x=1").unwrap();
        assert_eq!((d.scheme(), d.host(), d.port(), d.path(), d.query()), (Scheme::Http, "example.com", 80, "/tenant-a/v1", Some("x=1")));
        assert_eq!(d.to_string(), "http://example.com/tenant-a/v1?x=1");
        let d = Destination::parse("https://[::1]:8443").unwrap();
        assert_eq!((d.host(), d.port(), d.path_and_query().as_str(), d.authority().as_str()), ("::1", 8443, "/", "[::1]:8443"));
        assert_eq!(Destination::parse("https://h:443/").unwrap().origin(), "https://h");
        assert_eq!(Destination::parse("http://h/a/").unwrap().join("/v1/models").unwrap().path(), "/a/v1/models");
        // Three dots, or dots inside a segment, are names.
        Destination::parse("http://h/a.b/.../..x/x..").unwrap();
    }

    #[test]
    fn dot_segments_are_refused_in_every_spelling() {
        for bad in [
            "http://h/tenant-a/../tenant-b",
            "http://h/tenant-a/./x",
            "http://h/tenant-a/..",
            "http://h/tenant-a/%2e%2e/tenant-b",
            "http://h/tenant-a/%2E%2e/tenant-b",
            "http://h/tenant-a/.%2e/tenant-b",
            "http://h/tenant-a/%2E./tenant-b",
            "http://h/tenant-a/%2e/tenant-b",
            "http://h/tenant-a/..;/tenant-b",
            "http://h/tenant-a/..;x=1/tenant-b",
        ] {
            assert!(refused(bad).contains("dot segment"), "{bad}: {}", refused(bad));
        }
        assert!(refused("http://h/tenant-a%2f..%2ftenant-b").contains("encoded slash"));
        assert!(refused("http://h/tenant-a%2F..").contains("encoded slash"));
        assert!(refused("http://h/tenant-a/%252e%252e/x").contains("encoded percent"));
        assert!(refused("http://h/a%5c..").contains("backslash"));
        assert!(refused("http://h/a\\..\\b").contains("backslash"));
        assert!(refused("http://h/a//b").contains("empty path segment"));
        assert!(refused("http://h/a%2").contains("starts no escape"));
        assert!(refused("http://h/a%zz").contains("starts no escape"));
        assert!(refused("http://h/a?x=%zz").contains("starts no escape"));
        // A query is no part of a prefix: a presigned URL's encoded slashes are its own.
        let presigned = "https://cdn.example/blobs/data?X-Amz-Credential=AKIA%2F20240101%2Fus-east-1&X-Amz-Signature=ab%25cd";
        assert_eq!(Destination::parse(presigned).unwrap().path(), "/blobs/data");
    }

    #[test]
    fn hosts_and_schemes_are_what_they_look_like() {
        assert!(refused("http://user@evil.example/").contains("user info"));
        assert!(refused("http://good.example@evil.example/").contains("user info"));
        assert!(refused("http://h/#frag").contains("fragment"));
        assert!(refused("ftp://h/").contains("unsupported scheme 'ftp'"));
        assert!(refused("h:80/x").contains("needs a scheme"));
        assert!(refused("http://h:0/").contains("port"));
        assert!(refused("http://h:99999/").contains("port"));
        assert!(refused("http://h:/").contains("port"));
        assert!(refused("http://[::1/").contains("']'"));
        assert!(refused("http://h%2eexample/").contains("host"));
        assert!(refused("http:///x").contains("no host"));
        assert!(refused("http://h/a b").contains("not allowed"));
        assert!(refused("http://h/a\nb").contains("not allowed"));
        let e = refused("http://h/\u{1b}]52;c;x\u{7}");
        assert!(!e.contains('\u{1b}') && !e.contains('\n'), "{e:?}");
    }

    #[test]
    fn the_gate_checks_each_kind_by_its_key() {
        let policy = Policy::from_toml("targets = [\"http://api.example:8000/tenant-a\"]").unwrap();
        let mut g = Egress::new(Arc::new(policy));
        assert!(g.check_url(Kind::OnTarget("the model list"), "http://api.example:8000/tenant-a/v1/models").is_err(), "no target yet");
        let r = g.target(&Destination::parse("http://api.example:8000/tenant-b").unwrap()).unwrap_err();
        assert!(matches!(&r, NetError::Refused(r) if r.limit == "targets"), "{r}");
        g.target(&Destination::parse("http://api.example:8000/tenant-a").unwrap()).unwrap();
        g.check_url(Kind::OnTarget("the model list"), "http://api.example:8000/tenant-a/v1/models").unwrap();
        assert!(g.check_url(Kind::OnTarget("--triton-stats"), "http://api.example:8000/tenant-ab/v2").is_err());
        assert!(g.check_url(Kind::OnTarget("--triton-stats"), "http://api.example:8001/tenant-a/v2").is_err());
        g.check_url(Kind::Probe, "http://api.example:8002/metrics").unwrap();
        let r = g.check_url(Kind::Probe, "http://10.0.0.1:9400/metrics").unwrap_err().to_string();
        assert!(r.starts_with("refused by the policy (probes = [])"), "{r}");
        g.check_url(Kind::Export, "http://127.0.0.1:4318/v1/metrics").unwrap();
        assert!(g.check_url(Kind::Export, "http://api.example:4318/v1/metrics").unwrap_err().to_string().contains("exporters"));
        assert!(g.check_url(Kind::Export, "grpc://127.0.0.1:4317").is_err());

        let registry = g.check_url(Kind::Registry, "https://127.0.0.1:5000").unwrap();
        g.check_url(Kind::RegistryHop(&registry, "upload location"), "https://127.0.0.1:5000/v2/x/blobs/uploads/1").unwrap();
        let r = g.check_url(Kind::RegistryHop(&registry, "upload location"), "http://127.0.0.1:5001/upload").unwrap_err().to_string();
        assert!(r.contains("registry_redirect_hosts") && r.contains("upload location http://127.0.0.1:5001/upload"), "{r}");
        g.check_url(Kind::TokenRealm(&registry), "http://127.0.0.1:5001/token?scope=x").unwrap();
    }

    #[test]
    fn a_server_hook_goes_to_the_policy_s_targets_or_else_the_target_s_origin_only() {
        // A targets list: a hook goes where a target may, and nowhere else.
        let policy = Policy::from_toml("targets = [\"http://api.example:8000/tenant-a\", \"http://admin.example:9000\"]").unwrap();
        let mut g = Egress::new(Arc::new(policy));
        assert!(g.check_url(Kind::Hook, "http://api.example:8000/tenant-a/flush").is_err(), "no target yet");
        g.target(&Destination::parse("http://api.example:8000/tenant-a").unwrap()).unwrap();
        g.check_url(Kind::Hook, "http://api.example:8000/tenant-a/reset_prefix_cache").unwrap();
        g.check_url(Kind::Hook, "http://admin.example:9000/flush_cache").unwrap();
        let r = g.check_url(Kind::Hook, "http://api.example:8000/tenant-b/reset_prefix_cache").unwrap_err();
        assert!(matches!(&r, NetError::Refused(r) if r.limit == "targets"), "{r}");
        // None: the target's origin, at any path, and no other host or port.
        let mut g = Egress::new(Arc::new(Policy::default()));
        g.target(&Destination::parse("http://127.0.0.1:8080/v1").unwrap()).unwrap();
        g.check_url(Kind::Hook, "http://127.0.0.1:8080/slots/0?action=erase").unwrap();
        for elsewhere in ["http://127.0.0.1:8081/flush_cache", "http://10.0.0.1:8080/flush_cache", "https://127.0.0.1:8080/flush_cache"] {
            let r = g.check_url(Kind::Hook, elsewhere).unwrap_err().to_string();
            assert!(r.contains("is not on the target's origin (http://127.0.0.1:8080)"), "{r}");
        }
    }
}

#[cfg(test)]
mod fuzz;
