//! A file of records written a line at a time, for the per-request sinks: each line is
//! formatted straight into one large buffer, which goes to the file when it fills and
//! on every flush. One copy of each line (into the page cache), not two (a line buffer,
//! then a `BufWriter`'s).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::sink::SinkError;

/// Bytes buffered before they are written out; a line may take the buffer past it.
const WRITE_AT: usize = 224 << 10;

pub(crate) struct LineFile {
    file: File,
    path: PathBuf,
    buf: Vec<u8>,
}

impl LineFile {
    /// Creates (truncates) `path`.
    pub(crate) fn create(path: &Path) -> Result<Self, SinkError> {
        let file = File::create(path).map_err(|e| SinkError::new(format!("cannot create {}: {e}", path.display())))?;
        Ok(LineFile { file, path: path.to_path_buf(), buf: Vec::with_capacity(WRITE_AT + (32 << 10)) })
    }

    /// Appends a line: `write` writes it into the buffer (the newline is its own).
    pub(crate) fn line(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), SinkError> {
        write(&mut self.buf);
        if self.buf.len() >= WRITE_AT { self.flush() } else { Ok(()) }
    }

    /// Writes what is buffered to the file.
    pub(crate) fn flush(&mut self) -> Result<(), SinkError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let written = self.file.write_all(&self.buf);
        self.buf.clear();
        written.map_err(|e| SinkError::io(&self.path, e))
    }
}

impl Drop for LineFile {
    fn drop(&mut self) {
        // A sink dropped without its last flush (a run torn down by an error) still
        // leaves every line it was given.
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_reach_the_file_when_the_buffer_fills_on_flush_and_on_drop() {
        let dir = std::env::temp_dir().join(format!("volley-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("l.txt");
        let mut f = LineFile::create(&path).unwrap();
        let line = vec![b'x'; 1023];
        f.line(|b| {
            b.extend_from_slice(&line);
            b.push(b'\n');
        })
        .unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "buffered, not yet written");
        for _ in 0..WRITE_AT / 1024 {
            f.line(|b| {
                b.extend_from_slice(&line);
                b.push(b'\n');
            })
            .unwrap();
        }
        let full = std::fs::metadata(&path).unwrap().len();
        assert!(full >= WRITE_AT as u64 && full.is_multiple_of(1024), "written once full: {full}");
        f.line(|b| b.extend_from_slice(b"last\n")).unwrap();
        f.flush().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), (WRITE_AT / 1024 + 1) as u64 * 1024 + 5);
        f.line(|b| b.extend_from_slice(b"after\n")).unwrap();
        drop(f);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("last\nafter\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
