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

pub use row::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of objects (ShareGPT and similar).
    ShareGpt,
    Jsonl,
    Text,
    /// A folder of media files.
    Folder,
}

impl Format {
    /// The name the report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::ShareGpt => "sharegpt",
            Format::Jsonl => "jsonl",
            Format::Text => "text",
            Format::Folder => "folder",
        }
    }
}

/// What a malformed row does: fail the run, or skip it (and count it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    Fail,
    Skip,
}

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

    /// Indexes the file at `path`; `lines:PATH` takes every line as a row, as is (e.g. a
    /// JSONL request trace whose rows carry no prompt).
    pub fn open(name: &str, path: &Path, on_error: OnError) -> Result<Self, DataError> {
        Self::index(name, path, on_error).map_err(|e| DataError::Dataset(format!("{e:#}")))
    }

    fn index(name: &str, path: &Path, on_error: OnError) -> Result<Self> {
        let (path, forced) = match path.to_str().and_then(|p| p.strip_prefix("lines:")) {
            Some(p) => (Path::new(p), Some(Format::Text)),
            None => (path, None),
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
                return Ok(files.get(i as usize).map(|f| Row { messages: Vec::new(), raw: f.name.clone() }));
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
