//! `requests.csv`: the per-request records as CSV, for spreadsheets and pandas, written
//! beside `requests.jsonl` as requests complete. Same fields, minus the arrays (ITL
//! gaps, chunk tokens) and texts.

use std::path::Path;

use volley_core::TokenSource;

use crate::line::{Ms, RecordLine};
use crate::lines::LineFile;
use crate::numbers::{flag, int, us_as_ms_display};
use crate::sink::{RecordEvent, Sink, SinkError};

/// Writes `requests.csv` as requests complete.
pub struct CsvSink {
    out: LineFile,
}

impl CsvSink {
    /// Creates (truncates) `path` and writes the header.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        let mut out = LineFile::create(path)?;
        out.line(|b| b.extend_from_slice(HEADER.as_bytes()))?;
        Ok(CsvSink { out })
    }
}

impl Sink for CsvSink {
    fn name(&self) -> &str {
        "requests.csv"
    }

    fn record(&mut self, e: &RecordEvent<'_>) -> Result<(), SinkError> {
        self.out.line(|out| write_line(out, e.line()))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush()
    }
}

pub(crate) const HEADER: &str = "stage,stage_name,seq,tag,model,batch_size,session,api,stream,ok,status,error,error_message,\
planned_ms,sent_ms,schedule_lag_ms,ttft_ms,latency_ms,latency_from_planned_ms,tpot_ms,max_tokens,output_tokens,\
token_source,prompt_tokens,requested_prompt_tokens,cached_tokens,text_chunks,ttfo_ms,ttst_ms,reasoning_tokens,tool_calls,new_connection,connect_ms,tls_ms,written_ms,first_byte_ms,headers_ms,turn,delay_ms\n";

