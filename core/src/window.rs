//! When a stage ran, as its driver saw it: the instants the report's rates and
//! durations are computed from.

use std::time::Instant;

/// When a stage ran.
#[derive(Debug, Clone, Copy)]
pub struct StageWindow {
    pub started: Instant,
    /// The last request was sent (or the stage stopped sending).
    pub sending_ended: Instant,
    /// The last request in flight completed.
    pub finished: Instant,
    pub sent: u64,
}
