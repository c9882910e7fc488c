//! # volley-export
//!
//! Live metrics while a run goes, as sinks of the engine's records: OpenTelemetry over
//! OTLP/HTTP or gRPC ([`otlp`]) and a Prometheus exposition endpoint ([`prometheus`])
//! over live aggregates ([`live`]), both named by the GenAI semantic conventions.

pub mod live;
pub mod otlp;
pub mod prometheus;

pub use live::{Live, LiveSink, SharedLive};
pub use otlp::{Otlp, OtlpOptions, Transport};
pub use prometheus::Exposition;

/// An exporter that cannot be set up, in one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ExportError(pub String);
