//! Loading a scenario from the command line: the component (a builtin, a file, a
//! package or an OCI reference, with its digest pin and declared parameters checked)
//! and what the operator grants it (`--tokenizer`, `--dataset NAME=PATH`), before
//! anything is sent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use volley::core::Policy;
use volley::data::{Dataset, OnError, Tokenizer};
use volley::wasm::{Grants, SandboxLimits, ScenarioEngine, ScenarioSource, WasmScenario};

/// How to load a scenario.
pub(super) struct ScenarioSpec {
    /// `builtin:NAME`, a `.wasm` component, a `.volley` package or `oci://REF`.
    pub source: String,
    pub params: serde_json::Value,
    /// Refuse it unless its component has this digest.
    pub digest: Option<String>,
    pub seed: u64,
    pub limits: SandboxLimits,
    pub show_debug: bool,
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
    let engine = ScenarioEngine::with_policy(policy)?;
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
            eprintln!(
                "dataset '{name}': {} {} ({}, {:.1} MiB) indexed in {:.2} s{skipped}",
                dataset.len(),
                if folder { "media files" } else { "rows" },
                dataset.format.as_str(),
                dataset.bytes as f64 / (1 << 20) as f64,
                started.elapsed().as_secs_f64()
            );
        }
        opened.push(Arc::new(dataset));
    }
    Ok(Grants { tokenizer, datasets: opened })
}
