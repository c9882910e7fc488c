//! Reading a `report.json` someone else wrote (a shard's for `volley merge`, a run's for
//! `volley compare`): through the one reader for foreign files
//! ([`volley_core::foreign_file`]: regular files only, opened without blocking, at most
//! 512 MiB), parsed into the typed [`Report`] (whose fields that serde would buffer as
//! generic values are bounded, see `schema.rs`), then checked ([`Report::validate`])
//! before anyone does arithmetic with its numbers. Every refusal is one line naming the
//! file.

use std::path::Path;

use volley_core::foreign_file::{self, ForeignFileError, Kind};

use crate::schema::Report;

/// `bytes` as a checked report; the error is one line (without the file's name).
pub fn parse_report(bytes: &[u8]) -> Result<Report, String> {
    // serde quotes what it refused as it was (`unknown variant `a\rb``): made printable,
    // so the refusal stays one line (found by fuzz/fuzz_targets/report.rs).
    let report: Report = serde_json::from_slice(bytes).map_err(|e| volley_core::text::printable(&e.to_string(), 500))?;
    report.validate()?;
    Ok(report)
}

/// The report at `path`, read and checked.
pub fn read_report(path: &Path) -> Result<Report, ForeignFileError> {
    let bytes = foreign_file::read(path, Kind::REPORT)?;
    parse_report(&bytes).map_err(|e| ForeignFileError::invalid(path, Kind::REPORT, e))
}
