//! `volley kube render`: the Kubernetes manifests of a sharded run (volley-kube), from
//! a run file, as one `List` for `kubectl apply -f`. The common start (`--start-at`) is
//! fixed now, `--start-in-s` ahead, so every pod starts its first stage together.
//!
//! The run file and a local scenario it names are read through the one reader for
//! foreign files. The scenario's path stays under the run file's folder (as for `volley
//! run --config`: no absolute path, no `..`, no link leading out), so the ConfigMap can
//! carry no file from elsewhere; the operator names a scenario elsewhere with
//! `--scenario-file`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use volley::core::foreign_file::{self, Kind};
use volley::core::text::printable;

use super::config;
use super::exit::Exit;

#[derive(clap::Subcommand, Debug)]
pub enum KubeCommand {
    /// Write the manifests of a sharded run (docs/cluster.md)
    Render(RenderArgs),
}

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// The run file (the options of `volley run`, TOML); carried in a ConfigMap
    #[arg(long)]
    pub config: PathBuf,
    /// A local scenario to carry in the ConfigMap instead of the one the run file names
    /// (which must be beside the run file)
    #[arg(long)]
    pub scenario_file: Option<PathBuf>,
    /// Shards: the Indexed Job's completions and parallelism
    #[arg(long)]
    pub shards: u32,
    /// Name of the run; objects are called NAME-shards, NAME-config, …
    #[arg(long, default_value = "volley")]
    pub name: String,
    #[arg(long)]
    pub namespace: Option<String>,
    /// The Volley image (pin it by digest: IMAGE@sha256:…)
    #[arg(long, default_value = concat!("volley:", env!("CARGO_PKG_VERSION")))]
    pub image: String,
    /// How far ahead of now every shard starts, seconds (time to schedule the pods and
    /// pull the image)
    #[arg(long, default_value_t = 120)]
    pub start_in_s: u64,
    /// Where the target is, for the NetworkPolicy (repeatable; its IP is added when the
    /// target is one)
    #[arg(long = "egress-cidr")]
    pub egress_cidrs: Vec<String>,
    /// The target's pods, by label KEY=VALUE (repeatable), for the NetworkPolicy
    #[arg(long = "target-pods")]
    pub target_pods: Vec<String>,
    /// The registry's CIDRs, when the scenario is pulled from one (repeatable)
    #[arg(long = "registry-cidr")]
    pub registry_cidrs: Vec<String>,
    /// Size of the results volume
    #[arg(long, default_value = "1Gi")]
    pub results_size: String,
    #[arg(long)]
    pub storage_class: Option<String>,
    /// The team's PostgreSQL run store for the merged run: a Secret in the namespace whose
    /// key (default `url`) holds the postgres:// URL [default: a SQLite file on the results volume]
    #[arg(long, value_name = "NAME[:KEY]", requires = "store_endpoint")]
    pub store_secret: Option<String>,
    /// Where that store is (the URL's host and port), for the merge's policy and NetworkPolicy
    #[arg(long, value_name = "HOST:PORT", requires = "store_secret")]
    pub store_endpoint: Option<String>,
    /// The store's CIDRs when its host is a name (repeatable)
    #[arg(long = "store-cidr", requires = "store_secret")]
    pub store_cidrs: Vec<String>,
    /// Write here instead of stdout
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn kube(command: KubeCommand) -> Result<Exit> {
    let KubeCommand::Render(a) = command;
    let run_toml = foreign_file::read_text(&a.config, Kind::RUN_FILE)?;
    let shown = foreign_file::shown(&a.config);
    // A local scenario travels in the ConfigMap, pinned by its digest.
    let mut table: toml::Table =
        run_toml.parse().map_err(|e: toml::de::Error| anyhow!("run file {shown}: {}", printable(e.message(), 300)))?;
    // Every path the run file names stays under its folder, as `run --config` requires.
    let dir = a.config.parent().unwrap_or(Path::new(""));
    for (key, value) in &table {
        let name = key.replace('_', "-");
        // Every shard would run it: refused here as `run --config` refuses it.
        if config::OPERATOR_ONLY.contains(&name.as_str()) {
            return Err(anyhow!("run file {shown}: {}", volley::core::run_file::operator_only(key)));
        }
        let replaced = name == "scenario" && a.scenario_file.is_some();
        if replaced || name != "scenario" && !config::PATH_KEYS.contains(&name.as_str()) {
            continue;
        }
        let values: Vec<&str> = match value {
            toml::Value::Array(items) => items.iter().filter_map(|v| v.as_str()).collect(),
            v => v.as_str().into_iter().collect(),
        };
        for v in values {
            config::local(&name, v, dir).map_err(|e| anyhow!("run file {shown}: {e}"))?;
        }
    }
    let scenario = table.get("scenario").and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let scenario_file = if let Some(path) = &a.scenario_file {
        // The operator's own file, wherever it is; the run file then names it.
        let bytes = foreign_file::read(path, Kind::CONFIGMAP_SCENARIO)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        table.insert("scenario".into(), name.clone().into());
        Some((name, bytes))
    } else if scenario.is_empty() || scenario.starts_with("builtin:") || scenario.starts_with("oci://") {
        None
    } else {
        let path = config::local("scenario", &scenario, dir).map(PathBuf::from).map_err(|e| anyhow!("run file {shown}: {e}"))?;
        let bytes = foreign_file::read(&path, Kind::CONFIGMAP_SCENARIO)?;
        Some((scenario.clone(), bytes))
    };
    let run_toml =
        if a.scenario_file.is_some() { toml::to_string(&table).map_err(|e| anyhow!("run file {shown}: {e}"))? } else { run_toml };
    let target_pods = a
        .target_pods
        .iter()
        .map(|kv| {
            kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| anyhow!("--target-pods '{kv}' must be KEY=VALUE"))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    if a.start_in_s > 86_400 {
        bail!("--start-in-s must be at most a day");
    }
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let store = match (a.store_secret, a.store_endpoint) {
        (Some(secret), Some(endpoint)) => Some(store_spec(&secret, &endpoint, a.store_cidrs)?),
        _ => None,
    };
    let spec = volley_kube::RenderSpec {
        name: a.name,
        namespace: a.namespace,
        run_toml,
        scenario_file,
        shards: a.shards,
        image: a.image,
        start_at_unix_ms: now_ms + a.start_in_s * 1000,
        egress_cidrs: a.egress_cidrs,
        target_pods,
        registry_cidrs: a.registry_cidrs,
        results_size: a.results_size,
        storage_class: a.storage_class,
        store,
    };
    let items = volley_kube::render(&spec).map_err(|e| anyhow!(e))?;
    let text = serde_json::to_string_pretty(&volley_kube::as_list(items))? + "\n";
    match a.out {
        Some(path) => std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?,
        // JSON escapes control characters inside strings, so its lines are its own.
        None => volley::report::console::ConsoleWriter::stdout().lines(text.lines()),
    }
    Ok(Exit::Ok)
}

/// `--store-secret NAME[:KEY]` and `--store-endpoint HOST:PORT` (`[V6]:PORT` for an IPv6 address).
fn store_spec(secret: &str, endpoint: &str, cidrs: Vec<String>) -> Result<volley_kube::StoreSpec> {
    let (secret, key) = secret.split_once(':').unwrap_or((secret, "url"));
    let bad = || anyhow!("--store-endpoint '{}' must be HOST:PORT", printable(endpoint, 300));
    let (host, port) = endpoint.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(bad());
    }
    Ok(volley_kube::StoreSpec { secret: secret.into(), key: key.into(), host: host.into(), port, cidrs })
}
