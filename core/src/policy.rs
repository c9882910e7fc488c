//! The operator's policy: what a run may do, whatever its scenario asks. A scenario
//! package may come from anyone; the policy bounds where traffic goes (`targets`, and
//! every other destination: `probes`, `exporters`, `registries`, in `destinations`), how
//! much of it (rates, concurrency, bursts, requests, stages, durations), what a request
//! may carry (body, headers, names, tags), and what the sandbox and supply chain allow
//! (guest memory and time, tokenizer input, package and component sizes, the compile
//! cache, registry redirects).
//!
//! The built-in default is safe without any flag: every limit is finite. An operator
//! tightens or loosens it with a TOML file (`--policy FILE`, or `VOLLEY_POLICY`); every
//! key is optional, unknown keys are an error naming the key. docs/policy.md lists them.
//!
//! The checks here are pure: the engine applies them to the plan before anything is
//! sent, to every adaptive stage, and to every request; the Wasm host and the
//! registry client read their limits from the same policy.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plan::{Info, Load, Plan, Stage};
use crate::request::ScenarioRequest;

/// The longest time any `_s` key may give: ten years.
const MAX_POLICY_SECONDS: f64 = 315_576_000.0;

/// What a run may do. See the module docs and docs/policy.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Base URLs runs may send to (`http://host:port[/prefix]`); empty: any target the
    /// operator names on the command line.
    pub targets: Vec<String>,
    /// Requests per second of an open-loop stage (a ramp's peak).
    pub max_rate: f64,
    /// Workers of a closed-loop stage (a concurrency ramp's peak).
    pub max_concurrency: u32,
    /// Requests in flight at once; a send waits (and its lag says so) beyond it.
    pub max_in_flight: u32,
    /// Requests of one burst.
    pub max_burst: u32,
    /// Requests of one stage.
    pub max_requests: u64,
    /// Stages of one run, planned and adaptive.
    pub max_stages: u32,
    /// Seconds one stage may run.
    pub max_stage_s: f64,
    /// Seconds a stage may go on while its scenario produces no request and none of its
    /// requests is queued or in flight (it waits on nothing): then the stage is stopped.
    pub max_idle_s: f64,
    /// Seconds one run may take.
    pub max_run_s: f64,
    /// Smallest gap between two planned sends, ms (a custom gap; a rate's mean gap).
    pub min_gap_ms: f64,
    /// Bytes of one request body.
    pub max_body_bytes: u64,
    /// Headers a scenario may set on one request.
    pub max_headers: u32,
    /// Bytes of one scenario header (name and value).
    pub max_header_bytes: u32,
    /// Scenario headers allowed beyond the built-in list (`x-tenant`, or a prefix
    /// `x-acme-*`); connection, credential, proxy and override headers stay refused.
    pub allow_headers: Vec<String>,
    /// Bytes of a scenario, stage or model name.
    pub max_name_bytes: u32,
    /// Bytes of a request's tag.
    pub max_tag_bytes: u32,
    /// Distinct tags kept per stage and exporter; the rest are counted as "(other)".
    pub max_tags: u32,
    /// Distinct models kept likewise.
    pub max_models: u32,
    /// Linear memory of the scenario, MiB.
    pub guest_memory_mib: u32,
    /// Wall time of one `next-requests` or `on-outcome` call, ms.
    pub guest_call_ms: u64,
    /// Wall time of instantiation, `describe`, `configure` or `next-stage`, ms.
    pub guest_setup_ms: u64,
    /// Wall time of every guest call of a run together, seconds.
    pub guest_total_s: f64,
    /// Bytes of text one tokenizer call may be given.
    pub max_tokenizer_input_bytes: u64,
    /// Bytes of a package file, or of a registry manifest and its blobs together.
    pub max_package_bytes: u64,
    /// Bytes of a component.
    pub max_component_bytes: u64,
    /// Seconds compiling one component may take.
    pub max_compile_s: f64,
    /// Keep compiled components in the user's cache (authenticated); off: compile in
    /// memory every time.
    pub compile_cache: bool,
    /// Hosts a registry may redirect blob downloads (and upload locations) to, besides
    /// itself: https only, never with its credentials.
    pub registry_redirect_hosts: Vec<String>,
    /// Base URLs `--server-metrics` may reach besides the target's host (the target's own
    /// endpoints, the model list and Triton's statistics, are the target's).
    pub probes: Vec<String>,
    /// Base URLs OTLP endpoints may be at besides loopback.
    pub exporters: Vec<String>,
    /// Registries (`host[:port]`) packages may be pushed to or pulled from, and token
    /// realms on another origin; empty: any.
    pub registries: Vec<String>,
    /// Bytes of requests produced ahead of their send time and not yet sent.
    pub max_queue_bytes: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            targets: Vec::new(),
            max_rate: 50_000.0,
            max_concurrency: 20_000,
            max_in_flight: 20_000,
            max_burst: 20_000,
            max_requests: 10_000_000,
            max_stages: 256,
            max_stage_s: 86_400.0,
            max_idle_s: 300.0,
            max_run_s: 7.0 * 86_400.0,
            min_gap_ms: 0.0,
            max_body_bytes: 8 << 20,
            max_headers: 32,
            max_header_bytes: 8 << 10,
            allow_headers: Vec::new(),
            max_name_bytes: 128,
            max_tag_bytes: 256,
            max_tags: 1000,
            max_models: 100,
            guest_memory_mib: 256,
            guest_call_ms: 1_000,
            guest_setup_ms: 10_000,
            guest_total_s: 86_400.0,
            max_tokenizer_input_bytes: 4 << 20,
            max_package_bytes: 128 << 20,
            max_component_bytes: 64 << 20,
            max_compile_s: 300.0,
            compile_cache: true,
            registry_redirect_hosts: Vec::new(),
            probes: Vec::new(),
            exporters: Vec::new(),
            registries: Vec::new(),
            max_queue_bytes: 64 << 20,
        }
    }
}

