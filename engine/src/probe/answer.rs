//! One reader for the server answers Volley only inspects — the model list, Triton's
//! statistics, Prometheus metrics, launch readiness: a server may send anything, and
//! what Volley keeps of it stays small.
//!
//! - **Bytes**: every answer is read through [`fetch`], which stops reading at the
//!   answer's own bound (`*_BYTES` below) and refuses the answer in one line.
//! - **Structure**: JSON answers are parsed with serde into typed structures that hold
//!   only the fields Volley reads ([`json`]); everything else is skipped with
//!   [`serde::de::IgnoredAny`] as it is read, which holds nothing (skipping nested arrays
//!   costs one byte a level, within the byte bound). Arrays keep only what is needed:
//!   [`First`] its first element, [`Bounded`] at most `N` (past that the answer is
//!   refused). serde_json refuses nesting deeper than 128 levels inside what is kept.
//! - **Names** a server announces are checked where they are used (the model list:
//!   `max_name_bytes` and printable); Prometheus series are bounded in the scraper.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny, SeqAccess, Visitor};
use volley_net::Checked;
use volley_net::http::get_limited;

/// Largest model list (`/v1/models`) read: lists of hundreds of models with
/// descriptions are well under 1 MiB.
pub const MODEL_LIST_BYTES: usize = 4 << 20;
/// Largest Triton statistics answer read (one model version's: a few KiB).
pub const TRITON_STATS_BYTES: usize = 4 << 20;
/// Largest Prometheus exposition read per scrape (vLLM's with histograms: ~100 KiB).
pub const METRICS_BYTES: usize = 16 << 20;
/// Largest readiness answer read (only its status counts).
pub const READINESS_BYTES: usize = 64 << 10;

/// GETs `to`, reading at most `max_bytes` of its answer; the status and body, or one
/// line saying why not.
pub async fn fetch(to: &Checked, timeout: Duration, max_bytes: usize) -> Result<(u16, Bytes), String> {
    get_limited(to, timeout, max_bytes).await.map_err(|e| e.to_string())
}

/// A JSON answer as `T`, or why not in one line (serde's message names the line and
/// column, never the content).
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => format!("not JSON ({e})"),
        _ => format!("not the expected JSON ({e})"),
    })
}

/// A JSON array of which only the first element is kept; the rest are skipped as they
/// are read. Absent, `null` or empty: `None`.
#[derive(Debug)]
pub struct First<T>(pub Option<T>);

impl<T> Default for First<T> {
    fn default() -> Self {
        First(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for First<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FirstVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for FirstVisitor<T> {
            type Value = First<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_unit<E>(self) -> Result<First<T>, E> {
                Ok(First(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<First<T>, A::Error> {
                let first = seq.next_element::<T>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(First(first))
            }
        }
        d.deserialize_any(FirstVisitor(PhantomData))
    }
}

/// A JSON array of at most `N` elements; a longer one is refused (absent or `null`:
/// empty).
#[derive(Debug)]
pub struct Bounded<T, const N: usize>(pub Vec<T>);

impl<T, const N: usize> Default for Bounded<T, N> {
    fn default() -> Self {
        Bounded(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Bounded<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BoundedVisitor<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for BoundedVisitor<T, N> {
            type Value = Bounded<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an array of at most {N} elements")
            }
            fn visit_unit<E>(self) -> Result<Bounded<T, N>, E> {
                Ok(Bounded(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bounded<T, N>, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<T>()? {
                    if out.len() == N {
                        return Err(serde::de::Error::custom(format_args!("an array of more than {N} elements")));
                    }
                    out.push(item);
                }
                Ok(Bounded(out))
            }
        }
        d.deserialize_any(BoundedVisitor(PhantomData))
    }
}

/// A count as servers write it: a non-negative JSON integer or a decimal string (Triton
/// writes 64-bit counts as either). Anything else counts as 0, as an absent field does.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a count")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Count, E> {
                Ok(Count(u64::try_from(v).unwrap_or(0)))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_str<E>(self, v: &str) -> Result<Count, E> {
                Ok(Count(v.parse().unwrap_or(0)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_unit<E>(self) -> Result<Count, E> {
                Ok(Count(0))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Count(0))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Count(0))
            }
        }
        d.deserialize_any(CountVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley_core::foreign_file::human_bytes;

    #[derive(Deserialize)]
    struct Sample {
        #[serde(default)]
        first: First<Count>,
        #[serde(default)]
        few: Bounded<Count, 3>,
    }

    #[test]
    fn keeps_only_what_is_read() {
        let s: Sample = json(br#"{"first": [7, {"deep": [[[1]]]}, "x"], "few": [1, "2", -3], "other": {"a": [1, 2]}}"#).unwrap();
        assert_eq!(s.first.0, Some(Count(7)));
        assert_eq!(s.few.0, vec![Count(1), Count(2), Count(0)]);
        let s: Sample = json(br#"{"first": null}"#).unwrap();
        assert!(s.first.0.is_none() && s.few.0.is_empty());
        let e = json::<Sample>(br#"{"few": [1, 2, 3, 4]}"#).err().unwrap();
        assert!(e.contains("more than 3 elements"), "{e}");
        assert!(json::<Sample>(br#"{"first": [0, 0"#).err().unwrap().starts_with("not JSON"));
        assert!(json::<Sample>(b"<html>").err().unwrap().starts_with("not JSON"));
        assert!(json::<Sample>(br#"{"first": 5}"#).err().unwrap().starts_with("not the expected JSON"));
    }

    #[test]
    fn a_huge_array_is_skipped_without_holding_it() {
        // Two million elements in what is skipped, and in what is kept but only first.
        let mut body = String::from(r#"{"first": ["#);
        body.push_str(&"0,".repeat(2_000_000));
        body.push_str(r#"0], "other": ["#);
        body.push_str(&"[".repeat(100_000));
        body.push_str(&"]".repeat(100_000));
        body.push_str("]}");
        let s: Sample = json(body.as_bytes()).unwrap();
        assert_eq!(s.first.0, Some(Count(0)));
    }

    #[test]
    fn counts_as_servers_write_them() {
        let counts: Vec<Count> = json(br#"[1, "2", "x", -1, 1.5, true, null, [1], {"a": 1}, "18446744073709551615"]"#).unwrap();
        assert_eq!(counts.iter().map(|c| c.0).collect::<Vec<_>>(), vec![1, 2, 0, 0, 0, 0, 0, 0, 0, u64::MAX]);
        assert_eq!(human_bytes(4 << 20), "4 MiB");
    }
}
