//! # volley-kube
//!
//! The Kubernetes manifests of a sharded Volley run, built from k8s-openapi's typed
//! API structs (never string templates) and written as one `List` that `kubectl apply
//! -f` takes:
//!
//! - a `ConfigMap` with the run file (`run.toml`) and, for a local scenario, its bytes
//!   (the run file then names it and pins its digest);
//! - an Indexed `Job` (`completionMode: Indexed`, `completions = parallelism = N`)
//!   whose pods run `volley run --config … --shard auto --start-at T`, T fixed at
//!   render time, as a non-root user with a read-only root filesystem, every
//!   capability dropped and no service-account token;
//! - a `NetworkPolicy` that lets those pods reach only the target (and the registry, and
//!   DNS when the target is a name), and nothing reach them;
//! - a `PersistentVolumeClaim` for the results, and a merge `Job` that waits for every
//!   shard's report and runs `volley merge` on the same volume;
//! - where the merged run is kept ([`store`]): a SQLite file on that volume, or a team's
//!   PostgreSQL store whose URL a Secret holds.
//!
//! No API server runs in Volley's tests: they parse what is rendered back into the
//! same structs and check the fields that matter.

use std::collections::BTreeMap;

/// The API types the manifests are made of, for callers that read them back.
pub use k8s_openapi;

use k8s_openapi::ByteString;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec, SeccompProfile,
    SecurityContext, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

pub mod store;
pub use store::StoreSpec;

/// The non-root user the image runs as (deploy/Containerfile).
pub const UID: i64 = 65532;
/// Most shards rendered (Kubernetes' own limit on an Indexed Job is 100,000).
pub const MAX_SHARDS: u32 = 100_000;
/// A ConfigMap holds at most 1 MiB.
const MAX_CONFIGMAP_BYTES: usize = 1 << 20;

/// What to render.
#[derive(Debug, Clone)]
pub struct RenderSpec {
    /// Name of the run; every object is named after it.
    pub name: String,
    pub namespace: Option<String>,
    /// The run file (`volley run --config`), as text.
    pub run_toml: String,
    /// A local scenario file's name and bytes, when the run file names one.
    pub scenario_file: Option<(String, Vec<u8>)>,
    pub shards: u32,
    /// The image, e.g. `registry.example/volley@sha256:…`.
    pub image: String,
    /// `--start-at` of every shard, Unix ms.
    pub start_at_unix_ms: u64,
    /// Where the target is, for the NetworkPolicy: CIDRs (its IP is added when the
    /// target is one) and pod labels.
    pub egress_cidrs: Vec<String>,
    pub target_pods: BTreeMap<String, String>,
    /// The registry's CIDRs, when the scenario is pulled from one.
    pub registry_cidrs: Vec<String>,
    /// The results volume's size and storage class.
    pub results_size: String,
    pub storage_class: Option<String>,
    /// A team's PostgreSQL store for the merged run; None keeps it in a SQLite file on
    /// the results volume.
    pub store: Option<StoreSpec>,
}

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T, KubeError> {
    Err(KubeError::Invalid(msg.into()))
}

/// The parts of a run file the manifests depend on.
struct RunFile {
    table: toml::Table,
    target: String,
    scenario: String,
}

fn read_run_file(text: &str) -> Result<RunFile, KubeError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| KubeError::Invalid(format!("the run file: {}", e.message())))?;
    let get = |k: &str| table.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let target = get("target").ok_or_else(|| KubeError::Invalid("the run file names no target".into()))?;
    let scenario = get("scenario").ok_or_else(|| KubeError::Invalid("the run file names no scenario".into()))?;
    for key in ["shard", "start-at", "start_at", "out"] {
        if table.contains_key(key) {
            return invalid(format!("the run file sets '{key}'; the manifests set it for every shard"));
        }
    }
    Ok(RunFile { table, target, scenario })
}

/// `http(s)://HOST[:PORT]/…` → (host, port).
fn host_port(url: &str) -> Result<(String, i32), KubeError> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| KubeError::Invalid(format!("target '{url}' is not a URL")))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let default = match scheme {
        "https" => 443,
        "http" => 80,
        "grpc" => 8001,
        _ => return invalid(format!("target '{url}': unknown scheme")),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            (h.trim_matches(['[', ']']).to_string(), p.parse().map_err(|_| KubeError::Invalid(format!("target '{url}': bad port")))?)
        }
        _ => (authority.trim_matches(['[', ']']).to_string(), default),
    };
    Ok((host, port))
}

pub(crate) fn meta(spec: &RenderSpec, name: String) -> ObjectMeta {
    ObjectMeta { name: Some(name), namespace: spec.namespace.clone(), labels: Some(labels(spec)), ..ObjectMeta::default() }
}

pub(crate) fn labels(spec: &RenderSpec) -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/name".to_string(), "volley".to_string()), ("volley.dev/run".to_string(), spec.name.clone())])
}

