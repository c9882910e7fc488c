//! Where a scenario component comes from and what it is: its bytes, a display name,
//! its sha256 digest (reported with every run) and, for a package, its manifest.
//!
//! A scenario is named as `builtin:NAME`, a `.wasm` component, a package file (verified
//! against its manifest's digest) or `oci://REGISTRY/REPOSITORY[:TAG][@DIGEST]` (pulled
//! and verified).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail};

use volley_core::Policy;
use volley_core::foreign_file::{self, Kind};

use crate::WasmError;
use crate::builtin;
use crate::caps::Grants;
use crate::package::archive::is_package;
use crate::package::{Manifest, Package};
use crate::registry::{self, Pulled, Reference};

#[derive(Clone)]
pub struct ScenarioSource {
    /// How the operator named it: a path or `builtin:NAME`.
    pub origin: String,
    /// A short name for messages: the builtin's name or the file stem.
    pub label: String,
    pub bytes: Arc<[u8]>,
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    /// The package manifest, when the scenario came as a package.
    pub manifest: Option<Arc<Manifest>>,
}

impl std::fmt::Debug for ScenarioSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScenarioSource")
            .field("origin", &self.origin)
            .field("digest", &self.digest)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl ScenarioSource {
    /// Reads `builtin:NAME`, a `.wasm` file, a package file or an `oci://` reference
    /// (blocking: a pull runs on a thread of its own), within the default policy.
    pub fn load(spec: &str) -> Result<Self, WasmError> {
        Self::load_with(spec, &Policy::default())
    }

    /// [`ScenarioSource::load`] within `policy`: package and component sizes, what a
    /// registry may send and where it may redirect.
    pub fn load_with(spec: &str, policy: &Policy) -> Result<Self, WasmError> {
        Self::read(spec, policy).map_err(WasmError::from_anyhow)
    }

    fn read(spec: &str, policy: &Policy) -> Result<Self> {
        if spec.starts_with("oci://") {
            let reference = Reference::parse(spec)?;
            let label = reference.repository.rsplit('/').next().unwrap_or("scenario").to_string();
            return Ok(match registry::pull(&reference, policy)? {
                Pulled::Package(p) => Self::from_package(spec, *p),
                Pulled::Component(bytes) => Self::from_bytes(spec, &label, bytes.to_vec().into()),
            });
        }
        if let Some(name) = spec.strip_prefix("builtin:") {
            let Some(bytes) = builtin::get(name) else {
                let known: Vec<_> = builtin::names().collect();
                bail!("unknown builtin scenario '{name}' (available: {})", known.join(", "));
            };
            return Ok(Self::from_bytes(spec, name, bytes.into()));
        }
        let path = Path::new(spec);
        // Through the one reader for foreign files: a regular file (a FIFO or a device is
        // refused without blocking), at most the larger of the policy's two bounds; which
        // bound applies is known once the bytes say what they are.
        let kind = Kind::SCENARIO.with_max(policy.max_package_bytes.max(policy.max_component_bytes));
        let bytes = foreign_file::read(path, kind)?;
        if is_package(&bytes) {
            if bytes.len() as u64 > policy.max_package_bytes {
                bail!("package '{spec}' is {} bytes, over the policy's max_package_bytes ({})", bytes.len(), policy.max_package_bytes);
            }
            return Ok(Self::from_package(spec, Package::read_checked(&bytes, spec, policy)?));
        }
        if bytes.len() as u64 > policy.max_component_bytes {
            bail!("component '{spec}' is {} bytes, over the policy's max_component_bytes ({})", bytes.len(), policy.max_component_bytes);
        }
        let label = path.file_stem().and_then(|s| s.to_str()).unwrap_or(spec);
        Ok(Self::from_bytes(spec, &volley_core::text::printable(label, 64), bytes.into()))
    }

    /// A verified package's component, labelled with the package's name.
    pub fn from_package(origin: &str, package: Package) -> Self {
        let mut source = Self::from_bytes(origin, &package.manifest.name, package.component);
        source.manifest = Some(Arc::new(package.manifest));
        source
    }

    pub fn from_bytes(origin: &str, label: &str, bytes: Arc<[u8]>) -> Self {
        let digest = crate::package::archive::sha256(&bytes);
        ScenarioSource { origin: origin.to_string(), label: label.to_string(), bytes, digest, manifest: None }
    }
}

impl ScenarioSource {
    /// For a packaged scenario: the operator's parameters against the declared ones.
    pub fn check_params(&self, params: &serde_json::Value) -> Result<(), WasmError> {
        match &self.manifest {
            Some(m) => crate::package::params::check(&m.name, &m.params, params).map_err(WasmError::from_anyhow),
            None => Ok(()),
        }
    }

    /// For a packaged scenario: every dataset it requires is granted.
    pub fn check_datasets(&self, grants: &Grants) -> Result<(), WasmError> {
        let Some(m) = &self.manifest else { return Ok(()) };
        for (name, need) in &m.datasets {
            if need.required && !grants.datasets.iter().any(|d| &d.name == name) {
                let what = if need.description.is_empty() { String::new() } else { format!(" ({})", need.description) };
                return Err(WasmError::Source(format!(
                    "package '{}' needs dataset '{name}'{what}: grant it with --dataset {name}=PATH",
                    m.name
                )));
            }
        }
        Ok(())
    }
}
