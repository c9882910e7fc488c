//! # volley-net
//!
//! Where traffic may go and how Volley reaches it outside the send path: the egress gate
//! ([`egress`]: every destination parsed once and checked against the policy, the only
//! way to a connection), the operator's [`Target`] (parsed once, checked for reachability
//! before anything is produced) and a one-shot HTTP client ([`http`]) for probes,
//! readiness checks, exporters and registries.

pub mod egress;
pub mod http;
pub mod target;
pub mod tls;

pub use egress::{Checked, Destination, Egress, Kind};
pub use target::Target;
pub use tls::{Tls, TlsOptions};

/// A network failure outside the send path, in one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetError {
    /// The target URL is not one Volley can use.
    #[error("{0}")]
    Target(String),
    /// The target does not resolve or accept connections.
    #[error("{0}")]
    Unreachable(String),
    /// A probe or registry request failed.
    #[error("{0}")]
    Http(String),
    /// TLS could not be set up, or a handshake failed (an untrusted certificate, a
    /// client certificate the server wants).
    #[error("{0}")]
    Tls(String),
    /// A URL that is not a destination (a dot segment, user info, an encoded slash…), or
    /// one a rule of the egress gate refuses; nothing was sent.
    #[error("{0}")]
    Destination(String),
    /// A destination the operator's policy does not allow; nothing was sent.
    #[error(transparent)]
    Refused(#[from] volley_core::Refusal),
}
