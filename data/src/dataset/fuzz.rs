//! Property tests (bounded fuzzing) of dataset files: whatever a file holds, indexing
//! answers with rows or one error, and every row the index keeps parses when read.
//! `PROPTEST_CASES` fuzzes longer.

use std::io::Write;
use std::path::PathBuf;

use proptest::prelude::*;

use super::*;

/// 256 cases unless `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Pieces of rows, valid and not, so generated files mix both.
fn row_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"prompt": "hi"}"#.to_string()),
        Just(r#"{"text": "a \"quoted\" ]} text"}"#.to_string()),
        Just(r#"{"messages": [{"role": "user", "content": "u"}]}"#.to_string()),
        Just(r#"{"messages": []}"#.to_string()),
        Just(r#"{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}"#.to_string()),
        Just(r#"{"conversations": [{"from": 1}]}"#.to_string()),
        Just(r#"{"other": {"nested": [1, [2, {"x": "}"}]]}}"#.to_string()),
        Just("[1, 2]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("\"\\".to_string()),
        ".{0,24}",
    ]
}

fn file_text() -> impl Strategy<Value = (bool, String)> {
    let seps = prop_oneof![Just("\n"), Just("\r\n"), Just(",\n"), Just(","), Just(" "), Just("")];
    (any::<bool>(), proptest::collection::vec((row_text(), seps), 0..12), any::<bool>(), any::<bool>()).prop_map(
        |(array, rows, open, close)| {
            let body: String = rows.into_iter().map(|(r, s)| format!("{r}{s}")).collect();
            if array { (true, format!("{}{body}{}", if open { "[" } else { "" }, if close { "]" } else { "" })) } else { (false, body) }
        },
    )
}

fn write(name: &str, content: &[u8]) -> (PathBuf, PathBuf) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("volley-ds-fuzz-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(content).unwrap();
    (dir, p)
}

/// Opens the file both ways and checks what the index promises.
fn check_dataset(name: &str, content: &[u8]) -> Result<(), TestCaseError> {
    let (dir, path) = write(name, content);
    let skip = Dataset::open("d", &path, OnError::Skip);
    let fail = Dataset::open("d", &path, OnError::Fail);
    if let Ok(d) = &skip {
        for i in 0..d.len() {
            let row = d.row(i);
            prop_assert!(matches!(row, Ok(Some(_))), "row {} of {:?}: {:?}", i, String::from_utf8_lossy(content), row.err());
        }
        prop_assert!(d.row(d.len()).unwrap().is_none());
    }
    match (&skip, &fail) {
        // Without skipped rows the two answers agree.
        (Ok(s), Ok(f)) => prop_assert!(f.skipped == 0 && s.len() == f.len()),
        (Ok(s), Err(e)) => {
            prop_assert!(s.skipped > 0, "skip found no bad row but fail said: {}", e)
        }
        (Err(_), Ok(_)) => prop_assert!(false, "a file that fails with --on-error skip passed without it"),
        (Err(_), Err(_)) => {}
    }
    for e in [skip.err(), fail.err()].into_iter().flatten() {
        prop_assert!(!e.to_string().contains('\n'), "a multi-line error: {}", e);
    }
    std::fs::remove_dir_all(dir).unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn indexed_rows_always_parse((array, text) in file_text()) {
        check_dataset(if array { "d.json" } else { "d.jsonl" }, text.as_bytes())?;
    }

    #[test]
    fn any_bytes_are_rows_or_one_error(bytes in proptest::collection::vec(any::<u8>(), 0..512), ext in prop_oneof![Just("json"), Just("jsonl"), Just("txt"), Just("bin")]) {
        check_dataset(&format!("d.{ext}"), &bytes)?;
    }

    /// `check` (index time) and `parse` (read time) apply the same rules.
    #[test]
    fn check_and_parse_agree(text in row_text(), format in prop_oneof![Just(Format::Jsonl), Just(Format::ShareGpt), Just(Format::Text)]) {
        prop_assert_eq!(row::check(format, text.as_bytes()).is_ok(), row::parse(format, text.as_bytes()).is_ok());
    }
}