/// Something the policy does not allow, in one line that names the limit and the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("refused by the policy ({limit} = {allowed}): {what}")]
pub struct Refusal {
    /// The policy key.
    pub limit: &'static str,
    /// Its value.
    pub allowed: String,
    /// What was asked, with its value.
    pub what: String,
}

/// A policy file that cannot be used, in one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// Headers a scenario may always set (besides `content-type`, which sets the body's type).
const ALLOWED_HEADERS: &[&str] = &[
    "accept",
    "accept-language",
    "user-agent",
    "x-request-id",
    "x-correlation-id",
    "x-session-id",
    "traceparent",
    "tracestate",
    "baggage",
];
/// Prefixes of headers a scenario may always set.
const ALLOWED_PREFIXES: &[&str] = &["x-volley-"];
/// Headers of the connection: the host sets them.
const CONNECTION_HEADERS: &[&str] =
    &["host", "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "upgrade", "te", "trailer", "expect"];
/// Credentials and identity: the operator's (`--header`, `VOLLEY_API_KEY`), never a
/// shared scenario's.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "authentication",
    "proxy-authorization",
    "proxy-authenticate",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-access-token",
];
/// Headers proxies and gateways route or rewrite by.
const ROUTING_HEADERS: &[&str] =
    &["forwarded", "via", "x-real-ip", "x-original-url", "x-rewrite-url", "x-http-method-override", "x-http-method", "x-method-override"];
const ROUTING_PREFIXES: &[&str] = &["x-forwarded-", "proxy-", "x-amz-", "x-goog-", "x-ms-", "x-envoy-"];

/// Why no scenario may set header `lower` whatever the policy says, if so.
fn never_allowed(lower: &str) -> Option<&'static str> {
    if CONNECTION_HEADERS.contains(&lower) {
        Some("is set by the host")
    } else if CREDENTIAL_HEADERS.contains(&lower) {
        Some("carries credentials, which come from the operator (--header or VOLLEY_API_KEY), not the scenario")
    } else if ROUTING_HEADERS.contains(&lower) || ROUTING_PREFIXES.iter().any(|p| lower.starts_with(p)) {
        Some("would change where or how the request is routed")
    } else {
        None
    }
}

fn refuse(limit: &'static str, allowed: impl std::fmt::Display, what: String) -> Refusal {
    Refusal { limit, allowed: allowed.to_string(), what }
}

