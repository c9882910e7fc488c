//! Number formatting for the per-request record lines, without `core::fmt`, floats or
//! allocation: integers through `itoa`, and milliseconds (always whole microseconds in a
//! record) straight from their integer microseconds. The output is byte for byte what
//! serde_json (JSON) and `Display` (CSV) write for the `f64` milliseconds, which the
//! tests check.

/// Writes an integer.
pub(crate) fn int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Writes a boolean.
pub(crate) fn flag(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// `us / 1000` in decimal, trailing zeros of the fraction dropped; `point_zero` writes a
/// whole number as `N.0` (JSON's float form) rather than `N` (`Display`'s). Composed on
/// the stack (the whole part by `itoa`) and appended at once: a record has a dozen of
/// these, and each append of a few bytes is a call.
fn micros_as_ms(out: &mut Vec<u8>, us: u64, point_zero: bool) {
    let mut whole = itoa::Buffer::new();
    let whole = whole.format(us / 1000).as_bytes();
    // u64::MAX / 1000 has 17 digits; then a point and three.
    let mut buf = [0u8; 24];
    buf[..whole.len()].copy_from_slice(whole);
    let frac = (us % 1000) as u32;
    let point = [b'.', b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8];
    let kept = match frac {
        0 if point_zero => 2,
        0 => 0,
        _ if frac.is_multiple_of(100) => 2,
        _ if frac.is_multiple_of(10) => 3,
        _ => 4,
    };
    buf[whole.len()..whole.len() + 4].copy_from_slice(&point);
    out.extend_from_slice(&buf[..whole.len() + kept]);
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
