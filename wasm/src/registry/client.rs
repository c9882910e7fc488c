//! One registry's HTTP client: https (plain http only for a loopback registry that does
//! not speak TLS, as Docker treats localhost, or one the operator lists in
//! `VOLLEY_INSECURE_REGISTRIES`), and the distribution spec's authentication: a 401 with
//! `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is answered by asking the realm
//! for a token (with the credentials, if any) and sending again with it; a 401 with
//! `Basic` by sending the credentials.
//!
//! Every URL it touches goes through the egress gate first: the registry itself
//! (`registries`), its token realm, and every upload location or redirect it answers with
//! (`registry_redirect_hosts`). Credentials come from the operator only —
//! `VOLLEY_REGISTRY_USER`/`VOLLEY_REGISTRY_PASSWORD` for the registry `VOLLEY_REGISTRY`
//! names, else a Docker `config.json` (`$DOCKER_CONFIG/config.json` or
//! `~/.docker/config.json`, `auths.<registry>.auth`) — never from a scenario, and are bound
//! to their registry: sent only to its origin and to the token realm it announces (when
//! the gate allows that realm); the token, and every other hop, get none.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use base64::Engine;
use bytes::Bytes;
use hyper::Method;
use volley_core::Policy;
use volley_core::text::printable;
use volley_net::http::{Response, request_limited};
use volley_net::{Checked, Destination, Egress, Kind};

const TIMEOUT: Duration = Duration::from_secs(120);
/// Largest token answer read.
const MAX_TOKEN_ANSWER: usize = 1 << 20;

/// User name and password for one registry.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub user: String,
    pub password: String,
}

/// Whether two registry names (`host[:port]`, or an `https://` form of one) are the same
/// registry: host (any case) and port, 443 when none is written.
pub(crate) fn same_registry(a: &str, b: &str) -> bool {
    let name = |r: &str| {
        let r = r.trim().trim_end_matches('/');
        let r = r.strip_prefix("https://").or_else(|| r.strip_prefix("http://")).unwrap_or(r);
        Destination::parse(&format!("https://{r}")).ok().filter(|d| d.path().is_empty() && d.query().is_none())
    };
    matches!((name(a), name(b)), (Some(a), Some(b)) if a.host() == b.host() && a.port() == b.port())
}

/// Why `VOLLEY_REGISTRY_USER`'s credentials are not for `registry`, if they are set.
fn env_credentials_elsewhere(registry: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    env("VOLLEY_REGISTRY_USER")?;
    Some(match env("VOLLEY_REGISTRY") {
        None => "VOLLEY_REGISTRY_USER is set, but VOLLEY_REGISTRY does not name the registry it is for, so it is sent to none".into(),
        Some(r) if !same_registry(&r, registry) => {
            format!("VOLLEY_REGISTRY_USER is for registry {}, not {}", printable(&r, 100), printable(registry, 100))
        }
        Some(_) => return None,
    })
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.user)
    }
}

impl Credentials {
    /// The operator's credentials for `registry` (`host[:port]`), if any:
    /// `VOLLEY_REGISTRY_USER`/`VOLLEY_REGISTRY_PASSWORD` when `VOLLEY_REGISTRY` names this
    /// registry, else the Docker config's entry for it.
    pub fn for_registry(registry: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Credentials>> {
        if let Some(user) = env("VOLLEY_REGISTRY_USER")
            && env("VOLLEY_REGISTRY").is_some_and(|r| same_registry(&r, registry))
        {
            let password = env("VOLLEY_REGISTRY_PASSWORD")
                .ok_or_else(|| anyhow!("VOLLEY_REGISTRY_USER is set but VOLLEY_REGISTRY_PASSWORD is not"))?;
            return Ok(Some(Credentials { user, password }));
        }
        let dir =
            env("DOCKER_CONFIG").map(std::path::PathBuf::from).or_else(|| env("HOME").map(|h| std::path::Path::new(&h).join(".docker")));
        let Some(path) = dir.map(|d| d.join("config.json")) else { return Ok(None) };
        // Through the one reader for foreign files: a regular file of at most 1 MiB (a FIFO
        // or a device is refused without blocking). No file, or none readable: no credentials.
        let text = match volley_core::foreign_file::read_text(&path, volley_core::foreign_file::Kind::DOCKER_CONFIG) {
            Ok(text) => text,
            Err(volley_core::foreign_file::ForeignFileError::Io { .. }) => return Ok(None),
            Err(e) => return Err(anyhow!(e)),
        };
        let config: serde_json::Value = serde_json::from_str(&text).map_err(|e| anyhow!("{} is not JSON: {e}", path.display()))?;
        let auths = config.get("auths").and_then(|a| a.as_object());
        let entry = auths.and_then(|a| {
            a.iter().find(|(k, _)| {
                let k = k.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
                k.eq_ignore_ascii_case(registry)
            })
        });
        let Some(auth) = entry.and_then(|(_, v)| v.get("auth")).and_then(|a| a.as_str()) else { return Ok(None) };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| anyhow!("{}: the auth of {registry} is not base64", path.display()))?;
        let text = String::from_utf8(decoded).map_err(|_| anyhow!("{}: the auth of {registry} is not text", path.display()))?;
        let (user, password) =
            text.split_once(':').ok_or_else(|| anyhow!("{}: the auth of {registry} is not user:password", path.display()))?;
        Ok(Some(Credentials { user: user.to_string(), password: password.to_string() }))
    }