impl Policy {
    /// Reads a policy file's text: any subset of the keys, the rest at their defaults.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let p: Policy = toml::from_str(text).map_err(|e| PolicyError(one_line(&e.to_string())))?;
        p.validate()?;
        Ok(p)
    }

    /// Every limit finite and positive where it must be.
    fn validate(&self) -> Result<(), PolicyError> {
        let positive = [
            ("max_rate", self.max_rate),
            ("max_stage_s", self.max_stage_s),
            ("max_idle_s", self.max_idle_s),
            ("max_run_s", self.max_run_s),
            ("guest_total_s", self.guest_total_s),
            ("max_compile_s", self.max_compile_s),
        ];
        for (key, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(PolicyError(format!("policy key {key} must be a positive number, got {v}")));
            }
            // Times become `Duration`s and deadlines (`Instant + Duration`): bounded, so no
            // value an operator can write overflows them.
            if key.ends_with("_s") && v > MAX_POLICY_SECONDS {
                return Err(PolicyError(format!("policy key {key} must be at most {MAX_POLICY_SECONDS} s (ten years), got {v:e}")));
            }
        }
        if !(self.min_gap_ms.is_finite() && self.min_gap_ms >= 0.0) {
            return Err(PolicyError(format!("policy key min_gap_ms must be a non-negative number, got {}", self.min_gap_ms)));
        }
        let counts = [
            ("max_concurrency", u64::from(self.max_concurrency)),
            ("max_in_flight", u64::from(self.max_in_flight)),
            ("max_burst", u64::from(self.max_burst)),
            ("max_requests", self.max_requests),
            ("max_stages", u64::from(self.max_stages)),
            ("guest_memory_mib", u64::from(self.guest_memory_mib)),
            ("guest_call_ms", self.guest_call_ms),
            ("guest_setup_ms", self.guest_setup_ms),
            ("max_component_bytes", self.max_component_bytes),
            ("max_package_bytes", self.max_package_bytes),
            ("max_queue_bytes", self.max_queue_bytes),
        ];
        for (key, v) in counts {
            if v == 0 {
                return Err(PolicyError(format!("policy key {key} must be at least 1")));
            }
        }
        for t in &self.targets {
            AllowedTarget::parse(t).map_err(|e| PolicyError(format!("policy targets: {e}")))?;
        }
        self.validate_destinations()?;
        Ok(())
    }

    /// Whether a run may send to `scheme://host:port` with API root `base_path`.
    pub fn check_target(&self, scheme: &str, host: &str, port: u16, base_path: &str) -> Result<(), Refusal> {
        if self.targets.is_empty() {
            return Ok(());
        }
        let allowed = self
            .targets
            .iter()
            .filter_map(|t| AllowedTarget::parse(t).ok())
            .any(|t| t.scheme == scheme && t.host.eq_ignore_ascii_case(host) && t.port == port && path_within(base_path, &t.path));
        if allowed {
            return Ok(());
        }
        let path = if base_path.is_empty() { String::new() } else { base_path.to_string() };
        Err(refuse(
            "targets",
            format!("[{}]", self.targets.join(", ")),
            format!("target {scheme}://{host}:{port}{path} is not one of them"),
        ))
    }

    /// The sandbox's limits as durations.
    pub fn guest_call(&self) -> Duration {
        Duration::from_millis(self.guest_call_ms)
    }

    pub fn guest_setup(&self) -> Duration {
        Duration::from_millis(self.guest_setup_ms)
    }

    pub fn guest_total(&self) -> Duration {
        Duration::from_secs_f64(self.guest_total_s)
    }

    pub fn max_stage(&self) -> Duration {
        Duration::from_secs_f64(self.max_stage_s)
    }

    /// `max_idle_s` (a value past what a `Duration` holds: no bound).
    pub fn max_idle(&self) -> Duration {
        Duration::try_from_secs_f64(self.max_idle_s).unwrap_or(Duration::MAX)
    }

    pub fn max_run(&self) -> Duration {
        Duration::from_secs_f64(self.max_run_s)
    }

    /// The scenario's identity and its plan, before anything is sent.
    pub fn check_plan(&self, info: &Info, plan: &Plan) -> Result<(), Refusal> {
        self.check_name("scenario name", &info.name)?;
        self.check_name("scenario version", &info.version)?;
        if plan.stages.len() > self.max_stages as usize {
            return Err(refuse("max_stages", self.max_stages, format!("the plan has {} stages", plan.stages.len())));
        }
        for (i, s) in plan.stages.iter().enumerate() {
            self.check_stage(i, s)?;
        }
        Ok(())
    }

    /// Stage `i` (of the plan, or decided by an adaptive plan during the run).
    pub fn check_stage(&self, i: usize, s: &Stage) -> Result<(), Refusal> {
        if i >= self.max_stages as usize {
            return Err(refuse("max_stages", self.max_stages, format!("the scenario asked for stage {}", i + 1)));
        }
        self.check_name(&format!("stage {i}'s name"), &s.name)?;
        let at = || format!("stage {i} ('{}')", crate::text::printable(&s.name, 64));
        let rate = match s.load {
            Load::Constant { rate } | Load::Poisson { rate } | Load::Gamma { rate, .. } => Some(rate),
            Load::Ramp { from, to } => Some(from.max(to)),
            _ => None,
        };
        if let Some(rate) = rate {
            if rate > self.max_rate {
                return Err(refuse("max_rate", self.max_rate, format!("{} asks for {} requests/s", at(), crate::text::num(rate))));
            }
            if self.min_gap_ms > 0.0 && rate > 1000.0 / self.min_gap_ms {
                return Err(refuse(
                    "min_gap_ms",
                    self.min_gap_ms,
                    format!("{} asks for {} requests/s, a mean gap under it", at(), crate::text::num(rate)),
                ));
            }
        }
        match s.load {
            Load::Concurrency { n } if n > self.max_concurrency => {
                return Err(refuse("max_concurrency", self.max_concurrency, format!("{} asks for {n} workers", at())));
            }
            Load::Burst { n } if n > self.max_burst => {
                return Err(refuse("max_burst", self.max_burst, format!("{} asks for a burst of {n}", at())));
            }
            _ => {}
        }
        if let Load::ConcurrencyRamp { from, to } = s.load {
            let n = from.max(to);
            if n > self.max_concurrency {
                return Err(refuse("max_concurrency", self.max_concurrency, format!("{} asks for {n} workers", at())));
            }
        }
        if let Some(n) = s.max_requests
            && n > self.max_requests
        {
            return Err(refuse("max_requests", self.max_requests, format!("{} asks for {n} requests", at())));
        }
        if let Some(d) = s.duration
            && d.as_secs_f64() > self.max_stage_s
        {
            return Err(refuse("max_stage_s", self.max_stage_s, format!("{} lasts {} s", at(), d.as_secs_f64())));
        }
        Ok(())
    }

    /// One request as the scenario shaped it (`body_bytes`: its encoded body).
    pub fn check_request(&self, stage: u32, seq: u64, r: &ScenarioRequest, body_bytes: usize) -> Result<(), Refusal> {
        let at = || format!("request {seq} of stage {stage}");
        if body_bytes as u64 > self.max_body_bytes {
            return Err(refuse("max_body_bytes", self.max_body_bytes, format!("{} has a body of {body_bytes} bytes", at())));
        }
        if r.headers.len() > self.max_headers as usize {
            return Err(refuse("max_headers", self.max_headers, format!("{} sets {} headers", at(), r.headers.len())));
        }
        for (name, value) in &r.headers {
            let bytes = name.len() + value.len();
            if bytes > self.max_header_bytes as usize {
                return Err(refuse("max_header_bytes", self.max_header_bytes, format!("{} has a header of {bytes} bytes", at())));
            }
            if !self.allows_header(name) {
                let shown = crate::text::printable(name, 64);
                let why = never_allowed(&name.to_ascii_lowercase()).unwrap_or("is not on the allow list");
                return Err(refuse(
                    "allow_headers",
                    format!("[{}]", self.allow_headers.join(", ")),
                    format!("{}: header '{shown}' {why}", at()),
                ));
            }
        }
        if let Some(tag) = &r.tag
            && tag.len() > self.max_tag_bytes as usize
        {
            return Err(refuse("max_tag_bytes", self.max_tag_bytes, format!("{} has a tag of {} bytes", at(), tag.len())));
        }
        if let Some(m) = &r.model {
            self.check_name(&format!("{}'s model", at()), m)?;
        }
        if let Some(gap) = r.gap
            && self.min_gap_ms > 0.0
            && gap.as_secs_f64() * 1000.0 < self.min_gap_ms
        {
            return Err(refuse(
                "min_gap_ms",
                self.min_gap_ms,
                format!("{} comes {} ms after the one before", at(), gap.as_secs_f64() * 1000.0),
            ));
        }
        Ok(())
    }

    /// Whether a scenario may set header `name` (any case). `content-type` is always
    /// allowed: it says what the body is.
    pub fn allows_header(&self, name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        if never_allowed(&n).is_some() {
            return false;
        }
        n == "content-type"
            || ALLOWED_HEADERS.contains(&n.as_str())
            || ALLOWED_PREFIXES.iter().any(|p| n.starts_with(p))
            || self.allow_headers.iter().any(|a| {
                let a = a.to_ascii_lowercase();
                match a.strip_suffix('*') {
                    Some(prefix) => n.starts_with(prefix),
                    None => a == n,
                }
            })
    }

    fn check_name(&self, what: &str, name: &str) -> Result<(), Refusal> {
        if name.len() > self.max_name_bytes as usize {
            return Err(refuse("max_name_bytes", self.max_name_bytes, format!("the {what} is {} bytes long", name.len())));
        }
        Ok(())
    }
}

