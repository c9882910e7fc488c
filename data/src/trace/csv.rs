//! Request traces as CSV with a header, their columns found by name (any order, any
//! case): BurstGPT (`Timestamp` in seconds from the trace's start, `Model`,
//! `Request tokens`, `Response tokens`) and Azure's LLM inference traces (`TIMESTAMP` as
//! `YYYY-MM-DD HH:MM:SS.fffffff`, `ContextTokens`, `GeneratedTokens`).

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail};
use volley_core::text::clip;

use super::{OnError, Trace, TraceRow, each_line, malformed, micros, relative, tokens};

/// How a timestamp column reads.
#[derive(Clone, Copy)]
pub(super) enum Clock {
    Seconds,
    DateTime,
}

/// The columns of one CSV trace format.
pub(super) struct Columns {
    name: &'static str,
    time: (&'static str, Clock),
    input: &'static str,
    output: &'static str,
    model: Option<&'static str>,
}

impl Columns {
    pub(super) const BURSTGPT: Columns = Columns {
        name: "BurstGPT",
        time: ("timestamp", Clock::Seconds),
        input: "request tokens",
        output: "response tokens",
        model: Some("model"),
    };
    pub(super) const AZURE: Columns =
        Columns { name: "Azure", time: ("timestamp", Clock::DateTime), input: "contexttokens", output: "generatedtokens", model: None };
}

/// Where each column sits.
struct Layout {
    time: usize,
    input: usize,
    output: usize,
    model: Option<usize>,
    width: usize,
}

pub(super) fn read(reader: impl BufRead, path: &Path, columns: Columns, on_error: OnError) -> Result<Trace> {
    let (mut rows, mut absolute, mut skipped) = (Vec::new(), Vec::new(), 0);
    let mut layout: Option<Layout> = None;
    // One shared name per model: a trace names a handful, millions of times.
    let mut models: Vec<Arc<str>> = Vec::new();
    each_line(reader, path, |lineno, text| {
        let Some(l) = &layout else {
            layout = Some(header(text, &columns).map_err(|e| anyhow::anyhow!("{}:{lineno}: {e}", path.display()))?);
            return Ok(());
        };
        match parse(text, l, columns.time.1, &mut models) {
            Ok((row, at)) => {
                rows.push(row);
                absolute.push(at);
                Ok(())
            }
            Err(why) => malformed(path, lineno, &why, on_error, &mut skipped),
        }
    })?;
    if layout.is_none() {
        bail!("{}: empty {} trace (no header line)", path.display(), columns.name);
    }
    relative(&mut rows, &absolute);
    Ok(Trace { rows, skipped })
}

fn fields(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(|f| f.trim().trim_matches('"').trim())
}

fn header(text: &str, c: &Columns) -> Result<Layout, String> {
    let names: Vec<String> = fields(text).map(str::to_ascii_lowercase).collect();
    let find = |want: &str| {
        names.iter().position(|n| n == want).ok_or_else(|| {
            format!(
                "a {} trace's header names a `{want}` column (case aside); this one has: {}",
                c.name,
                text.chars().take(200).collect::<String>()
            )
        })
    };
    Ok(Layout {
        time: find(c.time.0)?,
        input: find(c.input)?,
        output: find(c.output)?,
        model: c.model.map(find).transpose()?,
        width: names.len(),
    })
}

fn parse(text: &str, l: &Layout, clock: Clock, models: &mut Vec<Arc<str>>) -> Result<(TraceRow, i128), String> {
    let f: Vec<&str> = fields(text).collect();
    if f.len() != l.width {
        return Err(format!("{} fields where the header has {}", f.len(), l.width));
    }
    let number = |i: usize, what: &str| f[i].parse::<f64>().map_err(|_| format!("`{what}` is not a number: {:?}", clip(f[i], 60)));
    let at = match clock {
        Clock::Seconds => micros(number(l.time, "timestamp")?, 1e6, "timestamp")?,
        Clock::DateTime => {
            date_time_us(f[l.time]).ok_or_else(|| format!("`TIMESTAMP` is not a date and time: {:?}", clip(f[l.time], 60)))?
        }
    };
    let model = match l.model {
        Some(i) if !f[i].is_empty() => Some(match models.iter().find(|m| &***m == f[i]) {
            Some(m) => m.clone(),
            None if models.len() < 256 => {
                models.push(Arc::from(f[i]));
                models[models.len() - 1].clone()
            }
            None => return Err("more than 256 distinct models".into()),
        }),
        _ => None,
    };
    let row = TraceRow {
        input_tokens: tokens(number(l.input, "input tokens")?, "input tokens")?,
        output_tokens: tokens(number(l.output, "output tokens")?, "output tokens")?,
        model,
        ..TraceRow::default()
    };
    Ok((row, at))
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.fraction][Z]` (UTC) as microseconds since 1970.
fn date_time_us(s: &str) -> Option<i128> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min, sec) = (t.next()??, t.next()??, t.next()??);
    if !(1..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || h > 23
        || min > 59
        || sec > 60
        || h < 0
        || min < 0
        || sec < 0
    {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 12 {
        return None;
    }
    let micros_part: i64 = format!("{fraction:0<6}")[..6].parse().ok()?;
    let days = days_from_civil(y, m, day);
    Some(((i128::from(days) * 86_400 + i128::from(h * 3600 + min * 60 + sec)) * 1_000_000) + i128::from(micros_part))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
#[test]
fn dates_read_as_the_calendar_says() {
    assert_eq!(date_time_us("1970-01-01 00:00:00"), Some(0));
    assert_eq!(date_time_us("2023-11-16 18:15:46.6805900"), Some(1_700_158_546_680_590));
    assert_eq!(date_time_us("2024-02-29T00:00:01.5Z"), Some(1_709_164_801_500_000));
    for bad in ["2023-13-01 00:00:00", "2023-11-16", "x", "2023-11-16 18:15:46.68a"] {
        assert_eq!(date_time_us(bad), None, "{bad}");
    }
}
