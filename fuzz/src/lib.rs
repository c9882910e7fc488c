//! What the fuzz targets (`fuzz_targets/`, docs/fuzzing.md) share: network reads made
//! from an input ([`reads`]), the checks on refusals and on text shown ([`one_line`],
//! [`printable`]), and the package format of `volley-wasm` ([`package`]). Control
//! characters in a refusal are the console writer's to make visible (every `error:` line
//! goes through it); a parser that promises printable text itself is held to it.
//!
//! The package format (`wasm/src/package/`: the archive, its manifest, the parameters) is
//! compiled here from its own source files: it is reachable only through `volley-wasm`,
//! which links wasmtime and cranelift, and building those instrumented for coverage
//! would take most of the fuzz step's time on two cores. The files name
//! `crate::WasmError`, which [`WasmError`] stands in for, exactly as `volley-wasm`
//! defines it for them (a one-line refusal).

#[allow(dead_code, unused_imports)]
#[path = "../../wasm/src/package/mod.rs"]
pub mod package;

/// `volley_wasm::WasmError` as the package files use it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WasmError {
    #[error("{0}")]
    Source(String),
}

impl WasmError {
    /// As `volley_wasm::WasmError::from_anyhow`: a chain of contexts as one line.
    pub(crate) fn from_anyhow(e: anyhow::Error) -> Self {
        WasmError::Source(format!("{e:#}").split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

/// `data` cut into the pieces that successive reads of a connection might return: a
/// schedule of sizes from 1 byte to a few KiB, drawn from a hash of `data`, so every
/// input is also read in its own pieces and any change to it moves the cuts.
pub fn reads(data: &[u8]) -> Vec<&[u8]> {
    // FNV-1a, then xorshift: cheap, and the same cuts for the same input.
    let mut state = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let r = next();
        // Mostly small reads (a byte to a token's worth), some of a network buffer's size.
        let size = match r % 8 {
            0..=3 => 1 + (r >> 8) % 8,
            4..=6 => 1 + (r >> 8) % 64,
            _ => 1 + (r >> 8) % 4096,
        } as usize;
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        out.push(piece);
        rest = tail;
    }
    out
}

/// A refusal is one line: no line feed or carriage return that would break it (or forge
/// another) where it is printed, logged or kept in a report.
pub fn one_line(what: &str, message: &str) {
    assert!(!message.contains(['\n', '\r']), "{what}: a refusal of more than one line: {message:?}");
}

/// Text a parser promises to make printable itself (no control characters at all).
pub fn printable(what: &str, message: &str) {
    assert!(volley_core::text::is_printable(message), "{what}: control characters in {message:?}");
}