    fn basic(&self) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.user, self.password)))
    }
}

/// A registry, its scheme chosen and checked by the egress gate, and its authorization,
/// once obtained, kept (and sent to its origin only).
pub(crate) struct Client {
    /// `https://host[:port]` (or `http://`).
    pub origin: String,
    /// The same, checked: what every hop is judged against.
    registry: Checked,
    egress: Egress,
    /// `host[:port]`, as the reference names it.
    name: String,
    creds: Option<Credentials>,
    /// Why the environment's credentials are not this registry's, if they are set.
    creds_elsewhere: Option<String>,
    /// The `Authorization` that worked.
    auth: Option<String>,
}

fn is_loopback(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(h, p)| if p.bytes().all(|b| b.is_ascii_digit()) { h } else { registry });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Client {
    /// A client of `registry` (`host[:port]`) within `policy`, with the operator's
    /// credentials for it. The registry is checked (`registries`) before anything is sent.
    pub async fn connect(registry: &str, policy: &Policy) -> Result<Client> {
        let egress = Egress::new(std::sync::Arc::new(policy.clone()));
        let env = |k: &str| std::env::var(k).ok();
        let at = |scheme: &str| egress.check_url(Kind::Registry, &format!("{scheme}://{registry}"));
        let https = at("https")?;
        let creds = Credentials::for_registry(registry, &env)?;
        let creds_elsewhere = env_credentials_elsewhere(registry, &env);
        let insecure =
            env("VOLLEY_INSECURE_REGISTRIES").is_some_and(|list| list.split(',').any(|r| r.trim().eq_ignore_ascii_case(registry)));
        let chosen = if insecure {
            at("http")?
        } else if is_loopback(registry) {
            // As Docker does for localhost: https if it answers TLS, else plain http.
            let probe = egress.check(Kind::RegistryHop(&https, "registry request"), &https.destination().join("/v2/")?)?;
            match request_limited(Method::GET, &probe, &[], Bytes::new(), Duration::from_secs(10), 4096).await {
                Ok(_) => https,
                // It speaks TLS, but its certificate is not good: that is the answer.
                Err(volley_net::NetError::Tls(e)) if e.contains("certificate") => bail!("registry {registry}: {e}"),
                Err(_) => at("http")?,
            }
        } else {
            https
        };
        Ok(Client {
            origin: chosen.destination().origin(),
            registry: chosen,
            egress,
            name: registry.to_string(),
            creds,
            creds_elsewhere,
            auth: None,
        })
    }

    /// `url` on the registry's API (its own origin), checked.
    pub fn api(&self, url: &str) -> Result<Checked> {
        Ok(self.egress.check_url(Kind::RegistryHop(&self.registry, "registry request"), url)?)
    }

    /// Where the registry sent the client (`what`: an upload location, a blob redirect),
    /// resolved against `from` (absolute, or a path on `from`'s origin) and checked:
    /// its own origin, or an https host of `registry_redirect_hosts`.
    pub fn hop(&self, from: &Checked, location: &str, what: &'static str) -> Result<Checked> {
        let d = from.destination().resolve(location)?;
        Ok(self.egress.check(Kind::RegistryHop(&self.registry, what), &d)?)
    }

    /// One request; on the registry's origin, a 401 is answered once by the auth flow its
    /// `WWW-Authenticate` asks for. Off its origin, no authorization is sent at all.
    /// `scope` is the token scope (e.g. `repository:volley/x:pull`).
    pub async fn call(
        &mut self,
        method: Method,
        to: &Checked,
        headers: &[(&str, &str)],
        body: Bytes,
        max_body: usize,
        scope: &str,
    ) -> Result<Response> {
        let resp = self.send(method.clone(), to, headers, body.clone(), max_body).await?;
        if resp.status != 401 {
            return Ok(resp);
        }
        if !to.same_origin(&self.registry) {
            bail!(
                "{} answered HTTP 401; registry {}'s credentials are sent only to its origin ({})",
                printable(&to.destination().origin(), 100),
                self.name,
                self.origin
            );
        }
        let challenge = resp.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        self.auth = Some(self.authorize(&challenge, scope).await?);
        let resp = self.send(method, to, headers, body, max_body).await?;
        if resp.status == 401 {
            let who = self.creds.as_ref().map_or("anonymous access".to_string(), |c| format!("the credentials of user '{}'", c.user));
            bail!("registry {} refused {who} (HTTP 401)", self.name);
        }
        Ok(resp)
    }

    /// The authorization goes with requests to the registry's own origin only.
    async fn send(&self, method: Method, to: &Checked, headers: &[(&str, &str)], body: Bytes, max_body: usize) -> Result<Response> {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(a) = &self.auth
            && to.same_origin(&self.registry)
        {
            all.push(("authorization", a.as_str()));
        }
        Ok(request_limited(method, to, &all, body, TIMEOUT, max_body.max(4096)).await?)
    }

    /// The `Authorization` a challenge asks for.
    async fn authorize(&self, challenge: &str, scope: &str) -> Result<String> {
        let (kind, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        if kind.eq_ignore_ascii_case("basic") {
            let creds = self.creds.as_ref().ok_or_else(|| self.needs_credentials())?;
            return Ok(creds.basic());
        }
        if !kind.eq_ignore_ascii_case("bearer") {
            bail!(
                "registry {} asks for '{}' authentication, which Volley does not speak (Bearer or Basic)",
                self.name,
                volley_core::text::printable(kind, 40)
            );
        }
        let params = challenge_params(params);
        let get = |k: &str| params.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.as_str());
        let realm = get("realm").ok_or_else(|| anyhow!("registry {} asks for a token without naming its realm", self.name))?;
        let mut url = realm.to_string();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        for (k, v) in [("service", get("service")), ("scope", get("scope").or(Some(scope)))] {
            if let Some(v) = v {
                url.push(sep);
                url.push_str(&format!("{k}={}", encode_query(v)));
                sep = '&';
            }
        }
        // The realm is checked (https on another origin, `registries`) before the
        // credentials go there.
        let realm = self.egress.check_url(Kind::TokenRealm(&self.registry), &url).map_err(|e| anyhow!("registry {}: {e}", self.name))?;
        let basic = self.creds.as_ref().map(Credentials::basic);
        let headers: Vec<(&str, &str)> = basic.iter().map(|b| ("authorization", b.as_str())).collect();
        let resp = request_limited(Method::GET, &realm, &headers, Bytes::new(), TIMEOUT, MAX_TOKEN_ANSWER).await?;
        if resp.status == 401 || resp.status == 403 {
            return Err(match &self.creds {
                Some(c) => {
                    anyhow!("registry {}'s token service refused the credentials of user '{}' (HTTP {})", self.name, c.user, resp.status)
                }
                None => self.needs_credentials(),
            });
        }
        if resp.status != 200 {
            bail!("registry {}'s token service answered HTTP {}", self.name, resp.status);
        }
        let v: serde_json::Value =
            serde_json::from_slice(&resp.body).map_err(|e| anyhow!("registry {}'s token service sent no JSON: {e}", self.name))?;
        let token = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| anyhow!("registry {}'s token service sent no token", self.name))?;
        if token.len() > 64 << 10 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            bail!("registry {}'s token service sent a token that cannot be a header", self.name);
        }
        Ok(format!("Bearer {token}"))
    }

    fn needs_credentials(&self) -> anyhow::Error {
        match &self.creds_elsewhere {
            Some(why) => anyhow!("registry {} needs credentials, and has none: {why}", self.name),
            None => anyhow!(
                "registry {} needs credentials: set VOLLEY_REGISTRY={0} with VOLLEY_REGISTRY_USER and VOLLEY_REGISTRY_PASSWORD, or log in (docker login writes ~/.docker/config.json)",
                self.name
            ),
        }
    }
}