/// One entry of `targets`.
struct AllowedTarget {
    scheme: String,
    host: String,
    port: u16,
    path: String,
}

impl AllowedTarget {
    fn parse(text: &str) -> Result<AllowedTarget, String> {
        let (scheme, rest) = text.split_once("://").ok_or_else(|| format!("'{text}' needs a scheme, e.g. http://{text}"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            "grpc" => 80,
            "grpcs" => 443,
            other => return Err(format!("'{text}': unknown scheme '{other}'")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                (h, p.parse::<u16>().map_err(|_| format!("'{text}': invalid port '{p}'"))?)
            }
            _ => (authority, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("'{text}' has no host"));
        }
        let path = path.strip_suffix("/v1").unwrap_or(path).to_string();
        Ok(AllowedTarget { scheme, host: host.to_string(), port, path })
    }
}

/// `path` is `prefix` or below it, segment by segment.
fn path_within(path: &str, prefix: &str) -> bool {
    prefix.is_empty() || path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(load: Load) -> Stage {
        Stage::new("s", load, Some(Duration::from_secs(10)), None)
    }

    #[test]
    fn the_default_is_finite_and_reads_back() {
        let p = Policy::default();
        p.validate().unwrap();
        assert_eq!(Policy::from_toml("").unwrap(), p);
        let text = toml::to_string(&p).unwrap();
        assert_eq!(Policy::from_toml(&text).unwrap(), p);
    }

    #[test]
    fn an_idle_stage_is_bounded_by_default() {
        assert_eq!(Policy::default().max_idle(), Duration::from_secs(300));
        assert_eq!(Policy::from_toml("max_idle_s = 0.5").unwrap().max_idle(), Duration::from_millis(500));
        assert!(Policy::from_toml("max_idle_s = 0").unwrap_err().to_string().contains("max_idle_s"));
        // A bound past ten years is refused, not a panic (below).
    }

    #[test]
    fn unknown_keys_and_bad_values_are_one_line_errors() {
        let e = Policy::from_toml("max_ratee = 5").unwrap_err().to_string();
        assert!(e.contains("max_ratee") && !e.contains('\n'), "{e}");
        assert!(Policy::from_toml("max_rate = -1").unwrap_err().to_string().contains("max_rate"));
        assert!(Policy::from_toml("max_stages = 0").unwrap_err().to_string().contains("max_stages"));
        for key in ["max_stage_s", "max_run_s", "max_idle_s", "guest_total_s", "max_compile_s"] {
            let e = Policy::from_toml(&format!("{key} = 1e300")).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("ten years") && e.contains("1e300"), "{e}");
        }
        let ten_years = Policy::from_toml("max_stage_s = 315576000\nmax_run_s = 315576000").unwrap();
        assert_eq!(ten_years.max_stage().as_secs(), 315_576_000);
        assert!(Policy::from_toml("targets = [\"127.0.0.1:8000\"]").unwrap_err().to_string().contains("scheme"));
    }