/// Every manifest of the run, in the order to apply them.
pub fn render(spec: &RenderSpec) -> Result<Vec<serde_json::Value>, KubeError> {
    let name_ok = !spec.name.is_empty()
        && spec.name.len() <= 40
        && spec.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !spec.name.starts_with('-')
        && !spec.name.ends_with('-');
    if !name_ok {
        return invalid(format!("name '{}' must be a DNS label of at most 40 characters (a-z, 0-9, '-')", spec.name));
    }
    if spec.shards == 0 || spec.shards > MAX_SHARDS {
        return invalid(format!("--shards must be from 1 to {MAX_SHARDS}"));
    }
    if let Some(s) = &spec.store {
        s.check()?;
    }
    let mut run = read_run_file(&spec.run_toml)?;
    // The scenario, pinned: by digest in a registry, or its bytes in the ConfigMap.
    let mut binary = BTreeMap::new();
    if let Some((file, bytes)) = &spec.scenario_file {
        let base = file.rsplit('/').next().unwrap_or(file);
        if !base.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
            return invalid(format!("scenario file name '{base}' cannot be a ConfigMap key"));
        }
        let digest = format!("sha256:{:x}", Sha256::digest(bytes));
        // Beside the run file in /config: `volley run --config` resolves a run file's paths
        // against its own folder (and refuses absolute ones).
        run.table.insert("scenario".into(), base.to_string().into());
        run.table.insert("digest".into(), digest.into());
        binary.insert(base.to_string(), ByteString(bytes.clone()));
    } else if run.scenario.starts_with("oci://") {
        if !run.scenario.contains("@sha256:") {
            return invalid(format!(
                "scenario '{}' is not pinned: give oci://…@sha256:<digest>, so every shard runs the same bytes",
                run.scenario
            ));
        }
    } else if !run.scenario.starts_with("builtin:") {
        return invalid(format!("scenario '{}' is a local file: pass it with --scenario-file to carry it in the ConfigMap", run.scenario));
    }
    let run_toml = toml::to_string(&run.table).map_err(|e| KubeError::Invalid(format!("the run file: {e}")))?;
    let size = run_toml.len() + binary.values().map(|b| b.0.len()).sum::<usize>();
    if size > MAX_CONFIGMAP_BYTES {
        return invalid(format!(
            "the run file and scenario are {size} bytes, more than a ConfigMap holds (1 MiB); push the scenario to a registry"
        ));
    }

    let config_map = ConfigMap {
        metadata: meta(spec, format!("{}-config", spec.name)),
        data: Some(BTreeMap::from_iter(
            std::iter::once(("run.toml".to_string(), run_toml))
                .chain(spec.store.as_ref().map(|s| (store::POLICY_KEY.to_string(), s.policy()))),
        )),
        binary_data: (!binary.is_empty()).then_some(binary),
        ..ConfigMap::default()
    };
    let pvc = PersistentVolumeClaim {
        metadata: meta(spec, format!("{}-results", spec.name)),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteMany".into()]),
            storage_class_name: spec.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_string(), Quantity(spec.results_size.clone()))])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    };
    let n = spec.shards.to_string();
    let shard_args = vec![
        "run".to_string(),
        "--config".into(),
        "/config/run.toml".into(),
        "--shard".into(),
        "auto".into(),
        "--start-at".into(),
        spec.start_at_unix_ms.to_string(),
        "--out".into(),
        "/results/shard-{shard}".into(),
        // The merge keeps the run, once.
        "--no-store".into(),
        "--quiet".into(),
    ];
    let shards = Job {
        metadata: meta(spec, format!("{}-shards", spec.name)),
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            completions: Some(spec.shards as i32),
            parallelism: Some(spec.shards as i32),
            // A shard that failed would skew the merged numbers: none is retried.
            backoff_limit: Some(0),
            template: pod_template(spec, "shard", shard_args, vec![env("VOLLEY_SHARDS", &n)], true),
            ..JobSpec::default()
        }),
        ..Job::default()
    };
    let mut merge_args = vec!["merge".to_string()];
    merge_args.extend((0..spec.shards).map(|i| format!("/results/shard-{i}")));
    merge_args.extend(["--out".into(), "/results/merged".into(), "--wait-s".into(), "86400".into()]);
    let (store_args, store_env) = store::merge_args(spec.store.as_ref());
    merge_args.extend(store_args);
    let merge = Job {
        metadata: meta(spec, format!("{}-merge", spec.name)),
        spec: Some(JobSpec {
            completions: Some(1),
            parallelism: Some(1),
            backoff_limit: Some(2),
            template: pod_template(spec, "merge", merge_args, store_env, false),
            ..JobSpec::default()
        }),
        ..Job::default()
    };
    let policy = network_policy(spec, &run)?;
    let to_json = |v: Result<serde_json::Value, serde_json::Error>| v.map_err(|e| KubeError::Invalid(e.to_string()));
    let mut items = vec![
        to_json(serde_json::to_value(config_map))?,
        to_json(serde_json::to_value(pvc))?,
        to_json(serde_json::to_value(policy))?,
        to_json(serde_json::to_value(shards))?,
        to_json(serde_json::to_value(merge))?,
    ];
    if let Some(s) = &spec.store {
        items.insert(3, to_json(serde_json::to_value(store::network_policy(spec, s)))?);
    }
    Ok(items)
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value.into()), ..EnvVar::default() }
}

