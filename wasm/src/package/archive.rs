//! The package file: a plain POSIX tar (inspectable with `tar tf`) holding
//! `volley-package.json` and the component it names. Reading verifies the component
//! against the manifest's sha256, so a package changed after packing is refused.
//! Writing is reproducible: fixed order, mode, owner and time.

use std::io::Read;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

use volley_core::Policy;

use super::manifest::{COMPONENT_FILE, Manifest, SCHEMA};
use crate::WasmError;

/// The manifest's name inside a package.
pub const MANIFEST_FILE: &str = "volley-package.json";
/// Largest manifest read.
const MAX_MANIFEST: u64 = 1 << 20;
/// The conventional file extension.
pub const EXTENSION: &str = "volley";

/// A verified package: its manifest and the component's bytes.
#[derive(Debug, Clone)]
pub struct Package {
    pub manifest: Manifest,
    pub component: Arc<[u8]>,
}

/// Whether `bytes` look like a package (a tar archive) rather than a bare component.
pub fn is_package(bytes: &[u8]) -> bool {
    bytes.get(257..262) == Some(b"ustar")
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

impl Package {
    /// Reads and verifies a package within the default policy; `origin` names it in
    /// errors.
    pub fn read(bytes: &[u8], origin: &str) -> Result<Package, WasmError> {
        Self::read_checked(bytes, origin, &Policy::default()).map_err(WasmError::from_anyhow)
    }

    /// A package is exactly two regular files, the manifest and the component it names,
    /// each read only up to its size limit: any other entry (a link, a directory, a
    /// sparse file, a second copy) is refused before anything is read into memory.
    pub(crate) fn read_checked(bytes: &[u8], origin: &str, policy: &Policy) -> Result<Package> {
        let unreadable = |e: std::io::Error| anyhow!("'{origin}' is not a readable package: {e}");
        let mut archive = tar::Archive::new(bytes);
        let mut manifest_json: Option<Vec<u8>> = None;
        let mut component: Option<Vec<u8>> = None;
        for entry in archive.entries().map_err(unreadable)? {
            let entry = entry.map_err(unreadable)?;
            let name = entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            let shown = volley_core::text::printable(&name, 80);
            if entry.header().entry_type() != tar::EntryType::Regular {
                bail!("package '{origin}' has an entry '{shown}' that is not a regular file; refusing it");
            }
            let (slot, cap) = match name.as_str() {
                MANIFEST_FILE => (&mut manifest_json, MAX_MANIFEST),
                COMPONENT_FILE => (&mut component, policy.max_component_bytes),
                _ => bail!("package '{origin}' has an unexpected entry '{shown}'; refusing it"),
            };
            if slot.is_some() {
                bail!("package '{origin}' has '{shown}' twice; refusing it");
            }
            let size = entry.header().size().map_err(unreadable)?;
            if size > cap {
                bail!("package '{origin}': '{shown}' is {size} bytes, over the limit of {cap}; refusing it");
            }
            let mut data = Vec::with_capacity(size as usize);
            entry.take(cap + 1).read_to_end(&mut data).with_context(|| format!("reading {shown} in '{origin}'"))?;
            if data.len() as u64 != size {
                bail!("package '{origin}': '{shown}' is not {size} bytes as its header says; refusing it");
            }
            *slot = Some(data);
        }
        let json = manifest_json.ok_or_else(|| anyhow!("'{origin}' is not a Volley package: it has no {MANIFEST_FILE}"))?;
        let manifest: Manifest =
            serde_json::from_slice(&json).map_err(|e| anyhow!("package '{origin}' has an invalid {MANIFEST_FILE}: {e}"))?;
        let Some(component) = component.filter(|_| manifest.component.file == COMPONENT_FILE) else {
            bail!("package '{origin}' is damaged: its manifest names '{}', which it does not contain", manifest.component.file);
        };
        Package::verified(manifest, component.into(), origin)
    }

    /// A package from its parts, once the component is checked against the manifest's
    /// format, sha256 and size (for a file, or the layers of a registry artifact).
    pub(crate) fn verified(manifest: Manifest, component: Arc<[u8]>, origin: &str) -> Result<Package> {
        if manifest.schema != SCHEMA {
            bail!(
                "package '{origin}' uses manifest format '{}', this Volley reads '{SCHEMA}'",
                volley_core::text::printable(&manifest.schema, 64)
            );
        }
        manifest.check().map_err(|e| anyhow!("package '{origin}' has an invalid manifest: {e}"))?;
        let want = &manifest.component;
        let got = sha256(&component);
        if !got.eq_ignore_ascii_case(&want.sha256) || component.len() as u64 != want.size {
            bail!(
                "package '{origin}' is damaged or has been tampered with: its component has sha256 {got} ({} bytes) \
                 but its manifest says {} ({} bytes); refusing to run it",
                component.len(),
                want.sha256,
                want.size
            );
        }
        Ok(Package { manifest, component })
    }

    /// The package file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WasmError> {
        self.archive().map_err(WasmError::from_anyhow)
    }

    fn archive(&self) -> Result<Vec<u8>> {
        let json = serde_json::to_vec_pretty(&self.manifest)?;
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in [(MANIFEST_FILE, &json[..]), (self.manifest.component.file.as_str(), &self.component[..])] {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            builder.append_data(&mut header, name, data)?;
        }
        Ok(builder.into_inner()?)
    }
}
