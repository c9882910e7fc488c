//! `volley pack`: a built component plus its project file (`volley.json`) become one
//! package. The component is compiled and instantiated in its sandbox first, and its
//! `configure` must accept the declared defaults, so a package that cannot run is never
//! made.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

use crate::package::archive::{Package, sha256};
use crate::package::manifest::{ComponentInfo, Manifest, PARAM_TYPES, Param, ProjectFile, SCHEMA, params_schema};
use crate::package::params::is_type;
use volley_core::{Policy, Workload};

use crate::caps::Grants;
use crate::instance::WasmScenario;
use crate::runtime::ScenarioEngine;
use crate::sandbox::SandboxLimits;
use crate::source::ScenarioSource;

/// Builds a package from a component (`builtin:NAME` or a .wasm file) and an optional
/// project file.
pub fn pack(component: &str, project: Option<&Path>, policy: &Policy) -> Result<Package, crate::WasmError> {
    pack_checked(component, project, policy).map_err(crate::WasmError::from_anyhow)
}

fn pack_checked(component: &str, project: Option<&Path>, policy: &Policy) -> Result<Package> {
    let source = ScenarioSource::load_with(component, policy)?;
    if source.manifest.is_some() {
        bail!("'{component}' is already a package; pack the .wasm component it was made from");
    }
    let project = match project {
        Some(p) => read_project(p)?,
        None => ProjectFile::default(),
    };
    check_params(&project)?;

    let engine = ScenarioEngine::with_policy(policy)?;
    let compiled = engine.compile(&source)?;
    let mut instance = WasmScenario::instantiate(&compiled, SandboxLimits::from_policy(policy), 1, &Grants::default())?;
    let info = instance.describe()?;
    // Datasets are not granted at pack time: only scenarios that need none are configured.
    if project.datasets.values().all(|d| !d.required) {
        instance
            .configure(&defaults(&project.params))
            .and_then(|plan| volley_core::workload::validate_plan(instance.label(), &plan))
            .map_err(|e| anyhow!("not packing '{component}': with its default parameters, {e}"))?;
    }

    let name = project.name.clone().unwrap_or(info.name);
    if !crate::package::manifest::valid_name(&name) {
        let name = volley_core::text::printable(&name, 64);
        bail!("package name '{name}' must be lowercase letters, digits and '-' (e.g. my-scenario)");
    }
    let package = Package {
        manifest: Manifest {
            schema: SCHEMA.into(),
            name,
            version: project.version.clone().unwrap_or(info.version),
            description: project.description.clone().unwrap_or(info.description),
            wit: compiled.version.semver().into(),
            authors: project.authors.clone(),
            license: project.license.clone(),
            params_schema: params_schema(&project.params),
            params: project.params,
            datasets: project.datasets,
            component: ComponentInfo {
                file: crate::package::manifest::COMPONENT_FILE.into(),
                sha256: sha256(&source.bytes),
                size: source.bytes.len() as u64,
            },
            created_by: format!("volley {}", env!("CARGO_PKG_VERSION")),
        },
        component: source.bytes.clone(),
    };
    package.manifest.check().map_err(|e| anyhow!("not packing '{component}': {e}"))?;
    Ok(package)
}

/// The project file, through the one reader for foreign files (a regular file of at
/// most 1 MiB; a FIFO or a device is refused without blocking), typed.
fn read_project(path: &Path) -> Result<ProjectFile> {
    use volley_core::foreign_file::{self, Kind};
    Ok(foreign_file::read_json(path, Kind::PROJECT)?)
}

fn check_params(project: &ProjectFile) -> Result<()> {
    for (name, p) in &project.params {
        if !PARAM_TYPES.contains(&p.kind.as_str()) {
            bail!("parameter `{name}` has type '{}'; use one of {}", p.kind, PARAM_TYPES.join(", "));
        }
        if let Some(d) = &p.default
            && !is_type(d, &p.kind)
        {
            bail!("the default of parameter `{name}` ({d}) is not of its type {}", p.kind);
        }
    }
    Ok(())
}

/// Parameter defaults as a JSON object, for display.
pub fn defaults(params: &BTreeMap<String, Param>) -> Value {
    Value::Object(params.iter().filter_map(|(k, p)| p.default.clone().map(|d| (k.clone(), d))).collect())
}
