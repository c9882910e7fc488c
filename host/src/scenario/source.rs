//! Where a scenario component comes from and what it is: its bytes, a display name and
//! its sha256 digest (reported with every run).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use super::builtin;

#[derive(Clone)]
pub struct ScenarioSource {
    /// How the operator named it: a path or `builtin:NAME`.
    pub origin: String,
    /// A short name for messages: the builtin's name or the file stem.
    pub label: String,
    pub bytes: Arc<[u8]>,
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
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
    /// Reads `builtin:NAME` or a `.wasm` file.
    pub fn load(spec: &str) -> Result<Self> {
        if let Some(name) = spec.strip_prefix("builtin:") {
            let Some(bytes) = builtin::get(name) else {
                let known: Vec<_> = builtin::names().collect();
                bail!("unknown builtin scenario '{name}' (available: {})", known.join(", "));
            };
            return Ok(Self::from_bytes(spec, name, bytes.into()));
        }
        let path = Path::new(spec);
        let bytes = std::fs::read(path).with_context(|| format!("cannot read scenario '{spec}'"))?;
        let label = path.file_stem().and_then(|s| s.to_str()).unwrap_or(spec).to_string();
        Ok(Self::from_bytes(spec, &label, bytes.into()))
    }

    pub fn from_bytes(origin: &str, label: &str, bytes: Arc<[u8]>) -> Self {
        let digest = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
        ScenarioSource { origin: origin.to_string(), label: label.to_string(), bytes, digest }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
