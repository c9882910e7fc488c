//! A cache of compiled components, so only the first run of a scenario pays for
//! compilation (a 12–18 MB Python or JS component takes seconds to tens of seconds to
//! compile on two cores; loading it back takes milliseconds).
//!
//! Entries are keyed by the component's sha256 *and* the engine's compatibility hash
//! (wasmtime version, configuration, target CPU features), so a new Volley or another
//! engine configuration compiles again rather than loading code made for something else.
//! Loading precompiled code is trusted (wasmtime cannot validate machine code), so the
//! cache lives in the operator's own directory, created private (0700), and entries are
//! written atomically (temporary file, then rename). `VOLLEY_COMPILE_CACHE=off` turns it
//! off; `VOLLEY_CACHE_DIR` moves it (default `$XDG_CACHE_HOME/volley` or `~/.cache/volley`).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components live, or `None` when the cache is off or has no home.
pub fn dir() -> Option<PathBuf> {
    if std::env::var("VOLLEY_COMPILE_CACHE").is_ok_and(|v| matches!(v.as_str(), "off" | "0" | "false")) {
        return None;
    }
    cache_home().map(|d| d.join("compiled"))
}

/// Volley's cache directory: `$VOLLEY_CACHE_DIR`, else `$XDG_CACHE_HOME/volley`, else
/// `~/.cache/volley`; `None` without a home.
pub fn cache_home() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    non_empty("VOLLEY_CACHE_DIR")
        .or_else(|| non_empty("XDG_CACHE_HOME").map(|d| d.join("volley")))
        .or_else(|| non_empty("HOME").map(|d| d.join(".cache").join("volley")))
}

/// The cache file for a component digest (`sha256:HEX`) under this engine.
fn entry(dir: &Path, engine: &Engine, digest: &str) -> PathBuf {
    let mut h = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    dir.join(format!("{hex}-{:016x}.cwasm", h.finish()))
}

/// The component from the cache, if a usable entry is there.
pub fn load(engine: &Engine, digest: &str) -> Option<Component> {
    let path = entry(&dir()?, engine, digest);
    if !path.is_file() {
        return None;
    }
    // SAFETY: the file was written by `store` below from `Engine::precompile_component`
    // under the same compatibility hash, in a directory only this user can write; a
    // stale or foreign entry fails wasmtime's own header checks and is recompiled.
    match unsafe { Component::deserialize_file(engine, &path) } {
        Ok(c) => Some(c),
        Err(_) => {
            let _ = std::fs::remove_file(&path);
            None
        }
    }
}

/// Compiles `bytes` to a cache entry and loads it from there. Falls back to `None` (the
/// caller compiles in memory) when the cache cannot be written.
pub fn compile_and_store(engine: &Engine, digest: &str, bytes: &[u8]) -> Option<Component> {
    let dir = dir()?;
    if create_private_dir(&dir).is_err() {
        return None;
    }
    let compiled = engine.precompile_component(bytes).ok()?;
    let path = entry(&dir, engine, digest);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, &compiled).is_err() || std::fs::rename(&tmp, &path).is_err() {
        let _ = std::fs::remove_file(&tmp);
        return None;
    }
    // SAFETY: just produced by this engine's `precompile_component`.
    unsafe { Component::deserialize(engine, &compiled) }.ok()
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}
