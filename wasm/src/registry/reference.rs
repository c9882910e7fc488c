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
        let rest = text.strip_prefix("oci://").unwrap_or(text);
        if rest.contains("://") {
            bail!("'{text}' is not an OCI reference: use oci://HOST:PORT/REPOSITORY:TAG");
        }
        let Some((registry, path)) = rest.split_once('/') else {
            bail!("'{text}' has no repository: use oci://HOST:PORT/REPOSITORY:TAG");
        };
        if registry.is_empty() || path.is_empty() {
            bail!("'{text}' is not an OCI reference: use oci://HOST:PORT/REPOSITORY:TAG");
        }
        let (path, digest) = match path.split_once('@') {
            Some((p, d)) => (p, Some(d.to_string())),
            None => (path, None),
        };
        if let Some(d) = &digest
            && !is_sha256(d)
        {
            bail!("'{text}': the digest must look like sha256:<64 hex digits>");
        }
        // A tag follows the last ':' after the last '/'.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_string())),
            _ => (path, None),
        };
        let repo_ok = !repository.is_empty()
            && repository.split('/').all(|c| {
                !c.is_empty() && c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
            });
        if !repo_ok {
            bail!("'{text}': repository '{repository}' must be lowercase letters, digits, '.', '_', '-' and '/'");
        }
        if let Some(t) = &tag
            && (t.is_empty() || t.len() > 128 || !t.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            bail!("'{text}': tag '{t}' must be letters, digits, '.', '_' and '-'");
        }
        Ok(Reference { registry: registry.to_string(), repository: repository.to_string(), tag, digest })
    }

    /// What to ask the registry for: the digest when pinned, else the tag, else `latest`.
    pub fn manifest_ref(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v2/{}", self.registry, self.repository)
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
        for bad in ["oci://host", "https://h/x", "h/UPPER", "h/x@sha256:12", "h/x:", "h//x"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
