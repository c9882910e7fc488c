//! HDR histograms of durations, kept in microseconds with 3 significant digits (0.1 %
//! relative error), and their percentile summaries in milliseconds. A histogram
//! travels losslessly as text ([`encode`], [`decode`]: HdrHistogram's V2 format with
//! DEFLATE, in base64), so shards' histograms add up to exactly the one histogram a
//! single process would have kept.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub struct DurationHistogram {
    h: Histogram<u64>,
}

impl Default for DurationHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub mean: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    pub max: f64,
}

impl DurationHistogram {
    /// 3 significant digits (0.1 % relative error).
    pub fn new() -> Self {
        Self::with_precision(3)
    }

    /// `digits` significant digits; memory grows tenfold per digit.
    pub fn with_precision(digits: u8) -> Self {
        // Starts at 1 µs to 1 s and grows as larger values arrive.
        let mut h = Histogram::new_with_bounds(1, 1_000_000, digits).expect("valid histogram bounds");
        h.auto(true);
        DurationHistogram { h }
    }

    pub fn record(&mut self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        // auto-resize makes this infallible for any u64 ≥ 1
        let _ = self.h.record(us.max(1));
    }

    pub fn record_us(&mut self, us: u32) {
        let _ = self.h.record(u64::from(us).max(1));
    }

    /// Records every gap of `us`, a run of equal ones at once (gaps read from one network
    /// chunk are equal, and under load many are).
    pub fn record_all_us(&mut self, us: &[u32]) {
        let mut rest = us;
        while let [first, ..] = rest {
            let run = rest.iter().take_while(|&&g| g == *first).count();
            self.record_us_n(*first, run as u32);
            rest = &rest[run..];
        }
    }

    /// Records `us` microseconds `n` times.
    pub fn record_us_n(&mut self, us: u32, n: u32) {
        let _ = self.h.record_n(u64::from(us).max(1), u64::from(n));
    }

    pub fn count(&self) -> u64 {
        self.h.len()
    }

    /// A percentile (0–100) in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        self.h.value_at_percentile(p) as f64 / 1000.0
    }

    /// Adds every count of `other`.
    pub fn add(&mut self, other: &DurationHistogram) {
        add(&mut self.h, &other.h);
    }

    /// The histogram as text (see [`encode`]).
    pub fn encode(&self) -> String {
        encode(&self.h)
    }

    /// A histogram [`encode`]d, checked (see [`decode`]).
    pub fn decode(text: &str) -> Result<Self, String> {
        let mut h = decode(text)?;
        h.auto(true);
        Ok(DurationHistogram { h })
    }

    pub fn summary(&self) -> Option<Summary> {
        if self.h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Summary {
            count: self.h.len(),
            mean: (self.h.mean() / 1000.0 * 1000.0).round() / 1000.0,
            min: ms(self.h.min()),
            p50: ms(self.h.value_at_quantile(0.50)),
            p90: ms(self.h.value_at_quantile(0.90)),
            p95: ms(self.h.value_at_quantile(0.95)),
            p99: ms(self.h.value_at_quantile(0.99)),
            p99_9: ms(self.h.value_at_quantile(0.999)),
            max: ms(self.h.max()),
        })
    }
}

/// Adds `from` into `to` (auto-resizing: histograms of any range add).
pub fn add(to: &mut Histogram<u64>, from: &Histogram<u64>) {
    to.auto(true);
    // Only a histogram without auto-resize can refuse; `to` resizes.
    let _ = to.add(from);
}