/// A text field, quoted when it holds a comma, quote or line break. One that starts
/// like a formula (`=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`,
/// so a spreadsheet shows it as text instead of evaluating what a scenario or server
/// wrote. (RFC 4180: a quoted field keeps its line breaks and doubles its quotes.)
pub(crate) fn text(out: &mut Vec<u8>, s: &str) {
    let formula = matches!(s.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'));
    let quoted = s.bytes().any(|c| matches!(c, b',' | b'"' | b'\n' | b'\r'));
    if quoted {
        out.push(b'"');
    }
    if formula {
        out.push(b'\'');
    }
    if quoted {
        out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// A row being written: each field after the first is preceded by its comma.
pub(crate) struct Row<'a> {
    out: &'a mut Vec<u8>,
    fields: usize,
}

impl<'a> Row<'a> {
    /// A row started at the end of `out`.
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Row { out, fields: 0 }
    }

    pub(crate) fn field(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        if self.fields > 0 {
            self.out.push(b',');
        }
        self.fields += 1;
        write(self.out);
    }

    pub(crate) fn text(&mut self, s: &str) {
        self.field(|out| text(out, s));
    }

    pub(crate) fn word(&mut self, s: &str) {
        self.field(|out| out.extend_from_slice(s.as_bytes()));
    }

    pub(crate) fn int(&mut self, v: impl Into<u64>) {
        self.field(|out| int(out, v));
    }

    fn flag(&mut self, b: bool) {
        self.field(|out| flag(out, b));
    }

    fn ms(&mut self, v: Ms) {
        self.field(|out| us_as_ms_display(out, v.0));
    }

    /// A number as `Display` writes it (the shortest form that reads back as the same
    /// `f64`); empty when not finite.
    pub(crate) fn num(&mut self, v: f64) {
        self.field(|out| {
            if v.is_finite() {
                out.extend_from_slice(v.to_string().as_bytes());
            }
        });
    }

    /// Ends the row with its line break.
    pub(crate) fn end(self) {
        self.out.push(b'\n');
    }

    /// An optional field: empty when absent.
    pub(crate) fn opt<T>(&mut self, v: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match v {
            Some(v) => write(self, v),
            None => self.field(|_| {}),
        }
    }
}

/// The row of `r`, with its line end; fields as `Display` writes them.
fn write_line(out: &mut Vec<u8>, r: &RecordLine<'_>) {
    let mut row = Row::new(out);
    row.int(r.stage);
    row.text(r.stage_name);
    row.int(r.seq);
    row.text(r.tag.unwrap_or(""));
    row.text(r.model.unwrap_or(""));
    row.int(r.batch_size);
    row.opt(r.session, Row::int);
    row.word(r.api.as_str());
    row.flag(r.stream);
    row.flag(r.ok);
    row.int(r.status);
    row.opt(r.error, |row, e| row.word(e.as_str()));
    row.text(r.error_message.unwrap_or(""));
    row.ms(r.planned_ms);
    for v in [r.sent_ms, r.schedule_lag_ms, r.ttft_ms, r.latency_ms] {
        row.opt(v, Row::ms);
    }
    row.ms(r.latency_from_planned_ms);
    row.opt(r.tpot_ms, Row::ms);
    row.opt(r.max_tokens, Row::int);
    row.int(r.output_tokens);
    row.word(token_source(r.token_source));
    for v in [r.prompt_tokens, r.requested_prompt_tokens, r.cached_tokens] {
        row.opt(v, Row::int);
    }
    row.int(r.text_chunks);
    for v in [r.ttfo_ms, r.ttst_ms] {
        row.opt(v, Row::ms);
    }
    row.opt(r.reasoning_tokens, Row::int);
    row.int(r.tool_calls);
    row.flag(r.new_connection);
    for v in [r.connect_ms, r.tls_ms, r.written_ms, r.first_byte_ms, r.headers_ms] {
        row.opt(v, Row::ms);
    }
    row.opt(r.turn, Row::int);
    row.opt(r.delay_ms, Row::ms);
    row.out.push(b'\n');
}

/// The token source as the CSV has always named it (capitalised).
fn token_source(t: TokenSource) -> &'static str {
    match t {
        TokenSource::Usage => "Usage",
        TokenSource::Tokenizer => "Tokenizer",
        TokenSource::Chunks => "Chunks",
        TokenSource::None => "None",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        let mut v = Vec::new();
        text(&mut v, "plain");
        v.push(b'|');
        text(&mut v, "a,\"b\"");
        assert_eq!(String::from_utf8(v).unwrap(), "plain|\"a,\"\"b\"\"\"");
        assert_eq!(HEADER.matches(',').count(), 38);
    }

    #[test]
    fn a_row_has_a_field_per_header_column_written_as_display_would() {
        let epoch = std::time::Instant::now();
        let mut r =
            volley_core::RequestRecord::new(2, 41, volley_core::Api::Completions, true, epoch + std::time::Duration::from_micros(1500));
        r.sent = Some(epoch + std::time::Duration::from_millis(2));
        r.done = epoch + std::time::Duration::from_millis(12);
        r.status = 200;
        r.output_tokens = 5;
        r.prompt_tokens = Some(9);
        r.token_source = TokenSource::Usage;
        let mut row = Vec::new();
        write_line(&mut row, &RecordLine::new(&r, "s", epoch));
        let row = String::from_utf8(row).unwrap();
        let fields: Vec<&str> = row.trim_end_matches('\n').split(',').collect();
        let names: Vec<&str> = HEADER.trim_end().split(',').collect();
        assert_eq!(fields.len(), names.len(), "{row}");
        let get = |name: &str| fields[names.iter().position(|n| *n == name).unwrap()];
        assert_eq!((get("stage"), get("seq"), get("api"), get("stream"), get("status")), ("2", "41", "completions", "true", "200"));
        assert_eq!((get("planned_ms"), get("sent_ms"), get("latency_ms"), get("ttft_ms")), ("1.5", "2", "10", ""));
        assert_eq!((get("token_source"), get("prompt_tokens"), get("session"), get("error")), ("Usage", "9", "", ""));
    }

    #[test]
    fn formulas_are_shown_as_text() {
        for (field, shown) in [("=1+1", "'=1+1"), ("+x", "'+x"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("=a,b", "\"'=a,b\"")] {
            let mut v = Vec::new();
            text(&mut v, field);
            assert_eq!(String::from_utf8(v).unwrap(), shown);
        }
    }
}
