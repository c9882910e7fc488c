//! Serde helpers that keep a foreign file's parsed memory a small multiple of its size
//! (`#[serde(deserialize_with = "…")]` on the fields of types read back from files).
//!
//! Typed structs keep only what they declare, but two things in serde do not:
//!
//! - a generic value (`serde_json::Value`), and the buffering serde does for an
//!   internally tagged enum or a `#[serde(flatten)]` field (everything in the object,
//!   unknown fields included, becomes a generic tree first). A tree of empty arrays
//!   costs ~45 times its text. [`raw_at_most`] takes such a field as raw text first,
//!   refuses it past a byte bound, and only then parses it: what may be buffered is
//!   bounded by the field, not by the file.
//! - collections of tiny elements (`""` in a list of strings is 3 bytes of text and
//!   24 of memory; an entry of a map of names more). [`vec_at_most`] and
//!   [`map_at_most`] refuse a list or map with more elements than any writer of the
//!   file makes, before they are kept.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// `T`, parsed from a raw JSON value of at most `N` bytes (see the module docs).
pub fn raw_at_most<'de, D, T, const N: usize>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let raw = Box::<RawValue>::deserialize(d)?;
    let text = raw.get();
    if text.len() > N {
        return Err(D::Error::custom(format_args!("a value of {} bytes, over its bound of {N}", text.len())));
    }
    serde_json::from_str(text).map_err(D::Error::custom)
}

/// A list of at most `N` elements.
pub fn vec_at_most<'de, D, T, const N: usize>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Seq<T, const N: usize>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for Seq<T, N> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a list of at most {N} elements")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            // The size hint is the file's claim: reserve no more than the bound.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(N).min(4096));
            while let Some(x) = seq.next_element()? {
                if out.len() == N {
                    return Err(A::Error::custom(format_args!("a list of more than {N} elements")));
                }
                out.push(x);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Seq::<T, N>(PhantomData))
}

/// A map of at most `N` entries.
pub fn map_at_most<'de, D, K, V, const N: usize>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    struct Map<K, V, const N: usize>(PhantomData<(K, V)>);
    impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>, const N: usize> Visitor<'de> for Map<K, V, N> {
        type Value = BTreeMap<K, V>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a map of at most {N} entries")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BTreeMap<K, V>, A::Error> {
            let (mut out, mut seen) = (BTreeMap::new(), 0usize);
            while let Some((k, v)) = map.next_entry()? {
                // Entries are counted as they come: repeated keys count too.
                seen += 1;
                if seen > N {
                    return Err(A::Error::custom(format_args!("a map of more than {N} entries")));
                }
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Map::<K, V, N>(PhantomData))
}
