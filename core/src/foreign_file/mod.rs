//! The one reader for files someone else chose: a shard's `report.json`, a run file, the
//! policy, a scenario component or package, a dataset, a media file of a granted
//! folder, a tokenizer, a Docker config. Every crate reads such files through here.
//!
//! `volley-core` does no I/O of its own (no network, no scheduling); this module is
//! the one exception, the place allowed to open files for the others, so that what
//! every reader must do is done once:
//!
//! - **Regular files only, without blocking.** The file is opened with `O_NONBLOCK`
//!   and `O_NOCTTY` (and `O_CLOEXEC`), then checked with `fstat` on the open
//!   descriptor: a FIFO, a device (`/dev/zero`), a socket or a directory is refused,
//!   and since the check is of what was opened, a file swapped between a check and the
//!   open cannot fool it. Opening a FIFO without `O_NONBLOCK` waits for a writer
//!   forever; with it, the open returns at once. On a regular file `O_NONBLOCK` changes
//!   nothing. A kind may also refuse a symbolic link in the file's place
//!   ([`Kind::without_links`], for the files of a granted folder).
//! - **A byte bound per kind** ([`Kind`]): a file larger than its kind's bound is
//!   refused by its size, and at most bound + 1 bytes are read, so a file that grows
//!   while it is read stops at the bound too.
//! - **Typed parsing** ([`read_json`], with the serde helpers of [`bounded`]): into
//!   structures whose memory stays a small multiple of the file, never a generic JSON
//!   value of a whole file.
//! - **One line per refusal** ([`ForeignFileError`]), naming the file (made printable:
//!   a path may come from a run file) and the reason: "… is a FIFO, not a regular
//!   file", "… is over the 512 MiB bound for a report".
//!
//! Large files that are streamed rather than read whole (datasets) take [`open`]: the
//! same checks, and the open file back.

pub mod bounded;

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::text::printable;

/// What a file is for, and the most bytes read of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// How messages name it: "report", "run file", …
    pub name: &'static str,
    /// Files larger than this are refused.
    pub max_bytes: u64,
    /// Whether a symbolic link in the file's place is refused (`O_NOFOLLOW`).
    pub no_links: bool,
}

impl Kind {
    pub const fn new(name: &'static str, max_bytes: u64) -> Kind {
        Kind { name, max_bytes, no_links: false }
    }

    /// This kind with another bound (the policy's, say).
    pub const fn with_max(self, max_bytes: u64) -> Kind {
        Kind { max_bytes, ..self }
    }

    /// This kind, refusing a symbolic link in the file's place.
    pub const fn without_links(self) -> Kind {
        Kind { no_links: true, ..self }
    }

    /// A `report.json` (a report is mostly its lossless histograms).
    pub const REPORT: Kind = Kind::new("report", 512 << 20);
    /// A `trials.json` of `--repeat`.
    pub const TRIALS: Kind = Kind::new("trials file", 64 << 20);
    /// A run file (`volley run --config`, `volley kube render --config`).
    pub const RUN_FILE: Kind = Kind::new("run file", 1 << 20);
    /// The operator's policy (`--policy`, `VOLLEY_POLICY`).
    pub const POLICY: Kind = Kind::new("policy", 1 << 20);
    /// A scenario component or package: the policy's `max_component_bytes` and
    /// `max_package_bytes` replace the bound ([`Kind::with_max`]).
    pub const SCENARIO: Kind = Kind::new("scenario", 64 << 20);
    /// A local scenario carried in a Kubernetes ConfigMap (which holds 1 MiB).
    pub const CONFIGMAP_SCENARIO: Kind = Kind::new("scenario carried in a ConfigMap", 1 << 20);
    /// A granted dataset: streamed, never read whole, so only its rows are bounded.
    pub const DATASET: Kind = Kind::new("dataset", u64::MAX);
    /// A file of a granted media folder (images, sounds).
    pub const MEDIA: Kind = Kind::new("media file", 64 << 20).without_links();
    /// A model's `tokenizer.json` (the largest vocabularies are tens of MiB).
    pub const TOKENIZER: Kind = Kind::new("tokenizer", 256 << 20);
    /// A PEM certificate or key (`--ca-cert`, `--client-cert`, `--client-key`).
    pub const CERTIFICATE: Kind = Kind::new("certificate or key", 1 << 20);
    /// Docker's `config.json` (registry credentials).
    pub const DOCKER_CONFIG: Kind = Kind::new("Docker config", 1 << 20);
    /// A scenario project's `volley.json` (`volley pack`).
    pub const PROJECT: Kind = Kind::new("project file", 1 << 20);
}

