//! `volley runs export --format csv`: a run's stages as CSV, one row a stage, with the
//! figures the run store keeps per stage and more (the TTFT, ITL, TPOT and latency
//! percentiles, goodput, the errors by class). Written with the per-request CSV's own
//! field writer ([`crate::csv`]): names come from scenarios, so a name is quoted when it
//! holds a comma, quote or line break (RFC 4180), and one that starts like a formula is
//! shown as text.

use volley_core::Summary;

use crate::csv::Row;
use crate::schema::{Report, StageReport};

/// The header row (without its line break), one column a figure.
pub const HEADER: &str = "stage,name,sent,ok,failed,errors,elapsed_s,target_rps,offered_rps,achieved_rps,goodput_rps,slo_attainment,\
output_tokens_per_s,output_tokens,ttft_p50_ms,ttft_p90_ms,ttft_p99_ms,itl_p50_ms,itl_p90_ms,itl_p99_ms,\
itl_per_token_p50_ms,itl_per_token_p90_ms,itl_per_token_p99_ms,tpot_p50_ms,tpot_p90_ms,tpot_p99_ms,\
latency_p50_ms,latency_p90_ms,latency_p99_ms,schedule_lag_p99_ms";

/// The stages of `report` as CSV: the header, then a row per stage, in order.
pub fn stages(report: &Report) -> String {
    let mut out = Vec::with_capacity(256 * (report.stages.len() + 1));
    out.extend_from_slice(HEADER.as_bytes());
    out.push(b'\n');
    for (i, s) in report.stages.iter().enumerate() {
        row(&mut out, i, s);
    }
    // Every field is UTF-8 text or ASCII: what went in comes out.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `class=count` pairs joined by `;` (`timeout=3;http_5xx=1`), empty without errors.
fn errors(s: &StageReport) -> String {
    s.requests.errors.iter().map(|(class, e)| format!("{class}={}", e.count)).collect::<Vec<_>>().join(";")
}

fn row(out: &mut Vec<u8>, index: usize, s: &StageReport) {
    let mut row = Row::new(out);
    row.int(index as u64);
    row.text(&s.name);
    row.int(s.requests.sent);
    row.int(s.requests.ok);
    row.int(s.requests.failed);
    row.text(&errors(s));
    row.num(s.elapsed_s);
    row.opt(s.target_rps, Row::num);
    row.num(s.offered_rps);
    row.num(s.achieved_rps);
    row.opt(s.goodput_rps, Row::num);
    row.opt(s.slo_attainment, Row::num);
    row.num(s.output_tokens_per_s);
    row.int(s.output_tokens.total);
    for summary in [s.ttft_ms, s.itl_ms, s.itl_per_token_ms, s.tpot_ms, s.latency_ms] {
        percentiles(&mut row, summary);
    }
    row.opt(s.schedule_lag_ms.map(|m| m.p99), Row::num);
    row.end();
}

/// p50, p90 and p99 of `summary`, or three empty fields.
fn percentiles(row: &mut Row<'_>, summary: Option<Summary>) {
    for pick in [|m: &Summary| m.p50, |m: &Summary| m.p90, |m: &Summary| m.p99] {
        row.opt(summary.as_ref().map(pick), Row::num);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{one_run, stage_with_ttfts};

    /// RFC 4180 fields of a CSV text (quoted fields may hold commas, quotes, line breaks).
    fn parse(text: &str) -> Vec<Vec<String>> {
        let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
        let (mut quoted, mut chars) = (false, text.chars().peekable());
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\n') => {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => field.push(c),
            }
        }
        rows
    }

    #[test]
    fn a_row_per_stage_and_hostile_names_stay_in_their_field() {
        let hostile = "a,b \"quoted\"\nnext line";
        let report = one_run(vec![stage_with_ttfts(hostile, &[10, 20, 30]), stage_with_ttfts("=SUM(A1)", &[40])]);
        let text = stages(&report);
        let rows = parse(&text);
        let names: Vec<&str> = HEADER.split(',').collect();
        assert_eq!(rows.len(), 3, "{text}");
        assert!(rows.iter().all(|r| r.len() == names.len()), "{rows:?}");
        assert_eq!(rows[0], names);
        let col = |name: &str| names.iter().position(|n| *n == name).unwrap();
        assert_eq!(rows[1][col("name")], hostile);
        // A formula-like name is shown as text, not evaluated.
        assert_eq!(rows[2][col("name")], "'=SUM(A1)");
        let ttft = report.stages[0].ttft_ms.unwrap();
        assert_eq!(rows[1][col("ttft_p99_ms")].parse::<f64>().unwrap(), ttft.p99);
        assert_eq!(rows[1][col("sent")], "3");
        // No ITL in these stages: the field is empty, not zero.
        assert_eq!(rows[1][col("itl_p50_ms")], "");
    }
}
