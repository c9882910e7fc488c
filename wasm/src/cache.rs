//! A cache of compiled components, so only the first run of a scenario pays for
//! compilation (a 12–18 MB Python or JS component takes seconds to tens of seconds to
//! compile on two cores; loading it back takes milliseconds).
//!
//! Entries are keyed by the component's sha256 *and* the engine's compatibility hash
//! (wasmtime version, configuration, target CPU features), so a new Volley or another
//! engine configuration compiles again rather than loading code made for something else.
//!
//! Loading precompiled code runs it as native code (wasmtime cannot validate machine
//! code), so an entry is only loaded if this user wrote it: each entry carries an
//! HMAC-SHA256 of its contents under a key only the user can read (`key`, 0600, made on
//! first use), the directory must be the user's own and private (0700), entries are
//! regular files (never symlinks, opened without following one) owned by the user and
//! 0600, written atomically. Anything else is ignored (and recompiled). The policy's
//! `compile_cache = false` or `VOLLEY_COMPILE_CACHE=off` turns the cache off;
//! `VOLLEY_CACHE_DIR` moves it (default `$XDG_CACHE_HOME/volley` or `~/.cache/volley`).

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Bytes of the key and of each entry's MAC.
const KEY_BYTES: usize = 32;
/// Largest entry read back.
const MAX_ENTRY: u64 = 1 << 30;

/// Where compiled components live, or `None` when the cache is off or has no home.
pub fn dir() -> Option<PathBuf> {
    if std::env::var("VOLLEY_COMPILE_CACHE").is_ok_and(|v| matches!(v.as_str(), "off" | "0" | "false")) {
        return None;
    }
    cache_home().map(|d| d.join("compiled"))
}

/// Volley's cache directory: `$VOLLEY_CACHE_DIR`, else `$XDG_CACHE_HOME/volley`, else
/// `~/.cache/volley`; `None` without a home.
pub fn cache_home() -> Option<PathBuf> {
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

/// The user's own id.
fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The cache directory, if it is a real directory (not a link) of this user's that no
/// one else may enter.
fn private_dir(dir: &Path) -> Option<()> {
    let meta = std::fs::symlink_metadata(dir).ok()?;
    (meta.is_dir() && meta.uid() == uid() && meta.mode() & 0o077 == 0).then_some(())
}

/// Opens a regular file of this user's, 0600, without following a symlink.
fn open_own(path: &Path) -> Option<File> {
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path).ok()?;
    let meta = file.metadata().ok()?;
    (meta.is_file() && meta.uid() == uid() && meta.mode() & 0o077 == 0 && meta.len() <= MAX_ENTRY).then_some(file)
}

/// The user's key, made on first use.
fn key(dir: &Path) -> Option<[u8; KEY_BYTES]> {
    let path = dir.join("key");
    if let Some(mut f) = open_own(&path) {
        let mut key = [0u8; KEY_BYTES];
        return f.read_exact(&mut key).ok().map(|_| key);
    }
    let mut key = [0u8; KEY_BYTES];
    File::open("/dev/urandom").ok()?.read_exact(&mut key).ok()?;
    let tmp = dir.join(format!("key.tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(&tmp).ok()?;
    f.write_all(&key).ok()?;
    drop(f);
    // Another process may have made one first: then that one is the key.
    if std::fs::hard_link(&tmp, &path).is_err() {
        let _ = std::fs::remove_file(&tmp);
        let mut f = open_own(&path)?;
        f.read_exact(&mut key).ok()?;
        return Some(key);
    }
    let _ = std::fs::remove_file(&tmp);
    Some(key)
}

/// HMAC-SHA256 (RFC 2104) of `data` under `key`.
fn hmac(key: &[u8; KEY_BYTES], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..KEY_BYTES].copy_from_slice(key);
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(data).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// Compares without an early exit.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The component from the cache, if an entry this user wrote for this engine is there.
pub fn load(engine: &Engine, digest: &str) -> Option<Component> {
    let dir = dir()?;
    private_dir(&dir)?;
    let key = key(&dir)?;
    let path = entry(&dir, engine, digest);
    let mut file = open_own(&path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    if bytes.len() < 32 || !same(&bytes[..32], &hmac(&key, &bytes[32..])) {
        let _ = std::fs::remove_file(&path);
        return None;
    }
    // SAFETY: the bytes were written by `compile_and_store` below from
    // `Engine::precompile_component` under the same compatibility hash: the MAC under the
    // user's private key says so. A stale entry fails wasmtime's own header checks.
    match unsafe { Component::deserialize(engine, &bytes[32..]) } {
        Ok(c) => Some(c),
        Err(_) => {
            let _ = std::fs::remove_file(&path);
            None
        }
    }
}

/// Compiles `bytes` to a cache entry and loads it from memory. Falls back to `None` (the
/// caller compiles in memory) when the cache cannot be used.
pub fn compile_and_store(engine: &Engine, digest: &str, bytes: &[u8]) -> Option<Component> {
    let dir = dir()?;
    create_private_dir(&dir).ok()?;
    private_dir(&dir)?;
    let key = key(&dir)?;
    let compiled = engine.precompile_component(bytes).ok()?;
    let path = entry(&dir, engine, digest);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(&tmp).and_then(|mut f| {
            f.write_all(&hmac(&key, &compiled))?;
            f.write_all(&compiled)
        });
    if written.is_err() || std::fs::rename(&tmp, &path).is_err() {
        let _ = std::fs::remove_file(&tmp);
        return None;
    }
    // SAFETY: just produced by this engine's `precompile_component`.
    unsafe { Component::deserialize(engine, &compiled) }.ok()
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    // An older Volley may have made it with looser permissions: tighten what is ours.
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.is_dir() && meta.uid() == uid() && meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2 uses a 4-byte key ("Jefe"); padded with zeros to 32
        // bytes it is the same HMAC key.
        let mut key = [0u8; KEY_BYTES];
        key[..4].copy_from_slice(b"Jefe");
        let mac = hmac(&key, b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(same(&mac, &mac) && !same(&mac, &[0u8; 32]));
    }
}
