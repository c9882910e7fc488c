//! Deterministic random streams: xoshiro256** seeded through SplitMix64.
//!
//! Every consumer gets its own stream derived from the run's `--seed` and a purpose
//! label, so adding draws in one place (say, the arrival clock) never shifts another
//! (the scenario's requests).

/// What a stream is for; part of its derivation.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// The scenario's `random` capability during stage `n` (`configure` uses `u32::MAX`).
    Scenario(u32),
    /// WASI's random interfaces inside the guest.
    Wasi,
    /// Arrival times of stage `n`.
    Arrivals(u32),
    /// The simulator's jitter.
    Simulator,
    /// Synthetic text of the tokenizer (seeded per text by the caller).
    Text,
}

impl Stream {
    fn label(self) -> u64 {
        match self {
            Stream::Scenario(n) => 0x5ce0_0000_0000_0000 ^ u64::from(n),
            Stream::Wasi => 0x3a51_0000_0000_0000,
            Stream::Arrivals(n) => 0xa771_0000_0000_0000 ^ u64::from(n),
            Stream::Simulator => 0x0051_0000_0000_0000,
            Stream::Text => 0x7e47_0000_0000_0000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64, stream: Stream) -> Self {
        let mut st = seed ^ stream.label().rotate_left(17);
        let s = [splitmix64(&mut st), splitmix64(&mut st), splitmix64(&mut st), splitmix64(&mut st)];
        Rng { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1]: safe to take the logarithm of.
    fn open0(&mut self) -> f64 {
        1.0 - self.next_f64()
    }

    /// Exponential with mean 1.
    pub fn exp1(&mut self) -> f64 {
        -self.open0().ln()
    }

    pub fn standard_normal(&mut self) -> f64 {
        let (u1, u2) = (self.open0(), self.next_f64());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Gamma(shape, 1) by Marsaglia and Tsang, with the shape < 1 boost.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = self.open0();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.standard_normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.open0();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Fills a byte buffer (WASI random).
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_var(xs: &[f64]) -> (f64, f64) {
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
        (m, v)
    }

    #[test]
    fn streams_are_deterministic_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7, Stream::Wasi).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::new(7, Stream::Scenario(0)).next_u64(), Rng::new(7, Stream::Scenario(1)).next_u64());
        assert_ne!(Rng::new(7, Stream::Wasi).next_u64(), Rng::new(8, Stream::Wasi).next_u64());
    }

    #[test]
    fn gamma_moments() {
        // Gamma(k, 1): mean k, variance k. 200k draws: standard error of the mean ~ sqrt(k/n).
        for k in [0.25, 1.0, 4.0] {
            let mut r = Rng::new(1, Stream::Arrivals(0));
            let xs: Vec<f64> = (0..200_000).map(|_| r.gamma(k)).collect();
            let (m, v) = mean_var(&xs);
            assert!((m - k).abs() < 6.0 * (k / 200_000f64).sqrt(), "k={k} mean={m}");
            assert!((v / k - 1.0).abs() < 0.05, "k={k} var={v}");
        }
    }

    #[test]
    fn uniform_range() {
        let mut r = Rng::new(3, Stream::Simulator);
        let xs: Vec<f64> = (0..100_000).map(|_| r.next_f64()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let (m, _) = mean_var(&xs);
        assert!((m - 0.5).abs() < 0.01);
    }
}
