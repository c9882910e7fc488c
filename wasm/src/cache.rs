//! A cache of compiled components, so only the first run of a scenario pays for
//! compilation (a 12–18 MB Python or JS component takes seconds to tens of seconds to
//! compile on two cores; loading it back takes milliseconds).
//!
//! Entries are keyed by the component's sha256 *and* the engine's compatibility hash
//! (wasmtime version, configuration, target CPU features), so a new Volley or another
//! engine configuration compiles again rather than loading code made for something else.
//!
//! Loading precompiled code runs it as native code (wasmtime cannot validate machine
//! code), so an entry is only loaded if this user wrote it *for this component and this
//! engine*: each entry carries an HMAC-SHA256, under a key only the user can read (`key`,
//! 0600, made on first use), of the component's digest, the engine's compatibility hash
//! and the compiled code together — an entry copied or renamed to another component's
//! name fails the check as surely as a tampered one. The directory must be the user's
//! own and private (0700), entries are regular files (never symlinks, opened without
//! following one) owned by the user and 0600, written atomically. An entry that fails
//! any of this is refused ([`Lookup::Refused`], which the engine reports), removed and
//! recompiled. The policy's `compile_cache = false` or `VOLLEY_COMPILE_CACHE=off` turns
//! the cache off; `VOLLEY_CACHE_DIR` moves it (default `$XDG_CACHE_HOME/volley` or
//! `~/.cache/volley`).

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

/// What the cache holds for a component.
pub(crate) enum Lookup {
    /// An entry this user wrote for this component and engine: the compiled component.
    Hit(Component),
    /// No entry (or the cache is off, or its directory is not private).
    Miss,
    /// An entry was there but is not one this user wrote for this component and engine
    /// (a link, another owner, loose permissions, a MAC that does not bind it to this
    /// digest and engine, code wasmtime rejects): not loaded, and removed.
    Refused,
}

/// Prefix of every MAC'd message, so the key signs nothing but cache entries.
const MAC_DOMAIN: &[u8] = b"volley compile cache v2\0";

/// The engine's compatibility hash (wasmtime version, configuration, target CPU
/// features) as a sha256: fed through a hasher that keeps every byte, unlike a 64-bit
/// `Hasher`.
fn engine_id(engine: &Engine) -> [u8; 32] {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            0 // never read: `engine_id` takes the whole digest
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = Sha(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    h.0.finalize().into()
}

/// The cache file for a component digest (`sha256:HEX`) under the engine `engine_id`.
fn entry(dir: &Path, engine_id: &[u8; 32], digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let engine: String = engine_id[..8].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("{hex}-{engine}.cwasm"))
}

/// The MAC of an entry: binds the compiled code to the component digest and the engine
/// it was made for (lengths are fixed or delimited, so no two inputs share a message).
fn entry_mac(key: &[u8; KEY_BYTES], digest: &str, engine_id: &[u8; 32], compiled: &[u8]) -> [u8; 32] {
    let digest_len = (digest.len() as u64).to_le_bytes();
    hmac(key, &[MAC_DOMAIN, &digest_len, digest.as_bytes(), engine_id, compiled])
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

/// HMAC-SHA256 (RFC 2104) under `key` of the concatenation of `parts`.
fn hmac(key: &[u8; KEY_BYTES], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..KEY_BYTES].copy_from_slice(key);
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let mut inner = Sha256::new().chain_update(pad(0x36));
    for part in parts {
        inner.update(part);
    }
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner.finalize()).finalize().into()
}

/// Compares without an early exit.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The component from the cache, if an entry this user wrote for this component and
/// engine is there; [`Lookup::Refused`] (and the entry removed) if one is there that
/// is not.
pub(crate) fn load(engine: &Engine, digest: &str) -> Lookup {
    let Some(dir) = dir() else { return Lookup::Miss };
    if private_dir(&dir).is_none() {
        return Lookup::Miss;
    }
    let Some(key) = key(&dir) else { return Lookup::Miss };
    let engine_id = engine_id(engine);
    let path = entry(&dir, &engine_id, digest);
    if std::fs::symlink_metadata(&path).is_err() {
        return Lookup::Miss;
    }
    // Whatever is at the entry's name from here on is either loaded or refused and
    // removed (a link is removed, never followed; the store then writes a real entry).
    let refuse = || {
        let _ = std::fs::remove_file(&path);
        Lookup::Refused
    };
    let Some(mut file) = open_own(&path) else { return refuse() };
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() || bytes.len() < 32 {
        return refuse();
    }
    let (mac, compiled) = bytes.split_at(32);
    if !same(mac, &entry_mac(&key, digest, &engine_id, compiled)) {
        return refuse();
    }
    // SAFETY: the bytes were written by `compile_and_store` below from
    // `Engine::precompile_component` for this very component digest under the same
    // compatibility hash: the MAC under the user's private key says so. A stale entry
    // fails wasmtime's own header checks.
    match unsafe { Component::deserialize(engine, compiled) } {
        Ok(c) => Lookup::Hit(c),
        Err(_) => refuse(),
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
    let engine_id = engine_id(engine);
    let path = entry(&dir, &engine_id, digest);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(&tmp).and_then(|mut f| {
            f.write_all(&entry_mac(&key, digest, &engine_id, &compiled))?;
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
        let mac = hmac(&key, &[b"what do ya ", b"want for nothing?"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(same(&mac, &mac) && !same(&mac, &[0u8; 32]));
    }

    #[test]
    fn an_entry_mac_binds_the_component_digest_and_the_engine() {
        let key = [7u8; KEY_BYTES];
        let (a, b) = ("sha256:".to_string() + &"a".repeat(64), "sha256:".to_string() + &"b".repeat(64));
        let (engine, other_engine) = ([1u8; 32], [2u8; 32]);
        let code = b"compiled code";
        let mac = entry_mac(&key, &a, &engine, code);
        assert_eq!(mac, entry_mac(&key, &a, &engine, code), "deterministic");
        assert_ne!(mac, entry_mac(&key, &b, &engine, code), "another component's digest");
        assert_ne!(mac, entry_mac(&key, &a, &other_engine, code), "another engine");
        assert_ne!(mac, entry_mac(&key, &a, &engine, b"compiled codf"), "other code");
        assert_ne!(mac, entry_mac(&[8u8; KEY_BYTES], &a, &engine, code), "another user's key");
    }
}
