//! Number formatting for the per-request record lines, without `core::fmt` and without
//! allocating: integers through `itoa`, and milliseconds (always whole microseconds in a
//! record) straight from their integer microseconds. The output is byte for byte what
//! serde_json (JSON) and `Display` (CSV) write for the same `f64`, which the tests check.

/// Writes an integer.
pub(crate) fn int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Writes a boolean.
pub(crate) fn flag(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// The whole microseconds `ms` holds, when it is a non-negative whole number of them
/// well inside `f64`'s exact range (every millisecond figure of a record is).
fn whole_micros(ms: f64) -> Option<u64> {
    let us = (ms * 1000.0).round();
    (us >= 0.0 && us < 1e15 && us / 1000.0 == ms).then_some(us as u64)
}

/// `us / 1000` in decimal, trailing zeros of the fraction dropped; `point_zero` writes a
/// whole number as `N.0` (JSON's float form) rather than `N` (`Display`'s).
fn micros_as_ms(out: &mut Vec<u8>, us: u64, point_zero: bool) {
    int(out, us / 1000);
    let frac = (us % 1000) as u32;
    if frac == 0 {
        if point_zero {
            out.extend_from_slice(b".0");
        }
        return;
    }
    let digits = [b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8];
    let len = if frac % 100 == 0 { 1 } else if frac % 10 == 0 { 2 } else { 3 };
    out.push(b'.');
    out.extend_from_slice(&digits[..len]);
}

/// Milliseconds as serde_json writes the `f64`.
pub(crate) fn ms_json(out: &mut Vec<u8>, ms: f64) {
    match whole_micros(ms) {
        Some(us) => micros_as_ms(out, us, true),
        None => {
            let _ = serde_json::to_writer(&mut *out, &ms);
        }
    }
}

/// Microseconds as milliseconds, as serde_json writes `f64::from(us) / 1000.0`.
pub(crate) fn us_as_ms_json(out: &mut Vec<u8>, us: u32) {
    micros_as_ms(out, u64::from(us), true);
}

/// Milliseconds as `Display` writes the `f64` (CSV).
pub(crate) fn ms_display(out: &mut Vec<u8>, ms: f64) {
    match whole_micros(ms) {
        Some(us) => micros_as_ms(out, us, false),
        None => {
            use std::io::Write;
            let _ = write!(out, "{ms}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(ms: f64) -> String {
        let mut v = Vec::new();
        ms_json(&mut v, ms);
        String::from_utf8(v).unwrap()
    }

    fn display(ms: f64) -> String {
        let mut v = Vec::new();
        ms_display(&mut v, ms);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn milliseconds_match_serde_json_and_display() {
        // Every microsecond up to 2 s, then a spread to about 12 days.
        let spread = (0..200_000u64).map(|i| i * i * 25 + i);
        for us in (0..2_000_000u64).chain(spread) {
            let ms = us as f64 / 1000.0;
            assert_eq!(json(ms), serde_json::to_string(&ms).unwrap(), "{us} us");
            assert_eq!(display(ms), ms.to_string(), "{us} us");
        }
        for odd in [0.0001, 1.0 / 3.0, 12.3456789, 1e-7, 5e20] {
            assert_eq!(json(odd), serde_json::to_string(&odd).unwrap());
            assert_eq!(display(odd), odd.to_string());
        }
        let mut v = Vec::new();
        us_as_ms_json(&mut v, u32::MAX);
        assert_eq!(String::from_utf8(v).unwrap(), serde_json::to_string(&(f64::from(u32::MAX) / 1000.0)).unwrap());
    }
}
