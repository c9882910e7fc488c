//! Number formatting for the per-request record lines, without `core::fmt`, floats or
//! allocation: integers (by hand under 1,000, else through `itoa`), and milliseconds
//! (always whole microseconds in a record) straight from their integer microseconds. The output is byte for byte what
//! serde_json (JSON) and `Display` (CSV) write for the `f64` milliseconds, which the
//! tests check.

/// Writes an integer.
pub(crate) fn int(out: &mut Vec<u8>, v: impl Into<u64>) {
    let mut buf = [0u8; 24];
    let n = whole_digits(&mut buf, v.into());
    append(out, &buf, n);
}

/// Writes `v` in decimal at the start of `buf`; its length. Under 1,000 (most counts and
/// milliseconds) by hand, larger through `itoa`.
fn whole_digits(buf: &mut [u8; 24], v: u64) -> usize {
    if v < 1000 {
        let w = v as u32;
        let (d0, d1, d2) = ((w / 100) as u8, (w / 10 % 10) as u8, (w % 10) as u8);
        let n = 1 + usize::from(w >= 10) + usize::from(w >= 100);
        buf[..3].copy_from_slice(&match n {
            3 => [b'0' + d0, b'0' + d1, b'0' + d2],
            2 => [b'0' + d1, b'0' + d2, 0],
            _ => [b'0' + d2, 0, 0],
        });
        return n;
    }
    let mut b = itoa::Buffer::new();
    let s = b.format(v).as_bytes();
    buf[..s.len()].copy_from_slice(s);
    s.len()
}

/// Appends the first `n` bytes of `buf` as one fixed-size block cut to length: a copy
/// of a variable few bytes is a call to `memcpy`, and a record line has dozens (about
/// 1 % of a streamed run's CPU before).
fn append(out: &mut Vec<u8>, buf: &[u8; 24], n: usize) {
    let at = out.len();
    out.extend_from_slice(buf);
    out.truncate(at + n);
}

/// Writes a boolean.
pub(crate) fn flag(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// `us / 1000` in decimal, trailing zeros of the fraction dropped; `point_zero` writes a
/// whole number as `N.0` (JSON's float form) rather than `N` (`Display`'s). Composed on
/// the stack and appended at once.
fn micros_as_ms(out: &mut Vec<u8>, us: u64, point_zero: bool) {
    let (whole, frac) = (us / 1000, (us % 1000) as u32);
    // u64::MAX / 1000 has 17 digits; then a point and three.
    let mut buf = [0u8; 24];
    let digits = whole_digits(&mut buf, whole);
    let point = [b'.', b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8];
    let kept = match frac {
        0 if point_zero => 2,
        0 => 0,
        _ if frac.is_multiple_of(100) => 2,
        _ if frac.is_multiple_of(10) => 3,
        _ => 4,
    };
    buf[digits..digits + 4].copy_from_slice(&point);
    append(out, &buf, digits + kept);
}

/// Microseconds as milliseconds, as serde_json writes the `f64` `us / 1000.0`.
pub(crate) fn us_as_ms_json(out: &mut Vec<u8>, us: u64) {
    micros_as_ms(out, us, true);
}

/// Microseconds as milliseconds, as `Display` writes the `f64` `us / 1000.0` (CSV).
pub(crate) fn us_as_ms_display(out: &mut Vec<u8>, us: u64) {
    micros_as_ms(out, us, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(us: u64) -> String {
        let mut v = Vec::new();
        us_as_ms_json(&mut v, us);
        String::from_utf8(v).unwrap()
    }

    fn display(us: u64) -> String {
        let mut v = Vec::new();
        us_as_ms_display(&mut v, us);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn integers_match_itoa() {
        let spread = (0..100_000u64).map(|i| i * i * i * 1_999);
        for v in (0..100_000u64).chain(spread).chain([u64::from(u32::MAX), u64::MAX]) {
            let mut out = b"kept,".to_vec();
            int(&mut out, v);
            assert_eq!(out, format!("kept,{v}").as_bytes());
        }
    }

    #[test]
    fn milliseconds_match_serde_json_and_display() {
        // Every microsecond up to 2 s, then a spread to about 12 days, and the largest
        // gap a record holds.
        let spread = (0..200_000u64).map(|i| i * i * 25 + i);
        for us in (0..2_000_000u64).chain(spread).chain([u64::from(u32::MAX), 999_999_999_999_999]) {
            let ms = us as f64 / 1000.0;
            assert_eq!(json(us), serde_json::to_string(&ms).unwrap(), "{us} us");
            assert_eq!(display(us), ms.to_string(), "{us} us");
        }
    }
}
