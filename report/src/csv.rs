//! `requests.csv`: the per-request records as CSV, for spreadsheets and pandas, written
//! beside `requests.jsonl` as requests complete. Same fields, minus the arrays (ITL
//! gaps, chunk tokens) and texts.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::line::RecordLine;
use crate::sink::{RecordEvent, Sink, SinkError};

/// Writes `requests.csv` as requests complete.
pub struct CsvSink {
    out: BufWriter<File>,
    path: PathBuf,
}

impl CsvSink {
    /// Creates (truncates) `path` and writes the header.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        let file = File::create(path).map_err(|e| SinkError::new(format!("cannot create {}: {e}", path.display())))?;
        let mut out = BufWriter::with_capacity(128 << 10, file);
        out.write_all(HEADER.as_bytes()).map_err(|e| SinkError::io(path, e))?;
        Ok(CsvSink { out, path: path.to_path_buf() })
    }
}

impl Sink for CsvSink {
    fn record(&mut self, e: &RecordEvent<'_>) -> Result<(), SinkError> {
        let mut line = RecordLine::new(e.record, e.stage_name, e.epoch);
        line.excluded = e.excluded;
        write_line(&mut self.out, &line).map_err(|err| SinkError::io(&self.path, err))
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
fn text(out: &mut impl Write, s: &str) -> io::Result<()> {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let s = if formula { std::borrow::Cow::Owned(format!("'{s}")) } else { std::borrow::Cow::Borrowed(s) };
    if s.contains([',', '"', '\n', '\r']) {
        write!(out, "\"{}\"", s.replace('"', "\"\""))
    } else {
        out.write_all(s.as_bytes())
    }
}

fn opt<T: std::fmt::Display>(out: &mut impl Write, v: Option<T>) -> io::Result<()> {
    match v {
        Some(v) => write!(out, "{v}"),
        None => Ok(()),
    }
}

fn write_line(out: &mut impl Write, r: &RecordLine<'_>) -> io::Result<()> {
    write!(out, "{},", r.stage)?;
    text(out, r.stage_name)?;
    write!(out, ",{},", r.seq)?;
    text(out, r.tag.unwrap_or(""))?;
    out.write_all(b",")?;
    text(out, r.model.unwrap_or(""))?;
    write!(out, ",{},", r.batch_size)?;
    opt(out, r.session)?;
    write!(out, ",{},{},{},{},", r.api.as_str(), r.stream, r.ok, r.status)?;
    opt(out, r.error.map(|e| e.as_str()))?;
    out.write_all(b",")?;
    text(out, r.error_message.unwrap_or(""))?;
    write!(out, ",{},", r.planned_ms)?;
    for v in [r.sent_ms, r.schedule_lag_ms, r.ttft_ms, r.latency_ms] {
        opt(out, v)?;
        out.write_all(b",")?;
    }
    write!(out, "{},", r.latency_from_planned_ms)?;
    opt(out, r.tpot_ms)?;
    out.write_all(b",")?;
    opt(out, r.max_tokens)?;
    write!(out, ",{},{:?},", r.output_tokens, r.token_source)?;
    opt(out, r.prompt_tokens)?;
    out.write_all(b",")?;
    opt(out, r.requested_prompt_tokens)?;
    out.write_all(b",")?;
    opt(out, r.cached_tokens)?;
    write!(out, ",{},", r.text_chunks)?;
    for v in [r.ttfo_ms, r.ttst_ms] {
        opt(out, v)?;
        out.write_all(b",")?;
    }
    opt(out, r.reasoning_tokens)?;
    write!(out, ",{},{}", r.tool_calls, r.new_connection)?;
    for v in [r.connect_ms, r.tls_ms, r.written_ms, r.first_byte_ms, r.headers_ms] {
        out.write_all(b",")?;
        opt(out, v)?;
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        let mut v = Vec::new();
        text(&mut v, "plain").unwrap();
        v.push(b'|');
        text(&mut v, "a,\"b\"").unwrap();
        assert_eq!(String::from_utf8(v).unwrap(), "plain|\"a,\"\"b\"\"\"");
        assert_eq!(HEADER.matches(',').count(), 36);
    }

    #[test]
    fn formulas_are_shown_as_text() {
        for (field, shown) in [("=1+1", "'=1+1"), ("+x", "'+x"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("=a,b", "\"'=a,b\"")] {
            let mut v = Vec::new();
            text(&mut v, field).unwrap();
            assert_eq!(String::from_utf8(v).unwrap(), shown);
        }
    }
}