/// `h` as V2 + DEFLATE, base64: lossless, a few hundred bytes for a typical latency
/// histogram.
pub fn encode(h: &Histogram<u64>) -> String {
    use base64::Engine;
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail; a histogram too large to encode is not made here.
    let _ = V2DeflateSerializer::new().serialize(h, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Longest encoded histogram accepted, and most bytes it may inflate to.
const MAX_ENCODED: usize = 16 << 20;
const MAX_INFLATED: u64 = 64 << 20;
/// V2 cookies (HdrHistogram's, with the 0x10 word-size bits).
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9314;
const V2_COOKIE: u32 = 0x1c84_9313;

/// A histogram [`encode`]d. Everything a decoder would allocate for is checked first
/// (the inflated size, the precision and the range), so a hostile report gets a
/// refusal, not memory in proportion to what it claims.
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    use base64::Engine;
    use std::io::Read;
    if text.len() > MAX_ENCODED {
        return Err(format!("a histogram longer than {} MiB", MAX_ENCODED >> 20));
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| format!("a histogram is not base64: {e}"))?;
    let word = |b: &[u8], at: usize| b.get(at..at + 4).map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    if word(&bytes, 0) != Some(V2_COMPRESSED_COOKIE) {
        return Err("a histogram is not in HdrHistogram's compressed V2 format".into());
    }
    let len = word(&bytes, 4).unwrap_or(0) as usize;
    let payload = bytes.get(8..8 + len).ok_or("a histogram is cut short")?;
    let mut inner = Vec::new();
    flate2::read::ZlibDecoder::new(payload)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut inner)
        .map_err(|e| format!("a histogram does not inflate: {e}"))?;
    if inner.len() as u64 > MAX_INFLATED {
        return Err(format!("a histogram inflates past {} MiB", MAX_INFLATED >> 20));
    }
    // Header: cookie, payload length, normalizing offset, digits, lowest, highest, ratio.
    if inner.len() < 40 || word(&inner, 0) != Some(V2_COOKIE) {
        return Err("a histogram's header is malformed".into());
    }
    let payload_len = word(&inner, 4).unwrap_or(u32::MAX) as usize;
    let digits = word(&inner, 12).unwrap_or(u32::MAX);
    let highest = u64::from_be_bytes(inner[24..32].try_into().unwrap_or_default());
    if payload_len > inner.len() - 40 || digits > 3 || highest > 1 << 46 {
        return Err("a histogram claims more than it holds (length, precision or range)".into());
    }
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut inner.as_slice())
        .map_err(|e| format!("a histogram does not decode: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_recorded_in_runs_count_as_one_by_one() {
        let gaps = [0, 0, 0, 7, 7, 0, 1_500_000, 1_500_000, 3, 0, 0];
        let (mut runs, mut single) = (DurationHistogram::new(), DurationHistogram::new());
        runs.record_all_us(&gaps);
        runs.record_all_us(&[]);
        gaps.iter().for_each(|&g| single.record_us(g));
        assert_eq!(runs.count(), gaps.len() as u64);
        assert_eq!(runs.encode(), single.encode());
    }

    #[test]
    fn encoded_histograms_come_back_exactly_and_add_up() {
        let (mut a, mut b, mut both) = (DurationHistogram::new(), DurationHistogram::new(), DurationHistogram::new());
        for i in 1..=5000u64 {
            let d = Duration::from_micros(i * i % 900_001 + 1);
            if i % 3 == 0 {
                a.record(d)
            } else {
                b.record(d)
            }
            both.record(d);
        }
        // Far past the initial 1 s bound: the range grows and still encodes.
        b.record(Duration::from_secs(3600));
        both.record(Duration::from_secs(3600));
        let (a2, b2) = (DurationHistogram::decode(&a.encode()).unwrap(), DurationHistogram::decode(&b.encode()).unwrap());
        assert_eq!(a2.summary(), a.summary());
        let mut merged = DurationHistogram::new();
        merged.add(&a2);
        merged.add(&b2);
        assert_eq!(merged.summary(), both.summary());
        assert_eq!(merged.h, both.h);
    }

    #[test]
    fn hostile_encodings_are_refused_without_allocating() {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        assert!(decode("!!").unwrap_err().contains("not base64"));
        assert!(decode(&b64(b"\x1c\x84\x93\x14")).is_err());
        // A header claiming a 4 GiB payload and 5 digits.
        let mut inner = Vec::new();
        for w in [V2_COOKIE, u32::MAX, 0, 5] {
            inner.extend_from_slice(&w.to_be_bytes());
        }
        inner.extend_from_slice(&1u64.to_be_bytes());
        inner.extend_from_slice(&u64::MAX.to_be_bytes());
        inner.extend_from_slice(&1f64.to_be_bytes());
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, &inner).unwrap();
        let z = z.finish().unwrap();
        let mut outer = V2_COMPRESSED_COOKIE.to_be_bytes().to_vec();
        outer.extend_from_slice(&(z.len() as u32).to_be_bytes());
        outer.extend_from_slice(&z);
        assert!(decode(&b64(&outer)).unwrap_err().contains("claims more than it holds"));
    }

    #[test]
    fn percentiles_within_precision() {
        let mut h = DurationHistogram::new();
        for i in 1..=1000u64 {
            h.record(Duration::from_micros(i * 1000)); // 1..1000 ms
        }
        let s = h.summary().unwrap();
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 500.0).abs() <= 0.5, "{s:?}");
        assert!((s.p99 - 990.0).abs() <= 1.0, "{s:?}");
        assert!((s.mean - 500.5).abs() <= 0.5, "{s:?}");
        assert!(DurationHistogram::new().summary().is_none());
    }
}