    #[test]
    fn targets_match_scheme_host_port_and_path_prefix() {
        let p = Policy::from_toml("targets = [\"http://127.0.0.1:8000\", \"https://api.example.com/tenant-a\"]").unwrap();
        p.check_target("http", "127.0.0.1", 8000, "").unwrap();
        p.check_target("https", "API.example.com", 443, "/tenant-a").unwrap();
        p.check_target("https", "api.example.com", 443, "/tenant-a/x").unwrap();
        let r = p.check_target("https", "api.example.com", 443, "/tenant-ab").unwrap_err();
        assert_eq!(r.limit, "targets");
        assert!(p.check_target("http", "127.0.0.1", 8001, "").is_err());
        assert!(p.check_target("https", "127.0.0.1", 8000, "").is_err());
        Policy::default().check_target("http", "anything", 1, "").unwrap();
    }

    #[test]
    fn plans_over_the_limits_are_refused_naming_the_limit() {
        let p = Policy::from_toml("max_rate = 100\nmax_concurrency = 8\nmax_burst = 50\nmax_stages = 2").unwrap();
        let info = Info::new("x", "1", "");
        let refused = |load: Load| p.check_plan(&info, &Plan::new(vec![stage(load)])).unwrap_err();
        let r = refused(Load::Constant { rate: 1e9 });
        assert_eq!(r.limit, "max_rate");
        assert!(r.to_string().contains("1000000000 requests/s"), "{r}");
        assert_eq!(refused(Load::Ramp { from: 1.0, to: 101.0 }).limit, "max_rate");
        assert_eq!(refused(Load::Concurrency { n: 9 }).limit, "max_concurrency");
        assert_eq!(refused(Load::ConcurrencyRamp { from: 1, to: 9 }).limit, "max_concurrency");
        assert_eq!(refused(Load::Burst { n: 4_000_000_000 }).limit, "max_burst");
        p.check_plan(&info, &Plan::new(vec![stage(Load::Poisson { rate: 100.0 }), stage(Load::Concurrency { n: 8 })])).unwrap();
        let three = Plan::new(vec![stage(Load::Burst { n: 1 }); 3]);
        assert_eq!(p.check_plan(&info, &three).unwrap_err().limit, "max_stages");
        let long = Info::new("n".repeat(200), "1", "");
        assert_eq!(p.check_plan(&long, &Plan::new(vec![])).unwrap_err().limit, "max_name_bytes");
    }

