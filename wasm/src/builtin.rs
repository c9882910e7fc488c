//! Scenarios compiled into the binary (`builtin:NAME`).
//!
//! The components are committed artifacts (`wasm/builtin/NAME.wasm`), not built here: a
//! build of the binary then needs no `wasm32-wasip2` target, so it works with only
//! rustup's stable toolchain and from a crate registry. `scripts/build-guests.sh --check`
//! (run by the test command) rebuilds them from `scenarios/` and compares the bytes;
//! `--update` writes them and `SHA256SUMS`, which a test here checks against what is
//! embedded (docs/architecture.md, "Building").

macro_rules! builtins {
    ($($name:literal),* $(,)?) => {
        /// Embedded scenarios: (name, component bytes).
        const BUILTIN: &[(&str, &[u8])] = &[$(($name, include_bytes!(concat!("../builtin/", $name, ".wasm")))),*];
    };
}

builtins!(
    "agent",
    "burst",
    "chat-poisson",
    "http",
    "kserve",
    "multi-turn",
    "rate-range",
    "shared-prefix",
    "sharegpt",
    "slo-search",
    "sweep",
    "synthetic",
    "trace-replay",
    "vision",
);

/// Other names of embedded scenarios: the name a user looks for, the component that
/// serves it (one replay reads every trace format).
const ALIASES: &[(&str, &str)] = &[("mooncake", "trace-replay"), ("otel-replay", "trace-replay")];

/// The embedded component named `name` (or aliased so).
pub fn get(name: &str) -> Option<&'static [u8]> {
    let name = ALIASES.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, to)| *to);
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, bytes)| *bytes)
}

/// Names of the embedded scenarios, aliases included.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n).chain(ALIASES.iter().map(|(alias, _)| *alias))
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// `sha256sum` lines of the committed artifacts, as `--update` wrote them.
    const SUMS: &str = include_str!("../builtin/SHA256SUMS");

    #[test]
    fn every_embedded_component_has_the_digest_recorded_for_it() {
        let recorded: Vec<(&str, &str)> =
            SUMS.lines().map(|l| l.split_once("  ").expect("a sha256sum line")).map(|(hex, file)| (file, hex)).collect();
        assert_eq!(recorded.len(), super::BUILTIN.len(), "SHA256SUMS and the embedded list name the same components");
        for (name, bytes) in super::BUILTIN {
            let file = format!("{name}.wasm");
            let hex = recorded.iter().find(|(f, _)| *f == file).unwrap_or_else(|| panic!("{file} is not in SHA256SUMS")).1;
            let actual: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(actual, hex, "{file} differs from its recorded digest");
        }
    }
}
