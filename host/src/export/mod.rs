//! Exporting live metrics while a run goes: a Prometheus exposition endpoint
//! ([`prometheus`]) over the collector's live aggregates ([`live`]).

pub mod live;
pub mod prometheus;
