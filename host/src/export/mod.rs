//! Exporting metrics while a run goes: a Prometheus exposition endpoint
//! ([`prometheus`]) over the collector's live aggregates ([`live`]), and OpenTelemetry
//! over OTLP ([`otlp`]).

pub mod live;
pub mod otlp;
pub mod prometheus;
