//! Time helpers shared by every crate: the process start instant, durations in
//! report units (milliseconds) and their serde adaptors, UTC stamps for names.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serializer};

/// When this process started (set first thing in `main`; else the first call).
static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// Marks now as the process start (call first thing in `main`).
pub fn mark_process_start() {
    PROCESS_START.get_or_init(Instant::now);
}

/// The instant [`mark_process_start`] recorded (or of the first call).
pub fn process_start() -> Instant {
    *PROCESS_START.get_or_init(Instant::now)
}

/// An optional duration as seconds (`null` when absent).
pub fn serialize_opt_duration_s<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// Reads what [`serialize_opt_duration_s`] wrote; a negative or non-finite number is an error.
pub fn deserialize_opt_duration_s<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<f64>::deserialize(d)? {
        None => Ok(None),
        Some(s) => Duration::try_from_secs_f64(s).map(Some).map_err(serde::de::Error::custom),
    }
}

/// Milliseconds with microsecond resolution, for reports.
pub fn ms(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1_000.0).round() / 1_000.0
}

/// The whole microseconds [`ms`] rounds `d` to (`ms(d) == micros(d) as f64 / 1000.0`),
/// in integer arithmetic: a half rounds up, as `f64::round` rounds it.
pub fn micros(d: Duration) -> u64 {
    d.as_secs().saturating_mul(1_000_000).saturating_add((u64::from(d.subsec_nanos()) + 500) / 1_000)
}

/// `YYYYmmdd-HHMMSS` in UTC, for default output directory names.
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A wall-clock instant as Unix milliseconds (`1767225600000`) or RFC 3339
/// (`2026-12-01T15:30:00Z`, `2026-12-01T16:30:00.250+01:00`), for `--start-at`.
pub fn parse_instant(text: &str) -> Result<SystemTime, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let ms: u64 = t.parse().map_err(|_| format!("'{t}' is too large for Unix milliseconds"))?;
        return Ok(UNIX_EPOCH + Duration::from_millis(ms));
    }
    let bad = || format!("'{t}' is neither Unix milliseconds nor RFC 3339 (e.g. 2026-12-01T15:30:00Z)");
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| t.get(r).filter(|s| s.bytes().all(|c| c.is_ascii_digit())).and_then(|s| s.parse::<i64>().ok());
    let (y, mo, d, h, mi, s) = (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19));
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (y, mo, d, h, mi, s) else { return Err(bad()) };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    let mut rest = &t[19..];
    let mut nanos = 0u64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        for (i, c) in frac[..digits].bytes().take(9).enumerate() {
            nanos += u64::from(c - b'0') * 10u64.pow(8 - i as u32);
        }
        rest = &frac[digits..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && matches!(&o[..1], "+" | "-") && &o[3..4] == ":" => {
            let (oh, om) = (num(t.len() - 5..t.len() - 3), num(t.len() - 2..t.len()));
            let (Some(oh), Some(om)) = (oh, om) else { return Err(bad()) };
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return Err(bad()),
    };
    let secs = days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    let secs = u64::try_from(secs).map_err(|_| format!("'{t}' is before 1970"))?;
    Ok(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_nanos(nanos))
}

/// Howard Hinnant's civil-to-days algorithm: days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian, UTC).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_are_what_ms_rounds_to() {
        let spread = (0..300_000u64).map(|i| i * i * 997 + i * 13);
        for ns in (0..3_000_000u64).chain(spread).chain([499, 500, 1_500, 999_999_500, 86_400_000_000_500]) {
            let d = Duration::from_nanos(ns);
            assert_eq!(micros(d) as f64 / 1000.0, ms(d), "{ns} ns");
        }
    }

    #[test]
    fn instants_in_unix_ms_and_rfc_3339() {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(parse_instant("1795401480000"), Ok(at(1_795_401_480_000)));
        assert_eq!(parse_instant("2026-11-23T02:38:00Z"), Ok(at(1_795_401_480_000)));
        assert_eq!(parse_instant("2026-11-23T03:38:00.250+01:00"), Ok(at(1_795_401_480_250)));
        assert_eq!(parse_instant("2026-11-22T21:38:00-05:00"), Ok(at(1_795_401_480_000)));
        assert_eq!(parse_instant("1970-01-01T00:00:00Z"), Ok(UNIX_EPOCH));
        assert_eq!(parse_instant("2024-02-29T12:00:00Z"), Ok(at(1_709_208_000_000)), "a leap day");
        for bad in [
            "",
            "soon",
            "2026-11-23",
            "2026-13-01T00:00:00Z",
            "2026-11-23T02:38:00",
            "2026-11-23T02:38:00+1",
            "1969-12-31T23:59:59Z",
            "2026-11-23T02:38:00.Z",
            "99999999999999999999999",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn utc_stamp_known_dates() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101-000000");
        // 2026-11-23 02:38:00 UTC
        let t = UNIX_EPOCH + Duration::from_secs(1_795_401_480);
        assert_eq!(utc_stamp(t), "20261123-023800");
    }
}
