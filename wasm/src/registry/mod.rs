//! Pushing and pulling scenario packages to and from an OCI registry (the distribution
//! API), as Wasm artifacts in the layout wasm-pkg-tools and the CNCF Wasm OCI artifact
//! convention use: config `application/vnd.wasm.config.v0+json`, one `application/wasm`
//! layer with the component. Volley adds its package manifest as a second layer
//! (`application/vnd.volley.scenario.manifest.v1+json`), which other tools ignore; a pull
//! of an artifact without it yields the bare component.
//!
//! Everything pulled is content-addressed and checked: the manifest against a pinned
//! digest, every blob against its descriptor, the component against the package
//! manifest. Registries are spoken to over https with the distribution spec's token or
//! basic authentication ([`client`]). Every destination — the registry (`registries`),
//! its token realm, each upload location and blob redirect (`registry_redirect_hosts`) —
//! passes the egress gate before anything is sent to it; only the registry's own origin
//! (and the realm it announces) is given its credentials.

mod artifact;
mod client;
pub mod reference;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use hyper::Method;
use serde_json::json;

use crate::package::archive::sha256;
use crate::package::{Manifest, Package};
use artifact::Descriptor;
use client::Client;
use volley_core::Policy;
use volley_net::http::Response;

use crate::WasmError;
pub use reference::Reference;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER: &str = "application/wasm";
pub const VOLLEY_LAYER: &str = "application/vnd.volley.scenario.manifest.v1+json";

/// Largest OCI manifest (or error body) read from a registry.
const MAX_MANIFEST: usize = 4 << 20;

/// What a pull brings back.
pub enum Pulled {
    Package(Box<Package>),
    /// A Wasm artifact without Volley's manifest layer.
    Component(Bytes),
}

/// The result of a push.
pub struct Pushed {
    /// The OCI manifest's digest: `oci://…@<this>` pins exactly what was pushed.
    pub manifest_digest: String,
    pub reference: Reference,
}

/// Pushes a package under `reference` (its tag; default the package version), within
/// `policy`: the registry and every upload location it answers with pass the egress gate.
pub fn push(package: &Package, reference: &Reference, policy: &Policy) -> Result<Pushed, WasmError> {
    blocking(push_async(package, reference, policy)).map_err(WasmError::from_anyhow)
}

async fn push_async(package: &Package, reference: &Reference, policy: &Policy) -> Result<Pushed> {
    let mut reference = reference.clone();
    if reference.digest.is_some() {
        bail!("push to a tag, not a digest: {reference}");
    }
    let tag = reference.tag.get_or_insert_with(|| package.manifest.version.clone()).clone();
    let m = &package.manifest;
    let volley_json = Bytes::from(serde_json::to_vec_pretty(m)?);
    let component = Bytes::copy_from_slice(&package.component);
    let config = Bytes::from(serde_json::to_vec(&json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [m.component.sha256],
        "component": { "exports": [format!("volley:scenario/workload@{}", m.wit)], "imports": [], "target": null },
    }))?);
    let mut c = Client::connect(&reference.registry, policy).await?;
    let base = reference.api_url(&c.origin);
    let scope = format!("repository:{}:pull,push", reference.repository);
    for blob in [&config, &component, &volley_json] {
        upload_blob(&mut c, &base, blob, &scope).await.with_context(|| format!("pushing to {reference}"))?;
    }
    let descriptor = |media: &str, b: &Bytes| json!({ "mediaType": media, "digest": sha256(b), "size": b.len() });
    let mut annotations = json!({
        "org.opencontainers.image.title": m.name,
        "org.opencontainers.image.version": m.version,
        "org.opencontainers.image.description": m.description,
    });
    if !m.authors.is_empty() {
        annotations["org.opencontainers.image.authors"] = json!(m.authors.join(", "));
    }
    let manifest = Bytes::from(serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(WASM_CONFIG, &config),
        "layers": [descriptor(WASM_LAYER, &component), descriptor(VOLLEY_LAYER, &volley_json)],
        "annotations": annotations,
    }))?);
    let url = format!("{base}/manifests/{tag}");
    let to = c.api(&url)?;
    let resp = c.call(Method::PUT, &to, &[("content-type", OCI_MANIFEST)], manifest.clone(), MAX_MANIFEST, &scope).await?;
    expect(&resp, &[201], "storing the manifest", &url)?;
    Ok(Pushed { manifest_digest: sha256(&manifest), reference })
}

/// Pulls and verifies what `reference` names (blocking: on a thread of its own), within
/// `policy`: the registry must be allowed (`registries`), everything it sends is bounded
/// (the manifest, each blob at its descriptor's size), and it may redirect only to itself
/// or the https hosts the policy names (without its credentials).
pub fn pull(reference: &Reference, policy: &Policy) -> Result<Pulled, WasmError> {
    blocking(pull_async(reference, policy)).map_err(WasmError::from_anyhow)
}

