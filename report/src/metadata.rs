//! `report.json`'s `metadata`: the context of a run, captured with it — what the server
//! said of itself just before the run ([`ServerMetadata`]), the command that started it
//! when Volley did ([`LaunchMetadata`]), and the machine that generated the load
//! ([`HostMetadata`]). Every field defaults when absent, so reports written before it
//! read back.
//!
//! What a server says is a stranger's text: the engine keeps a whitelisted subset of
//! each answer, every string clipped (`volley_core::text::clip`), lists bounded; the
//! console shows it through its one writer, which makes it printable, and the HTML
//! escapes it.

use serde::{Deserialize, Serialize};
use volley_core::foreign_file::bounded::vec_at_most;
use volley_core::text::clip;

/// Most models, endpoints, extensions or GPUs kept of one answer (and read back).
pub const MAX_LIST: usize = 64;
/// Most shard hosts of a merged report.
const MAX_SHARDS: usize = 100_000;
/// Longest string kept of a server's answer, in characters.
pub const MAX_TEXT_CHARS: usize = 256;

/// The run's context (docs/report.md, `metadata`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metadata {
    /// What the target said of itself before the run.
    pub server: Option<ServerMetadata>,
    /// The server command Volley started (`--launch`).
    pub launch: Option<LaunchMetadata>,
    /// The machine that generated the load.
    pub host: Option<HostMetadata>,
    /// `volley merge`: every shard's host, in shard order (`host` is the first's).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "vec_at_most::<_, _, MAX_SHARDS>")]
    pub shard_hosts: Vec<HostMetadata>,
}

/// The server's own account of itself, from the endpoints its kind has.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerMetadata {
    /// The server kind the endpoints were chosen for (`--server-kind`), or `any` (the
    /// cheap endpoints of every kind were tried).
    pub kind: String,
    /// Each endpoint asked, and how it answered.
    #[serde(deserialize_with = "vec_at_most::<_, _, MAX_LIST>")]
    pub endpoints: Vec<EndpointAnswer>,
    /// `GET /v1/models` (OpenAI-compatible servers), at most [`MAX_LIST`].
    #[serde(deserialize_with = "vec_at_most::<_, _, MAX_LIST>")]
    pub models: Vec<ServerModel>,
    /// vLLM's `GET /version`.
    pub vllm_version: Option<String>,
    /// TGI's `GET /info`.
    pub tgi: Option<TgiInfo>,
    /// llama.cpp's `GET /props`.
    pub llamacpp: Option<LlamaCppProps>,
    /// KServe v2 / Triton: `GET /v2` and `GET /v2/models/{model}/config`.
    pub kserve: Option<KserveInfo>,
}

/// One endpoint asked: its path, the status (none: no answer) and why it was not used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointAnswer {
    pub path: String,
    pub status: Option<u16>,
    /// Answered 200 with the JSON expected; what it said is kept.
    pub ok: bool,
    pub error: Option<String>,
}

/// One model of `/v1/models`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerModel {
    pub id: String,
    pub owned_by: Option<String>,
    /// vLLM's context length.
    pub max_model_len: Option<u64>,
    /// llama.cpp's `meta`: training context and parameters.
    pub n_ctx_train: Option<u64>,
    pub n_params: Option<u64>,
}

/// TGI's `/info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TgiInfo {
    pub model_id: Option<String>,
    pub model_sha: Option<String>,
    pub model_dtype: Option<String>,
    pub version: Option<String>,
    pub sha: Option<String>,
    pub docker_label: Option<String>,
    pub max_input_tokens: Option<u64>,
    pub max_total_tokens: Option<u64>,
    pub max_concurrent_requests: Option<u64>,
    pub max_batch_total_tokens: Option<u64>,
}

/// llama.cpp's `/props`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlamaCppProps {
    /// `b1234-abcdef`.
    pub build_info: Option<String>,
    pub model_path: Option<String>,
    pub model_alias: Option<String>,
    /// The quantization (`Q4_1`).
    pub model_ftype: Option<String>,
    /// The context per slot (`default_generation_settings.n_ctx`, or `n_ctx`).
    pub n_ctx: Option<u64>,
    pub total_slots: Option<u64>,
    /// The chat template's name, where the server names it.
    pub chat_template_name: Option<String>,
    /// The chat template's length in bytes (its text is not kept).
    pub chat_template_bytes: Option<u64>,
}

/// KServe v2's server metadata and one model's configuration (Triton's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KserveInfo {
    pub name: Option<String>,
    pub version: Option<String>,
    #[serde(deserialize_with = "vec_at_most::<_, _, MAX_LIST>")]
    pub extensions: Vec<String>,
    pub model: Option<KserveModelConfig>,
}

/// `/v2/models/{model}/config`: what identifies how the model is served.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KserveModelConfig {
    pub name: Option<String>,
    pub platform: Option<String>,
    pub backend: Option<String>,
    pub max_batch_size: Option<u64>,
}

/// The server Volley started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LaunchMetadata {
    /// The command line as given (`--launch`).
    pub command: String,
}