/// `key="value", key=value` pairs of a challenge.
fn challenge_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { break };
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((key, value));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

fn encode_query(v: &str) -> String {
    v.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~:/".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let p = challenge_params(r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#);
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a/b:pull,push".into()));
        assert_eq!(encode_query("repository:a/b:pull,push"), "repository:a/b:pull%2Cpush");
    }

    #[test]
    fn credentials_from_env_or_docker_config() {
        let dir = std::env::temp_dir().join(format!("volley-docker-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        std::fs::write(dir.join("config.json"), format!(r#"{{"auths":{{"https://127.0.0.1:5443":{{"auth":"{auth}"}}}}}}"#)).unwrap();
        let d = dir.display().to_string();
        let env = |k: &str| (k == "DOCKER_CONFIG").then(|| d.clone());
        let c = Credentials::for_registry("127.0.0.1:5443", &env).unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("alice", "s3cret"));
        assert!(Credentials::for_registry("other:5000", &env).unwrap().is_none());
        let env = |k: &str| match k {
            "VOLLEY_REGISTRY_USER" => Some("bob".to_string()),
            "VOLLEY_REGISTRY" => Some("x".to_string()),
            _ => None,
        };
        assert!(Credentials::for_registry("x", &env).unwrap_err().to_string().contains("VOLLEY_REGISTRY_PASSWORD"));
        assert!(!format!("{c:?}").contains("s3cret"));
        std::fs::remove_dir_all(dir).unwrap();
        assert!(is_loopback("127.0.0.1:5000") && is_loopback("localhost") && is_loopback("[::1]:5000") && !is_loopback("r.example:5000"));
    }

    #[test]
    fn environment_credentials_belong_to_the_registry_volley_registry_names() {
        let env = |registry: Option<&'static str>| {
            move |k: &str| match k {
                "VOLLEY_REGISTRY_USER" => Some("alice".to_string()),
                "VOLLEY_REGISTRY_PASSWORD" => Some("s3cret".to_string()),
                "VOLLEY_REGISTRY" => registry.map(str::to_string),
                "DOCKER_CONFIG" => Some("/nonexistent".to_string()),
                _ => None,
            }
        };
        let mine = env(Some("Registry.example:5000"));
        assert_eq!(Credentials::for_registry("registry.example:5000", &mine).unwrap().unwrap().user, "alice");
        assert!(env_credentials_elsewhere("registry.example:5000", &mine).is_none());
        // Another registry, or none named: the credentials go nowhere, and the reason is one line.
        assert!(Credentials::for_registry("evil.example:5000", &mine).unwrap().is_none());
        let why = env_credentials_elsewhere("evil.example:5000", &mine).unwrap();
        assert!(why.contains("for registry Registry.example:5000, not evil.example:5000"), "{why}");
        let unnamed = env(None);
        assert!(Credentials::for_registry("registry.example:5000", &unnamed).unwrap().is_none());
        assert!(env_credentials_elsewhere("registry.example:5000", &unnamed).unwrap().contains("VOLLEY_REGISTRY does not name"));
        // The same registry in other spellings; a port is a different registry.
        assert!(same_registry("ghcr.io", "GHCR.IO:443") && same_registry("https://ghcr.io/", "ghcr.io"));
        assert!(!same_registry("ghcr.io", "ghcr.io:5000") && !same_registry("ghcr.io", "ghcr.io.evil.example"));
        assert!(!same_registry("user@ghcr.io", "ghcr.io") && !same_registry("ghcr.io/x", "ghcr.io"));
    }
}
