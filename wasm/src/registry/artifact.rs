//! What a registry answers, read without trusting it: the OCI manifest of a pulled
//! artifact (its layers, each with a verifiable digest and a size within the policy).
//! Pure functions; the transfers are in the parent, and where a redirect or upload
//! location may lead is the egress gate's to say (`volley_net::egress`).

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

use super::reference::{Reference, is_sha256};
use super::{VOLLEY_LAYER, WASM_LAYER};
use volley_core::Policy;

/// Largest Volley manifest layer.
pub(crate) const MAX_VOLLEY_LAYER: u64 = 1 << 20;
/// Layers a manifest may list.
const MAX_LAYERS: usize = 64;

/// A blob to fetch: its digest and exact size, both checked against the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Descriptor {
    pub digest: String,
    pub size: u64,
}

/// The layers of a Wasm artifact: the component, and Volley's manifest when it is a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layers {
    pub component: Descriptor,
    pub volley: Option<Descriptor>,
}

/// Reads an OCI image manifest: the `application/wasm` layer (at most the policy's
/// component size), Volley's layer if any (at most 1 MiB), together within the policy's
/// package size.
pub(crate) fn layers(body: &[u8], reference: &Reference, policy: &Policy) -> Result<Layers> {
    let manifest: Value = serde_json::from_slice(body).map_err(|e| anyhow!("{reference}: the registry's manifest is not JSON: {e}"))?;
    let Some(layers) = manifest.get("layers").and_then(Value::as_array) else {
        bail!("{reference} is not a Wasm artifact: its manifest has no layers");
    };
    if layers.len() > MAX_LAYERS {
        bail!("{reference}: the manifest lists {} layers, over the limit of {MAX_LAYERS}; refusing it", layers.len());
    }
    let find = |media: &str| layers.iter().find(|l| l.get("mediaType").and_then(Value::as_str) == Some(media));
    let Some(wasm) = find(WASM_LAYER) else {
        bail!("{reference} is not a Wasm artifact: it has no '{WASM_LAYER}' layer");
    };
    let component = descriptor(wasm, reference, policy.max_component_bytes)?;
    let volley = find(VOLLEY_LAYER).map(|l| descriptor(l, reference, MAX_VOLLEY_LAYER)).transpose()?;
    let total = component.size + volley.as_ref().map_or(0, |v| v.size);
    if total > policy.max_package_bytes {
        bail!("refused by the policy (max_package_bytes = {}): {reference} has {total} bytes of layers", policy.max_package_bytes);
    }
    Ok(Layers { component, volley })
}

fn descriptor(layer: &Value, reference: &Reference, cap: u64) -> Result<Descriptor> {
    let digest = layer.get("digest").and_then(Value::as_str).unwrap_or_default();
    if !is_sha256(digest) {
        let digest = volley_core::text::printable(digest, 80);
        bail!("{reference}: a layer has digest '{digest}', which this Volley cannot verify");
    }
    let size = layer.get("size").and_then(Value::as_u64).ok_or_else(|| anyhow!("{reference}: the layer {digest} has no size"))?;
    if size > cap {
        bail!("{reference}: the layer {digest} is {size} bytes, over the limit of {cap}; refusing it");
    }
    Ok(Descriptor { digest: digest.to_ascii_lowercase(), size })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> Reference {
        Reference::parse("127.0.0.1:5000/volley/x:1").unwrap()
    }

    #[test]
    fn layers_are_checked_against_the_policy() {
        let d = format!("sha256:{}", "a".repeat(64));
        let body = |size: u64| format!(r#"{{"layers":[{{"mediaType":"application/wasm","digest":"{d}","size":{size}}}]}}"#);
        let policy = Policy { max_package_bytes: 100, ..Policy::default() };
        assert_eq!(layers(body(10).as_bytes(), &reference(), &policy).unwrap().component.size, 10);
        assert!(layers(body(101).as_bytes(), &reference(), &policy).unwrap_err().to_string().contains("max_package_bytes"));
        assert!(layers(b"{\"layers\":{}}", &reference(), &policy).is_err());
    }
}