/// Why a foreign file was not read, in one line.
#[derive(Debug, thiserror::Error)]
pub enum ForeignFileError {
    #[error("cannot read {kind} {path}: {reason}")]
    Io { path: String, kind: &'static str, reason: String },
    #[error("{path} is {what}, not a regular file")]
    NotRegular { path: String, what: &'static str },
    #[error("{path} is over the {bound} bound for a {kind}")]
    TooLarge { path: String, bound: String, kind: &'static str },
    #[error("{path} is not UTF-8 text")]
    NotText { path: String },
    #[error("{path} is not a valid {kind}: {message}")]
    Invalid { path: String, kind: &'static str, message: String },
}

impl ForeignFileError {
    /// A file that was read but whose contents are refused (`message` is made
    /// printable: it may quote the file).
    pub fn invalid(path: &Path, kind: Kind, message: impl AsRef<str>) -> Self {
        ForeignFileError::Invalid { path: shown(path), kind: kind.name, message: printable(message.as_ref(), 400) }
    }
}

/// A path as messages show it: control characters made visible.
pub fn shown(path: &Path) -> String {
    printable(&path.to_string_lossy(), 512)
}

/// `n` bytes as a person reads a bound: "512 MiB", "1 MiB", "64 KiB", else bytes.
pub fn human_bytes(n: u64) -> String {
    match n {
        0 => "0 bytes".into(),
        n if n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// An open regular file and its size when opened.
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    pub len: u64,
}

fn io_error(path: &Path, kind: Kind, e: &std::io::Error) -> ForeignFileError {
    // The OS error's own text, once (io::Error adds "(os error N)": dropped).
    let reason = match e.raw_os_error() {
        Some(code) => {
            let text = std::io::Error::from_raw_os_error(code).to_string();
            text.split(" (os error").next().unwrap_or(&text).to_string()
        }
        None => e.to_string(),
    };
    ForeignFileError::Io { path: shown(path), kind: kind.name, reason: printable(&reason, 200) }
}

/// What a file that is not regular is, for the message.
fn what_it_is(kind: std::fs::FileType) -> &'static str {
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "not a plain file"
    }
}

/// Opens `path` as a `kind` file: without blocking, regular files only (checked on
/// the open descriptor), at most `kind.max_bytes` long.
pub fn open(path: &Path, kind: Kind) -> Result<Opened, ForeignFileError> {
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    if kind.no_links {
        flags |= libc::O_NOFOLLOW;
    }
    let file = match std::fs::OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(f) => f,
        // O_NOFOLLOW on a link fails with ELOOP: say what it is.
        Err(e) if kind.no_links && e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ForeignFileError::NotRegular { path: shown(path), what: "a symbolic link" });
        }
        Err(e) => return Err(io_error(path, kind, &e)),
    };
    let meta = file.metadata().map_err(|e| io_error(path, kind, &e))?;
    if !meta.file_type().is_file() {
        return Err(ForeignFileError::NotRegular { path: shown(path), what: what_it_is(meta.file_type()) });
    }
    if meta.len() > kind.max_bytes {
        return Err(too_large(path, kind));
    }
    Ok(Opened { file, len: meta.len() })
}

fn too_large(path: &Path, kind: Kind) -> ForeignFileError {
    ForeignFileError::TooLarge { path: shown(path), bound: human_bytes(kind.max_bytes), kind: kind.name }
}

/// The bytes of `path`, a `kind` file ([`open`]'s checks), reading at most the bound
/// plus one byte: a file that grows past its bound while read is refused too.
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>, ForeignFileError> {
    let Opened { file, len } = open(path, kind)?;
    // The size is a hint (the file may change); the bound caps what is reserved.
    let mut bytes = Vec::with_capacity(usize::try_from(len.min(kind.max_bytes)).unwrap_or(0).saturating_add(1));
    file.take(kind.max_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| io_error(path, kind, &e))?;
    if bytes.len() as u64 > kind.max_bytes {
        return Err(too_large(path, kind));
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
pub fn read_text(path: &Path, kind: Kind) -> Result<String, ForeignFileError> {
    String::from_utf8(read(path, kind)?).map_err(|_| ForeignFileError::NotText { path: shown(path) })
}

/// [`read`], parsed as JSON into `T`: typed, so what is kept is what `T` holds (unknown
/// fields are skipped without being kept). Give `T` the [`bounded`] helpers where serde
/// would otherwise buffer a generic value.
pub fn read_json<T: DeserializeOwned>(path: &Path, kind: Kind) -> Result<T, ForeignFileError> {
    let bytes = read(path, kind)?;
    serde_json::from_slice(&bytes).map_err(|e| ForeignFileError::invalid(path, kind, e.to_string()))
}

#[cfg(test)]
mod tests;
