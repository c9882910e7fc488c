//! A granted folder of media files (`--dataset NAME=DIR`): images and sounds a scenario
//! sends as content parts. The folder is listed once, in name order, non-recursively;
//! only regular files with a known media extension count (symbolic links, hidden files
//! and other files are skipped and counted), so a grant never reaches past the folder.
//! Files are read when asked, each within a size bound, through the one reader for
//! foreign files: a file that became a link, a FIFO or a device since the listing is
//! refused at once, without blocking (the scenario's thread is never left waiting on
//! a FIFO with no writer).

use std::path::Path;

use anyhow::{Context, Result, bail};
use volley_core::foreign_file::{self, Kind};

/// Most files a folder grant lists: the listing is kept in memory.
pub const MAX_FILES: usize = 1 << 20;
/// Largest media file read (64 MiB): bigger ones are refused when asked for.
pub const MAX_FILE_BYTES: u64 = Kind::MEDIA.max_bytes;

/// One file of the folder.
#[derive(Debug, Clone)]
pub(crate) struct MediaFile {
    pub name: String,
    pub mime: &'static str,
    pub len: u64,
}

/// The MIME type of a media file, from its extension.
pub fn mime_of(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "flac" => "audio/flac",
        "ogg" => "audio/ogg",
        "m4a" => "audio/mp4",
        _ => return None,
    })
}

/// The media files of `dir` in name order, and how many entries were skipped.
pub(crate) fn list(name: &str, dir: &Path) -> Result<(Vec<MediaFile>, u64)> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot list dataset folder '{name}' ({})", dir.display()))?;
    let (mut files, mut skipped) = (Vec::new(), 0u64);
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list dataset folder '{name}' ({})", dir.display()))?;
        let file_name = entry.file_name();
        let (Some(file_name), Ok(kind)) = (file_name.to_str(), entry.file_type()) else {
            skipped += 1;
            continue;
        };
        // `file_type` does not follow links: a link is skipped, wherever it points.
        let mime = mime_of(file_name);
        match mime {
            Some(mime) if kind.is_file() && !file_name.starts_with('.') => {
                if files.len() >= MAX_FILES {
                    bail!("dataset folder '{name}' ({}) has more than {MAX_FILES} media files", dir.display());
                }
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                files.push(MediaFile { name: file_name.to_string(), mime, len });
            }
            _ => skipped += 1,
        }
    }
    files.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    if files.is_empty() {
        bail!("dataset folder '{name}' ({}) has no media files (png, jpg, gif, webp, bmp, wav, mp3, flac, ogg, m4a)", dir.display());
    }
    Ok((files, skipped))
}

/// The bytes of `file` in `dir`, refused past [`MAX_FILE_BYTES`] (by its size before
/// reading, and while reading: a file that grows is not read past the bound either),
/// and refused at once when it is no longer a regular file: not through a link put in
/// its place since the listing (`O_NOFOLLOW`), nor into a FIFO (opened without
/// blocking, checked after the open).
pub(crate) fn read(name: &str, dir: &Path, file: &MediaFile) -> Result<Vec<u8>> {
    foreign_file::read(&dir.join(&file.name), Kind::MEDIA).map_err(|e| anyhow::anyhow!("dataset '{name}': {e}"))
}