fn pod_template(spec: &RenderSpec, role: &str, args: Vec<String>, mut envs: Vec<EnvVar>, shard: bool) -> PodTemplateSpec {
    let mut labels = labels(spec);
    labels.insert("volley.dev/role".into(), role.into());
    envs.push(env("VOLLEY_CACHE_DIR", "/cache"));
    envs.push(env("HOME", "/cache"));
    let mount = |name: &str, path: &str, read_only: bool| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    };
    let mut mounts = vec![mount("results", "/results", false), mount("cache", "/cache", false), mount("tmp", "/tmp", false)];
    let empty = |name: &str| Volume { name: name.into(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Volume::default() };
    let mut volumes = vec![
        Volume {
            name: "results".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: format!("{}-results", spec.name),
                read_only: Some(false),
            }),
            ..Volume::default()
        },
        empty("cache"),
        empty("tmp"),
    ];
    if shard || spec.store.is_some() {
        // The run file, and a local scenario's bytes beside it (and the merge's policy).
        mounts.push(mount("config", "/config", true));
        volumes.push(Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource { name: format!("{}-config", spec.name), ..ConfigMapVolumeSource::default() }),
            ..Volume::default()
        });
    }
    PodTemplateSpec {
        metadata: Some(ObjectMeta { labels: Some(labels), ..ObjectMeta::default() }),
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(UID),
                run_as_group: Some(UID),
                fs_group: Some(UID),
                seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..SeccompProfile::default() }),
                ..PodSecurityContext::default()
            }),
            containers: vec![Container {
                name: "volley".into(),
                image: Some(spec.image.clone()),
                args: Some(args),
                env: Some(envs),
                volume_mounts: Some(mounts),
                security_context: Some(SecurityContext {
                    run_as_non_root: Some(true),
                    read_only_root_filesystem: Some(true),
                    allow_privilege_escalation: Some(false),
                    privileged: Some(false),
                    capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), add: None }),
                    ..SecurityContext::default()
                }),
                ..Container::default()
            }],
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
    }
}

/// Egress only to the target (and registry, and DNS for a named target); no ingress.
fn network_policy(spec: &RenderSpec, run: &RunFile) -> Result<NetworkPolicy, KubeError> {
    let (host, port) = host_port(&run.target)?;
    let is_ip = host.parse::<std::net::IpAddr>().ok();
    let mut cidrs = spec.egress_cidrs.clone();
    if let Some(ip) = is_ip {
        cidrs.push(if ip.is_ipv4() { format!("{ip}/32") } else { format!("{ip}/128") });
    }
    if cidrs.is_empty() && spec.target_pods.is_empty() {
        return invalid(format!(
            "the target '{host}' is a name: say where it is for the NetworkPolicy (--egress-cidr CIDR or --target-pods KEY=VALUE)"
        ));
    }
    let mut peers: Vec<NetworkPolicyPeer> = cidrs.iter().map(|c| ip_peer(c)).collect();
    if !spec.target_pods.is_empty() {
        peers.push(NetworkPolicyPeer {
            pod_selector: Some(LabelSelector { match_labels: Some(spec.target_pods.clone()), ..LabelSelector::default() }),
            ..NetworkPolicyPeer::default()
        });
    }
    let mut egress = vec![NetworkPolicyEgressRule { to: Some(peers), ports: Some(vec![tcp(port)]) }];
    if !spec.registry_cidrs.is_empty() {
        egress.push(NetworkPolicyEgressRule {
            to: Some(spec.registry_cidrs.iter().map(|c| ip_peer(c)).collect()),
            ports: Some(vec![tcp(443), tcp(5000)]),
        });
    }
    if is_ip.is_none() || !spec.registry_cidrs.is_empty() {
        // Names need DNS: the cluster's resolver, port 53.
        egress.push(dns_rule());
    }
    Ok(NetworkPolicy {
        metadata: meta(spec, format!("{}-egress", spec.name)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector { match_labels: Some(labels(spec)), ..LabelSelector::default() }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(Vec::new()),
            egress: Some(egress),
        }),
    })
}

pub(crate) fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort { protocol: Some("TCP".into()), port: Some(IntOrString::Int(port)), ..NetworkPolicyPort::default() }
}

pub(crate) fn ip_peer(cidr: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer { ip_block: Some(IPBlock { cidr: cidr.to_owned(), except: None }), ..NetworkPolicyPeer::default() }
}

/// Egress to the cluster's resolver (port 53), for destinations named by DNS.
pub(crate) fn dns_rule() -> NetworkPolicyEgressRule {
    let dns =
        |proto: &str| NetworkPolicyPort { protocol: Some(proto.into()), port: Some(IntOrString::Int(53)), ..NetworkPolicyPort::default() };
    NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector::default()),
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())])),
                ..LabelSelector::default()
            }),
            ..NetworkPolicyPeer::default()
        }]),
        ports: Some(vec![dns("UDP"), dns("TCP")]),
    }
}

/// The manifests as one `List`, for `kubectl apply -f`.
pub fn as_list(items: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items })
}
