//! The operator's policy for this process: `--policy FILE`, else the file named by
//! `VOLLEY_POLICY` (for clusters: a mounted ConfigMap, say), else the built-in default,
//! which is safe without either (docs/policy.md).

use std::path::Path;

use anyhow::{Context, Result};
use volley::core::Policy;

/// Largest policy file read.
const MAX_POLICY_BYTES: u64 = 1 << 20;

pub(super) fn load(flag: Option<&Path>) -> Result<Policy> {
    let from_env = std::env::var_os("VOLLEY_POLICY").filter(|v| !v.is_empty());
    let Some(path) = flag.map(Path::to_path_buf).or_else(|| from_env.map(Into::into)) else {
        return Ok(Policy::default());
    };
    let shown = path.display();
    let file = std::fs::File::open(&path).with_context(|| format!("cannot read the policy {shown}"))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_POLICY_BYTES + 1), &mut text)
        .with_context(|| format!("cannot read the policy {shown}"))?;
    if text.len() as u64 > MAX_POLICY_BYTES {
        anyhow::bail!("the policy {shown} is larger than {MAX_POLICY_BYTES} bytes");
    }
    Policy::from_toml(&text).with_context(|| format!("the policy {shown} is invalid"))
}
