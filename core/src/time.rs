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

/// `YYYYmmdd-HHMMSS` in UTC, for default output directory names.
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
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
    fn utc_stamp_known_dates() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101-000000");
        // 2026-11-23 02:38:00 UTC
        let t = UNIX_EPOCH + Duration::from_secs(1_795_401_480);
        assert_eq!(utc_stamp(t), "20261123-023800");
    }
}
