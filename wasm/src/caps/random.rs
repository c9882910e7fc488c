//! Capability `volley:scenario/random`: the scenario's random stream, seeded by the
//! operator. The stream is re-derived at the start of every stage from (seed, stage),
//! so a stage's requests do not depend on how many requests earlier stages produced
//! ahead of time.

use volley_core::rng::{Rng, Stream};
use wasmtime::component::HasData;

pub struct RandomCap {
    seed: u64,
    rng: Rng,
}

impl HasData for RandomCap {
    type Data<'a> = &'a mut RandomCap;
}

/// The stream used while `configure` runs.
pub const CONFIGURE_STREAM: u32 = u32::MAX;

impl RandomCap {
    pub fn new(seed: u64) -> Self {
        RandomCap { seed, rng: Rng::new(seed, Stream::Scenario(CONFIGURE_STREAM)) }
    }

    /// Switches to the stream of `stage`.
    pub fn enter_stage(&mut self, stage: u32) {
        self.rng = Rng::new(self.seed, Stream::Scenario(stage));
    }

    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    pub fn next_f64(&mut self) -> f64 {
        self.rng.next_f64()
    }
}
