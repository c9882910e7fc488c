//! `requests.csv`: the per-request records as CSV, for spreadsheets and pandas, written
//! beside `requests.jsonl` as requests complete. Same fields, minus the arrays (ITL
//! gaps, chunk tokens) and texts.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use volley_core::TokenSource;

use crate::line::RecordLine;
use crate::numbers::{int, ms_display};
use crate::sink::{RecordEvent, Sink, SinkError};

/// Writes `requests.csv` as requests complete.
pub struct CsvSink {
    out: BufWriter<File>,
    path: PathBuf,
    /// The row being written (reused).
    row: Vec<u8>,
}

impl CsvSink {
    /// Creates (truncates) `path` and writes the header.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        let file = File::create(path).map_err(|e| SinkError::new(format!("cannot create {}: {e}", path.display())))?;
        let mut out = BufWriter::with_capacity(128 << 10, file);
        out.write_all(HEADER.as_bytes()).map_err(|e| SinkError::io(path, e))?;
        Ok(CsvSink { out, path: path.to_path_buf(), row: Vec::with_capacity(512) })
    }
}

impl Sink for CsvSink {
    fn record(&mut self, e: &RecordEvent<'_>) -> Result<(), SinkError> {
        let mut line = RecordLine::new(e.record, e.stage_name, e.epoch);
        line.excluded = e.excluded;
        self.row.clear();
        write_line(&mut self.row, &line);
        self.out.write_all(&self.row).map_err(|err| SinkError::io(&self.path, err))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(|e| SinkError::io(&self.path, e))
    }
}

pub(crate) const HEADER: &str = "stage,stage_name,seq,tag,model,batch_size,session,api,stream,ok,status,error,error_message,\
planned_ms,sent_ms,schedule_lag_ms,ttft_ms,latency_ms,latency_from_planned_ms,tpot_ms,max_tokens,output_tokens,\
token_source,prompt_tokens,requested_prompt_tokens,cached_tokens,text_chunks,ttfo_ms,ttst_ms,reasoning_tokens,tool_calls,new_connection,connect_ms,tls_ms,written_ms,first_byte_ms,headers_ms\n";

/// A text field, quoted when it holds a comma, quote or line break. One that starts
/// like a formula (`=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`,
/// so a spreadsheet shows it as text instead of evaluating what a scenario or server
/// wrote.
fn text(out: &mut Vec<u8>, s: &str) {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quoted = s.contains([',', '"', '\n', '\r']);
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

fn opt<T>(out: &mut Vec<u8>, v: Option<T>, write: impl FnOnce(&mut Vec<u8>, T)) {
    if let Some(v) = v {
        write(out, v);
    }
}

fn flag(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// The row of `r`, with its line end; fields as `Display` writes them.
fn write_line(out: &mut Vec<u8>, r: &RecordLine<'_>) {
    let comma = |out: &mut Vec<u8>| out.push(b',');
    int(out, r.stage);
    comma(out);
    text(out, r.stage_name);
    comma(out);
    int(out, r.seq);
    comma(out);
    text(out, r.tag.unwrap_or(""));
    comma(out);
    text(out, r.model.unwrap_or(""));
    comma(out);
    int(out, r.batch_size);
    comma(out);
    opt(out, r.session, int);
    comma(out);
    out.extend_from_slice(r.api.as_str().as_bytes());
    comma(out);
    flag(out, r.stream);
    comma(out);
    flag(out, r.ok);
    comma(out);
    int(out, r.status);
    comma(out);
    opt(out, r.error, |out, e| out.extend_from_slice(e.as_str().as_bytes()));
    comma(out);
    text(out, r.error_message.unwrap_or(""));
    comma(out);
    ms_display(out, r.planned_ms);
    comma(out);
    for v in [r.sent_ms, r.schedule_lag_ms, r.ttft_ms, r.latency_ms] {
        opt(out, v, ms_display);
        comma(out);
    }
    ms_display(out, r.latency_from_planned_ms);
    comma(out);
    opt(out, r.tpot_ms, ms_display);
    comma(out);
    opt(out, r.max_tokens, int);
    comma(out);
    int(out, r.output_tokens);
    comma(out);
    out.extend_from_slice(token_source(r.token_source).as_bytes());
    comma(out);
    for v in [r.prompt_tokens, r.requested_prompt_tokens, r.cached_tokens] {
        opt(out, v, int);
        comma(out);
    }
    int(out, r.text_chunks);
    comma(out);
    for v in [r.ttfo_ms, r.ttst_ms] {
        opt(out, v, ms_display);
        comma(out);
    }
    opt(out, r.reasoning_tokens, int);
    comma(out);
    int(out, r.tool_calls);
    comma(out);
    flag(out, r.new_connection);
    for v in [r.connect_ms, r.tls_ms, r.written_ms, r.first_byte_ms, r.headers_ms] {
        comma(out);
        opt(out, v, ms_display);
    }
    out.push(b'\n');
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
        assert_eq!(HEADER.matches(',').count(), 36);
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