async fn pull_async(reference: &Reference, policy: &Policy) -> Result<Pulled> {
    let mut c = Client::connect(&reference.registry, policy).await?;
    let base = reference.api_url(&c.origin);
    let scope = format!("repository:{}:pull", reference.repository);
    let url = format!("{base}/manifests/{}", reference.manifest_ref());
    let to = c.api(&url)?;
    let resp = c.call(Method::GET, &to, &[("accept", OCI_MANIFEST)], Bytes::new(), MAX_MANIFEST, &scope).await?;
    if resp.status == 404 {
        bail!("{reference} was not found in the registry");
    }
    expect(&resp, &[200], "fetching the manifest", &url)?;
    if let Some(want) = &reference.digest {
        let got = sha256(&resp.body);
        if !got.eq_ignore_ascii_case(want) {
            bail!("the registry answered {reference} with a manifest whose digest is {got}; refusing it");
        }
    }
    let layers = artifact::layers(&resp.body, reference, policy)?;
    let component = fetch_blob(&mut c, &base, &layers.component, reference, &scope).await?;
    let Some(volley) = &layers.volley else { return Ok(Pulled::Component(component)) };
    let json = fetch_blob(&mut c, &base, volley, reference, &scope).await?;
    let m: Manifest = serde_json::from_slice(&json).map_err(|e| anyhow!("{reference}: invalid Volley manifest layer: {e}"))?;
    // The layer digest was checked; the package manifest must name the same component.
    Ok(Pulled::Package(Box::new(Package::verified(m, component.to_vec().into(), &reference.to_string())?)))
}

async fn upload_blob(c: &mut Client, base: &str, blob: &Bytes, scope: &str) -> Result<()> {
    let digest = sha256(blob);
    let head = c.api(&format!("{base}/blobs/{digest}"))?;
    let head = c.call(Method::HEAD, &head, &[], Bytes::new(), MAX_MANIFEST, scope).await?;
    if head.status == 200 {
        return Ok(());
    }
    let start = c.api(&format!("{base}/blobs/uploads/"))?;
    let resp = c.call(Method::POST, &start, &[("content-length", "0")], Bytes::new(), MAX_MANIFEST, scope).await?;
    expect(&resp, &[202], "starting a blob upload", &start.to_string())?;
    let location = resp
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| anyhow!("the registry started an upload without a Location"))?;
    // The upload location is where the blob goes: checked like any hop (the registry's
    // origin, else an https host the policy allows, and then without the credentials).
    let mut location = location.to_string();
    location.push(if location.contains('?') { '&' } else { '?' });
    location.push_str(&format!("digest={digest}"));
    let to = c.hop(&start, &location, "upload location")?;
    let resp = c.call(Method::PUT, &to, &[("content-type", "application/octet-stream")], blob.clone(), MAX_MANIFEST, scope).await?;
    expect(&resp, &[201], "uploading a blob", &to.to_string())
}

/// A blob, exactly its descriptor's size (already within the policy), verified by digest.
/// A redirect is followed only where the egress gate allows (the registry's origin, or an
/// https host of `registry_redirect_hosts`), and off the registry's origin without its
/// credentials.
async fn fetch_blob(c: &mut Client, base: &str, blob: &Descriptor, reference: &Reference, scope: &str) -> Result<Bytes> {
    let digest = &blob.digest;
    let mut to = c.api(&format!("{base}/blobs/{digest}"))?;
    let max_body = usize::try_from(blob.size).unwrap_or(usize::MAX);
    for _ in 0..4 {
        let resp = c.call(Method::GET, &to, &[], Bytes::new(), max_body, scope).await?;
        if matches!(resp.status, 301 | 302 | 303 | 307 | 308)
            && let Some(loc) = resp.headers.get("location").and_then(|v| v.to_str().ok())
        {
            to = c.hop(&to, loc, "blob redirect").map_err(|e| anyhow!("{reference}: {e:#}"))?;
            continue;
        }
        expect(&resp, &[200], "fetching a blob", &to.to_string())?;
        let got = sha256(&resp.body);
        if &got != digest {
            bail!("{reference}: the registry sent a blob with digest {got} for {digest}; refusing it");
        }
        return Ok(resp.body);
    }
    bail!("{reference}: too many redirects fetching {digest}")
}

fn expect(resp: &Response, ok: &[u16], what: &str, url: &str) -> Result<()> {
    if ok.contains(&resp.status) {
        return Ok(());
    }
    let body = String::from_utf8_lossy(&resp.body);
    let snippet = volley_core::text::printable(body.trim(), 200);
    bail!("registry error {what} ({}): HTTP {} {snippet}", volley_core::text::printable(url, 200), resp.status)
}

/// Runs one registry operation to completion from any thread, inside or outside a tokio
/// runtime: on a thread of its own with a current-thread runtime.
fn blocking<T: Send>(op: impl std::future::Future<Output = Result<T>> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(move || tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(op))
            .join()
            .map_err(|_| anyhow!("the registry client thread failed"))?
    })
}

#[cfg(test)]
mod fuzz;
