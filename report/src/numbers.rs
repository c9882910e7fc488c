//! Number formatting for the per-request record lines, without `core::fmt`, floats or
//! allocation: integers (from a table of three-digit groups under 1,000,000, else through
//! `itoa`), and milliseconds (always whole microseconds in a record) straight from their
//! integer microseconds. The output is byte for byte what serde_json (JSON) and `Display`
//! (CSV) write for the `f64` milliseconds, which the tests check.

/// Writes an integer.
pub(crate) fn int(out: &mut Vec<u8>, v: impl Into<u64>) {
    let v = v.into();
    if v < 1000 {
        let (word, n) = small_word(v);
        return append_word(out, word, n);
    }
    let mut buf = [0u8; 24];
    let n = whole_digits(&mut buf, v);
    append(out, &buf, n);
}

/// `000` to `999` as three ASCII digits and a zero byte: a group of three digits is one
/// lookup, not three divisions.
static DIGITS: [[u8; 4]; 1000] = {
    let mut t = [[0u8; 4]; 1000];
    let mut i = 0;
    while i < 1000 {
        t[i] = [b'0' + (i / 100) as u8, b'0' + (i / 10 % 10) as u8, b'0' + (i % 10) as u8, 0];
        i += 1;
    }
    t
};

/// Of a fraction's point and three digits (`.250`), how many bytes stay once its
/// trailing zeros are dropped, by thousandths (0: none stay).
static FRACTION_KEPT: [u8; 1000] = {
    let mut t = [0u8; 1000];
    let mut i = 1;
    while i < 1000 {
        t[i] = if i % 100 == 0 {
            2
        } else if i % 10 == 0 {
            3
        } else {
            4
        };
        i += 1;
    }
    t
};

/// `v` (under 1,000) without leading zeros in the low bytes of a word, first digit
/// lowest; its length.
fn small_word(v: u64) -> (u64, usize) {
    let n = 1 + usize::from(v >= 10) + usize::from(v >= 100);
    (u64::from(u32::from_le_bytes(DIGITS[v as usize]) >> (8 * (3 - n))), n)
}

/// `v` (under 1,000) without leading zeros at the start of `buf`; its length. Writes
/// four bytes, the ones past the length zero.
fn small(buf: &mut [u8; 24], v: u64) -> usize {
    let (word, n) = small_word(v);
    buf[..4].copy_from_slice(&(word as u32).to_le_bytes());
    n
}

/// Writes `v` in decimal at the start of `buf`; its length. Under 1,000,000 (counts,
/// and milliseconds of runs up to 16 minutes) from the table, larger through `itoa`.
fn whole_digits(buf: &mut [u8; 24], v: u64) -> usize {
    if v < 1000 {
        return small(buf, v);
    }
    if v < 1_000_000 {
        let n = small(buf, v / 1000);
        buf[n..n + 4].copy_from_slice(&DIGITS[(v % 1000) as usize]);
        return n + 3;
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

/// Appends the first `n` (at most 8) bytes of `word`, lowest first: one store from a
/// register, cut to length. (Bytes composed on the stack and read back as one block
/// make the load wait on the small stores before it.)
fn append_word(out: &mut Vec<u8>, word: u64, n: usize) {
    let at = out.len();
    out.extend_from_slice(&word.to_le_bytes());
    out.truncate(at + n);
}

/// Writes a boolean.
pub(crate) fn flag(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// `us / 1000` in decimal, trailing zeros of the fraction dropped; `point_zero` writes a
/// whole number as `N.0` (JSON's float form) rather than `N` (`Display`'s). Under
/// 1,000 ms composed in a register, else on the stack, and appended at once.
fn micros_as_ms(out: &mut Vec<u8>, us: u64, point_zero: bool) {
    let (whole, frac) = (us / 1000, (us % 1000) as usize);
    let kept = match frac {
        0 if point_zero => 2,
        _ => usize::from(FRACTION_KEPT[frac]),
    };
    if whole < 1000 {
        // At most three digits, the point and three: one word (`.`, then the digits).
        let (word, digits) = small_word(whole);
        let point = u64::from(u32::from_le_bytes(DIGITS[frac]) << 8 | u32::from(b'.'));
        return append_word(out, word | point << (8 * digits), digits + kept);
    }
    // u64::MAX / 1000 has 17 digits; then a point and three.
    let mut buf = [0u8; 24];
    let digits = whole_digits(&mut buf, whole);
    let [a, b, c, _] = DIGITS[frac];
    buf[digits..digits + 4].copy_from_slice(&[b'.', a, b, c]);
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
        for v in (0..100_000u64).chain(spread).chain([999_999, 1_000_000, 1_000_001, u64::from(u32::MAX), u64::MAX]) {
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
        for us in
            (0..2_000_000u64).chain(spread).chain([999_999_999, 1_000_000_000, 1_000_000_001, u64::from(u32::MAX), 999_999_999_999_999])
        {
            let ms = us as f64 / 1000.0;
            assert_eq!(json(us), serde_json::to_string(&ms).unwrap(), "{us} us");
            assert_eq!(display(us), ms.to_string(), "{us} us");
        }
    }
}
