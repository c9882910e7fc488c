//! Capability `volley:scenario/random`: the scenario's random stream, seeded by the
//! operator. The stream is re-derived at the start of every stage from (seed, stage),
//! so a stage's requests do not depend on how many requests earlier stages produced
//! ahead of time.

use wasmtime::component::HasData;

use crate::rng::{Rng, Stream};
use crate::scenario::v0_1::bindings::volley::scenario::random as v0_1;
use crate::scenario::v0_2::bindings::volley::scenario::random as v0_2;
use crate::scenario::v0_3::bindings::volley::scenario::random as v0_3;
use crate::scenario::v0_4::bindings::volley::scenario::random as v0_4;

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
}

impl v0_1::Host for RandomCap {
    fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn next_f64(&mut self) -> f64 {
        self.rng.next_f64()
    }
}

/// The `random` host trait of 0.2 and later.
macro_rules! random_host {
    ($v:ident) => {
        impl $v::Host for RandomCap {
            fn next_u64(&mut self) -> wasmtime::Result<u64> {
                Ok(self.rng.next_u64())
            }

            fn next_f64(&mut self) -> wasmtime::Result<f64> {
                Ok(self.rng.next_f64())
            }
        }
    };
}

random_host!(v0_2);
random_host!(v0_3);
random_host!(v0_4);
