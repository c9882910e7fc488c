//! Datasets the operator grants (`--dataset NAME=PATH`): ShareGPT JSON (an array of
//! conversations), JSONL (a `messages`, `conversations`, `prompt` or `text` field per
//! line) and plain-text corpora (one row per non-empty line).
//!
//! Opening a dataset streams through the file once ([`index`]): it checks every row and
//! keeps only each row's byte span (12 bytes a row). Rows are read back on demand with
//! positioned reads, so memory stays a small fraction of the file however large it is.
//! A malformed row is an error naming the file and line, or — when the operator asks
//! (`--dataset-errors skip`) — skipped and counted.
//!
//! A granted folder ([`folder`]) is a dataset of media files: its rows are the file
//! names, and [`Dataset::media`] reads a file's bytes for an image or audio part.
//!
//! How a file is read can be named before its path ([`Reading`]): `lines:PATH` takes
//! every line as a row, as is; `mooncake:`, `burstgpt:`, `azure:` and `otel:` read a
//! published request trace ([`crate::trace`]) whose rows carry [`TraceRow`]s.

pub mod folder;
mod index;
mod row;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use volley_core::DatasetInfo;
use volley_core::foreign_file::{self, Kind, Opened};

use crate::DataError;
use crate::trace::{self, TraceFormat, TraceRow};

pub use row::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of objects (ShareGPT and similar).
    ShareGpt,
    Jsonl,
    Text,
    /// A folder of media files.
    Folder,
    /// A request trace.
    Trace(TraceFormat),
}

impl Format {
    /// The name the report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::ShareGpt => "sharegpt",
            Format::Jsonl => "jsonl",
            Format::Text => "text",
            Format::Folder => "folder",
            Format::Trace(t) => t.as_str(),
        }
    }
}

pub use crate::OnError;

/// Where one row sits in the file.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u64,
    len: u32,
}

pub struct Dataset {
    pub name: String,
    pub path: PathBuf,
    pub format: Format,
    pub bytes: u64,
    /// Malformed rows skipped at the operator's request.
    pub skipped: u64,
    source: Source,
}

/// Where the rows are.
enum Source {
    Rows { file: File, spans: Vec<Span> },
    Folder { files: Vec<folder::MediaFile> },
    Trace { rows: Vec<TraceRow> },
}

/// How a granted path is read, when its grant says (`NAME=HOW:PATH`): the one grammar
/// of a grant's prefixes, for the run and for the run file's path checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// `lines:`: every line a row, as is.
    Lines,
    Trace(TraceFormat),
}

impl Reading {
    /// The prefixes a grant's path may start with.
    pub fn prefixes() -> impl Iterator<Item = &'static str> {
        std::iter::once("lines").chain(TraceFormat::ALL.iter().map(|t| t.as_str()))
    }

    /// `path` without its reading prefix, and the reading it names, if any.
    pub fn split(path: &str) -> (Option<Reading>, &str) {
        if let Some(p) = path.strip_prefix("lines:") {
            return (Some(Reading::Lines), p);
        }
        for t in TraceFormat::ALL {
            if let Some(p) = path.strip_prefix(t.as_str()).and_then(|p| p.strip_prefix(':')) {
                return (Some(Reading::Trace(t)), p);
            }
        }
        (None, path)
    }
}

/// One media file's bytes and type.
pub struct MediaBytes {
    pub name: String,
    pub mime: &'static str,
    pub bytes: Vec<u8>,
}

impl Dataset {
    /// Parses `NAME=PATH`.
    pub fn parse_grant(spec: &str) -> Result<(String, PathBuf), DataError> {
        Self::grant(spec).map_err(|e| DataError::Dataset(format!("{e:#}")))
    }

