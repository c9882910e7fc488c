//! One streaming pass over a dataset file: find each row's byte span and check it.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{Format, OnError, Span, row};

pub struct Indexed {
    pub spans: Vec<Span>,
    pub skipped: u64,
}

/// By extension (`.json`, `.jsonl`/`.ndjson`, `.txt`/`.text`/`.md`), else by the first
/// byte that is not white space (`[`: a JSON array, `{`: JSONL, anything else: text).
pub fn detect_format(path: &Path, file: &File) -> Result<Format> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("json") => return Ok(Format::ShareGpt),
        Some("jsonl") | Some("ndjson") => return Ok(Format::Jsonl),
        Some("txt") | Some("text") | Some("md") => return Ok(Format::Text),
        _ => {}
    }
    let mut head = vec![0u8; 4096];
    let n = file.read_at(&mut head, 0).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(match head[..n].iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => Format::ShareGpt,
        Some(b'{') => Format::Jsonl,
        _ => Format::Text,
    })
}

pub fn index(file: &File, path: &Path, format: Format, on_error: OnError) -> Result<Indexed> {
    let reader = BufReader::with_capacity(1 << 20, file.try_clone()?);
    match format {
        Format::Jsonl | Format::Text | Format::Folder | Format::Trace(_) => index_lines(reader, path, format, on_error),
        Format::ShareGpt => index_json_array(reader, path, on_error),
    }
}

/// The largest row read: far beyond any model's context, and a bound on what one
/// malformed file (a single line of gigabytes) can make the indexer hold.
pub(crate) const MAX_ROW: usize = 64 << 20;

fn too_large(path: &Path, line: u64) -> anyhow::Error {
    anyhow::anyhow!("{}:{line}: row larger than {} MiB; refusing the dataset", path.display(), MAX_ROW >> 20)
}

fn index_lines(mut reader: BufReader<File>, path: &Path, format: Format, on_error: OnError) -> Result<Indexed> {
    let mut out = Indexed { spans: Vec::new(), skipped: 0 };
    let mut line = Vec::with_capacity(4096);
    let (mut offset, mut lineno) = (0u64, 0u64);
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_ROW as u64 + 2)
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        lineno += 1;
        if n > MAX_ROW + 1 {
            return Err(too_large(path, lineno));
        }
        let mut content = &line[..];
        while let [rest @ .., b'\n' | b'\r'] = content {
            content = rest;
        }
        if !content.iter().all(u8::is_ascii_whitespace) {
            match row::check(format, content) {
                Ok(()) => out.spans.push(span(offset, content.len(), path, lineno)?),
                Err(e) if on_error == OnError::Skip => {
                    let _ = e;
                    out.skipped += 1;
                }
                Err(e) => bail!("{}:{lineno}: malformed row: {e}", path.display()),
            }
        }
        offset += n as u64;
    }
    Ok(out)
}

fn span(start: u64, len: usize, path: &Path, line: u64) -> Result<Span> {
    let len = u32::try_from(len).ok().filter(|n| *n as usize <= MAX_ROW).ok_or_else(|| too_large(path, line))?;
    Ok(Span { start, len })
}

enum State {
    /// Before the opening `[`.
    Start,
    /// After `[` or `,`: an element or `]`.
    Between,
    InElement {
        depth: u32,
        in_string: bool,
        escape: bool,
    },
    /// After an element: `,` or `]`.
    After,
    Done,
}

/// Scans a JSON array of objects, keeping each object's span and checking it.
fn index_json_array(mut reader: BufReader<File>, path: &Path, on_error: OnError) -> Result<Indexed> {
    let mut out = Indexed { spans: Vec::new(), skipped: 0 };
    let mut state = State::Start;
    let mut element = Vec::new();
    let (mut offset, mut line, mut start, mut start_line) = (0u64, 1u64, 0u64, 1u64);
    let mut buf = vec![0u8; 1 << 20];
    let at = |line: u64| format!("{}:{line}", path.display());
    loop {
        let n = reader.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            if b == b'\n' {
                line += 1;
            }
            match &mut state {
                State::InElement { depth, in_string, escape } => {
                    if element.len() >= MAX_ROW {
                        return Err(too_large(path, start_line));
                    }
                    element.push(b);
                    if *in_string {
                        if *escape {
                            *escape = false;
                        } else if b == b'\\' {
                            *escape = true;
                        } else if b == b'"' {
                            *in_string = false;
                        }
                    } else {
                        match b {
                            b'"' => *in_string = true,
                            b'{' | b'[' => *depth += 1,
                            b'}' | b']' => {
                                *depth -= 1;
                                if *depth == 0 {
                                    match row::check(super::Format::ShareGpt, &element) {
                                        Ok(()) => out.spans.push(span(start, element.len(), path, start_line)?),
                                        Err(_) if on_error == OnError::Skip => out.skipped += 1,
                                        Err(e) => {
                                            bail!("{}: malformed row {}: {e}", at(start_line), out.spans.len() + out.skipped as usize)
                                        }
                                    }
                                    element.clear();
                                    state = State::After;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ if b.is_ascii_whitespace() => {}
                State::Start if b == b'[' => state = State::Between,
                State::Start => bail!("{}: expected a JSON array ('['), found '{}'", at(line), b as char),
                State::Between if b == b']' => state = State::Done,
                State::Between if b == b'{' => {
                    state = State::InElement { depth: 1, in_string: false, escape: false };
                    element.push(b);
                    start = offset;
                    start_line = line;
                }
                State::Between => bail!("{}: expected an object ('{{') in the array, found '{}'", at(line), b as char),
                State::After if b == b',' => state = State::Between,
                State::After if b == b']' => state = State::Done,
                State::After => bail!("{}: expected ',' or ']' after a row, found '{}'", at(line), b as char),
                State::Done => bail!("{}: unexpected data after the end of the JSON array", at(line)),
            }
            offset += 1;
        }
    }
    if !matches!(state, State::Done) {
        bail!("{}: the JSON array ends early (truncated file?)", at(line));
    }
    Ok(out)
}