/// The load generator's machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostMetadata {
    pub hostname: Option<String>,
    /// `/proc/cpuinfo`'s `model name`.
    pub cpu_model: Option<String>,
    /// The CPUs this process may use (`available_parallelism`).
    pub cores_available: u64,
    /// The CPUs online (`/sys/devices/system/cpu/online`, else `/proc/cpuinfo`).
    pub cpus_online: Option<u64>,
    /// `/proc/meminfo`'s `MemTotal`, MiB.
    pub memory_total_mib: Option<u64>,
    /// `/etc/os-release`'s `PRETTY_NAME`.
    pub os: Option<String>,
    /// `uname -sr`.
    pub kernel: Option<String>,
    pub volley_version: String,
    /// GPUs NVML lists (none when NVML is absent).
    #[serde(deserialize_with = "vec_at_most::<_, _, MAX_LIST>")]
    pub gpus: Vec<HostGpu>,
    pub gpu_driver: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostGpu {
    pub index: u32,
    pub name: Option<String>,
    pub memory_total_mib: u64,
}

impl ServerMetadata {
    /// `server: llama.cpp b1234 · model M · n_ctx 2048`, or none when nothing answered.
    pub fn summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(p) = &self.llamacpp {
            parts.push(format!("llama.cpp {}", clip(p.build_info.as_deref().unwrap_or("?"), 40)));
        }
        if let Some(v) = &self.vllm_version {
            parts.push(format!("vLLM {}", clip(v, 40)));
        }
        if let Some(t) = &self.tgi {
            parts.push(format!("TGI {}", clip(t.version.as_deref().unwrap_or("?"), 40)));
        }
        if let Some(k) = &self.kserve {
            parts.push(format!("{} {}", clip(k.name.as_deref().unwrap_or("KServe v2"), 40), clip(k.version.as_deref().unwrap_or(""), 40)));
        }
        let model = self
            .models
            .first()
            .map(|m| m.id.as_str())
            .or_else(|| self.tgi.as_ref().and_then(|t| t.model_id.as_deref()))
            .or_else(|| self.kserve.as_ref().and_then(|k| k.model.as_ref()).and_then(|m| m.name.as_deref()));
        if let Some(m) = model {
            parts.push(format!("model {}", clip(m, 80)));
        }
        let ctx = self
            .llamacpp
            .as_ref()
            .and_then(|p| p.n_ctx)
            .or_else(|| self.models.first().and_then(|m| m.max_model_len))
            .or_else(|| self.tgi.as_ref().and_then(|t| t.max_total_tokens));
        if let Some(n) = ctx {
            parts.push(format!("n_ctx {n}"));
        }
        if let Some(n) = self.llamacpp.as_ref().and_then(|p| p.total_slots) {
            parts.push(format!("{n} slots"));
        }
        (!parts.is_empty()).then(|| parts.join(" · "))
    }
}

impl HostMetadata {
    /// `AMD EPYC … · 2 cores · 24 GiB · 1 GPU (H100)`.
    pub fn summary(&self) -> String {
        let mut parts = vec![clip(self.cpu_model.as_deref().unwrap_or("unknown CPU"), 80).into_owned()];
        parts.push(format!("{} cores", self.cores_available));
        if let Some(m) = self.memory_total_mib {
            parts.push(format!("{:.0} GiB", m as f64 / 1024.0));
        }
        if let Some(g) = self.gpus.first() {
            let n = self.gpus.len();
            parts.push(format!("{n} GPU{} ({})", if n == 1 { "" } else { "s" }, clip(g.name.as_deref().unwrap_or("?"), 60)));
        }
        parts.join(" · ")
    }
}

impl Metadata {
    /// The console header's lines (the console writer makes them printable).
    pub fn summary_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let server = self.server.as_ref().and_then(ServerMetadata::summary);
        match (server, &self.host) {
            (Some(s), Some(h)) => out.push(format!("server: {s} | host: {}", h.summary())),
            (Some(s), None) => out.push(format!("server: {s}")),
            (None, Some(h)) => out.push(format!("host: {}", h.summary())),
            (None, None) => {}
        }
        if let Some(l) = &self.launch {
            out.push(format!("launched: {}", clip(&l.command, 300)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_reports_read_and_the_summary_names_what_answered() {
        let m: Metadata = serde_json::from_str("{}").unwrap();
        assert_eq!(m, Metadata::default());
        assert!(m.summary_lines().is_empty());
        let m = Metadata {
            server: Some(ServerMetadata {
                kind: "llamacpp".into(),
                models: vec![ServerModel { id: "smollm".into(), ..ServerModel::default() }],
                llamacpp: Some(LlamaCppProps {
                    build_info: Some("b1234-abc".into()),
                    n_ctx: Some(2048),
                    total_slots: Some(4),
                    ..LlamaCppProps::default()
                }),
                ..ServerMetadata::default()
            }),
            host: Some(HostMetadata {
                cpu_model: Some("AMD EPYC 7B13".into()),
                cores_available: 2,
                memory_total_mib: Some(24 * 1024),
                ..HostMetadata::default()
            }),
            launch: Some(LaunchMetadata { command: "llama-server -m x".into() }),
            shard_hosts: Vec::new(),
        };
        assert_eq!(
            m.summary_lines(),
            vec![
                "server: llama.cpp b1234-abc · model smollm · n_ctx 2048 · 4 slots | host: AMD EPYC 7B13 · 2 cores · 24 GiB".to_string(),
                "launched: llama-server -m x".to_string()
            ]
        );
        let back: Metadata = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
