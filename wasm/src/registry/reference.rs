//! OCI references: `[oci://]HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST]`.

use crate::WasmError;

macro_rules! bail {
    ($($t:tt)*) => { return Err(WasmError::Source(format!($($t)*))) };
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`.
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    /// A manifest digest, `sha256:<hex>`.
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, WasmError> {
        let shown = volley_core::text::printable(text, 200);
        let rest = text.strip_prefix("oci://").unwrap_or(text);
        if rest.contains("://") {
            bail!("'{shown}' is not an OCI reference: use oci://HOST:PORT/REPOSITORY:TAG");
        }
        let Some((registry, path)) = rest.split_once('/') else {
            bail!("'{shown}' has no repository: use oci://HOST:PORT/REPOSITORY:TAG");
        };
        if registry.is_empty() || path.is_empty() {
            bail!("'{shown}' is not an OCI reference: use oci://HOST:PORT/REPOSITORY:TAG");
        }
        if !valid_registry(registry) {
            let registry = volley_core::text::printable(registry, 100);
            bail!("'{shown}': registry '{registry}' must be HOST or HOST:PORT (letters, digits, '.', '-', or [IPv6])");
        }
        let (path, digest) = match path.split_once('@') {
            Some((p, d)) => (p, Some(d.to_string())),
            None => (path, None),
        };
        if let Some(d) = &digest
            && !is_sha256(d)
        {
            bail!("'{shown}': the digest must look like sha256:<64 hex digits>");
        }
        // A tag follows the last ':' after the last '/'.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_string())),
            _ => (path, None),
        };
        let repo_ok = !repository.is_empty() && repository.len() <= 255 && repository.split('/').all(path_component);
        if !repo_ok {
            let repository = volley_core::text::printable(repository, 100);
            bail!("'{shown}': repository '{repository}' must be lowercase letters and digits, separated by '.', '_', '__', '-' or '/'");
        }
        if let Some(t) = &tag
            && (t.is_empty()
                || t.len() > 128
                || t.starts_with(['.', '-'])
                || !t.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            let t = volley_core::text::printable(t, 130);
            bail!("'{shown}': tag '{t}' must be letters, digits, '.', '_' and '-' (not first)");
        }
        Ok(Reference { registry: registry.to_string(), repository: repository.to_string(), tag, digest })
    }

    /// What to ask the registry for: the digest when pinned, else the tag, else `latest`.
    pub fn manifest_ref(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// The repository's API root on the registry at `origin` (`https://host[:port]`,
    /// as the client chose it).
    pub fn api_url(&self, origin: &str) -> String {
        format!("{origin}/v2/{}", self.repository)
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The distribution spec's path component, `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`: never
/// `.` or `..`.
fn path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    if !b.first().is_some_and(|&x| alnum(x)) || !b.last().is_some_and(|&x| alnum(x)) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: one '.', one or two '_', or any number of '-'.
        let run = b[i..].iter().take_while(|&&x| x == b[i]).count();
        let ok = match b[i] {
            b'.' => run == 1,
            b'_' => run <= 2,
            b'-' => true,
            _ => false,
        };
        if !ok {
            return false;
        }
        i += run;
    }
    true
}

/// `host[:port]`, where host is a DNS name, an IPv4 address or a bracketed IPv6 one:
/// nothing (`@`, `#`, `?`, `%`) that would make the URL built from it name another host.
fn valid_registry(registry: &str) -> bool {
    let dns = |host: &str| {
        !host.is_empty()
            && host.len() <= 253
            && host
                .split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
    };
    // After the host: nothing, or ':' and a port number.
    let port_ok = |rest: &str| match rest.strip_prefix(':') {
        None => rest.is_empty(),
        Some(p) => p.len() <= 5 && p.bytes().all(|c| c.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0),
    };
    match registry.strip_prefix('[') {
        Some(v6) => v6.split_once(']').is_some_and(|(addr, rest)| addr.parse::<std::net::Ipv6Addr>().is_ok() && port_ok(rest)),
        None => {
            let host_end = registry.find(':').unwrap_or(registry.len());
            dns(&registry[..host_end]) && port_ok(&registry[host_end..])
        }
    }
}

pub fn is_sha256(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_digests_and_ports() {
        let r = Reference::parse("oci://127.0.0.1:5000/volley/chat:0.1.0").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()), ("127.0.0.1:5000", "volley/chat", Some("0.1.0")));
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("127.0.0.1:5000/chat@{d}")).unwrap();
        assert_eq!((r.tag, r.digest.as_deref()), (None, Some(d.as_str())));
        assert_eq!(Reference::parse("localhost/x").unwrap().manifest_ref(), "latest");
    }

    #[test]
    fn refuses_malformed_references() {
        for bad in [
            "oci://host",
            "https://h/x",
            "h/UPPER",
            "h/x@sha256:12",
            "h/x:",
            "h//x",
            "a@b/x",
            "h:0/x",
            "h:99999/x",
            "[::1/x",
            "h/..",
            "h/a/./b",
            "h/a..b",
            "h/-a",
            "h/x:.t",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
