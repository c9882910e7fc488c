//! Where the merged run is kept. Shards keep nothing (`--no-store`), so a sharded run lands
//! in a store once, from its merge. By default that store is a SQLite file on the results
//! volume. A team's PostgreSQL store is named by a Secret that holds its URL (credentials
//! included), never written into the manifests: the merge pod reads it into `VOLLEY_STORE`,
//! runs under a policy whose `exporters` list that one endpoint, and a NetworkPolicy of its
//! own opens that endpoint to the merge pod alone.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::{KubeError, RenderSpec, dns_rule, invalid, ip_peer, labels, meta, tcp};

/// The SQLite store on the results volume when no team store is named.
pub const SQLITE_ON_VOLUME: &str = "/results/runs.sqlite";
/// The merge's policy, beside the run file in the ConfigMap.
pub(crate) const POLICY_KEY: &str = "merge-policy.toml";

/// A team's PostgreSQL store for the merged run.
#[derive(Debug, Clone)]
pub struct StoreSpec {
    /// The Secret (in the run's namespace) and the key whose value is the
    /// `postgres://…` URL.
    pub secret: String,
    pub key: String,
    /// Where the store is (the URL's host and port), for the merge's policy and its
    /// NetworkPolicy; the URL itself stays in the Secret.
    pub host: String,
    pub port: u16,
    /// The store's CIDRs, when `host` is a name (its IP is used when it is one).
    pub cidrs: Vec<String>,
}

impl StoreSpec {
    pub(crate) fn check(&self) -> Result<(), KubeError> {
        let dns_name = |s: &str| {
            !s.is_empty() && s.len() <= 253 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
        };
        if !dns_name(&self.secret) {
            return invalid(format!("--store-secret '{}' is not a Secret's name (a-z, 0-9, '-', '.')", self.secret));
        }
        if self.key.is_empty() || self.key.len() > 253 || !self.key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)) {
            return invalid(format!("--store-secret key '{}' is not a Secret key (A-Z, a-z, 0-9, '-', '.', '_')", self.key));
        }
        let ip = self.host.parse::<std::net::IpAddr>().is_ok();
        if !ip && !dns_name(&self.host.to_ascii_lowercase()) || self.port == 0 {
            return invalid(format!("--store-endpoint '{}:{}' must be HOST:PORT", self.host, self.port));
        }
        if !ip && self.cidrs.is_empty() {
            return invalid(format!("the store '{}' is a name: say where it is for the NetworkPolicy (--store-cidr CIDR)", self.host));
        }
        Ok(())
    }

    /// The endpoint as the policy's `exporters` lists it.
    fn endpoint(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("http://{host}:{}", self.port)
    }

    /// The merge's policy file: the store's endpoint and nothing more.
    pub(crate) fn policy(&self) -> String {
        let mut t = toml::Table::new();
        t.insert("exporters".into(), toml::Value::Array(vec![self.endpoint().into()]));
        toml::to_string(&t).unwrap_or_default()
    }
}

/// The merge's own arguments and environment for where its run is kept.
pub(crate) fn merge_args(store: Option<&StoreSpec>) -> (Vec<String>, Vec<EnvVar>) {
    match store {
        None => (vec!["--store".into(), SQLITE_ON_VOLUME.into()], Vec::new()),
        Some(s) => {
            let url = EnvVar {
                name: "VOLLEY_STORE".into(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector { name: s.secret.clone(), key: s.key.clone(), optional: Some(false) }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            };
            // `volley merge` takes its policy from VOLLEY_POLICY (a `--policy` flag would
            // have to come before the command).
            let policy = EnvVar { name: "VOLLEY_POLICY".into(), value: Some(format!("/config/{POLICY_KEY}")), ..EnvVar::default() };
            (Vec::new(), vec![url, policy])
        }
    }
}

/// Egress from the merge pod to the store (and DNS when it is a name); NetworkPolicies
/// add up, so the shards stay fenced to the target.
pub(crate) fn network_policy(spec: &RenderSpec, s: &StoreSpec) -> NetworkPolicy {
    let mut cidrs = s.cidrs.clone();
    let ip = s.host.parse::<std::net::IpAddr>().ok();
    if let Some(ip) = ip {
        cidrs.push(if ip.is_ipv4() { format!("{ip}/32") } else { format!("{ip}/128") });
    }
    let mut egress =
        vec![NetworkPolicyEgressRule { to: Some(cidrs.iter().map(|c| ip_peer(c)).collect()), ports: Some(vec![tcp(i32::from(s.port))]) }];
    if ip.is_none() {
        egress.push(dns_rule());
    }
    let mut merge: BTreeMap<String, String> = labels(spec);
    merge.insert("volley.dev/role".into(), "merge".into());
    NetworkPolicy {
        metadata: meta(spec, format!("{}-store-egress", spec.name)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector { match_labels: Some(merge), ..LabelSelector::default() }),
            policy_types: Some(vec!["Egress".into()]),
            ingress: None,
            egress: Some(egress),
        }),
    }
}