    #[test]
    fn headers_come_from_an_allow_list() {
        let p = Policy::from_toml("allow_headers = [\"x-tenant\", \"x-acme-*\", \"authorization\"]").unwrap();
        for ok in ["Accept", "x-request-id", "x-volley-anything", "X-Tenant", "x-acme-zone", "content-type"] {
            assert!(p.allows_header(ok), "{ok}");
        }
        for refused in [
            "authorization",
            "Authentication",
            "x-auth-token",
            "cookie",
            "host",
            "connection",
            "keep-alive",
            "expect",
            "trailer",
            "forwarded",
            "x-forwarded-for",
            "x-http-method-override",
            "x-original-url",
            "x-other",
        ] {
            assert!(!p.allows_header(refused), "{refused}");
        }
    }

    #[test]
    fn requests_over_the_limits_are_refused() {
        let p = Policy::from_toml("max_body_bytes = 100\nmax_tag_bytes = 4\nmin_gap_ms = 5").unwrap();
        let r = ScenarioRequest::chat(vec![]);
        p.check_request(0, 0, &r, 100).unwrap();
        assert_eq!(p.check_request(0, 0, &r, 101).unwrap_err().limit, "max_body_bytes");
        let mut tagged = r.clone();
        tagged.tag = Some("12345".into());
        assert_eq!(p.check_request(0, 1, &tagged, 10).unwrap_err().limit, "max_tag_bytes");
        let mut early = r.clone();
        early.gap = Some(Duration::from_millis(1));
        assert_eq!(p.check_request(0, 2, &early, 10).unwrap_err().limit, "min_gap_ms");
        let mut headed = r;
        headed.headers = vec![("X-Auth-Token".into(), "t".into())];
        let e = p.check_request(0, 3, &headed, 10).unwrap_err();
        assert_eq!(e.limit, "allow_headers");
        assert!(e.to_string().contains("X-Auth-Token"), "{e}");
    }
}

mod destinations;
pub use destinations::{Endpoint, is_loopback_host};

#[cfg(test)]
mod fuzz;