    fn grant(spec: &str) -> Result<(String, PathBuf)> {
        let (name, path) = spec.split_once('=').ok_or_else(|| anyhow!("--dataset '{spec}' must look like NAME=PATH"))?;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            bail!("--dataset '{spec}': the name may use letters, digits, '-' and '_'");
        }
        Ok((name.to_string(), PathBuf::from(path)))
    }

    /// Indexes the file at `path`, read as its prefix says ([`Reading`]).
    pub fn open(name: &str, path: &Path, on_error: OnError) -> Result<Self, DataError> {
        Self::index(name, path, on_error).map_err(|e| DataError::Dataset(format!("{e:#}")))
    }

    fn index(name: &str, path: &Path, on_error: OnError) -> Result<Self> {
        let (reading, path) = match path.to_str().map(Reading::split) {
            Some((reading, p)) => (reading, Path::new(p)),
            None => (None, path),
        };
        let forced = match reading {
            Some(Reading::Lines) => Some(Format::Text),
            Some(Reading::Trace(t)) => Some(Format::Trace(t)),
            None => None,
        };
        if forced.is_none() && path.is_dir() {
            let (files, skipped) = folder::list(name, path)?;
            let bytes = files.iter().map(|f| f.len).sum();
            let source = Source::Folder { files };
            return Ok(Dataset { name: name.to_string(), path: path.to_path_buf(), format: Format::Folder, bytes, skipped, source });
        }
        // Opened by the one reader for foreign files (a FIFO or a device is refused
        // without blocking), then streamed: only its rows are bounded.
        let Opened { file, len: bytes } = foreign_file::open(path, Kind::DATASET).map_err(|e| anyhow!("dataset '{name}': {e}"))?;
        let format = match forced {
            Some(f) => f,
            None => index::detect_format(path, &file)?,
        };
        if let Format::Trace(t) = format {
            let read = trace::read(t, &file, path, on_error).map_err(|e| anyhow!("dataset '{name}': {e:#}"))?;
            let (skipped, source) = (read.skipped, Source::Trace { rows: read.rows });
            return Ok(Dataset { name: name.to_string(), path: path.to_path_buf(), format, bytes, skipped, source });
        }
        let indexed = index::index(&file, path, format, on_error)?;
        if indexed.spans.is_empty() {
            bail!("dataset '{name}' ({}) has no rows", path.display());
        }
        Ok(Dataset {
            name: name.to_string(),
            path: path.to_path_buf(),
            format,
            bytes,
            skipped: indexed.skipped,
            source: Source::Rows { file, spans: indexed.spans },
        })
    }

    pub fn len(&self) -> u64 {
        match &self.source {
            Source::Rows { spans, .. } => spans.len() as u64,
            Source::Folder { files } => files.len() as u64,
            Source::Trace { rows } => rows.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// File `i` of a folder dataset; `None` past the end. A dataset of rows has no media.
    pub fn media(&self, i: u64) -> Result<Option<MediaBytes>, DataError> {
        let Source::Folder { files } = &self.source else {
            return Err(DataError::Dataset(format!(
                "dataset '{}' is a {} file, not a folder of media files",
                self.name,
                self.format.as_str()
            )));
        };
        let Some(file) = files.get(i as usize) else { return Ok(None) };
        let bytes = folder::read(&self.name, &self.path, file).map_err(|e| DataError::Dataset(format!("{e:#}")))?;
        Ok(Some(MediaBytes { name: file.name.clone(), mime: file.mime, bytes }))
    }

    /// Row `i`, read from the file; `None` past the end.
    pub fn row(&self, i: u64) -> Result<Option<Row>, DataError> {
        self.read_row(i).map_err(|e| DataError::Dataset(format!("{e:#}")))
    }

    fn read_row(&self, i: u64) -> Result<Option<Row>> {
        let (file, spans) = match &self.source {
            Source::Rows { file, spans } => (file, spans),
            // A folder's rows are its file names.
            Source::Folder { files } => {
                return Ok(files.get(i as usize).map(|f| Row { messages: Vec::new(), raw: f.name.clone(), trace: None }));
            }
            // A trace's rows are typed; `raw` is the row as the host read it, in JSON.
            Source::Trace { rows } => {
                return Ok(rows.get(i as usize).map(|t| Row {
                    messages: Vec::new(),
                    raw: serde_json::to_string(t).unwrap_or_default(),
                    trace: Some(t.clone()),
                }));
            }
        };
        let Some(span) = spans.get(i as usize) else { return Ok(None) };
        let mut buf = vec![0u8; span.len as usize];
        file.read_exact_at(&mut buf, span.start)
            .with_context(|| format!("cannot read dataset '{}' ({})", self.name, self.path.display()))?;
        row::parse(self.format, &buf).map(Some).map_err(|e| anyhow!("dataset '{}' row {i} changed on disk: {e}", self.name))
    }

    /// What the report says about this dataset.
    pub fn info(&self) -> DatasetInfo {
        DatasetInfo {
            name: self.name.clone(),
            path: self.path.display().to_string(),
            format: self.format.as_str().to_string(),
            bytes: self.bytes,
            rows: self.len(),
            skipped: self.skipped,
        }
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trace_tests;
