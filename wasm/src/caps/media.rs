//! Media for content parts (0.5 on): a `granted-file` names file `index` of a folder the
//! operator granted (`--dataset NAME=DIR`); the host reads it, encodes it once and
//! shares the encoding between every request that sends it, so image bytes never
//! cross into the guest and back. Inline media (the scenario's own bytes) are checked
//! and encoded. The cache is bounded; past it files are read again when asked.
//!
//! Files are read through the one reader for foreign files (`volley_data`'s folder
//! grant, `volley_core::foreign_file`): a file that became a FIFO, a device or a link
//! since the folder was listed is refused at once, never waited on, so the scenario's
//! thread is never left behind. The refusal fails the request's conversion, which stops
//! the run as any invalid request does: one line naming the file, the report written
//! with every request sent so far.

use std::collections::HashMap;
use std::sync::Arc;

use volley_core::Media;
use volley_data::Dataset;

/// Encoded media kept for reuse, in bytes.
const CACHE_BYTES: usize = 256 << 20;
/// Longest MIME type accepted.
const MAX_MIME: usize = 100;

pub struct MediaCap {
    granted: HashMap<String, Arc<Dataset>>,
    cache: HashMap<(String, u64), Media>,
    cached_bytes: usize,
}

impl MediaCap {
    pub fn new(granted: &[Arc<Dataset>]) -> Self {
        MediaCap { granted: granted.iter().map(|d| (d.name.clone(), d.clone())).collect(), cache: HashMap::new(), cached_bytes: 0 }
    }

    /// File `index` of the granted folder `dataset`, or why there is none.
    pub fn granted(&mut self, dataset: &str, index: u64) -> Result<Media, String> {
        if let Some(m) = self.cache.get(&(dataset.to_string(), index)) {
            return Ok(m.clone());
        }
        let Some(d) = self.granted.get(dataset) else {
            return Err(format!(
                "an image or audio part names dataset '{}', which was not granted",
                volley_core::text::printable(dataset, 64)
            ));
        };
        let file = d
            .media(index)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("an image or audio part names file {index} of dataset '{dataset}', which has {} files", d.len()))?;
        let media = Media::from_bytes(file.mime, &file.bytes);
        if self.cached_bytes + media.encoded_len() <= CACHE_BYTES {
            self.cached_bytes += media.encoded_len();
            self.cache.insert((dataset.to_string(), index), media.clone());
        }
        Ok(media)
    }

    /// The scenario's own bytes of type `mime`.
    pub fn inline(mime: &str, data: &[u8]) -> Result<Media, String> {
        let valid = mime.len() <= MAX_MIME
            && mime.split_once('/').is_some_and(|(t, s)| {
                let token = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
                token(t) && token(s)
            });
        if !valid {
            return Err(format!("inline media has no valid MIME type: '{}'", volley_core::text::printable(mime, 64)));
        }
        Ok(Media::from_bytes(&mime.to_ascii_lowercase(), data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_media_needs_a_mime_type() {
        assert_eq!(&*MediaCap::inline("image/png", b"\x89PNG").unwrap().base64, "iVBORw==");
        for bad in ["", "png", "image/", "image/png; x=1", "a/b\n"] {
            assert!(MediaCap::inline(bad, b"x").is_err(), "{bad}");
        }
    }

    #[test]
    fn ungranted_datasets_are_named() {
        let mut m = MediaCap::new(&[]);
        assert!(m.granted("imgs", 0).unwrap_err().contains("dataset 'imgs', which was not granted"));
    }
}
