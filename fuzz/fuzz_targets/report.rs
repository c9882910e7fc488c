//! A foreign `report.json` (`report/src/read.rs`, `schema.rs`, `validate.rs`): bytes into
//! a checked report, as `volley merge` and `volley compare` read a file, then `volley
//! merge` over it (`merge.rs`: histograms decoded, counters and windows added up).
//!
//! Holds: no panic, in reading or in merging; a refusal is one line; a report that reads
//! writes back to JSON that reads again as the same report (a round trip loses or
//! changes nothing), and merging it alone gives a report that writes.

#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use volley_report::merge::{ShardInput, merge};
use volley_report::read::parse_report;

fuzz_target!(|data: &[u8]| {
    let report = match parse_report(data) {
        Ok(report) => report,
        Err(e) => return volley_fuzz::one_line("reading a report", &e),
    };
    let written = serde_json::to_vec(&report).expect("a report read writes back");
    let again = parse_report(&written).unwrap_or_else(|e| panic!("a report read and written back does not read: {e}"));
    let rewritten = serde_json::to_vec(&again).expect("a report read writes back");
    assert!(
        written == rewritten,
        "a round trip changed the report:\n{}\n{}",
        String::from_utf8_lossy(&written),
        String::from_utf8_lossy(&rewritten)
    );
    match merge(vec![ShardInput { dir: PathBuf::from("shard"), report }], true, &[], None) {
        Ok(merged) => drop(serde_json::to_vec(&merged).expect("a merged report writes")),
        Err(e) => volley_fuzz::one_line("merging a report", &e.to_string()),
    }
});
