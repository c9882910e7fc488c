//! Scenarios compiled into the binary (`builtin:NAME`), and the paths of every guest
//! component built alongside it (used by tests).

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// The embedded component named `name`.
pub fn get(name: &str) -> Option<&'static [u8]> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, bytes)| *bytes)
}

/// Names of the embedded scenarios.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n)
}

/// Path of a guest component built with this binary (scenarios and test guests).
pub fn built_path(name: &str) -> Option<&'static str> {
    BUILT.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}
