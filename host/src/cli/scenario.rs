//! Loading a scenario from the command line: the component (a builtin, a file, a
//! package or an OCI reference, with its digest pin and declared parameters checked)
//! and what the operator grants it (`--tokenizer`, `--dataset NAME=PATH`), before
//! anything is sent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use volley::core::Policy;
use volley::data::{Dataset, OnError, Tokenizer};
use volley::report::console::ConsoleWriter;
use volley::wasm::{Grants, SandboxLimits, ScenarioEngine, ScenarioSource, WasmScenario};

/// How to load a scenario.
#[derive(Clone)]
pub(super) struct ScenarioSpec {
    /// `builtin:NAME`, a `.wasm` component, a `.volley` package or `oci://REF`.
    pub source: String,
    pub params: serde_json::Value,
    /// Refuse it unless its component has this digest.
    pub digest: Option<String>,
    pub seed: u64,
    pub limits: SandboxLimits,
    pub show_debug: bool,
    /// `--quiet`: no compile line unless a cache entry was refused.
    pub quiet: bool,
}

/// Loads, verifies, compiles and instantiates a scenario (blocking); also returns where
/// it came from (with its package manifest).
pub(super) fn instantiate(spec: &ScenarioSpec, grants: &Grants, policy: &Policy) -> Result<(WasmScenario, ScenarioSource)> {
    let source = ScenarioSource::load_with(&spec.source, policy)?;
    source.check_params(&spec.params)?;
    if let Some(want) = &spec.digest
        && !want.eq_ignore_ascii_case(&source.digest)
    {
        bail!("scenario '{}' has digest {}, not the pinned {want}; refusing to run it", source.origin, source.digest);
    }
    source.check_datasets(grants)?;
    // A compile the cache cannot spare takes seconds (Python, JS): say so before it.
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let quiet = spec.quiet;
    let engine = ScenarioEngine::with_policy(policy)?.on_compile(move |n| {
        if n.refused_entry || (!quiet && n.worth_showing(interactive)) {
            ConsoleWriter::stderr().line(&n.to_string())
        }
    });
    let compiled = engine.compile(&source)?;
    let mut scenario = WasmScenario::instantiate(&compiled, spec.limits, spec.seed, grants)?;
    scenario.set_show_debug(spec.show_debug);
    Ok((scenario, source))
}

/// `--params` as a JSON object.
pub(super) fn parse_params(text: &str) -> Result<serde_json::Value> {
    let params: serde_json::Value = serde_json::from_str(if text.trim().is_empty() { "{}" } else { text })
        .map_err(|e| anyhow::anyhow!("--params is not valid JSON: {e}"))?;
    if !params.is_object() {
        bail!("--params must be a JSON object, e.g. '{{\"rate\": 5}}'");
    }
    Ok(params)
}

/// Loads the tokenizer and indexes the datasets; `progress` says what was indexed.
pub(super) fn load_grants(tokenizer: Option<&PathBuf>, datasets: &[String], on_error: OnError, progress: bool) -> Result<Grants> {
    let tokenizer = match tokenizer {
        Some(path) => Some(Arc::new(Tokenizer::from_file(path)?)),
        None => None,
    };
    let mut opened: Vec<Arc<Dataset>> = Vec::new();
    for spec in datasets {
        let (name, path) = Dataset::parse_grant(spec)?;
        if opened.iter().any(|d| d.name == name) {
            bail!("--dataset '{name}' is given twice");
        }
        let started = Instant::now();
        let dataset = Dataset::open(&name, &path, on_error)?;
        if progress {
            let folder = dataset.format == volley::data::dataset::Format::Folder;
            let skipped = match (dataset.skipped, folder) {
                (0, _) => String::new(),
                (n, true) => format!(", {n} other entries skipped"),
                (n, false) => format!(", {n} malformed rows skipped"),
            };
            ConsoleWriter::stderr().line(&format!(
                "dataset '{name}': {} {} ({}, {:.1} MiB) indexed in {:.2} s{skipped}",
                dataset.len(),
                if folder { "media files" } else { "rows" },
                dataset.format.as_str(),
                dataset.bytes as f64 / (1 << 20) as f64,
                started.elapsed().as_secs_f64()
            ));
        }
        opened.push(Arc::new(dataset));
    }
    Ok(Grants { tokenizer, datasets: opened })
}

/// The sandbox's limits: the policy's, or tighter ones from the flags (never looser).
pub(super) fn sandbox_limits(timeout_ms: Option<u64>, memory_mib: Option<usize>, policy: &Policy) -> Result<SandboxLimits> {
    if timeout_ms == Some(0) || memory_mib == Some(0) {
        bail!("--guest-timeout-ms and --guest-memory-mib must be positive");
    }
    if let Some(t) = timeout_ms
        && t > policy.guest_call_ms
    {
        bail!("--guest-timeout-ms {t} is over the policy's guest_call_ms ({})", policy.guest_call_ms);
    }
    if let Some(m) = memory_mib
        && m > policy.guest_memory_mib as usize
    {
        bail!("--guest-memory-mib {m} is over the policy's guest_memory_mib ({})", policy.guest_memory_mib);
    }
    let mut limits = SandboxLimits::from_policy(policy);
    if let Some(t) = timeout_ms {
        limits.call_timeout = Duration::from_millis(t);
    }
    if let Some(m) = memory_mib {
        limits.memory_bytes = m << 20;
    }
    Ok(limits)
}
